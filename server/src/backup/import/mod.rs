//! Backup import: where an import's uploads wait for their job.
use std::path::PathBuf;

use uuid::Uuid;

use crate::config::Config;

/// The directory holding an import job's uploaded archive and key until the job runs.
pub fn job_dir(config: &Config, tenant_id: Uuid, job_id: Uuid) -> PathBuf {
    config
        .data_dir
        .join("imports")
        .join(tenant_id.to_string())
        .join(job_id.to_string())
}
