//! The JSON members of the archive's tar stream (BACKUP_IMPORT.md §1.6).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const FORMAT: &str = "coffer-backup";
pub const METADATA: &str = "metadata.json";
pub const FOLDERS: &str = "folders.jsonl";
pub const DOCUMENTS: &str = "documents.jsonl";
pub const FILES: &str = "files.jsonl";
pub const USERS: &str = "users.jsonl";
pub const GROUPS: &str = "groups.jsonl";
pub const ACCESS_ENTRIES: &str = "access_entries.jsonl";
/// The manifests, in archive order (after `metadata.json`, before the blobs).
pub const MANIFESTS: [&str; 6] = [FOLDERS, DOCUMENTS, FILES, USERS, GROUPS, ACCESS_ENTRIES];
pub const BLOB_PREFIX: &str = "files/";
/// Largest `metadata.json` and largest manifest line a reader accepts.
pub const MAX_JSON: usize = 1024 * 1024;
/// Largest count of any kind a reader accepts.
pub const MAX_COUNT: u64 = 10_000_000;

/// Rules by access type, in CFMS's rule format.
pub type Rules = BTreeMap<String, Vec<Value>>;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub folders: u64,
    pub documents: u64,
    pub revisions: u64,
    pub files: u64,
    pub users: u64,
    pub groups: u64,
    pub access_entries: u64,
    /// Total bytes of all blobs.
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub format: String,
    pub format_version: u32,
    pub backup_id: String,
    pub tenant: String,
    pub created_at: i64,
    pub server_version: String,
    pub compression: String,
    /// Of the whole snapshot, whichever link holds its blobs (`bytes`: all its files').
    pub counts: Counts,
    /// Format v2 (a link of a chain): the link it builds on. Absent in format v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseLink>,
    /// Format v2: the blobs this link's `files/` holds. Absent in format v1 (it holds all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<Held>,
}

/// The archive an incremental one builds on, named so that a missing, swapped or altered
/// base is found before any of its bytes are used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseLink {
    pub backup_id: String,
    /// Its key's id (§1.1), 32 hex.
    pub key_id: String,
    /// The SHA-256 of its whole archive file, 64 hex.
    pub archive_sha256: String,
}

/// The blobs one link holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Held {
    pub files: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderLine {
    pub id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub inherit: bool,
    pub created_at: i64,
    pub last_modified: i64,
    pub rules: Rules,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevisionLine {
    pub id: String,
    pub file_id: String,
    pub parent_revision_id: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentLine {
    pub id: String,
    pub folder_id: Option<String>,
    pub title: String,
    pub inherit: bool,
    pub created_at: i64,
    pub last_modified: i64,
    pub current_revision_id: Option<String>,
    pub rules: Rules,
    pub revisions: Vec<RevisionLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLine {
    pub id: String,
    pub sha256: String,
    pub size: u64,
    /// Format v2: the link of the chain whose `files/` holds the blob (this one's own id,
    /// or an earlier link's). Absent in format v1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserLine {
    pub username: String,
    pub nickname: Option<String>,
    pub created_at: i64,
    pub groups: Vec<String>,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupLine {
    pub name: String,
    pub display_name: Option<String>,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessEntryLine {
    pub entity_type: String,
    pub entity: String,
    pub target_type: String,
    pub target_id: String,
    pub access_type: String,
    pub start_time: i64,
    pub end_time: Option<i64>,
}

/// Whether `name` is a lower-case hex SHA-256.
pub fn is_sha256(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
