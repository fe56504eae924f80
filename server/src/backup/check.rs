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
use super::links::StoreLinks;
use super::stored;
use crate::app::AppState;
use crate::archive::keys::{BoundKey, KeyFile};
use crate::archive::{chain, verify};
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
    if backup.status != backups::BackupStatus::Completed {
        return Err(fail(ErrorCode::BackupNotReady));
    }
    let outcome = match held_key(state, &backup).await {
        Ok(key) => check(state, &backup, (key, Secrets::default()), cancel).await,
        Err(e) => Err(e),
    };
    if cancel.load(Ordering::SeqCst) {
        // Ended elsewhere: this run records nothing.
        return Err(fail(ErrorCode::JobStateConflict));
    }
    let now = state.clock.now_ms();
    match outcome {
        Ok(checked) => {
            let result = serde_json::json!({"backup_id": id.to_string(), "verified": true,
                "method": checked.method});
            // Still this run's job, then recorded.
            if !jobs::complete(&scope, &state.db, &Claim::of(job), result).await? {
                return Err(fail(ErrorCode::JobStateConflict));
            }
            backups::set_verification(
                &scope,
                &state.db,
                id,
                backups::Verification::Good,
                now,
                None,
            )
            .await?;
            if params.cause == VerifyCause::AfterBackup {
                // Good now: the policy's retention counts it.
                state.jobs.backup_verified(state, &scope).await;
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
            let by = Verifier {
                cause: params.cause,
                job: Some(job.id),
            };
            failed(state, &scope, &backup, by, e.code(), now).await;
            link_failed(state, &scope, &e, by, now).await;
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
            | BackupChainBroken
    )
}

/// `verify_backup`: checks backup `b` now, with the key its key file and the caller's
/// secret (a passphrase, or a write-only backup's identity) open, and records the outcome
/// as a verify job does: good, or failed — recorded, audited, counted and announced — when
/// the stored bytes are damaged. A failure that says nothing about the stored bytes (a wrong
/// passphrase, a store that does not answer) changes nothing.
pub async fn on_request(
    state: &Arc<AppState>,
    scope: &TenantScope,
    b: &backup::Model,
    passphrase: Option<String>,
    identity: Option<String>,
) -> Result<verify::Summary> {
    let file = KeyFile::parse(&stored::read_key_file(state, b.tenant_id, b.id).await?)?;
    let secrets = Secrets {
        passphrase: passphrase.clone(),
        identity: identity.clone(),
    };
    let secret = file
        .pick_secret(passphrase, identity)
        .map(zeroize::Zeroizing::new);
    let key = state.unlocker.unlock(b.tenant_id, file, secret).await?;
    let not_cancelled = Arc::new(AtomicBool::new(false));
    let outcome = check(state, b, (Some(key), secrets), &not_cancelled).await;
    let now = state.clock.now_ms();
    match &outcome {
        Ok(_) => {
            backups::set_verification(
                scope,
                &state.db,
                b.id,
                backups::Verification::Good,
                now,
                None,
            )
            .await?
        }
        // As a job does: a backup deleted meanwhile has nothing to record.
        Err(e) if damaged(e.code()) && backups::find(scope, &state.db, b.id).await?.is_some() => {
            let by = Verifier {
                cause: VerifyCause::Request,
                job: None,
            };
            failed(state, scope, b, by, e.code(), now).await;
            link_failed(state, scope, e, by, now).await;
        }
        Err(_) => {}
    }
    outcome?
        .summary
        .ok_or_else(|| Error::Internal("a full verification without its summary".into()))
}

/// When a chain broke at an earlier link: records, audits, counts and announces that link's
/// failed verification too (it is no one's base any more).
async fn link_failed(state: &AppState, scope: &TenantScope, e: &Error, by: Verifier, now: i64) {
    let Error::AboutBackup {
        code: code @ ErrorCode::BackupChainBroken,
        backup_id,
    } = e
    else {
        return;
    };
    let Ok(id) = Uuid::parse_str(backup_id) else {
        return;
    };
    if let Ok(Some(link)) = backups::find(scope, &state.db, id).await {
        failed(state, scope, &link, by, *code, now).await;
    }
}

/// Who verified a backup: why, and the verify job, if a job did.
#[derive(Clone, Copy)]
struct Verifier {
    cause: VerifyCause,
    job: Option<Uuid>,
}

/// Records, audits, counts and announces a failed verification.
async fn failed(
    state: &AppState,
    scope: &TenantScope,
    b: &backup::Model,
    by: Verifier,
    code: ErrorCode,
    now: i64,
) {
    let cause = by.cause;
    let error = crate::jobs::code_str(code);
    let failed = backups::Verification::Failed;
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
        backup_task_id: by.job.map(|id| id.to_string()),
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

/// The key of backup `b` when the server can open its key file alone; None when a
/// passphrase or an identity the server does not keep is needed.
async fn held_key(state: &AppState, b: &backup::Model) -> Result<Option<BoundKey>> {
    let file = KeyFile::parse(&stored::read_key_file(state, b.tenant_id, b.id).await?)?;
    Ok(match file.needs_secret() {
        true => None,
        false => Some(state.unlocker.unlock(b.tenant_id, file, None).await?),
    })
}

/// What checking a stored backup found: how it was checked (`full`, or `sha256` without
/// the key), how many bytes, and with the key what the archive holds.
struct Checked {
    method: &'static str,
    size: u64,
    summary: Option<verify::Summary>,
}

/// The secrets a request gave, for the earlier links of a chain.
#[derive(Default)]
struct Secrets {
    passphrase: Option<String>,
    identity: Option<String>,
}

/// Checks backup `b`'s bytes as stored: with `key`, every MAC, manifest and blob, and for
/// an incremental backup its whole chain (each earlier link opened as `secrets` allow);
/// with or without it, the size and SHA-256 recorded when it was written. The one check
/// behind the verify jobs and `verify_backup`; counts the bytes verified.
async fn check(
    state: &Arc<AppState>,
    b: &backup::Model,
    (key, secrets): (Option<BoundKey>, Secrets),
    cancel: &Arc<AtomicBool>,
) -> Result<Checked> {
    let tenant = b.tenant_id;
    let object = archive_object(tenant, b.id);
    let size = state
        .backup_store
        .size(&object)
        .await?
        .ok_or_else(|| fail(ErrorCode::BackupTruncated))?;
    let (blobs, rt) = (
        Arc::clone(&state.backup_store),
        tokio::runtime::Handle::current(),
    );
    let (expected_size, expected_sha) = (b.archive_size, b.archive_sha256.clone());
    if key.is_none() && (expected_size.is_none() || expected_sha.is_none()) {
        // Nothing to check the bytes against without the passphrase: left unverified.
        return Err(fail(ErrorCode::BackupPassphraseRequired));
    }
    let cancel = Arc::clone(cancel);
    let mut links = StoreLinks::new(state, rt.clone(), tenant);
    (links.passphrase, links.identity) = (secrets.passphrase, secrets.identity);
    let link = b.base_backup_id.is_some();
    let checked = tokio::task::spawn_blocking(move || {
        let mut reader = BlobReader::open(&rt, blobs.as_ref(), &object, size)?;
        let summary = match &key {
            Some(key) => {
                let counted = Cancellable {
                    inner: &mut reader,
                    cancel: &cancel,
                };
                let archive = std::io::BufReader::with_capacity(1 << 20, counted);
                Some(match link {
                    true => chain::verify(archive, key, &mut links, |_| {})?.0,
                    false => verify::verify(archive, key, |_| {})?,
                })
            }
            None => None,
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
        Ok(Checked {
            method: if summary.is_some() { "full" } else { "sha256" },
            size: reader.count,
            summary,
        })
    })
    .await??;
    state
        .metrics
        .bytes(crate::app::counters::Flow::Verified, checked.size);
    Ok(checked)
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
