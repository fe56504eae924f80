use api_spec::ErrorCode;
use api_spec::actions::MoveDocumentRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::{events, names, tree};

pub async fn run(call: Call, req: MoveDocumentRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let id = names::parse_id(&req.document_id, ErrorCode::DocumentNotFound)?;
    let target = names::parse_folder(req.target_folder_id.as_deref())?;
    let mut w = call.state.write().await?;
    let document = tree::move_document(auth, w.txn(), id, target).await?;
    events::document_changed(&mut w, auth, &document, Change::Moved);
    w.commit().await?;
    Ok(Empty {})
}
