//! Copies of every completed backup to further destinations (issue 27): one row per backup
//! and destination, going with the backup. And a time before which a queued job is not
//! claimed (`run_after`), so that a copy whose destination is down waits before it tries
//! again.
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261124_000001_foundation::cascade;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BackupCopies {
    Table,
    BackupId,
    Destination,
    TenantId,
    State,
    Attempts,
    CopiedAt,
    Error,
}

#[derive(DeriveIden)]
enum Backups {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    RunAfter,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut attempts = integer(BackupCopies::Attempts);
        attempts.default(0);
        manager
            .create_table(
                Table::create()
                    .table(BackupCopies::Table)
                    .col(uuid(BackupCopies::BackupId))
                    .col(text(BackupCopies::Destination))
                    .col(uuid(BackupCopies::TenantId))
                    .col(text(BackupCopies::State))
                    .col(attempts)
                    .col(big_integer_null(BackupCopies::CopiedAt))
                    .col(text_null(BackupCopies::Error))
                    .primary_key(
                        Index::create()
                            .col(BackupCopies::BackupId)
                            .col(BackupCopies::Destination),
                    )
                    .foreign_key(&mut cascade(
                        "fk_backup_copies_backup",
                        (BackupCopies::Table, BackupCopies::BackupId),
                        (Backups::Table, Backups::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .add_column(big_integer_null(Jobs::RunAfter))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .drop_column(Jobs::RunAfter)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(BackupCopies::Table).to_owned())
            .await
    }
}
