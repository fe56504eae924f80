use api_spec::actions::BackupPolicyResponse;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::Result;
use crate::lifecycle::policy;
use crate::storage::policies;

pub async fn run(call: Call, _: Empty) -> Result<BackupPolicyResponse> {
    let auth = call.auth()?;
    let found = policies::get(auth.scope(), &call.state.db).await?;
    Ok(BackupPolicyResponse {
        policy: found.map(policy::info),
    })
}
