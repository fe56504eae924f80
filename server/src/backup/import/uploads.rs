//! An import's uploads in the object store (`layout::import_upload`): an upload to one of
//! the job's tasks is kept there once verified, whichever instance received it;
//! `start_backup_import` pins the pair it checked into the job's parameters, and any instance
//! runs the job from them. Everything under the job's prefixes goes when the job ends — by
//! the run, by `discard`, or by the reaper's sweep for a job no longer live.
use std::collections::HashSet;
use std::io::Read;
use std::sync::Arc;

use api_spec::ErrorCode;
use api_spec::jobs::ImportUploads;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::TenantScope;
use crate::backup::blob_reader::BlobReader;
use crate::error::{Result, fail};
use crate::layout::{IMPORT_UPLOADS, KEY_FILE_LIMIT, import_upload, import_uploads_of};
use crate::storage::blobs::read_small;
use crate::storage::{jobs, tasks};

fn incomplete() -> crate::error::Error {
    fail(ErrorCode::ImportUploadsIncomplete)
}

/// The uploads of job `job` as its tasks name them now: both completed, both in the store.
pub async fn current(state: &AppState, scope: &TenantScope, job: Uuid) -> Result<ImportUploads> {
    let uploads = tasks::of_job(scope, &state.db, job).await?;
    let object = |purpose: tasks::TaskPurpose| {
        let task = uploads
            .iter()
            .find(|t| t.purpose == purpose && t.status == tasks::TaskStatus::Completed)?;
        let sha256 = task.declared_sha256.as_deref()?;
        let key = purpose == tasks::TaskPurpose::ImportKey;
        Some(import_upload(job, task.id, sha256, key))
    };
    let (Some(archive), Some(key_file)) = (
        object(tasks::TaskPurpose::ImportArchive),
        object(tasks::TaskPurpose::ImportKey),
    ) else {
        return Err(incomplete());
    };
    if !state.blobs.exists(&archive).await? || !state.blobs.exists(&key_file).await? {
        return Err(incomplete());
    }
    // Every earlier link's archive and key, completed and kept.
    let (mut link_archives, mut link_keys) = (Vec::new(), Vec::new());
    for task in uploads.iter().filter(|t| {
        matches!(
            t.purpose,
            tasks::TaskPurpose::ImportLinkArchive | tasks::TaskPurpose::ImportLinkKey
        )
    }) {
        let sha256 = task
            .declared_sha256
            .as_deref()
            .filter(|_| task.status == tasks::TaskStatus::Completed);
        let object = import_upload(
            job,
            task.id,
            sha256.ok_or_else(incomplete)?,
            task.purpose.is_key(),
        );
        if !state.blobs.exists(&object).await? {
            return Err(incomplete());
        }
        match task.purpose.is_key() {
            true => link_keys.push(object),
            false => link_archives.push(object),
        }
    }
    Ok(ImportUploads {
        archive,
        key_file,
        link_archives,
        link_keys,
    })
}

/// The bytes of the uploaded key file (or, for a restore, the stored backup's, unsealed).
pub async fn read_key_file(state: &AppState, uploads: &ImportUploads) -> Result<Vec<u8>> {
    if let Some((tenant, backup)) = crate::layout::stored_key(&uploads.key_file) {
        let bytes = crate::backup::stored::find_key_file(state, tenant, backup).await?;
        return bytes.map(|b| b.to_vec()).ok_or_else(incomplete);
    }
    read_small(
        &**state.store_of(&uploads.key_file),
        &uploads.key_file,
        KEY_FILE_LIMIT,
    )
    .await?
    .ok_or_else(incomplete)
}

/// The uploaded archive as a blocking reader (for a blocking thread), and its size.
pub async fn open_archive(
    state: &AppState,
    uploads: &ImportUploads,
) -> Result<(impl Read + Send + 'static, u64)> {
    let blobs = Arc::clone(state.store_of(&uploads.archive));
    let size = blobs.size(&uploads.archive).await?.ok_or_else(incomplete)?;
    let archive = uploads.archive.clone();
    let rt = tokio::runtime::Handle::current();
    let reader = tokio::task::spawn_blocking(move || {
        BlobReader::open(&rt, blobs.as_ref(), &archive, size).map_err(|_| incomplete())
    })
    .await??;
    Ok((reader, size))
}

/// Removes every upload kept for job `job` (the pinned pair, replaced ones, strays).
pub async fn remove(state: &AppState, job: Uuid) {
    for prefix in import_uploads_of(job) {
        match state.blobs.list(&prefix).await {
            Ok(keys) => {
                for key in keys {
                    if let Err(e) = state.blobs.delete(&key).await {
                        tracing::warn!(%job, error = %e, "could not remove an import upload");
                    }
                }
            }
            Err(e) => tracing::warn!(%job, error = %e, "could not list an import's uploads"),
        }
    }
}

/// Removes the uploads kept for import jobs that are no longer live (ended on an instance
/// that stopped before it removed them, or stored after their job ended). Returns how many
/// jobs it cleaned up after.
pub async fn sweep(state: &AppState) -> Result<usize> {
    let mut jobs_seen = HashSet::new();
    for prefix in IMPORT_UPLOADS {
        for key in state.blobs.list(prefix).await? {
            let job = key
                .strip_prefix(prefix)
                .and_then(|rest| rest.split('/').next());
            if let Some(Ok(job)) = job.map(Uuid::parse_str) {
                jobs_seen.insert(job);
            }
        }
    }
    let mut swept = 0;
    for job in jobs_seen {
        if !jobs::is_live(&state.db, job).await? {
            remove(state, job).await;
            swept += 1;
        }
    }
    Ok(swept)
}
