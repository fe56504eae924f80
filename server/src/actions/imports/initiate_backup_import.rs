use api_spec::ErrorCode;
use api_spec::actions::{InitiateBackupImportRequest, InitiateBackupImportResponse, LinkTasks};

use crate::actions::Call;
use crate::backup::import::start;
use crate::error::{Result, field_error};
use crate::storage::tasks::{self, NewTask, TaskPurpose};
use crate::time::now_ms;

/// Seconds a client may take to upload both files and start the import.
const TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 60..=86_400;
const DEFAULT_TIMEOUT: u64 = 3600;
/// Earlier links an import may bring.
const LINKS_MAX: u32 = 1000;

/// Creates a `pending` import job and its two upload tasks, both expiring at the job's
/// deadline; the reaper times the job out (and removes its uploads) if it is not started.
pub async fn run(
    call: Call,
    req: InitiateBackupImportRequest,
) -> Result<InitiateBackupImportResponse> {
    let auth = call.auth()?;
    let timeout = req.timeout_seconds.unwrap_or(DEFAULT_TIMEOUT);
    if !TIMEOUT_RANGE.contains(&timeout) {
        return Err(field_error(ErrorCode::InvalidField, "timeout_seconds"));
    }
    let links = req.links.unwrap_or(0);
    if links > LINKS_MAX {
        return Err(field_error(ErrorCode::InvalidField, "links"));
    }
    let ttl_ms = timeout as i64 * 1000;
    let w = call.state.write().await?;
    let job = start::pending(w.txn(), auth, now_ms() + ttl_ms, None).await?;
    let task = |purpose| NewTask {
        ttl_ms,
        ..NewTask::import(auth.user_id(), job.id, purpose)
    };
    let archive = tasks::insert(auth.scope(), w.txn(), task(TaskPurpose::ImportArchive)).await?;
    let key = tasks::insert(auth.scope(), w.txn(), task(TaskPurpose::ImportKey)).await?;
    let mut link_tasks = Vec::new();
    for _ in 0..links {
        let archive = task(TaskPurpose::ImportLinkArchive);
        let archive = tasks::insert(auth.scope(), w.txn(), archive).await?;
        let key = tasks::insert(auth.scope(), w.txn(), task(TaskPurpose::ImportLinkKey)).await?;
        link_tasks.push(LinkTasks {
            archive_task_id: archive.id.to_string(),
            key_task_id: key.id.to_string(),
        });
    }
    w.commit().await?;
    Ok(InitiateBackupImportResponse {
        backup_task_id: job.id.to_string(),
        archive_task_id: archive.id.to_string(),
        key_task_id: key.id.to_string(),
        timeout,
        link_tasks,
    })
}
