//! Where a server keeps files of its own: backup archives and key files in the object store
//! (the blob store, under prefixes apart from the blobs' and from each other's), import
//! uploads and staging under `data_dir`. One place, so that the services that serve and
//! receive these files and the backup jobs that write and read them agree without depending
//! on each other.
use std::path::{Path, PathBuf};

use uuid::Uuid;

use crate::config::Config;

/// Largest key file read (a real one is a few hundred bytes).
pub const KEY_FILE_LIMIT: u64 = 64 * 1024;

/// The object a backup's archive is kept as.
pub fn archive_object(tenant: Uuid, backup: Uuid) -> String {
    format!("backups/{}/{}", tenant.simple(), backup.simple())
}

/// The object a backup's key file is kept as: under another prefix than the archives.
pub fn key_object(tenant: Uuid, backup: Uuid) -> String {
    format!("backup-keys/{}/{}", tenant.simple(), backup.simple())
}

/// Where an export writes a backup's archive or key file (`.key`) before it goes to the
/// object store: local scratch, removed on every path.
pub fn export_scratch(config: &Config, tenant: Uuid, backup: Uuid, key: bool) -> PathBuf {
    let name = if key {
        format!("{}.key", backup.simple())
    } else {
        format!("{}.cbk", backup.simple())
    };
    config
        .data_dir
        .join("exports")
        .join(tenant.simple().to_string())
        .join(name)
}

/// Where versions before the object store kept a backup's archive (adopted at start-up:
/// `backup::adopt_local_backups`).
pub fn backup_archive(config: &Config, tenant: Uuid, backup: Uuid) -> PathBuf {
    config
        .data_dir
        .join("backups")
        .join(tenant.simple().to_string())
        .join(format!("{}.cbk", backup.simple()))
}

/// Where versions before the object store kept a backup's key file (adopted at start-up).
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
