use api_spec::ErrorCode;
use api_spec::actions::{DocumentIdRequest, DocumentInfo};
use api_spec::permissions::VIEW_ACCESS_RULES;

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::{Result, fail};
use crate::services::{access, names, rules};
use crate::storage::files;
use crate::storage::rules::{Object, rules_of};
use crate::time::to_secs;

pub async fn run(call: Call, req: DocumentIdRequest) -> Result<DocumentInfo> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let id = names::parse_id(&req.document_id, ErrorCode::DocumentNotFound)?;
    let d = names::document(auth.scope(), db, id).await?;
    // The document's row and rules serve both the access check and the reply.
    let rule_set = rules_of(auth.scope(), db, Object::Document(id)).await?;
    let object = (Object::Document(id), d.folder_id.filter(|_| d.inherit));
    if !access::allowed_given(auth, db, object, &rule_set, AccessType::Read).await? {
        return Err(fail(ErrorCode::AccessDenied));
    }
    let revisions: Vec<_> = d.current_revision_id.into_iter().collect();
    let current = files::files_of_revisions(auth.scope(), db, &revisions)
        .await?
        .into_values()
        .next();
    let access_rules = auth
        .has(VIEW_ACCESS_RULES)
        .then(|| rules::render(&rule_set));
    Ok(DocumentInfo {
        document_id: d.id.to_string(),
        parent_id: d.folder_id.map(|f| f.to_string()),
        title: d.title,
        size: current.as_ref().map_or(0, |f| f.size as u64),
        sha256: current.map(|f| f.sha256),
        current_revision_id: d.current_revision_id.map(|r| r.to_string()),
        created_time: to_secs(d.created_at),
        last_modified: to_secs(d.last_modified),
        inherit: d.inherit,
        info_code: u8::from(access_rules.is_none()),
        access_rules,
    })
}
