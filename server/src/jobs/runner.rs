//! The runner: every instance claims queued jobs while it has a free worker
//! (`job_workers`), runs each through its kind, keeps the jobs it holds alive, raises the
//! cancel flag of a job that was ended elsewhere, and ends, announces and cleans up after
//! each run.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use api_spec::ErrorCode;
use entity::job;

use super::{announce_end, end_persistently, event};
use crate::app::AppState;
use crate::app::jobs::Kind;
use crate::auth::TenantScope;
use crate::error::{Error, Result};
use crate::storage::jobs::{self, Claim, JobState};

/// How often the runner looks for jobs without being woken (another instance's wake-up may
/// be lost with its bus connection; SQLite has no bus).
const POLL: Duration = Duration::from_secs(1);

/// Runs jobs until the server stops.
pub async fn runner(state: Arc<AppState>) {
    let beat_every = Duration::from_secs(state.config.job_heartbeat_secs.max(1));
    let mut last_beat: Option<Instant> = None;
    loop {
        if last_beat.is_none_or(|at| at.elapsed() >= beat_every) {
            keep_alive(&state).await;
            last_beat = Some(Instant::now());
        }
        claim_while_free(&state).await;
        tokio::select! {
            _ = state.jobs.woken() => {}
            _ = tokio::time::sleep(POLL.min(beat_every)) => {}
        }
    }
}

/// Beats for every job this instance holds, and raises the cancel flag of each it runs that
/// was ended elsewhere (a cancel, the reaper — possibly on another instance).
async fn keep_alive(state: &AppState) {
    if !state.jobs.holds_any() {
        return;
    }
    // A write may wait behind another writer on SQLite; a missed beat is harmless there
    // (one instance per SQLite database), and elsewhere the next one comes long before
    // `job_stale_secs`.
    if let Err(e) = jobs::beat(&state.db, state.jobs.instance()).await {
        tracing::debug!(error = %e, "job heartbeat deferred");
    }
    match jobs::lost(&state.db, &state.jobs.claims()).await {
        Ok(lost) => {
            for claim in lost {
                state.jobs.cancel(claim.id);
            }
        }
        Err(e) => tracing::debug!(error = %e, "could not check the jobs that run here"),
    }
    // A key held for a job that ended (cancelled or timed out elsewhere) goes.
    match jobs::ended(&state.db, &state.jobs.held_jobs()).await {
        Ok(ended) => {
            for id in ended {
                state.jobs.drop_held(id);
            }
        }
        Err(e) => tracing::debug!(error = %e, "could not check the jobs whose keys are held"),
    }
}

/// Claims and starts jobs while this instance has a free worker and the queue has a job it
/// may run. With `job_workers` = 0 it takes nothing from the shared queue, but still runs
/// (one at a time) the jobs only it can run.
async fn claim_while_free(state: &Arc<AppState>) {
    let kinds: Vec<_> = state.jobs.kinds().iter().map(|k| k.kind()).collect();
    let shared = state.config.job_workers > 0;
    while !state.jobs.stopping() && state.jobs.running() < state.config.job_workers.max(1) {
        match claim(state, &kinds, shared).await {
            Ok(Some(job)) => start(state, job),
            Ok(None) => return,
            Err(e) => {
                // A busy database, or another instance's claim of the same tenant's import
                // that won (the unique index): the next round tries again.
                tracing::debug!(error = %e, "job claim deferred");
                return;
            }
        }
    }
}

async fn claim(
    state: &AppState,
    kinds: &[jobs::JobKind],
    shared: bool,
) -> Result<Option<job::Model>> {
    // Asked first with a read, so an idle runner never takes SQLite's write lock.
    // Time-driven (a job waiting to try again), so the state's clock.
    let now = state.clock.now_ms();
    if !jobs::any_claimable(&state.db, state.jobs.instance(), kinds, shared, now).await? {
        return Ok(None);
    }
    let (_turn, txn) = state.begin_write().await?;
    let job = jobs::claim_next(&txn, state.jobs.instance(), kinds, shared, now).await?;
    txn.commit().await?;
    Ok(job)
}

fn start(state: &Arc<AppState>, job: job::Model) {
    let cancel = state.jobs.start_run(&job);
    let state = Arc::clone(state);
    tokio::spawn(async move {
        tracing::info!(job = %job.id, kind = %job.kind, attempt = job.attempts, "job claimed");
        execute(&state, &job, &cancel).await;
        state.jobs.release(&Claim::of(&job));
        // A worker is free: there may be more to claim.
        state.jobs.wake();
    });
}

/// Removes what a run that failed or was stopped left — if the job has ended. A job that is
/// live again is another run's now (the reaper reset what this one left before it queued
/// the job again): nothing of it is touched.
async fn discard_if_ended(state: &AppState, kind: &dyn Kind, job: &job::Model) {
    let scope = TenantScope::system(job.tenant_id);
    match jobs::find(&scope, &state.db, job.id).await {
        Ok(Some(row)) if !row.status.is_final() => {
            tracing::info!(job = %job.id, "a run that lost its job stopped");
        }
        Ok(_) => kind.discard(state, job).await,
        // Unknown: the reaper's sweep removes what an ended job left.
        Err(e) => tracing::warn!(job = %job.id, error = %e, "could not read a stopped job"),
    }
}

/// Runs a claimed job to its end. Every path ends the job and announces it exactly once:
/// here, or — when a cancel or the reaper ended it first — there.
async fn execute(state: &Arc<AppState>, job: &job::Model, cancel: &Arc<AtomicBool>) {
    let Some(kind) = state.jobs.kind_of(job).cloned() else {
        let error = Some((ErrorCode::Internal, "a job of an unknown kind".to_owned()));
        end_persistently(state, job, &[JobState::Running], JobState::Failed, error).await;
        return;
    };
    let outcome = run(kind.as_ref(), state, job, cancel).await;
    match outcome {
        Ok(()) => {
            // The completed row carries the final progress; announce that.
            let scope = TenantScope::system(job.tenant_id);
            let done = jobs::find(&scope, &state.db, job.id)
                .await
                .ok()
                .flatten()
                .unwrap_or_else(|| job.clone());
            announce_end(state, job, &event(&done, JobState::Completed, None));
        }
        Err(_) if cancel.load(Ordering::SeqCst) => {
            // Ended elsewhere, and announced there — or taken by another run.
            discard_if_ended(state, kind.as_ref(), job).await;
        }
        Err(Error::RetryAt { at, cause }) => {
            // Not a failure: something the job needs did not answer. Queued again, to be
            // claimed (here or anywhere) from `at`; nothing is announced.
            state.jobs.release(&Claim::of(job));
            tracing::warn!(job = %job.id, kind = %job.kind, %cause, retry_at = at, "a job will try again");
            let requeued = jobs::requeue_after(&state.db, job.id, state.jobs.instance(), at).await;
            if !matches!(requeued, Ok(true)) {
                discard_if_ended(state, kind.as_ref(), job).await;
            }
        }
        Err(_) if stopping().await => {
            // The failure is the process stopping under the run (its blocking work was
            // cancelled): the job is left to the rule for a stopped instance's jobs.
            tracing::info!(job = %job.id, "a run stopped with its server");
        }
        Err(e) => {
            // Released first, so that ending it removes what it left.
            state.jobs.release(&Claim::of(job));
            let data = e.to_reply_data();
            let message = match (&data.id, &data.backup_id, &data.log_id) {
                (Some(id), _, _) => format!("{} ({id})", data.error.message()),
                (None, Some(id), _) => format!("{} (backup {id})", data.error.message()),
                (None, None, Some(log)) => format!("{} (log id {log})", data.error.message()),
                (None, None, None) => data.error.message().to_owned(),
            };
            let error = Some((data.error, message));
            let running = [JobState::Running];
            if !end_persistently(state, job, &running, JobState::Failed, error).await {
                // Someone ended it first (and may have left its leftovers to this run).
                discard_if_ended(state, kind.as_ref(), job).await;
            }
        }
    }
}

/// Whether this process's runtime is shutting down: it runs no more blocking work.
async fn stopping() -> bool {
    tokio::task::spawn_blocking(|| ()).await.is_err()
}

/// The kind's run, with a panic turned into a failure (it must not take the runner along).
async fn run(
    kind: &dyn Kind,
    state: &Arc<AppState>,
    job: &job::Model,
    cancel: &Arc<AtomicBool>,
) -> Result<()> {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(kind.run(state, job, cancel))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Err(Error::Internal("a job panicked".into())))
}
