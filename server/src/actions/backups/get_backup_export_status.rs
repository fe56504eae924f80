use api_spec::ErrorCode;
use api_spec::actions::{JobIdRequest, JobStatus};

use crate::actions::Call;
use crate::error::{Result, fail};
use crate::services::names::parse_id;
use crate::storage::{backups, jobs};

pub async fn run(call: Call, req: JobIdRequest) -> Result<JobStatus> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let id = parse_id(&req.backup_task_id, ErrorCode::JobNotFound)?;
    let job = jobs::find(auth.scope(), db, id)
        .await?
        .filter(|j| matches!(j.kind, jobs::JobKind::Export | jobs::JobKind::Verify))
        .ok_or_else(|| fail(ErrorCode::JobNotFound))?;
    // A verify job names its backup in its parameters; an export's backup names its job.
    let backup_id = match jobs::params_of(&job) {
        Some(api_spec::jobs::JobParams::Verify(p)) => Some(p.backup_id),
        _ => backups::find_by_job(auth.scope(), db, job.id)
            .await?
            .map(|b| b.id.to_string()),
    };
    Ok(super::job_status(job, backup_id))
}
