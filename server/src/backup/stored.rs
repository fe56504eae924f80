//! Where backups are kept: archives and key files in the object store (`layout`), export
//! scratch under `<data_dir>/exports/`; reading a stored key file, removing a backup's
//! files, sweeping scratch no run writes, and moving in what older versions kept on disk.
use std::time::Duration;

use uuid::Uuid;

use crate::app::AppState;
use crate::auth::TenantScope;
use crate::error::{Error, Result};
use crate::layout::{KEY_FILE_LIMIT, archive_object, export_scratch, key_object};
use crate::storage::{backups, jobs};

/// A stored backup's key file, from the object store.
pub async fn read_key_file(state: &AppState, tenant: Uuid, backup: Uuid) -> Result<Vec<u8>> {
    crate::storage::blobs::read_small(&*state.blobs, &key_object(tenant, backup), KEY_FILE_LIMIT)
        .await?
        .ok_or_else(|| Error::Internal(format!("the key file of backup {backup} is missing")))
}

/// Removes a backup's archive: its partial and whole scratch, and its object.
pub(super) async fn remove_archive(state: &AppState, tenant: Uuid, backup: Uuid) {
    let archive = export_scratch(&state.config, tenant, backup, false);
    if let Some(dir) = archive.parent() {
        let _ = std::fs::remove_file(dir.join(format!(".{}.partial", backup.simple())));
    }
    let _ = std::fs::remove_file(&archive);
    if let Err(e) = state.blobs.delete(&archive_object(tenant, backup)).await {
        tracing::warn!(%backup, error = %e, "could not remove a backup's archive");
    }
}

/// Removes a backup's archive and key file, wherever they are.
pub async fn remove_files(state: &AppState, tenant: Uuid, backup: Uuid) {
    remove_archive(state, tenant, backup).await;
    let _ = std::fs::remove_file(export_scratch(&state.config, tenant, backup, true));
    if let Err(e) = state.blobs.delete(&key_object(tenant, backup)).await {
        tracing::warn!(%backup, error = %e, "could not remove a backup's key file");
    }
}

/// Removes export scratch (`<data_dir>/exports/`) no run is writing: of backups whose job
/// ended (a run that stopped with its process leaves it on a disk the instance that ended
/// the job may not reach), of this instance's own jobs that no run of it goes on with, and —
/// an hour after it was written — of backups never recorded (a start that stopped between
/// its key file and its commit). Returns how many files it removed.
pub async fn sweep(state: &AppState) -> Result<usize> {
    let mut swept = 0;
    let Ok(tenants) = std::fs::read_dir(state.config.data_dir.join("exports")) else {
        return Ok(0);
    };
    for dir in tenants.flatten() {
        let Some(tenant) = dir
            .file_name()
            .to_str()
            .and_then(|n| Uuid::parse_str(n).ok())
        else {
            continue;
        };
        let scope = TenantScope::system(tenant);
        let Ok(files) = std::fs::read_dir(dir.path()) else {
            continue;
        };
        for file in files.flatten() {
            let name = file.file_name();
            let Some(backup) = name.to_str().and_then(|n| {
                let n = n.trim_start_matches('.');
                Uuid::parse_str(n.split('.').next().unwrap_or(n)).ok()
            }) else {
                continue;
            };
            let stale = match backups::find(&scope, &state.db, backup).await? {
                Some(b) => match jobs::find(&scope, &state.db, b.job_id).await? {
                    // Ended; or a run of this instance that stopped (its process died). A
                    // live job of another instance may write here (a shared data_dir).
                    Some(j) => {
                        let own = j.worker_id.as_deref() == Some(state.jobs.instance());
                        j.status.is_final() || (own && !state.jobs.runs(j.id))
                    }
                    None => true,
                },
                None => file
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|m| m.elapsed().ok())
                    .is_some_and(|age| age > Duration::from_secs(3600)),
            };
            if stale && std::fs::remove_file(file.path()).is_ok() {
                swept += 1;
            }
        }
    }
    Ok(swept)
}

/// Moves the archives and key files that versions before the object store kept under
/// `<data_dir>/backups` and `<data_dir>/backup-keys` into the object store (at start-up; a
/// no-op once they are there). A file that cannot be moved stays for the next start, and the
/// server starts regardless. Returns how many files it moved.
pub async fn adopt_local_backups(state: &AppState) -> Result<usize> {
    type Object = fn(Uuid, Uuid) -> String;
    let trees: [(&str, &str, Object); 2] = [
        ("backups", ".cbk", archive_object),
        ("backup-keys", ".key.json", key_object),
    ];
    let mut adopted = 0;
    for (tree, suffix, object) in trees {
        let Ok(tenants) = std::fs::read_dir(state.config.data_dir.join(tree)) else {
            continue;
        };
        for dir in tenants.flatten() {
            let name = dir.file_name();
            let Some(tenant) = name.to_str().and_then(|n| Uuid::parse_str(n).ok()) else {
                continue;
            };
            let Ok(files) = std::fs::read_dir(dir.path()) else {
                continue;
            };
            for file in files.flatten() {
                let name = file.file_name();
                // An older version's partial archive (`.<id>.partial`): its export is over
                // (every older instance stopped before this one started).
                if name
                    .to_str()
                    .is_some_and(|n| n.starts_with('.') && n.ends_with(".partial"))
                {
                    let _ = std::fs::remove_file(file.path());
                    continue;
                }
                let Some(backup) = name
                    .to_str()
                    .and_then(|n| n.strip_suffix(suffix))
                    .and_then(|n| Uuid::parse_str(n).ok())
                else {
                    continue;
                };
                match state
                    .blobs
                    .put_file(&object(tenant, backup), &file.path())
                    .await
                {
                    Ok(()) => adopted += 1,
                    // Moved meanwhile (another instance starting on the same data_dir).
                    Err(_) if !file.path().exists() => {}
                    // Left where it is, for the next start; the server starts regardless.
                    Err(e) => tracing::warn!(path = %file.path().display(), error = %e,
                        "could not move a backup file into the object store"),
                }
            }
        }
    }
    if adopted > 0 {
        state.blobs.sync().await?;
        tracing::info!(
            files = adopted,
            "moved backups kept on local disk into the object store"
        );
    }
    Ok(adopted)
}
