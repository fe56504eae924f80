//! `server_info` and `register_listener`.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Access;
use crate::envelope::Empty;

/// What `server_info` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ServerInfoResponse {
    /// Configured server name.
    pub server_name: String,
    /// Server version (the `coffer` crate's).
    pub version: String,
    /// Wire protocol version ([`crate::PROTOCOL_VERSION`]).
    pub protocol_version: u32,
}

/// Arguments of `register_listener`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterListenerRequest {
    /// Event names to receive; all events the caller may see when absent.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

action! {
    /// Server name, version and protocol version. Needs no login.
    ServerInfo {
        name: "server_info",
        access: Access::Public,
        audited: false,
        success: "Server information",
        errors: [],
        request: Empty,
        response: ServerInfoResponse,
    }
}

action! {
    /// Subscribes this connection to the events of the caller's tenant that the caller may see.
    /// The subscription ends when the session is revoked or the connection closes.
    RegisterListener {
        name: "register_listener",
        access: Access::Authenticated,
        audited: false,
        success: "Registered as a listener",
        errors: [InvalidField],
        request: RegisterListenerRequest,
        response: Empty,
    }
}
