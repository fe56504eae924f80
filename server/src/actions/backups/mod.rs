pub mod delete_backup;
pub mod generate_backup;
pub mod get_backup_download;
pub mod get_backup_export_status;
pub mod list_backups;
pub mod verify_backup;

use api_spec::ErrorCode;
use api_spec::actions::BackupInfo;
use entity::backup;
use sea_orm::ConnectionTrait;

use crate::auth::AuthContext;
use crate::error::{Result, fail};
use crate::services::names::parse_id;
use crate::storage::backups;
use crate::time::to_secs;

/// The caller's tenant's backup, or `backup_not_found`.
async fn find(auth: &AuthContext, db: &impl ConnectionTrait, raw: &str) -> Result<backup::Model> {
    let id = parse_id(raw, ErrorCode::BackupNotFound)?;
    backups::find(auth.scope(), db, id)
        .await?
        .ok_or_else(|| fail(ErrorCode::BackupNotFound))
}

/// The backup, which must have completed.
async fn find_completed(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    raw: &str,
) -> Result<backup::Model> {
    let b = find(auth, db, raw).await?;
    if b.status != backups::COMPLETED {
        return Err(fail(ErrorCode::BackupNotReady));
    }
    Ok(b)
}

fn info(b: backup::Model) -> BackupInfo {
    BackupInfo {
        backup_id: b.id.to_string(),
        backup_task_id: b.job_id.to_string(),
        name: b.name,
        status: b.status,
        compressed: b.compressed,
        passphrase_protected: b.wrapped,
        key_id: b.key_id,
        size: b.archive_size.map(|s| s as u64),
        sha256: b.archive_sha256,
        created_time: to_secs(b.created_at),
        completed_time: b.completed_at.map(to_secs),
    }
}
