use api_spec::ErrorCode;
use api_spec::actions::{StartBackupImportRequest, StartBackupImportResponse};

use crate::actions::Call;
use crate::backup::import::{start, uploads};
use crate::error::{Result, fail};
use crate::jobs;
use crate::storage::jobs::JobState;
use crate::storage::tasks;
use crate::time::now_ms;

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
    let state_now = job.status;
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
    let options = start::Options {
        mode: req.mode,
        on_conflict: req.on_conflict,
        dry_run: req.dry_run,
        allow_legacy: req.allow_legacy,
        select: req.select.as_deref(),
        target_folder_id: req.target_folder_id.as_deref(),
        passphrase: req.passphrase.clone().map(zeroize::Zeroizing::new),
        identity: req.identity.clone().map(zeroize::Zeroizing::new),
    };
    start::queue(state, auth, &job, uploaded, options).await?;
    // A replacement upload abandoned midway here left a part file: the uploads are final
    // now. (Another instance's goes with its sweep of part files.)
    for task in tasks::of_job(auth.scope(), &state.db, job.id).await? {
        let _ = tokio::fs::remove_file(crate::services::transfers::part_path(state, task.id)).await;
    }
    Ok(StartBackupImportResponse {
        backup_task_id: job.id.to_string(),
        status: JobState::Queued,
    })
}
