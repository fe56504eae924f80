//! Rotation: a new session replaces the caller's, in one transaction, so exactly one of the
//! two tokens works at any moment.
use api_spec::actions::RefreshTokenResponse;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::Result;
use crate::services::accounts::open_session;
use crate::storage::sessions;
use crate::time::to_secs;

pub async fn run(call: Call, _: Empty) -> Result<RefreshTokenResponse> {
    let auth = call.auth()?;
    let ttl_ms = call.state.config.token_ttl().as_millis() as i64;
    let mut w = call.state.write().await?;
    sessions::delete(auth.scope(), w.txn(), auth.session_id()).await?;
    let (token, expires_at) = open_session(auth.scope(), w.txn(), auth.user_id(), ttl_ms).await?;
    w.forget_authentications();
    w.sessions_revoked(auth.user_id(), Some(auth.session_id()));
    w.commit().await?;
    Ok(RefreshTokenResponse {
        token,
        exp: to_secs(expires_at),
    })
}
