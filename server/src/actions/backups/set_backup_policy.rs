use api_spec::actions::{BackupPolicy, BackupPolicyResponse};

use crate::actions::Call;
use crate::error::Result;
use crate::lifecycle::policy;
use crate::storage::policies;

/// Checks the whole policy first (a bad field changes nothing), then replaces the tenant's;
/// its next slot counts from now on the server's clock. The caller owns the jobs it queues.
pub async fn run(call: Call, req: BackupPolicy) -> Result<BackupPolicyResponse> {
    let auth = call.auth()?;
    let row = policy::from_request(&req, auth.user_id(), call.state.clock.now_ms())?;
    let w = call.state.write().await?;
    policies::put(auth.scope(), w.txn(), row).await?;
    let stored = policies::get(auth.scope(), w.txn()).await?;
    w.commit().await?;
    Ok(BackupPolicyResponse {
        policy: stored.map(policy::info),
    })
}
