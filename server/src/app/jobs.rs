//! This process's side of the job queue (`crate::jobs`): the kinds of job it knows, the runs
//! it has going, the secrets it holds for jobs reserved for it, and the runner's wake-up call.
//! The kinds live with their work (`crate::backup`); the server registers them at start-up.
use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use entity::job;
use uuid::Uuid;

use super::AppState;
use crate::error::Result;
use crate::storage::TenantScope;
use crate::storage::jobs::{Claim, JobKind};

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

/// What a tenant's policy makes of a backup job's outcome (`crate::lifecycle` implements it;
/// the server registers it at start-up): the jobs call it, and never import the lifecycle.
pub trait Lifecycle: Send + Sync {
    /// Backup `backup` (made for `owner`) completed: verify it first, or apply retention.
    fn completed<'a>(
        &'a self,
        state: &'a AppState,
        scope: &'a TenantScope,
        owner: Uuid,
        backup: Uuid,
    ) -> Pending<'a, ()>;
    /// A backup verified after it was made is good now: retention counts it.
    fn verified_after_backup<'a>(
        &'a self,
        state: &'a AppState,
        scope: &'a TenantScope,
    ) -> Pending<'a, ()>;
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
    lifecycle: std::sync::OnceLock<Arc<dyn Lifecycle>>,
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
            lifecycle: std::sync::OnceLock::new(),
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

    /// Makes the lifecycle known (once, at start-up).
    pub fn register_lifecycle(&self, lifecycle: Arc<dyn Lifecycle>) {
        let _ = self.lifecycle.set(lifecycle);
    }

    /// Tells the lifecycle that backup `backup` completed (nothing without one).
    pub async fn backup_completed(
        &self,
        state: &AppState,
        scope: &TenantScope,
        owner: Uuid,
        backup: Uuid,
    ) {
        if let Some(lifecycle) = self.lifecycle.get() {
            lifecycle.completed(state, scope, owner, backup).await;
        }
    }

    /// Tells the lifecycle that a backup verified after it was made is good.
    pub async fn backup_verified(&self, state: &AppState, scope: &TenantScope) {
        if let Some(lifecycle) = self.lifecycle.get() {
            lifecycle.verified_after_backup(state, scope).await;
        }
    }

    /// The kinds registered.
    pub fn kinds(&self) -> &[Arc<dyn Kind>] {
        self.kinds.get().map_or(&[], Vec::as_slice)
    }

    /// The registered kind of a job row.
    pub fn kind_of(&self, job: &job::Model) -> Option<&Arc<dyn Kind>> {
        self.kinds().iter().find(|k| k.kind() == job.kind)
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

    pub(crate) fn held_jobs(&self) -> Vec<Uuid> {
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

    /// Whether this instance is handing its jobs off to stop ([`hand_off`](crate::jobs::hand_off)).
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Claims nothing more: the instance is handing its jobs off to stop.
    pub fn stop_claiming(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Wakes this instance's runner.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.wake.notified().await
    }

    /// How many runs this instance has started (each claim is one).
    pub fn runs_started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }

    /// Registers a run of a claimed job (one more run started), with a fresh cancel flag.
    pub(crate) fn start_run(&self, job: &job::Model) -> Arc<AtomicBool> {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.track(job)
    }

    /// Registers a job this process works on (a run, or the reaper's reset of it), so that
    /// the runner beats for it and this instance's reaper leaves it alone. An earlier run
    /// of the same job here (one that lost it) is told to stop.
    pub(crate) fn track(&self, job: &job::Model) -> Arc<AtomicBool> {
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
    pub(crate) fn holds_any(&self) -> bool {
        !lock(&self.runs).is_empty() || !lock(&self.held).is_empty()
    }

    /// How many runs go on in this process.
    pub(crate) fn running(&self) -> usize {
        lock(&self.runs).len()
    }

    /// The claims of the runs in this process.
    pub(crate) fn claims(&self) -> Vec<Claim> {
        lock(&self.runs).values().map(|r| r.claim.clone()).collect()
    }

    /// Forgets a run that is over (not a later run of the same job).
    pub(crate) fn release(&self, claim: &Claim) {
        let mut runs = lock(&self.runs);
        if runs.get(&claim.id).is_some_and(|r| r.claim == *claim) {
            runs.remove(&claim.id);
        }
        drop(runs);
        self.drop_held(claim.id);
    }
}
