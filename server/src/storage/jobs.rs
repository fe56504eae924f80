//! The job table: background work of one tenant (backup exports and imports), and the queue
//! every instance's runner claims from. Every state change is a conditional update
//! (`WHERE status = <expected>`), so two actors — a runner, a cancel, the reaper, another
//! server instance — can never both move the same job.
//!
//! A queued job with a `worker_id` is reserved for that instance (its key is only in that
//! instance's memory); one without is anyone's.
use entity::job;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseBackend,
    DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;
use crate::time::now_ms;

pub use api_spec::jobs::{JobKind, JobParams, JobState, JobStep, KeySource};

/// One run of a job: the instance that claimed it and which attempt. A run's writes are
/// fenced by it: once the job was queued again and claimed anew (its instance was taken for
/// stopped), they change nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub id: Uuid,
    pub worker: String,
    pub attempt: i32,
}

impl Claim {
    /// The claim a claimed row records.
    pub fn of(job: &job::Model) -> Self {
        Self {
            id: job.id,
            worker: job.worker_id.clone().unwrap_or_default(),
            attempt: job.attempts,
        }
    }
}

/// Limits an update to the run `claim` names, while it runs.
fn fenced<E: EntityTrait>(update: sea_orm::UpdateMany<E>, claim: &Claim) -> sea_orm::UpdateMany<E> {
    update
        .filter(job::Column::Id.eq(claim.id))
        .filter(job::Column::Status.eq(JobState::Running))
        .filter(job::Column::WorkerId.eq(claim.worker.as_str()))
        .filter(job::Column::Attempts.eq(claim.attempt))
}

/// The parameters a job row keeps (`None` for a pending import, which has none yet, and for
/// rows no version of the server wrote).
pub fn params_of(job: &job::Model) -> Option<JobParams> {
    serde_json::from_value(job.params.clone()?).ok()
}

/// A job to insert.
pub struct NewJob<'a> {
    pub kind: JobKind,
    pub owner: Uuid,
    pub status: JobState,
    pub deadline: Option<i64>,
    pub params: Option<&'a JobParams>,
    /// The instance a queued job is reserved for (see the module docs).
    pub reserved_for: Option<&'a str>,
}

pub async fn insert(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    new: NewJob<'_>,
) -> Result<job::Model> {
    let NewJob {
        kind,
        owner,
        status,
        deadline,
        params,
        reserved_for,
    } = new;
    let params = params.map(serde_json::to_value).transpose()?;
    let model = job::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        kind: Set(kind),
        owner_id: Set(owner),
        status: Set(status),
        current_step: Set(None),
        progress_percent: Set(0),
        bytes_done: Set(0),
        bytes_total: Set(0),
        counts: Set(None),
        error_code: Set(None),
        error_message: Set(None),
        result: Set(None),
        deadline: Set(deadline),
        run_after: Set(None),
        created_at: Set(now_ms()),
        started_at: Set(None),
        finished_at: Set(None),
        worker_id: Set(reserved_for.map(str::to_owned)),
        heartbeat_at: Set(reserved_for.map(|_| now_ms())),
        params: Set(params),
        attempts: Set(0),
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

/// Removes job `id` if it is still `pending` (one that was never queued: nothing of it ran).
pub async fn delete_pending(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<()> {
    job::Entity::delete_many()
        .filter(job::Column::TenantId.eq(scope.tenant_id()))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::Status.eq(JobState::Pending))
        .exec(db)
        .await?;
    Ok(())
}

/// The tenant's jobs of `kind` that have not ended (pending, queued or running).
pub async fn live_of_kind(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    kind: JobKind,
) -> Result<Vec<job::Model>> {
    Ok(job::Entity::find()
        .filter(job::Column::TenantId.eq(scope.tenant_id()))
        .filter(job::Column::Kind.eq(kind.as_str()))
        .filter(job::Column::Status.is_in([JobState::Pending, JobState::Queued, JobState::Running]))
        .all(db)
        .await?)
}

/// How many jobs of every tenant there are by kind and status (for `/metrics`).
pub async fn census(db: &impl ConnectionTrait) -> Result<Vec<(String, String, i64)>> {
    use sea_orm::QuerySelect;
    Ok(job::Entity::find()
        .select_only()
        .column(job::Column::Kind)
        .column(job::Column::Status)
        .column_as(job::Column::Id.count(), "count")
        .group_by(job::Column::Kind)
        .group_by(job::Column::Status)
        .into_tuple()
        .all(db)
        .await?)
}

/// Whether job `id` (of any tenant) is pending, queued or running (housekeeping of what
/// ended jobs left).
pub async fn is_live(db: &impl ConnectionTrait, id: Uuid) -> Result<bool> {
    Ok(job::Entity::find_by_id(id)
        .one(db)
        .await?
        .is_some_and(|j| !j.status.is_final()))
}

/// The queued jobs `worker` may claim, oldest first: of one of `kinds`, reserved for
/// `worker` or (with `shared`) for no instance, and — for an import — of a tenant none of
/// whose imports runs.
fn claimable(
    worker: &str,
    kinds: &[JobKind],
    shared: bool,
    now: i64,
) -> sea_orm::Select<job::Entity> {
    let mine = job::Column::WorkerId.eq(worker);
    let whose = if shared {
        Condition::any()
            .add(job::Column::WorkerId.is_null())
            .add(mine)
    } else {
        Condition::all().add(mine)
    };
    let running_imports = Query::select()
        .column(job::Column::TenantId)
        .from(job::Entity)
        .and_where(job::Column::Kind.eq(JobKind::Import))
        .and_where(job::Column::Status.eq(JobState::Running))
        .to_owned();
    job::Entity::find()
        .filter(job::Column::Status.eq(JobState::Queued))
        .filter(job::Column::Kind.is_in(kinds.iter().copied()))
        .filter(whose)
        .filter(
            Condition::any()
                .add(job::Column::RunAfter.is_null())
                .add(job::Column::RunAfter.lte(now)),
        )
        .filter(
            Condition::any()
                .add(job::Column::Kind.ne(JobKind::Import))
                .add(job::Column::TenantId.not_in_subquery(running_imports)),
        )
        .order_by_asc(job::Column::CreatedAt)
        .order_by_asc(job::Column::Id)
}

/// Whether a claim would find a job (a read: a runner asks before it takes the write lock).
pub async fn any_claimable(
    db: &impl ConnectionTrait,
    worker: &str,
    kinds: &[JobKind],
    shared: bool,
    now: i64,
) -> Result<bool> {
    Ok(claimable(worker, kinds, shared, now)
        .select_only()
        .column(job::Column::Id)
        .into_tuple::<Uuid>()
        .one(db)
        .await?
        .is_some())
}

/// Claims the oldest job [`claimable`] by `worker`: moves it to `running` for `worker` and
/// counts the attempt. Run it in a write transaction: on PostgreSQL the row is locked
/// `FOR UPDATE SKIP LOCKED` (claims on other instances take other jobs), on SQLite the
/// transaction holds the database's write lock. Two claims of one tenant's imports at once
/// cannot both commit: the unique index on running imports refuses the second.
pub async fn claim_next(
    txn: &DatabaseTransaction,
    worker: &str,
    kinds: &[JobKind],
    shared: bool,
    now: i64,
) -> Result<Option<job::Model>> {
    let mut next = claimable(worker, kinds, shared, now).limit(1);
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        next = next.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let Some(job) = next.one(txn).await? else {
        return Ok(None);
    };
    let now = now_ms();
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobState::Running))
        .col_expr(job::Column::WorkerId, Some(worker.to_owned()).into())
        .col_expr(job::Column::StartedAt, Some(now).into())
        .col_expr(job::Column::HeartbeatAt, Some(now).into())
        .col_expr(
            job::Column::Attempts,
            Expr::col(job::Column::Attempts).add(1),
        )
        .filter(job::Column::Id.eq(job.id))
        .filter(job::Column::Status.eq(JobState::Queued))
        .exec(txn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    Ok(job::Entity::find_by_id(job.id).one(txn).await?)
}

/// Takes over a running job of a silent instance for `worker` (the reaper, which then
/// resets and requeues it); false if someone else took it, or it moved on, first.
pub async fn take_over(db: &impl ConnectionTrait, job: &job::Model, worker: &str) -> Result<bool> {
    let mut update = job::Entity::update_many()
        .col_expr(job::Column::WorkerId, Some(worker.to_owned()).into())
        .col_expr(job::Column::HeartbeatAt, Some(now_ms()).into())
        .filter(job::Column::Id.eq(job.id))
        .filter(job::Column::Status.eq(JobState::Running));
    update = match &job.worker_id {
        Some(w) => update.filter(job::Column::WorkerId.eq(w.as_str())),
        None => update.filter(job::Column::WorkerId.is_null()),
    };
    update = match job.heartbeat_at {
        Some(at) => update.filter(job::Column::HeartbeatAt.eq(at)),
        None => update.filter(job::Column::HeartbeatAt.is_null()),
    };
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// Puts a running job `worker` holds back in the queue, for any instance, as if it never
/// ran (its attempts stay counted, unless `refund`: then the last one does not); false if it
/// was no longer `worker`'s running job.
pub async fn requeue(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    refund: bool,
) -> Result<bool> {
    requeue_from(db, id, worker, refund, None).await
}

/// Puts a running job `worker` holds back in the queue, for any instance, not to be claimed
/// before `run_after` (a copy whose destination did not answer: a wait, not a crash, so the
/// attempt does not count); false if it was no longer `worker`'s running job.
pub async fn requeue_after(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    run_after: i64,
) -> Result<bool> {
    requeue_from(db, id, worker, true, Some(run_after)).await
}

/// [`requeue`], claimable from `run_after` (in the same statement, so no claim sees it
/// queued without its wait).
async fn requeue_from(
    db: &impl ConnectionTrait,
    id: Uuid,
    worker: &str,
    refund: bool,
    run_after: Option<i64>,
) -> Result<bool> {
    use sea_orm::sea_query::Expr;
    let attempts = Expr::col(job::Column::Attempts).sub(i32::from(refund));
    let res = job::Entity::update_many()
        .col_expr(job::Column::RunAfter, run_after.into())
        .col_expr(job::Column::Attempts, attempts)
        .col_expr(job::Column::Status, Expr::value(JobState::Queued))
        .col_expr(job::Column::WorkerId, Option::<String>::None.into())
        .col_expr(job::Column::StartedAt, Option::<i64>::None.into())
        .col_expr(job::Column::HeartbeatAt, Option::<i64>::None.into())
        .col_expr(job::Column::CurrentStep, Option::<String>::None.into())
        .col_expr(job::Column::ProgressPercent, 0.into())
        .col_expr(job::Column::BytesDone, 0i64.into())
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::Status.eq(JobState::Running))
        .filter(job::Column::WorkerId.eq(worker))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Marks every live job reserved for or run by `worker` alive (one statement per beat).
pub async fn beat(db: &impl ConnectionTrait, worker: &str) -> Result<()> {
    job::Entity::update_many()
        .col_expr(job::Column::HeartbeatAt, Some(now_ms()).into())
        .filter(job::Column::WorkerId.eq(worker))
        .filter(job::Column::Status.is_in([JobState::Queued, JobState::Running]))
        .exec(db)
        .await?;
    Ok(())
}

/// Those of `ids` that are no longer live (or gone).
pub async fn ended(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Uuid>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let live: std::collections::HashSet<Uuid> = job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .filter(job::Column::Id.is_in(ids.iter().copied()))
        .filter(job::Column::Status.is_in(JobState::LIVE.iter().copied()))
        .into_tuple::<Uuid>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    Ok(ids
        .iter()
        .copied()
        .filter(|id| !live.contains(id))
        .collect())
}

/// Those of `claims` whose run is over: the job ended, or it is no longer that run's.
pub async fn lost(db: &impl ConnectionTrait, claims: &[Claim]) -> Result<Vec<Claim>> {
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let rows = job::Entity::find()
        .filter(job::Column::Id.is_in(claims.iter().map(|c| c.id)))
        .all(db)
        .await?;
    Ok(claims
        .iter()
        .filter(|c| {
            !rows.iter().any(|r| {
                r.id == c.id
                    && r.status == JobState::Running
                    && r.worker_id.as_deref() == Some(c.worker.as_str())
                    && r.attempts == c.attempt
            })
        })
        .cloned()
        .collect())
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
        .filter(job::Column::Status.is_in(from.iter().copied()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Pending jobs of every tenant whose deadline has passed (housekeeping).
pub async fn past_deadline(db: &impl ConnectionTrait, now: i64) -> Result<Vec<job::Model>> {
    Ok(job::Entity::find()
        .filter(job::Column::Status.eq(JobState::Pending))
        .filter(job::Column::Deadline.lt(now))
        .all(db)
        .await?)
}

/// Queued or running jobs of every tenant whose heartbeat is older than `cutoff` (every
/// such job, with `cutoff` = `i64::MAX`), of other instances than `instance` — or, with
/// `own`, of `instance` itself. A queued job no instance holds is nobody's: never silent.
pub async fn silent(
    db: &impl ConnectionTrait,
    instance: &str,
    own: bool,
    cutoff: i64,
) -> Result<Vec<job::Model>> {
    let whose = if own {
        Condition::all().add(job::Column::WorkerId.eq(instance))
    } else {
        Condition::all()
            .add(job::Column::WorkerId.is_not_null())
            .add(job::Column::WorkerId.ne(instance))
    };
    Ok(job::Entity::find()
        .filter(job::Column::Status.is_in([JobState::Queued, JobState::Running]))
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
    claim: &Claim,
    result: Value,
) -> Result<bool> {
    // The last step, all the work done, and the result's counts where the status shows them.
    let counts = result.get("counts").cloned();
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobState::Completed))
        .col_expr(
            job::Column::CurrentStep,
            Expr::value(Some(JobStep::Completed)),
        )
        .col_expr(job::Column::ProgressPercent, 100.into())
        .col_expr(job::Column::BytesDone, Expr::col(job::Column::BytesTotal))
        .col_expr(job::Column::Counts, counts.into())
        .col_expr(job::Column::Result, Some(result).into())
        .col_expr(job::Column::FinishedAt, Some(now_ms()).into())
        .filter(job::Column::TenantId.eq(scope.tenant_id()));
    let res = fenced(res, claim).exec(db).await?;
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

/// Records progress of a run; false (nothing written) once the run is over, so a late
/// report never overwrites a terminal state or another run's progress.
pub async fn progress(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    claim: &Claim,
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
    let update = update.filter(job::Column::TenantId.eq(scope.tenant_id()));
    let res = fenced(update, claim).exec(db).await?;
    Ok(res.rows_affected == 1)
}

/// Moves a pending job to `queued`, with its parameters — reserved for `reserved_for` when
/// given (see the module docs); false if it was no longer pending.
pub async fn queue(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
    reserved_for: Option<&str>,
    params: &JobParams,
) -> Result<bool> {
    let res = job::Entity::update_many()
        .col_expr(job::Column::Status, Expr::value(JobState::Queued))
        .col_expr(
            job::Column::WorkerId,
            reserved_for.map(str::to_owned).into(),
        )
        .col_expr(job::Column::HeartbeatAt, Some(now_ms()).into())
        .col_expr(
            job::Column::Params,
            Some(serde_json::to_value(params)?).into(),
        )
        .filter(job::Column::TenantId.eq(scope.tenant_id()))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::Status.eq(JobState::Pending))
        .filter(job::Column::Deadline.gte(now_ms()))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
