use std::collections::HashMap;

use api_spec::actions::{
    AccessEntryInfo, EntityType, ObjectType, TargetType, ViewAccessEntriesRequest,
    ViewAccessEntriesResponse,
};

use crate::actions::Call;
use crate::error::Result;
use crate::storage::rules::{EntryFilter, entries};
use crate::storage::{groups, users};
use crate::time::to_secs;

pub async fn run(call: Call, req: ViewAccessEntriesRequest) -> Result<ViewAccessEntriesResponse> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let filter = match req.object_type {
        ObjectType::User => EntryFilter::Entity(
            super::entity(auth, db, EntityType::User, &req.object_identifier).await?,
        ),
        ObjectType::Group => EntryFilter::Entity(
            super::entity(auth, db, EntityType::Group, &req.object_identifier).await?,
        ),
        ObjectType::Document => EntryFilter::Object(
            super::object(auth, db, TargetType::Document, &req.object_identifier).await?,
        ),
        ObjectType::Directory => EntryFilter::Object(
            super::object(auth, db, TargetType::Directory, &req.object_identifier).await?,
        ),
    };
    let user_names: HashMap<_, _> = users::list(auth.scope(), db)
        .await?
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    let group_names: HashMap<_, _> = groups::list(auth.scope(), db)
        .await?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    let result = entries(auth.scope(), db, filter)
        .await?
        .into_iter()
        .map(|e| {
            let (entity_type, entity_identifier) = match (e.user_id, e.group_id) {
                (Some(u), _) => (
                    EntityType::User,
                    user_names.get(&u).cloned().unwrap_or_default(),
                ),
                (None, g) => (
                    EntityType::Group,
                    g.and_then(|g| group_names.get(&g).cloned())
                        .unwrap_or_default(),
                ),
            };
            let (target_type, target_identifier) = match (e.document_id, e.folder_id) {
                (Some(d), _) => (TargetType::Document, d.to_string()),
                (None, f) => (
                    TargetType::Directory,
                    f.map(|f| f.to_string()).unwrap_or_default(),
                ),
            };
            AccessEntryInfo {
                id: e.id.to_string(),
                entity_type,
                entity_identifier,
                target_type,
                target_identifier,
                access_type: e.access_type,
                start_time: to_secs(e.start_time),
                end_time: e.end_time.map(to_secs),
            }
        })
        .collect();
    Ok(ViewAccessEntriesResponse { result })
}
