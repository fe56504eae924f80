//! The proof of authentication every tenant-scoped operation takes first.
//!
//! [`TenantScope`] (defined beside the queries that take it, `storage::scope`) is made by
//! [`authenticate`] (a valid token) or by [`TenantScope::system`] for the server's own work
//! (bootstrap, the CLI, a freshly created tenant). Storage functions take a `&TenantScope`
//! first, so a query that forgets its tenant does not compile.
use std::collections::BTreeSet;

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use api_spec::ErrorCode;

use super::cache::AuthCache;
use super::token;
use crate::error::{Result, fail};
use crate::storage;
pub use crate::storage::TenantScope;
use crate::storage::grants::window_at;
use crate::time::now_ms;

/// An authenticated user of one tenant, with the permissions they hold right now.
#[derive(Debug, Clone)]
pub struct AuthContext {
    scope: TenantScope,
    tenant_slug: String,
    user_id: Uuid,
    username: String,
    session_id: Uuid,
    permissions: BTreeSet<String>,
    groups: BTreeSet<String>,
    group_ids: Vec<Uuid>,
}

impl AuthContext {
    pub fn scope(&self) -> &TenantScope {
        &self.scope
    }
    pub fn tenant_slug(&self) -> &str {
        &self.tenant_slug
    }
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }
    pub fn username(&self) -> &str {
        &self.username
    }
    pub fn session_id(&self) -> Uuid {
        self.session_id
    }
    pub fn permissions(&self) -> &BTreeSet<String> {
        &self.permissions
    }
    pub fn has(&self, permission: &str) -> bool {
        self.permissions.contains(permission)
    }
    /// Names of the groups the user is in now.
    pub fn groups(&self) -> &BTreeSet<String> {
        &self.groups
    }
    /// Ids of the groups the user is in now.
    pub fn group_ids(&self) -> &[Uuid] {
        &self.group_ids
    }
    /// The user as access rules see them.
    pub fn subject(&self) -> crate::access::Subject<'_> {
        crate::access::Subject {
            permissions: &self.permissions,
            groups: &self.groups,
        }
    }
    /// Whether the user belongs to the operator tenant `default`.
    pub fn is_operator_tenant(&self) -> bool {
        self.tenant_slug == crate::storage::tenants::DEFAULT_TENANT
    }
}

/// Checks an envelope's `token` (and `username`, when given): the token must belong to a live
/// session, of exactly that user when one is named. Any mismatch is the same
/// `invalid_token`, so a probe learns nothing.
pub async fn authenticate(
    cache: &AuthCache,
    db: &impl ConnectionTrait,
    username: Option<&str>,
    token: &str,
) -> Result<AuthContext> {
    let auth = authenticate_token(cache, db, token).await?;
    if username.is_some_and(|u| u != auth.username) {
        return Err(fail(ErrorCode::InvalidToken));
    }
    Ok(auth)
}

/// Checks a bearer token alone (HTTP transfers): it must belong to a live session.
pub async fn authenticate_token(
    cache: &AuthCache,
    db: &impl ConnectionTrait,
    token: &str,
) -> Result<AuthContext> {
    let now = now_ms();
    let digest = token::digest(token);
    if let Some(auth) = cache.get(&digest, now) {
        return Ok(auth);
    }
    let generation = cache.generation();
    let (auth, until) = load(db, &digest, now).await?;
    cache.put(digest, auth.clone(), generation, now, until);
    Ok(auth)
}

/// The session of `digest` at `now` as the database has it, and when that next changes by
/// the clock alone (the session expires, or a membership or grant window opens or closes).
async fn load(db: &impl ConnectionTrait, digest: &str, now: i64) -> Result<(AuthContext, i64)> {
    let session = storage::sessions::find_live(db, digest, now)
        .await?
        .ok_or_else(|| fail(ErrorCode::InvalidToken))?;
    let scope = TenantScope::system(session.tenant_id);
    let user = storage::users::find_by_id(&scope, db, session.user_id)
        .await?
        .ok_or_else(|| fail(ErrorCode::InvalidToken))?;
    let tenant = storage::tenants::find_by_id(db, session.tenant_id)
        .await?
        .ok_or_else(|| fail(ErrorCode::InvalidToken))?;
    let (memberships, grants) = storage::grants::windows_of_user(&scope, db, user.id).await?;
    let mut until = session.expires_at;
    let mut live_groups = Vec::new();
    for m in &memberships {
        let (live, change) = window_at(m.start_time, m.end_time, now);
        until = change.map_or(until, |c| until.min(c));
        if live {
            live_groups.push(m.group_id);
        }
    }
    let mut permissions = BTreeSet::new();
    for g in grants {
        let (live, change) = window_at(g.start_time, g.end_time, now);
        until = change.map_or(until, |c| until.min(c));
        let holder_live =
            g.user_id == Some(user.id) || g.group_id.is_some_and(|id| live_groups.contains(&id));
        if live && holder_live {
            permissions.insert(g.permission);
        }
    }
    let current = storage::grants::groups_by_ids(&scope, db, live_groups).await?;
    let group_ids = current.iter().map(|g| g.id).collect();
    let groups = current.into_iter().map(|g| g.name).collect();
    let auth = AuthContext {
        scope,
        tenant_slug: tenant.slug,
        user_id: user.id,
        username: user.username,
        session_id: session.id,
        permissions,
        groups,
        group_ids,
    };
    Ok((auth, until))
}
