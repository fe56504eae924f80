//! Background jobs (exports and imports) over the job table in `storage::jobs`, which is
//! their queue: an action enqueues a job in its own transaction, and the runner of any
//! instance (`runner`) claims it, runs it through its [`Kind`], keeps it alive, ends it,
//! announces it and cleans up after it. The reaper (`reaper`) times out abandoned imports
//! and deals with the jobs of instances that stopped.
//!
//! Where a job's backup key is decides where it may run (`api_spec::jobs::KeySource`): a job
//! whose key is in a key file it keeps runs on any instance, and runs again (up to
//! [`MAX_ATTEMPTS`] claims) when the instance running it stops — imports are atomic and
//! exports write to a temporary name, so a run cut short leaves nothing a re-run trips on. A
//! job whose key was unwrapped by a passphrase the server never stores is reserved for the
//! instance that holds the key in memory; if that instance stops, the job fails with
//! `job_interrupted`.
//!
//! This module depends on no kind of job: the kinds register at start-up
//! ([`JobControl::register`]).
mod reaper;
mod runner;

pub use reaper::{MAX_ATTEMPTS, hand_off, reap, reaper};
pub use runner::runner;

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_spec::ErrorCode;
use api_spec::events::{
    BACKUP_EXPORT_COMPLETED, BACKUP_IMPORT_COMPLETED, BACKUP_VERIFY_COMPLETED, BackupJobEvent,
};
use api_spec::jobs::{JobParams, JobStep};
use api_spec::permissions::{EXPORT_BACKUP, IMPORT_BACKUP};
use entity::job;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::TenantScope;
use crate::error::Result;
use crate::events::Audience;
use crate::storage::jobs::{self, Claim, JobKind, JobState};

/// A future a [`Kind`] returns.
pub type Pending<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// What the runner needs from each kind of job. The kinds live with their work (the backup
/// jobs in `backup`); the server registers them at start-up.
pub trait Kind: Send + Sync {
    fn kind(&self) -> JobKind;
    /// Does the job's work, which ends by completing the job (`storage::jobs::complete`,
    /// in the transaction that commits the work) — or fails, and the runner ends it. Stops
    /// soon after `cancel` is raised (the job was ended elsewhere).
    fn run<'a>(
        &'a self,
        state: &'a Arc<AppState>,
        job: &'a job::Model,
        cancel: &'a Arc<AtomicBool>,
    ) -> Pending<'a, Result<()>>;
    /// Undoes what a run cut short did, keeping what the job needs to run again.
    fn reset<'a>(&'a self, state: &'a AppState, job: &'a job::Model) -> Pending<'a, ()>;
    /// Removes everything a job of this kind that did not complete left behind.
    fn discard<'a>(&'a self, state: &'a AppState, job: &'a job::Model) -> Pending<'a, ()>;
    /// Removes what ended jobs of this kind left (the reaper's sweep); how much it removed.
    fn sweep<'a>(&'a self, state: &'a AppState) -> Pending<'a, Result<usize>>;
}

/// A job's secret that only this instance holds (a key a passphrase unwrapped).
type Held = Box<dyn Any + Send>;

/// A run of a job in this process: its claim, and its cancel flag (raised when the run is
/// over: the job ended, or another run took it).
struct Run {
    claim: Claim,
    cancel: Arc<AtomicBool>,
}

/// This process's jobs: its instance id (the `worker_id` of every job it runs), the kinds it
/// knows, the runs it has going, the keys it holds for jobs reserved for it, and the
/// runner's wake-up call.
pub struct JobControl {
    instance: String,
    kinds: std::sync::OnceLock<Vec<Arc<dyn Kind>>>,
    runs: Mutex<HashMap<Uuid, Run>>,
    held: Mutex<HashMap<Uuid, Held>>,
    wake: tokio::sync::Notify,
    started: AtomicU64,
    /// Set when the instance hands its jobs off to stop: it claims nothing more.
    stopping: AtomicBool,
}

impl Default for JobControl {
    fn default() -> Self {
        Self {
            instance: format!("{}-{}", std::process::id(), Uuid::new_v4().simple()),
            kinds: std::sync::OnceLock::new(),
            runs: Mutex::new(HashMap::new()),
            held: Mutex::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
            started: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
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

    /// The registered kind of a job row.
    pub fn kind_of(&self, job: &job::Model) -> Option<&Arc<dyn Kind>> {
        let kind = jobs::kind_of(job)?;
        self.kinds().iter().find(|k| k.kind() == kind)
    }

    /// The `worker_id` this process writes on the jobs it runs.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Keeps a job's secret until the job runs here ([`JobControl::take_held`]); enqueue
    /// the job reserved for this instance. False (and nothing kept) if a secret is held for
    /// the job already (another start of it is under way).
    pub fn hold<T: Any + Send>(&self, job: Uuid, secret: T) -> bool {
        match lock(&self.held).entry(job) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(Box::new(secret));
                true
            }
        }
    }

    /// Whether a secret is held for the job.
    pub fn holds(&self, job: Uuid) -> bool {
        lock(&self.held).contains_key(&job)
    }

    fn held_jobs(&self) -> Vec<Uuid> {
        lock(&self.held).keys().copied().collect()
    }

    /// The secret held for a job, once.
    pub fn take_held<T: Any + Send>(&self, job: Uuid) -> Option<T> {
        let held = lock(&self.held).remove(&job)?;
        held.downcast::<T>().ok().map(|b| *b)
    }

    /// Forgets a job's secret (the job ended before it ran).
    pub fn drop_held(&self, job: Uuid) {
        lock(&self.held).remove(&job);
    }

    /// Wakes this instance's runner and, on PostgreSQL, every other instance's: a job was
    /// queued. Call after the transaction that queued it commits.
    pub fn queued(&self, state: &AppState) {
        self.wake.notify_one();
        state.events.jobs_queued();
    }

    /// Whether this instance is handing its jobs off to stop ([`hand_off`]).
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Wakes this instance's runner.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    async fn woken(&self) {
        self.wake.notified().await
    }

    /// How many runs this instance has started (each claim is one).
    pub fn runs_started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }

    /// Registers a run of a claimed job (one more run started), with a fresh cancel flag.
    fn start_run(&self, job: &job::Model) -> Arc<AtomicBool> {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.track(job)
    }

    /// Registers a job this process works on (a run, or the reaper's reset of it), so that
    /// the runner beats for it and this instance's reaper leaves it alone. An earlier run
    /// of the same job here (one that lost it) is told to stop.
    fn track(&self, job: &job::Model) -> Arc<AtomicBool> {
        let cancel = Arc::new(AtomicBool::new(false));
        let run = Run {
            claim: Claim::of(job),
            cancel: Arc::clone(&cancel),
        };
        if let Some(old) = lock(&self.runs).insert(job.id, run) {
            old.cancel.store(true, Ordering::SeqCst);
        }
        cancel
    }

    /// Asks the run of a job here to stop; false if none runs here.
    pub fn cancel(&self, job: Uuid) -> bool {
        lock(&self.runs)
            .get(&job)
            .map(|r| r.cancel.store(true, Ordering::SeqCst))
            .is_some()
    }

    /// Whether a job runs in this process.
    pub fn runs(&self, job: Uuid) -> bool {
        lock(&self.runs).contains_key(&job)
    }

    /// Whether this process runs a job or holds a key for one.
    fn holds_any(&self) -> bool {
        !lock(&self.runs).is_empty() || !lock(&self.held).is_empty()
    }

    /// How many runs go on in this process.
    fn running(&self) -> usize {
        lock(&self.runs).len()
    }

    /// The claims of the runs in this process.
    fn claims(&self) -> Vec<Claim> {
        lock(&self.runs).values().map(|r| r.claim.clone()).collect()
    }

    /// Forgets a run that is over (not a later run of the same job).
    fn release(&self, claim: &Claim) {
        let mut runs = lock(&self.runs);
        if runs.get(&claim.id).is_some_and(|r| r.claim == *claim) {
            runs.remove(&claim.id);
        }
        drop(runs);
        self.drop_held(claim.id);
    }
}

/// The event payload for a job in `status`.
pub fn event(job: &job::Model, status: JobState, error: Option<ErrorCode>) -> BackupJobEvent {
    let backup_id = match jobs::params_of(job) {
        Some(JobParams::Export(p)) => Some(p.backup_id),
        Some(JobParams::Verify(p)) => Some(p.backup_id),
        _ => None,
    };
    BackupJobEvent {
        backup_task_id: job.id.to_string(),
        backup_id,
        status,
        progress_percent: if status == JobState::Completed {
            100
        } else {
            job.progress_percent
        },
        bytes_done: job.bytes_done.max(0) as u64,
        bytes_total: job.bytes_total.max(0) as u64,
        current_step: job.current_step.as_deref().and_then(JobStep::parse),
        counts: job.counts.clone(),
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
    let (name, permission) = match jobs::kind_of(job) {
        Some(JobKind::Import) => (BACKUP_IMPORT_COMPLETED, IMPORT_BACKUP),
        Some(JobKind::Verify) => (BACKUP_VERIFY_COMPLETED, EXPORT_BACKUP),
        _ => (BACKUP_EXPORT_COMPLETED, EXPORT_BACKUP),
    };
    state
        .events
        .publish(job.tenant_id, Audience::Permission(permission), name, event);
}

/// Who removes what a job that ends left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leftovers {
    /// The caller, now: nothing runs the job (it never ran, its run is over, or its
    /// instance stopped).
    Here,
    /// As the state the job leaves says: the caller, unless the job was running — then its
    /// runner, on this instance or another, which notices that the job ended and stops (or,
    /// if that runner's instance stopped, the reaper's sweep).
    ByState,
}

/// Ends a job that is in one of `from` as `to` (with `error`: code and message), has what it
/// left removed as `leftovers` says, and announces it; false if it was no longer in `from`
/// (someone else ended it, and announced it, first).
pub async fn end(
    state: &AppState,
    job: &job::Model,
    from: &[JobState],
    to: JobState,
    error: Option<(ErrorCode, String)>,
    leftovers: Leftovers,
) -> Result<bool> {
    let scope = TenantScope::system(job.tenant_id);
    let code = error.as_ref().map(|(c, m)| (code_str(*c), m.as_str()));
    let recorded = code.as_ref().map(|(c, m)| (c.as_str(), *m));
    let (db, id) = (&state.db, job.id);
    let mut here = true;
    let moved = if leftovers == Leftovers::ByState && from.contains(&JobState::Running) {
        // The state it leaves decides, not the one read before: a claim may have come
        // between.
        let idle: Vec<JobState> = from
            .iter()
            .copied()
            .filter(|s| *s != JobState::Running)
            .collect();
        if !idle.is_empty() && jobs::transition(&scope, db, id, &idle, to, recorded).await? {
            true
        } else {
            here = false;
            jobs::transition(&scope, db, id, &[JobState::Running], to, recorded).await?
        }
    } else {
        jobs::transition(&scope, db, id, from, to, recorded).await?
    };
    if !moved {
        return Ok(false);
    }
    state.jobs.drop_held(id);
    // Its run here (if any) stops at once rather than at the next beat, and cleans up.
    let runs_here = state.jobs.cancel(id);
    if here && !runs_here {
        discard(state, job).await;
    }
    announce_end(state, job, &event(job, to, error.map(|(code, _)| code)));
    Ok(true)
}

/// Times out a pending job past its deadline: its upload tasks expire (no upload completes
/// for it any more) and it ends as `timeout`; false if it was no longer pending.
pub async fn time_out(state: &AppState, job: &job::Model) -> Result<bool> {
    let scope = TenantScope::system(job.tenant_id);
    crate::storage::tasks::expire_for_job(&scope, &state.db, job.id).await?;
    let pending = [JobState::Pending];
    end(
        state,
        job,
        &pending,
        JobState::Timeout,
        None,
        Leftovers::Here,
    )
    .await
}

/// [`end`] of a job nothing runs any more, retried for a while when the database refuses (a
/// busy SQLite, a dropped connection), so a job never stays live because one write failed.
pub async fn end_persistently(
    state: &AppState,
    job: &job::Model,
    from: &[JobState],
    to: JobState,
    error: Option<(ErrorCode, String)>,
) -> bool {
    let mut delay = Duration::from_millis(200);
    for _ in 0..10 {
        match end(state, job, from, to, error.clone(), Leftovers::Here).await {
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
    if let Some(kind) = state.jobs.kind_of(job) {
        kind.discard(state, job).await;
    }
}
