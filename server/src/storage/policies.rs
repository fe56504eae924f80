//! Backup policies, one per tenant (`lifecycle::policy` says what they mean).
use entity::backup_policy;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;

/// The tenant's policy, if it has one.
pub async fn get(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
) -> Result<Option<backup_policy::Model>> {
    Ok(backup_policy::Entity::find_by_id(scope.tenant_id())
        .one(db)
        .await?)
}

/// Sets the tenant's policy (replacing any).
pub async fn put(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    policy: backup_policy::Model,
) -> Result<()> {
    let row = backup_policy::ActiveModel {
        tenant_id: sea_orm::Set(scope.tenant_id()),
        ..sea_orm::IntoActiveModel::into_active_model(policy)
    };
    let mut all = OnConflict::column(backup_policy::Column::TenantId);
    all.update_columns([
        backup_policy::Column::OwnerId,
        backup_policy::Column::Schedule,
        backup_policy::Column::TimeZone,
        backup_policy::Column::Compress,
        backup_policy::Column::KeyProtection,
        backup_policy::Column::KeepLast,
        backup_policy::Column::KeepDaily,
        backup_policy::Column::KeepWeekly,
        backup_policy::Column::KeepMonthly,
        backup_policy::Column::KeepWithinMs,
        backup_policy::Column::NextRunAt,
        backup_policy::Column::UpdatedAt,
        backup_policy::Column::VerifyAfter,
        backup_policy::Column::DrillSchedule,
        backup_policy::Column::NextDrillAt,
        backup_policy::Column::Recipients,
        backup_policy::Column::FullEvery,
    ]);
    backup_policy::Entity::insert(row)
        .on_conflict(all)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// The policies of every tenant whose next backup or drill slot has come (the scheduler's
/// work).
pub async fn due(db: &impl ConnectionTrait, now: i64) -> Result<Vec<backup_policy::Model>> {
    Ok(backup_policy::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(backup_policy::Column::NextRunAt.lte(now))
                .add(backup_policy::Column::NextDrillAt.lte(now)),
        )
        .all(db)
        .await?)
}

/// Which of a policy's slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// The next scheduled backup.
    Backup,
    /// The next drill.
    Drill,
}

/// Moves tenant `tenant`'s next `slot` from `from` to `to`: true for the one caller (of any
/// instance) that moved it, which runs the slot.
pub async fn claim_slot(
    db: &impl ConnectionTrait,
    tenant: Uuid,
    slot: Slot,
    from: i64,
    to: Option<i64>,
) -> Result<bool> {
    let column = match slot {
        Slot::Backup => backup_policy::Column::NextRunAt,
        Slot::Drill => backup_policy::Column::NextDrillAt,
    };
    let res = backup_policy::Entity::update_many()
        .col_expr(column, to.into())
        .filter(backup_policy::Column::TenantId.eq(tenant))
        .filter(column.eq(from))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
