//! The three message shapes on the WebSocket: a client request, the server's reply to it,
//! and a server-pushed event.
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// One client request: a WebSocket text message holding this JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Name of the action, e.g. `list_users`.
    pub action: String,
    /// The action's typed arguments; `{}` when omitted.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub data: Value,
    /// Username the token was issued to. Optional: when given, it must be the token's user
    /// (`invalid_token` otherwise); the token alone names its session.
    #[serde(default)]
    pub username: Option<String>,
    /// Opaque session token returned by `login`; required on authenticated actions.
    #[serde(default)]
    pub token: Option<String>,
    /// Optional client correlation id (string or number), echoed in the reply. Lets a client
    /// pipeline several requests on one connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub request_id: Option<Value>,
}

/// The server's reply to one request.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Reply {
    /// HTTP-like status: 200, 400, 401, 403, 404, 408, 409, 413, 429 or 500.
    pub code: u16,
    /// Human-readable sentence; never contains internals.
    pub message: String,
    /// The action's response on 200; an [`crate::ErrorData`] object otherwise.
    #[schema(value_type = Object)]
    pub data: Value,
    /// Server time in seconds since the Unix epoch.
    pub timestamp: f64,
    /// The request's `request_id`, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub request_id: Option<Value>,
}

/// A server-pushed event; it has no `code`, which is how a client tells it from a reply.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Event name, e.g. `user_changed`.
    pub event: String,
    /// The event's payload (see the `events` schemas).
    #[schema(value_type = Object)]
    pub data: Value,
    /// Server time in seconds since the Unix epoch.
    pub timestamp: f64,
}

/// The `data` of actions that take no arguments or return nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}
