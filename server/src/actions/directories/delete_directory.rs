use api_spec::ErrorCode;
use api_spec::actions::FolderIdRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::{events, names, transfers, tree};

pub async fn run(call: Call, req: FolderIdRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let id = names::parse_id(&req.folder_id, ErrorCode::FolderNotFound)?;
    let txn = crate::db::begin_write(&call.state.db).await?;
    let (folder, blob_keys) = tree::delete_folder(auth, &txn, id).await?;
    txn.commit().await?;
    // Blobs go only once the rows that referenced them are gone for good.
    transfers::remove_blobs(&call.state, blob_keys).await;
    events::directory_changed(&call.state, auth, &folder, Change::Deleted);
    Ok(Empty {})
}
