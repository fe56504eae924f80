use api_spec::ErrorCode;
use api_spec::actions::SetCurrentRevisionRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::{Result, fail};
use crate::services::{access, events, names};
use crate::storage::rules::Object;
use crate::storage::{documents, files};

pub async fn run(call: Call, req: SetCurrentRevisionRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let id = names::parse_id(&req.document_id, ErrorCode::DocumentNotFound)?;
    let revision_id = names::parse_id(&req.revision_id, ErrorCode::RevisionNotFound)?;
    let (_turn, txn) = call.state.begin_write().await?;
    let mut d = names::document(auth.scope(), &txn, id).await?;
    access::require(auth, &txn, Object::Document(id), AccessType::Write).await?;
    let revision = files::find_revision(auth.scope(), &txn, revision_id)
        .await?
        .filter(|r| r.document_id == id)
        .ok_or_else(|| fail(ErrorCode::RevisionNotFound))?;
    d.current_revision_id = Some(revision.id);
    documents::update(auth.scope(), &txn, d.clone()).await?;
    txn.commit().await?;
    events::document_changed(&call.state, auth, &d, Change::ContentChanged);
    Ok(Empty {})
}
