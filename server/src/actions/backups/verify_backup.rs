use api_spec::actions::{VerifyBackupRequest, VerifyBackupResponse};

use crate::actions::Call;
use crate::backup::check;
use crate::error::Result;

/// Verifies a stored backup now, with the caller's secret, and records the outcome as a
/// verify job does (`backup::check::on_request`).
pub async fn run(call: Call, req: VerifyBackupRequest) -> Result<VerifyBackupResponse> {
    let auth = call.auth()?;
    let backup = super::find_completed(auth, &call.state.db, &req.backup_id).await?;
    let summary = check::on_request(
        &call.state,
        auth.scope(),
        &backup,
        req.passphrase,
        req.identity,
    )
    .await?;
    Ok(VerifyBackupResponse {
        backup_id: summary.backup_id.to_string(),
        tenant: summary.tenant,
        compressed: summary.compressed,
        counts: serde_json::to_value(&summary.counts)?,
    })
}
