//! Name search among what the caller may read, sorted, limited per kind.
use api_spec::ErrorCode;
use api_spec::actions::{SearchHit, SearchRequest, SearchResponse, SortBy, SortOrder, TargetType};
use uuid::Uuid;

use crate::access::AccessType;
use crate::actions::Call;
use crate::error::{Result, field_error};
use crate::services::access;
use crate::storage::{documents, folders, staging};
use crate::time::to_secs;

const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

fn sort(hits: &mut [SearchHit], by: SortBy, desc: bool) {
    hits.sort_by(|a, b| {
        let order = match by {
            SortBy::CreatedTime => a.created_time.total_cmp(&b.created_time),
            SortBy::LastModified => a.last_modified.total_cmp(&b.last_modified),
            SortBy::Name => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
        };
        if desc { order.reverse() } else { order }
    });
}

/// A hit: (id, name, parent folder), (created, last modified) in milliseconds, and its kind.
fn hit(
    (id, name, parent): (Uuid, String, Option<Uuid>),
    times: (i64, i64),
    kind: TargetType,
) -> SearchHit {
    SearchHit {
        id: id.to_string(),
        name,
        parent_id: parent.map(|p| p.to_string()),
        created_time: to_secs(times.0),
        last_modified: to_secs(times.1),
        kind,
    }
}

/// How a search's hits are ordered and cut.
struct Order {
    limit: u32,
    by: SortBy,
    desc: bool,
}

/// Checks the request's query and ordering.
fn order(req: &SearchRequest) -> Result<(&str, Order)> {
    let query = req.query.trim();
    if query.is_empty() || query.chars().count() > 255 {
        return Err(field_error(ErrorCode::InvalidField, "query"));
    }
    let limit = req.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(field_error(ErrorCode::InvalidField, "limit"));
    }
    let by = req.sort_by.unwrap_or_default();
    let desc = req.sort_order.unwrap_or_default() == SortOrder::Desc;
    Ok((query, Order { limit, by, desc }))
}

pub async fn run(call: Call, req: SearchRequest) -> Result<SearchResponse> {
    let auth = call.auth()?;
    let (query, Order { limit, by, desc }) = order(&req)?;
    // One snapshot for the hits, what is hidden among them, and the access checks.
    let txn = crate::db::begin_read(&call.state.db).await?;
    let db = &txn;
    let found_docs = if req.search_documents {
        documents::search(auth.scope(), db, query).await?
    } else {
        Vec::new()
    };
    let found_dirs = if req.search_directories {
        folders::search(auth.scope(), db, query).await?
    } else {
        Vec::new()
    };
    // What an import is still writing is nobody's yet.
    let hidden = if found_docs.is_empty() && found_dirs.is_empty() {
        Default::default()
    } else {
        staging::hidden(auth.scope(), db).await?
    };
    let found_dirs: Vec<_> = found_dirs
        .into_iter()
        .filter(|f| !hidden.contains(&f.id))
        .collect();
    let found_docs: Vec<_> = found_docs
        .into_iter()
        .filter(|d| !d.folder_id.is_some_and(|f| hidden.contains(&f)))
        .collect();
    // All hits checked at once: each hit's own check would walk its whole chain.
    let folder_ids: Vec<Uuid> = found_dirs.iter().map(|f| f.id).collect();
    let doc_parents: Vec<(Uuid, Option<Uuid>)> = found_docs
        .iter()
        .map(|d| (d.id, d.folder_id.filter(|_| d.inherit)))
        .collect();
    let (dirs_ok, docs_ok) =
        access::allowed_among(auth, db, &folder_ids, &doc_parents, AccessType::Read).await?;
    let mut docs: Vec<SearchHit> = found_docs
        .into_iter()
        .filter(|d| docs_ok.contains(&d.id))
        .map(|d| {
            let times = (d.created_at, d.last_modified);
            hit((d.id, d.title, d.folder_id), times, TargetType::Document)
        })
        .collect();
    let mut dirs: Vec<SearchHit> = found_dirs
        .into_iter()
        .filter(|f| dirs_ok.contains(&f.id))
        .map(|f| {
            let times = (f.created_at, f.last_modified);
            hit((f.id, f.name, f.parent_id), times, TargetType::Directory)
        })
        .collect();
    txn.commit().await?;
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
