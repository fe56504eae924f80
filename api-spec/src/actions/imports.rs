//! Backup import (BACKUP_IMPORT.md §3).
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::JobIdRequest;
use super::JobStatus;
use crate::envelope::Empty;
use crate::jobs::{ImportMode, OnConflict};
use crate::{Access, permissions};

/// Arguments of `initiate_backup_import`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitiateBackupImportRequest {
    /// Seconds to upload both files and start the import: 60–86400, default 3600.
    #[serde(default, deserialize_with = "crate::bounds::opt_db_u64")]
    #[schema(minimum = 60, maximum = 86400)]
    pub timeout_seconds: Option<u64>,
    /// How many earlier links of an incremental backup's chain come with it (0–1000,
    /// default 0): one more archive and key upload task for each (BACKUP_IMPORT.md §3.1).
    #[serde(default)]
    #[schema(maximum = 1000)]
    pub links: Option<u32>,
}

/// What `initiate_backup_import` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InitiateBackupImportResponse {
    /// The import job.
    pub backup_task_id: String,
    /// Upload task for the archive.
    pub archive_task_id: String,
    /// Upload task for the key file.
    pub key_task_id: String,
    /// Seconds until the job times out unless started.
    pub timeout: u64,
    /// Upload tasks for the earlier links asked for, one pair each, in no particular order:
    /// each link's archive and key file may go to any pair (the server tells them apart by
    /// the backup each names).
    #[serde(default)]
    pub link_tasks: Vec<LinkTasks>,
}

/// Upload tasks for one earlier link of a chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LinkTasks {
    pub archive_task_id: String,
    pub key_task_id: String,
}

/// Arguments of `start_backup_import`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartBackupImportRequest {
    /// The import job `initiate_backup_import` created.
    pub backup_task_id: String,
    /// For a passphrase-protected key file.
    #[serde(default)]
    pub passphrase: Option<String>,
    /// For a write-only backup's key file: an identity file's text (`AGE-SECRET-KEY-1…`),
    /// used for this import only, never stored.
    #[serde(default)]
    pub identity: Option<String>,
    /// `restore` (default; the tenant must have no folders or documents) or `merge`.
    #[serde(default)]
    pub mode: Option<ImportMode>,
    /// With `merge`, for a top-level name already taken: `rename` (default), `skip` or `fail`.
    #[serde(default)]
    pub on_conflict: Option<OnConflict>,
    /// Plan only: report what would be created, conflicts and warnings; change nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Accept an unauthenticated legacy CFMS archive.
    #[serde(default)]
    pub allow_legacy: bool,
    /// Import only these folders (each with its subtree) and documents of the archive, by
    /// `/`-separated path; with it the mode is `merge` (BACKUP_IMPORT.md §3.9).
    #[serde(default)]
    pub select: Option<Vec<String>>,
    /// Put what is imported into this folder of the tenant instead of its top level (or,
    /// with `select`, instead of the selected items' own paths); the mode is `merge`.
    #[serde(default)]
    pub target_folder_id: Option<String>,
}

/// Arguments of `restore_backup`: an import of a stored backup of the caller's tenant,
/// without uploads.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreBackupRequest {
    pub backup_id: String,
    /// For a passphrase-protected key file.
    #[serde(default)]
    pub passphrase: Option<String>,
    /// As for `start_backup_import`.
    #[serde(default)]
    pub identity: Option<String>,
    /// `restore` (the tenant must have no folders or documents) or `merge`; `merge` when
    /// `select` or `target_folder_id` is given, `restore` otherwise.
    #[serde(default)]
    pub mode: Option<ImportMode>,
    /// With `merge`, for a name already taken where an item goes: `rename` (default),
    /// `skip` or `fail`.
    #[serde(default)]
    pub on_conflict: Option<OnConflict>,
    #[serde(default)]
    pub dry_run: bool,
    /// As for `start_backup_import`.
    #[serde(default)]
    pub select: Option<Vec<String>>,
    /// As for `start_backup_import`.
    #[serde(default)]
    pub target_folder_id: Option<String>,
}

impl std::fmt::Debug for RestoreBackupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreBackupRequest")
            .field("backup_id", &self.backup_id)
            .field("mode", &self.mode)
            .field("on_conflict", &self.on_conflict)
            .field("dry_run", &self.dry_run)
            .field("select", &self.select)
            .field("target_folder_id", &self.target_folder_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for StartBackupImportRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartBackupImportRequest")
            .field("backup_task_id", &self.backup_task_id)
            .field("mode", &self.mode)
            .field("on_conflict", &self.on_conflict)
            .field("dry_run", &self.dry_run)
            .field("allow_legacy", &self.allow_legacy)
            .field("select", &self.select)
            .field("target_folder_id", &self.target_folder_id)
            .finish_non_exhaustive()
    }
}

/// What `start_backup_import` answers at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StartBackupImportResponse {
    /// The import job.
    pub backup_task_id: String,
    /// `queued` (it runs when no other import of the tenant is running).
    pub status: crate::jobs::JobState,
}

action! {
    /// Creates an import job (`pending`) with upload tasks for the archive and the key.
    InitiateBackupImport {
        name: "initiate_backup_import",
        access: Access::Permission(permissions::IMPORT_BACKUP),
        audited: true,
        success: "Import initiated; upload the archive and the key",
        errors: [InvalidField],
        request: InitiateBackupImportRequest,
        response: InitiateBackupImportResponse,
    }
}

action! {
    /// Queues a pending import whose uploads are complete; answers at once.
    StartBackupImport {
        name: "start_backup_import",
        access: Access::Permission(permissions::IMPORT_BACKUP),
        note: "the job's owner",
        audited: true,
        success: "Import queued",
        errors: [
            JobNotFound, JobStateConflict, ImportDeadlinePassed, ImportUploadsIncomplete,
            InvalidField, BackupKeyInvalid, BackupPassphraseRequired, BackupWrongPassphrase,
            KeyCostTooHigh, ImportLegacyNotAllowed, ImportTargetNotEmpty, FolderNotFound,
            BackupIdentityRequired, BackupWrongIdentity
        ],
        request: StartBackupImportRequest,
        response: StartBackupImportResponse,
    }
}

action! {
    /// Imports a stored backup of the caller's tenant — whole, or the folders and documents
    /// `select` names — as an import job; answers at once (the job's events and status are
    /// those of any import).
    RestoreBackup {
        name: "restore_backup",
        access: Access::Permission(permissions::IMPORT_BACKUP),
        audited: true,
        success: "Restore queued",
        errors: [
            BackupNotFound, BackupNotReady, InvalidField, BackupKeyInvalid,
            BackupPassphraseRequired, BackupWrongPassphrase, KeyCostTooHigh,
            ImportTargetNotEmpty, FolderNotFound, BackupIdentityRequired, BackupWrongIdentity,
            BackupKeyUnavailable
        ],
        request: RestoreBackupRequest,
        response: StartBackupImportResponse,
    }
}

action! {
    /// An import job's state and, when done, its result (id map, counts, warnings).
    GetBackupImportStatus {
        name: "get_backup_import_status",
        access: Access::Authenticated,
        note: "the job's owner, or `import_backup` in the same tenant",
        audited: false,
        success: "Import status",
        errors: [JobNotFound],
        request: JobIdRequest,
        response: JobStatus,
    }
}

action! {
    /// Cancels a pending, queued or running import; nothing of it stays.
    CancelBackupImport {
        name: "cancel_backup_import",
        access: Access::Authenticated,
        note: "the job's owner, or `import_backup` in the same tenant",
        audited: true,
        success: "Import cancelled",
        errors: [JobNotFound, JobStateConflict],
        request: JobIdRequest,
        response: Empty,
    }
}
