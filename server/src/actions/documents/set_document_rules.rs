use api_spec::ErrorCode;
use api_spec::actions::SetDocumentRulesRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::Result;
use crate::services::{access, events, names, rules};
use crate::storage::documents;
use crate::storage::rules::Object;

pub async fn run(call: Call, req: SetDocumentRulesRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let id = names::parse_id(&req.document_id, ErrorCode::DocumentNotFound)?;
    let set = rules::parse(&req.access_rules)?;
    let mut w = call.state.write().await?;
    let mut document = names::document(auth.scope(), w.txn(), id).await?;
    access::require(auth, w.txn(), Object::Document(id), AccessType::Manage).await?;
    if let Some(inherit) = req.inherit_parent {
        document.inherit = inherit;
        documents::update(auth.scope(), w.txn(), document.clone()).await?;
    }
    rules::apply(auth, w.txn(), Object::Document(id), &set).await?;
    events::document_changed(&mut w, auth, &document, Change::RulesChanged);
    w.commit().await?;
    Ok(Empty {})
}
