//! Shared state of a running server, and the leaf types it holds (each in a submodule here):
//! what the layers above (`services`, the jobs, `actions`, `transport`) take as `&AppState`.
//! Nothing here imports those layers: state is passed down, never imported back up.
pub mod addresses;
pub mod counters;
pub mod jobs;
pub mod unlock;
pub mod uploads;
pub mod write;

use std::time::Duration;

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DatabaseTransaction};

use self::addresses::AddressCounts;
use self::jobs::JobControl;
use self::unlock::Unlocker;
use self::uploads::ActiveUploads;
use crate::auth::cache::AuthCache;
use crate::auth::password::PasswordHasherPool;
use crate::auth::throttle::LoginThrottle;
use crate::config::Config;
use crate::db::{Turn, WriteGate};
use crate::error::Result;
use crate::events::EventBus;
use crate::sealing::MasterKey;
use crate::storage::blobs::{BlobStore, Stores};
use crate::time::Clock;

/// Where the backup store is, beside the data's.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// The backup store is the data's own store (the S3 default): nothing to move.
    pub in_data: bool,
    /// The backup store shares a disk or bucket with the data: losing one loses both.
    pub shares_data: bool,
}

pub struct AppState {
    pub config: Config,
    pub db: DatabaseConnection,
    pub hasher: PasswordHasherPool,
    pub throttle: LoginThrottle,
    /// Authenticated sessions; see [`AuthCache`] for when entries hold.
    pub auth_cache: AuthCache,
    pub events: EventBus,
    /// File contents and import uploads (`storage`).
    pub blobs: Arc<dyn BlobStore>,
    /// Backup archives (`backup_storage`): see [`Stores`].
    pub backup_store: Arc<dyn BlobStore>,
    /// Where the backup store is, beside the data.
    pub backup_placement: Placement,
    /// The destinations every completed backup is copied to (`backup_copies`).
    pub copies: Vec<crate::storage::blobs::places::Copy>,
    /// Seals the backup keys the server keeps (`master_key_file`).
    pub master: MasterKey,
    pub uploads: ActiveUploads,
    pub jobs: JobControl,
    /// WebSocket connections per client address.
    pub addresses: Arc<AddressCounts>,
    /// Unlocks key files at a bounded cost, one tenant's at a time.
    pub unlocker: Unlocker,
    /// Writers' turns (see [`WriteGate`]).
    pub writes: WriteGate,
    /// The clock of time-driven work: schedules, retention, drills.
    pub clock: Arc<dyn Clock>,
    /// This process's counts for `/metrics`.
    pub metrics: crate::app::counters::Metrics,
}

impl AppState {
    /// The store that keeps `object`: a backup's archive the backup store, all else the
    /// data's.
    pub fn store_of(&self, object: &str) -> &Arc<dyn BlobStore> {
        if crate::layout::is_backup_archive(object) {
            &self.backup_store
        } else {
            &self.blobs
        }
    }

    pub fn new(
        config: Config,
        db: DatabaseConnection,
        hasher: PasswordHasherPool,
        (stores, master): (Stores, MasterKey),
        unlocker: Unlocker,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let throttle = LoginThrottle::new(
            config.login_max_failures,
            Duration::from_secs(config.login_window_secs),
        );
        Self {
            auth_cache: AuthCache::new(config.auth_cache_ms),
            hasher,
            throttle,
            events: EventBus::default(),
            blobs: stores.data,
            backup_store: stores.backups,
            backup_placement: Placement {
                in_data: stores.backups_in_data,
                shares_data: stores.backups_share_data,
            },
            copies: stores.copies,
            master,
            uploads: ActiveUploads::default(),
            jobs: JobControl::default(),
            addresses: Arc::default(),
            unlocker,
            writes: WriteGate::new(&db, &config),
            clock,
            metrics: crate::app::counters::Metrics::default(),
            config,
            db,
        }
    }

    /// Forgets every cached authentication, here and (through the bus) on every other
    /// instance. Call after committing any change to sessions, users, groups, memberships or
    /// grants.
    pub fn forget_authentications(&self) {
        self.auth_cache.invalidate();
        self.events.authentications_changed();
    }

    /// Waits for this writer's turn and begins a write transaction: the one [`write::Write`]
    /// that carries the turn, the transaction and the events to publish when it commits.
    pub async fn write(&self) -> Result<write::Write<'_>> {
        let (turn, txn) = self.begin_write().await?;
        Ok(write::Write::new(self, turn, txn))
    }

    /// Waits for this writer's turn and begins a write transaction (see [`WriteGate`]); keep
    /// the [`Turn`] until the transaction has committed. Work that commits in slices or
    /// announces nothing takes this; an action takes [`AppState::write`].
    pub async fn begin_write(&self) -> Result<(Turn, DatabaseTransaction)> {
        self.writes.begin(&self.db).await
    }
}

impl crate::events::pg::Instance for AppState {
    fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    fn database_url(&self) -> String {
        self.config.effective_database_url()
    }

    fn instance_id(&self) -> &str {
        self.jobs.instance()
    }

    fn events(&self) -> &EventBus {
        &self.events
    }

    fn forget_authentications_here(&self) {
        self.auth_cache.invalidate();
    }

    fn wake_jobs(&self) {
        self.jobs.wake();
    }
}
