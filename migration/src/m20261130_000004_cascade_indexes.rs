//! Indexes on the columns that deleting a folder or a document cascades through. Without
//! them each deleted row had the database scan the child table: the existing indexes lead
//! with `tenant_id`, which a foreign-key lookup does not give, so deleting a folder with
//! 16,500 children compared every row with every other (51 s), all under the write lock.
use sea_orm_migration::prelude::*;

use crate::m20261124_000001_foundation::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Folders {
    Table,
    ParentId,
}

#[derive(DeriveIden)]
enum Documents {
    Table,
    FolderId,
}

#[derive(DeriveIden)]
enum TransferTasks {
    Table,
    DocumentId,
    FileId,
}

const INDEXES: [(&str, &str); 4] = [
    ("ix_folders_parent_id", "folders"),
    ("ix_documents_folder_id", "documents"),
    ("ix_tasks_document", "transfer_tasks"),
    ("ix_tasks_file", "transfer_tasks"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let [folders, documents, task_documents, task_files] = INDEXES.map(|(name, _)| name);
        index(manager, folders, Folders::Table, [Folders::ParentId], false).await?;
        index(
            manager,
            documents,
            Documents::Table,
            [Documents::FolderId],
            false,
        )
        .await?;
        index(
            manager,
            task_documents,
            TransferTasks::Table,
            [TransferTasks::DocumentId],
            false,
        )
        .await?;
        index(
            manager,
            task_files,
            TransferTasks::Table,
            [TransferTasks::FileId],
            false,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in INDEXES {
            let mut drop = Index::drop();
            drop.name(name).table(Alias::new(table));
            manager.drop_index(drop).await?;
        }
        Ok(())
    }
}
