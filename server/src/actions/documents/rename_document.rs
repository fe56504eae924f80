use api_spec::ErrorCode;
use api_spec::actions::RenameDocumentRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::{events, names, tree};

pub async fn run(call: Call, req: RenameDocumentRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let id = names::parse_id(&req.document_id, ErrorCode::DocumentNotFound)?;
    let mut w = call.state.write().await?;
    let document = tree::rename_document(auth, w.txn(), id, &req.new_title).await?;
    events::document_changed(&mut w, auth, &document, Change::Renamed);
    w.commit().await?;
    Ok(Empty {})
}
