use api_spec::ErrorCode;
use api_spec::actions::{DocumentIdRequest, ListRevisionsResponse, RevisionInfo};

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::Result;
use crate::services::{access, names};
use crate::storage::files;
use crate::storage::rules::Object;
use crate::time::to_secs;

pub async fn run(call: Call, req: DocumentIdRequest) -> Result<ListRevisionsResponse> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let id = names::parse_id(&req.document_id, ErrorCode::DocumentNotFound)?;
    let d = names::document(auth.scope(), db, id).await?;
    access::require(auth, db, Object::Document(id), AccessType::Read).await?;
    let mut revisions = Vec::new();
    for r in files::revisions_of(auth.scope(), db, id).await? {
        let file = files::find(auth.scope(), db, r.file_id).await?;
        revisions.push(RevisionInfo {
            id: r.id.to_string(),
            parent_id: r.parent_revision_id.map(|p| p.to_string()),
            created_time: to_secs(r.created_at),
            is_current: d.current_revision_id == Some(r.id),
            size: file.as_ref().map_or(0, |f| f.size as u64),
            sha256: file.map(|f| f.sha256).unwrap_or_default(),
        });
    }
    Ok(ListRevisionsResponse { revisions })
}
