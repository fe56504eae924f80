use api_spec::actions::ChangeUserGroupsRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::accounts;

pub async fn run(call: Call, req: ChangeUserGroupsRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let (_turn, txn) = call.state.begin_write().await?;
    accounts::change_user_groups(auth.scope(), &txn, &req.username, &req.groups).await?;
    txn.commit().await?;
    call.state.forget_authentications();
    super::announce(&call, auth, &req.username, Change::GroupsChanged);
    Ok(Empty {})
}
