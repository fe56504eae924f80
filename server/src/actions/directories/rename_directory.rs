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
    let mut w = call.state.write().await?;
    let folder = tree::rename_folder(auth, w.txn(), id, &req.new_name).await?;
    events::directory_changed(&mut w, auth, &folder, Change::Renamed);
    w.commit().await?;
    Ok(Empty {})
}
