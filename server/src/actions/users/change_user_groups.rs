use api_spec::actions::ChangeUserGroupsRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::accounts;

pub async fn run(call: Call, req: ChangeUserGroupsRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let mut w = call.state.write().await?;
    accounts::change_user_groups(auth.scope(), w.txn(), &req.username, &req.groups).await?;
    w.forget_authentications();
    super::announce(&mut w, auth, &req.username, Change::GroupsChanged);
    w.commit().await?;
    Ok(Empty {})
}
