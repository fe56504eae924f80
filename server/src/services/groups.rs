//! Groups: creation, deletion and permission changes.
use api_spec::actions::CreateGroupRequest;
use api_spec::{ErrorCode, permissions};
use sea_orm::ConnectionTrait;

use super::accounts::{SYSOP_GROUP, unique_or};
use super::validate;
use crate::auth::TenantScope;
use crate::error::{Error, Result, fail};
use crate::storage::grants::{self, Grantee};
use crate::storage::groups;
use crate::time::now_ms;

/// Permissions the `sysop` group must always keep, so a tenant can never lose the ability to
/// administer itself.
const SYSOP_REQUIRED: &[&str] = &[
    permissions::SET_GROUP_PERMISSIONS,
    permissions::CHANGE_USER_GROUPS,
];

pub async fn create_group(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    req: &CreateGroupRequest,
) -> Result<()> {
    validate::group_name(&req.group_name, "group_name")?;
    if let Some(display) = &req.display_name {
        validate::display_text(display, "display_name")?;
    }
    let mut windows = Vec::new();
    for p in &req.permissions {
        validate::permission(&p.permission)?;
        windows.push(validate::window(p.start_time, p.end_time, "permissions")?);
    }
    if groups::find_by_name(scope, db, &req.group_name)
        .await?
        .is_some()
    {
        return Err(fail(ErrorCode::GroupExists));
    }
    let group = groups::insert(scope, db, &req.group_name, req.display_name.clone())
        .await
        .map_err(|e| match e {
            Error::Db(db_err) => unique_or(db_err, ErrorCode::GroupExists),
            other => other,
        })?;
    for (p, (start, end)) in req.permissions.iter().zip(windows) {
        grants::add_grant(
            scope,
            db,
            Grantee::Group(group.id),
            &p.permission,
            start,
            end,
        )
        .await?;
    }
    Ok(())
}

pub async fn delete_group(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<()> {
    let group = groups::find_by_name(scope, db, name)
        .await?
        .ok_or_else(|| fail(ErrorCode::GroupNotFound))?;
    if group.name == SYSOP_GROUP {
        return Err(fail(ErrorCode::GroupProtected));
    }
    groups::delete(scope, db, group.id).await?;
    Ok(())
}

/// Replaces the group's grants with open-ended grants of `permissions`, from now on.
pub async fn change_group_permissions(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    name: &str,
    permissions: &[String],
) -> Result<()> {
    let group = groups::find_by_name(scope, db, name)
        .await?
        .ok_or_else(|| fail(ErrorCode::GroupNotFound))?;
    for p in permissions {
        validate::permission(p)?;
    }
    if group.name == SYSOP_GROUP
        && !SYSOP_REQUIRED
            .iter()
            .all(|r| permissions.iter().any(|p| p == r))
    {
        return Err(fail(ErrorCode::GroupProtected));
    }
    let mut permissions = permissions.to_vec();
    permissions.sort();
    permissions.dedup();
    grants::clear_group_grants(scope, db, group.id).await?;
    let now = now_ms();
    for p in &permissions {
        grants::add_grant(scope, db, Grantee::Group(group.id), p, now, None).await?;
    }
    Ok(())
}
