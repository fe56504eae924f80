//! Shared state of a running server.
use std::time::Duration;

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DatabaseTransaction};

use crate::auth::cache::AuthCache;
use crate::auth::password::PasswordHasherPool;
use crate::auth::throttle::LoginThrottle;
use crate::backup::unlock::Unlocker;
use crate::config::Config;
use crate::db::{Turn, WriteGate};
use crate::error::Result;
use crate::events::EventBus;
use crate::jobs::JobControl;
use crate::registry::Registry;
use crate::services::transfers::ActiveUploads;
use crate::storage::blobs::BlobStore;
use crate::time::Clock;
use crate::transport::ws::AddressCounts;

pub struct AppState {
    pub config: Config,
    pub db: DatabaseConnection,
    pub hasher: PasswordHasherPool,
    pub throttle: LoginThrottle,
    /// Authenticated sessions; see [`AuthCache`] for when entries hold.
    pub auth_cache: AuthCache,
    pub events: EventBus,
    pub registry: Registry,
    pub blobs: Arc<dyn BlobStore>,
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
    pub metrics: crate::metrics::Metrics,
}

impl AppState {
    pub fn new(
        config: Config,
        db: DatabaseConnection,
        hasher: PasswordHasherPool,
        blobs: Arc<dyn BlobStore>,
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
            registry: Registry::build(),
            blobs,
            uploads: ActiveUploads::default(),
            jobs: JobControl::default(),
            addresses: Arc::default(),
            unlocker,
            writes: WriteGate::new(&db, &config),
            clock,
            metrics: crate::metrics::Metrics::default(),
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

    /// Waits for this writer's turn and begins a write transaction (see [`WriteGate`]); keep
    /// the [`Turn`] until the transaction has committed.
    pub async fn begin_write(&self) -> Result<(Turn, DatabaseTransaction)> {
        self.writes.begin(&self.db).await
    }
}
