//! Backup export (BACKUP_IMPORT.md §2).
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::TaskData;
use crate::envelope::Empty;
use crate::jobs::{JobKind, JobState, JobStep};
use crate::{Access, permissions};

/// Arguments of `generate_backup`.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateBackupRequest {
    /// A label (1–128 letters, digits, spaces, `.`, `_`, `-`); never used as a path.
    #[serde(default)]
    pub backup_name: Option<String>,
    /// Wraps the key file with this passphrase (argon2id); 8–1024 characters.
    #[serde(default)]
    pub passphrase: Option<String>,
    /// `zstd` (default) or `none`.
    #[serde(default)]
    pub compression: Option<String>,
}

impl std::fmt::Debug for GenerateBackupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateBackupRequest")
            .field("backup_name", &self.backup_name)
            .field("compression", &self.compression)
            .finish_non_exhaustive()
    }
}

/// What `generate_backup` answers at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GenerateBackupResponse {
    pub backup_id: String,
    /// The export job, for `get_backup_export_status` and the events.
    pub backup_task_id: String,
}

/// Names one job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobIdRequest {
    pub backup_task_id: String,
}

/// A job's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct JobStatus {
    pub backup_task_id: String,
    pub kind: JobKind,
    pub status: JobState,
    pub current_step: Option<JobStep>,
    pub progress_percent: i32,
    pub bytes_done: u64,
    pub bytes_total: u64,
    #[schema(value_type = Option<Object>)]
    pub counts: Option<Value>,
    /// The error code when `failed`.
    pub error: Option<String>,
    pub error_message: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub created_time: f64,
    pub started_time: Option<f64>,
    pub completed_time: Option<f64>,
    /// For exports: the backup.
    pub backup_id: Option<String>,
}

/// One stored backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupInfo {
    pub backup_id: String,
    pub backup_task_id: String,
    pub name: String,
    /// `running`, `completed` or `failed`.
    pub status: String,
    pub compressed: bool,
    /// Whether the key file is passphrase-protected.
    pub passphrase_protected: bool,
    pub key_id: String,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub created_time: f64,
    pub completed_time: Option<f64>,
}

/// What `list_backups` answers, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListBackupsResponse {
    pub backups: Vec<BackupInfo>,
}

/// Names one backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupIdRequest {
    pub backup_id: String,
}

/// What `get_backup_download` answers: separate download tasks for archive and key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupDownloadResponse {
    pub archive: TaskData,
    pub key: TaskData,
}

/// Arguments of `verify_backup`.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBackupRequest {
    pub backup_id: String,
    /// Needed when the key file is passphrase-protected.
    #[serde(default)]
    pub passphrase: Option<String>,
}

impl std::fmt::Debug for VerifyBackupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyBackupRequest")
            .field("backup_id", &self.backup_id)
            .finish_non_exhaustive()
    }
}

/// What a successful `verify_backup` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VerifyBackupResponse {
    pub backup_id: String,
    pub tenant: String,
    pub compressed: bool,
    #[schema(value_type = Object)]
    pub counts: Value,
}

action! {
    /// Starts an export of the caller's tenant; answers at once.
    GenerateBackup {
        name: "generate_backup",
        access: Access::Permission(permissions::EXPORT_BACKUP),
        audited: true,
        success: "Backup export started",
        errors: [InvalidName, InvalidField, WeakPassword],
        request: GenerateBackupRequest,
        response: GenerateBackupResponse,
    }
}

action! {
    /// An export job's state.
    GetBackupExportStatus {
        name: "get_backup_export_status",
        access: Access::Permission(permissions::EXPORT_BACKUP),
        audited: false,
        success: "Export status",
        errors: [JobNotFound],
        request: JobIdRequest,
        response: JobStatus,
    }
}

action! {
    /// The tenant's backups.
    ListBackups {
        name: "list_backups",
        access: Access::Permission(permissions::EXPORT_BACKUP),
        audited: false,
        success: "Backup listing successful",
        errors: [],
        request: Empty,
        response: ListBackupsResponse,
    }
}

action! {
    /// Download tasks for a completed backup's archive and key.
    GetBackupDownload {
        name: "get_backup_download",
        access: Access::Permission(permissions::EXPORT_BACKUP),
        audited: true,
        success: "Download tasks created",
        errors: [BackupNotFound, BackupNotReady],
        request: BackupIdRequest,
        response: BackupDownloadResponse,
    }
}

action! {
    /// Deletes a backup's archive and key.
    DeleteBackup {
        name: "delete_backup",
        access: Access::Permission(permissions::EXPORT_BACKUP),
        audited: true,
        success: "Backup deleted",
        errors: [BackupNotFound, BackupNotReady],
        request: BackupIdRequest,
        response: Empty,
    }
}

action! {
    /// Verifies a stored backup end to end (every segment, manifest and blob), and that its
    /// key file names this archive's backup (`backup_key_invalid` otherwise).
    VerifyBackup {
        name: "verify_backup",
        access: Access::Permission(permissions::EXPORT_BACKUP),
        audited: true,
        success: "Backup verified",
        errors: [BackupNotFound, BackupNotReady, BackupKeyInvalid, BackupPassphraseRequired,
            BackupWrongPassphrase, KeyCostTooHigh, BackupMacMismatch, BackupTruncated, BackupManifestInvalid,
            BackupManifestMismatch, BackupBlobMismatch],
        request: VerifyBackupRequest,
        response: VerifyBackupResponse,
    }
}
