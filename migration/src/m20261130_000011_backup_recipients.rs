//! Write-only backups (issue 13): a policy may name X25519 recipients (`age1…`, a JSON list)
//! that every backup key of the tenant is wrapped to instead of being kept by the server.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum BackupPolicies {
    Table,
    Recipients,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BackupPolicies::Table)
                    .add_column(text_null(BackupPolicies::Recipients))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(BackupPolicies::Table)
                    .drop_column(BackupPolicies::Recipients)
                    .to_owned(),
            )
            .await
    }
}
