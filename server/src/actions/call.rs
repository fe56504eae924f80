//! What an action gets besides its request: the server's state, its connection, and the
//! caller's authentication (set by the dispatcher, `crate::registry`).
use std::sync::Arc;

use api_spec::ErrorCode;
use serde_json::Value;

use crate::app::AppState;
use crate::auth::AuthContext;
use crate::connection::ConnectionCtx;
use crate::error::{Result, fail};

/// Everything an action gets besides its request.
pub struct Call {
    pub state: Arc<AppState>,
    pub conn: Arc<ConnectionCtx>,
    /// The request's correlation id, for control messages sent before the reply.
    pub request_id: Option<Value>,
    pub(crate) auth: Option<AuthContext>,
}

impl Call {
    /// The caller's authentication. The dispatcher guarantees it for non-public actions;
    /// this is an error rather than a panic should an action be registered wrongly.
    pub fn auth(&self) -> Result<&AuthContext> {
        self.auth
            .as_ref()
            .ok_or_else(|| fail(ErrorCode::AuthenticationRequired))
    }
}
