use api_spec::actions::ListBackupsResponse;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::Result;
use crate::lifecycle::prune;
use crate::storage::backups;

pub async fn run(call: Call, _: Empty) -> Result<ListBackupsResponse> {
    let auth = call.auth()?;
    let all = backups::list(auth.scope(), &call.state.db).await?;
    let (good, retained) = prune::good_and_retained(&call.state, auth.scope(), &all).await?;
    let backups = all
        .into_iter()
        .map(|b| {
            // Only good backups are retention's to remove.
            let kept = !good.contains(&b.id) || retained.contains(&b.id);
            super::info(b, kept)
        })
        .collect();
    Ok(ListBackupsResponse { backups })
}
