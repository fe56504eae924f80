use api_spec::ErrorCode;
use api_spec::actions::{StartBackupImportRequest, StartBackupImportResponse};
use api_spec::jobs::{ImportMode, ImportParams, JobParams, KeySource, OnConflict};

use crate::actions::Call;
use crate::backup::import::unpack::{self, Parsed, Unlocked};
use crate::backup::import::uploads;
use crate::backup::stream::SegmentReader;
use crate::error::{Result, fail, field_error};
use crate::jobs;
use crate::storage::jobs::{self as job_rows, JobState};
use crate::storage::{self, tasks};
use crate::time::now_ms;

/// The job's parameters (its key's place is decided once the key is read).
fn params(req: &StartBackupImportRequest) -> Result<ImportParams> {
    let mode = ImportMode::parse(req.mode.as_deref().unwrap_or("restore"))
        .ok_or_else(|| field_error(ErrorCode::InvalidField, "mode"))?;
    let on_conflict = OnConflict::parse(req.on_conflict.as_deref().unwrap_or("rename"))
        .ok_or_else(|| field_error(ErrorCode::InvalidField, "on_conflict"))?;
    Ok(ImportParams {
        mode,
        on_conflict,
        dry_run: req.dry_run,
        allow_legacy: req.allow_legacy,
        key: KeySource::KeyFile,
        uploads: None,
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
        jobs::time_out(state, &job).await?;
        return Err(fail(ErrorCode::ImportDeadlinePassed));
    }
    let uploaded = uploads::current(state, auth.scope(), job.id).await?;
    let mut params = params(&req)?;
    let passphrase = req.passphrase.clone().map(zeroize::Zeroizing::new);
    let key_file = uploads::read_key_file(state, &uploaded).await?;
    let unlocked = match unpack::parse_key(&key_file, req.allow_legacy)? {
        Parsed::Coffer(file) => {
            // A key a passphrase wraps is usable only here (the server never stores the
            // passphrase): the job is reserved for this instance, which holds the key.
            if file.wrapped.is_some() {
                params.key = KeySource::Memory;
            }
            Unlocked::Coffer(
                state
                    .unlocker
                    .unlock(auth.scope().tenant_id(), *file, passphrase)
                    .await?,
            )
        }
        Parsed::Legacy(key) => Unlocked::Legacy(key),
    };
    let (archive, size) = uploads::open_archive(state, &uploaded).await?;
    let unlocked = tokio::task::spawn_blocking(move || {
        match &unlocked {
            Unlocked::Coffer(k) => {
                SegmentReader::open(std::io::BufReader::new(archive), k)?;
            }
            Unlocked::Legacy(_) => {
                if size < 32 || size % 16 != 0 {
                    return Err(fail(ErrorCode::BackupNotAnArchive));
                }
            }
        }
        Ok(unlocked)
    })
    .await??;
    params.uploads = Some(uploaded);
    // A restore needs an empty tenant: said now, before the job runs, and the job stays
    // pending for a `merge`. The job checks again when it runs (something may be made
    // meanwhile).
    if params.mode == ImportMode::Restore
        && storage::tenants::holds_content(auth.scope(), &state.db).await?
    {
        return Err(fail(ErrorCode::ImportTargetNotEmpty));
    }
    let reserved = params.key == KeySource::Memory;
    if reserved && !state.jobs.hold(job.id, unlocked) {
        // Another start of this job is under way here.
        return Err(fail(ErrorCode::JobStateConflict));
    }
    let reserved_for = reserved.then(|| state.jobs.instance());
    let params = JobParams::Import(params);
    if !job_rows::queue(auth.scope(), &state.db, job.id, reserved_for, &params).await? {
        state.jobs.drop_held(job.id);
        // Cancelled, timed out or started meanwhile.
        return Err(fail(ErrorCode::JobStateConflict));
    }
    // A replacement upload abandoned midway here left a part file: the uploads are final
    // now. (Another instance's goes with its sweep of part files.)
    for task in tasks::of_job(auth.scope(), &state.db, job.id).await? {
        let _ = tokio::fs::remove_file(crate::services::transfers::part_path(state, task.id)).await;
    }
    state.jobs.queued(state);
    Ok(StartBackupImportResponse {
        backup_task_id: job.id.to_string(),
        status: JobState::Queued,
    })
}
