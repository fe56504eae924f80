//! The blobs each backup's archive holds: recorded when the backup is kept, so that an
//! incremental backup is planned from the database, never by reading archives. Rows go
//! with their backup.
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};

use entity::{backup_blob, file};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::storage::TenantScope;

/// Rows inserted per statement (well under every database's bound-parameter limit).
const INSERT_SLICE: usize = 500;

/// Records the blobs listed in `held` (one JSON line `[sha256, size]` each, as the export's
/// writer lists them) as held by backup `backup`; returns how many.
pub async fn record(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    backup: Uuid,
    held: &File,
) -> Result<u64> {
    let mut lines = BufReader::new(held).lines();
    let mut total = 0u64;
    loop {
        let mut rows = Vec::with_capacity(INSERT_SLICE);
        for line in lines.by_ref().take(INSERT_SLICE) {
            let line = line.map_err(|e| Error::Internal(format!("held blobs spool: {e}")))?;
            let (sha256, size): (String, i64) = serde_json::from_str(&line)?;
            rows.push(backup_blob::ActiveModel {
                backup_id: Set(backup),
                sha256: Set(sha256),
                tenant_id: Set(scope.tenant_id()),
                size: Set(size),
            });
        }
        if rows.is_empty() {
            return Ok(total);
        }
        total += rows.len() as u64;
        backup_blob::Entity::insert_many(rows)
            .on_conflict_do_nothing()
            .exec_without_returning(db)
            .await?;
    }
}

/// Which of `sha256s` the backups of `chain` hold, and in which of them (the first named,
/// should two hold one).
pub async fn holders(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    chain: &[Uuid],
    sha256s: Vec<String>,
) -> Result<HashMap<String, Uuid>> {
    // By hash alone (an index finds those): naming the chain's backups too would probe
    // every (backup, hash) pair. Rows of other chains are dropped here.
    let rows = backup_blob::Entity::find()
        .filter(backup_blob::Column::TenantId.eq(scope.tenant_id()))
        .filter(backup_blob::Column::Sha256.is_in(sha256s))
        .all(db)
        .await?;
    let rank: HashMap<Uuid, usize> = chain.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut held: HashMap<String, Uuid> = HashMap::new();
    for row in rows {
        let Some(own) = rank.get(&row.backup_id) else {
            continue;
        };
        match held.get(&row.sha256) {
            Some(other) if rank[other] <= *own => {}
            _ => {
                held.insert(row.sha256, row.backup_id);
            }
        }
    }
    Ok(held)
}

/// How many of the tenant's files, and how many bytes, no backup of `chain` holds: what an
/// incremental backup on that chain carries.
pub async fn not_held(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    chain: &[Uuid],
) -> Result<(u64, u64)> {
    let held = Query::select()
        .column(backup_blob::Column::Sha256)
        .from(backup_blob::Entity)
        .and_where(backup_blob::Column::TenantId.eq(scope.tenant_id()))
        .and_where(backup_blob::Column::BackupId.is_in(chain.iter().copied()))
        .to_owned();
    let row: Option<(i64, i64)> = file::Entity::find()
        .select_only()
        .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "files")
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(size), 0) AS BIGINT)"),
            "bytes",
        )
        .filter(file::Column::TenantId.eq(scope.tenant_id()))
        .filter(file::Column::Sha256.not_in_subquery(held))
        .into_tuple()
        .one(db)
        .await?;
    let (files, bytes) = row.unwrap_or((0, 0));
    Ok((files.max(0) as u64, bytes.max(0) as u64))
}
