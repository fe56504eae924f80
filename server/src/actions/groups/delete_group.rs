use api_spec::actions::GroupNameRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::groups;

pub async fn run(call: Call, req: GroupNameRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let (_turn, txn) = call.state.begin_write().await?;
    groups::delete_group(auth.scope(), &txn, &req.group_name).await?;
    txn.commit().await?;
    call.state.forget_authentications();
    super::announce(&call, auth, &req.group_name, Change::Deleted);
    Ok(Empty {})
}
