use api_spec::actions::CreateGroupRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::groups;

pub async fn run(call: Call, req: CreateGroupRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let mut w = call.state.write().await?;
    groups::create_group(auth.scope(), w.txn(), &req).await?;
    super::announce(&mut w, auth, &req.group_name, Change::Created);
    w.commit().await?;
    Ok(Empty {})
}
