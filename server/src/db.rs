//! Opening the database and bringing its schema up to date; taking turns to write.
use std::sync::Arc;
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbErr,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::config::Config;
use crate::error::{Error, Result};

/// Connects to the configured database (creating the data directory for SQLite) and runs
/// pending migrations.
pub async fn connect(config: &Config) -> Result<DatabaseConnection> {
    let url = config.effective_database_url();
    if url.starts_with("sqlite:") {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| Error::Internal(format!("cannot create data dir: {e}")))?;
    }
    let lock_timeout = Duration::from_millis(config.db_lock_timeout_ms);
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(config.db_max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // WAL lets readers run beside the one writer; NORMAL sync is durable in WAL mode
        // except for the last transactions on power loss, the usual trade for a server.
        .map_sqlx_sqlite_opts(move |o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(lock_timeout)
                .foreign_keys(true)
        })
        // A statement waiting this long for a lock fails (`55P03`), answered as `busy`.
        .map_sqlx_postgres_opts(move |o| {
            o.options([("lock_timeout", format!("{}ms", lock_timeout.as_millis()))])
        });
    let db = Database::connect(options).await?;
    Migrator::up(&db, None).await?;
    Ok(db)
}

/// Begins a read-only transaction whose statements all see one snapshot: repeatable read on
/// PostgreSQL (read committed gives each statement its own); SQLite's transactions are
/// snapshots already (from their first read).
pub async fn begin_read(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        sea_orm::DatabaseBackend::Postgres => {
            db.begin_with_config(
                Some(sea_orm::IsolationLevel::RepeatableRead),
                Some(sea_orm::AccessMode::ReadOnly),
            )
            .await
        }
        _ => db.begin().await,
    }
}

/// Begins a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`: the write lock is
/// taken (waiting up to the busy timeout) before the first read, because a deferred
/// transaction that reads first and then writes fails with `SQLITE_BUSY_SNAPSHOT` — without
/// waiting — whenever another connection committed in between. PostgreSQL ignores the mode.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// Whose turn it is to write. SQLite has one write lock for the whole database, and its
/// busy handler is not a queue: a waiting writer sleeps and retries (every 100 ms once it has
/// waited a while), so a task that commits and at once begins its next transaction — a large
/// delete working in slices — can take the lock again and again while the others sleep.
/// Writers of this process therefore queue here first (tokio's mutex is first come, first
/// served), and wait for SQLite only behind the one transaction that holds the lock. On
/// PostgreSQL, whose locks are per row, there is no gate.
#[derive(Clone)]
pub struct WriteGate {
    turn: Option<Arc<Mutex<()>>>,
    timeout: Duration,
}

/// A writer's turn; the next writer's begins when it is dropped (after the commit).
pub struct Turn {
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteGate {
    pub fn new(db: &DatabaseConnection, config: &Config) -> Self {
        let sqlite = db.get_database_backend() == sea_orm::DatabaseBackend::Sqlite;
        Self {
            turn: sqlite.then(|| Arc::new(Mutex::new(()))),
            timeout: Duration::from_millis(config.db_lock_timeout_ms),
        }
    }

    /// Waits for this writer's turn (up to the lock timeout, then `busy`) and begins its
    /// write transaction. Keep the [`Turn`] until the transaction has committed.
    pub async fn begin(&self, db: &DatabaseConnection) -> Result<(Turn, DatabaseTransaction)> {
        let guard = match &self.turn {
            None => None,
            Some(turn) => Some(
                tokio::time::timeout(self.timeout, Arc::clone(turn).lock_owned())
                    .await
                    .map_err(|_| Error::busy())?,
            ),
        };
        Ok((Turn { _guard: guard }, begin_write(db).await?))
    }
}
