use api_spec::actions::{PruneBackupsRequest, PruneBackupsResponse};

use crate::actions::Call;
use crate::error::Result;
use crate::lifecycle::prune;

pub async fn run(call: Call, req: PruneBackupsRequest) -> Result<PruneBackupsResponse> {
    let auth = call.auth()?;
    prune::prune(
        &call.state,
        auth.scope(),
        req.dry_run,
        Some(auth.username()),
    )
    .await
}
