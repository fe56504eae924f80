use api_spec::ErrorCode;
use api_spec::actions::{DocumentIdRequest, TaskResponse};

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::Result;
use crate::services::{access, names, transfers};
use crate::storage::rules::Object;
use crate::storage::tasks::{self, NewTask};

pub async fn run(call: Call, req: DocumentIdRequest) -> Result<TaskResponse> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let id = names::parse_id(&req.document_id, ErrorCode::DocumentNotFound)?;
    names::document(auth.scope(), db, id).await?;
    access::require(auth, db, Object::Document(id), AccessType::Write).await?;
    let task = NewTask::upload(auth.user_id(), tasks::TaskPurpose::Revision, id);
    Ok(TaskResponse {
        task_data: transfers::new_task(&call.state, auth, db, task).await?,
    })
}
