//! Tenants are the one table that is not tenant-scoped: it is the scope.
use entity::tenant;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use crate::error::Result;
use crate::time::now_ms;

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
