//! Groups of one tenant.
use entity::group;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;
use crate::time::now_ms;

pub async fn find_by_name(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<group::Model>> {
    Ok(group::Entity::find()
        .filter(group::Column::TenantId.eq(scope.tenant_id()))
        .filter(group::Column::Name.eq(name))
        .one(db)
        .await?)
}

/// The groups with these names; names that do not exist are simply absent from the result.
pub async fn find_by_names(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    names: &[String],
) -> Result<Vec<group::Model>> {
    Ok(super::in_slices(names, |slice| {
        group::Entity::find()
            .filter(group::Column::TenantId.eq(scope.tenant_id()))
            .filter(group::Column::Name.is_in(slice))
            .all(db)
    })
    .await?)
}

pub async fn list(scope: &TenantScope, db: &impl ConnectionTrait) -> Result<Vec<group::Model>> {
    Ok(group::Entity::find()
        .filter(group::Column::TenantId.eq(scope.tenant_id()))
        .order_by_asc(group::Column::Name)
        .all(db)
        .await?)
}

pub async fn insert(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    name: &str,
    display_name: Option<String>,
) -> Result<group::Model> {
    let model = group::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        name: Set(name.to_owned()),
        display_name: Set(display_name),
        created_at: Set(now_ms()),
    };
    Ok(model.insert(db).await?)
}

/// Deletes a group; its memberships and grants go with it (foreign-key cascade).
pub async fn delete(scope: &TenantScope, db: &impl ConnectionTrait, id: Uuid) -> Result<bool> {
    let res = group::Entity::delete_many()
        .filter(group::Column::TenantId.eq(scope.tenant_id()))
        .filter(group::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}
