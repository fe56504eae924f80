//! The reaper: pending imports past their deadline time out; the jobs of an instance that
//! stopped are run again or failed (the rule in the module docs of `jobs`); what ended jobs
//! left is swept.
use std::sync::Arc;
use std::time::Duration;

use api_spec::ErrorCode;
use entity::job;
use sea_orm::DatabaseBackend;

use super::{Leftovers, end, time_out};
use crate::app::AppState;
use crate::error::Result;
use crate::storage::jobs::{self, Claim, JobState, KeySource};
use crate::time::now_ms;

/// How many times a job is claimed at most: a job whose instance stopped this often fails
/// with `job_interrupted` rather than take down another.
pub const MAX_ATTEMPTS: i32 = 3;

/// One reaper pass: pending imports past their deadline time out (their uploads expire and
/// their bytes are removed); jobs whose server stopped — another instance's once its
/// heartbeat is older than `job_stale_secs`, this instance's own when no run of it goes on —
/// are run again or fail with `job_interrupted`. `at_start`: this process just started, so
/// on SQLite (one process per database) every live job not its own is orphaned at once.
/// Returns how many jobs it ended or requeued.
pub async fn reap(state: &AppState, at_start: bool) -> Result<usize> {
    let mut ended = 0;
    for job in jobs::past_deadline(&state.db, now_ms()).await? {
        if time_out(state, &job).await? {
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
            .filter(|j| !state.jobs.runs(j.id) && !state.jobs.holds(j.id)),
    );
    for job in dead {
        if orphaned(state, &job).await? {
            ended += 1;
        }
    }
    if ended > 0 {
        state.jobs.wake();
    }
    // After the dead jobs ended, so that what they left goes in the same pass.
    let mut swept = 0;
    for kind in state.jobs.kinds() {
        swept += kind.sweep(state).await?;
    }
    if swept > 0 {
        tracing::info!(leftovers = swept, "removed leftovers of ended jobs");
    }
    Ok(ended)
}

/// Hands this instance's jobs off as it stops on purpose (a signal), so that nobody waits
/// `job_stale_secs` for them: it claims nothing more; its runs are told to stop and given up
/// to `wait` to do so; then each job it held is dealt with as the reaper deals with a
/// stopped instance's — run again by any instance when its key is in its key file (the
/// attempt this stop cut short is not counted against it), failed with `job_interrupted`
/// when only this instance's memory held its key. Returns how many jobs it moved.
pub async fn hand_off(state: &AppState, wait: Duration) -> Result<usize> {
    state.jobs.stop_claiming();
    for claim in state.jobs.claims() {
        state.jobs.cancel(claim.id);
    }
    let until = std::time::Instant::now() + wait;
    while state.jobs.running() > 0 && std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let instance = state.jobs.instance().to_owned();
    let mut moved = 0;
    for job in jobs::silent(&state.db, &instance, true, i64::MAX).await? {
        if state.jobs.runs(job.id) {
            // Still going after `wait`: left to the rule for a stopped instance.
            continue;
        }
        // Keys held for jobs reserved here go with this process.
        state.jobs.drop_held(job.id);
        if orphaned_by(state, &job, true).await? {
            moved += 1;
        }
    }
    if moved > 0 {
        state.jobs.queued(state);
    }
    Ok(moved)
}

/// Deals with a live job whose instance stopped: a job any instance can run that has
/// attempts left is taken over, reset and queued again; any other fails with
/// `job_interrupted`. True if this pass moved it.
async fn orphaned(state: &AppState, job: &job::Model) -> Result<bool> {
    orphaned_by(state, job, false).await
}

/// [`orphaned`]; `refund`: the attempt that was cut short does not count (the instance
/// stopped on purpose, not because the job took it down).
async fn orphaned_by(state: &AppState, job: &job::Model, refund: bool) -> Result<bool> {
    let anyones = jobs::params_of(job).is_some_and(|p| p.key() == KeySource::KeyFile);
    let status = job.status;
    let instance = state.jobs.instance();
    if anyones && status == JobState::Running && job.attempts < MAX_ATTEMPTS {
        // Taken over first, and tracked while it is reset (this instance beats for it), so
        // that no other reaper resets it while a new run goes on.
        if !jobs::take_over(&state.db, job, instance).await? {
            return Ok(false);
        }
        let ours = job::Model {
            worker_id: Some(instance.to_owned()),
            ..job.clone()
        };
        state.jobs.track(&ours);
        if let Some(kind) = state.jobs.kind_of(job) {
            kind.reset(state, job).await;
        }
        let requeued = jobs::requeue(&state.db, job.id, instance, refund).await;
        state.jobs.release(&Claim::of(&ours));
        if requeued? {
            tracing::warn!(job = %job.id, kind = %job.kind, attempts = job.attempts,
                "job of a stopped server queued again");
            return Ok(true);
        }
        return Ok(false);
    }
    let code = ErrorCode::JobInterrupted;
    let error = Some((code, code.message().to_owned()));
    let live = [JobState::Queued, JobState::Running];
    // Nothing runs it any more: what it left goes now.
    if end(state, job, &live, JobState::Failed, error, Leftovers::Here).await? {
        tracing::warn!(job = %job.id, kind = %job.kind, "job of a stopped server failed");
        return Ok(true);
    }
    Ok(false)
}

/// Runs the reaper every `job_reap_secs` until the server stops.
pub async fn reaper(state: Arc<AppState>) {
    let mut every = tokio::time::interval(Duration::from_secs(state.config.job_reap_secs.max(1)));
    loop {
        every.tick().await;
        match reap(&state, false).await {
            Ok(n) if n > 0 => tracing::info!(jobs = n, "reaper ended or requeued jobs"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "job reaper failed"),
        }
    }
}
