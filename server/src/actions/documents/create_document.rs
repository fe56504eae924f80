use api_spec::actions::{CreateDocumentRequest, CreateDocumentResponse};
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::tree::{self, NewNode};
use crate::services::{events, names, rules, transfers};
use crate::storage::tasks::{self, NewTask};

pub async fn run(call: Call, req: CreateDocumentRequest) -> Result<CreateDocumentResponse> {
    let auth = call.auth()?;
    let new = NewNode {
        parent: names::parse_folder(req.folder_id.as_deref())?,
        name: &req.title,
        rules: req.access_rules.as_ref().map(rules::parse).transpose()?,
        inherit: req.inherit_parent.unwrap_or(true),
    };
    let mut w = call.state.write().await?;
    let document = tree::create_document(auth, w.txn(), new).await?;
    let task = NewTask::upload(auth.user_id(), tasks::TaskPurpose::Document, document.id);
    let task_data = transfers::new_task(&call.state, auth, w.txn(), task).await?;
    events::document_changed(&mut w, auth, &document, Change::Created);
    w.commit().await?;
    Ok(CreateDocumentResponse {
        document_id: document.id.to_string(),
        task_data,
    })
}
