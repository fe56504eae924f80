use api_spec::ErrorCode;
use api_spec::actions::{JobIdRequest, JobStatus};

use crate::actions::Call;
use crate::error::{Result, fail};
use crate::services::names::parse_id;
use crate::storage::{backups, jobs};
use crate::time::to_secs;

pub async fn run(call: Call, req: JobIdRequest) -> Result<JobStatus> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let id = parse_id(&req.backup_task_id, ErrorCode::JobNotFound)?;
    let job = jobs::find(auth.scope(), db, id)
        .await?
        .filter(|j| j.kind == jobs::EXPORT)
        .ok_or_else(|| fail(ErrorCode::JobNotFound))?;
    let backup = backups::find_by_job(auth.scope(), db, job.id).await?;
    Ok(JobStatus {
        backup_task_id: job.id.to_string(),
        kind: job.kind,
        status: job.status,
        current_step: job.current_step,
        progress_percent: job.progress_percent,
        bytes_done: job.bytes_done.max(0) as u64,
        bytes_total: job.bytes_total.max(0) as u64,
        counts: job.counts,
        error: job.error_code,
        error_message: job.error_message,
        result: job.result,
        created_time: to_secs(job.created_at),
        started_time: job.started_at.map(to_secs),
        completed_time: job.finished_at.map(to_secs),
        backup_id: backup.map(|b| b.id.to_string()),
    })
}
