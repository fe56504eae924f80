use api_spec::actions::UsernameRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::accounts;

pub async fn run(call: Call, req: UsernameRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let mut w = call.state.write().await?;
    let user_id =
        accounts::delete_user(auth.scope(), w.txn(), auth.user_id(), &req.username).await?;
    w.forget_authentications();
    w.sessions_revoked(user_id, None);
    super::announce(&mut w, auth, &req.username, Change::Deleted);
    w.commit().await?;
    Ok(Empty {})
}
