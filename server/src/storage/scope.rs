//! The tenant scope every query on tenant-owned data takes first. It lives beside the
//! queries, below `auth`, which makes one from a valid session (`auth::authenticate`); the
//! server's own work makes one with [`TenantScope::system`].
use uuid::Uuid;

/// One tenant, as the scope of every query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TenantScope {
    tenant_id: Uuid,
}

impl TenantScope {
    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    /// A scope for the server acting on its own behalf (bootstrap, CLI, tenant creation).
    /// Never built from client input: callers pass a tenant id they just read or created.
    pub(crate) fn system(tenant_id: Uuid) -> Self {
        Self { tenant_id }
    }
}
