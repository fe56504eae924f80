//! Documents of one tenant.
use entity::document;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;
use crate::time::now_ms;

pub async fn find(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<document::Model>> {
    Ok(document::Entity::find_by_id(id)
        .filter(document::Column::TenantId.eq(scope.tenant_id()))
        .one(db)
        .await?)
}

/// Documents directly inside `folder` (`None`: top level), by title.
pub async fn in_folder(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    folder: Option<Uuid>,
) -> Result<Vec<document::Model>> {
    Ok(inside(scope, folder)
        .order_by_asc(document::Column::Title)
        .all(db)
        .await?)
}

/// The documents directly inside `folder` titled `title` (at most a few: names are unique
/// per folder, as the services keep them), without reading the others.
pub async fn titled(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    folder: Option<Uuid>,
    title: &str,
) -> Result<Vec<document::Model>> {
    Ok(inside(scope, folder)
        .filter(document::Column::Title.eq(title))
        .all(db)
        .await?)
}

fn inside(scope: &TenantScope, folder: Option<Uuid>) -> sea_orm::Select<document::Entity> {
    let query = document::Entity::find().filter(document::Column::TenantId.eq(scope.tenant_id()));
    match folder {
        Some(f) => query.filter(document::Column::FolderId.eq(f)),
        None => query.filter(document::Column::FolderId.is_null()),
    }
}

/// The ids of the documents inside any of `folders` (at most `limit` of them, when given).
pub async fn ids_in_folders(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    folders: &[Uuid],
    limit: Option<usize>,
) -> Result<Vec<Uuid>> {
    let mut ids = Vec::new();
    for slice in folders.chunks(super::ID_SLICE) {
        let left = limit.map(|l| l.saturating_sub(ids.len()));
        if left == Some(0) {
            break;
        }
        let rows: Vec<Uuid> = document::Entity::find()
            .select_only()
            .column(document::Column::Id)
            .filter(document::Column::TenantId.eq(scope.tenant_id()))
            .filter(document::Column::FolderId.is_in(slice.iter().copied()))
            .limit(left.map(|l| l as u64))
            .into_tuple()
            .all(db)
            .await?;
        ids.extend(rows);
    }
    Ok(ids)
}

pub async fn count_in(scope: &TenantScope, db: &impl ConnectionTrait, folder: Uuid) -> Result<u64> {
    Ok(document::Entity::find()
        .filter(document::Column::TenantId.eq(scope.tenant_id()))
        .filter(document::Column::FolderId.eq(folder))
        .count(db)
        .await?)
}

pub async fn insert(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    folder: Option<Uuid>,
    title: &str,
    inherit: bool,
) -> Result<document::Model> {
    let now = now_ms();
    let model = document::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        folder_id: Set(folder),
        title: Set(title.to_owned()),
        inherit: Set(inherit),
        current_revision_id: Set(None),
        created_at: Set(now),
        last_modified: Set(now),
    };
    Ok(model.insert(db).await?)
}

/// Saves a changed document, stamping `last_modified`.
pub async fn update(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    mut model: document::Model,
) -> Result<()> {
    if model.tenant_id != scope.tenant_id() {
        return Ok(());
    }
    model.last_modified = now_ms();
    let active: document::ActiveModel = model.into();
    active.reset_all().update(db).await?;
    Ok(())
}

/// Deletes documents by id (their revisions, rules and entries cascade).
pub async fn delete(scope: &TenantScope, db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<()> {
    for slice in ids.chunks(super::ID_SLICE) {
        document::Entity::delete_many()
            .filter(document::Column::TenantId.eq(scope.tenant_id()))
            .filter(document::Column::Id.is_in(slice.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Documents whose title contains `needle` (case-insensitive, `LIKE` wildcards escaped).
pub async fn search(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    needle: &str,
) -> Result<Vec<document::Model>> {
    Ok(document::Entity::find()
        .filter(document::Column::TenantId.eq(scope.tenant_id()))
        .filter(super::name_like(document::Column::Title, needle))
        .all(db)
        .await?)
}
