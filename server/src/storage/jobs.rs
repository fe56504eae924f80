//! The job table: background work of one tenant (backup exports and imports). Every state
//! change is a conditional update (`WHERE status = <expected>`), so two actors — a worker, a
//! cancel, the reaper, another server instance — can never both move the same job.
use entity::job;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set,
};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::error::Result;
use crate::time::now_ms;

pub use api_spec::jobs::{JobKind, JobState, JobStep};

/// The state a job row records (one no version of the server wrote reads as `failed`).
pub fn state_of(job: &job::Model) -> JobState {
    JobState::parse(&job.status).unwrap_or(JobState::Failed)
}

/// The kind of a job row (`None`: one no version of the server wrote).
pub fn kind_of(job: &job::Model) -> Option<JobKind> {
    JobKind::parse(&job.kind)
}

fn names(states: &[JobState]) -> impl Iterator<Item = &'static str> + '_ {
    states.iter().map(|s| s.as_str())
}

pub async fn insert(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    kind: JobKind,
    owner: Uuid,
    status: JobState,
    deadline: Option<i64>,
) -> Result<job::Model> {
    let model = job::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        kind: Set(kind.as_str().to_owned()),
        owner_id: Set(owner),
        status: Set(status.as_str().to_owned()),
        current_step: Set(None),
        progress_percent: Set(0),
        bytes_done: Set(0),
        bytes_total: Set(0),
        counts: Set(None),
        error_code: Set(None),
        error_message: Set(None),
        result: Set(None),
        deadline: Set(deadline),
        created_at: Set(now_ms()),
        started_at: Set(None),
        finished_at: Set(None),
        worker_id: Set(None),
        heartbeat_at: Set(None),
        params: Set(None),
    };
    Ok(model.insert(db).await?)
}

pub async fn find(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<job::Model>> {
    Ok(job::Entity::find_by_id(id)
        .filter(job::Column::TenantId.eq(scope.tenant_id()))
        .one(db)
        .await?)
}

/// Moves a queued job to `running` for `worker`; false if someone else already did.
pub async fn claim(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
) -> Result<bool> {
    let now = now_ms();
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, JobState::Running.as_str().into())
        .col_expr(job::Column::WorkerId, Some(worker.to_owned()).into())
        .col_expr(job::Column::StartedAt, Some(now).into())
        .col_expr(job::Column::HeartbeatAt, Some(now).into())
        .filter(job::Column::TenantId.eq(scope.tenant_id()))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::Status.eq(JobState::Queued.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Moves the job from one of `from` to `to`, recording `error` (code, message) with it;
/// false if it was in none of `from` any more.
pub async fn transition(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
    from: &[JobState],
    to: JobState,
    error: Option<(&str, &str)>,
) -> Result<bool> {
    let mut update = job::Entity::update_many().col_expr(job::Column::Status, to.as_str().into());
    if to.is_final() {
        update = update.col_expr(job::Column::FinishedAt, Some(now_ms()).into());
    }
    if let Some((code, message)) = error {
        update = update
            .col_expr(job::Column::ErrorCode, Some(code.to_owned()).into())
            .col_expr(job::Column::ErrorMessage, Some(message.to_owned()).into());
    }
    let res = update
        .filter(job::Column::TenantId.eq(scope.tenant_id()))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::Status.is_in(names(from)))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Whether a job of `kind` is running in the tenant.
pub async fn any_running(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    kind: JobKind,
) -> Result<bool> {
    Ok(job::Entity::find()
        .filter(job::Column::TenantId.eq(scope.tenant_id()))
        .filter(job::Column::Kind.eq(kind.as_str()))
        .filter(job::Column::Status.eq(JobState::Running.as_str()))
        .one(db)
        .await?
        .is_some())
}

/// Marks the job alive.
pub async fn heartbeat(scope: &TenantScope, db: &impl ConnectionTrait, id: Uuid) -> Result<()> {
    job::Entity::update_many()
        .col_expr(job::Column::HeartbeatAt, Some(now_ms()).into())
        .filter(job::Column::TenantId.eq(scope.tenant_id()))
        .filter(job::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Pending jobs of every tenant whose deadline has passed (housekeeping).
pub async fn past_deadline(db: &impl ConnectionTrait, now: i64) -> Result<Vec<job::Model>> {
    Ok(job::Entity::find()
        .filter(job::Column::Status.eq(JobState::Pending.as_str()))
        .filter(job::Column::Deadline.lt(now))
        .all(db)
        .await?)
}

/// Queued or running jobs of every tenant whose heartbeat is older than `cutoff` (every
/// such job, with `cutoff` = `i64::MAX`), of other instances than `instance` — or, with
/// `own`, of `instance` itself.
pub async fn silent(
    db: &impl ConnectionTrait,
    instance: &str,
    own: bool,
    cutoff: i64,
) -> Result<Vec<job::Model>> {
    let whose = if own {
        Condition::all().add(job::Column::WorkerId.eq(instance))
    } else {
        Condition::any()
            .add(job::Column::WorkerId.is_null())
            .add(job::Column::WorkerId.ne(instance))
    };
    Ok(job::Entity::find()
        .filter(job::Column::Status.is_in(names(&[JobState::Queued, JobState::Running])))
        .filter(whose)
        .filter(
            Condition::any()
                .add(job::Column::HeartbeatAt.is_null())
                .add(job::Column::HeartbeatAt.lt(cutoff)),
        )
        .all(db)
        .await?)
}

/// Completes a running job with its result; false if it was no longer running (cancelled
/// or failed by someone else). Run it inside the transaction that holds the job's work, so
/// the work commits exactly when the job completes.
pub async fn complete(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
    result: Value,
) -> Result<bool> {
    // The last step, all the work done, and the result's counts where the status shows them.
    let counts = result.get("counts").cloned();
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, JobState::Completed.as_str().into())
        .col_expr(
            job::Column::CurrentStep,
            Some(JobStep::Completed.as_str().to_owned()).into(),
        )
        .col_expr(job::Column::ProgressPercent, 100.into())
        .col_expr(
            job::Column::BytesDone,
            sea_orm::sea_query::Expr::col(job::Column::BytesTotal),
        )
        .col_expr(job::Column::Counts, counts.into())
        .col_expr(job::Column::Result, Some(result).into())
        .col_expr(job::Column::FinishedAt, Some(now_ms()).into())
        .filter(job::Column::TenantId.eq(scope.tenant_id()))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::Status.eq(JobState::Running.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Progress of a running job (also its heartbeat).
pub struct Progress {
    pub step: JobStep,
    pub percent: i32,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub counts: Option<Value>,
}

/// Records progress of a running job; false (nothing written) once the job has ended, so a
/// late report never overwrites a terminal state.
pub async fn progress(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
    p: Progress,
) -> Result<bool> {
    let mut update = job::Entity::update_many()
        .col_expr(
            job::Column::CurrentStep,
            Some(p.step.as_str().to_owned()).into(),
        )
        .col_expr(job::Column::ProgressPercent, p.percent.into())
        .col_expr(job::Column::BytesDone, (p.bytes_done as i64).into())
        .col_expr(job::Column::BytesTotal, (p.bytes_total as i64).into())
        .col_expr(job::Column::HeartbeatAt, Some(now_ms()).into());
    if let Some(counts) = p.counts {
        update = update.col_expr(job::Column::Counts, Some(counts).into());
    }
    let res = update
        .filter(job::Column::TenantId.eq(scope.tenant_id()))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::Status.eq(JobState::Running.as_str()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Moves a pending job to `queued` for `worker`, with its parameters; false if it was no
/// longer pending.
pub async fn queue(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    params: Value,
) -> Result<bool> {
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, JobState::Queued.as_str().into())
        .col_expr(job::Column::WorkerId, Some(worker.to_owned()).into())
        .col_expr(job::Column::HeartbeatAt, Some(now_ms()).into())
        .col_expr(job::Column::Params, Some(params).into())
        .filter(job::Column::TenantId.eq(scope.tenant_id()))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::Status.eq(JobState::Pending.as_str()))
        .filter(job::Column::Deadline.gte(now_ms()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
