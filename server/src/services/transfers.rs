//! Transfers, independent of the transport (WebSocket frames or HTTP bodies):
//! task lookup, resumable uploads hashed while they stream (`upload`), and ranged downloads.
//!
//! An upload's bytes go to `<data_dir>/uploads/<task>.part`. A dropped connection keeps
//! them, so the next attempt resumes from any offset up to what is there (the hash of the
//! kept prefix is recomputed by reading it back, so memory stays flat). A size or hash
//! mismatch removes them. A complete, verified file moves into the blob store — unless the
//! tenant already has those bytes — and becomes a new revision in one transaction.
use std::path::PathBuf;

use api_spec::ErrorCode;
use api_spec::actions::TaskData;
use entity::transfer_task;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::names::parse_id;
use crate::app::AppState;

use crate::auth::{AuthContext, TenantScope};
use crate::error::{Error, Result, fail};
use crate::storage::blobs::ByteStream;
use crate::storage::tasks::{self, NewTask};
use crate::storage::{files, jobs};
use crate::time::{now_ms, to_secs};
use sha2::Digest;

/// Largest binary frame a download sends.
pub const DOWNLOAD_CHUNK: usize = 256 * 1024;

/// Creates a task and renders it for the client.
pub async fn new_task(
    state: &AppState,
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    new: NewTask,
) -> Result<TaskData> {
    let size_and_hash = match new.file_id {
        Some(id) => files::find(auth.scope(), db, id)
            .await?
            .map(|f| (f.size as u64, f.sha256)),
        None => None,
    };
    let task = tasks::insert(
        auth.scope(),
        db,
        NewTask {
            ttl_ms: state.config.task_ttl_secs as i64 * 1000,
            ..new
        },
    )
    .await?;
    Ok(TaskData {
        task_id: task.id.to_string(),
        start_time: to_secs(task.created_at),
        end_time: to_secs(task.expires_at),
        size: size_and_hash.as_ref().map(|(s, _)| *s),
        sha256: size_and_hash.map(|(_, h)| h),
    })
}

/// The caller's task of this mode, usable now. Another user's or tenant's task is
/// `task_not_found`, like a missing one.
pub async fn open_task(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    raw_id: &str,
    mode: tasks::TaskMode,
) -> Result<transfer_task::Model> {
    let id = parse_id(raw_id, ErrorCode::TaskNotFound)?;
    let task = tasks::find_for(auth.scope(), db, id, auth.user_id())
        .await?
        .ok_or_else(|| fail(ErrorCode::TaskNotFound))?;
    let replacing = mode == tasks::TaskMode::Upload && tasks::replaceable(&task);
    if task.mode != mode
        || (mode == tasks::TaskMode::Upload
            && task.status != tasks::TaskStatus::Pending
            && !replacing)
    {
        return Err(fail(ErrorCode::TaskNotUsable));
    }
    // An import's upload is replaced only while its job waits for it.
    if replacing {
        let job = match task.job_id {
            Some(id) => jobs::find(auth.scope(), db, id).await?,
            None => None,
        };
        if job.is_none_or(|j| j.status != jobs::JobState::Pending) {
            return Err(fail(ErrorCode::TaskNotUsable));
        }
    }
    if now_ms() > task.expires_at {
        return Err(fail(ErrorCode::TaskExpired));
    }
    Ok(task)
}

pub(crate) fn part_path(state: &AppState, task_id: Uuid) -> PathBuf {
    state
        .config
        .data_dir
        .join("uploads")
        .join(format!("{}.part", task_id.simple()))
}

pub(crate) fn io(context: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::Internal(format!("{context}: {e}"))
}

/// Bytes held for an upload task.
pub async fn received(state: &AppState, task_id: Uuid) -> u64 {
    tokio::fs::metadata(part_path(state, task_id))
        .await
        .map(|m| m.len())
        .unwrap_or(0)
}

/// An open download: the file and its bytes from `offset`.
pub struct Download {
    pub size: u64,
    pub sha256: String,
    pub offset: u64,
    pub stream: ByteStream,
}

/// Where the bytes a download task serves are.
enum Source {
    /// An object of a store (a file's blob, a backup's archive).
    Object(String),
    /// A key file, unsealed (small: at most `KEY_FILE_LIMIT` bytes).
    Bytes(zeroize::Zeroizing<Vec<u8>>),
}

/// Size, SHA-256 and source of what a download task serves.
async fn source(
    state: &AppState,
    auth: &AuthContext,
    task: &transfer_task::Model,
) -> Result<(u64, String, Source)> {
    let gone = || fail(ErrorCode::TaskNotFound);
    if let (Some(backup_id), Some(part)) = (task.backup_id, task.backup_part) {
        let backup = crate::storage::backups::find(auth.scope(), &state.db, backup_id)
            .await?
            .ok_or_else(gone)?;
        let tenant = auth.scope().tenant_id();
        if part == tasks::BackupPart::Key {
            let bytes = super::sealed_keys::read_key_file(state, tenant, backup_id).await?;
            let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
            return Ok((bytes.len() as u64, sha256, Source::Bytes(bytes)));
        }
        let key = crate::layout::archive_object(tenant, backup_id);
        let size = state.backup_store.size(&key).await?.ok_or_else(gone)?;
        let sha256 = backup.archive_sha256.unwrap_or_default();
        return Ok((size, sha256, Source::Object(key)));
    }
    let file_id = task.file_id.ok_or_else(|| fail(ErrorCode::TaskNotUsable))?;
    let file = files::find(auth.scope(), &state.db, file_id)
        .await?
        .ok_or_else(gone)?;
    Ok((
        file.size as u64,
        file.sha256,
        Source::Object(file.storage_key),
    ))
}

/// Opens the caller's download task at `offset` (and at most `end`, exclusive).
pub async fn begin_download(
    state: &AppState,
    auth: &AuthContext,
    raw_id: &str,
    offset: u64,
    end: Option<u64>,
) -> Result<Download> {
    let task = open_task(auth, &state.db, raw_id, tasks::TaskMode::Download).await?;
    let (size, sha256, source) = source(state, auth, &task).await?;
    let end = end.unwrap_or(size).min(size);
    if offset > end {
        return Err(fail(ErrorCode::InvalidOffset));
    }
    let stream: ByteStream = match source {
        Source::Bytes(bytes) => {
            let part = bytes::Bytes::copy_from_slice(&bytes[offset as usize..end as usize]);
            Box::pin(futures_util::stream::once(async move { Ok(part) }))
        }
        Source::Object(key) => {
            let store = state.store_of(&key);
            match store.read(&key, offset, end - offset).await {
                Ok(stream) => stream,
                // Gone since it was measured (a backup deleted meanwhile).
                Err(_) if matches!(store.size(&key).await, Ok(None)) => {
                    return Err(fail(ErrorCode::TaskNotFound));
                }
                Err(e) => return Err(e),
            }
        }
    };
    Ok(Download {
        size,
        sha256,
        offset,
        stream,
    })
}

/// Removes the blob stored under `key` for `sha256` unless a file row of the tenant uses it
/// (content-addressed keys are shared: another upload or an import may hold the same bytes).
pub async fn remove_if_unreferenced(
    state: &AppState,
    scope: &TenantScope,
    sha256: &str,
    key: &str,
) {
    if let Ok(None) = files::find_by_sha256(scope, &state.db, sha256).await
        && let Err(e) = state.blobs.delete(key).await
    {
        tracing::warn!(error = %e, "could not remove an unreferenced blob");
    }
}

/// Removes the blobs of files a committed transaction deleted.
pub async fn remove_blobs(state: &AppState, keys: Vec<String>) {
    for key in keys {
        if let Err(e) = state.blobs.delete(&key).await {
            tracing::warn!(error = %e, "could not remove an unreferenced blob");
        }
    }
}

/// Expires pending upload tasks past their deadline and removes their partial bytes.
pub async fn expire_uploads(state: &AppState) -> Result<usize> {
    let expired = tasks::expired_uploads(&state.db, now_ms()).await?;
    let ids: Vec<Uuid> = expired.iter().map(|t| t.id).collect();
    for id in &ids {
        let _ = tokio::fs::remove_file(part_path(state, *id)).await;
    }
    tasks::mark_expired(&state.db, &ids).await?;
    Ok(ids.len())
}

/// Removes this instance's part files that no upload can resume any more: their task ended
/// (expired or completed, possibly through another instance), or is gone. A replacement of
/// an import's upload keeps its part while the job waits for its uploads. Returns how many
/// it removed.
pub async fn sweep_parts(state: &AppState) -> Result<usize> {
    let Ok(mut entries) = tokio::fs::read_dir(state.config.data_dir.join("uploads")).await else {
        return Ok(0);
    };
    let mut removed = 0;
    while let Ok(Some(entry)) = entries.next_entry().await {
        let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_suffix(".part"))
            .and_then(|n| Uuid::parse_str(n).ok())
        else {
            continue;
        };
        if state
            .uploads
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
        {
            continue;
        }
        let resumable = match tasks::find_any(&state.db, id).await? {
            Some(task) if task.status == tasks::TaskStatus::Pending => true,
            Some(task) if tasks::replaceable(&task) => match task.job_id {
                Some(job) => jobs::find(&TenantScope::system(task.tenant_id), &state.db, job)
                    .await?
                    .is_some_and(|j| j.status == jobs::JobState::Pending),
                None => false,
            },
            _ => false,
        };
        if !resumable && tokio::fs::remove_file(entry.path()).await.is_ok() {
            removed += 1;
        }
    }
    Ok(removed)
}
