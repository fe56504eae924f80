use api_spec::actions::LogoutRequest;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::Result;
use crate::storage::sessions;

pub async fn run(call: Call, req: LogoutRequest) -> Result<Empty> {
    let auth = call.auth()?;
    if req.all {
        sessions::delete_for_user(auth.scope(), &call.state.db, auth.user_id()).await?;
        call.state.forget_authentications();
        call.state.events.sessions_revoked(auth.user_id(), None);
    } else {
        sessions::delete(auth.scope(), &call.state.db, auth.session_id()).await?;
        call.state.forget_authentications();
        call.state
            .events
            .sessions_revoked(auth.user_id(), Some(auth.session_id()));
    }
    Ok(Empty {})
}
