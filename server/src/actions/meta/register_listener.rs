//! Subscribes the connection to its tenant's events. The listener runs as its own task: it
//! forwards an event only if it is for the caller's tenant, the caller is in its audience
//! (held the permission when registering, or may read the object now), and it passes the
//! optional name filter. It stops when the session is revoked or the connection closes.
use std::sync::Arc;
use std::time::Duration;

use api_spec::actions::RegisterListenerRequest;
use api_spec::envelope::Empty;
use api_spec::{ErrorCode, Event, events};
use tokio::sync::broadcast::error::RecvError;

use crate::access::AccessType;
use crate::actions::Call;
use crate::app::AppState;
use crate::auth::AuthContext;
use crate::connection::Outgoing;
use crate::error::{Result, field_error};
use crate::events::{Audience, BusMessage};
use crate::services::access;
use crate::storage::rules::Object;
use crate::time::now_secs;

/// WebSocket close code 1008 (policy violation): the client did not read its events.
const CLOSE_TOO_SLOW: u16 = 1008;
/// How long an event may wait for room in a busy connection's queue (a download in
/// progress fills it legitimately) before the client counts as not reading.
const QUEUE_PATIENCE: Duration = Duration::from_secs(10);

async fn in_audience(state: &AppState, auth: &AuthContext, audience: Audience) -> bool {
    match audience {
        Audience::Permission(p) => auth.has(p),
        Audience::Readers(None) => true,
        Audience::Readers(Some(object)) => may_read(state, auth, object).await,
    }
}

/// Whether the caller may read `object` now. An object that went, or a refusal, is a no; a
/// database that failed (or was busy) is asked twice more (within 100 ms, short enough not to
/// leave the listener behind the bus) before the event is dropped, with a warning.
async fn may_read(state: &AppState, auth: &AuthContext, object: Object) -> bool {
    let mut delay = Duration::from_millis(20);
    for attempt in 1.. {
        match access::allowed(auth, &state.db, object, AccessType::Read).await {
            Ok(allowed) => return allowed,
            Err(e) if !matches!(e.code(), ErrorCode::Internal | ErrorCode::Busy) => return false,
            Err(e) if attempt >= 3 => {
                tracing::warn!(error = %e, "an event was dropped: its audience could not be checked");
                return false;
            }
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
        }
    }
    false
}

pub async fn run(call: Call, req: RegisterListenerRequest) -> Result<Empty> {
    let auth = call.auth()?.clone();
    if let Some(names) = &req.events
        && names
            .iter()
            .any(|n| !events::CATALOGUE.iter().any(|(e, _, _)| e == n))
    {
        return Err(field_error(ErrorCode::InvalidField, "events"));
    }
    let mut rx = call.state.events.subscribe();
    let outgoing = call.conn.outgoing.clone();
    let close = call.conn.close.clone();
    let state = Arc::clone(&call.state);
    let task = tokio::spawn(async move {
        loop {
            let message = match rx.recv().await {
                Ok(m) => m,
                Err(RecvError::Lagged(_)) => {
                    let _ = close.try_send((CLOSE_TOO_SLOW, "listener fell behind".into()));
                    return;
                }
                Err(RecvError::Closed) => return,
            };
            match message {
                BusMessage::SessionsRevoked {
                    user_id,
                    session_id,
                } => {
                    if user_id == auth.user_id()
                        && session_id.is_none_or(|s| s == auth.session_id())
                    {
                        return;
                    }
                }
                BusMessage::Event {
                    tenant_id,
                    audience,
                    name,
                    data,
                } => {
                    let wanted = req
                        .events
                        .as_ref()
                        .is_none_or(|names| names.iter().any(|n| n == name));
                    if tenant_id != auth.scope().tenant_id()
                        || !wanted
                        || !in_audience(&state, &auth, audience).await
                    {
                        continue;
                    }
                    let event = Event {
                        event: name.to_owned(),
                        data: (*data).clone(),
                        timestamp: now_secs(),
                    };
                    let Ok(text) = serde_json::to_string(&event) else {
                        continue;
                    };
                    if outgoing
                        .send_timeout(Outgoing::Text(text), QUEUE_PATIENCE)
                        .await
                        .is_err()
                    {
                        let _ = close.try_send((CLOSE_TOO_SLOW, "outgoing queue full".into()));
                        return;
                    }
                }
            }
        }
    });
    call.conn.set_listener(task.abort_handle());
    Ok(Empty {})
}
