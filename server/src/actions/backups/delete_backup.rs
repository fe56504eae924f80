use api_spec::ErrorCode;
use api_spec::actions::BackupIdRequest;
use api_spec::envelope::Empty;

use crate::actions::Call;
use crate::backup::stored;
use crate::error::{Error, Result, fail};
use crate::storage::backups;

pub async fn run(call: Call, req: BackupIdRequest) -> Result<Empty> {
    let auth = call.auth()?;
    let w = call.state.write().await?;
    let backup = super::find(auth, w.txn(), &req.backup_id).await?;
    if backup.status == backups::BackupStatus::Running {
        return Err(fail(ErrorCode::BackupNotReady));
    }
    // A link an incremental backup (kept or being written) still needs stays. The row is
    // locked first, so an export picking it as a base meanwhile is seen (`backups::lock`).
    backups::lock(auth.scope(), w.txn(), backup.id).await?;
    let dependents = backups::built_on(auth.scope(), w.txn(), backup.id).await?;
    if let Some(newer) = dependents
        .iter()
        .find(|b| b.status != backups::BackupStatus::Failed)
    {
        return Err(Error::AboutBackup {
            code: ErrorCode::BackupNeeded,
            backup_id: newer.id.to_string(),
        });
    }
    backups::delete(auth.scope(), w.txn(), backup.id).await?;
    w.commit().await?;
    // Download tasks for it now answer task_not_found: their files are gone.
    let tenant = auth.scope().tenant_id();
    stored::remove_files(&call.state, tenant, backup.id).await;
    Ok(Empty {})
}
