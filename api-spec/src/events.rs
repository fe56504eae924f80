//! Event payloads. Events go only to listeners of the same tenant whose user holds the
//! event's audience permission (see [`CATALOGUE`]).
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::permissions;

/// Event name: a user was created, deleted, or had their groups changed.
pub const USER_CHANGED: &str = "user_changed";
/// Event name: a group was created, deleted, or had its permissions changed.
pub const GROUP_CHANGED: &str = "group_changed";

/// Event name: a document was created, changed content, renamed, moved, had its rules
/// changed, or was deleted.
pub const DOCUMENT_CHANGED: &str = "document_changed";
/// Event name: a folder was created, renamed, moved, had its rules changed, or was deleted.
pub const DIRECTORY_CHANGED: &str = "directory_changed";

/// Event name: an export job's progress (at most one per second per job).
pub const BACKUP_EXPORT_PROGRESS: &str = "backup_export_progress";
/// Event name: an export job ended (`completed` or `failed`).
pub const BACKUP_EXPORT_COMPLETED: &str = "backup_export_completed";

/// Event name: an import job's progress (at most one per second per job).
pub const BACKUP_IMPORT_PROGRESS: &str = "backup_import_progress";
/// Event name: an import job ended: `completed`, `failed`, `timeout` or `cancelled`.
pub const BACKUP_IMPORT_COMPLETED: &str = "backup_import_completed";

/// Event name: a verify job ended (`completed`: the backup is good; `failed`: it is not,
/// or could not be read).
pub const BACKUP_VERIFY_COMPLETED: &str = "backup_verify_completed";
/// Event name: a copy job ended (`completed`: the backup's archive is at the destination,
/// read back whole; `failed`: it cannot be, e.g. an append-only destination holds other
/// bytes under its name). A destination that is down does not end it: it waits and tries
/// again.
pub const BACKUP_COPY_COMPLETED: &str = "backup_copy_completed";
/// Event name: a stored backup failed its verification (after it was made, or in a drill).
pub const BACKUP_VERIFY_FAILED: &str = "backup_verify_failed";

/// Payload of `backup_verify_failed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupVerifyFailed {
    pub backup_id: String,
    /// The verify job that failed; null when `verify_backup` verified (cause `request`).
    pub backup_task_id: Option<String>,
    pub cause: crate::jobs::VerifyCause,
    /// The error code (`backup_mac_mismatch`, `backup_truncated`, …).
    pub error: String,
}

/// Payload of the backup export and import events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BackupJobEvent {
    pub backup_task_id: String,
    pub backup_id: Option<String>,
    /// `running` while it runs (the progress events), then the state it ended in.
    pub status: crate::jobs::JobState,
    pub progress_percent: i32,
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// The step the job is in; at the end, the step it ended in (`completed` once done).
    #[serde(default)]
    pub current_step: Option<crate::jobs::JobStep>,
    /// At the end: the job's counts, as its status shows them (an export's: what it wrote;
    /// an import's: what it placed or, on a dry run, would place); null in progress events.
    #[serde(default)]
    pub counts: Option<serde_json::Value>,
    /// The error code when `failed`.
    pub error: Option<String>,
}

/// What happened to the object an event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Created,
    Deleted,
    GroupsChanged,
    PermissionsChanged,
    Renamed,
    Moved,
    RulesChanged,
    /// A new revision became current.
    ContentChanged,
}

/// Payload of `user_changed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserChanged {
    pub username: String,
    pub change: Change,
}

/// Payload of `group_changed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupChanged {
    pub group_name: String,
    pub change: Change,
}

/// Payload of `document_changed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DocumentChanged {
    pub document_id: String,
    /// The containing folder (after the change); null at top level.
    pub folder_id: Option<String>,
    pub change: Change,
}

/// Payload of `directory_changed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DirectoryChanged {
    pub folder_id: String,
    /// The parent (after the change); null at top level.
    pub parent_id: Option<String>,
    pub change: Change,
}

/// Audience of document and folder events: listeners with read access to the object (for a
/// deletion: to its former parent).
pub const READERS: &str = "read access to the object";

/// Every event: name, payload schema, and the permission a listener needs to receive it.
pub const CATALOGUE: &[(&str, &str, &str)] = &[
    (USER_CHANGED, "UserChanged", permissions::LIST_USERS),
    (GROUP_CHANGED, "GroupChanged", permissions::LIST_GROUPS),
    (DOCUMENT_CHANGED, "DocumentChanged", READERS),
    (DIRECTORY_CHANGED, "DirectoryChanged", READERS),
    (
        BACKUP_EXPORT_PROGRESS,
        "BackupJobEvent",
        permissions::EXPORT_BACKUP,
    ),
    (
        BACKUP_EXPORT_COMPLETED,
        "BackupJobEvent",
        permissions::EXPORT_BACKUP,
    ),
    (
        BACKUP_IMPORT_PROGRESS,
        "BackupJobEvent",
        permissions::IMPORT_BACKUP,
    ),
    (
        BACKUP_IMPORT_COMPLETED,
        "BackupJobEvent",
        permissions::IMPORT_BACKUP,
    ),
    (
        BACKUP_VERIFY_COMPLETED,
        "BackupJobEvent",
        permissions::EXPORT_BACKUP,
    ),
    (
        BACKUP_COPY_COMPLETED,
        "BackupJobEvent",
        permissions::EXPORT_BACKUP,
    ),
    (
        BACKUP_VERIFY_FAILED,
        "BackupVerifyFailed",
        permissions::EXPORT_BACKUP,
    ),
];
