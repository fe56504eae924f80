use api_spec::ErrorCode;
use api_spec::actions::DocumentIdRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::{events, names, transfers, tree};

pub async fn run(call: Call, req: DocumentIdRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let id = names::parse_id(&req.document_id, ErrorCode::DocumentNotFound)?;
    let mut w = call.state.write().await?;
    let (document, blob_keys) = tree::delete_document(auth, w.txn(), id).await?;
    events::document_changed(&mut w, auth, &document, Change::Deleted);
    w.commit().await?;
    transfers::remove_blobs(&call.state, blob_keys).await;
    Ok(Empty {})
}
