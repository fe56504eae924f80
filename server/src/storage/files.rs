//! Files (blob records) and revisions of one tenant.
use std::collections::{HashMap, HashSet};

use entity::{file, revision};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QueryOrder,
    QuerySelect, RelationDef, Set,
};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;
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
    let rows = super::in_slices(sha256s, |slice| {
        file::Entity::find()
            .filter(file::Column::TenantId.eq(scope.tenant_id()))
            .filter(file::Column::Sha256.is_in(slice))
            .all(db)
    })
    .await?;
    Ok(rows.into_iter().map(|f| (f.sha256, f.id)).collect())
}

/// Which of `ids` are file rows of the tenant.
pub async fn existing(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<HashSet<Uuid>> {
    let found: Vec<Uuid> = super::in_slices(ids, |slice| {
        file::Entity::find()
            .select_only()
            .column(file::Column::Id)
            .filter(file::Column::TenantId.eq(scope.tenant_id()))
            .filter(file::Column::Id.is_in(slice))
            .into_tuple()
            .all(db)
    })
    .await?;
    Ok(found.into_iter().collect())
}

/// Deletes the file rows among `ids` that no revision references; returns them, so their
/// blobs can be removed once the transaction has committed. Three statements per
/// [`ID_SLICE`](super::ID_SLICE) of ids, however many there are.
pub async fn delete_unreferenced(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<file::Model>> {
    let mut gone = Vec::new();
    for slice in ids.chunks(super::ID_SLICE) {
        let used: HashSet<Uuid> = revision::Entity::find()
            .select_only()
            .column(revision::Column::FileId)
            .distinct()
            .filter(revision::Column::TenantId.eq(scope.tenant_id()))
            .filter(revision::Column::FileId.is_in(slice.iter().copied()))
            .into_tuple::<Uuid>()
            .all(db)
            .await?
            .into_iter()
            .collect();
        let unused: Vec<Uuid> = slice
            .iter()
            .filter(|id| !used.contains(id))
            .copied()
            .collect();
        if unused.is_empty() {
            continue;
        }
        let rows = file::Entity::find()
            .filter(file::Column::TenantId.eq(scope.tenant_id()))
            .filter(file::Column::Id.is_in(unused.iter().copied()))
            .all(db)
            .await?;
        file::Entity::delete_many()
            .filter(file::Column::TenantId.eq(scope.tenant_id()))
            .filter(file::Column::Id.is_in(unused))
            .exec(db)
            .await?;
        gone.extend(rows);
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

/// The file of each of these revisions, in one joined query per slice of revisions.
pub async fn files_of_revisions(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    revisions: &[Uuid],
) -> Result<HashMap<Uuid, file::Model>> {
    let rows = super::in_slices(revisions, |slice| {
        let to_file: RelationDef = revision::Entity::belongs_to(file::Entity)
            .from(revision::Column::FileId)
            .to(file::Column::Id)
            .into();
        revision::Entity::find()
            .join(JoinType::InnerJoin, to_file)
            .select_also(file::Entity)
            .filter(revision::Column::TenantId.eq(scope.tenant_id()))
            .filter(file::Column::TenantId.eq(scope.tenant_id()))
            .filter(revision::Column::Id.is_in(slice))
            .all(db)
    })
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(r, f)| Some((r.id, f?)))
        .collect())
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
    let mut ids: Vec<Uuid> = super::in_slices(documents, |slice| {
        revision::Entity::find()
            .select_only()
            .column(revision::Column::FileId)
            .filter(revision::Column::TenantId.eq(scope.tenant_id()))
            .filter(revision::Column::DocumentId.is_in(slice))
            .into_tuple::<Uuid>()
            .all(db)
    })
    .await?;
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
