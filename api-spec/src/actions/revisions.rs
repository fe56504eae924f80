//! Revisions: list, download one, make one current.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{DocumentIdRequest, TaskResponse};
use crate::envelope::Empty;
use crate::{Access, permissions};

/// One revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RevisionInfo {
    pub id: String,
    /// The revision this one was uploaded on top of.
    pub parent_id: Option<String>,
    pub created_time: f64,
    pub is_current: bool,
    pub size: u64,
    pub sha256: String,
}

/// What `list_revisions` answers, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListRevisionsResponse {
    pub revisions: Vec<RevisionInfo>,
}

/// Names one revision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevisionIdRequest {
    pub id: String,
}

/// Arguments of `set_current_revision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCurrentRevisionRequest {
    pub document_id: String,
    pub revision_id: String,
}

action! {
    /// A document's revisions.
    ListRevisions {
        name: "list_revisions",
        access: Access::Permission(permissions::LIST_REVISIONS),
        note: "and read access",
        audited: false,
        success: "Revision listing successful",
        errors: [DocumentNotFound, AccessDenied],
        request: DocumentIdRequest,
        response: ListRevisionsResponse,
    }
}

action! {
    /// A download task for one revision.
    GetRevision {
        name: "get_revision",
        access: Access::Permission(permissions::VIEW_REVISION),
        note: "and read access to its document",
        audited: true,
        success: "Download task created",
        errors: [RevisionNotFound, AccessDenied],
        request: RevisionIdRequest,
        response: TaskResponse,
    }
}

action! {
    /// Makes a revision of the document current.
    SetCurrentRevision {
        name: "set_current_revision",
        access: Access::Permission(permissions::SET_CURRENT_REVISION),
        note: "and write access",
        audited: true,
        success: "Current revision set",
        errors: [DocumentNotFound, RevisionNotFound, AccessDenied],
        request: SetCurrentRevisionRequest,
        response: Empty,
    }
}
