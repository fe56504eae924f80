//! Where each backup's copies are: one row per backup and destination of `backup_copies`,
//! made pending with the backup's completion and going with the backup.
use std::collections::HashMap;

use entity::{backup, backup_copy};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, JoinType, QueryFilter, QuerySelect, Set};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;

pub use api_spec::actions::CopyState;

/// Makes backup `backup`'s copies to `destinations` pending (those it has stay as they are).
pub async fn plan(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    backup: Uuid,
    destinations: &[String],
) -> Result<()> {
    let rows: Vec<backup_copy::ActiveModel> = destinations
        .iter()
        .map(|d| backup_copy::ActiveModel {
            backup_id: Set(backup),
            destination: Set(d.clone()),
            tenant_id: Set(scope.tenant_id()),
            state: Set(CopyState::Pending),
            attempts: Set(0),
            copied_at: Set(None),
            error: Set(None),
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    backup_copy::Entity::insert_many(rows)
        .on_conflict_do_nothing()
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The copy of backup `backup` at `destination`.
pub async fn find(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    backup: Uuid,
    destination: &str,
) -> Result<Option<backup_copy::Model>> {
    Ok(backup_copy::Entity::find()
        .filter(backup_copy::Column::TenantId.eq(scope.tenant_id()))
        .filter(backup_copy::Column::BackupId.eq(backup))
        .filter(backup_copy::Column::Destination.eq(destination))
        .one(db)
        .await?)
}

/// Records the end of an attempt at a copy: `Ok(at)` it is made and checked at `at`;
/// `Err((state, error))` it is not, and why.
pub async fn record(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    (backup, destination): (Uuid, &str),
    outcome: std::result::Result<i64, (CopyState, String)>,
) -> Result<()> {
    let (state, copied_at, error) = match outcome {
        Ok(at) => (CopyState::Copied, Some(at), None),
        Err((state, error)) => (state, None, Some(error)),
    };
    backup_copy::Entity::update_many()
        .col_expr(backup_copy::Column::State, Expr::value(state))
        .col_expr(backup_copy::Column::CopiedAt, Expr::value(copied_at))
        .col_expr(backup_copy::Column::Error, Expr::value(error))
        .col_expr(
            backup_copy::Column::Attempts,
            Expr::col(backup_copy::Column::Attempts).add(1),
        )
        .filter(backup_copy::Column::TenantId.eq(scope.tenant_id()))
        .filter(backup_copy::Column::BackupId.eq(backup))
        .filter(backup_copy::Column::Destination.eq(destination))
        .exec(db)
        .await?;
    Ok(())
}

/// The copies of the tenant's backups, by backup.
pub async fn of_tenant(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
) -> Result<HashMap<Uuid, Vec<backup_copy::Model>>> {
    let mut by_backup: HashMap<Uuid, Vec<backup_copy::Model>> = HashMap::new();
    for row in backup_copy::Entity::find()
        .filter(backup_copy::Column::TenantId.eq(scope.tenant_id()))
        .all(db)
        .await?
    {
        by_backup.entry(row.backup_id).or_default().push(row);
    }
    Ok(by_backup)
}

/// Of every tenant, per destination: when the newest good copy was made, and the bytes of
/// the archives still waiting to be copied there (for `/metrics`).
pub async fn census(db: &impl ConnectionTrait) -> Result<HashMap<String, (Option<i64>, i64)>> {
    let rows: Vec<(String, CopyState, Option<i64>, Option<i64>)> = backup_copy::Entity::find()
        .select_only()
        .column(backup_copy::Column::Destination)
        .column(backup_copy::Column::State)
        .column(backup_copy::Column::CopiedAt)
        .column(backup::Column::ArchiveSize)
        .join(
            JoinType::InnerJoin,
            backup_copy::Entity::belongs_to(backup::Entity)
                .from(backup_copy::Column::BackupId)
                .to(backup::Column::Id)
                .into(),
        )
        .into_tuple()
        .all(db)
        .await?;
    let mut out: HashMap<String, (Option<i64>, i64)> = HashMap::new();
    for (destination, state, copied_at, size) in rows {
        let entry = out.entry(destination).or_default();
        match state {
            CopyState::Copied => entry.0 = Ord::max(entry.0, copied_at),
            CopyState::Pending => entry.1 += size.unwrap_or(0),
            CopyState::Failed => {}
        }
    }
    Ok(out)
}
