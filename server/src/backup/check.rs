//! Verification of stored backups as a job (BACKUP_IMPORT.md §2.1): after a backup is made,
//! when its tenant's policy says `verify_after`, and for every stored backup on the policy's
//! drill schedule. The bytes are read as the store keeps them. With a key the server holds,
//! every segment's MAC, the manifests and every blob's hash are checked (`verify`); when a
//! passphrase wraps the key (which the server never keeps), the archive's SHA-256 is checked
//! against the one recorded when it was written. Either way the archive's size and SHA-256
//! must be those recorded. The outcome is recorded on the backup; a failure is announced
//! (`backup_verify_failed`), audited and counted.
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use api_spec::ErrorCode;
use api_spec::events::{BACKUP_VERIFY_FAILED, BackupVerifyFailed};
use api_spec::jobs::{JobParams, VerifyCause, VerifyParams};
use api_spec::permissions::EXPORT_BACKUP;
use entity::{backup, job};
use sha2::Digest;
use uuid::Uuid;

use super::blob_reader::BlobReader;
use super::keys::KeyFile;
use super::{prune, stored, verify};
use crate::app::AppState;
use crate::auth::TenantScope;
use crate::error::{Error, Result, fail};
use crate::events::Audience;
use crate::layout::archive_object;
use crate::storage::audit::{self, NewEntry};
use crate::storage::backups;
use crate::storage::jobs::{self, Claim, JobKind, JobState};

/// Queues a verification of backup `backup` (owned by `owner`) and wakes the runners.
pub async fn queue(
    state: &AppState,
    scope: &TenantScope,
    owner: Uuid,
    backup: Uuid,
    cause: VerifyCause,
) -> Result<Uuid> {
    let params = JobParams::Verify(VerifyParams {
        backup_id: backup.to_string(),
        cause,
    });
    let new = jobs::NewJob {
        kind: JobKind::Verify,
        owner,
        status: JobState::Queued,
        deadline: None,
        params: Some(&params),
        reserved_for: None,
    };
    let job = jobs::insert(scope, &state.db, new).await?;
    state.jobs.queued(state);
    Ok(job.id)
}

/// Runs a claimed verify job: checks the backup, records the outcome, and completes the job
/// — or, when the backup is not good, records that, announces and audits it, and fails.
pub async fn run(state: &Arc<AppState>, job: &job::Model, cancel: &Arc<AtomicBool>) -> Result<()> {
    let Some(JobParams::Verify(params)) = jobs::params_of(job) else {
        return Err(Error::Internal(
            "a verify job without its parameters".into(),
        ));
    };
    let scope = TenantScope::system(job.tenant_id);
    let id = Uuid::parse_str(&params.backup_id)
        .map_err(|_| Error::Internal("a verify job names no backup".into()))?;
    let backup = backups::find(&scope, &state.db, id)
        .await?
        .ok_or_else(|| fail(ErrorCode::BackupNotFound))?;
    if backup.status != backups::COMPLETED {
        return Err(fail(ErrorCode::BackupNotReady));
    }
    let outcome = check(state, &backup, cancel).await;
    if cancel.load(Ordering::SeqCst) {
        // Ended elsewhere: this run records nothing.
        return Err(fail(ErrorCode::JobStateConflict));
    }
    let now = state.clock.now_ms();
    match outcome {
        Ok((method, size)) => {
            state.metrics.bytes(crate::metrics::Flow::Verified, size);
            let result = serde_json::json!({"backup_id": id.to_string(), "verified": true,
                "method": method});
            // Still this run's job, then recorded.
            if !jobs::complete(&scope, &state.db, &Claim::of(job), result).await? {
                return Err(fail(ErrorCode::JobStateConflict));
            }
            backups::set_verification(&scope, &state.db, id, backups::GOOD, now, None).await?;
            if params.cause == VerifyCause::AfterBackup {
                // Good now: the policy's retention counts it.
                prune::after_backup(state, &scope).await;
            }
            Ok(())
        }
        // What the stored bytes are, or lack: the backup is not good. (Anything else — the
        // store or the database not answering, the backup deleted meanwhile — fails the
        // job and leaves the backup's verification as it was.)
        Err(e)
            if damaged(e.code())
                && backups::find(&scope, &state.db, id).await?.is_some()
                && jobs::lost(&state.db, &[Claim::of(job)]).await?.is_empty() =>
        {
            failed(state, &scope, job, &backup, params.cause, e.code(), now).await;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Whether a verification's error says the stored backup is damaged (or its key file is).
pub fn damaged(code: ErrorCode) -> bool {
    use ErrorCode::*;
    matches!(
        code,
        HashMismatch
            | BackupTruncated
            | BackupMacMismatch
            | BackupManifestInvalid
            | BackupManifestMismatch
            | BackupBlobMismatch
            | BackupNotAnArchive
            | BackupUnsupportedVersion
            | BackupHeaderInvalid
            | BackupWrongKey
            | BackupKeyInvalid
            | BackupSegmentOutOfOrder
            | BackupTrailingData
    )
}

/// Records, audits, counts and announces a failed verification.
async fn failed(
    state: &AppState,
    scope: &TenantScope,
    job: &job::Model,
    b: &backup::Model,
    cause: VerifyCause,
    code: ErrorCode,
    now: i64,
) {
    let error = crate::jobs::code_str(code);
    let failed = backups::VERIFY_FAILED;
    if let Err(e) =
        backups::set_verification(scope, &state.db, b.id, failed, now, Some(&error)).await
    {
        tracing::warn!(backup = %b.id, error = %e, "could not record a failed verification");
    }
    tracing::warn!(backup = %b.id, tenant = %scope.tenant_id(), %error, "a stored backup failed verification");
    let entry = NewEntry {
        username: None,
        action: BACKUP_VERIFY_FAILED.to_owned(),
        target: Some(b.id.to_string()),
        data: Some(serde_json::json!({"error": error, "cause": cause, "name": b.name})),
        result: code.status(),
        remote_address: None,
    };
    if let Err(e) = audit::insert(scope, &state.db, entry).await {
        tracing::warn!(backup = %b.id, error = %e, "could not audit a failed verification");
    }
    state.metrics.verify_failed(scope.tenant_id());
    // Announced last: a listener that reacts finds the failure recorded, audited and counted.
    let event = BackupVerifyFailed {
        backup_id: b.id.to_string(),
        backup_task_id: job.id.to_string(),
        cause,
        error,
    };
    state.events.publish(
        scope.tenant_id(),
        Audience::Permission(EXPORT_BACKUP),
        BACKUP_VERIFY_FAILED,
        &event,
    );
}

/// Checks backup `b`'s bytes as stored; says how (`full` or `sha256`) and how many bytes.
async fn check(
    state: &AppState,
    b: &backup::Model,
    cancel: &Arc<AtomicBool>,
) -> Result<(&'static str, u64)> {
    let tenant = b.tenant_id;
    let file = KeyFile::parse(&stored::read_key_file(state, tenant, b.id).await?)?;
    // A passphrase or an identity the server does not keep: only the bytes can be checked.
    let key = match file.needs_secret() {
        true => None,
        false => Some(state.unlocker.unlock(tenant, file, None).await?),
    };
    let object = archive_object(tenant, b.id);
    let size = state
        .blobs
        .size(&object)
        .await?
        .ok_or_else(|| fail(ErrorCode::BackupTruncated))?;
    let (blobs, rt) = (Arc::clone(&state.blobs), tokio::runtime::Handle::current());
    let (expected_size, expected_sha) = (b.archive_size, b.archive_sha256.clone());
    if key.is_none() && (expected_size.is_none() || expected_sha.is_none()) {
        // Nothing to check the bytes against without the passphrase: left unverified.
        return Err(fail(ErrorCode::BackupPassphraseRequired));
    }
    let cancel = Arc::clone(cancel);
    tokio::task::spawn_blocking(move || {
        let mut reader = BlobReader::open(&rt, blobs.as_ref(), &object, size)?;
        let method = match &key {
            Some(key) => {
                let counted = Cancellable {
                    inner: &mut reader,
                    cancel: &cancel,
                };
                verify::verify(
                    std::io::BufReader::with_capacity(1 << 20, counted),
                    key,
                    |_| {},
                )?;
                "full"
            }
            None => "sha256",
        };
        let mut rest = Cancellable {
            inner: &mut reader,
            cancel: &cancel,
        };
        // A read that fails is the store's hiccup, not the archive's damage (a short archive
        // is caught by the count below).
        std::io::copy(&mut rest, &mut std::io::sink())
            .map_err(|e| Error::Internal(format!("reading a stored archive: {e}")))?;
        if expected_size.is_some_and(|s| s as u64 != reader.count) {
            return Err(fail(ErrorCode::BackupTruncated));
        }
        let sha256 = hex::encode(reader.hasher.clone().finalize());
        if expected_sha.is_some_and(|s| s != sha256) {
            return Err(fail(ErrorCode::HashMismatch));
        }
        Ok((method, reader.count))
    })
    .await?
}

/// A reader that fails once its job's cancel flag is raised.
struct Cancellable<'a, R> {
    inner: &'a mut R,
    cancel: &'a AtomicBool,
}

impl<R: Read> Read for Cancellable<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("verification cancelled"));
        }
        self.inner.read(buf)
    }
}
