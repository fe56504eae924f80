use api_spec::ErrorCode;
use api_spec::actions::FolderIdRequest;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::Result;
use crate::services::{names, removal};

pub async fn run(call: Call, req: FolderIdRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let id = names::parse_id(&req.folder_id, ErrorCode::FolderNotFound)?;
    // In bounded transactions: a large subtree must not hold the write lock for long.
    removal::delete_folder(&call.state, auth, id).await?;
    Ok(Empty {})
}
