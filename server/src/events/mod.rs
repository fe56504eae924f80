//! The in-process event bus. Events are published after their transaction commits and carry
//! their tenant and audience; a listener receives an event only if it is of that tenant and
//! in that audience (holds the permission, or may read the object).
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::storage::rules::Object;

/// Who may receive an event (besides being a listener of its tenant).
#[derive(Debug, Clone, Copy)]
pub enum Audience {
    /// Users holding this permission.
    Permission(&'static str),
    /// Users with read access to this object; `None`: the top level, which everyone reads.
    Readers(Option<Object>),
}

/// Something on the bus.
#[derive(Debug, Clone)]
pub enum BusMessage {
    /// An event for listeners of `tenant_id` in `audience`.
    Event {
        tenant_id: Uuid,
        audience: Audience,
        name: &'static str,
        data: Arc<serde_json::Value>,
    },
    /// The user's sessions were revoked (logout, password change, deletion): their
    /// listeners stop.
    SessionsRevoked {
        user_id: Uuid,
        session_id: Option<Uuid>,
    },
}

#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<BusMessage>,
}

/// Messages a slow subscriber may fall behind by before it misses some.
const CAPACITY: usize = 1024;

impl Default for EventBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl EventBus {
    pub fn subscribe(&self) -> broadcast::Receiver<BusMessage> {
        self.tx.subscribe()
    }

    /// Publishes an event; call only after the change it reports has committed.
    pub fn publish(
        &self,
        tenant_id: Uuid,
        audience: Audience,
        name: &'static str,
        payload: &impl Serialize,
    ) {
        match serde_json::to_value(payload) {
            // No subscribers is not an error: nobody is listening.
            Ok(data) => {
                let _ = self.tx.send(BusMessage::Event {
                    tenant_id,
                    audience,
                    name,
                    data: Arc::new(data),
                });
            }
            Err(e) => tracing::error!(event = name, error = %e, "event payload did not serialise"),
        }
    }

    /// Tells listeners that sessions ended (`session_id: None` = all of the user's).
    pub fn sessions_revoked(&self, user_id: Uuid, session_id: Option<Uuid>) {
        let _ = self.tx.send(BusMessage::SessionsRevoked {
            user_id,
            session_id,
        });
    }
}
