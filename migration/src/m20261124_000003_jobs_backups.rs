//! The job table (exports now, imports next), stored backups, and transfer tasks that serve a
//! backup's archive or key.
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261124_000001_foundation::{cascade, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
    TenantId,
    Kind,
    OwnerId,
    Status,
    CurrentStep,
    ProgressPercent,
    BytesDone,
    BytesTotal,
    Counts,
    ErrorCode,
    ErrorMessage,
    Result,
    Deadline,
    CreatedAt,
    StartedAt,
    FinishedAt,
    WorkerId,
    HeartbeatAt,
    Params,
}

#[derive(DeriveIden)]
enum Backups {
    Table,
    Id,
    TenantId,
    JobId,
    Name,
    Status,
    Compressed,
    Wrapped,
    KeyId,
    ArchiveSize,
    ArchiveSha256,
    CreatedAt,
    CompletedAt,
}

#[derive(DeriveIden)]
enum TransferTasks {
    Table,
    BackupId,
    BackupPart,
    JobId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Jobs::Table)
                    .col(pk_uuid(Jobs::Id))
                    .col(uuid(Jobs::TenantId))
                    .col(string_len(Jobs::Kind, 16))
                    .col(uuid(Jobs::OwnerId))
                    .col(string_len(Jobs::Status, 16))
                    .col(string_len_null(Jobs::CurrentStep, 64))
                    .col(integer(Jobs::ProgressPercent).default(0))
                    .col(big_integer(Jobs::BytesDone).default(0))
                    .col(big_integer(Jobs::BytesTotal).default(0))
                    .col(json_null(Jobs::Counts))
                    .col(string_len_null(Jobs::ErrorCode, 64))
                    .col(text_null(Jobs::ErrorMessage))
                    .col(json_null(Jobs::Result))
                    .col(big_integer_null(Jobs::Deadline))
                    .col(big_integer(Jobs::CreatedAt))
                    .col(big_integer_null(Jobs::StartedAt))
                    .col(big_integer_null(Jobs::FinishedAt))
                    .col(string_len_null(Jobs::WorkerId, 64))
                    .col(big_integer_null(Jobs::HeartbeatAt))
                    .col(json_null(Jobs::Params))
                    .foreign_key(&mut cascade(
                        "fk_jobs_tenant",
                        (Jobs::Table, Jobs::TenantId),
                        (Tenants::Table, Tenants::Id),
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ix_jobs_status",
            Jobs::Table,
            [Jobs::Status, Jobs::Kind],
            false,
        )
        .await?;
        index(
            manager,
            "ix_jobs_tenant",
            Jobs::Table,
            [Jobs::TenantId, Jobs::CreatedAt],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Backups::Table)
                    .col(pk_uuid(Backups::Id))
                    .col(uuid(Backups::TenantId))
                    .col(uuid(Backups::JobId))
                    .col(string_len(Backups::Name, 128))
                    .col(string_len(Backups::Status, 16))
                    .col(boolean(Backups::Compressed))
                    .col(boolean(Backups::Wrapped))
                    .col(string_len(Backups::KeyId, 32))
                    .col(big_integer_null(Backups::ArchiveSize))
                    .col(string_len_null(Backups::ArchiveSha256, 64))
                    .col(big_integer(Backups::CreatedAt))
                    .col(big_integer_null(Backups::CompletedAt))
                    .foreign_key(&mut cascade(
                        "fk_backups_tenant",
                        (Backups::Table, Backups::TenantId),
                        (Tenants::Table, Tenants::Id),
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ix_backups_tenant",
            Backups::Table,
            [Backups::TenantId, Backups::CreatedAt],
            false,
        )
        .await?;

        manager
            .alter_table(
                Table::alter()
                    .table(TransferTasks::Table)
                    .add_column(uuid_null(TransferTasks::BackupId))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TransferTasks::Table)
                    .add_column(string_len_null(TransferTasks::BackupPart, 16))
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TransferTasks::Table)
                    .add_column(uuid_null(TransferTasks::JobId))
                    .take(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TransferTasks::Table)
                    .drop_column(TransferTasks::JobId)
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TransferTasks::Table)
                    .drop_column(TransferTasks::BackupPart)
                    .take(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(TransferTasks::Table)
                    .drop_column(TransferTasks::BackupId)
                    .take(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Backups::Table).take())
            .await?;
        manager
            .drop_table(Table::drop().table(Jobs::Table).take())
            .await?;
        Ok(())
    }
}
