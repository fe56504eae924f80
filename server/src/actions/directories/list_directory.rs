use std::collections::HashSet;

use api_spec::actions::{DocumentEntry, FolderEntry, ListDirectoryRequest, ListDirectoryResponse};
use api_spec::permissions::SUPER_LIST_DIRECTORY;
use uuid::Uuid;

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
    let folders = folders::children(auth.scope(), db, folder).await?;
    let documents = documents::in_folder(auth.scope(), db, folder).await?;
    let (readable_folders, readable_documents) = if see_all {
        (None, None)
    } else {
        let f: Vec<_> = folders.iter().map(|f| (f.id, f.inherit)).collect();
        let d: Vec<_> = documents.iter().map(|d| (d.id, d.inherit)).collect();
        let read = AccessType::Read;
        (
            Some(access::allowed_children(auth, db, (folder, true), &f, read).await?),
            Some(access::allowed_children(auth, db, (folder, false), &d, read).await?),
        )
    };
    let shown = |set: &Option<HashSet<Uuid>>, id| set.as_ref().is_none_or(|s| s.contains(&id));
    let documents: Vec<_> = documents
        .into_iter()
        .filter(|d| shown(&readable_documents, d.id))
        .collect();
    let revisions: Vec<Uuid> = documents
        .iter()
        .filter_map(|d| d.current_revision_id)
        .collect();
    let current = files::files_of_revisions(auth.scope(), db, &revisions).await?;
    Ok(ListDirectoryResponse {
        parent_id,
        folders: folders
            .into_iter()
            .filter(|f| shown(&readable_folders, f.id))
            .map(|f| FolderEntry {
                id: f.id.to_string(),
                name: f.name,
                created_time: to_secs(f.created_at),
            })
            .collect(),
        documents: documents
            .into_iter()
            .map(|d| {
                let file = d.current_revision_id.and_then(|r| current.get(&r));
                DocumentEntry {
                    id: d.id.to_string(),
                    title: d.title,
                    created_time: to_secs(d.created_at),
                    last_modified: to_secs(d.last_modified),
                    sha256: file.map(|f| f.sha256.clone()),
                    size: file.map_or(0, |f| f.size as u64),
                }
            })
            .collect(),
    })
}
