//! Background jobs (exports and imports) over the DB-backed job table in `storage::jobs`:
//! this process's identity and cancel flags, the per-job heartbeat, and the reaper that
//! times out abandoned imports and fails jobs whose server died.
//!
//! A job runs on the instance that started it (an import's uploads are on that instance's
//! disk). Several instances may share one database: every state change is a conditional
//! update, imports of one tenant are serialised by a row lock on the tenant (see
//! `backup::import::apply::serialise`), and an instance fails only the jobs of instances whose heartbeat
//! stopped — never its own live ones.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_spec::ErrorCode;
use api_spec::events::{BACKUP_EXPORT_COMPLETED, BACKUP_IMPORT_COMPLETED, BackupJobEvent};
use api_spec::permissions::{EXPORT_BACKUP, IMPORT_BACKUP};
use entity::job;
use sea_orm::DatabaseBackend;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::TenantScope;
use crate::error::Result;
use crate::events::Audience;
use crate::storage::jobs::{self, JobKind, JobState};
use crate::time::now_ms;

/// A future a [`Kind`] returns.
pub type Pending<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What the job machinery needs from each kind of job. The kinds live with their work (the
/// backup jobs in `backup`); the server registers them at start-up
/// ([`JobControl::register`]), so this module depends on none of them.
pub trait Kind: Send + Sync {
    fn kind(&self) -> JobKind;
    /// Removes everything a job of this kind that did not complete left behind.
    fn discard<'a>(&'a self, state: &'a AppState, job: &'a job::Model) -> Pending<'a, ()>;
    /// Removes what ended jobs of this kind left (the reaper's sweep); how much it removed.
    fn sweep<'a>(&'a self, state: &'a AppState) -> Pending<'a, Result<usize>>;
}

/// This process's jobs: its instance id (the `worker_id` of every job it runs), the kinds it
/// knows, and a cancel flag per live job.
pub struct JobControl {
    instance: String,
    kinds: std::sync::OnceLock<Vec<Arc<dyn Kind>>>,
    flags: Mutex<HashMap<Uuid, Arc<AtomicBool>>>,
}

impl Default for JobControl {
    fn default() -> Self {
        Self {
            instance: format!("{}-{}", std::process::id(), Uuid::new_v4().simple()),
            kinds: std::sync::OnceLock::new(),
            flags: Mutex::new(HashMap::new()),
        }
    }
}

impl JobControl {
    /// Makes `kinds` known (once, at start-up).
    pub fn register(&self, kinds: Vec<Arc<dyn Kind>>) {
        let _ = self.kinds.set(kinds);
    }

    /// The kinds registered.
    pub fn kinds(&self) -> &[Arc<dyn Kind>] {
        self.kinds.get().map_or(&[], Vec::as_slice)
    }

    /// The `worker_id` this process writes on the jobs it runs.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The cancel flag of a job this process runs (created on first use).
    pub fn flag(&self, job: Uuid) -> Arc<AtomicBool> {
        let mut flags = self.flags.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(flags.entry(job).or_default())
    }

    /// Asks a job of this process to stop; false if it does not run here.
    pub fn cancel(&self, job: Uuid) -> bool {
        let flags = self.flags.lock().unwrap_or_else(|p| p.into_inner());
        flags
            .get(&job)
            .map(|f| f.store(true, Ordering::SeqCst))
            .is_some()
    }

    /// Whether a job runs in this process (its task registered it and has not ended).
    pub fn runs(&self, job: Uuid) -> bool {
        let flags = self.flags.lock().unwrap_or_else(|p| p.into_inner());
        flags.contains_key(&job)
    }

    /// Forgets a finished job.
    pub fn release(&self, job: Uuid) {
        let mut flags = self.flags.lock().unwrap_or_else(|p| p.into_inner());
        flags.remove(&job);
    }
}

/// Keeps a job's heartbeat while it is alive, and raises its cancel flag when its row leaves
/// the live states (a cancel or the reaper, possibly on another instance). Dropped with the
/// job.
pub struct Heartbeat(tokio::task::JoinHandle<()>);

impl Heartbeat {
    pub fn start(state: &Arc<AppState>, scope: TenantScope, job: Uuid) -> Self {
        let state = Arc::clone(state);
        let flag = state.jobs.flag(job);
        let every = Duration::from_secs(state.config.job_heartbeat_secs.max(1));
        Self(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                // A write may wait behind another writer on SQLite; a missed beat is
                // harmless there (one instance per SQLite database).
                let _ = jobs::heartbeat(&scope, &state.db, job).await;
                match jobs::find(&scope, &state.db, job).await {
                    Ok(Some(row)) if !jobs::state_of(&row).is_final() => {}
                    Ok(_) => flag.store(true, Ordering::SeqCst),
                    Err(_) => {}
                }
            }
        }))
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The event payload for a job in `status`.
pub fn event(job: &job::Model, status: JobState, error: Option<ErrorCode>) -> BackupJobEvent {
    BackupJobEvent {
        backup_task_id: job.id.to_string(),
        backup_id: None,
        status,
        progress_percent: if status == JobState::Completed {
            100
        } else {
            job.progress_percent
        },
        bytes_done: job.bytes_done.max(0) as u64,
        bytes_total: job.bytes_total.max(0) as u64,
        error: error.map(code_str),
    }
}

/// The wire name of a code.
pub fn code_str(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Announces that a job ended, to the tenant's listeners who hold the job kind's permission.
pub fn announce_end(state: &AppState, job: &job::Model, event: &BackupJobEvent) {
    let (name, permission) = if jobs::kind_of(job) == Some(JobKind::Import) {
        (BACKUP_IMPORT_COMPLETED, IMPORT_BACKUP)
    } else {
        (BACKUP_EXPORT_COMPLETED, EXPORT_BACKUP)
    };
    state
        .events
        .publish(job.tenant_id, Audience::Permission(permission), name, event);
}

/// Ends a job that is in one of `from` as `to` (with `error`: code and message), removes
/// what it left behind and announces it; false if it was no longer in `from` (someone else
/// ended it, and announced it, first).
pub async fn end(
    state: &AppState,
    job: &job::Model,
    from: &[JobState],
    to: JobState,
    error: Option<(ErrorCode, String)>,
) -> Result<bool> {
    let scope = TenantScope::system(job.tenant_id);
    let code = error.as_ref().map(|(c, m)| (code_str(*c), m.as_str()));
    let recorded = code.as_ref().map(|(c, m)| (c.as_str(), *m));
    if !jobs::transition(&scope, &state.db, job.id, from, to, recorded).await? {
        return Ok(false);
    }
    // The job's own task (if it runs here) notices the state change and cleans up after
    // itself; for a job nothing runs for, it happens here.
    if !state.jobs.cancel(job.id) {
        discard(state, job).await;
    }
    announce_end(state, job, &event(job, to, error.map(|(code, _)| code)));
    Ok(true)
}

/// [`end`], retried for a while when the database refuses (a busy SQLite, a dropped
/// connection), so a job never stays live because one write failed.
pub async fn end_persistently(
    state: &AppState,
    job: &job::Model,
    from: &[JobState],
    to: JobState,
    error: Option<(ErrorCode, String)>,
) -> bool {
    let mut delay = Duration::from_millis(200);
    for _ in 0..10 {
        match end(state, job, from, to, error.clone()).await {
            Ok(ended) => return ended,
            Err(e) => tracing::warn!(job = %job.id, error = %e, "could not end a job; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(10));
    }
    tracing::error!(job = %job.id, "could not end a job; the reaper will");
    false
}

/// Removes everything a job that did not complete left behind (as its kind says).
pub async fn discard(state: &AppState, job: &job::Model) {
    let kind = jobs::kind_of(job);
    for k in state.jobs.kinds() {
        if Some(k.kind()) == kind {
            k.discard(state, job).await;
        }
    }
}

/// One reaper pass: pending imports past their deadline time out (their uploads expire and
/// their bytes are removed); jobs whose server died fail with `job_interrupted` — another
/// instance's once its heartbeat is older than `job_stale_secs`, and this instance's own
/// when no task of it runs them any more. `at_start`: this process just started, so on
/// SQLite (one process per database) every live job not its own is orphaned at once.
pub async fn reap(state: &AppState, at_start: bool) -> Result<usize> {
    let mut ended = 0;
    for job in jobs::past_deadline(&state.db, now_ms()).await? {
        let scope = TenantScope::system(job.tenant_id);
        crate::storage::tasks::expire_for_job(&scope, &state.db, job.id).await?;
        if end(state, &job, &[JobState::Pending], JobState::Timeout, None).await? {
            ended += 1;
        }
    }
    let single_process = state.db.get_database_backend() == DatabaseBackend::Sqlite;
    let stale = now_ms() - (state.config.job_stale_secs as i64) * 1000;
    let cutoff = if at_start && single_process {
        i64::MAX
    } else {
        stale
    };
    let instance = state.jobs.instance();
    let mut dead = jobs::silent(&state.db, instance, false, cutoff).await?;
    dead.extend(
        jobs::silent(&state.db, instance, true, stale)
            .await?
            .into_iter()
            .filter(|j| !state.jobs.runs(j.id)),
    );
    let code = ErrorCode::JobInterrupted;
    for job in dead {
        let error = Some((code, code.message().to_owned()));
        let live = [JobState::Queued, JobState::Running];
        if end(state, &job, &live, JobState::Failed, error).await? {
            tracing::warn!(job = %job.id, kind = %job.kind, "job of a stopped server failed");
            ended += 1;
        }
    }
    // After the dead jobs ended, so that what they left goes in the same pass.
    let mut swept = 0;
    for kind in state.jobs.kinds() {
        swept += kind.sweep(state).await?;
    }
    if swept > 0 {
        tracing::info!(leftovers = swept, "removed leftovers of ended imports");
    }
    Ok(ended)
}

/// Runs the reaper every `job_reap_secs` until the server stops.
pub async fn reaper(state: Arc<AppState>) {
    let mut every = tokio::time::interval(Duration::from_secs(state.config.job_reap_secs.max(1)));
    loop {
        every.tick().await;
        match reap(&state, false).await {
            Ok(n) if n > 0 => tracing::info!(jobs = n, "reaper ended jobs"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "job reaper failed"),
        }
    }
}
