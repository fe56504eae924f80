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
    let (_turn, txn) = call.state.begin_write().await?;
    let document = tree::rename_document(auth, &txn, id, &req.new_title).await?;
    txn.commit().await?;
    events::document_changed(&call.state, auth, &document, Change::Renamed);
    Ok(Empty {})
}
