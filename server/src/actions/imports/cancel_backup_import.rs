use api_spec::ErrorCode;
use api_spec::actions::JobIdRequest;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::{Result, fail};
use crate::jobs::{self, Leftovers};
use crate::storage::jobs::JobState;

/// Ends the job as `cancelled`; what it staged or imported so far goes with it (a running
/// import notices before its next slice of rows, and its last transaction never commits).
pub async fn run(call: Call, req: JobIdRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let job = super::find(auth, &call.state.db, &req.backup_task_id).await?;
    if !jobs::end(
        &call.state,
        &job,
        &JobState::LIVE,
        JobState::Cancelled,
        None,
        Leftovers::ByState,
    )
    .await?
    {
        return Err(fail(ErrorCode::JobStateConflict));
    }
    Ok(Empty {})
}
