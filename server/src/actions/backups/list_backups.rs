use api_spec::actions::ListBackupsResponse;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::Result;
use crate::lifecycle::prune;
use crate::storage::{backup_copies, backups};

pub async fn run(call: Call, _: Empty) -> Result<ListBackupsResponse> {
    let auth = call.auth()?;
    let all = backups::list(auth.scope(), &call.state.db).await?;
    let (good, retained) = prune::good_and_retained(&call.state, auth.scope(), &all).await?;
    let sizes: Vec<Option<u64>> = all
        .iter()
        .map(|b| {
            let links = backups::chain(&all, b.id)?;
            links.iter().map(|l| l.archive_size.map(|s| s as u64)).sum()
        })
        .collect();
    let mut copies = backup_copies::of_tenant(auth.scope(), &call.state.db).await?;
    let backups = all
        .into_iter()
        .zip(sizes)
        .map(|(b, chain_size)| {
            // Only good backups are retention's to remove.
            let kept = !good.contains(&b.id) || retained.contains(&b.id);
            let copies = copies.remove(&b.id).unwrap_or_default();
            super::info(b, kept, chain_size, copies)
        })
        .collect();
    Ok(ListBackupsResponse {
        backups,
        store_shares_data: call.state.backup_placement.shares_data,
    })
}
