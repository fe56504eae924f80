use api_spec::actions::GroupNameRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::groups;

pub async fn run(call: Call, req: GroupNameRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let mut w = call.state.write().await?;
    groups::delete_group(auth.scope(), w.txn(), &req.group_name).await?;
    w.forget_authentications();
    super::announce(&mut w, auth, &req.group_name, Change::Deleted);
    w.commit().await?;
    Ok(Empty {})
}
