use api_spec::actions::CreateGroupRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::groups;

pub async fn run(call: Call, req: CreateGroupRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let (_turn, txn) = call.state.begin_write().await?;
    groups::create_group(auth.scope(), &txn, &req).await?;
    txn.commit().await?;
    super::announce(&call, auth, &req.group_name, Change::Created);
    Ok(Empty {})
}
