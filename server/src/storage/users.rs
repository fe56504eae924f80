//! Users of one tenant.
use entity::user;
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
    username: &str,
) -> Result<Option<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(scope.tenant_id()))
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await?)
}

pub async fn find_by_id(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<user::Model>> {
    Ok(user::Entity::find_by_id(id)
        .filter(user::Column::TenantId.eq(scope.tenant_id()))
        .one(db)
        .await?)
}

pub async fn list(scope: &TenantScope, db: &impl ConnectionTrait) -> Result<Vec<user::Model>> {
    Ok(user::Entity::find()
        .filter(user::Column::TenantId.eq(scope.tenant_id()))
        .order_by_asc(user::Column::Username)
        .all(db)
        .await?)
}

pub async fn insert(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    username: &str,
    nickname: Option<String>,
    password_hash: String,
) -> Result<user::Model> {
    let now = now_ms();
    let model = user::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        username: Set(username.to_owned()),
        nickname: Set(nickname),
        password_hash: Set(password_hash),
        passwd_last_modified: Set(now),
        created_at: Set(now),
        last_login: Set(None),
    };
    Ok(model.insert(db).await?)
}

/// Deletes a user; memberships, grants and sessions go with it (foreign-key cascade).
pub async fn delete(scope: &TenantScope, db: &impl ConnectionTrait, id: Uuid) -> Result<bool> {
    let res = user::Entity::delete_many()
        .filter(user::Column::TenantId.eq(scope.tenant_id()))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(res.rows_affected > 0)
}

pub async fn set_password_hash(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
    password_hash: String,
) -> Result<()> {
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, password_hash.into())
        .col_expr(user::Column::PasswdLastModified, now_ms().into())
        .filter(user::Column::TenantId.eq(scope.tenant_id()))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn touch_last_login(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<()> {
    user::Entity::update_many()
        .col_expr(user::Column::LastLogin, Some(now_ms()).into())
        .filter(user::Column::TenantId.eq(scope.tenant_id()))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
