use api_spec::actions::ChangeGroupPermissionsRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::groups;

pub async fn run(call: Call, req: ChangeGroupPermissionsRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let (_turn, txn) = call.state.begin_write().await?;
    groups::change_group_permissions(auth.scope(), &txn, &req.group_name, &req.permissions).await?;
    txn.commit().await?;
    call.state.forget_authentications();
    super::announce(&call, auth, &req.group_name, Change::PermissionsChanged);
    Ok(Empty {})
}
