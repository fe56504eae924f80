use api_spec::ErrorCode;
use api_spec::actions::{RevisionIdRequest, TaskResponse};

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::{Result, fail};
use crate::services::{access, names, transfers};
use crate::storage::files;
use crate::storage::rules::Object;
use crate::storage::tasks::NewTask;

pub async fn run(call: Call, req: RevisionIdRequest) -> Result<TaskResponse> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let id = names::parse_id(&req.id, ErrorCode::RevisionNotFound)?;
    let revision = files::find_revision(auth.scope(), db, id)
        .await?
        .ok_or_else(|| fail(ErrorCode::RevisionNotFound))?;
    access::require(
        auth,
        db,
        Object::Document(revision.document_id),
        AccessType::Read,
    )
    .await?;
    let task = NewTask::download(auth.user_id(), revision.document_id, revision.file_id);
    Ok(TaskResponse {
        task_data: transfers::new_task(&call.state, auth, db, task).await?,
    })
}
