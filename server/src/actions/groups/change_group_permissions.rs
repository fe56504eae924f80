use api_spec::actions::ChangeGroupPermissionsRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::groups;

pub async fn run(call: Call, req: ChangeGroupPermissionsRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let mut w = call.state.write().await?;
    groups::change_group_permissions(auth.scope(), w.txn(), &req.group_name, &req.permissions)
        .await?;
    w.forget_authentications();
    super::announce(&mut w, auth, &req.group_name, Change::PermissionsChanged);
    w.commit().await?;
    Ok(Empty {})
}
