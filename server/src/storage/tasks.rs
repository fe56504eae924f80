//! Transfer tasks of one tenant.
use entity::transfer_task;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, Set,
};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;
use crate::time::now_ms;

pub use entity::transfer_task::{BackupPart, TaskMode, TaskPurpose, TaskStatus};

/// What a new task is for.
pub struct NewTask {
    pub user_id: Uuid,
    pub mode: TaskMode,
    pub purpose: TaskPurpose,
    pub document_id: Option<Uuid>,
    pub file_id: Option<Uuid>,
    pub backup: Option<(Uuid, BackupPart)>,
    /// For import uploads: the import job.
    pub job_id: Option<Uuid>,
    pub ttl_ms: i64,
}

impl NewTask {
    /// An upload of a document's content (`purpose`: first content or a new revision).
    pub fn upload(user_id: Uuid, purpose: TaskPurpose, document_id: Uuid) -> Self {
        Self {
            user_id,
            mode: TaskMode::Upload,
            purpose,
            document_id: Some(document_id),
            file_id: None,
            backup: None,
            job_id: None,
            ttl_ms: 0,
        }
    }

    /// A download of one file of a document.
    pub fn download(user_id: Uuid, document_id: Uuid, file_id: Uuid) -> Self {
        let (document_id, file_id) = (Some(document_id), Some(file_id));
        Self {
            user_id,
            mode: TaskMode::Download,
            purpose: TaskPurpose::Download,
            document_id,
            file_id,
            backup: None,
            job_id: None,
            ttl_ms: 0,
        }
    }

    /// An upload of an import's archive or key (`purpose`: `ImportArchive` or `ImportKey`).
    pub fn import(user_id: Uuid, job_id: Uuid, purpose: TaskPurpose) -> Self {
        let job_id = Some(job_id);
        Self {
            user_id,
            mode: TaskMode::Upload,
            purpose,
            document_id: None,
            file_id: None,
            backup: None,
            job_id,
            ttl_ms: 0,
        }
    }

    /// A download of a backup's archive or key.
    pub fn backup(user_id: Uuid, backup_id: Uuid, part: BackupPart) -> Self {
        let backup = Some((backup_id, part));
        Self {
            user_id,
            mode: TaskMode::Download,
            purpose: TaskPurpose::Backup,
            document_id: None,
            file_id: None,
            backup,
            job_id: None,
            ttl_ms: 0,
        }
    }
}

pub async fn insert(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    new: NewTask,
) -> Result<transfer_task::Model> {
    let now = now_ms();
    let model = transfer_task::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        user_id: Set(new.user_id),
        mode: Set(new.mode),
        purpose: Set(new.purpose),
        document_id: Set(new.document_id),
        file_id: Set(new.file_id),
        status: Set(TaskStatus::Pending),
        declared_size: Set(None),
        declared_sha256: Set(None),
        bytes_received: Set(0),
        created_at: Set(now),
        expires_at: Set(now + new.ttl_ms),
        backup_id: Set(new.backup.map(|(id, _)| id)),
        backup_part: Set(new.backup.map(|(_, part)| part)),
        job_id: Set(new.job_id),
        revision_id: Set(None),
    };
    Ok(model.insert(db).await?)
}

/// Records the revision a completed document upload published, and how long the upload's
/// reply is given again (`expires_at`).
pub async fn set_revision(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
    revision: Uuid,
    expires_at: i64,
) -> Result<()> {
    transfer_task::Entity::update_many()
        .col_expr(transfer_task::Column::RevisionId, Some(revision).into())
        .col_expr(transfer_task::Column::ExpiresAt, expires_at.into())
        .filter(transfer_task::Column::TenantId.eq(scope.tenant_id()))
        .filter(transfer_task::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The task, if it belongs to this tenant and user.
pub async fn find_for(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
    user_id: Uuid,
) -> Result<Option<transfer_task::Model>> {
    Ok(transfer_task::Entity::find_by_id(id)
        .filter(transfer_task::Column::TenantId.eq(scope.tenant_id()))
        .filter(transfer_task::Column::UserId.eq(user_id))
        .one(db)
        .await?)
}

/// The task of any tenant (housekeeping of this instance's part files).
pub async fn find_any(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<transfer_task::Model>> {
    Ok(transfer_task::Entity::find_by_id(id).one(db).await?)
}

/// The backups of `ids` a download task may still read (pending and not expired at `now`).
pub async fn backups_in_download(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    ids: &[Uuid],
    now: i64,
) -> Result<std::collections::HashSet<Uuid>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows = transfer_task::Entity::find()
        .filter(transfer_task::Column::TenantId.eq(scope.tenant_id()))
        .filter(transfer_task::Column::Mode.eq(TaskMode::Download))
        .filter(transfer_task::Column::Status.eq(TaskStatus::Pending))
        .filter(transfer_task::Column::ExpiresAt.gt(now))
        .filter(transfer_task::Column::BackupId.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    Ok(rows.into_iter().filter_map(|t| t.backup_id).collect())
}

/// Whether a completed upload task may be uploaded again: an import's archive or key, whose
/// bytes a new upload replaces while the job is pending (a wrong key file, say).
pub fn replaceable(task: &transfer_task::Model) -> bool {
    task.status == TaskStatus::Completed && task.purpose.is_import()
}

/// Marks a pending task (or a [`replaceable`] one) completed with its final size and hash;
/// false if it was no longer usable (expired, or completed by a concurrent attempt).
pub async fn complete(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
    size: u64,
    sha256: &str,
) -> Result<bool> {
    let res = transfer_task::Entity::update_many()
        .col_expr(transfer_task::Column::Status, TaskStatus::Completed.into())
        .col_expr(transfer_task::Column::BytesReceived, (size as i64).into())
        .col_expr(
            transfer_task::Column::DeclaredSize,
            Some(size as i64).into(),
        )
        .col_expr(
            transfer_task::Column::DeclaredSha256,
            Some(sha256.to_owned()).into(),
        )
        .filter(transfer_task::Column::TenantId.eq(scope.tenant_id()))
        .filter(transfer_task::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(transfer_task::Column::Status.eq(TaskStatus::Pending))
                .add(
                    Condition::all()
                        .add(transfer_task::Column::Status.eq(TaskStatus::Completed))
                        .add(transfer_task::Column::Purpose.is_in([
                            TaskPurpose::ImportArchive,
                            TaskPurpose::ImportKey,
                            TaskPurpose::ImportLinkArchive,
                            TaskPurpose::ImportLinkKey,
                        ])),
                ),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Pending upload tasks of every tenant past their deadline (housekeeping).
pub async fn expired_uploads(
    db: &impl ConnectionTrait,
    now: i64,
) -> Result<Vec<transfer_task::Model>> {
    Ok(transfer_task::Entity::find()
        .filter(transfer_task::Column::Status.eq(TaskStatus::Pending))
        .filter(transfer_task::Column::ExpiresAt.lt(now))
        .all(db)
        .await?)
}

/// Marks tasks expired (housekeeping).
pub async fn mark_expired(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<()> {
    for slice in ids.chunks(super::ID_SLICE) {
        transfer_task::Entity::update_many()
            .col_expr(transfer_task::Column::Status, TaskStatus::Expired.into())
            .filter(transfer_task::Column::Id.is_in(slice.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// The upload tasks of an import job.
pub async fn of_job(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    job_id: Uuid,
) -> Result<Vec<transfer_task::Model>> {
    Ok(transfer_task::Entity::find()
        .filter(transfer_task::Column::TenantId.eq(scope.tenant_id()))
        .filter(transfer_task::Column::JobId.eq(job_id))
        .all(db)
        .await?)
}

/// Expires an import job's tasks that are still pending, so no upload can complete for a
/// job that ended.
pub async fn expire_for_job(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    job_id: Uuid,
) -> Result<()> {
    transfer_task::Entity::update_many()
        .col_expr(transfer_task::Column::Status, TaskStatus::Expired.into())
        .filter(transfer_task::Column::TenantId.eq(scope.tenant_id()))
        .filter(transfer_task::Column::JobId.eq(job_id))
        .filter(transfer_task::Column::Status.eq(TaskStatus::Pending))
        .exec(db)
        .await?;
    Ok(())
}
