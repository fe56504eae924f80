use api_spec::actions::LogoutRequest;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::Result;
use crate::storage::sessions;

pub async fn run(call: Call, req: LogoutRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let mut w = call.state.write().await?;
    if req.all {
        sessions::delete_for_user(auth.scope(), w.txn(), auth.user_id()).await?;
        w.sessions_revoked(auth.user_id(), None);
    } else {
        sessions::delete(auth.scope(), w.txn(), auth.session_id()).await?;
        w.sessions_revoked(auth.user_id(), Some(auth.session_id()));
    }
    w.forget_authentications();
    w.commit().await?;
    Ok(Empty {})
}
