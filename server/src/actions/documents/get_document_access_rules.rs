use api_spec::ErrorCode;
use api_spec::actions::{DocumentIdRequest, ObjectRulesResponse};

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::Result;
use crate::services::{access, names, rules};
use crate::storage::rules::{Object, rules_of};

pub async fn run(call: Call, req: DocumentIdRequest) -> Result<ObjectRulesResponse> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let id = names::parse_id(&req.document_id, ErrorCode::DocumentNotFound)?;
    let document = names::document(auth.scope(), db, id).await?;
    access::require(auth, db, Object::Document(id), AccessType::Read).await?;
    let set = rules_of(auth.scope(), db, Object::Document(id)).await?;
    Ok(ObjectRulesResponse {
        rules: rules::render(&set),
        inherit: document.inherit,
    })
}
