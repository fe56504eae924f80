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
        .filter(|j| jobs::kind_of(j) == Some(jobs::JobKind::Export))
        .ok_or_else(|| fail(ErrorCode::JobNotFound))?;
    let backup = backups::find_by_job(auth.scope(), db, job.id).await?;
    Ok(super::job_status(job, backup.map(|b| b.id.to_string())))
}
