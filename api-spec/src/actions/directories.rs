//! Folders ("directories", in CFMS's names): list, info, create, rename, move, delete, rules.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AccessRules, ObjectRulesResponse};
use crate::envelope::Empty;
use crate::{Access, permissions};

/// Arguments of `list_directory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ListDirectoryRequest {
    /// The folder to list; null for the top level.
    pub folder_id: Option<String>,
}

/// A document row in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DocumentEntry {
    pub id: String,
    pub title: String,
    pub created_time: f64,
    pub last_modified: f64,
    /// SHA-256 of the current revision; null before the first upload completes.
    pub sha256: Option<String>,
    /// Size of the current revision in bytes; 0 before the first upload completes.
    pub size: u64,
}

/// A folder row in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FolderEntry {
    pub id: String,
    pub name: String,
    pub created_time: f64,
}

/// What `list_directory` answers: the children the caller may read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListDirectoryResponse {
    /// The listed folder's parent: null when listing the top level, `"/"` for a top-level
    /// folder, otherwise the parent's id (CFMS's convention).
    pub parent_id: Option<String>,
    pub documents: Vec<DocumentEntry>,
    pub folders: Vec<FolderEntry>,
}

/// Names one folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectoryIdRequest {
    pub directory_id: String,
}

/// What `get_directory_info` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DirectoryInfo {
    pub directory_id: String,
    pub name: String,
    /// Null for a top-level folder.
    pub parent_id: Option<String>,
    pub created_time: f64,
    pub last_modified: f64,
    /// Documents and folders directly inside.
    pub count_of_child: u64,
    /// Whether the parent's rules apply too.
    pub inherit: bool,
    /// The folder's rules; present only with `view_access_rules` (else `info_code` is 1).
    #[schema(value_type = Option<Object>)]
    pub access_rules: Option<AccessRules>,
    pub info_code: u8,
}

/// Arguments of `create_directory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDirectoryRequest {
    pub name: String,
    /// Parent folder; null or absent for the top level.
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub access_rules: Option<AccessRules>,
    /// When a folder of that name exists there, answer it instead of a conflict.
    #[serde(default)]
    pub exists_ok: bool,
    /// Whether the parent's rules apply too (default true).
    #[serde(default)]
    pub inherit_parent: Option<bool>,
}

/// What `create_directory` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateDirectoryResponse {
    pub id: String,
    pub name: String,
    pub created_time: f64,
    /// True when `exists_ok` returned an existing folder.
    pub existed: bool,
}

/// Arguments of `rename_directory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameDirectoryRequest {
    pub folder_id: String,
    pub new_name: String,
}

/// Arguments of `move_directory`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveDirectoryRequest {
    pub folder_id: String,
    /// New parent; null for the top level.
    pub target_folder_id: Option<String>,
}

/// Names one folder (CFMS's `delete_directory` calls it `folder_id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FolderIdRequest {
    pub folder_id: String,
}

/// Arguments of `set_directory_rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetDirectoryRulesRequest {
    pub directory_id: String,
    /// Each type present replaces that type's rules; `{}` removes all rules.
    #[schema(value_type = Object)]
    pub access_rules: AccessRules,
    #[serde(default)]
    pub inherit_parent: Option<bool>,
}

action! {
    /// Lists a folder's documents and subfolders that the caller may read.
    ListDirectory {
        name: "list_directory",
        access: Access::Authenticated,
        note: "read access to the folder, or `super_list_directory`",
        audited: false,
        success: "Directory listing successful",
        errors: [FolderNotFound, AccessDenied],
        request: ListDirectoryRequest,
        response: ListDirectoryResponse,
    }
}

action! {
    /// One folder's details.
    GetDirectoryInfo {
        name: "get_directory_info",
        access: Access::Authenticated,
        note: "read access",
        audited: false,
        success: "Directory information",
        errors: [FolderNotFound, AccessDenied],
        request: DirectoryIdRequest,
        response: DirectoryInfo,
    }
}

action! {
    /// Creates a folder.
    CreateDirectory {
        name: "create_directory",
        access: Access::Permission(permissions::CREATE_DIRECTORY),
        note: "and write access to the parent",
        audited: true,
        success: "Directory created",
        errors: [FolderNotFound, AccessDenied, InvalidName, InvalidRules, NameConflict, WouldLockOut,
            DepthLimitExceeded],
        request: CreateDirectoryRequest,
        response: CreateDirectoryResponse,
    }
}

action! {
    /// Renames a folder.
    RenameDirectory {
        name: "rename_directory",
        access: Access::Permission(permissions::RENAME_DIRECTORY),
        note: "and write access",
        audited: true,
        success: "Directory renamed",
        errors: [FolderNotFound, AccessDenied, InvalidName, NameConflict],
        request: RenameDirectoryRequest,
        response: Empty,
    }
}

action! {
    /// Moves a folder (not into itself or below itself).
    MoveDirectory {
        name: "move_directory",
        access: Access::Permission(permissions::MOVE),
        note: "and move access to the folder, write access to the target",
        audited: true,
        success: "Directory moved",
        errors: [FolderNotFound, AccessDenied, MoveCycle, NameConflict, DepthLimitExceeded],
        request: MoveDirectoryRequest,
        response: Empty,
    }
}

action! {
    /// Deletes a folder with everything below it. A large subtree goes in slices of at most
    /// 500 documents or folders, each its own short transaction, so that other writes go on
    /// meanwhile: until the reply, a listing may show the subtree partly removed, and a
    /// delete cut short (a server stop) is finished by deleting the folder again.
    DeleteDirectory {
        name: "delete_directory",
        access: Access::Permission(permissions::DELETE_DIRECTORY),
        note: "and write access",
        audited: true,
        success: "Directory deleted",
        errors: [FolderNotFound, AccessDenied],
        request: FolderIdRequest,
        response: Empty,
    }
}

action! {
    /// A folder's access rules.
    GetDirectoryAccessRules {
        name: "get_directory_access_rules",
        access: Access::Permission(permissions::VIEW_ACCESS_RULES),
        note: "and read access",
        audited: false,
        success: "Access rules",
        errors: [FolderNotFound, AccessDenied],
        request: DirectoryIdRequest,
        response: ObjectRulesResponse,
    }
}

action! {
    /// Replaces a folder's access rules by type.
    SetDirectoryRules {
        name: "set_directory_rules",
        access: Access::Permission(permissions::SET_ACCESS_RULES),
        note: "and manage access",
        audited: true,
        success: "Access rules set",
        errors: [FolderNotFound, AccessDenied, InvalidRules, WouldLockOut],
        request: SetDirectoryRulesRequest,
        response: Empty,
    }
}
