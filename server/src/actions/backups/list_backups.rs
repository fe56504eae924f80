use api_spec::actions::ListBackupsResponse;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::error::Result;
use crate::storage::backups;

pub async fn run(call: Call, _: Empty) -> Result<ListBackupsResponse> {
    let auth = call.auth()?;
    let backups = backups::list(auth.scope(), &call.state.db)
        .await?
        .into_iter()
        .map(super::info)
        .collect();
    Ok(ListBackupsResponse { backups })
}
