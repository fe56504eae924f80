//! Documents: create, info, download, new revision, rename, move, delete, rules.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AccessRules, ObjectRulesResponse, TaskData};
use crate::envelope::Empty;
use crate::{Access, permissions};

/// Arguments of `create_document`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDocumentRequest {
    pub title: String,
    /// Folder; null or absent for the top level.
    #[serde(default)]
    pub folder_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub access_rules: Option<AccessRules>,
    /// Whether the folder's rules apply too (default true).
    #[serde(default)]
    pub inherit_parent: Option<bool>,
}

/// What `create_document` answers: the new document and the upload task for its content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreateDocumentResponse {
    pub document_id: String,
    pub task_data: TaskData,
}

/// Names one document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentIdRequest {
    pub document_id: String,
}

/// What `get_document_info` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DocumentInfo {
    pub document_id: String,
    /// The folder; null at top level.
    pub parent_id: Option<String>,
    pub title: String,
    /// Size of the current revision; 0 before the first upload.
    pub size: u64,
    pub sha256: Option<String>,
    pub current_revision_id: Option<String>,
    pub created_time: f64,
    pub last_modified: f64,
    pub inherit: bool,
    /// The rules; present only with `view_access_rules` (else `info_code` is 1).
    #[schema(value_type = Option<Object>)]
    pub access_rules: Option<AccessRules>,
    pub info_code: u8,
}

/// What `get_document` answers: a download task for the current revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GetDocumentResponse {
    pub document_id: String,
    pub title: String,
    pub task_data: TaskData,
}

/// An upload or download task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskResponse {
    pub task_data: TaskData,
}

/// Arguments of `rename_document`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameDocumentRequest {
    pub document_id: String,
    pub new_title: String,
}

/// Arguments of `move_document`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveDocumentRequest {
    pub document_id: String,
    /// Target folder; null or absent for the top level.
    #[serde(default)]
    pub target_folder_id: Option<String>,
}

/// Arguments of `set_document_rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetDocumentRulesRequest {
    pub document_id: String,
    /// Each type present replaces that type's rules; `{}` removes all rules.
    #[schema(value_type = Object)]
    pub access_rules: AccessRules,
    #[serde(default)]
    pub inherit_parent: Option<bool>,
}

action! {
    /// Creates a document and an upload task for its first revision.
    CreateDocument {
        name: "create_document",
        access: Access::Permission(permissions::CREATE_DOCUMENT),
        note: "and write access to the folder",
        audited: true,
        success: "Document created; upload its content with the task",
        errors: [FolderNotFound, AccessDenied, InvalidName, InvalidRules, NameConflict, WouldLockOut,
            DepthLimitExceeded],
        request: CreateDocumentRequest,
        response: CreateDocumentResponse,
    }
}

action! {
    /// One document's details.
    GetDocumentInfo {
        name: "get_document_info",
        access: Access::Authenticated,
        note: "read access",
        audited: false,
        success: "Document information",
        errors: [DocumentNotFound, AccessDenied],
        request: DocumentIdRequest,
        response: DocumentInfo,
    }
}

action! {
    /// A download task for the document's current revision.
    GetDocument {
        name: "get_document",
        access: Access::Authenticated,
        note: "read access",
        audited: true,
        success: "Download task created",
        errors: [DocumentNotFound, AccessDenied, NoRevision],
        request: DocumentIdRequest,
        response: GetDocumentResponse,
    }
}

action! {
    /// An upload task for a new revision (which becomes current when the upload completes).
    UploadDocument {
        name: "upload_document",
        access: Access::Authenticated,
        note: "write access",
        audited: true,
        success: "Upload task created",
        errors: [DocumentNotFound, AccessDenied],
        request: DocumentIdRequest,
        response: TaskResponse,
    }
}

action! {
    /// Renames a document.
    RenameDocument {
        name: "rename_document",
        access: Access::Permission(permissions::RENAME_DOCUMENT),
        note: "and write access",
        audited: true,
        success: "Document renamed",
        errors: [DocumentNotFound, AccessDenied, InvalidName, NameConflict],
        request: RenameDocumentRequest,
        response: Empty,
    }
}

action! {
    /// Moves a document to another folder.
    MoveDocument {
        name: "move_document",
        access: Access::Permission(permissions::MOVE),
        note: "and move access to the document, write access to the target",
        audited: true,
        success: "Document moved",
        errors: [DocumentNotFound, FolderNotFound, AccessDenied, NameConflict, DepthLimitExceeded],
        request: MoveDocumentRequest,
        response: Empty,
    }
}

action! {
    /// Deletes a document with its revisions; files nothing else uses are removed.
    DeleteDocument {
        name: "delete_document",
        access: Access::Permission(permissions::DELETE_DOCUMENT),
        note: "and write access",
        audited: true,
        success: "Document deleted",
        errors: [DocumentNotFound, AccessDenied],
        request: DocumentIdRequest,
        response: Empty,
    }
}

action! {
    /// A document's access rules.
    GetDocumentAccessRules {
        name: "get_document_access_rules",
        access: Access::Permission(permissions::VIEW_ACCESS_RULES),
        note: "and read access",
        audited: false,
        success: "Access rules",
        errors: [DocumentNotFound, AccessDenied],
        request: DocumentIdRequest,
        response: ObjectRulesResponse,
    }
}

action! {
    /// Replaces a document's access rules by type.
    SetDocumentRules {
        name: "set_document_rules",
        access: Access::Permission(permissions::SET_ACCESS_RULES),
        note: "and manage access",
        audited: true,
        success: "Access rules set",
        errors: [DocumentNotFound, AccessDenied, InvalidRules, WouldLockOut],
        request: SetDocumentRulesRequest,
        response: Empty,
    }
}
