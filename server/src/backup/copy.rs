//! Copy jobs: every completed backup's archive goes to each destination of `backup_copies`
//! (README, *Where backups live*), one job per backup and destination, queued with the
//! backup's completion; any instance runs them. A copy is checked against the size and
//! SHA-256 the backup was written with by reading it back from the destination. A
//! destination that does not answer is not a failure: the job waits (30 s, doubling up to
//! an hour) and tries again. One that already holds the backup's bytes is not written again;
//! an append-only one is never overwritten or deleted from.
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use api_spec::ErrorCode;
use api_spec::jobs::{CopyParams, JobParams};
use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::TenantScope;
use crate::error::{Error, Result, fail};
use crate::layout::archive_object;
use crate::storage::backup_copies::{self, CopyState};
use crate::storage::backups;
use crate::storage::blobs::BlobStore;
use crate::storage::blobs::places::Copy;
use crate::storage::jobs::{self, Claim, JobKind, JobState};

/// The first wait before a copy tries again; it doubles with each attempt.
const FIRST_WAIT_MS: i64 = 30_000;
/// The longest wait between attempts.
const LONGEST_WAIT_MS: i64 = 3_600_000;

/// Queues backup `backup`'s copies, one job per destination (in `db`: the transaction that
/// records the backup complete).
pub async fn queue(
    state: &AppState,
    db: &impl sea_orm::ConnectionTrait,
    scope: &TenantScope,
    backup: Uuid,
    owner: Uuid,
) -> Result<()> {
    let names: Vec<String> = state.copies.iter().map(|c| c.name.clone()).collect();
    backup_copies::plan(scope, db, backup, &names).await?;
    for destination in names {
        let params = JobParams::Copy(CopyParams {
            backup_id: backup.to_string(),
            destination,
        });
        let new = jobs::NewJob {
            kind: JobKind::Copy,
            owner,
            status: JobState::Queued,
            deadline: None,
            params: Some(&params),
            reserved_for: None,
        };
        jobs::insert(scope, db, new).await?;
    }
    Ok(())
}

/// Why a copy is not made.
enum Miss {
    /// The destination did not answer, or what it keeps did not read back right: try again.
    Destination(String),
    /// The destination holds other bytes under the backup's name and may not be written.
    Refused(String),
    /// The backup's own archive is missing or not what was written.
    Source(Error),
}

/// Copies the backup of a claimed copy job to its destination and completes the job.
pub async fn run(
    state: &Arc<AppState>,
    job: &entity::job::Model,
    _: &Arc<AtomicBool>,
) -> Result<()> {
    let Some(JobParams::Copy(params)) = jobs::params_of(job) else {
        return Err(Error::Internal("a copy job without its parameters".into()));
    };
    let scope = TenantScope::system(job.tenant_id);
    let backup_id = Uuid::parse_str(&params.backup_id)
        .map_err(|_| Error::Internal(format!("a job names backup {:.40}", params.backup_id)))?;
    let claim = Claim::of(job);
    let destination = state.copies.iter().find(|c| c.name == params.destination);
    let backup = backups::find(&scope, &state.db, backup_id).await?;
    let (Some(destination), Some(backup)) = (destination, backup) else {
        // The destination is no longer configured, or the backup went: nothing to copy.
        let result = serde_json::json!({"skipped": true});
        jobs::complete(&scope, &state.db, &claim, result).await?;
        return Ok(());
    };
    let (Some(size), Some(sha256)) = (backup.archive_size, backup.archive_sha256.as_deref()) else {
        return Err(fail(ErrorCode::BackupNotReady));
    };
    let object = archive_object(job.tenant_id, backup_id);
    let at = (backup_id, params.destination.as_str());
    match copy(state, destination, &object, (size as u64, sha256)).await {
        Ok(()) => {
            let gone = backups::find(&scope, &state.db, backup_id).await?.is_none();
            if gone
                && !destination.append_only
                && let Err(e) = destination.store.delete(&object).await
            {
                // Deleted while it was copied: its copy goes too (or stays, said here).
                tracing::warn!(backup = %backup_id, destination = %destination.name, error = %e,
                    "could not remove the copy of a backup deleted meanwhile");
            }
            let (_turn, txn) = state.begin_write().await?;
            backup_copies::record(&scope, &txn, at, Ok(state.clock.now_ms())).await?;
            let result = serde_json::json!({"backup_id": params.backup_id,
                "destination": params.destination, "size": size});
            if !jobs::complete(&scope, &txn, &claim, result).await? {
                return Err(fail(ErrorCode::JobStateConflict));
            }
            txn.commit().await?;
            Ok(())
        }
        Err(Miss::Destination(cause)) => retry(state, &scope, at, cause).await,
        Err(Miss::Refused(cause)) => {
            let failure = Err((CopyState::Failed, cause.clone()));
            backup_copies::record(&scope, &state.db, at, failure).await?;
            tracing::error!(job = %job.id, %cause, "a copy cannot be made");
            Err(fail(ErrorCode::BackupCopyRefused))
        }
        Err(Miss::Source(e)) if e.code() == ErrorCode::HashMismatch => {
            // The stored archive is not what was written: no copy can be made of it.
            let failure = Err((CopyState::Failed, format!("the stored archive: {e}")));
            backup_copies::record(&scope, &state.db, at, failure).await?;
            Err(e)
        }
        Err(Miss::Source(e)) => {
            // The backup store did not answer: as a destination that does not.
            let cause = format!("reading the backup store: {e}");
            retry(state, &scope, at, cause).await
        }
    }
}

/// Records a failed attempt at copy `at` and answers when to try again: 30 s after the
/// first, doubling up to an hour.
async fn retry(
    state: &AppState,
    scope: &TenantScope,
    at: (Uuid, &str),
    cause: String,
) -> Result<()> {
    let failure = Err((CopyState::Pending, cause.clone()));
    backup_copies::record(scope, &state.db, at, failure).await?;
    let attempts = backup_copies::find(scope, &state.db, at.0, at.1)
        .await?
        .map_or(1, |c| c.attempts.max(1));
    let wait = FIRST_WAIT_MS
        .saturating_mul(1i64 << (attempts - 1).min(20))
        .min(LONGEST_WAIT_MS);
    Err(Error::RetryAt {
        at: state.clock.now_ms() + wait,
        cause,
    })
}

/// Removes copy scratch (`<data_dir>/tmp/.*.copy`) an hour old: of a run whose process
/// stopped under it. Returns how many files it removed.
pub fn sweep(state: &AppState) -> usize {
    let Ok(entries) = std::fs::read_dir(state.config.data_dir.join("tmp")) else {
        return 0;
    };
    let mut swept = 0;
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(3600));
        let ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with('.') && (n.ends_with(".copy") || n.ends_with(".move")));
        if stale && ours && std::fs::remove_file(entry.path()).is_ok() {
            swept += 1;
        }
    }
    swept
}

/// Puts `object` of the backup store at `to`, unless `to` holds it already, and reads it
/// back: it must be `size` bytes with SHA-256 `sha256`.
async fn copy(
    state: &AppState,
    to: &Copy,
    object: &str,
    (size, sha256): (u64, &str),
) -> std::result::Result<(), Miss> {
    let down = |e: Error| Miss::Destination(format!("{}: {e}", to.name));
    if let Some(held) = to.store.size(object).await.map_err(down)? {
        // Read back whole (a read that fails is the destination's, and tried again).
        let same = held == size && digest(&*to.store, object, size).await.map_err(down)? == sha256;
        if same {
            return Ok(());
        }
        if to.append_only {
            return Err(Miss::Refused(format!(
                "{} is append-only and holds other bytes under {object}",
                to.name
            )));
        }
    }
    let temp = fetch(state, object, (size, sha256)).await?;
    let put = to.store.put_file(object, &temp).await;
    let _ = tokio::fs::remove_file(&temp).await;
    put.map_err(down)?;
    to.store.sync().await.map_err(down)?;
    if digest(&*to.store, object, size).await.map_err(down)? != sha256 {
        return Err(Miss::Destination(format!(
            "{}: the copy of {object} does not read back as written",
            to.name
        )));
    }
    Ok(())
}

/// The SHA-256 of the first `size` bytes of `object` at `store` (marked as no match when it
/// is shorter); an error when it cannot be read.
async fn digest(store: &dyn BlobStore, object: &str, size: u64) -> Result<String> {
    let io = |e: std::io::Error| Error::Internal(format!("reading {object}: {e}"));
    let mut stream = store.read(object, 0, size).await?;
    let (mut hasher, mut read) = (Sha256::new(), 0u64);
    while let Some(chunk) = stream.try_next().await.map_err(io)? {
        read += chunk.len() as u64;
        hasher.update(&chunk);
    }
    let hash = hex::encode(hasher.finalize());
    Ok(if read == size {
        hash
    } else {
        format!("short:{hash}")
    })
}

/// `object` of the backup store as a local file under `<data_dir>/tmp/`, checked against
/// what the backup was written with.
async fn fetch(
    state: &AppState,
    object: &str,
    (size, sha256): (u64, &str),
) -> std::result::Result<PathBuf, Miss> {
    let source = |e: Error| Miss::Source(e);
    let io = |e: std::io::Error| Miss::Source(Error::Internal(format!("copying {object}: {e}")));
    let dir = state.config.data_dir.join("tmp");
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    let temp = dir.join(format!(".{}.copy", Uuid::new_v4().simple()));
    let written = async {
        let mut stream = state
            .backup_store
            .read(object, 0, size)
            .await
            .map_err(source)?;
        let mut file = tokio::fs::File::create(&temp).await.map_err(io)?;
        let (mut hasher, mut read) = (Sha256::new(), 0u64);
        while let Some(chunk) = stream.try_next().await.map_err(io)? {
            read += chunk.len() as u64;
            hasher.update(&chunk);
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        if read != size || hex::encode(hasher.finalize()) != sha256 {
            return Err(Miss::Source(fail(ErrorCode::HashMismatch)));
        }
        Ok(())
    };
    match written.await {
        Ok(()) => Ok(temp),
        Err(e) => {
            let _ = tokio::fs::remove_file(&temp).await;
            Err(e)
        }
    }
}

/// Removes backup `backup`'s archive from every destination that may be deleted from.
pub async fn remove_copies(state: &AppState, tenant: Uuid, backup: Uuid) {
    let object = archive_object(tenant, backup);
    for copy in state.copies.iter().filter(|c| !c.append_only) {
        if let Err(e) = copy.store.delete(&object).await {
            tracing::warn!(%backup, destination = %copy.name, error = %e,
                "could not remove a backup's copy");
        }
    }
}
