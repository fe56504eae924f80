use api_spec::ErrorCode;
use api_spec::actions::SetDirectoryRulesRequest;
use api_spec::envelope::Empty;
use api_spec::events::Change;

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::Result;
use crate::services::{access, events, names, rules};
use crate::storage::folders;
use crate::storage::rules::Object;

pub async fn run(call: Call, req: SetDirectoryRulesRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let id = names::parse_id(&req.directory_id, ErrorCode::FolderNotFound)?;
    let set = rules::parse(&req.access_rules)?;
    let mut w = call.state.write().await?;
    let mut folder = names::folder(auth.scope(), w.txn(), id).await?;
    access::require(auth, w.txn(), Object::Folder(id), AccessType::Manage).await?;
    if let Some(inherit) = req.inherit_parent {
        folder.inherit = inherit;
        folders::update(auth.scope(), w.txn(), folder.clone()).await?;
    }
    rules::apply(auth, w.txn(), Object::Folder(id), &set).await?;
    events::directory_changed(&mut w, auth, &folder, Change::RulesChanged);
    w.commit().await?;
    Ok(Empty {})
}
