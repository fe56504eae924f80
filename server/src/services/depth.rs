//! The folder-depth limit: folders nest at most [`MAX_DEPTH`] deep (a top-level folder is at
//! depth 1). Create, move and import refuse to go deeper (`depth_limit_exceeded`), so every
//! walk up or down the tree — an access check, a move's cycle check, a delete — covers at most
//! that many levels, in one query (`storage::tree`).
//!
//! Why 256: real trees are shallow (a careful user's rarely pass ~50 levels; the CFMS sample
//! archive is 2 deep), so 256 is five times what anyone uses while keeping every walk small.
//! It also stays well below SQLite's limit of 1,000 nested trigger levels, which its foreign
//! key cascades count against: a delete cascading down a deeper chain fails outright (a chain
//! of 10,050 folders answered `500 internal`).
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::error::{Error, Result};
use crate::storage::tree::{self, Ancestor};

/// How deep folders may nest.
pub const MAX_DEPTH: u32 = 256;

/// `depth_limit_exceeded`, naming the limit.
pub fn exceeded() -> Error {
    Error::DepthLimit {
        max_depth: MAX_DEPTH,
    }
}

/// `folder` and the folders above it, nearest first (empty if it does not exist); its depth
/// is their number. `depth_limit_exceeded` if it lies deeper than the limit — only data made
/// before the limit existed (or corrupt data with a cycle) can.
pub async fn path_up(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    folder: Uuid,
) -> Result<Vec<Ancestor>> {
    let path = tree::ancestors(scope, db, folder, MAX_DEPTH + 1).await?;
    if path.len() > MAX_DEPTH as usize {
        return Err(exceeded());
    }
    Ok(path)
}

/// The depth of `folder` (0 for the top level, `None`).
pub async fn of(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    folder: Option<Uuid>,
) -> Result<u32> {
    Ok(match folder {
        Some(f) => path_up(scope, db, f).await?.len() as u32,
        None => 0,
    })
}

/// `depth_limit_exceeded` unless `folder`'s subtree (the folder itself included) spans at
/// most `room` levels.
pub async fn require_height_within(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    folder: Uuid,
    room: u32,
) -> Result<()> {
    // One level more than the room is enough to know it does not fit.
    if tree::height(scope, db, folder, room + 1).await? > room {
        return Err(exceeded());
    }
    Ok(())
}
