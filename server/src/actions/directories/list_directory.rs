use api_spec::actions::{DocumentEntry, FolderEntry, ListDirectoryRequest, ListDirectoryResponse};
use api_spec::permissions::SUPER_LIST_DIRECTORY;

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::Result;
use crate::services::{access, names};
use crate::storage::rules::Object;
use crate::storage::{documents, files, folders};
use crate::time::to_secs;

pub async fn run(call: Call, req: ListDirectoryRequest) -> Result<ListDirectoryResponse> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let folder = names::parse_folder(req.folder_id.as_deref())?;
    let see_all = auth.has(SUPER_LIST_DIRECTORY);
    let parent_id = match folder {
        None => None,
        Some(id) => {
            let f = names::folder(auth.scope(), db, id).await?;
            if !see_all {
                access::require(auth, db, Object::Folder(id), AccessType::Read).await?;
            }
            Some(
                f.parent_id
                    .map_or_else(|| "/".to_owned(), |p| p.to_string()),
            )
        }
    };
    let mut listing = ListDirectoryResponse {
        parent_id,
        documents: Vec::new(),
        folders: Vec::new(),
    };
    for f in folders::children(auth.scope(), db, folder).await? {
        if see_all || access::allowed(auth, db, Object::Folder(f.id), AccessType::Read).await? {
            listing.folders.push(FolderEntry {
                id: f.id.to_string(),
                name: f.name,
                created_time: to_secs(f.created_at),
            });
        }
    }
    for d in documents::in_folder(auth.scope(), db, folder).await? {
        if !see_all && !access::allowed(auth, db, Object::Document(d.id), AccessType::Read).await? {
            continue;
        }
        let current = match d.current_revision_id {
            Some(r) => match files::find_revision(auth.scope(), db, r).await? {
                Some(rev) => files::find(auth.scope(), db, rev.file_id).await?,
                None => None,
            },
            None => None,
        };
        listing.documents.push(DocumentEntry {
            id: d.id.to_string(),
            title: d.title,
            created_time: to_secs(d.created_at),
            last_modified: to_secs(d.last_modified),
            sha256: current.as_ref().map(|f| f.sha256.clone()),
            size: current.map_or(0, |f| f.size as u64),
        });
    }
    Ok(listing)
}
