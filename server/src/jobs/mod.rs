//! Background jobs (exports and imports) over the DB-backed job table in `storage::jobs`:
//! this process's identity and cancel flags, the per-job heartbeat, and the reaper that
//! times out abandoned imports and fails jobs whose server died.
//!
//! A job runs on the instance that started it (an import's uploads are on that instance's
//! disk). Several instances may share one database: every state change is a conditional
//! update, imports of one tenant are serialised by a row lock on the tenant (see
//! `backup::import::queue`), and an instance fails only the jobs of instances whose heartbeat
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
use crate::storage::jobs;
use crate::time::now_ms;

/// This process's jobs: its instance id (the `worker_id` of every job it runs) and a cancel
/// flag per live job.
pub struct JobControl {
    instance: String,
    flags: Mutex<HashMap<Uuid, Arc<AtomicBool>>>,
}

impl Default for JobControl {
    fn default() -> Self {
        Self {
            instance: format!("{}-{}", std::process::id(), Uuid::new_v4().simple()),
            flags: Mutex::new(HashMap::new()),
        }
    }
}

impl JobControl {
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
                // A write may wait behind a long import transaction on SQLite; a missed beat
                // is harmless there (one instance per SQLite database).
                let _ = jobs::heartbeat(&scope, &state.db, job).await;
                match jobs::find(&scope, &state.db, job).await {
                    Ok(Some(row)) if jobs::LIVE.contains(&row.status.as_str()) => {}
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
pub fn event(job: &job::Model, status: &str, error: Option<ErrorCode>) -> BackupJobEvent {
    BackupJobEvent {
        backup_task_id: job.id.to_string(),
        backup_id: None,
        status: status.to_owned(),
        progress_percent: if status == jobs::COMPLETED {
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
    let (name, permission) = if job.kind == jobs::IMPORT {
        (BACKUP_IMPORT_COMPLETED, IMPORT_BACKUP)
    } else {
        (BACKUP_EXPORT_COMPLETED, EXPORT_BACKUP)
    };
    state
        .events
        .publish(job.tenant_id, Audience::Permission(permission), name, event);
}

/// Ends a live job as `to` (with `error`), removes what it left behind and announces it;
/// false if someone else ended it first.
pub async fn end(
    state: &AppState,
    job: &job::Model,
    to: &str,
    error: Option<(ErrorCode, String)>,
) -> Result<bool> {
    let scope = TenantScope::system(job.tenant_id);
    if !jobs::transition(&scope, &state.db, job.id, &jobs::LIVE, to, None).await? {
        return Ok(false);
    }
    if let Some((code, message)) = &error {
        jobs::record_error(&scope, &state.db, job.id, &code_str(*code), message).await?;
    }
    // The job's own task (if it runs here) notices the state change and stops; what it
    // staged is removed by it, and here for a job nothing runs for.
    if !state.jobs.cancel(job.id) {
        discard(state, job).await;
    }
    announce_end(state, job, &event(job, to, error.map(|(code, _)| code)));
    Ok(true)
}

/// Removes everything a job that did not complete left behind.
pub async fn discard(state: &AppState, job: &job::Model) {
    if job.kind == jobs::IMPORT {
        crate::backup::import::discard(state, job).await;
    } else {
        crate::backup::export::discard(state, job).await;
    }
}

/// One reaper pass: pending imports past their deadline time out (their uploads expire and
/// their bytes are removed); jobs of a dead server fail with `job_interrupted`. `at_start`:
/// this process just started, so on SQLite (one process per database) every job not its own
/// is orphaned at once.
pub async fn reap(state: &AppState, at_start: bool) -> Result<usize> {
    let mut ended = 0;
    for job in jobs::past_deadline(&state.db, now_ms()).await? {
        let scope = TenantScope::system(job.tenant_id);
        crate::storage::tasks::expire_for_job(&scope, &state.db, job.id).await?;
        if end(state, &job, jobs::TIMEOUT, None).await? {
            ended += 1;
        }
    }
    let single_process = state.db.get_database_backend() == DatabaseBackend::Sqlite;
    let cutoff = if at_start && single_process {
        i64::MAX
    } else {
        now_ms() - (state.config.job_stale_secs as i64) * 1000
    };
    for job in jobs::orphaned(&state.db, state.jobs.instance(), cutoff).await? {
        let code = ErrorCode::JobInterrupted;
        if end(
            state,
            &job,
            jobs::FAILED,
            Some((code, code.message().to_owned())),
        )
        .await?
        {
            tracing::warn!(job = %job.id, kind = %job.kind, "job of a stopped server failed");
            ended += 1;
        }
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
