//! Name search among what the caller may read, sorted, limited per kind.
use api_spec::ErrorCode;
use api_spec::actions::{SearchHit, SearchRequest, SearchResponse};

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::{Result, field_error};
use crate::services::access;
use crate::storage::rules::Object;
use crate::storage::{documents, folders};
use crate::time::to_secs;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

fn sort(hits: &mut [SearchHit], by: &str, desc: bool) {
    hits.sort_by(|a, b| {
        let order = match by {
            "created_time" => a.created_time.total_cmp(&b.created_time),
            "last_modified" => a.last_modified.total_cmp(&b.last_modified),
            _ => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
        };
        if desc { order.reverse() } else { order }
    });
}

pub async fn run(call: Call, req: SearchRequest) -> Result<SearchResponse> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let query = req.query.trim();
    if query.is_empty() || query.chars().count() > 255 {
        return Err(field_error(ErrorCode::InvalidField, "query"));
    }
    let limit = req.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(field_error(ErrorCode::InvalidField, "limit"));
    }
    let by = req.sort_by.as_deref().unwrap_or("name");
    if !["name", "created_time", "last_modified"].contains(&by) {
        return Err(field_error(ErrorCode::InvalidField, "sort_by"));
    }
    let desc = match req.sort_order.as_deref().unwrap_or("asc") {
        "asc" => false,
        "desc" => true,
        _ => return Err(field_error(ErrorCode::InvalidField, "sort_order")),
    };
    let mut docs = Vec::new();
    if req.search_documents {
        for d in documents::search(auth.scope(), db, query).await? {
            if access::allowed(auth, db, Object::Document(d.id), AccessType::Read).await? {
                docs.push(SearchHit {
                    id: d.id.to_string(),
                    name: d.title,
                    parent_id: d.folder_id.map(|f| f.to_string()),
                    created_time: to_secs(d.created_at),
                    last_modified: to_secs(d.last_modified),
                    kind: "document".into(),
                });
            }
        }
    }
    let mut dirs = Vec::new();
    if req.search_directories {
        for f in folders::search(auth.scope(), db, query).await? {
            if access::allowed(auth, db, Object::Folder(f.id), AccessType::Read).await? {
                dirs.push(SearchHit {
                    id: f.id.to_string(),
                    name: f.name,
                    parent_id: f.parent_id.map(|p| p.to_string()),
                    created_time: to_secs(f.created_at),
                    last_modified: to_secs(f.last_modified),
                    kind: "directory".into(),
                });
            }
        }
    }
    let total_count = (docs.len() + dirs.len()) as u64;
    sort(&mut docs, by, desc);
    sort(&mut dirs, by, desc);
    docs.truncate(limit as usize);
    dirs.truncate(limit as usize);
    Ok(SearchResponse {
        documents: docs,
        directories: dirs,
        total_count,
        query: query.to_owned(),
    })
}
