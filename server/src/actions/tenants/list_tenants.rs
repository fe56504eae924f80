use api_spec::actions::{ListTenantsResponse, TenantInfo};
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::Result;
use crate::storage::tenants;
use crate::time::to_secs;

pub async fn run(call: Call, _: Empty) -> Result<ListTenantsResponse> {
    super::require_operator(call.auth()?)?;
    let tenants = tenants::list(&call.state.db)
        .await?
        .into_iter()
        .map(|t| TenantInfo {
            tenant: t.slug,
            display_name: t.display_name,
            created_time: to_secs(t.created_at),
        })
        .collect();
    Ok(ListTenantsResponse { tenants })
}
