use api_spec::actions::{PruneBackupsRequest, PruneBackupsResponse};

use crate::actions::Call;
use crate::backup::prune;
use crate::error::Result;

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
