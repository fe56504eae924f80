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
    /// `zstd` when left out.
    #[serde(default)]
    pub compression: Option<Compression>,
    /// Make a link of a chain (BACKUP_IMPORT.md §1.9): an archive holding only the blobs its
    /// base's chain does not hold yet. Without a usable base the backup is full, and the
    /// answer says so (`incremental: false`).
    #[serde(default)]
    pub incremental: bool,
    /// With `incremental`: the backup to build on (a completed backup of the tenant's whose
    /// verification did not fail). Default: the newest such backup.
    #[serde(default)]
    pub base_backup_id: Option<String>,
}

impl std::fmt::Debug for GenerateBackupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateBackupRequest")
            .field("backup_name", &self.backup_name)
            .field("compression", &self.compression)
            .field("incremental", &self.incremental)
            .field("base_backup_id", &self.base_backup_id)
            .finish_non_exhaustive()
    }
}

/// What `generate_backup` answers at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GenerateBackupResponse {
    pub backup_id: String,
    /// The export job, for `get_backup_export_status` and the events.
    pub backup_task_id: String,
    /// Whether it is an incremental backup (a link of a chain): false for a full one, also
    /// when `incremental` was asked for but no backup could be its base.
    pub incremental: bool,
    /// The backup it builds on; null for a full backup.
    pub base_backup_id: Option<String>,
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

/// How an archive's members are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// zstd, level 3.
    #[default]
    Zstd,
    /// As they are.
    None,
}

wire_names!(Compression { Zstd => "zstd", None => "none" });

stored_enum! {
    /// Who can open the backups a policy makes.
    pub enum KeyProtection {
        /// The key file is kept by the server (a scheduled backup has nobody to type a
        /// passphrase).
        Server => "server",
        /// Write-only backups: the key is wrapped to the policy's `recipients` and kept by
        /// the server only while the backup is written.
        Recipients => "recipients",
    }
}

stored_enum! {
    /// Where a backup is in its making.
    pub enum BackupStatus {
        /// Its export job is writing it.
        Running => "running",
        /// Its archive is stored whole.
        Completed => "completed",
        /// Its export failed; nothing of it is kept.
        Failed => "failed",
    }
}

stored_enum! {
    /// What the last verification of a stored backup found.
    pub enum Verification {
        /// Never verified.
        Unverified => "unverified",
        /// Its bytes as stored were verified.
        Good => "good",
        /// Its bytes as stored are damaged (`verify_error` says how).
        Failed => "failed",
    }
}

stored_enum! {
    /// Who asked for a backup.
    pub enum BackupOrigin {
        /// `generate_backup`.
        Manual => "manual",
        /// The tenant's backup policy.
        Scheduled => "scheduled",
    }
}

/// One stored backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupInfo {
    pub backup_id: String,
    pub backup_task_id: String,
    pub name: String,
    pub status: BackupStatus,
    pub compressed: bool,
    /// Whether the key file needs a secret the server does not keep: a passphrase, or an
    /// identity (a write-only backup).
    pub passphrase_protected: bool,
    pub key_id: String,
    /// The bytes of its archive: what it adds to the store (for an incremental backup, only
    /// its own link).
    pub size: Option<u64>,
    pub sha256: Option<String>,
    /// The backup an incremental one builds on; null for a full backup.
    pub base_backup_id: Option<String>,
    /// The bytes a restore of it reads: its archive and every earlier link of its chain.
    pub chain_size: Option<u64>,
    pub created_time: f64,
    pub completed_time: Option<f64>,
    pub origin: BackupOrigin,
    /// Whether the tenant's retention rules keep it (always, without a policy or rules; a
    /// backup that is not `completed`, or not yet verified under `verify_after`, is not
    /// counted).
    pub retained: bool,
    pub verification: Verification,
    /// When it was last verified (seconds).
    pub verified_time: Option<f64>,
    /// The error code of its last failed verification.
    pub verify_error: Option<String>,
    /// The backup's copies, one per destination of `backup_copies` (README, *Where backups
    /// live*); empty when the server has none.
    #[serde(default)]
    pub copies: Vec<BackupCopy>,
}

stored_enum! {
    /// Where a backup's copy to one destination is.
    pub enum CopyState {
        /// Not made yet: waiting for its turn, or for the destination to answer again.
        Pending => "pending",
        /// Made, and read back with the size and SHA-256 the backup was written with.
        Copied => "copied",
        /// The destination holds something else under the backup's name that Coffer may
        /// not overwrite (an append-only destination).
        Failed => "failed",
    }
}

/// A backup's copy at one destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupCopy {
    /// The destination, as `backup_copies` names it.
    pub destination: String,
    pub state: CopyState,
    /// When it was made and checked.
    pub copied_time: Option<f64>,
    /// Attempts so far.
    pub attempts: u32,
    /// What the last failed attempt met (a destination down, a mismatch).
    pub error: Option<String>,
}

/// What `list_backups` answers, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListBackupsResponse {
    pub backups: Vec<BackupInfo>,
    /// Whether the backup store shares a disk or bucket with the data it protects: then
    /// losing one loses both (README, `backup_storage`).
    #[serde(default)]
    pub store_shares_data: bool,
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
    /// Needed for a write-only backup: an identity file's text, used for this check only.
    #[serde(default)]
    pub identity: Option<String>,
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

/// A tenant's backup policy, as `set_backup_policy` takes it. Every field may be left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackupPolicy {
    /// When backups run: a cron expression (`minute hour day month weekday`, or six fields
    /// starting with seconds), read in `time_zone`. None: no scheduled backups (retention
    /// still applies).
    #[serde(default)]
    pub schedule: Option<String>,
    /// An IANA time zone name (`Europe/Berlin`); `UTC` when left out. Retention's days,
    /// weeks and months are read in it too.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// `zstd` when left out.
    #[serde(default)]
    pub compression: Option<Compression>,
    /// `server` when left out.
    #[serde(default)]
    pub key_protection: Option<KeyProtection>,
    /// With `key_protection: recipients`: X25519 public keys (`age1…`, from `coffer backup
    /// keygen`), 1 to 16. Every backup of the tenant made without a passphrase is then
    /// write-only: only an identity of one of them restores it.
    #[serde(default)]
    pub recipients: Option<Vec<String>>,
    /// Keep the n newest backups.
    #[serde(default)]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the n most recent days that have one.
    #[serde(default)]
    pub keep_daily: Option<u32>,
    /// … of each of the n most recent ISO weeks that have one.
    #[serde(default)]
    pub keep_weekly: Option<u32>,
    /// … of each of the n most recent months that have one.
    #[serde(default)]
    pub keep_monthly: Option<u32>,
    /// Keep every backup made within this long of the newest: a number and a unit, `h`,
    /// `d` or `w`, possibly several (`1w3d`, `36h`).
    #[serde(default)]
    pub keep_within: Option<String>,
    /// Verify every new backup's bytes as stored; until then it does not count as good (for
    /// retention and the metrics).
    #[serde(default)]
    pub verify_after: Option<bool>,
    /// When every stored backup is verified again (a restore drill): a cron expression like
    /// `schedule`.
    #[serde(default)]
    pub drill_schedule: Option<String>,
    /// Every n-th scheduled backup is full and the others incremental, each on the one
    /// before (BACKUP_IMPORT.md §1.9): 1 (the default) makes every one full; at most 1000.
    #[serde(default)]
    pub full_every: Option<u32>,
}

/// A tenant's backup policy as the server keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupPolicyInfo {
    pub schedule: Option<String>,
    pub time_zone: String,
    pub compression: Compression,
    pub key_protection: KeyProtection,
    pub recipients: Vec<String>,
    pub keep_last: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_within: Option<String>,
    pub verify_after: bool,
    pub drill_schedule: Option<String>,
    pub full_every: u32,
    /// When the schedule runs next (seconds); none without a schedule.
    pub next_run_time: Option<f64>,
    /// When the next drill runs (seconds); none without a drill schedule.
    pub next_drill_time: Option<f64>,
    pub updated_time: f64,
}

/// What `get_backup_policy` and `set_backup_policy` answer: the policy, if the tenant has one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupPolicyResponse {
    pub policy: Option<BackupPolicyInfo>,
}

/// Arguments of `prune_backups`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PruneBackupsRequest {
    /// Say what would go, remove nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What `prune_backups` answers (backup ids, newest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PruneBackupsResponse {
    pub kept: Vec<String>,
    /// Removed (or, with `dry_run`, to be removed).
    pub removed: Vec<String>,
    /// Retention would remove them, but a download, a restore or a verification reads
    /// them: left for the next run.
    pub in_use: Vec<String>,
    /// Retention would remove them, but a backup that stays (kept, in use, or being
    /// written) is an incremental one that needs them: they stay as long as it does.
    pub held: Vec<HeldBackup>,
}

/// A backup kept only because another one builds on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HeldBackup {
    pub backup_id: String,
    /// The backup that stays and whose chain has it (the newest such).
    pub needed_by: String,
}

action! {
    /// Starts an export of the caller's tenant; answers at once.
    GenerateBackup {
        name: "generate_backup",
        access: Access::Permission(permissions::EXPORT_BACKUP),
        audited: true,
        success: "Backup export started",
        errors: [InvalidName, InvalidField, WeakPassword, BackupKeyInvalid, BackupNotFound],
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
    /// Deletes a backup's archive and key. A backup an incremental one builds on (kept, or
    /// being written) stays: `backup_needed`, naming that one in `data.backup_id`.
    DeleteBackup {
        name: "delete_backup",
        access: Access::Permission(permissions::EXPORT_BACKUP),
        audited: true,
        success: "Backup deleted",
        errors: [BackupNotFound, BackupNotReady, BackupNeeded],
        request: BackupIdRequest,
        response: Empty,
    }
}

action! {
    /// Verifies a stored backup end to end (every segment, manifest and blob), and that its
    /// key file names this archive's backup (`backup_key_invalid` otherwise). An incremental
    /// backup is verified with its chain: a fault of an earlier link is
    /// `backup_chain_broken` naming it (`data.backup_id`), and is recorded on that link too.
    VerifyBackup {
        name: "verify_backup",
        access: Access::Permission(permissions::EXPORT_BACKUP),
        audited: true,
        success: "Backup verified",
        errors: [BackupNotFound, BackupNotReady, BackupKeyInvalid, BackupPassphraseRequired,
            BackupIdentityRequired, BackupWrongIdentity,
            BackupWrongPassphrase, KeyCostTooHigh, BackupMacMismatch, BackupTruncated, BackupManifestInvalid,
            BackupManifestMismatch, BackupBlobMismatch, BackupChainBroken, BackupKeyUnavailable],
        request: VerifyBackupRequest,
        response: VerifyBackupResponse,
    }
}

action! {
    /// The tenant's backup policy.
    GetBackupPolicy {
        name: "get_backup_policy",
        access: Access::Permission(permissions::EXPORT_BACKUP),
        audited: false,
        success: "Backup policy",
        errors: [],
        request: Empty,
        response: BackupPolicyResponse,
    }
}

action! {
    /// Sets the tenant's backup policy (replacing any): schedule, how backups are made,
    /// retention. The schedule's next slot counts from now.
    SetBackupPolicy {
        name: "set_backup_policy",
        access: Access::Permission(permissions::EXPORT_BACKUP),
        audited: true,
        success: "Backup policy set",
        errors: [InvalidField],
        request: BackupPolicy,
        response: BackupPolicyResponse,
    }
}

action! {
    /// Applies the policy's retention now (as after every good backup), or with `dry_run`
    /// says what it would remove. The newest backup always stays.
    PruneBackups {
        name: "prune_backups",
        access: Access::Permission(permissions::EXPORT_BACKUP),
        audited: true,
        success: "Backups pruned",
        errors: [],
        request: PruneBackupsRequest,
        response: PruneBackupsResponse,
    }
}
