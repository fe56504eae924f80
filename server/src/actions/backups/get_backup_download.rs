use api_spec::actions::{BackupDownloadResponse, BackupIdRequest};

use crate::actions::Call;
use crate::error::Result;
use crate::services::transfers;
use crate::storage::tasks::{BackupPart, NewTask};

pub async fn run(call: Call, req: BackupIdRequest) -> Result<BackupDownloadResponse> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let backup = super::find_completed(auth, db, &req.backup_id).await?;
    let archive = transfers::new_task(
        &call.state,
        auth,
        db,
        NewTask::backup(auth.user_id(), backup.id, BackupPart::Archive),
    )
    .await?;
    let key = transfers::new_task(
        &call.state,
        auth,
        db,
        NewTask::backup(auth.user_id(), backup.id, BackupPart::Key),
    )
    .await?;
    Ok(BackupDownloadResponse { archive, key })
}
