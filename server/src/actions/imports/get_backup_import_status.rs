use api_spec::actions::{JobIdRequest, JobStatus};

use crate::actions::Call;
use crate::actions::backups::job_status;
use crate::error::Result;

pub async fn run(call: Call, req: JobIdRequest) -> Result<JobStatus> {
    let auth = call.auth()?;
    let job = super::find(auth, &call.state.db, &req.backup_task_id).await?;
    Ok(job_status(job, None))
}
