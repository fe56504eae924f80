use api_spec::ErrorCode;
use api_spec::actions::MoveDirectoryRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::{events, names, tree};

pub async fn run(call: Call, req: MoveDirectoryRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let id = names::parse_id(&req.folder_id, ErrorCode::FolderNotFound)?;
    let target = names::parse_folder(req.target_folder_id.as_deref())?;
    let mut w = call.state.write().await?;
    let folder = tree::move_folder(auth, w.txn(), id, target).await?;
    events::directory_changed(&mut w, auth, &folder, Change::Moved);
    w.commit().await?;
    Ok(Empty {})
}
