//! The blobs each backup's archive holds: recorded when the backup is kept, so that an
//! incremental backup is planned from the database, never by reading archives. Rows go
//! with their backup.
use std::fs::File;
use std::io::{BufRead, BufReader};

use entity::backup_blob;
use sea_orm::{ConnectionTrait, EntityTrait, Set};
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
