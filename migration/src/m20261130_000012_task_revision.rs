//! A document upload remembers the revision it published, so that the client whose
//! connection dropped with the reply, asking again, gets that reply (not a later revision of
//! the same content).
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TransferTasks {
    Table,
    RevisionId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TransferTasks::Table)
                    .add_column(uuid_null(TransferTasks::RevisionId))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(TransferTasks::Table)
                    .drop_column(TransferTasks::RevisionId)
                    .to_owned(),
            )
            .await
    }
}
