//! An import's journal of the blobs it put into the object store: each is listed before its
//! bytes are put, so that whichever instance resets or ends the job (the import's own, or
//! another once that one stopped) can take out what nothing references.
use entity::job_blob;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;

/// Rows inserted per statement (well under every database's bound-parameter limit).
const INSERT_SLICE: usize = 1000;

/// Lists `sha256s` as put (or about to be put) by job `job`; listing one twice is harmless.
pub async fn record(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    job: Uuid,
    sha256s: &[&str],
) -> Result<()> {
    for slice in sha256s.chunks(INSERT_SLICE) {
        let rows = slice.iter().map(|sha256| job_blob::ActiveModel {
            job_id: sea_orm::Set(job),
            sha256: sea_orm::Set((*sha256).to_owned()),
            tenant_id: sea_orm::Set(scope.tenant_id()),
        });
        job_blob::Entity::insert_many(rows)
            .on_conflict_do_nothing()
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Up to `limit` of job `job`'s listed hashes after `after`, in order.
pub async fn slice(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    job: Uuid,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<String>> {
    let mut query = job_blob::Entity::find()
        .filter(job_blob::Column::TenantId.eq(scope.tenant_id()))
        .filter(job_blob::Column::JobId.eq(job));
    if let Some(after) = after {
        query = query.filter(job_blob::Column::Sha256.gt(after));
    }
    Ok(query
        .order_by_asc(job_blob::Column::Sha256)
        .limit(limit)
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.sha256)
        .collect())
}

/// Forgets job `job`'s journal (its blobs are referenced, or were dealt with).
pub async fn clear(scope: &TenantScope, db: &impl ConnectionTrait, job: Uuid) -> Result<()> {
    job_blob::Entity::delete_many()
        .filter(job_blob::Column::TenantId.eq(scope.tenant_id()))
        .filter(job_blob::Column::JobId.eq(job))
        .exec(db)
        .await?;
    Ok(())
}

/// The jobs of every tenant that have a journal (tenant, job): the reaper deals with those
/// no longer live.
pub async fn journalled(db: &impl ConnectionTrait) -> Result<Vec<(Uuid, Uuid)>> {
    Ok(job_blob::Entity::find()
        .select_only()
        .column(job_blob::Column::TenantId)
        .column(job_blob::Column::JobId)
        .distinct()
        .into_tuple()
        .all(db)
        .await?)
}
