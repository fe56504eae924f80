//! Where a server keeps files of its own under `data_dir` (blobs aside: see
//! `storage::blobs`). One place, so that the services that serve and receive these files and
//! the backup jobs that write and read them agree without depending on each other.
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::config::Config;

/// Where a backup's archive lives.
pub fn backup_archive(config: &Config, tenant: Uuid, backup: Uuid) -> PathBuf {
    config
        .data_dir
        .join("backups")
        .join(tenant.simple().to_string())
        .join(format!("{}.cbk", backup.simple()))
}

/// Where a backup's key file lives: a separate tree from the archives.
pub fn backup_key(config: &Config, tenant: Uuid, backup: Uuid) -> PathBuf {
    config
        .data_dir
        .join("backup-keys")
        .join(tenant.simple().to_string())
        .join(format!("{}.key.json", backup.simple()))
}

/// The directory holding an import job's uploads and staging until the job ends.
pub fn import_dir(config: &Config, tenant_id: Uuid, job_id: Uuid) -> PathBuf {
    config
        .data_dir
        .join("imports")
        .join(tenant_id.simple().to_string())
        .join(job_id.simple().to_string())
}

/// The uploaded archive of an import (in its [`import_dir`]).
pub fn import_archive(dir: &Path) -> PathBuf {
    dir.join("archive")
}

/// The uploaded key file of an import (in its [`import_dir`]).
pub fn import_key(dir: &Path) -> PathBuf {
    dir.join("key")
}

/// Blob keys an import put into the store (one per line), for removal if it fails.
pub fn import_journal(dir: &Path) -> PathBuf {
    dir.join("published")
}
