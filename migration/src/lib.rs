//! Coffer's schema migrations. A landed migration is never edited: schema changes add a new
//! one. This crate does not import `entity`, so a migration always describes the schema as it
//! was when written, not as the entities are today.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_foundation;
mod m20261124_000002_documents;
mod m20261124_000003_jobs_backups;
mod m20261130_000004_cascade_indexes;
mod m20261130_000005_import_staging;
mod m20261130_000006_bus_messages;
mod m20261130_000007_job_queue;
mod m20261130_000008_job_blobs;
mod m20261130_000009_backup_policies;
mod m20261130_000010_backup_verification;
mod m20261130_000011_backup_recipients;
mod m20261130_000012_task_revision;
mod m20261207_000013_backup_blobs;
mod m20261207_000014_backup_keys;
mod m20261207_000015_backup_copies;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_foundation::Migration),
            Box::new(m20261124_000002_documents::Migration),
            Box::new(m20261124_000003_jobs_backups::Migration),
            Box::new(m20261130_000004_cascade_indexes::Migration),
            Box::new(m20261130_000005_import_staging::Migration),
            Box::new(m20261130_000006_bus_messages::Migration),
            Box::new(m20261130_000007_job_queue::Migration),
            Box::new(m20261130_000008_job_blobs::Migration),
            Box::new(m20261130_000009_backup_policies::Migration),
            Box::new(m20261130_000010_backup_verification::Migration),
            Box::new(m20261130_000011_backup_recipients::Migration),
            Box::new(m20261130_000012_task_revision::Migration),
            Box::new(m20261207_000013_backup_blobs::Migration),
            Box::new(m20261207_000014_backup_keys::Migration),
            Box::new(m20261207_000015_backup_copies::Migration),
        ]
    }
}
