//! The audit trail of one tenant.
use entity::audit_entry;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::Value;
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;
use crate::time::now_ms;

/// What is written for one audited call.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub username: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub data: Option<Value>,
    pub result: u16,
    pub remote_address: Option<String>,
}

/// Characters the `username` column holds. A failed login records the name it was given,
/// which may be anything; it is cut to fit rather than failing the insert (and the login).
const USERNAME_MAX_CHARS: usize = 64;

fn bounded(text: String, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => text[..end].to_owned(),
        None => text,
    }
}

pub async fn insert(scope: &TenantScope, db: &impl ConnectionTrait, entry: NewEntry) -> Result<()> {
    audit_entry::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        username: Set(entry.username.map(|u| bounded(u, USERNAME_MAX_CHARS))),
        action: Set(entry.action),
        target: Set(entry.target),
        data: Set(entry.data),
        result: Set(i32::from(entry.result)),
        remote_address: Set(entry.remote_address),
        logged_time: Set(now_ms()),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A page of entries, newest first, with the total matching `actions` (all when `None`).
pub async fn page(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    actions: Option<&[String]>,
    offset: u64,
    count: u64,
) -> Result<(u64, Vec<audit_entry::Model>)> {
    let mut query =
        audit_entry::Entity::find().filter(audit_entry::Column::TenantId.eq(scope.tenant_id()));
    if let Some(actions) = actions {
        query = query.filter(audit_entry::Column::Action.is_in(actions.iter().cloned()));
    }
    let total = query.clone().count(db).await?;
    let entries = query
        .order_by_desc(audit_entry::Column::LoggedTime)
        .order_by_desc(audit_entry::Column::Id)
        .offset(offset)
        .limit(count)
        .all(db)
        .await?;
    Ok((total, entries))
}
