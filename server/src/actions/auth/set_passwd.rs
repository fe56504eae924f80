use api_spec::actions::SetPasswdRequest;
use api_spec::envelope::Empty;
use api_spec::permissions::SUPER_SET_PASSWD;

use crate::actions::Call;
use crate::error::Result;
use crate::services::accounts::{PasswordChange, set_password};

pub async fn run(call: Call, req: SetPasswdRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let change = PasswordChange {
        actor_id: auth.user_id(),
        actor_may_override: auth.has(SUPER_SET_PASSWD),
        username: &req.username,
        old_password: req.old_passwd.as_deref(),
        new_password: &req.new_passwd,
    };
    let mut w = call.state.write().await?;
    let user_id = set_password(auth.scope(), w.txn(), &call.state.hasher, change).await?;
    w.forget_authentications();
    w.sessions_revoked(user_id, None);
    w.commit().await?;
    Ok(Empty {})
}
