//! Sessions, found by the digest of their token.
use entity::session;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;
use crate::time::now_ms;

/// The unexpired session whose token has this digest. Not tenant-scoped: the token is what
/// tells us the tenant.
pub async fn find_live(
    db: &impl ConnectionTrait,
    token_digest: &str,
    now: i64,
) -> Result<Option<session::Model>> {
    Ok(session::Entity::find()
        .filter(session::Column::TokenHash.eq(token_digest))
        .filter(session::Column::ExpiresAt.gt(now))
        .one(db)
        .await?)
}

pub async fn insert(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    user_id: Uuid,
    token_digest: String,
    expires_at: i64,
) -> Result<session::Model> {
    let model = session::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        user_id: Set(user_id),
        token_hash: Set(token_digest),
        created_at: Set(now_ms()),
        expires_at: Set(expires_at),
    };
    Ok(model.insert(db).await?)
}

pub async fn delete(scope: &TenantScope, db: &impl ConnectionTrait, id: Uuid) -> Result<()> {
    session::Entity::delete_many()
        .filter(session::Column::TenantId.eq(scope.tenant_id()))
        .filter(session::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes every session of the user, and (at the same time) drops any expired ones.
pub async fn delete_for_user(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    user_id: Uuid,
) -> Result<()> {
    session::Entity::delete_many()
        .filter(session::Column::TenantId.eq(scope.tenant_id()))
        .filter(session::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Drops expired sessions of every tenant (housekeeping; they are already unusable).
pub async fn purge_expired(db: &impl ConnectionTrait, now: i64) -> Result<u64> {
    let res = session::Entity::delete_many()
        .filter(session::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
