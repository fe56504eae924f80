pub mod delete_backup;
pub mod generate_backup;
pub mod get_backup_download;
pub mod get_backup_export_status;
pub mod get_backup_policy;
pub mod list_backups;
pub mod prune_backups;
pub mod set_backup_policy;
pub mod verify_backup;

use api_spec::ErrorCode;
use api_spec::actions::{BackupInfo, JobStatus};
use entity::{backup, job};
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
    if b.status != backups::BackupStatus::Completed {
        return Err(fail(ErrorCode::BackupNotReady));
    }
    Ok(b)
}

/// A backup as `list_backups` shows it; `retained`: whether retention keeps it;
/// `chain_size`: the bytes of its chain's archives, when it is whole; `copies`: its copies.
fn info(
    b: backup::Model,
    retained: bool,
    chain_size: Option<u64>,
    copies: Vec<entity::backup_copy::Model>,
) -> BackupInfo {
    let copies = copies
        .into_iter()
        .map(|c| api_spec::actions::BackupCopy {
            destination: c.destination,
            state: c.state,
            copied_time: c.copied_at.map(to_secs),
            attempts: c.attempts.max(0) as u32,
            error: c.error,
        })
        .collect();
    BackupInfo {
        copies,
        backup_id: b.id.to_string(),
        backup_task_id: b.job_id.to_string(),
        name: b.name,
        status: b.status,
        compressed: b.compressed,
        passphrase_protected: b.wrapped,
        key_id: b.key_id,
        size: b.archive_size.map(|s| s as u64),
        sha256: b.archive_sha256,
        base_backup_id: b.base_backup_id.map(|id| id.to_string()),
        chain_size,
        created_time: to_secs(b.created_at),
        completed_time: b.completed_at.map(to_secs),
        origin: b.origin,
        retained,
        verification: b.verify_state,
        verified_time: b.verified_at.map(to_secs),
        verify_error: b.verify_error,
    }
}

/// A job as `get_backup_export_status` and `get_backup_import_status` show it.
pub fn job_status(job: job::Model, backup_id: Option<String>) -> JobStatus {
    JobStatus {
        backup_task_id: job.id.to_string(),
        kind: job.kind,
        status: job.status,
        current_step: job.current_step,
        progress_percent: job.progress_percent,
        bytes_done: job.bytes_done.max(0) as u64,
        bytes_total: job.bytes_total.max(0) as u64,
        counts: job.counts,
        error: job.error_code,
        error_message: job.error_message,
        result: job.result,
        created_time: to_secs(job.created_at),
        started_time: job.started_at.map(to_secs),
        completed_time: job.finished_at.map(to_secs),
        backup_id,
    }
}
