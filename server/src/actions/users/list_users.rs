use api_spec::actions::ListUsersResponse;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::Result;
use crate::services::directory;

pub async fn run(call: Call, _: Empty) -> Result<ListUsersResponse> {
    let auth = call.auth()?;
    Ok(ListUsersResponse {
        users: directory::list_users(auth.scope(), &call.state.db).await?,
    })
}
