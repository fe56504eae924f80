use api_spec::ErrorCode;
use api_spec::actions::{RestoreBackupRequest, StartBackupImportResponse};
use api_spec::jobs::{ImportMode, ImportParams, ImportUploads, JobParams, KeySource, OnConflict};

use crate::actions::Call;
use crate::backup::import::start;
use crate::error::{Result, fail};
use crate::layout::{archive_object, key_object};
use crate::services::names::parse_id;
use crate::storage::{backups, jobs};
use crate::time::now_ms;

/// How long the job waits to be queued (only while this request checks key and options).
const PENDING_MS: i64 = 600_000;

/// Imports a completed backup of the caller's tenant from where the server keeps it: an
/// import job like one `start_backup_import` queues, without uploads. A refused request
/// leaves no job.
pub async fn run(call: Call, req: RestoreBackupRequest) -> Result<StartBackupImportResponse> {
    let (auth, state) = (call.auth()?, &call.state);
    let id = parse_id(&req.backup_id, ErrorCode::BackupNotFound)?;
    let backup = backups::find(auth.scope(), &state.db, id)
        .await?
        .ok_or_else(|| fail(ErrorCode::BackupNotFound))?;
    if backup.status != backups::BackupStatus::Completed {
        return Err(fail(ErrorCode::BackupNotReady));
    }
    let tenant = auth.scope().tenant_id();
    let objects = ImportUploads {
        archive: archive_object(tenant, backup.id),
        key_file: key_object(tenant, backup.id),
        ..ImportUploads::default()
    };
    // The backup it reads is named from the start, so retention leaves it alone while the
    // key and options are checked (`lifecycle::prune`); `start::queue` writes the rest.
    let reading = JobParams::Import(ImportParams {
        mode: ImportMode::Merge,
        on_conflict: OnConflict::Rename,
        dry_run: false,
        allow_legacy: false,
        key: KeySource::KeyFile,
        uploads: Some(objects.clone()),
        select: Vec::new(),
        target_folder_id: None,
    });
    let job = start::pending(&state.db, auth, now_ms() + PENDING_MS, Some(&reading)).await?;
    let options = start::Options {
        mode: req.mode,
        on_conflict: req.on_conflict,
        dry_run: req.dry_run,
        allow_legacy: false,
        select: req.select.as_deref(),
        target_folder_id: req.target_folder_id.as_deref(),
        passphrase: req.passphrase.clone().map(zeroize::Zeroizing::new),
        identity: req.identity.clone().map(zeroize::Zeroizing::new),
    };
    if let Err(e) = start::queue(state, auth, &job, objects, options).await {
        // Never queued: it goes, as if it had not been made.
        let w = state.write().await?;
        jobs::delete_pending(auth.scope(), w.txn(), job.id).await?;
        w.commit().await?;
        return Err(e);
    }
    Ok(StartBackupImportResponse {
        backup_task_id: job.id.to_string(),
        status: jobs::JobState::Queued,
    })
}
