//! The job table: background work of one tenant (backup exports; imports next).
use entity::job;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use serde_json::Value;
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::error::Result;
use crate::time::now_ms;

pub const EXPORT: &str = "export";
pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const COMPLETED: &str = "completed";
pub const FAILED: &str = "failed";

pub async fn insert(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    kind: &str,
    owner: Uuid,
    status: &str,
) -> Result<job::Model> {
    let model = job::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        kind: Set(kind.to_owned()),
        owner_id: Set(owner),
        status: Set(status.to_owned()),
        current_step: Set(None),
        progress_percent: Set(0),
        bytes_done: Set(0),
        bytes_total: Set(0),
        counts: Set(None),
        error_code: Set(None),
        error_message: Set(None),
        result: Set(None),
        deadline: Set(None),
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
        .col_expr(job::Column::Status, RUNNING.into())
        .col_expr(job::Column::WorkerId, Some(worker.to_owned()).into())
        .col_expr(job::Column::StartedAt, Some(now).into())
        .col_expr(job::Column::HeartbeatAt, Some(now).into())
        .filter(job::Column::TenantId.eq(scope.tenant_id()))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::Status.eq(QUEUED))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Progress of a running job (also its heartbeat).
pub struct Progress<'a> {
    pub step: &'a str,
    pub percent: i32,
    pub bytes_done: u64,
    pub bytes_total: u64,
    pub counts: Option<Value>,
}

pub async fn progress(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
    p: Progress<'_>,
) -> Result<()> {
    let mut update = job::Entity::update_many()
        .col_expr(job::Column::CurrentStep, Some(p.step.to_owned()).into())
        .col_expr(job::Column::ProgressPercent, p.percent.into())
        .col_expr(job::Column::BytesDone, (p.bytes_done as i64).into())
        .col_expr(job::Column::BytesTotal, (p.bytes_total as i64).into())
        .col_expr(job::Column::HeartbeatAt, Some(now_ms()).into());
    if let Some(counts) = p.counts {
        update = update.col_expr(job::Column::Counts, Some(counts).into());
    }
    update
        .filter(job::Column::TenantId.eq(scope.tenant_id()))
        .filter(job::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Ends a job: `completed` with a result, or `failed` with an error code and message.
pub async fn finish(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
    outcome: std::result::Result<Value, (String, String)>,
) -> Result<()> {
    let now = now_ms();
    let update = job::Entity::update_many().col_expr(job::Column::FinishedAt, Some(now).into());
    let update = match outcome {
        Ok(result) => update
            .col_expr(job::Column::Status, COMPLETED.into())
            .col_expr(job::Column::ProgressPercent, 100.into())
            .col_expr(job::Column::Result, Some(result).into()),
        Err((code, message)) => update
            .col_expr(job::Column::Status, FAILED.into())
            .col_expr(job::Column::ErrorCode, Some(code).into())
            .col_expr(job::Column::ErrorMessage, Some(message).into()),
    };
    update
        .filter(job::Column::TenantId.eq(scope.tenant_id()))
        .filter(job::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Fails every job left `running` by a process that is gone (at start-up, all of them:
/// with one process per database, none of them can still be running). Returns them.
pub async fn fail_interrupted(db: &impl ConnectionTrait) -> Result<Vec<job::Model>> {
    let stale = job::Entity::find()
        .filter(job::Column::Status.eq(RUNNING))
        .all(db)
        .await?;
    for j in &stale {
        job::Entity::update_many()
            .col_expr(job::Column::Status, FAILED.into())
            .col_expr(
                job::Column::ErrorCode,
                Some("interrupted".to_owned()).into(),
            )
            .col_expr(
                job::Column::ErrorMessage,
                Some("The server stopped while the job ran".to_owned()).into(),
            )
            .col_expr(job::Column::FinishedAt, Some(now_ms()).into())
            .filter(job::Column::Id.eq(j.id))
            .exec(db)
            .await?;
    }
    Ok(stale)
}
