use api_spec::actions::{VerifyBackupRequest, VerifyBackupResponse};

use crate::actions::Call;
use crate::backup::export::{archive_path, key_path};
use crate::backup::keys::KeyFile;
use crate::backup::verify;
use crate::error::{Error, Result};

pub async fn run(call: Call, req: VerifyBackupRequest) -> Result<VerifyBackupResponse> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let backup = super::find_completed(auth, db, &req.backup_id).await?;
    let tenant = auth.scope().tenant_id();
    let key_bytes = tokio::fs::read(key_path(&call.state.config, tenant, backup.id))
        .await
        .map_err(|e| Error::Internal(format!("reading key file: {e}")))?;
    let archive = archive_path(&call.state.config, tenant, backup.id);
    let passphrase = req.passphrase.clone().map(zeroize::Zeroizing::new);
    // Key unwrapping (argon2id) runs on the unlock pool, at a bounded cost; verification is
    // CPU work too: off the reactor.
    let key = call
        .state
        .unlocker
        .unlock(tenant, KeyFile::parse(&key_bytes)?, passphrase)
        .await?;
    let summary = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&archive)
            .map_err(|e| Error::Internal(format!("opening archive: {e}")))?;
        verify::verify(
            std::io::BufReader::with_capacity(1 << 20, file),
            &key,
            |_| {},
        )
    })
    .await??;
    Ok(VerifyBackupResponse {
        backup_id: summary.backup_id.to_string(),
        tenant: summary.tenant,
        compressed: summary.compressed,
        counts: serde_json::to_value(&summary.counts)?,
    })
}
