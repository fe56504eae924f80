//! The event bus. Events are published after their transaction commits and carry their
//! tenant and audience; a listener receives an event only if it is of that tenant and in that
//! audience (holds the permission, or may read the object). Within an instance the bus is a
//! broadcast channel; on PostgreSQL every message also goes to the other instances sharing
//! the database (`pg`), which deliver it to their own listeners — each listener hears each
//! event once, whichever instance it is connected to (unless its instance's bus connection
//! was down when the event was sent) — and which also learn there that
//! sessions ended or authentications changed, so that their caches forget at once.
pub mod pg;

use std::sync::{Arc, OnceLock};

use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
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

pub struct EventBus {
    tx: broadcast::Sender<BusMessage>,
    /// The other instances (PostgreSQL only): what this one publishes goes there too.
    others: OnceLock<mpsc::UnboundedSender<pg::Body>>,
}

/// Messages a slow subscriber may fall behind by before it misses some.
const CAPACITY: usize = 1024;

impl Default for EventBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
            others: OnceLock::new(),
        }
    }
}

impl EventBus {
    pub fn subscribe(&self) -> broadcast::Receiver<BusMessage> {
        self.tx.subscribe()
    }

    /// From now on, what is published here also goes to `others` (see `pg::start`).
    pub(crate) fn reach_others(&self, others: mpsc::UnboundedSender<pg::Body>) {
        let _ = self.others.set(others);
    }

    fn to_others(&self, body: pg::Body) {
        if let Some(others) = self.others.get() {
            let _ = others.send(body);
        }
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
            Ok(data) => self.publish_value(tenant_id, audience, name, data),
            Err(e) => tracing::error!(event = name, error = %e, "event payload did not serialise"),
        }
    }

    /// [`EventBus::publish`] of a payload already made JSON.
    pub fn publish_value(
        &self,
        tenant_id: Uuid,
        audience: Audience,
        name: &'static str,
        data: serde_json::Value,
    ) {
        let data = Arc::new(data);
        self.to_others(pg::Body::event(tenant_id, audience, name, &data));
        self.deliver(BusMessage::Event {
            tenant_id,
            audience,
            name,
            data,
        });
    }

    /// Tells listeners that sessions ended (`session_id: None` = all of the user's), here
    /// and on the other instances (whose authentication caches forget too).
    pub fn sessions_revoked(&self, user_id: Uuid, session_id: Option<Uuid>) {
        self.to_others(pg::Body::SessionsRevoked {
            user_id,
            session_id,
        });
        self.deliver(BusMessage::SessionsRevoked {
            user_id,
            session_id,
        });
    }

    /// Tells the other instances that sessions, users, groups, memberships or grants
    /// changed: their authentication caches forget (this instance's caller forgets its own).
    pub fn authentications_changed(&self) {
        self.to_others(pg::Body::AuthChanged);
    }

    /// Tells the other instances' job runners that a job was queued.
    pub fn jobs_queued(&self) {
        self.to_others(pg::Body::JobsQueued);
    }

    /// Hands a message to this instance's listeners.
    fn deliver(&self, message: BusMessage) {
        // No subscribers is not an error: nobody is listening.
        let _ = self.tx.send(message);
    }
}
