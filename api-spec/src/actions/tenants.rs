//! `create_tenant`, `list_tenants`.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::envelope::Empty;
use crate::{Access, permissions};

/// Arguments of `create_tenant`.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// The new tenant's slug (what users give as `tenant` at login).
    pub tenant: String,
    #[serde(default)]
    pub display_name: Option<String>,
    /// Password of the new tenant's `admin` user.
    pub admin_password: String,
}

impl std::fmt::Debug for CreateTenantRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateTenantRequest")
            .field("tenant", &self.tenant)
            .field("display_name", &self.display_name)
            .finish_non_exhaustive()
    }
}

/// One tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TenantInfo {
    pub tenant: String,
    pub display_name: String,
    /// Seconds since the epoch.
    pub created_time: f64,
}

/// What `list_tenants` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListTenantsResponse {
    pub tenants: Vec<TenantInfo>,
}

action! {
    /// Creates a tenant with its own `sysop` group and `admin` user.
    CreateTenant {
        name: "create_tenant",
        access: Access::Permission(permissions::MANAGE_TENANTS),
        note: "only users of tenant `default`",
        audited: true,
        success: "Tenant created",
        errors: [InvalidTenantSlug, WeakPassword, TenantExists],
        request: CreateTenantRequest,
        response: TenantInfo,
    }
}

action! {
    /// Lists every tenant.
    ListTenants {
        name: "list_tenants",
        access: Access::Permission(permissions::MANAGE_TENANTS),
        note: "only users of tenant `default`",
        audited: false,
        success: "Tenant listing successful",
        errors: [],
        request: Empty,
        response: ListTenantsResponse,
    }
}
