//! Tenants are the one table that is not tenant-scoped: it is the scope.
use entity::tenant;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;
use crate::time::now_ms;

/// The operator tenant: the one bootstrapped on first start, whose users may manage tenants.
pub const DEFAULT_TENANT: &str = "default";

pub async fn find_by_slug(db: &impl ConnectionTrait, slug: &str) -> Result<Option<tenant::Model>> {
    Ok(tenant::Entity::find()
        .filter(tenant::Column::Slug.eq(slug))
        .one(db)
        .await?)
}

pub async fn find_by_id(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<tenant::Model>> {
    Ok(tenant::Entity::find_by_id(id).one(db).await?)
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<tenant::Model>> {
    Ok(tenant::Entity::find()
        .order_by_asc(tenant::Column::Slug)
        .all(db)
        .await?)
}

pub async fn insert(
    db: &impl ConnectionTrait,
    slug: &str,
    display_name: &str,
) -> Result<tenant::Model> {
    let model = tenant::ActiveModel {
        id: Set(Uuid::now_v7()),
        slug: Set(slug.to_owned()),
        display_name: Set(display_name.to_owned()),
        created_at: Set(now_ms()),
    };
    Ok(model.insert(db).await?)
}

/// Whether the tenant holds any folder or document (a `restore` needs it to hold none).
/// Everything hangs below a top-level folder or is a top-level document, so those two are
/// looked at; an import's staging folder does not count.
pub async fn holds_content(scope: &TenantScope, db: &impl ConnectionTrait) -> Result<bool> {
    use entity::{document, folder};
    let tenant = scope.tenant_id();
    let folder = folder::Entity::find()
        .filter(folder::Column::TenantId.eq(tenant))
        .filter(folder::Column::ParentId.is_null())
        .filter(folder::Column::ImportJobId.is_null())
        .one(db)
        .await?;
    if folder.is_some() {
        return Ok(true);
    }
    let document = document::Entity::find()
        .filter(document::Column::TenantId.eq(tenant))
        .filter(document::Column::FolderId.is_null())
        .one(db)
        .await?;
    Ok(document.is_some())
}
