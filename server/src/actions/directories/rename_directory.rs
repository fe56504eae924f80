use api_spec::ErrorCode;
use api_spec::actions::RenameDirectoryRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::{events, names, tree};

pub async fn run(call: Call, req: RenameDirectoryRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let id = names::parse_id(&req.folder_id, ErrorCode::FolderNotFound)?;
    let (_turn, txn) = call.state.begin_write().await?;
    let folder = tree::rename_folder(auth, &txn, id, &req.new_name).await?;
    txn.commit().await?;
    events::directory_changed(&call.state, auth, &folder, Change::Renamed);
    Ok(Empty {})
}
