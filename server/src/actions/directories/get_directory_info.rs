use api_spec::actions::{DirectoryIdRequest, DirectoryInfo};
use api_spec::permissions::VIEW_ACCESS_RULES;

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::Result;
use crate::services::{access, names, rules};
use crate::storage::rules::{Object, rules_of};
use crate::storage::{documents, folders};
use crate::time::to_secs;

pub async fn run(call: Call, req: DirectoryIdRequest) -> Result<DirectoryInfo> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let id = names::parse_id(&req.directory_id, api_spec::ErrorCode::FolderNotFound)?;
    let f = names::folder(auth.scope(), db, id).await?;
    access::require(auth, db, Object::Folder(id), AccessType::Read).await?;
    let count = folders::count_children(auth.scope(), db, id).await?
        + documents::count_in(auth.scope(), db, id).await?;
    let access_rules = if auth.has(VIEW_ACCESS_RULES) {
        Some(rules::render(
            &rules_of(auth.scope(), db, Object::Folder(id)).await?,
        ))
    } else {
        None
    };
    Ok(DirectoryInfo {
        directory_id: f.id.to_string(),
        name: f.name,
        parent_id: f.parent_id.map(|p| p.to_string()),
        created_time: to_secs(f.created_at),
        last_modified: to_secs(f.last_modified),
        count_of_child: count,
        inherit: f.inherit,
        info_code: u8::from(access_rules.is_none()),
        access_rules,
    })
}
