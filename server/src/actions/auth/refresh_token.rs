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
    let (_turn, txn) = call.state.begin_write().await?;
    sessions::delete(auth.scope(), &txn, auth.session_id()).await?;
    let (token, expires_at) = open_session(auth.scope(), &txn, auth.user_id(), ttl_ms).await?;
    txn.commit().await?;
    call.state.forget_authentications();
    call.state
        .events
        .sessions_revoked(auth.user_id(), Some(auth.session_id()));
    Ok(RefreshTokenResponse {
        token,
        exp: to_secs(expires_at),
    })
}
