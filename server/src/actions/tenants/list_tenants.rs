use api_spec::actions::ListTenantsResponse;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::Result;
use crate::services::tenants::info;
use crate::storage::tenants;

pub async fn run(call: Call, _: Empty) -> Result<ListTenantsResponse> {
    super::require_operator(call.auth()?)?;
    let tenants = tenants::list(&call.state.db)
        .await?
        .into_iter()
        .map(info)
        .collect();
    Ok(ListTenantsResponse { tenants })
}
