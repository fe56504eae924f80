//! The key files of the server's backups, sealed with the server's master key (issue 27):
//! kept in the database, never in a store beside the archives. A row goes with its backup.
//! Key files older versions kept in the object store are moved here at start-up
//! (`backup::stored::adopt`). And an index that finds which backups hold a blob by its hash
//! (what an incremental backup asks of every file), without probing every backup of a chain.
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261124_000001_foundation::cascade;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BackupKeys {
    Table,
    BackupId,
    TenantId,
    MasterKeyId,
    Sealed,
}

#[derive(DeriveIden)]
enum BackupBlobs {
    Table,
    TenantId,
    Sha256,
}

#[derive(DeriveIden)]
enum Backups {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BackupKeys::Table)
                    .col(uuid(BackupKeys::BackupId).primary_key())
                    .col(uuid(BackupKeys::TenantId))
                    .col(text(BackupKeys::MasterKeyId))
                    .col(blob(BackupKeys::Sealed))
                    .foreign_key(&mut cascade(
                        "fk_backup_keys_backup",
                        (BackupKeys::Table, BackupKeys::BackupId),
                        (Backups::Table, Backups::Id),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_backup_blobs_tenant_sha256")
                    .table(BackupBlobs::Table)
                    .col(BackupBlobs::TenantId)
                    .col(BackupBlobs::Sha256)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_backup_blobs_tenant_sha256")
                    .table(BackupBlobs::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(BackupKeys::Table).to_owned())
            .await
    }
}
