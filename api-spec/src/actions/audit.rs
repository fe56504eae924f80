//! `view_audit_logs`.
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{Access, permissions};

/// Arguments of `view_audit_logs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ViewAuditLogsRequest {
    /// Entries to skip (newest first).
    #[serde(default, deserialize_with = "crate::bounds::db_u64")]
    #[schema(maximum = 9223372036854775807_i64)]
    pub offset: u64,
    /// Entries to return, 0–100; 50 when absent.
    #[serde(default, deserialize_with = "crate::bounds::opt_db_u64")]
    #[schema(maximum = 100)]
    pub count: Option<u64>,
    /// Only entries of these actions.
    #[serde(default)]
    pub filters: Option<Vec<String>>,
}

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub action: String,
    pub username: Option<String>,
    pub target: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub data: Option<Value>,
    /// The reply code the action ended with.
    pub result: i32,
    pub remote_address: Option<String>,
    /// Seconds since the epoch.
    pub logged_time: f64,
}

/// What `view_audit_logs` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ViewAuditLogsResponse {
    /// Entries matching the filters, in all.
    pub total: u64,
    pub entries: Vec<AuditEntry>,
}

action! {
    /// Reads the tenant's audit log, newest first.
    ViewAuditLogs {
        name: "view_audit_logs",
        access: Access::Permission(permissions::VIEW_AUDIT_LOGS),
        audited: false,
        success: "Audit log retrieved",
        errors: [InvalidField],
        request: ViewAuditLogsRequest,
        response: ViewAuditLogsResponse,
    }
}
