use api_spec::ErrorCode;
use api_spec::actions::{DocumentIdRequest, GetDocumentResponse};

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::{Result, fail};
use crate::services::{access, names, transfers};
use crate::storage::files;
use crate::storage::rules::Object;
use crate::storage::tasks::NewTask;

pub async fn run(call: Call, req: DocumentIdRequest) -> Result<GetDocumentResponse> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let id = names::parse_id(&req.document_id, ErrorCode::DocumentNotFound)?;
    let d = names::document(auth.scope(), db, id).await?;
    access::require(auth, db, Object::Document(id), AccessType::Read).await?;
    let revision_id = d
        .current_revision_id
        .ok_or_else(|| fail(ErrorCode::NoRevision))?;
    let revision = files::find_revision(auth.scope(), db, revision_id)
        .await?
        .ok_or_else(|| fail(ErrorCode::NoRevision))?;
    let task = NewTask::download(auth.user_id(), d.id, revision.file_id);
    let task_data = transfers::new_task(&call.state, auth, db, task).await?;
    Ok(GetDocumentResponse {
        document_id: d.id.to_string(),
        title: d.title,
        task_data,
    })
}
