//! Login: a place in the throttle's budget (taken before anything is checked, so parallel
//! attempts cannot outrun it), password verification (constant work whether or not the user
//! exists), a new session, and an audit entry for every outcome in a known tenant.
use api_spec::ActionSpec;
use api_spec::ErrorCode;
use api_spec::actions::{Login, LoginRequest, LoginResponse};

use crate::actions::Call;
use crate::auth::TenantScope;
use crate::auth::throttle::ThrottleKey;
use crate::error::{Error, Result, fail};
use crate::services::accounts::open_session;
use crate::storage::audit::{self, NewEntry};
use crate::storage::tenants::DEFAULT_TENANT;
use crate::storage::{grants, tenants, users};
use crate::time::{now_ms, to_secs};

pub async fn run(call: Call, req: LoginRequest) -> Result<LoginResponse> {
    let state = &call.state;
    let slug = req.tenant.as_deref().unwrap_or(DEFAULT_TENANT);
    // The account's key first: a success clears its failures.
    let mut keys = vec![ThrottleKey::Account {
        tenant: slug.to_owned(),
        username: req.username.clone(),
    }];
    if let Some(remote) = &call.conn.remote {
        keys.push(ThrottleKey::Address(remote.clone()));
    }
    let attempt = state
        .throttle
        .reserve(keys)
        .await
        .map_err(|retry_after| Error::Api {
            code: ErrorCode::TooManyAttempts,
            field: None,
            retry_after: Some(retry_after),
        })?;
    let tenant = tenants::find_by_slug(&state.db, slug).await?;
    let scope = tenant.as_ref().map(|t| TenantScope::system(t.id));
    let user = match &scope {
        Some(scope) => users::find_by_name(scope, &state.db, &req.username).await?,
        None => None,
    };
    let verified = match &user {
        Some(user) => {
            state
                .hasher
                .verify(&req.password, &user.password_hash)
                .await?
        }
        None => {
            state.hasher.verify_dummy(&req.password).await?;
            false
        }
    };
    let audit_entry = |result: u16| NewEntry {
        username: Some(req.username.clone()),
        action: Login::NAME.to_owned(),
        target: None,
        data: None,
        result,
        remote_address: call.conn.remote.clone(),
    };
    let (Some(scope), Some(tenant), Some(user), true) = (scope, tenant, user, verified) else {
        attempt.failed();
        if let Some(scope) = scope {
            let w = state.write().await?;
            let refused = audit_entry(ErrorCode::InvalidCredentials.status());
            audit::insert(&scope, w.txn(), refused).await?;
            w.commit().await?;
        }
        return Err(fail(ErrorCode::InvalidCredentials));
    };
    attempt.succeeded();
    let ttl_ms = state.config.token_ttl().as_millis() as i64;
    let w = state.write().await?;
    let (token, expires_at) = open_session(&scope, w.txn(), user.id, ttl_ms).await?;
    users::touch_last_login(&scope, w.txn(), user.id).await?;
    audit::insert(&scope, w.txn(), audit_entry(200)).await?;
    w.commit().await?;
    let now = now_ms();
    let permissions = grants::effective_permissions(&scope, &state.db, user.id, now).await?;
    let mut groups: Vec<String> = grants::current_groups(&scope, &state.db, user.id, now)
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect();
    groups.sort();
    Ok(LoginResponse {
        token,
        exp: to_secs(expires_at),
        nickname: user.nickname,
        permissions: permissions.into_iter().collect(),
        groups,
        tenant: tenant.slug,
    })
}
