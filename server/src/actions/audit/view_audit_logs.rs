use api_spec::ErrorCode;
use api_spec::actions::{AuditEntry, ViewAuditLogsRequest, ViewAuditLogsResponse};

use crate::actions::Call;
use crate::error::{Result, field_error};
use crate::storage::audit;
use crate::time::to_secs;

/// Largest page a client may ask for.
const MAX_COUNT: u64 = 100;
const DEFAULT_COUNT: u64 = 50;

pub async fn run(call: Call, req: ViewAuditLogsRequest) -> Result<ViewAuditLogsResponse> {
    let auth = call.auth()?;
    let count = req.count.unwrap_or(DEFAULT_COUNT);
    if count > MAX_COUNT {
        return Err(field_error(ErrorCode::InvalidField, "count"));
    }
    let (total, rows) = audit::page(
        auth.scope(),
        &call.state.db,
        req.filters.as_deref(),
        req.offset,
        count,
    )
    .await?;
    let entries = rows
        .into_iter()
        .map(|e| AuditEntry {
            id: e.id.to_string(),
            action: e.action,
            username: e.username,
            target: e.target,
            data: e.data,
            result: e.result,
            remote_address: e.remote_address,
            logged_time: to_secs(e.logged_time),
        })
        .collect();
    Ok(ViewAuditLogsResponse { total, entries })
}
