use api_spec::actions::BackupPolicyResponse;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::backup::policy;
use crate::error::Result;
use crate::storage::policies;

pub async fn run(call: Call, _: Empty) -> Result<BackupPolicyResponse> {
    let auth = call.auth()?;
    let found = policies::get(auth.scope(), &call.state.db).await?;
    Ok(BackupPolicyResponse {
        policy: found.map(policy::info),
    })
}
