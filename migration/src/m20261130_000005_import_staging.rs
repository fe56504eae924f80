//! The staging folder of an import: a hidden top-level folder, marked with the job that owns
//! it, under which an import writes its rows in short transactions of their own; the import's
//! last transaction moves what it holds to the top level. The partial index finds a tenant's
//! staging folders (almost always none) without reading its folders.
//!
//! The indexes on a folder's children gain the name (title) as their last column, so that
//! checking whether a name is free in a folder of 100,000 children reads one entry, not all.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::uuid_null;

use crate::m20261124_000001_foundation::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Folders {
    Table,
    ImportJobId,
}

const INDEX: &str = "ix_folders_import_staging";

/// The children indexes: table, (old name, its columns), (new name, its columns).
type Widened = (
    &'static str,
    (&'static str, [&'static str; 2]),
    (&'static str, [&'static str; 3]),
);
const WIDENED: [Widened; 2] = [
    (
        "folders",
        ("ix_folders_parent", ["tenant_id", "parent_id"]),
        ("ix_folders_parent_name", ["tenant_id", "parent_id", "name"]),
    ),
    (
        "documents",
        ("ix_documents_folder", ["tenant_id", "folder_id"]),
        (
            "ix_documents_folder_title",
            ["tenant_id", "folder_id", "title"],
        ),
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Folders::Table)
                    .add_column(uuid_null(Folders::ImportJobId))
                    .to_owned(),
            )
            .await?;
        // A partial index: both SQLite and PostgreSQL take this statement as written.
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE INDEX {INDEX} ON folders (tenant_id) WHERE import_job_id IS NOT NULL"
            ))
            .await?;
        for (table, (old, _), (new, cols)) in WIDENED {
            index(manager, new, Alias::new(table), cols.map(Alias::new), false).await?;
            drop_index(manager, old, table).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, (old, cols), (new, _)) in WIDENED {
            index(manager, old, Alias::new(table), cols.map(Alias::new), false).await?;
            drop_index(manager, new, table).await?;
        }
        manager
            .get_connection()
            .execute_unprepared(&format!("DROP INDEX {INDEX}"))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Folders::Table)
                    .drop_column(Folders::ImportJobId)
                    .to_owned(),
            )
            .await
    }
}

async fn drop_index(manager: &SchemaManager<'_>, name: &str, table: &str) -> Result<(), DbErr> {
    let mut drop = Index::drop();
    drop.name(name).table(Alias::new(table));
    manager.drop_index(drop).await
}
