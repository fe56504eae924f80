//! The job table as a queue (issue 12). Every instance's runner claims queued jobs; each
//! claim counts an attempt (a job whose instance stopped is run again, a bounded number of
//! times). At most one import of a tenant runs at any moment: a partial unique index, so two
//! instances claiming at once cannot both win — the second claim's insert into the index
//! fails and it takes another job. The other index serves the claim's scan of queued jobs.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Attempts,
}

const ONE_IMPORT: &str = "ux_jobs_one_running_import";
const QUEUE: &str = "ix_jobs_status_created";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .add_column(integer(Jobs::Attempts).default(0))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // Partial indexes: both SQLite and PostgreSQL take these statements as written.
        db.execute_unprepared(&format!(
            "CREATE UNIQUE INDEX {ONE_IMPORT} ON jobs (tenant_id) \
             WHERE kind = 'import' AND status = 'running'"
        ))
        .await?;
        db.execute_unprepared(&format!(
            "CREATE INDEX {QUEUE} ON jobs (created_at) WHERE status = 'queued'"
        ))
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(&format!("DROP INDEX {QUEUE}"))
            .await?;
        db.execute_unprepared(&format!("DROP INDEX {ONE_IMPORT}"))
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Jobs::Table)
                    .drop_column(Jobs::Attempts)
                    .to_owned(),
            )
            .await
    }
}
