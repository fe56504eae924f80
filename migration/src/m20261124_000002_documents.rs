//! Folders, documents, revisions, files, access rules, explicit access entries and transfer
//! tasks.
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
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Groups {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Folders {
    Table,
    Id,
    TenantId,
    ParentId,
    Name,
    Inherit,
    CreatedAt,
    LastModified,
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    Id,
    TenantId,
    FolderId,
    Title,
    Inherit,
    CurrentRevisionId,
    CreatedAt,
    LastModified,
}

#[derive(DeriveIden)]
enum Files {
    Table,
    Id,
    TenantId,
    Sha256,
    Size,
    StorageKey,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Revisions {
    Table,
    Id,
    TenantId,
    DocumentId,
    FileId,
    ParentRevisionId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AccessRules {
    Table,
    Id,
    TenantId,
    FolderId,
    DocumentId,
    AccessType,
    RuleData,
    Position,
}

#[derive(DeriveIden)]
enum AccessEntries {
    Table,
    Id,
    TenantId,
    UserId,
    GroupId,
    FolderId,
    DocumentId,
    AccessType,
    StartTime,
    EndTime,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TransferTasks {
    Table,
    Id,
    TenantId,
    UserId,
    Mode,
    Purpose,
    DocumentId,
    FileId,
    Status,
    DeclaredSize,
    DeclaredSha256,
    BytesReceived,
    CreatedAt,
    ExpiresAt,
}

fn tenant_fk(name: &str, table: impl IntoIden, col: impl IntoIden) -> ForeignKeyCreateStatement {
    cascade(name, (table, col), (Tenants::Table, Tenants::Id))
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Folders::Table)
                    .col(pk_uuid(Folders::Id))
                    .col(uuid(Folders::TenantId))
                    .col(uuid_null(Folders::ParentId))
                    .col(string_len(Folders::Name, 255))
                    .col(boolean(Folders::Inherit).default(true))
                    .col(big_integer(Folders::CreatedAt))
                    .col(big_integer(Folders::LastModified))
                    .foreign_key(&mut tenant_fk(
                        "fk_folders_tenant",
                        Folders::Table,
                        Folders::TenantId,
                    ))
                    .foreign_key(&mut cascade(
                        "fk_folders_parent",
                        (Folders::Table, Folders::ParentId),
                        (Folders::Table, Folders::Id),
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ix_folders_parent",
            Folders::Table,
            [Folders::TenantId, Folders::ParentId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Documents::Table)
                    .col(pk_uuid(Documents::Id))
                    .col(uuid(Documents::TenantId))
                    .col(uuid_null(Documents::FolderId))
                    .col(string_len(Documents::Title, 255))
                    .col(boolean(Documents::Inherit).default(true))
                    .col(uuid_null(Documents::CurrentRevisionId))
                    .col(big_integer(Documents::CreatedAt))
                    .col(big_integer(Documents::LastModified))
                    .foreign_key(&mut tenant_fk(
                        "fk_documents_tenant",
                        Documents::Table,
                        Documents::TenantId,
                    ))
                    .foreign_key(&mut cascade(
                        "fk_documents_folder",
                        (Documents::Table, Documents::FolderId),
                        (Folders::Table, Folders::Id),
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ix_documents_folder",
            Documents::Table,
            [Documents::TenantId, Documents::FolderId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Files::Table)
                    .col(pk_uuid(Files::Id))
                    .col(uuid(Files::TenantId))
                    .col(string_len(Files::Sha256, 64))
                    .col(big_integer(Files::Size))
                    .col(string_len(Files::StorageKey, 255))
                    .col(big_integer(Files::CreatedAt))
                    .foreign_key(&mut tenant_fk(
                        "fk_files_tenant",
                        Files::Table,
                        Files::TenantId,
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ux_files_tenant_sha256",
            Files::Table,
            [Files::TenantId, Files::Sha256],
            true,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(Revisions::Table)
                    .col(pk_uuid(Revisions::Id))
                    .col(uuid(Revisions::TenantId))
                    .col(uuid(Revisions::DocumentId))
                    .col(uuid(Revisions::FileId))
                    .col(uuid_null(Revisions::ParentRevisionId))
                    .col(big_integer(Revisions::CreatedAt))
                    .foreign_key(&mut tenant_fk(
                        "fk_revisions_tenant",
                        Revisions::Table,
                        Revisions::TenantId,
                    ))
                    .foreign_key(&mut cascade(
                        "fk_revisions_document",
                        (Revisions::Table, Revisions::DocumentId),
                        (Documents::Table, Documents::Id),
                    ))
                    // A file is removed only when no revision points at it; never by cascade.
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_revisions_file")
                            .from(Revisions::Table, Revisions::FileId)
                            .to(Files::Table, Files::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .take(),
            )
            .await?;
        index(
            manager,
            "ix_revisions_document",
            Revisions::Table,
            [Revisions::DocumentId],
            false,
        )
        .await?;
        index(
            manager,
            "ix_revisions_file",
            Revisions::Table,
            [Revisions::FileId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccessRules::Table)
                    .col(pk_uuid(AccessRules::Id))
                    .col(uuid(AccessRules::TenantId))
                    .col(uuid_null(AccessRules::FolderId))
                    .col(uuid_null(AccessRules::DocumentId))
                    .col(string_len(AccessRules::AccessType, 16))
                    .col(json(AccessRules::RuleData))
                    .col(integer(AccessRules::Position))
                    .check(Expr::cust("(folder_id IS NULL) <> (document_id IS NULL)"))
                    .foreign_key(&mut tenant_fk(
                        "fk_rules_tenant",
                        AccessRules::Table,
                        AccessRules::TenantId,
                    ))
                    .foreign_key(&mut cascade(
                        "fk_rules_folder",
                        (AccessRules::Table, AccessRules::FolderId),
                        (Folders::Table, Folders::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_rules_document",
                        (AccessRules::Table, AccessRules::DocumentId),
                        (Documents::Table, Documents::Id),
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ix_rules_folder",
            AccessRules::Table,
            [AccessRules::FolderId],
            false,
        )
        .await?;
        index(
            manager,
            "ix_rules_document",
            AccessRules::Table,
            [AccessRules::DocumentId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(AccessEntries::Table)
                    .col(pk_uuid(AccessEntries::Id))
                    .col(uuid(AccessEntries::TenantId))
                    .col(uuid_null(AccessEntries::UserId))
                    .col(uuid_null(AccessEntries::GroupId))
                    .col(uuid_null(AccessEntries::FolderId))
                    .col(uuid_null(AccessEntries::DocumentId))
                    .col(string_len(AccessEntries::AccessType, 16))
                    .col(big_integer(AccessEntries::StartTime))
                    .col(big_integer_null(AccessEntries::EndTime))
                    .col(big_integer(AccessEntries::CreatedAt))
                    .check(Expr::cust("(user_id IS NULL) <> (group_id IS NULL)"))
                    .check(Expr::cust("(folder_id IS NULL) <> (document_id IS NULL)"))
                    .foreign_key(&mut tenant_fk(
                        "fk_entries_tenant",
                        AccessEntries::Table,
                        AccessEntries::TenantId,
                    ))
                    .foreign_key(&mut cascade(
                        "fk_entries_user",
                        (AccessEntries::Table, AccessEntries::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_entries_group",
                        (AccessEntries::Table, AccessEntries::GroupId),
                        (Groups::Table, Groups::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_entries_folder",
                        (AccessEntries::Table, AccessEntries::FolderId),
                        (Folders::Table, Folders::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_entries_document",
                        (AccessEntries::Table, AccessEntries::DocumentId),
                        (Documents::Table, Documents::Id),
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ix_entries_folder",
            AccessEntries::Table,
            [AccessEntries::FolderId],
            false,
        )
        .await?;
        index(
            manager,
            "ix_entries_document",
            AccessEntries::Table,
            [AccessEntries::DocumentId],
            false,
        )
        .await?;

        manager
            .create_table(
                Table::create()
                    .table(TransferTasks::Table)
                    .col(pk_uuid(TransferTasks::Id))
                    .col(uuid(TransferTasks::TenantId))
                    .col(uuid(TransferTasks::UserId))
                    .col(string_len(TransferTasks::Mode, 16))
                    .col(string_len(TransferTasks::Purpose, 32))
                    .col(uuid_null(TransferTasks::DocumentId))
                    .col(uuid_null(TransferTasks::FileId))
                    .col(string_len(TransferTasks::Status, 16))
                    .col(big_integer_null(TransferTasks::DeclaredSize))
                    .col(string_len_null(TransferTasks::DeclaredSha256, 64))
                    .col(big_integer(TransferTasks::BytesReceived).default(0))
                    .col(big_integer(TransferTasks::CreatedAt))
                    .col(big_integer(TransferTasks::ExpiresAt))
                    .foreign_key(&mut tenant_fk(
                        "fk_tasks_tenant",
                        TransferTasks::Table,
                        TransferTasks::TenantId,
                    ))
                    .foreign_key(&mut cascade(
                        "fk_tasks_user",
                        (TransferTasks::Table, TransferTasks::UserId),
                        (Users::Table, Users::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_tasks_document",
                        (TransferTasks::Table, TransferTasks::DocumentId),
                        (Documents::Table, Documents::Id),
                    ))
                    .foreign_key(&mut cascade(
                        "fk_tasks_file",
                        (TransferTasks::Table, TransferTasks::FileId),
                        (Files::Table, Files::Id),
                    ))
                    .take(),
            )
            .await?;
        index(
            manager,
            "ix_tasks_expiry",
            TransferTasks::Table,
            [TransferTasks::Status, TransferTasks::ExpiresAt],
            false,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TransferTasks::Table.into_iden(),
            AccessEntries::Table.into_iden(),
            AccessRules::Table.into_iden(),
            Revisions::Table.into_iden(),
            Files::Table.into_iden(),
            Documents::Table.into_iden(),
            Folders::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).take())
                .await?;
        }
        Ok(())
    }
}
