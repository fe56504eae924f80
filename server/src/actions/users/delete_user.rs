use api_spec::actions::UsernameRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::accounts;

pub async fn run(call: Call, req: UsernameRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let (_turn, txn) = call.state.begin_write().await?;
    let user_id = accounts::delete_user(auth.scope(), &txn, auth.user_id(), &req.username).await?;
    txn.commit().await?;
    call.state.forget_authentications();
    call.state.events.sessions_revoked(user_id, None);
    super::announce(&call, auth, &req.username, Change::Deleted);
    Ok(Empty {})
}
