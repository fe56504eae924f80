//! One request, end to end: envelope → registry lookup → access check → typed action →
//! reply, plus the audit entry. Parsing is two-stage: the envelope first (`envelope.rs`, so
//! even a bad request's `request_id` is echoed), then the action's own `data` type.
use std::sync::Arc;

use api_spec::{Access, ErrorCode, Reply, Request};
use serde_json::Value;
use tracing::Instrument;

use super::envelope::{Parsed, parse_envelope};
use super::{Call, Entry};
use crate::app::AppState;
use crate::auth::{AuthContext, context::authenticate};
use crate::connection::ConnectionCtx;
use crate::error::{Error, Result, fail};
use crate::storage::audit::{self, NewEntry};
use crate::time::now_secs;

/// Handles one text message and returns the reply to send.
pub async fn dispatch(state: Arc<AppState>, conn: Arc<ConnectionCtx>, text: &str) -> Reply {
    let Parsed {
        request,
        echo: request_id,
    } = match parse_envelope(text) {
        Ok(parsed) => parsed,
        Err(reply) => return reply,
    };
    let Some(entry) = state.registry.get(&request.action) else {
        let message = format!("Unknown action: {}", truncate(&request.action, 64));
        return error_reply(&fail(ErrorCode::UnknownAction), Some(message), request_id);
    };
    let span = tracing::info_span!("action", action = entry.name, conn = conn.id);
    async {
        let started = std::time::Instant::now();
        let result = run(&state, conn, entry, request).await;
        let reply = match result {
            Ok(data) => Reply {
                code: 200,
                message: entry.success.to_owned(),
                data,
                timestamp: now_secs(),
                request_id,
            },
            Err(e) => error_reply(&e, None, request_id),
        };
        tracing::debug!(
            code = reply.code,
            elapsed_us = started.elapsed().as_micros() as u64,
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
    request: Request,
) -> Result<Value> {
    let auth = match entry.access {
        Access::Public => None,
        Access::Authenticated | Access::Permission(_) => {
            let (Some(username), Some(token)) = (&request.username, &request.token) else {
                return Err(fail(ErrorCode::AuthenticationRequired));
            };
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
            &request.data,
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
    let result = (entry.handler)(call, request.data.clone()).await;
    if let Some(auth) = audit_as {
        let code = result
            .as_ref()
            .map(|_| 200)
            .unwrap_or_else(|e| e.code().status());
        record(state, entry, &auth, &request.data, &remote, code).await;
    }
    result
}

/// Writes the audit entry for an authenticated call. The target is the object the request
/// names; the request data itself is not stored (it may hold passwords).
async fn record(
    state: &AppState,
    entry: &Entry,
    auth: &AuthContext,
    data: &Value,
    conn: &ConnectionCtx,
    result: u16,
) {
    let target = ["username", "group_name", "tenant"]
        .iter()
        .find_map(|k| data.get(*k).and_then(Value::as_str))
        .map(|s| truncate(s, 255).to_owned());
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

fn truncate(s: &str, max_chars: usize) -> &str {
    s.char_indices().nth(max_chars).map_or(s, |(i, _)| &s[..i])
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
