//! Where a server keeps files of its own: backup archives in the backup store, import
//! uploads in the data's object store (under prefixes apart from the blobs'), backup key
//! files sealed in the database, scratch and staging under `data_dir`. One place, so that the services that serve and
//! receive these files and the backup jobs that write and read them agree without depending
//! on each other.
use std::path::PathBuf;

use uuid::Uuid;

use crate::config::Config;

/// Largest key file read (a real one is a few hundred bytes).
pub const KEY_FILE_LIMIT: u64 = 64 * 1024;

/// The object a backup's archive is kept as.
pub fn archive_object(tenant: Uuid, backup: Uuid) -> String {
    format!("backups/{}/{}", tenant.simple(), backup.simple())
}

/// Whether `object` is a backup's archive (`archive_object`): kept in the backup store.
pub fn is_backup_archive(object: &str) -> bool {
    object.starts_with("backups/")
}

/// The name of a backup's key file. Versions before the master key kept it as an object of
/// this name in the data store; now it is kept sealed in the database (`backup_keys`), and
/// the name only says which (an import job reading a stored backup names its key so).
pub fn key_object(tenant: Uuid, backup: Uuid) -> String {
    format!("backup-keys/{}/{}", tenant.simple(), backup.simple())
}

/// The tenant and backup whose key file `name` names (`key_object`), if it names one.
pub fn stored_key(name: &str) -> Option<(Uuid, Uuid)> {
    tenant_and_backup(name.strip_prefix("backup-keys/")?)
}

/// The tenant and backup whose archive `object` is (`archive_object`), if it is one.
pub fn stored_archive(object: &str) -> Option<(Uuid, Uuid)> {
    tenant_and_backup(object.strip_prefix("backups/")?)
}

fn tenant_and_backup(rest: &str) -> Option<(Uuid, Uuid)> {
    let (tenant, backup) = rest.split_once('/')?;
    Some((Uuid::try_parse(tenant).ok()?, Uuid::try_parse(backup).ok()?))
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
/// `backup::stored::adopt`).
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

/// Where an import job's uploads are kept until the job ends (archives and key files under
/// prefixes of their own, as for backups).
pub const IMPORT_UPLOADS: [&str; 2] = ["imports/", "import-keys/"];

/// The object an upload to an import's task is kept as until the job ends: named by the job,
/// the task and the content (the first 128 bits of its SHA-256), so that two uploads to one
/// task (a replacement, or a client racing itself on two instances) never write different
/// bytes under one name. Job ids are unique across tenants; keeping the name short keeps it
/// within every store's limits.
pub fn import_upload(job: Uuid, task: Uuid, sha256: &str, key: bool) -> String {
    let prefix = IMPORT_UPLOADS[usize::from(key)];
    let content = sha256.get(..32).unwrap_or(sha256);
    format!("{prefix}{}/{}-{content}", job.simple(), task.simple())
}

/// The prefixes under which job `job`'s uploads are kept.
pub fn import_uploads_of(job: Uuid) -> [String; 2] {
    IMPORT_UPLOADS.map(|prefix| format!("{prefix}{}/", job.simple()))
}

/// The local directory of an import job's staging while it runs on this instance.
pub fn import_dir(config: &Config, tenant_id: Uuid, job_id: Uuid) -> PathBuf {
    config
        .data_dir
        .join("imports")
        .join(tenant_id.simple().to_string())
        .join(job_id.simple().to_string())
}
