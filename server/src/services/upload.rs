//! One upload attempt: started (or resumed) from a header, fed chunks, then verified and
//! published as a new revision. See `transfers` for the part-file scheme.
use std::io::SeekFrom;
use std::path::PathBuf;
use std::sync::Arc;

use api_spec::ErrorCode;
use api_spec::actions::{UploadFileResponse, UploadHeader};
use entity::{file, transfer_task};
use sea_orm::DatabaseTransaction;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::part::PartWriter;
use super::transfers::{io, part_path, received};
use crate::app::AppState;
use crate::app::uploads::UploadSlot;
use crate::auth::{AuthContext, TenantScope};
use crate::error::{Error, Result, fail, field_error};
use crate::layout;
use crate::storage::blobs::blob_key;
use crate::storage::{documents, files};
use crate::storage::{jobs, tasks};
use crate::time::now_ms;

/// Buffer for re-hashing a kept prefix.
const REHASH_CHUNK: usize = 1024 * 1024;

/// One upload attempt in progress.
pub struct Upload {
    task: transfer_task::Model,
    path: PathBuf,
    part: PartWriter,
    received: u64,
    size: u64,
    declared_sha256: Option<String>,
}

/// Starts (or resumes) an upload attempt for `task` as `header` describes.
pub async fn begin_upload(
    state: &Arc<AppState>,
    task: transfer_task::Model,
    header: &UploadHeader,
) -> Result<Upload> {
    // A key file is a few hundred bytes; refuse anything that cannot be one.
    let limit = if task.purpose.is_key() {
        layout::KEY_FILE_LIMIT
    } else {
        state.config.max_upload_bytes
    };
    if header.file_size > limit {
        return Err(fail(ErrorCode::TooLarge));
    }
    let declared_sha256 = header.sha256.as_ref().map(|h| h.to_ascii_lowercase());
    if declared_sha256
        .as_ref()
        .is_some_and(|h| h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit()))
    {
        return Err(field_error(ErrorCode::InvalidField, "sha256"));
    }
    if !state
        .uploads
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(task.id)
    {
        return Err(fail(ErrorCode::TaskNotUsable));
    }
    let slot = UploadSlot {
        uploads: Arc::clone(state),
        task_id: task.id,
    };
    let path = part_path(state, task.id);
    let held = received(state, task.id).await;
    let offset = header.offset.unwrap_or(0);
    if offset > held || offset > header.file_size {
        return Err(Error::Transfer {
            code: ErrorCode::InvalidOffset,
            received: held,
        });
    }
    let (file, hasher) = open_part(state, &path, offset).await?;
    Ok(Upload {
        task,
        path,
        part: PartWriter::new(file, hasher, slot),
        received: offset,
        size: header.file_size,
        declared_sha256,
    })
}

/// Opens the part file at `path` cut to `offset` bytes, and the hash of those bytes (read
/// back in chunks, so memory stays flat), positioned to append.
async fn open_part(
    state: &AppState,
    path: &std::path::Path,
    offset: u64,
) -> Result<(std::fs::File, Sha256)> {
    tokio::fs::create_dir_all(path.parent().unwrap_or(&state.config.data_dir))
        .await
        .map_err(io("creating upload dir"))?;
    // The server's files are its own: an import's key file may hold a key in clear, and a
    // part becomes the stored object by a rename, so it is 0600 from its creation.
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .await
        .map_err(io("opening upload"))?;
    file.set_len(offset)
        .await
        .map_err(io("truncating upload"))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; REHASH_CHUNK];
    let mut left = offset;
    file.seek(SeekFrom::Start(0))
        .await
        .map_err(io("rewinding upload"))?;
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = file
            .read(&mut buf[..want])
            .await
            .map_err(io("re-reading upload"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    file.seek(SeekFrom::Start(offset))
        .await
        .map_err(io("seeking upload"))?;
    Ok((file.into_std().await, hasher))
}

impl Upload {
    /// Bytes still expected.
    pub fn remaining(&self) -> u64 {
        self.size - self.received
    }

    /// Bytes held so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Appends a chunk; more bytes than declared is a size mismatch (the data is removed).
    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        if chunk.len() as u64 > self.remaining() {
            self.discard().await;
            return Err(Error::Transfer {
                code: ErrorCode::SizeMismatch,
                received: 0,
            });
        }
        self.part.push(chunk).await.map_err(io("writing upload"))?;
        self.received += chunk.len() as u64;
        Ok(())
    }

    async fn discard(&self) {
        let _ = tokio::fs::remove_file(&self.path).await;
    }

    /// Ends the attempt early, keeping what arrived for a later resume.
    pub async fn suspend(mut self) -> u64 {
        match self.part.drain().await {
            Ok(()) => self.received,
            // What could not be written is not held: report what the file has.
            Err(_) => tokio::fs::metadata(&self.path).await.map_or(0, |m| m.len()),
        }
    }

    /// Ends the attempt early with `code`, keeping what arrived for a resume: the error to
    /// answer, carrying the byte count the client resumes from.
    pub async fn stop(self, code: ErrorCode) -> Error {
        let received = self.suspend().await;
        Error::Transfer { code, received }
    }

    /// Verifies size and hash and publishes the content as a new revision.
    pub async fn finish(
        mut self,
        state: &AppState,
        auth: &AuthContext,
    ) -> Result<UploadFileResponse> {
        let hasher = self.part.finish().await.map_err(io("writing upload"))?;
        if self.received != self.size {
            self.discard().await;
            return Err(Error::Transfer {
                code: ErrorCode::SizeMismatch,
                received: 0,
            });
        }
        let sha256 = hex::encode(hasher.finalize());
        if self.declared_sha256.as_ref().is_some_and(|d| *d != sha256) {
            self.discard().await;
            return Err(Error::Transfer {
                code: ErrorCode::HashMismatch,
                received: 0,
            });
        }
        let result = if self.task.job_id.is_some() {
            stage_import(state, auth, &self, &sha256).await
        } else {
            publish(state, auth, &self, &sha256).await
        };
        // Whatever happened, the part file is not needed again: it was moved into the blob
        // store, or duplicates a stored blob, or the task can no longer complete.
        if result
            .as_ref()
            .is_err_and(|e| e.code() == ErrorCode::Internal)
        {
            return result;
        }
        self.discard().await;
        result
    }
}

/// The reply a document upload already had, when `task_id` is the caller's upload, not yet
/// expired, that completed with the file the request declares (`size` and `sha256`; the
/// request's body is not read): its reply was lost with the connection, and the client,
/// resuming, asks again. The reply is made from the task's row (the revision it published).
/// `None` in every other case, for the caller to refuse as before. An import's upload is
/// not answered so: while its job waits, sending it again replaces it.
pub async fn completed_with(
    state: &AppState,
    auth: &AuthContext,
    task_id: &str,
    size: u64,
    sha256: Option<&str>,
) -> Result<Option<UploadFileResponse>> {
    let (Ok(id), Some(sha256)) = (uuid::Uuid::parse_str(task_id), sha256) else {
        return Ok(None);
    };
    let sha256 = sha256.to_ascii_lowercase();
    let scope = auth.scope();
    let Some(task) = tasks::find_for(scope, &state.db, id, auth.user_id()).await? else {
        return Ok(None);
    };
    let same = task.mode == tasks::TaskMode::Upload
        && task.status == tasks::TaskStatus::Completed
        && now_ms() <= task.expires_at
        && [tasks::TaskPurpose::Document, tasks::TaskPurpose::Revision].contains(&task.purpose)
        && task.declared_size == i64::try_from(size).ok()
        && task.declared_sha256.as_deref() == Some(sha256.as_str());
    let (true, Some(document_id), Some(revision_id)) = (same, task.document_id, task.revision_id)
    else {
        return Ok(None);
    };
    Ok(Some(UploadFileResponse {
        task_id: task.id.to_string(),
        file_size: size,
        sha256,
        document_id: Some(document_id.to_string()),
        revision_id: Some(revision_id.to_string()),
    }))
}

/// An import's archive or key: kept in the object store under its job's prefix (never among
/// the blobs) until the job ends, named by task and content (`layout::import_upload`). The
/// job must still be waiting for its uploads.
async fn stage_import(
    state: &AppState,
    auth: &AuthContext,
    upload: &Upload,
    sha256: &str,
) -> Result<UploadFileResponse> {
    let scope = auth.scope();
    let job_id = upload
        .task
        .job_id
        .ok_or_else(|| fail(ErrorCode::TaskNotUsable))?;
    let job = jobs::find(scope, &state.db, job_id).await?;
    if job.is_none_or(|j| j.status != jobs::JobState::Pending) {
        return Err(fail(ErrorCode::TaskNotUsable));
    }
    let key = upload.task.purpose.is_key();
    let object = layout::import_upload(job_id, upload.task.id, sha256, key);
    state.blobs.put_file(&object, &upload.path).await?;
    state.blobs.sync().await?;
    if !tasks::complete(scope, &state.db, upload.task.id, upload.size, sha256).await? {
        // The job ended (and its task expired) while the bytes arrived.
        let _ = state.blobs.delete(&object).await;
        return Err(fail(ErrorCode::TaskNotUsable));
    }
    Ok(UploadFileResponse {
        task_id: upload.task.id.to_string(),
        file_size: upload.size,
        sha256: sha256.to_owned(),
        document_id: None,
        revision_id: None,
    })
}

/// Stores the verified bytes (once per tenant and hash) and records the revision.
///
/// The bytes go into the store before the transaction, so a slow copy never holds the
/// database's write lock; the transaction completes the task first, so a task completes
/// once. Bytes put for a revision that does not commit are removed unless another row uses
/// the same content.
async fn publish(
    state: &AppState,
    auth: &AuthContext,
    upload: &Upload,
    sha256: &str,
) -> Result<UploadFileResponse> {
    let scope = auth.scope();
    let key = blob_key(scope.tenant_id(), sha256);
    let mut stored = false;
    if files::find_by_sha256(scope, &state.db, sha256)
        .await?
        .is_none()
    {
        state.blobs.put_file(&key, &upload.path).await?;
        stored = true;
    }
    let mut w = state.write().await?;
    let result = record(state, scope, w.txn(), upload, sha256, &key, &mut stored).await;
    let committed = match result {
        Ok((doc, revision)) => {
            let change = api_spec::events::Change::ContentChanged;
            super::events::document_changed(&mut w, auth, &doc, change);
            w.commit().await.map(|()| (doc, revision))
        }
        Err(e) => Err(e),
    };
    match committed {
        Ok((doc, revision)) => Ok(UploadFileResponse {
            task_id: upload.task.id.to_string(),
            file_size: upload.size,
            sha256: sha256.to_owned(),
            document_id: Some(doc.id.to_string()),
            revision_id: Some(revision.id.to_string()),
        }),
        Err(e) => {
            if stored {
                super::transfers::remove_if_unreferenced(state, scope, sha256, &key).await;
            }
            Err(e)
        }
    }
}

/// The rows of a published upload: task completed, file (shared by content), revision, and
/// the document's new current revision.
async fn record(
    state: &AppState,
    scope: &TenantScope,
    txn: &DatabaseTransaction,
    upload: &Upload,
    sha256: &str,
    key: &str,
    stored: &mut bool,
) -> Result<(entity::document::Model, entity::revision::Model)> {
    if !tasks::complete(scope, txn, upload.task.id, upload.size, sha256).await? {
        return Err(fail(ErrorCode::TaskNotUsable));
    }
    let file: file::Model = match files::find_by_sha256(scope, txn, sha256).await? {
        Some(existing) => existing,
        None => {
            if !*stored {
                // The row that held this content went after we looked: store the bytes.
                state.blobs.put_file(key, &upload.path).await?;
                *stored = true;
            }
            files::insert(scope, txn, sha256, upload.size, key).await?
        }
    };
    let document_id = upload
        .task
        .document_id
        .ok_or_else(|| fail(ErrorCode::TaskNotUsable))?;
    let mut doc = documents::find(scope, txn, document_id)
        .await?
        .ok_or_else(|| fail(ErrorCode::DocumentNotFound))?;
    let revision =
        files::insert_revision(scope, txn, doc.id, file.id, doc.current_revision_id).await?;
    // The reply is given again for a task's lifetime from now, even to an upload that
    // finished past its task's deadline.
    let ttl_ms = i64::try_from(state.config.task_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let kept = upload.task.expires_at.max(now_ms().saturating_add(ttl_ms));
    tasks::set_revision(scope, txn, upload.task.id, revision.id, kept).await?;
    doc.current_revision_id = Some(revision.id);
    documents::update(scope, txn, doc.clone()).await?;
    Ok((doc, revision))
}
