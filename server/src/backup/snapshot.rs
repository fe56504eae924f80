//! Reading a tenant for export: every query runs on one read transaction, so the archive is
//! a consistent snapshot; rows are paged, so memory does not grow with the tenant.
use std::collections::HashMap;
use std::time::Duration;

use entity::{access_entry, document, file, folder, revision};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::archive::manifest::{self as m, Counts};
use crate::auth::TenantScope;
use crate::error::Result;
use crate::services::rules::render;
use crate::storage::rules::rules_of_many;
use crate::storage::{grants, groups, staging, users};

/// Rows fetched per query.
pub const PAGE: u64 = 500;

fn rules_for(map: &mut HashMap<Uuid, crate::access::RuleSet>, id: Uuid) -> m::Rules {
    map.remove(&id).map(|set| render(&set)).unwrap_or_default()
}

/// Begins the export's one read transaction, a consistent snapshot (`db::begin_read`), at a
/// moment when no import of the tenant is writing its staged rows: those are not the
/// tenant's yet, and an export taken then waits (an import's last transaction makes them the
/// tenant's, or its failure removes them).
pub async fn begin(scope: &TenantScope, db: &DatabaseConnection) -> Result<DatabaseTransaction> {
    let mut delay = Duration::from_millis(50);
    loop {
        let txn = crate::db::begin_read(db).await?;
        if !staging::any(scope, &txn).await? {
            return Ok(txn);
        }
        txn.rollback().await?;
        tracing::debug!(tenant = %scope.tenant_id(), "export waits for an import's last transaction");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
}

pub async fn counts(scope: &TenantScope, db: &impl ConnectionTrait) -> Result<Counts> {
    let t = scope.tenant_id();
    let bytes: Option<i64> = file::Entity::find()
        .select_only()
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(size), 0) AS BIGINT)"),
            "total",
        )
        .filter(file::Column::TenantId.eq(t))
        .into_tuple()
        .one(db)
        .await?;
    Ok(Counts {
        folders: folder::Entity::find()
            .filter(folder::Column::TenantId.eq(t))
            .count(db)
            .await?,
        documents: document::Entity::find()
            .filter(document::Column::TenantId.eq(t))
            .count(db)
            .await?,
        revisions: revision::Entity::find()
            .filter(revision::Column::TenantId.eq(t))
            .count(db)
            .await?,
        files: file::Entity::find()
            .filter(file::Column::TenantId.eq(t))
            .count(db)
            .await?,
        users: users::list(scope, db).await?.len() as u64,
        groups: groups::list(scope, db).await?.len() as u64,
        access_entries: access_entry::Entity::find()
            .filter(access_entry::Column::TenantId.eq(t))
            .count(db)
            .await?,
        bytes: bytes.unwrap_or(0).max(0) as u64,
    })
}

/// One page of the folders inside `parents` (`None`: the top level), ids after `after`, with
/// their rules. The export reads the tree level by level, so parents come before children;
/// `parents` is one slice of the level above.
pub async fn folder_page(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    parents: Option<&[Uuid]>,
    after: Option<Uuid>,
) -> Result<Vec<m::FolderLine>> {
    let mut query = folder::Entity::find().filter(folder::Column::TenantId.eq(scope.tenant_id()));
    query = match parents {
        None => query.filter(folder::Column::ParentId.is_null()),
        Some(ids) => query.filter(folder::Column::ParentId.is_in(ids.iter().copied())),
    };
    if let Some(after) = after {
        query = query.filter(folder::Column::Id.gt(after));
    }
    let rows = query
        .order_by_asc(folder::Column::Id)
        .limit(PAGE)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|f| f.id).collect();
    let mut rules = rules_of_many(scope, db, true, &ids).await?;
    Ok(rows
        .into_iter()
        .map(|f| m::FolderLine {
            id: f.id.to_string(),
            parent_id: f.parent_id.map(|p| p.to_string()),
            name: f.name,
            inherit: f.inherit,
            created_at: f.created_at,
            last_modified: f.last_modified,
            rules: rules_for(&mut rules, f.id),
        })
        .collect())
}

/// One page of documents (ids after `after`), with their revisions and rules.
pub async fn document_page(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    after: Option<Uuid>,
) -> Result<Vec<m::DocumentLine>> {
    let mut query =
        document::Entity::find().filter(document::Column::TenantId.eq(scope.tenant_id()));
    if let Some(after) = after {
        query = query.filter(document::Column::Id.gt(after));
    }
    let rows = query
        .order_by_asc(document::Column::Id)
        .limit(PAGE)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = rows.iter().map(|d| d.id).collect();
    let mut rules = rules_of_many(scope, db, false, &ids).await?;
    let mut revisions: HashMap<Uuid, Vec<m::RevisionLine>> = HashMap::new();
    let revision_rows = revision::Entity::find()
        .filter(revision::Column::TenantId.eq(scope.tenant_id()))
        .filter(revision::Column::DocumentId.is_in(ids.iter().copied()))
        .order_by_asc(revision::Column::CreatedAt)
        .order_by_asc(revision::Column::Id)
        .all(db)
        .await?;
    for r in revision_rows {
        revisions
            .entry(r.document_id)
            .or_default()
            .push(m::RevisionLine {
                id: r.id.to_string(),
                file_id: r.file_id.to_string(),
                parent_revision_id: r.parent_revision_id.map(|p| p.to_string()),
                created_at: r.created_at,
            });
    }
    Ok(rows
        .into_iter()
        .map(|d| m::DocumentLine {
            id: d.id.to_string(),
            folder_id: d.folder_id.map(|f| f.to_string()),
            title: d.title,
            inherit: d.inherit,
            created_at: d.created_at,
            last_modified: d.last_modified,
            current_revision_id: d.current_revision_id.map(|r| r.to_string()),
            rules: rules_for(&mut rules, d.id),
            revisions: revisions.remove(&d.id).unwrap_or_default(),
        })
        .collect())
}

/// One page of files (ids after `after`).
pub async fn file_page(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    after: Option<Uuid>,
) -> Result<Vec<file::Model>> {
    let mut query = file::Entity::find().filter(file::Column::TenantId.eq(scope.tenant_id()));
    if let Some(after) = after {
        query = query.filter(file::Column::Id.gt(after));
    }
    Ok(query
        .order_by_asc(file::Column::Id)
        .limit(PAGE)
        .all(db)
        .await?)
}

/// Users (never their password hashes) and groups, with memberships and grants.
pub async fn principals(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    now: i64,
) -> Result<(Vec<m::UserLine>, Vec<m::GroupLine>)> {
    let group_rows = groups::list(scope, db).await?;
    let group_names: HashMap<Uuid, String> =
        group_rows.iter().map(|g| (g.id, g.name.clone())).collect();
    let mut member_of: HashMap<Uuid, Vec<String>> = HashMap::new();
    for mship in grants::live_memberships(scope, db, None, now).await? {
        if let Some(name) = group_names.get(&mship.group_id) {
            member_of
                .entry(mship.user_id)
                .or_default()
                .push(name.clone());
        }
    }
    let mut granted: HashMap<Uuid, Vec<String>> = HashMap::new();
    for g in grants::live_grants(scope, db, now).await? {
        if let Some(id) = g.user_id.or(g.group_id) {
            granted.entry(id).or_default().push(g.permission);
        }
    }
    let users = users::list(scope, db)
        .await?
        .into_iter()
        .map(|u| m::UserLine {
            username: u.username,
            nickname: u.nickname,
            created_at: u.created_at,
            groups: member_of.remove(&u.id).unwrap_or_default(),
            permissions: granted.remove(&u.id).unwrap_or_default(),
        })
        .collect();
    let groups = group_rows
        .into_iter()
        .map(|g| m::GroupLine {
            permissions: granted.remove(&g.id).unwrap_or_default(),
            name: g.name,
            display_name: g.display_name,
        })
        .collect();
    Ok((users, groups))
}

/// One page of explicit access entries, with user and group names resolved.
pub async fn entry_page(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    after: Option<Uuid>,
    names: &HashMap<Uuid, String>,
) -> Result<(Option<Uuid>, Vec<m::AccessEntryLine>)> {
    let mut query =
        access_entry::Entity::find().filter(access_entry::Column::TenantId.eq(scope.tenant_id()));
    if let Some(after) = after {
        query = query.filter(access_entry::Column::Id.gt(after));
    }
    let rows = query
        .order_by_asc(access_entry::Column::Id)
        .limit(PAGE)
        .all(db)
        .await?;
    let last = rows.last().map(|e| e.id);
    let lines = rows
        .into_iter()
        .map(|e| {
            let (entity_type, entity) = match (e.user_id, e.group_id) {
                (Some(u), _) => ("user", names.get(&u).cloned().unwrap_or_default()),
                (None, g) => (
                    "group",
                    g.and_then(|g| names.get(&g).cloned()).unwrap_or_default(),
                ),
            };
            let (target_type, target) = match (e.document_id, e.folder_id) {
                (Some(d), _) => ("document", d),
                (None, f) => ("directory", f.unwrap_or_default()),
            };
            m::AccessEntryLine {
                entity_type: entity_type.into(),
                entity,
                target_type: target_type.into(),
                target_id: target.to_string(),
                access_type: e.access_type.as_str().to_owned(),
                start_time: e.start_time,
                end_time: e.end_time,
            }
        })
        .collect();
    Ok((last, lines))
}
