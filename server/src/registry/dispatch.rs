//! One request, end to end: envelope → registry lookup → access check → typed action →
//! reply, plus the audit entry. Parsing is two-stage: the envelope first (so even a bad
//! request's `request_id` is echoed; see `envelope`), then the action's own `data` type,
//! straight from the message's text.
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use api_spec::{Access, ErrorCode, Reply};
use futures_util::FutureExt;
use serde_json::Value;
use serde_json::value::RawValue;
use tracing::Instrument;

use super::envelope::{self, Envelope, truncate};
use super::{Call, Entry};
use crate::app::AppState;
use crate::auth::{AuthContext, context::authenticate};
use crate::connection::ConnectionCtx;
use crate::error::{Error, Result, fail};
use crate::storage::audit::{self, NewEntry};
use crate::time::now_secs;

/// Handles one text message and returns the reply to send.
pub async fn dispatch(state: Arc<AppState>, conn: Arc<ConnectionCtx>, text: &str) -> Reply {
    let request = match envelope::parse(text) {
        Ok(request) => request,
        Err(refusal) => return error_reply(&refusal.error, None, refusal.request_id),
    };
    let Some(entry) = super::table().get(&request.action) else {
        let message = format!("Unknown action: {}", truncate(&request.action, 64));
        return error_reply(
            &fail(ErrorCode::UnknownAction),
            Some(message),
            request.request_id,
        );
    };
    let span = tracing::info_span!("action", action = entry.name, conn = conn.id);
    async {
        let started = std::time::Instant::now();
        let result = run(&state, conn, entry, &request).await;
        let reply = match result {
            Ok(data) => Reply {
                code: 200,
                message: entry.success.to_owned(),
                data,
                timestamp: now_secs(),
                request_id: request.request_id,
            },
            Err(e) => error_reply(&e, None, request.request_id),
        };
        let elapsed = started.elapsed();
        state.metrics.action(entry.name, elapsed);
        tracing::debug!(
            code = reply.code,
            elapsed_us = elapsed.as_micros() as u64,
            "done"
        );
        reply
    }
    .instrument(span)
    .await
}

async fn run(
    state: &Arc<AppState>,
    conn: Arc<ConnectionCtx>,
    entry: &Entry,
    request: &Envelope<'_>,
) -> Result<Value> {
    let auth = match entry.access {
        Access::Public => None,
        Access::Authenticated | Access::Permission(_) => {
            // The token names its session; `username`, when given, must be its user.
            let Some(token) = &request.token else {
                return Err(fail(ErrorCode::AuthenticationRequired));
            };
            let username = request.username.as_deref();
            Some(authenticate(&state.auth_cache, &state.db, username, token).await?)
        }
    };
    if let (Some(permission), Some(auth)) = (entry.access.permission(), &auth)
        && !auth.has(permission)
    {
        record(
            state,
            entry,
            auth,
            request.data,
            &conn,
            ErrorCode::PermissionDenied.status(),
        )
        .await;
        return Err(fail(ErrorCode::PermissionDenied));
    }
    let audit_as = auth.clone().filter(|_| entry.audited);
    let remote = Arc::clone(&conn);
    let call = Call {
        state: Arc::clone(state),
        conn,
        auth,
        request_id: request.request_id.clone(),
    };
    let result = contain_panic(entry.name, (entry.handler)(call, request.data)).await;
    if let Some(auth) = audit_as {
        let code = result
            .as_ref()
            .map(|_| 200)
            .unwrap_or_else(|e| e.code().status());
        record(state, entry, &auth, request.data, &remote, code).await;
    }
    result
}

/// Runs an action so that a panic inside it (a bug, or a dependency's) becomes an internal
/// error with a `log_id` like any other, instead of unwinding through the connection's task:
/// the request still gets its reply, and the connection and worker live on. Actions share
/// no state a panic could leave half-changed but the database, whose open transaction is
/// rolled back when the unwinding drops it.
async fn contain_panic(action: &str, work: impl Future<Output = Result<Value>>) -> Result<Value> {
    match AssertUnwindSafe(work).catch_unwind().await {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(Error::Internal(format!("panic in {action}: {what}")))
        }
    }
}

/// Writes the audit entry for an authenticated call. The target is the object the request
/// names; the request data itself is not stored (it may hold passwords).
async fn record(
    state: &AppState,
    entry: &Entry,
    auth: &AuthContext,
    data: Option<&RawValue>,
    conn: &ConnectionCtx,
    result: u16,
) {
    let target = data
        .and_then(target_of)
        .map(|s| truncate(&s, 255).to_owned());
    let new = NewEntry {
        username: Some(auth.username().to_owned()),
        action: entry.name.to_owned(),
        target,
        data: None,
        result,
        remote_address: conn.remote.clone(),
    };
    if let Err(e) = audit::insert(auth.scope(), &state.db, new).await {
        // An audit failure must not turn a committed change into an error reply.
        let _ = e.to_reply_data();
    }
}

/// The object a request names, for the audit log: its `username`, `group_name` or `tenant`
/// (the first that is a string), read from the raw `data` without parsing the rest.
fn target_of(data: &RawValue) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Named<'a> {
        #[serde(borrow, default)]
        username: Option<&'a RawValue>,
        #[serde(borrow, default)]
        group_name: Option<&'a RawValue>,
        #[serde(borrow, default)]
        tenant: Option<&'a RawValue>,
    }
    let named: Named<'_> = serde_json::from_str(data.get()).ok()?;
    [named.username, named.group_name, named.tenant]
        .into_iter()
        .flatten()
        .find_map(|raw| serde_json::from_str::<String>(raw.get()).ok())
}

/// A reply for `err`, with the code's default sentence unless `message` is given.
pub fn error_reply(err: &Error, message: Option<String>, request_id: Option<Value>) -> Reply {
    let data = err.to_reply_data();
    Reply {
        code: data.error.status(),
        message: message.unwrap_or_else(|| data.error.message().to_owned()),
        data: serde_json::to_value(&data).unwrap_or(Value::Null),
        timestamp: now_secs(),
        request_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_action_becomes_an_internal_error_with_a_log_id() {
        let work = async {
            if "boom".len() == 4 {
                panic!("boom");
            }
            Ok(Value::Null)
        };
        let err = contain_panic("edge_action", work).await.unwrap_err();
        assert!(
            matches!(&err, Error::Internal(m) if m.contains("edge_action") && m.contains("boom")),
            "{err:?}"
        );
        let reply = error_reply(&err, None, Some(Value::from("r1")));
        assert_eq!(reply.code, 500);
        assert_eq!(reply.data["error"], "internal");
        assert!(reply.data["log_id"].is_string());
        assert_eq!(reply.request_id, Some(Value::from("r1")));
    }

    #[tokio::test]
    async fn an_action_that_returns_is_passed_through() {
        let work = async { Ok(Value::from(7)) };
        assert_eq!(contain_panic("edge_action", work).await.unwrap(), 7);
    }
}
