//! Explicit access entries (grants that bypass the rules) and name search.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::envelope::Empty;
use crate::{Access, permissions};

stored_enum! {
    /// The four access types a rule or an entry is about.
    pub enum AccessType {
        Read => "read",
        Write => "write",
        Move => "move",
        Manage => "manage",
    }
}

impl AccessType {
    /// Which rule lists a check for `self` must pass.
    pub fn applicable(self) -> &'static [AccessType] {
        match self {
            AccessType::Read => &[AccessType::Read],
            AccessType::Write => &[AccessType::Read, AccessType::Write],
            AccessType::Manage => &[AccessType::Read, AccessType::Manage],
            AccessType::Move => &[AccessType::Move],
        }
    }
}

/// Who an entry is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntityType {
    User,
    Group,
}

/// What an entry is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TargetType {
    Document,
    Directory,
}

/// Arguments of `grant_access`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantAccessRequest {
    pub entity_type: EntityType,
    /// Username or group name.
    pub entity_identifier: String,
    pub target_type: TargetType,
    pub target_identifier: String,
    /// `read`, `write`, `move` and/or `manage`; the caller must hold each on the target.
    pub access_types: Vec<String>,
    #[serde(default)]
    pub start_time: Option<f64>,
    #[serde(default)]
    pub end_time: Option<f64>,
}

/// What `grant_access` answers: one entry per access type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GrantAccessResponse {
    pub entry_ids: Vec<String>,
}

/// Arguments of `revoke_access`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeAccessRequest {
    pub entry_id: String,
}

/// What `view_access_entries` lists by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ObjectType {
    User,
    Group,
    Document,
    Directory,
}

/// Arguments of `view_access_entries`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewAccessEntriesRequest {
    pub object_type: ObjectType,
    pub object_identifier: String,
}

/// One access entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccessEntryInfo {
    pub id: String,
    pub entity_type: EntityType,
    pub entity_identifier: String,
    pub target_type: TargetType,
    pub target_identifier: String,
    pub access_type: AccessType,
    pub start_time: f64,
    pub end_time: Option<f64>,
}

/// What `view_access_entries` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ViewAccessEntriesResponse {
    pub result: Vec<AccessEntryInfo>,
}

/// Arguments of `search`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Case-insensitive substring of the name (1–255 characters).
    pub query: String,
    /// 1–1000; 100 when absent.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `name` when left out.
    #[serde(default)]
    pub sort_by: Option<SortBy>,
    /// `asc` when left out.
    #[serde(default)]
    pub sort_order: Option<SortOrder>,
    #[serde(default = "yes")]
    pub search_documents: bool,
    #[serde(default = "yes")]
    pub search_directories: bool,
}

/// What `search` sorts its hits by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    #[default]
    Name,
    CreatedTime,
    LastModified,
}

/// Which way `search` sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    #[default]
    Asc,
    Desc,
}

fn yes() -> bool {
    true
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchHit {
    pub id: String,
    pub name: String,
    /// The containing folder; null at top level.
    pub parent_id: Option<String>,
    pub created_time: f64,
    pub last_modified: f64,
    #[serde(rename = "type")]
    pub kind: TargetType,
}

/// What `search` answers: readable hits, sorted, at most `limit` of each kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SearchResponse {
    pub documents: Vec<SearchHit>,
    pub directories: Vec<SearchHit>,
    /// Readable hits before the limit.
    pub total_count: u64,
    pub query: String,
}

action! {
    /// Grants access types on a document or folder to a user or group.
    GrantAccess {
        name: "grant_access",
        access: Access::Permission(permissions::MANAGE_ACCESS),
        note: "and each granted access type on the target",
        audited: true,
        success: "Access granted",
        errors: [UserNotFound, GroupNotFound, DocumentNotFound, FolderNotFound, AccessDenied, InvalidRules, InvalidTimeRange],
        request: GrantAccessRequest,
        response: GrantAccessResponse,
    }
}

action! {
    /// Removes an access entry.
    RevokeAccess {
        name: "revoke_access",
        access: Access::Permission(permissions::MANAGE_ACCESS),
        audited: true,
        success: "Access revoked",
        errors: [EntryNotFound],
        request: RevokeAccessRequest,
        response: Empty,
    }
}

action! {
    /// Lists access entries of a user, group, document or folder.
    ViewAccessEntries {
        name: "view_access_entries",
        access: Access::Permission(permissions::VIEW_ACCESS_ENTRIES),
        audited: false,
        success: "Access entries",
        errors: [UserNotFound, GroupNotFound, DocumentNotFound, FolderNotFound],
        request: ViewAccessEntriesRequest,
        response: ViewAccessEntriesResponse,
    }
}

action! {
    /// Finds documents and folders by name among those the caller may read.
    Search {
        name: "search",
        access: Access::Authenticated,
        audited: false,
        success: "Search completed",
        errors: [InvalidField],
        request: SearchRequest,
        response: SearchResponse,
    }
}
