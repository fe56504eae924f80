//! Folders of one tenant.
use entity::folder;
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
) -> Result<Option<folder::Model>> {
    Ok(folder::Entity::find_by_id(id)
        .filter(folder::Column::TenantId.eq(scope.tenant_id()))
        .one(db)
        .await?)
}

/// The folders directly inside `parent` (`None`: top level, without imports' hidden staging
/// folders), by name.
pub async fn children(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    parent: Option<Uuid>,
) -> Result<Vec<folder::Model>> {
    Ok(inside(scope, parent)
        .order_by_asc(folder::Column::Name)
        .all(db)
        .await?)
}

/// The folders directly inside `parent` named `name` (at most a few: names are unique per
/// folder, as the services keep them), without reading the others.
pub async fn named(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    parent: Option<Uuid>,
    name: &str,
) -> Result<Vec<folder::Model>> {
    Ok(inside(scope, parent)
        .filter(folder::Column::Name.eq(name))
        .all(db)
        .await?)
}

fn inside(scope: &TenantScope, parent: Option<Uuid>) -> sea_orm::Select<folder::Entity> {
    let query = folder::Entity::find().filter(folder::Column::TenantId.eq(scope.tenant_id()));
    match parent {
        Some(p) => query.filter(folder::Column::ParentId.eq(p)),
        None => query
            .filter(folder::Column::ParentId.is_null())
            .filter(folder::Column::ImportJobId.is_null()),
    }
}

pub async fn count_children(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    parent: Uuid,
) -> Result<u64> {
    Ok(folder::Entity::find()
        .filter(folder::Column::TenantId.eq(scope.tenant_id()))
        .filter(folder::Column::ParentId.eq(parent))
        .count(db)
        .await?)
}

pub async fn insert(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    parent: Option<Uuid>,
    name: &str,
    inherit: bool,
) -> Result<folder::Model> {
    let now = now_ms();
    let model = folder::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        parent_id: Set(parent),
        name: Set(name.to_owned()),
        inherit: Set(inherit),
        created_at: Set(now),
        last_modified: Set(now),
        import_job_id: Set(None),
    };
    Ok(model.insert(db).await?)
}

/// Saves a changed folder (name, parent or inherit), stamping `last_modified`.
pub async fn update(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    mut model: folder::Model,
) -> Result<()> {
    if model.tenant_id != scope.tenant_id() {
        return Ok(());
    }
    model.last_modified = now_ms();
    let active: folder::ActiveModel = model.into();
    active.reset_all().update(db).await?;
    Ok(())
}

/// The ids of the folders directly inside any of `parents`.
pub async fn child_ids(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    parents: &[Uuid],
) -> Result<Vec<Uuid>> {
    Ok(super::in_slices(parents, |slice| {
        folder::Entity::find()
            .select_only()
            .column(folder::Column::Id)
            .filter(folder::Column::TenantId.eq(scope.tenant_id()))
            .filter(folder::Column::ParentId.is_in(slice))
            .into_tuple()
            .all(db)
    })
    .await?)
}

/// Deletes folders by id (their subfolders, documents, rules and entries cascade).
pub async fn delete_many(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<()> {
    for slice in ids.chunks(super::ID_SLICE) {
        folder::Entity::delete_many()
            .filter(folder::Column::TenantId.eq(scope.tenant_id()))
            .filter(folder::Column::Id.is_in(slice.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Folders whose name contains `needle` (case-insensitive, `LIKE` wildcards escaped).
pub async fn search(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    needle: &str,
) -> Result<Vec<folder::Model>> {
    Ok(folder::Entity::find()
        .filter(folder::Column::TenantId.eq(scope.tenant_id()))
        .filter(super::name_like(folder::Column::Name, needle))
        .all(db)
        .await?)
}
