//! The blobs an import put into the object store, journalled before each put (issue 12):
//! kept in the database rather than on the running instance's disk, so that when an import
//! stops with its instance, whichever instance resets or ends the job can remove the blobs
//! that nothing references. Rows go with their job.
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261124_000001_foundation::cascade;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum JobBlobs {
    Table,
    JobId,
    TenantId,
    Sha256,
}

#[derive(DeriveIden)]
enum Jobs {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(JobBlobs::Table)
                    .col(uuid(JobBlobs::JobId))
                    .col(uuid(JobBlobs::TenantId))
                    .col(text(JobBlobs::Sha256))
                    .primary_key(Index::create().col(JobBlobs::JobId).col(JobBlobs::Sha256))
                    .foreign_key(&mut cascade(
                        "fk_job_blobs_job",
                        (JobBlobs::Table, JobBlobs::JobId),
                        (Jobs::Table, Jobs::Id),
                    ))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JobBlobs::Table).to_owned())
            .await
    }
}
