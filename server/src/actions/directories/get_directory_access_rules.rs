use api_spec::ErrorCode;
use api_spec::actions::{DirectoryIdRequest, ObjectRulesResponse};

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::Result;
use crate::services::{access, names, rules};
use crate::storage::rules::{Object, rules_of};

pub async fn run(call: Call, req: DirectoryIdRequest) -> Result<ObjectRulesResponse> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let id = names::parse_id(&req.directory_id, ErrorCode::FolderNotFound)?;
    let folder = names::folder(auth.scope(), db, id).await?;
    access::require(auth, db, Object::Folder(id), AccessType::Read).await?;
    let set = rules_of(auth.scope(), db, Object::Folder(id)).await?;
    Ok(ObjectRulesResponse {
        rules: rules::render(&set),
        inherit: folder.inherit,
    })
}
