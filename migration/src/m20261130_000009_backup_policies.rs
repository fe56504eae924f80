//! Backup policies (issue 13): one per tenant — when backups run (a cron expression in a time
//! zone), how they are made, and which of them retention keeps. `next_run_at` is the slot the
//! scheduler waits for; moving it on is how one instance claims a run. A backup records
//! whether a schedule or a person made it.
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261124_000001_foundation::cascade;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BackupPolicies {
    Table,
    TenantId,
    OwnerId,
    Schedule,
    TimeZone,
    Compress,
    KeyProtection,
    KeepLast,
    KeepDaily,
    KeepWeekly,
    KeepMonthly,
    KeepWithinMs,
    NextRunAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Backups {
    Table,
    Origin,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BackupPolicies::Table)
                    .col(pk_uuid(BackupPolicies::TenantId))
                    .col(uuid(BackupPolicies::OwnerId))
                    .col(text_null(BackupPolicies::Schedule))
                    .col(text(BackupPolicies::TimeZone))
                    .col(boolean(BackupPolicies::Compress))
                    .col(text(BackupPolicies::KeyProtection))
                    .col(integer_null(BackupPolicies::KeepLast))
                    .col(integer_null(BackupPolicies::KeepDaily))
                    .col(integer_null(BackupPolicies::KeepWeekly))
                    .col(integer_null(BackupPolicies::KeepMonthly))
                    .col(big_integer_null(BackupPolicies::KeepWithinMs))
                    .col(big_integer_null(BackupPolicies::NextRunAt))
                    .col(big_integer(BackupPolicies::UpdatedAt))
                    .foreign_key(&mut cascade(
                        "fk_backup_policies_tenant",
                        (BackupPolicies::Table, BackupPolicies::TenantId),
                        (Tenants::Table, Tenants::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Backups::Table)
                    .add_column(text(Backups::Origin).default("manual"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Backups::Table)
                    .drop_column(Backups::Origin)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(BackupPolicies::Table).to_owned())
            .await
    }
}
