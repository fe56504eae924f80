//! Stored backups of one tenant.
use entity::backup;
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;
use crate::time::now_ms;

pub use api_spec::actions::{BackupOrigin, BackupStatus, Verification};

/// What a new backup starts with.
pub struct NewBackup {
    pub id: Uuid,
    pub job_id: Uuid,
    pub name: String,
    pub compressed: bool,
    pub wrapped: bool,
    pub key_id: String,
    /// When it was asked for (the time-driven clock's now: schedules and retention read it).
    pub created_at: i64,
    pub origin: BackupOrigin,
    /// An incremental backup's base.
    pub base_backup_id: Option<Uuid>,
}

/// Records the outcome of a verification of backup `id` (at `at`; `error`: the code of a
/// failure).
pub async fn set_verification(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
    state: Verification,
    at: i64,
    error: Option<&str>,
) -> Result<()> {
    backup::Entity::update_many()
        .col_expr(backup::Column::VerifyState, state.into())
        .col_expr(backup::Column::VerifiedAt, Some(at).into())
        .col_expr(backup::Column::VerifyError, error.map(str::to_owned).into())
        .filter(backup::Column::TenantId.eq(scope.tenant_id()))
        .filter(backup::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn insert(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    new: NewBackup,
) -> Result<backup::Model> {
    let model = backup::ActiveModel {
        id: Set(new.id),
        tenant_id: Set(scope.tenant_id()),
        job_id: Set(new.job_id),
        name: Set(new.name),
        status: Set(BackupStatus::Running),
        compressed: Set(new.compressed),
        wrapped: Set(new.wrapped),
        key_id: Set(new.key_id),
        archive_size: Set(None),
        archive_sha256: Set(None),
        created_at: Set(new.created_at),
        completed_at: Set(None),
        origin: Set(new.origin),
        verify_state: Set(Verification::Unverified),
        verified_at: Set(None),
        verify_error: Set(None),
        base_backup_id: Set(new.base_backup_id),
        blobs_recorded: Set(false),
    };
    Ok(model.insert(db).await?)
}

pub async fn find(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<backup::Model>> {
    Ok(backup::Entity::find_by_id(id)
        .filter(backup::Column::TenantId.eq(scope.tenant_id()))
        .one(db)
        .await?)
}

pub async fn find_by_job(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    job_id: Uuid,
) -> Result<Option<backup::Model>> {
    Ok(backup::Entity::find()
        .filter(backup::Column::TenantId.eq(scope.tenant_id()))
        .filter(backup::Column::JobId.eq(job_id))
        .one(db)
        .await?)
}

/// The chain of backup `id` among `all` (the tenant's backups), newest first: it, its base,
/// that one's base, … down to a full backup. `None` when a link is missing or not completed
/// (a chain no restore can read).
pub fn chain(all: &[backup::Model], id: Uuid) -> Option<Vec<&backup::Model>> {
    let mut links: Vec<&backup::Model> = Vec::new();
    let mut next = Some(id);
    while let Some(id) = next {
        let link = all.iter().find(|b| b.id == id)?;
        if link.status != BackupStatus::Completed
            || links.len() >= crate::archive::chain::MAX_LINKS
            || links.iter().any(|l| l.id == id)
        {
            return None;
        }
        links.push(link);
        next = link.base_backup_id;
    }
    Some(links)
}

/// Whether backup `b` can be an incremental one's base: completed, its blobs recorded, its
/// verification not failed, and its chain whole.
pub fn usable_base(all: &[backup::Model], b: &backup::Model) -> bool {
    b.blobs_recorded
        && b.verify_state != Verification::Failed
        && chain(all, b.id).is_some_and(|links| {
            links
                .iter()
                .all(|l| l.blobs_recorded && l.verify_state != Verification::Failed)
        })
}

/// Locks backup `id`'s row for the rest of the transaction, and says whether it is still
/// there: what makes picking a base and deleting a backup take turns on PostgreSQL (where
/// writers do not queue as they do on SQLite). Whichever comes second sees what the first
/// committed: a delete finds the new backup built on it, an export finds its base gone.
pub async fn lock(scope: &TenantScope, db: &impl ConnectionTrait, id: Uuid) -> Result<bool> {
    let mut query =
        backup::Entity::find_by_id(id).filter(backup::Column::TenantId.eq(scope.tenant_id()));
    if db.get_database_backend() == DatabaseBackend::Postgres {
        query = query.lock(LockType::Update);
    }
    Ok(query.one(db).await?.is_some())
}

/// The backups whose base is `id`.
pub async fn built_on(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Vec<backup::Model>> {
    Ok(backup::Entity::find()
        .filter(backup::Column::TenantId.eq(scope.tenant_id()))
        .filter(backup::Column::BaseBackupId.eq(id))
        .all(db)
        .await?)
}

pub async fn list(scope: &TenantScope, db: &impl ConnectionTrait) -> Result<Vec<backup::Model>> {
    Ok(backup::Entity::find()
        .filter(backup::Column::TenantId.eq(scope.tenant_id()))
        .order_by_desc(backup::Column::CreatedAt)
        .all(db)
        .await?)
}

/// Marks the backup completed with its archive's size and hash (and the blobs it holds
/// recorded: `backup_blobs::record`, in the same transaction), or failed.
pub async fn finish(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
    archive: Option<(u64, String)>,
) -> Result<()> {
    let update =
        backup::Entity::update_many().col_expr(backup::Column::CompletedAt, Some(now_ms()).into());
    let update = match archive {
        Some((size, sha)) => update
            .col_expr(backup::Column::Status, BackupStatus::Completed.into())
            .col_expr(backup::Column::ArchiveSize, Some(size as i64).into())
            .col_expr(backup::Column::ArchiveSha256, Some(sha).into())
            .col_expr(backup::Column::BlobsRecorded, true.into()),
        None => update.col_expr(backup::Column::Status, BackupStatus::Failed.into()),
    };
    update
        .filter(backup::Column::TenantId.eq(scope.tenant_id()))
        .filter(backup::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delete(scope: &TenantScope, db: &impl ConnectionTrait, id: Uuid) -> Result<bool> {
    let res = backup::Entity::delete_many()
        .filter(backup::Column::TenantId.eq(scope.tenant_id()))
        .filter(backup::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}
