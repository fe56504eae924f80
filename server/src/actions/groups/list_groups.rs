use api_spec::actions::ListGroupsResponse;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::Result;
use crate::services::directory;

pub async fn run(call: Call, _: Empty) -> Result<ListGroupsResponse> {
    let auth = call.auth()?;
    Ok(ListGroupsResponse {
        groups: directory::list_groups(auth.scope(), &call.state.db).await?,
    })
}
