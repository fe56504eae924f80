//! Messages of the event bus between instances: a PostgreSQL notification carries only a
//! row's id, the instances read the message here (so reading or forging one needs rights on
//! this table, not just a connection). Rows are removed after a few minutes. (Created on SQLite too, where one instance needs no bus:
//! the schema stays the same on both.)
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BusMessages {
    Table,
    Id,
    Body,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BusMessages::Table)
                    .col(pk_uuid(BusMessages::Id))
                    .col(text(BusMessages::Body))
                    .col(big_integer(BusMessages::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BusMessages::Table).to_owned())
            .await
    }
}
