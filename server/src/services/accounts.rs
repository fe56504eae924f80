//! Users: creation, deletion, memberships, passwords, and login.
use api_spec::ErrorCode;
use api_spec::actions::{CreateUserRequest, TimedMembership};
use sea_orm::{ConnectionTrait, DbErr, SqlErr};
use uuid::Uuid;

use super::validate;
use crate::auth::password::{PasswordHasherPool, check_policy};
use crate::auth::{TenantScope, token};
use crate::error::{Error, Result, fail, field_error};
use crate::storage::grants::{self, Grantee};
use crate::storage::{groups, sessions, users};
use crate::time::now_ms;

/// Name of the group that holds every permission in each tenant.
pub const SYSOP_GROUP: &str = "sysop";

/// Maps a unique-constraint violation to `conflict`; other database errors pass through.
pub fn unique_or(err: DbErr, conflict: ErrorCode) -> Error {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => fail(conflict),
        _ => err.into(),
    }
}

/// Resolves group names to ids, failing with `group_not_found` on the first unknown one.
async fn group_ids(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    names: &[String],
    field: &str,
) -> Result<Vec<(String, Uuid)>> {
    let found = groups::find_by_names(scope, db, names).await?;
    names
        .iter()
        .map(|name| {
            found
                .iter()
                .find(|g| &g.name == name)
                .map(|g| (name.clone(), g.id))
                .ok_or_else(|| field_error(ErrorCode::GroupNotFound, field))
        })
        .collect()
}

/// Creates a user with direct grants and memberships, all or nothing (run it in a
/// transaction). The password is hashed before any row is written.
pub async fn create_user(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    hasher: &PasswordHasherPool,
    req: &CreateUserRequest,
) -> Result<Uuid> {
    validate::username(&req.username)?;
    check_policy(&req.username, &req.password, "password")?;
    if let Some(nickname) = &req.nickname {
        validate::display_text(nickname, "nickname")?;
    }
    let mut windows = Vec::new();
    for p in &req.permissions {
        validate::permission(&p.permission)?;
        windows.push(validate::window(p.start_time, p.end_time, "permissions")?);
    }
    let names: Vec<String> = req.groups.iter().map(|g| g.group_name.clone()).collect();
    // One membership per group (the schema's rule): a group named twice, perhaps with two
    // windows, is a contradiction to refuse, not a database error or a silent choice.
    if names
        .iter()
        .enumerate()
        .any(|(i, n)| names[..i].contains(n))
    {
        return Err(field_error(ErrorCode::InvalidField, "groups"));
    }
    let ids = group_ids(scope, db, &names, "groups").await?;
    if users::find_by_name(scope, db, &req.username)
        .await?
        .is_some()
    {
        return Err(fail(ErrorCode::UserExists));
    }
    let hash = hasher.hash(&req.password).await?;
    let user = users::insert(scope, db, &req.username, req.nickname.clone(), hash)
        .await
        .map_err(|e| match e {
            Error::Db(db_err) => unique_or(db_err, ErrorCode::UserExists),
            other => other,
        })?;
    for (p, (start, end)) in req.permissions.iter().zip(windows) {
        grants::add_grant(scope, db, Grantee::User(user.id), &p.permission, start, end).await?;
    }
    for (
        TimedMembership {
            start_time,
            end_time,
            ..
        },
        (_, group_id),
    ) in req.groups.iter().zip(ids)
    {
        let (start, end) = validate::window(*start_time, *end_time, "groups")?;
        grants::add_membership(scope, db, user.id, group_id, start, end).await?;
    }
    Ok(user.id)
}

/// Fails with `group_protected` if `user_id` is a current member of `sysop` and no other
/// member would remain for good: a membership with an end time will lapse, so it does not
/// count as someone who keeps the tenant administrable.
async fn ensure_not_last_sysop(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<()> {
    let Some(sysop) = groups::find_by_name(scope, db, SYSOP_GROUP).await? else {
        return Ok(());
    };
    let members: Vec<_> = grants::live_memberships(scope, db, None, now_ms())
        .await?
        .into_iter()
        .filter(|m| m.group_id == sysop.id)
        .collect();
    let is_member = members.iter().any(|m| m.user_id == user_id);
    let another_stays = members
        .iter()
        .any(|m| m.user_id != user_id && m.end_time.is_none());
    if is_member && !another_stays {
        return Err(fail(ErrorCode::GroupProtected));
    }
    Ok(())
}

/// Deletes a user (not yourself, not the last sysop); their sessions end with them.
pub async fn delete_user(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    actor: Uuid,
    username: &str,
) -> Result<Uuid> {
    let user = users::find_by_name(scope, db, username)
        .await?
        .ok_or_else(|| fail(ErrorCode::UserNotFound))?;
    if user.id == actor {
        return Err(fail(ErrorCode::CannotDeleteSelf));
    }
    ensure_not_last_sysop(scope, db, user.id).await?;
    users::delete(scope, db, user.id).await?;
    Ok(user.id)
}

/// Replaces the user's memberships with `names` (each must exist), valid from now on.
pub async fn change_user_groups(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    username: &str,
    names: &[String],
) -> Result<()> {
    let user = users::find_by_name(scope, db, username)
        .await?
        .ok_or_else(|| fail(ErrorCode::UserNotFound))?;
    let mut names = names.to_vec();
    names.sort();
    names.dedup();
    let ids = group_ids(scope, db, &names, "groups").await?;
    if !names.iter().any(|n| n == SYSOP_GROUP) {
        ensure_not_last_sysop(scope, db, user.id).await?;
    }
    grants::clear_memberships(scope, db, user.id).await?;
    let now = now_ms();
    for (_, group_id) in ids {
        grants::add_membership(scope, db, user.id, group_id, now, None).await?;
    }
    Ok(())
}

/// Who is asking to set a password, and with what proof.
pub struct PasswordChange<'a> {
    pub actor_id: Uuid,
    pub actor_may_override: bool,
    pub username: &'a str,
    pub old_password: Option<&'a str>,
    pub new_password: &'a str,
}

/// Sets a password: your own with the old one, anyone else's with `super_set_passwd`.
/// Every session of the target ends.
pub async fn set_password(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    hasher: &PasswordHasherPool,
    change: PasswordChange<'_>,
) -> Result<Uuid> {
    let user = users::find_by_name(scope, db, change.username).await?;
    let is_self = user.as_ref().is_some_and(|u| u.id == change.actor_id);
    if !is_self && !change.actor_may_override {
        // Without the override permission, another user's existence is not revealed.
        return Err(fail(ErrorCode::PermissionDenied));
    }
    let user = user.ok_or_else(|| fail(ErrorCode::UserNotFound))?;
    check_policy(&user.username, change.new_password, "new_passwd")?;
    // Your own password always needs the old one, so a stolen token cannot take the account.
    if is_self {
        let old = change
            .old_password
            .ok_or_else(|| field_error(ErrorCode::MissingField, "old_passwd"))?;
        if !hasher.verify(old, &user.password_hash).await? {
            return Err(fail(ErrorCode::WrongPassword));
        }
        if old == change.new_password {
            return Err(fail(ErrorCode::PasswordUnchanged));
        }
    }
    let hash = hasher.hash(change.new_password).await?;
    users::set_password_hash(scope, db, user.id, hash).await?;
    sessions::delete_for_user(scope, db, user.id).await?;
    Ok(user.id)
}

/// A new session for the user: the token to hand out and its expiry (epoch ms).
pub async fn open_session(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    user_id: Uuid,
    ttl_ms: i64,
) -> Result<(String, i64)> {
    let token = token::generate();
    let expires_at = now_ms() + ttl_ms;
    sessions::insert(scope, db, user_id, token::digest(&token), expires_at).await?;
    Ok((token, expires_at))
}
