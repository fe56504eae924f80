use api_spec::actions::{CreateDirectoryRequest, CreateDirectoryResponse};
use api_spec::events::Change;

use crate::actions::Call;
use crate::error::Result;
use crate::services::tree::{self, NewNode};
use crate::services::{events, names, rules};
use crate::time::to_secs;

pub async fn run(call: Call, req: CreateDirectoryRequest) -> Result<CreateDirectoryResponse> {
    let auth = call.auth()?;
    let new = NewNode {
        parent: names::parse_folder(req.parent_id.as_deref())?,
        name: &req.name,
        rules: req.access_rules.as_ref().map(rules::parse).transpose()?,
        inherit: req.inherit_parent.unwrap_or(true),
    };
    let mut w = call.state.write().await?;
    let (folder, existed) = tree::create_folder(auth, w.txn(), new, req.exists_ok).await?;
    if !existed {
        events::directory_changed(&mut w, auth, &folder, Change::Created);
    }
    w.commit().await?;
    Ok(CreateDirectoryResponse {
        id: folder.id.to_string(),
        name: folder.name,
        created_time: to_secs(folder.created_at),
        existed,
    })
}
