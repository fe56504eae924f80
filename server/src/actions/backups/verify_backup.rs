use api_spec::actions::{VerifyBackupRequest, VerifyBackupResponse};

use crate::actions::Call;
use crate::backup::check::damaged;
use crate::backup::keys::KeyFile;
use crate::backup::stored::read_key_file;
use crate::backup::verify;
use crate::error::{Error, Result};
use crate::storage::backups;

pub async fn run(call: Call, req: VerifyBackupRequest) -> Result<VerifyBackupResponse> {
    let (auth, db) = (call.auth()?, &call.state.db);
    let backup = super::find_completed(auth, db, &req.backup_id).await?;
    let tenant = auth.scope().tenant_id();
    let key_bytes = read_key_file(&call.state, tenant, backup.id).await?;
    let file = KeyFile::parse(&key_bytes)?;
    // An identity for a write-only backup's key file, a passphrase for another.
    let passphrase = file
        .pick_secret(req.passphrase.clone(), req.identity.clone())
        .map(zeroize::Zeroizing::new);
    // Key unwrapping (argon2id) runs on the unlock pool, at a bounded cost; verification is
    // CPU work too: off the reactor.
    let key = call.state.unlocker.unlock(tenant, file, passphrase).await?;
    // The bytes as stored: read where the store keeps them as a file, streamed otherwise.
    let object = crate::layout::archive_object(tenant, backup.id);
    let blobs = &call.state.blobs;
    let path = blobs.local_path(&object);
    let stream = match path {
        Some(_) => None,
        None => {
            let size = blobs
                .size(&object)
                .await?
                .ok_or_else(|| Error::Internal(format!("backup {} has no archive", backup.id)))?;
            let stream = blobs.read(&object, 0, size).await?;
            // Made here (it needs the runtime), read on the blocking thread.
            Some(tokio_util::io::SyncIoBridge::new(
                tokio_util::io::StreamReader::new(stream),
            ))
        }
    };
    let outcome = tokio::task::spawn_blocking(move || {
        let archive: Box<dyn std::io::Read> = match (stream, path) {
            (Some(stream), _) => Box::new(stream),
            (None, Some(path)) => Box::new(
                std::fs::File::open(&path)
                    .map_err(|e| Error::Internal(format!("opening archive: {e}")))?,
            ),
            (None, None) => return Err(Error::Internal("no archive".into())),
        };
        verify::verify(
            std::io::BufReader::with_capacity(1 << 20, archive),
            &key,
            |_| {},
        )
    })
    .await?;
    // The outcome is the backup's verification, as a verify job's is: good, or failed when
    // what is stored is damaged (a wrong passphrase or a store that does not answer says
    // nothing about the stored bytes, and changes nothing).
    let now = call.state.clock.now_ms();
    let recorded = match &outcome {
        Ok(_) => Some((backups::GOOD, None)),
        Err(e) if damaged(e.code()) => Some((
            backups::VERIFY_FAILED,
            Some(crate::jobs::code_str(e.code())),
        )),
        Err(_) => None,
    };
    if let Some((state, error)) = recorded {
        backups::set_verification(auth.scope(), db, backup.id, state, now, error.as_deref())
            .await?;
    }
    let summary = outcome?;
    Ok(VerifyBackupResponse {
        backup_id: summary.backup_id.to_string(),
        tenant: summary.tenant,
        compressed: summary.compressed,
        counts: serde_json::to_value(&summary.counts)?,
    })
}
