//! The bus between instances that share a PostgreSQL database: `NOTIFY` on one channel, and
//! one `LISTEN`ing connection per instance — parts the deployment already runs, no cluster
//! protocol of our own.
//!
//! * An instance delivers what it publishes to its own listeners at once and sends it to the
//!   others, in order, through one task: the message is a row of `bus_messages`, and the
//!   notification (sent after the change committed) carries only the sending instance and the
//!   row's id. A database role that may connect but not read or write that table (`NOTIFY`
//!   and `LISTEN` need no privilege) can therefore neither read another tenant's events nor
//!   forge one. Rows go after `STORED_FOR_MS`.
//! * An instance ignores its own notifications, so a listener hears each event once.
//! * Sessions that end and authentications that change reach every instance's cache, which
//!   forgets them at once.
//! * Each instance notifies itself every `PING_EVERY`; when it has heard nothing, not even
//!   that, for `SILENCE`, or the connection drops, it forgets every cached authentication
//!   and listens again on a new connection. What was said while it was deaf is lost to it:
//!   events are news, not a log. It listens on a connection of its own, outside the pool.
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgListener, PgPool};
use sea_orm::{DatabaseBackend, DbErr};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{Audience, BusMessage, EventBus};
use crate::storage::rules::Object;
use crate::time::now_ms;

/// The notification channel.
const CHANNEL: &str = "coffer_bus";
/// How long a message is kept for the instances to fetch.
const STORED_FOR_MS: i64 = 10 * 60 * 1000;
/// How often an instance notifies itself (and removes old messages).
const PING_EVERY: Duration = Duration::from_secs(10);
/// Silence after which an instance takes its listening connection for dead.
const SILENCE: Duration = Duration::from_secs(35);

/// What travels between instances.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    Event {
        tenant_id: Uuid,
        audience: WireAudience,
        name: String,
        data: Value,
    },
    SessionsRevoked {
        user_id: Uuid,
        session_id: Option<Uuid>,
    },
    /// Sessions, users, groups, memberships or grants changed.
    AuthChanged,
    /// A job was queued: the runners look for work.
    JobsQueued,
}

/// An [`Audience`] as it travels.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum WireAudience {
    Permission { name: String },
    TopLevel,
    Folder { id: Uuid },
    Document { id: Uuid },
}

impl Body {
    pub(super) fn event(tenant_id: Uuid, audience: Audience, name: &str, data: &Value) -> Self {
        let audience = match audience {
            Audience::Permission(p) => WireAudience::Permission { name: p.to_owned() },
            Audience::Readers(None) => WireAudience::TopLevel,
            Audience::Readers(Some(Object::Folder(id))) => WireAudience::Folder { id },
            Audience::Readers(Some(Object::Document(id))) => WireAudience::Document { id },
        };
        Body::Event {
            tenant_id,
            audience,
            name: name.to_owned(),
            data: data.clone(),
        }
    }
}

/// The bus's work: sending and receiving until the server stops (dropping it closes the
/// listening connection).
pub type Running = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// What the bus reaches on this instance. The server's state implements it: `events` sits
/// below that state and names only this.
pub trait Instance: Send + Sync + 'static {
    fn db(&self) -> &sea_orm::DatabaseConnection;
    /// The database's URL, for a listening connection of the bus's own.
    fn database_url(&self) -> String;
    /// This instance's id (the `worker_id` of its jobs), which its messages carry.
    fn instance_id(&self) -> &str;
    fn events(&self) -> &EventBus;
    /// Forgets every cached authentication here (the others are not told).
    fn forget_authentications_here(&self);
    /// Wakes this instance's job runner.
    fn wake_jobs(&self);
}

/// On PostgreSQL, connects this instance to the others: it listens before this returns (so
/// nothing published after start-up is missed); the caller runs what it returns beside the
/// server. Elsewhere there are no others, and what it returns waits for ever.
pub async fn start<S: Instance>(state: &Arc<S>) -> Result<Running, DbErr> {
    if state.db().get_database_backend() != DatabaseBackend::Postgres {
        return Ok(Box::pin(std::future::pending()));
    }
    let pool = state.db().get_postgres_connection_pool().clone();
    let origin = state.instance_id().to_owned();
    // A connection of its own, not one of the pool's: closing the pool must not wait for it.
    let url = state.database_url();
    let listener = listen(&url).await.map_err(sqlx_err)?;
    let (tx, rx) = mpsc::unbounded_channel();
    state.events().reach_others(tx);
    let state = Arc::clone(state);
    Ok(Box::pin(async move {
        tokio::join!(
            send(pool.clone(), rx, origin.clone()),
            receive(state, pool, url, listener, origin)
        );
    }))
}

/// Sends `body` to every running instance from outside any of them (the operator's command
/// line, working on the database directly). On SQLite there is no bus: a server running
/// beside it notices within its `auth_cache_ms`.
pub async fn from_outside(db: &sea_orm::DatabaseConnection, body: Body) -> Result<(), DbErr> {
    if db.get_database_backend() != DatabaseBackend::Postgres {
        return Ok(());
    }
    notify(db.get_postgres_connection_pool(), "command-line", body)
        .await
        .map_err(sqlx_err)
}

fn sqlx_err(e: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Custom(format!("event bus: {e}"))
}

async fn listen(url: &str) -> Result<PgListener, sea_orm::sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Sends this instance's messages, one at a time, in the order they were published; pings
/// itself and removes old messages every `PING_EVERY`.
async fn send(pool: PgPool, mut rx: mpsc::UnboundedReceiver<Body>, origin: String) {
    let mut ping = tokio::time::interval(PING_EVERY);
    loop {
        let sent = tokio::select! {
            body = rx.recv() => match body {
                Some(body) => notify(&pool, &origin, body).await,
                None => return,
            },
            _ = ping.tick() => ping_and_tidy(&pool, &origin).await,
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "a message did not reach the other instances");
        }
    }
}

async fn notify(pool: &PgPool, origin: &str, body: Body) -> Result<(), sea_orm::sqlx::Error> {
    let id = Uuid::now_v7();
    let text = serde_json::to_string(&body).unwrap_or_default();
    sea_orm::sqlx::query("INSERT INTO bus_messages (id, body, created_at) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(&text)
        .bind(now_ms())
        .execute(pool)
        .await?;
    pg_notify(pool, &format!("{origin} {id}")).await
}

async fn ping_and_tidy(pool: &PgPool, origin: &str) -> Result<(), sea_orm::sqlx::Error> {
    pg_notify(pool, &format!("{origin} ping")).await?;
    sea_orm::sqlx::query("DELETE FROM bus_messages WHERE created_at < $1")
        .bind(now_ms() - STORED_FOR_MS)
        .execute(pool)
        .await?;
    Ok(())
}

async fn pg_notify(pool: &PgPool, payload: &str) -> Result<(), sea_orm::sqlx::Error> {
    sea_orm::sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(payload)
        .execute(pool)
        .await?;
    Ok(())
}

/// Receives the other instances' messages until the server stops, listening again on a new
/// connection whenever this one drops or falls silent.
async fn receive<S: Instance>(
    state: Arc<S>,
    pool: PgPool,
    url: String,
    mut listener: PgListener,
    origin: String,
) {
    loop {
        match tokio::time::timeout(SILENCE, listener.try_recv()).await {
            Ok(Ok(Some(notification))) => {
                if let Err(e) = take(&*state, &pool, &origin, notification.payload()).await {
                    tracing::warn!(error = %e, "a message from another instance was dropped");
                }
                continue;
            }
            // The connection dropped, or carries nothing any more (not even our own pings).
            Ok(Ok(None)) => tracing::warn!("the event bus connection dropped; listening again"),
            Ok(Err(e)) => tracing::warn!(error = %e, "the event bus failed; listening again"),
            Err(_) => tracing::warn!("the event bus fell silent; listening again"),
        }
        // What was said meanwhile is lost: cached authentications may be stale.
        state.forget_authentications_here();
        loop {
            match listen(&url).await {
                Ok(fresh) => {
                    listener = fresh;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the event bus cannot listen; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        // Anything cached while it was deaf goes too.
        state.forget_authentications_here();
    }
}

/// Hands one notification (`<origin> <message id>` or `<origin> ping`) to this instance.
async fn take<S: Instance>(
    state: &S,
    pool: &PgPool,
    origin: &str,
    payload: &str,
) -> Result<(), String> {
    let (from, what) = payload
        .split_once(' ')
        .ok_or_else(|| format!("not a bus notification: {payload:.80}"))?;
    if from == origin || what == "ping" {
        return Ok(());
    }
    let id = Uuid::parse_str(what).map_err(|e| e.to_string())?;
    let (text,): (String,) = sea_orm::sqlx::query_as("SELECT body FROM bus_messages WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .map_err(|e| e.to_string())?;
    let body: Body = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    match body {
        Body::Event {
            tenant_id,
            audience,
            name,
            data,
        } => {
            let name = api_spec::events::CATALOGUE
                .iter()
                .map(|(n, _, _)| *n)
                .find(|n| *n == name)
                .ok_or_else(|| format!("unknown event {name}"))?;
            let audience = match audience {
                WireAudience::Permission { name } => Audience::Permission(
                    api_spec::permissions::ALL
                        .iter()
                        .copied()
                        .find(|p| *p == name)
                        .ok_or_else(|| format!("unknown permission {name}"))?,
                ),
                WireAudience::TopLevel => Audience::Readers(None),
                WireAudience::Folder { id } => Audience::Readers(Some(Object::Folder(id))),
                WireAudience::Document { id } => Audience::Readers(Some(Object::Document(id))),
            };
            state.events().deliver(BusMessage::Event {
                tenant_id,
                audience,
                name,
                data: Arc::new(data),
            });
        }
        Body::SessionsRevoked {
            user_id,
            session_id,
        } => {
            state.forget_authentications_here();
            state.events().deliver(BusMessage::SessionsRevoked {
                user_id,
                session_id,
            });
        }
        Body::AuthChanged => state.forget_authentications_here(),
        Body::JobsQueued => state.wake_jobs(),
    }
    Ok(())
}
