//! Byte transfers over the WebSocket. (`PUT`/`GET /api/transfers/{task_id}` carry the same
//! tasks over HTTP.)
//!
//! Upload: send `upload_file {task_id}`; the server answers a `transfer_file` control
//! message ([`TransferReady`]) holding the bytes it already has; then send one text header
//! ([`UploadHeader`]) and exactly `file_size - offset` bytes in binary frames (each at most
//! `max_chunk`); the server ends with the final reply. Download: send
//! `download_file {task_id, offset?}`; the server sends a `transfer_file` control message
//! ([`DownloadHeader`]), the bytes from `offset` in binary frames, and the final reply.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Access;

/// Arguments of `upload_file`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadFileRequest {
    pub task_id: String,
}

/// The control message that starts an upload: `{"action": "transfer_file", "data": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TransferReady {
    pub task_id: String,
    /// Bytes already stored for this task (a resume may start anywhere up to here).
    pub received: u64,
    /// Largest binary frame the server accepts.
    pub max_chunk: u64,
}

/// The client's header, sent as one text message after [`TransferReady`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UploadHeader {
    /// Size of the whole file.
    #[serde(deserialize_with = "crate::bounds::db_u64")]
    #[schema(maximum = 9223372036854775807_i64)]
    pub file_size: u64,
    /// SHA-256 of the whole file (hex); checked when given.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Where this attempt starts (≤ `received`); 0 when absent.
    #[serde(default, deserialize_with = "crate::bounds::opt_db_u64")]
    #[schema(maximum = 9223372036854775807_i64)]
    pub offset: Option<u64>,
}

/// What a completed upload answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UploadFileResponse {
    pub task_id: String,
    pub file_size: u64,
    pub sha256: String,
    /// The document the content belongs to.
    pub document_id: Option<String>,
    /// The revision it created.
    pub revision_id: Option<String>,
}

/// Arguments of `download_file`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DownloadFileRequest {
    pub task_id: String,
    /// First byte to send; 0 when absent.
    #[serde(default, deserialize_with = "crate::bounds::opt_db_u64")]
    #[schema(maximum = 9223372036854775807_i64)]
    pub offset: Option<u64>,
}

/// The control message that starts a download: `{"action": "transfer_file", "data": …}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DownloadHeader {
    pub file_size: u64,
    pub sha256: String,
    /// Largest binary frame that follows.
    pub chunk_size: u64,
    pub offset: u64,
}

/// What a completed download answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DownloadFileResponse {
    pub task_id: String,
    /// Bytes sent in this attempt.
    pub sent: u64,
}

action! {
    /// Uploads bytes for an upload task (see the module docs for the exchange).
    UploadFile {
        name: "upload_file",
        access: Access::Authenticated,
        note: "the task's own user",
        audited: false,
        success: "File received successfully",
        errors: [TaskNotFound, TaskExpired, TaskNotUsable, SizeMismatch, HashMismatch, InvalidOffset, TooLarge, TransferTimeout],
        request: UploadFileRequest,
        response: UploadFileResponse,
    }
}

action! {
    /// Downloads the bytes of a download task (see the module docs for the exchange).
    DownloadFile {
        name: "download_file",
        access: Access::Authenticated,
        note: "the task's own user",
        audited: false,
        success: "File sent successfully",
        errors: [TaskNotFound, TaskExpired, TaskNotUsable, InvalidOffset],
        request: DownloadFileRequest,
        response: DownloadFileResponse,
    }
}
