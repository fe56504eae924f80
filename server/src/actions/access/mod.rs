pub mod grant_access;
pub mod revoke_access;
pub mod view_access_entries;

use api_spec::ErrorCode;
use api_spec::actions::{EntityType, TargetType};
use sea_orm::ConnectionTrait;

use crate::auth::AuthContext;
use crate::error::{Result, fail};
use crate::services::names;
use crate::storage::rules::{Entity, Object};
use crate::storage::{groups, users};

/// Resolves a user or group name in the caller's tenant.
async fn entity(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    kind: EntityType,
    name: &str,
) -> Result<Entity> {
    match kind {
        EntityType::User => users::find_by_name(auth.scope(), db, name)
            .await?
            .map(|u| Entity::User(u.id))
            .ok_or_else(|| fail(ErrorCode::UserNotFound)),
        EntityType::Group => groups::find_by_name(auth.scope(), db, name)
            .await?
            .map(|g| Entity::Group(g.id))
            .ok_or_else(|| fail(ErrorCode::GroupNotFound)),
    }
}

/// Resolves a document or folder id in the caller's tenant.
async fn object(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    kind: TargetType,
    raw: &str,
) -> Result<Object> {
    Ok(match kind {
        TargetType::Document => {
            let id = names::parse_id(raw, ErrorCode::DocumentNotFound)?;
            Object::Document(names::document(auth.scope(), db, id).await?.id)
        }
        TargetType::Directory => {
            let id = names::parse_id(raw, ErrorCode::FolderNotFound)?;
            Object::Folder(names::folder(auth.scope(), db, id).await?.id)
        }
    })
}
