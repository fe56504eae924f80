use api_spec::actions::{CreateTenantRequest, TenantInfo};
use api_spec::permissions;

use crate::actions::Call;
use crate::error::Result;
use crate::services::tenants::{NewTenant, create_tenant, info};

pub async fn run(call: Call, req: CreateTenantRequest) -> Result<TenantInfo> {
    super::require_operator(call.auth()?)?;
    let new = NewTenant {
        slug: &req.tenant,
        display_name: req.display_name.as_deref(),
        admin_password: &req.admin_password,
        sysop_permissions: permissions::tenant_sysop().collect(),
    };
    let w = call.state.write().await?;
    let tenant = create_tenant(w.txn(), &call.state.hasher, new).await?;
    let scope = crate::auth::TenantScope::system(tenant.id);
    let now = call.state.clock.now_ms();
    crate::lifecycle::policy::apply_default(&call.state.config, w.txn(), &scope, now).await?;
    w.commit().await?;
    Ok(info(tenant))
}
