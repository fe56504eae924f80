//! The blobs each backup's archive holds (issue 26): the server's own record, so that an
//! incremental backup can carry only what its chain does not hold yet without reading any
//! archive. A backup made before this migration has none (`blobs_recorded` false) and so
//! cannot be the base of an incremental one. Rows go with their backup. A policy's
//! `full_every` (1: every scheduled backup full, as before) says how long its chains grow.
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261124_000001_foundation::cascade;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BackupBlobs {
    Table,
    BackupId,
    TenantId,
    Sha256,
    Size,
}

#[derive(DeriveIden)]
enum BackupPolicies {
    Table,
    FullEvery,
}

#[derive(DeriveIden)]
enum Backups {
    Table,
    Id,
    BaseBackupId,
    BlobsRecorded,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BackupBlobs::Table)
                    .col(uuid(BackupBlobs::BackupId))
                    .col(uuid(BackupBlobs::TenantId))
                    .col(text(BackupBlobs::Sha256))
                    .col(big_integer(BackupBlobs::Size))
                    .primary_key(
                        Index::create()
                            .col(BackupBlobs::BackupId)
                            .col(BackupBlobs::Sha256),
                    )
                    .foreign_key(&mut cascade(
                        "fk_backup_blobs_backup",
                        (BackupBlobs::Table, BackupBlobs::BackupId),
                        (Backups::Table, Backups::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite alters one at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Backups::Table)
                    .add_column(uuid_null(Backups::BaseBackupId))
                    .to_owned(),
            )
            .await?;
        let mut recorded = boolean(Backups::BlobsRecorded);
        recorded.default(false);
        manager
            .alter_table(
                Table::alter()
                    .table(Backups::Table)
                    .add_column(recorded)
                    .to_owned(),
            )
            .await?;
        let mut full_every = integer(BackupPolicies::FullEvery);
        full_every.default(1);
        manager
            .alter_table(
                Table::alter()
                    .table(BackupPolicies::Table)
                    .add_column(full_every)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BackupPolicies::Table)
                    .drop_column(BackupPolicies::FullEvery)
                    .to_owned(),
            )
            .await?;
        for column in [Backups::BlobsRecorded, Backups::BaseBackupId] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Backups::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(BackupBlobs::Table).to_owned())
            .await
    }
}
