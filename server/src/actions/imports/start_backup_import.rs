use std::sync::Arc;

use api_spec::ErrorCode;
use api_spec::actions::{StartBackupImportRequest, StartBackupImportResponse};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::actions::Call;
use crate::backup::import::apply::{OnConflict, Options};
use crate::backup::import::unpack::{self, Parsed, Unlocked};
use crate::backup::import::{self, job_dir};
use crate::backup::stream::SegmentReader;
use crate::error::{Result, fail, field_error};
use crate::jobs;
use crate::storage::jobs::{self as job_rows, JobState};
use crate::storage::{self, tasks};
use crate::time::now_ms;

/// Largest key file read (a real one is a few hundred bytes).
const KEY_FILE_LIMIT: u64 = 64 * 1024;

fn options(req: &StartBackupImportRequest) -> Result<Options> {
    let merge = match req.mode.as_deref().unwrap_or("restore") {
        "restore" => false,
        "merge" => true,
        _ => return Err(field_error(ErrorCode::InvalidField, "mode")),
    };
    let on_conflict = match req.on_conflict.as_deref().unwrap_or("rename") {
        "rename" => OnConflict::Rename,
        "skip" => OnConflict::Skip,
        "fail" => OnConflict::Fail,
        _ => return Err(field_error(ErrorCode::InvalidField, "on_conflict")),
    };
    Ok(Options {
        merge,
        on_conflict,
        dry_run: req.dry_run,
    })
}

/// Checks, in this order: the job (owner, `pending`), its deadline (408, and the job times
/// out), both uploads, the options, the key (and passphrase) and the archive's header with
/// that key, which must be of the backup the key file names — so a wrong key or passphrase is
/// answered now, and the job stays pending for another try — and, for a `restore`, that the
/// tenant is empty. Then queues the job and answers at once.
pub async fn run(call: Call, req: StartBackupImportRequest) -> Result<StartBackupImportResponse> {
    let (auth, state) = (call.auth()?, &call.state);
    let job = super::find(auth, &state.db, &req.backup_task_id).await?;
    if job.owner_id != auth.user_id() {
        return Err(fail(ErrorCode::PermissionDenied));
    }
    let state_now = job_rows::state_of(&job);
    if state_now == JobState::Timeout {
        return Err(fail(ErrorCode::ImportDeadlinePassed));
    }
    if state_now != JobState::Pending {
        return Err(fail(ErrorCode::JobStateConflict));
    }
    if job.deadline.is_some_and(|d| now_ms() > d) {
        jobs::end(state, &job, &[JobState::Pending], JobState::Timeout, None).await?;
        return Err(fail(ErrorCode::ImportDeadlinePassed));
    }
    let uploads = tasks::of_job(auth.scope(), &state.db, job.id).await?;
    let dir = job_dir(&state.config, job.tenant_id, job.id);
    let (archive, key) = (import::archive_path(&dir), import::key_path(&dir));
    if uploads.len() != 2
        || uploads.iter().any(|t| t.status != tasks::COMPLETED)
        || !archive.is_file()
        || !key.is_file()
    {
        return Err(fail(ErrorCode::ImportUploadsIncomplete));
    }
    let options = options(&req)?;
    let passphrase = req.passphrase.clone().map(zeroize::Zeroizing::new);
    let mut bytes = Vec::new();
    tokio::fs::File::open(&key)
        .await
        .map_err(|_| fail(ErrorCode::ImportUploadsIncomplete))?
        .take(KEY_FILE_LIMIT)
        .read_to_end(&mut bytes)
        .await
        .map_err(|_| fail(ErrorCode::ImportUploadsIncomplete))?;
    let unlocked = match unpack::parse_key(&bytes, req.allow_legacy)? {
        Parsed::Coffer(file) => Unlocked::Coffer(
            state
                .unlocker
                .unlock(auth.scope().tenant_id(), *file, passphrase)
                .await?,
        ),
        Parsed::Legacy(key) => Unlocked::Legacy(key),
    };
    let unlocked = tokio::task::spawn_blocking(move || {
        let file =
            std::fs::File::open(&archive).map_err(|_| fail(ErrorCode::ImportUploadsIncomplete))?;
        match &unlocked {
            Unlocked::Coffer(k) => {
                SegmentReader::open(std::io::BufReader::new(file), k)?;
            }
            Unlocked::Legacy(_) => {
                let len = file.metadata().map(|m| m.len()).unwrap_or(0);
                if len < 32 || len % 16 != 0 {
                    return Err(fail(ErrorCode::BackupNotAnArchive));
                }
            }
        }
        Ok(unlocked)
    })
    .await??;
    // A restore needs an empty tenant: said now, before the job runs, and the job stays
    // pending for a `merge`. The job checks again when it runs (something may be made
    // meanwhile).
    if !options.merge && storage::tenants::holds_content(auth.scope(), &state.db).await? {
        return Err(fail(ErrorCode::ImportTargetNotEmpty));
    }
    let params = json!({"mode": req.mode.as_deref().unwrap_or("restore"),
        "on_conflict": req.on_conflict.as_deref().unwrap_or("rename"),
        "dry_run": req.dry_run, "allow_legacy": req.allow_legacy});
    // Registered before it is queued: from then on the reaper must see that it runs here.
    state.jobs.flag(job.id);
    let instance = state.jobs.instance();
    if !job_rows::queue(auth.scope(), &state.db, job.id, instance, params).await? {
        state.jobs.release(job.id);
        // Cancelled, timed out or started meanwhile.
        return Err(fail(ErrorCode::JobStateConflict));
    }
    // A replacement upload abandoned midway left a part file that no sweep looks for (its
    // task is complete): the uploads are final now.
    for task in &uploads {
        let _ = tokio::fs::remove_file(crate::services::transfers::part_path(state, task.id)).await;
    }
    tokio::spawn(import::run(
        Arc::clone(state),
        job.clone(),
        unlocked,
        options,
    ));
    Ok(StartBackupImportResponse {
        backup_task_id: job.id.to_string(),
        status: JobState::Queued,
    })
}
