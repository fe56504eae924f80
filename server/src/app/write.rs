//! One write, as one value: the writer's turn, its transaction and what it will announce.
//! Dropping a [`Write`] rolls the transaction back and announces nothing; [`Write::commit`]
//! consumes it, commits, and only then forgets cached authentications (when the write
//! changed them) and publishes its events, in the order they were added (kanidm's
//! `commit()`). So no listener hears of a change that did not commit, and no action can
//! forget to tell them of one that did.
use sea_orm::DatabaseTransaction;
use serde::Serialize;
use uuid::Uuid;

use super::AppState;
use crate::db::Turn;
use crate::error::Result;
use crate::events::Audience;

/// What waits for a write to commit to be said.
enum Announcement {
    Event {
        tenant_id: Uuid,
        audience: Audience,
        name: &'static str,
        data: serde_json::Value,
    },
    SessionsRevoked {
        user_id: Uuid,
        session_id: Option<Uuid>,
    },
}

/// A write transaction in progress (see the module docs); made by [`AppState::write`].
pub struct Write<'a> {
    state: &'a AppState,
    txn: DatabaseTransaction,
    _turn: Turn,
    announcements: Vec<Announcement>,
    forget_authentications: bool,
}

impl<'a> Write<'a> {
    pub(super) fn new(state: &'a AppState, turn: Turn, txn: DatabaseTransaction) -> Self {
        Self {
            state,
            txn,
            _turn: turn,
            announcements: Vec::new(),
            forget_authentications: false,
        }
    }

    /// The transaction, for the services and queries that write in it.
    pub fn txn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Publishes an event once the write has committed (never if it does not).
    pub fn publish(
        &mut self,
        tenant_id: Uuid,
        audience: Audience,
        name: &'static str,
        payload: &impl Serialize,
    ) {
        match serde_json::to_value(payload) {
            Ok(data) => self.announcements.push(Announcement::Event {
                tenant_id,
                audience,
                name,
                data,
            }),
            Err(e) => tracing::error!(event = name, error = %e, "event payload did not serialise"),
        }
    }

    /// Tells listeners, once the write has committed, that sessions ended (`session_id`:
    /// None for all of the user's), here and on the other instances.
    pub fn sessions_revoked(&mut self, user_id: Uuid, session_id: Option<Uuid>) {
        self.announcements.push(Announcement::SessionsRevoked {
            user_id,
            session_id,
        });
    }

    /// Forgets every cached authentication, here and on every other instance, once the write
    /// has committed: it changes sessions, users, groups, memberships or grants.
    pub fn forget_authentications(&mut self) {
        self.forget_authentications = true;
    }

    /// Commits; then forgets authentications if asked and says what it has to say, in order. The turn
    /// goes with the commit, before anything is announced.
    pub async fn commit(self) -> Result<()> {
        let Write {
            state,
            txn,
            _turn,
            announcements,
            forget_authentications,
        } = self;
        txn.commit().await?;
        drop(_turn);
        if forget_authentications {
            state.forget_authentications();
        }
        for a in announcements {
            match a {
                Announcement::Event {
                    tenant_id,
                    audience,
                    name,
                    data,
                } => state.events.publish_value(tenant_id, audience, name, data),
                Announcement::SessionsRevoked {
                    user_id,
                    session_id,
                } => state.events.sessions_revoked(user_id, session_id),
            }
        }
        Ok(())
    }
}
