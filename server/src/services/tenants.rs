//! Tenant creation: the tenant, its `sysop` group with its permissions, and its `admin` user.
use api_spec::ErrorCode;
use entity::tenant;
use sea_orm::ConnectionTrait;

use super::accounts::{SYSOP_GROUP, unique_or};
use super::validate;
use crate::auth::TenantScope;
use crate::auth::password::{PasswordHasherPool, check_policy};
use crate::error::{Error, Result, fail};
use crate::storage::grants::{self, Grantee};
use crate::storage::{groups, tenants, users};
use crate::time::now_ms;

/// Name of each tenant's first user.
pub const ADMIN_USER: &str = "admin";

/// What a new tenant starts with.
pub struct NewTenant<'a> {
    pub slug: &'a str,
    pub display_name: Option<&'a str>,
    pub admin_password: &'a str,
    /// The permissions its `sysop` group holds.
    pub sysop_permissions: Vec<&'static str>,
}

/// A tenant as the API shows it (`list_tenants`, `create_tenant`, `coffer tenant`).
pub fn info(t: tenant::Model) -> api_spec::actions::TenantInfo {
    api_spec::actions::TenantInfo {
        tenant: t.slug,
        display_name: t.display_name,
        created_time: crate::time::to_secs(t.created_at),
    }
}

/// Creates the tenant and its `sysop` group and `admin` user. Run it in a transaction.
pub async fn create_tenant(
    db: &impl ConnectionTrait,
    hasher: &PasswordHasherPool,
    new: NewTenant<'_>,
) -> Result<tenant::Model> {
    validate::tenant_slug(new.slug)?;
    let display_name = new.display_name.unwrap_or(new.slug);
    validate::display_text(display_name, "display_name")?;
    check_policy(ADMIN_USER, new.admin_password, "admin_password")?;
    if tenants::find_by_slug(db, new.slug).await?.is_some() {
        return Err(fail(ErrorCode::TenantExists));
    }
    let hash = hasher.hash(new.admin_password).await?;
    let conflict = |e: Error| match e {
        Error::Db(db_err) => unique_or(db_err, ErrorCode::TenantExists),
        other => other,
    };
    let tenant = tenants::insert(db, new.slug, display_name)
        .await
        .map_err(conflict)?;
    let scope = TenantScope::system(tenant.id);
    let sysop =
        groups::insert(&scope, db, SYSOP_GROUP, Some("System operators".to_owned())).await?;
    let now = now_ms();
    for permission in &new.sysop_permissions {
        grants::add_grant(&scope, db, Grantee::Group(sysop.id), permission, now, None).await?;
    }
    let admin = users::insert(
        &scope,
        db,
        ADMIN_USER,
        Some("Administrator".to_owned()),
        hash,
    )
    .await?;
    grants::add_membership(&scope, db, admin.id, sysop.id, now, None).await?;
    Ok(tenant)
}
