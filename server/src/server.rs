//! Starting and stopping a server.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpServer, web};
use tokio::task::JoinHandle;

use crate::app::AppState;
use crate::auth::password::PasswordHasherPool;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::services::bootstrap;
use crate::storage::sessions;
use crate::time::now_ms;

/// How often expired sessions are swept.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);
/// How long a server stopping on a signal gives its runs to stop before it hands their jobs
/// off (as long as in-flight requests get).
const JOB_HAND_OFF: Duration = Duration::from_secs(10);

/// A started server.
pub struct RunningServer {
    addr: SocketAddr,
    state: Arc<AppState>,
    handle: ServerHandle,
    server: JoinHandle<std::io::Result<()>>,
    housekeeping: JoinHandle<()>,
    /// Stopping on a signal, it hands its jobs off ([`RunningServer::wait`]).
    hands_off: bool,
}

/// Whether the server stops itself on SIGINT/SIGTERM (the CLI) or only when told (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signals {
    Handle,
    Ignore,
}

/// Connects to and migrates the database, bootstraps tenant `default` on first start,
/// and starts serving on `config.bind` (port 0 picks a free port; see [`RunningServer::addr`]).
pub async fn start(config: Config, signals: Signals) -> Result<RunningServer> {
    start_with_clock(config, signals, Arc::new(crate::time::SystemClock)).await
}

/// [`start`], with time-driven work (backup schedules, retention, drills) reading `clock`
/// (tests move a [`crate::time::ManualClock`]).
pub async fn start_with_clock(
    config: Config,
    signals: Signals,
    clock: Arc<dyn crate::time::Clock>,
) -> Result<RunningServer> {
    // sqlx and object_store enable both rustls providers; without a process default the
    // first TLS connection panics. Installing twice is harmless (tests start many servers).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    crate::lifecycle::policy::check_default(&config).map_err(|e| {
        let field = e.to_reply_data().field.unwrap_or_default();
        Error::Internal(format!("default_backup_policy: invalid {field}"))
    })?;
    let bind = config.bind;
    let workers = config.workers;
    let state = state_of(config, clock).await?;
    let bus = crate::events::pg::start(&state).await?;
    crate::jobs::reap(&state, true).await?;

    let data = web::Data::new(Arc::clone(&state));
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(crate::transport::http::routes)
    })
    .tcp_nodelay(true)
    .shutdown_timeout(10);
    if workers > 0 {
        server = server.workers(workers);
    }
    if signals == Signals::Ignore {
        server = server.disable_signals();
    }
    let server = server
        .bind(bind)
        .map_err(|e| Error::Internal(format!("cannot listen on {bind}: {e}")))?;
    let addr = server.addrs().first().copied().unwrap_or(bind);
    let server = server.run();
    let handle = server.handle();
    let server = tokio::spawn(server);
    let (chores, reaper, runner) = (Arc::clone(&state), Arc::clone(&state), Arc::clone(&state));
    let scheduler = Arc::clone(&state);
    let housekeeping = tokio::spawn(async move {
        tokio::join!(
            housekeeping(chores),
            crate::jobs::reaper(reaper),
            crate::jobs::runner(runner),
            crate::lifecycle::policy::scheduler(scheduler),
            bus
        );
    });
    tracing::info!(%addr, "listening");
    Ok(RunningServer {
        addr,
        state,
        handle,
        server,
        housekeeping,
        hands_off: signals == Signals::Handle,
    })
}

/// The server's state on `config`: the database (migrated, tenant `default` made on first
/// start), the stores, the master key, the job kinds; what older versions kept elsewhere is
/// moved into place.
async fn state_of(config: Config, clock: Arc<dyn crate::time::Clock>) -> Result<Arc<AppState>> {
    let db = crate::db::connect(&config).await?;
    let hasher = PasswordHasherPool::new(
        config.argon2_memory_kib,
        config.argon2_iterations,
        crate::kdf::KdfPool::new(config.kdf_threads)?,
    )?;
    bootstrap::ensure_default_tenant(&db, &hasher, &config).await?;
    let stores = crate::storage::blobs::Stores::from_config(&config)?;
    // A new key only for a database that holds none sealed: an instance given no key file
    // must not seal with a key of its own what the others cannot open.
    let sealed = crate::storage::backup_keys::count_by_master_key(&db).await?;
    let master_file = config.effective_master_key_file();
    let master = crate::sealing::MasterKey::load_or_create(&master_file, sealed.is_empty())?;
    let unlocker = crate::app::unlock::Unlocker::new(config.backup_kdf_limits())?;
    let state = AppState::new(config, db, hasher, (stores, master), unlocker, clock);
    let state = Arc::new(state);
    state.jobs.register(crate::backup::job_kinds());
    state
        .jobs
        .register_lifecycle(std::sync::Arc::new(crate::lifecycle::Policies));
    crate::backup::stored::adopt(&state).await?;
    crate::backup::stored::check_master_key(&state).await?;
    Ok(state)
}

async fn housekeeping(state: Arc<AppState>) {
    let mut every = tokio::time::interval(HOUSEKEEPING_EVERY);
    loop {
        every.tick().await;
        match sessions::purge_expired(&state.db, now_ms()).await {
            Ok(n) if n > 0 => tracing::info!(sessions = n, "purged expired sessions"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "session purge failed"),
        }
        match crate::services::transfers::expire_uploads(&state).await {
            Ok(n) if n > 0 => tracing::info!(tasks = n, "expired upload tasks"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "upload expiry failed"),
        }
        match crate::services::transfers::sweep_parts(&state).await {
            Ok(n) if n > 0 => tracing::info!(parts = n, "removed part files no upload resumes"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "part file sweep failed"),
        }
    }
}

impl RunningServer {
    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (for tests and operator tooling in the same process).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Runs until the server stops (on a signal, with [`Signals::Handle`]); a server that
    /// stops on a signal hands its jobs off first (`jobs::hand_off`).
    pub async fn wait(self) -> Result<()> {
        let result = self.server.await;
        if self.hands_off {
            match crate::jobs::hand_off(&self.state, JOB_HAND_OFF).await {
                Ok(n) if n > 0 => tracing::info!(jobs = n, "jobs handed off"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not hand jobs off"),
            }
        }
        self.housekeeping.abort();
        self.state.db.clone().close().await?;
        result?.map_err(|e| Error::Internal(format!("server: {e}")))
    }

    /// Asks the server to stop at once, without waiting (for `Drop` impls and signal-free
    /// shutdown paths that cannot await).
    pub fn request_stop(&self) {
        // The stop command is sent when `stop` is called; the returned future only waits.
        drop(self.handle.stop(false));
        self.housekeeping.abort();
    }

    /// Stops accepting, lets in-flight requests finish (up to the shutdown timeout), and
    /// closes the database.
    pub async fn stop(self) -> Result<()> {
        self.handle.stop(true).await;
        self.wait().await
    }
}
