//! Files (blob records) and revisions of one tenant.
use std::collections::HashMap;

use entity::{file, revision};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, RelationDef, Set,
};
use uuid::Uuid;

use crate::auth::TenantScope;
use crate::error::Result;
use crate::time::now_ms;

pub async fn find(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<file::Model>> {
    Ok(file::Entity::find_by_id(id)
        .filter(file::Column::TenantId.eq(scope.tenant_id()))
        .one(db)
        .await?)
}

pub async fn find_by_sha256(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    sha256: &str,
) -> Result<Option<file::Model>> {
    Ok(file::Entity::find()
        .filter(file::Column::TenantId.eq(scope.tenant_id()))
        .filter(file::Column::Sha256.eq(sha256))
        .one(db)
        .await?)
}

pub async fn insert(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    sha256: &str,
    size: u64,
    storage_key: &str,
) -> Result<file::Model> {
    Ok(row(scope, sha256, size, storage_key).insert(db).await?)
}

/// A new file row (for inserting many at once).
pub fn row(scope: &TenantScope, sha256: &str, size: u64, storage_key: &str) -> file::ActiveModel {
    file::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        sha256: Set(sha256.to_owned()),
        size: Set(size as i64),
        storage_key: Set(storage_key.to_owned()),
        created_at: Set(now_ms()),
    }
}

/// The ids of the tenant's files with any of these contents, by SHA-256.
pub async fn ids_by_sha256(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    sha256s: &[&str],
) -> Result<HashMap<String, Uuid>> {
    let mut found = HashMap::new();
    for chunk in sha256s.chunks(500) {
        let rows = file::Entity::find()
            .filter(file::Column::TenantId.eq(scope.tenant_id()))
            .filter(file::Column::Sha256.is_in(chunk.iter().copied()))
            .all(db)
            .await?;
        found.extend(rows.into_iter().map(|f| (f.sha256, f.id)));
    }
    Ok(found)
}

/// Deletes the file rows among `ids` that no revision references; returns them, so their
/// blobs can be removed once the transaction has committed.
pub async fn delete_unreferenced(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<file::Model>> {
    let mut gone = Vec::new();
    for id in ids {
        let refs = revision::Entity::find()
            .filter(revision::Column::TenantId.eq(scope.tenant_id()))
            .filter(revision::Column::FileId.eq(*id))
            .count(db)
            .await?;
        if refs == 0
            && let Some(f) = find(scope, db, *id).await?
        {
            file::Entity::delete_by_id(f.id).exec(db).await?;
            gone.push(f);
        }
    }
    Ok(gone)
}

pub async fn find_revision(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Option<revision::Model>> {
    Ok(revision::Entity::find_by_id(id)
        .filter(revision::Column::TenantId.eq(scope.tenant_id()))
        .one(db)
        .await?)
}

/// The file of each of these revisions, in one query per 500 revisions.
pub async fn files_of_revisions(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    revisions: &[Uuid],
) -> Result<HashMap<Uuid, file::Model>> {
    let mut files = HashMap::new();
    for slice in revisions.chunks(500) {
        let to_file: RelationDef = revision::Entity::belongs_to(file::Entity)
            .from(revision::Column::FileId)
            .to(file::Column::Id)
            .into();
        let rows = revision::Entity::find()
            .join(JoinType::InnerJoin, to_file)
            .select_also(file::Entity)
            .filter(revision::Column::TenantId.eq(scope.tenant_id()))
            .filter(file::Column::TenantId.eq(scope.tenant_id()))
            .filter(revision::Column::Id.is_in(slice.iter().copied()))
            .all(db)
            .await?;
        files.extend(rows.into_iter().filter_map(|(r, f)| Some((r.id, f?))));
    }
    Ok(files)
}

/// A document's revisions, oldest first.
pub async fn revisions_of(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    document: Uuid,
) -> Result<Vec<revision::Model>> {
    Ok(revision::Entity::find()
        .filter(revision::Column::TenantId.eq(scope.tenant_id()))
        .filter(revision::Column::DocumentId.eq(document))
        .order_by_asc(revision::Column::CreatedAt)
        .order_by_asc(revision::Column::Id)
        .all(db)
        .await?)
}

/// The files referenced by revisions of these documents.
pub async fn file_ids_of(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    documents: &[Uuid],
) -> Result<Vec<Uuid>> {
    let mut ids: Vec<Uuid> = revision::Entity::find()
        .filter(revision::Column::TenantId.eq(scope.tenant_id()))
        .filter(revision::Column::DocumentId.is_in(documents.iter().copied()))
        .all(db)
        .await?
        .into_iter()
        .map(|r| r.file_id)
        .collect();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

pub async fn insert_revision(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    document: Uuid,
    file: Uuid,
    parent: Option<Uuid>,
) -> Result<revision::Model> {
    let model = revision::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(scope.tenant_id()),
        document_id: Set(document),
        file_id: Set(file),
        parent_revision_id: Set(parent),
        created_at: Set(now_ms()),
    };
    Ok(model.insert(db).await?)
}
