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
    let mut w = call.state.write().await?;
    let mut d = names::document(auth.scope(), w.txn(), id).await?;
    access::require(auth, w.txn(), Object::Document(id), AccessType::Write).await?;
    let revision = files::find_revision(auth.scope(), w.txn(), revision_id)
        .await?
        .filter(|r| r.document_id == id)
        .ok_or_else(|| fail(ErrorCode::RevisionNotFound))?;
    d.current_revision_id = Some(revision.id);
    documents::update(auth.scope(), w.txn(), d.clone()).await?;
    events::document_changed(&mut w, auth, &d, Change::ContentChanged);
    w.commit().await?;
    Ok(Empty {})
}
