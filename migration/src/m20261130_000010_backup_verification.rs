//! Verification of stored backups (issue 13): each backup records whether its bytes as stored
//! were verified, when, and the error of the last failure; a policy may count a backup as
//! good only once verified, and re-verify every stored backup on a drill schedule of its own.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Backups {
    Table,
    VerifyState,
    VerifiedAt,
    VerifyError,
}

#[derive(DeriveIden)]
enum BackupPolicies {
    Table,
    VerifyAfter,
    DrillSchedule,
    NextDrillAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        let mut verify_state = text(Backups::VerifyState);
        verify_state.default("unverified");
        add(manager, Backups::Table, verify_state).await?;
        add(
            manager,
            Backups::Table,
            big_integer_null(Backups::VerifiedAt),
        )
        .await?;
        add(manager, Backups::Table, text_null(Backups::VerifyError)).await?;
        let mut verify_after = boolean(BackupPolicies::VerifyAfter);
        verify_after.default(false);
        add(manager, BackupPolicies::Table, verify_after).await?;
        add(
            manager,
            BackupPolicies::Table,
            text_null(BackupPolicies::DrillSchedule),
        )
        .await?;
        add(
            manager,
            BackupPolicies::Table,
            big_integer_null(BackupPolicies::NextDrillAt),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            Backups::VerifyState,
            Backups::VerifiedAt,
            Backups::VerifyError,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Backups::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [
            BackupPolicies::VerifyAfter,
            BackupPolicies::DrillSchedule,
            BackupPolicies::NextDrillAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(BackupPolicies::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

async fn add(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).add_column(column).to_owned())
        .await
}
