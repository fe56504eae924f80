use api_spec::ErrorCode;
use api_spec::actions::{UserInfo, UsernameRequest};
use api_spec::permissions::GET_USER_INFO;

use crate::actions::Call;
use crate::error::{Result, fail};
use crate::services::directory;

pub async fn run(call: Call, req: UsernameRequest) -> Result<UserInfo> {
    let auth = call.auth()?;
    if req.username != auth.username() && !auth.has(GET_USER_INFO) {
        return Err(fail(ErrorCode::PermissionDenied));
    }
    directory::user_info(auth.scope(), &call.state.db, &req.username)
        .await?
        .ok_or_else(|| fail(ErrorCode::UserNotFound))
}
