//! Background jobs (exports and imports) over the job table in `storage::jobs`, which is
//! their queue: an action enqueues a job in its own transaction, and the runner of any
//! instance (`runner`) claims it, runs it through its [`Kind`](crate::app::jobs::Kind), keeps it alive, ends it,
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
//! ([`JobControl::register`](crate::app::jobs::JobControl::register)).
mod reaper;
mod runner;

pub use reaper::{MAX_ATTEMPTS, hand_off, reap, reaper};
pub use runner::runner;

use std::time::Duration;

use api_spec::ErrorCode;
use api_spec::events::{
    BACKUP_COPY_COMPLETED, BACKUP_EXPORT_COMPLETED, BACKUP_IMPORT_COMPLETED,
    BACKUP_VERIFY_COMPLETED, BackupJobEvent,
};
use api_spec::jobs::JobParams;
use api_spec::permissions::{EXPORT_BACKUP, IMPORT_BACKUP};
use entity::job;

use crate::app::AppState;
use crate::auth::TenantScope;
use crate::error::Result;
use crate::events::Audience;
use crate::storage::jobs::{self, JobKind, JobState};

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
        current_step: job.current_step,
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
    let (name, permission) = match job.kind {
        JobKind::Import => (BACKUP_IMPORT_COMPLETED, IMPORT_BACKUP),
        JobKind::Verify => (BACKUP_VERIFY_COMPLETED, EXPORT_BACKUP),
        JobKind::Export => (BACKUP_EXPORT_COMPLETED, EXPORT_BACKUP),
        JobKind::Copy => (BACKUP_COPY_COMPLETED, EXPORT_BACKUP),
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
