//! Where backups are kept: archives in the backup store (`backup_storage`, apart from the
//! data's), key files sealed with the master key in the database (`sealing`), export
//! scratch under `<data_dir>/exports/`; reading a stored key file, removing a backup's
//! files, sweeping scratch no run writes, and moving in what older versions kept elsewhere.
use std::time::Duration;

use uuid::Uuid;

use crate::app::AppState;
use crate::auth::TenantScope;
use crate::error::{Error, Result};
use crate::layout::{self, KEY_FILE_LIMIT, archive_object, export_scratch};
use crate::storage::blobs::{BlobStore, read_small};

use crate::services::sealed_keys::keep_key_bytes;
pub use crate::services::sealed_keys::{find_key_file, keep_key_file, read_key_file};
use crate::storage::{backup_keys, backups, jobs};

/// Removes a backup's archive: its partial and whole scratch, and its object. (Its key file
/// goes with its row.)
pub(super) async fn remove_archive(state: &AppState, tenant: Uuid, backup: Uuid) {
    let archive = export_scratch(&state.config, tenant, backup, false);
    if let Some(dir) = archive.parent() {
        let _ = std::fs::remove_file(dir.join(format!(".{}.partial", backup.simple())));
    }
    let _ = std::fs::remove_file(&archive);
    if let Err(e) = state
        .backup_store
        .delete(&archive_object(tenant, backup))
        .await
    {
        tracing::warn!(%backup, error = %e, "could not remove a backup's archive");
    }
}

/// Removes a backup's archive (with its copies, where they may be deleted) and key file.
pub async fn remove_files(state: &AppState, tenant: Uuid, backup: Uuid) {
    remove_archive(state, tenant, backup).await;
    super::copy::remove_copies(state, tenant, backup).await;
    let scope = TenantScope::system(tenant);
    if let Err(e) = backup_keys::delete(&scope, &state.db, backup).await {
        tracing::warn!(%backup, error = %e, "could not remove a backup's key file");
    }
}

/// Removes export scratch (`<data_dir>/exports/`) no run is writing: of backups whose job
/// ended (a run that stopped with its process leaves it on a disk the instance that ended
/// the job may not reach), of this instance's own jobs that no run of it goes on with, and —
/// an hour after it was written — of backups never recorded. Returns how many files it
/// removed.
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

/// What [`adopt`] moved.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Adopted {
    pub archives: usize,
    pub key_files: usize,
}

/// Moves what older versions kept elsewhere to where backups are kept now (at start-up; a
/// no-op once done, and safe to interrupt: each archive is copied, checked by size and only
/// then removed where it was; each key file is sealed into the database before its plain
/// copy goes):
/// - archives and key files under `<data_dir>/backups` and `<data_dir>/backup-keys` (before
///   the object store);
/// - archives and key files the data store kept under `backups/` and `backup-keys/` (before
///   the backup store and the master key).
///
/// A file that cannot be moved stays for the next start, and the server starts regardless.
pub async fn adopt(state: &AppState) -> Result<Adopted> {
    let mut adopted = Adopted::default();
    adopt_local_trees(state, &mut adopted).await;
    // What is left under these prefixes is what no start has moved yet: listing them costs
    // nothing once they are empty.
    if !state.backup_placement.in_data {
        for object in state.blobs.list("backups/").await? {
            if layout::stored_archive(&object).is_none() {
                continue;
            }
            match move_object(&*state.blobs, &*state.backup_store, &object, state).await {
                Ok(true) => adopted.archives += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(%object, error = %e,
                    "could not move a backup's archive into the backup store"),
            }
        }
    }
    for object in state.blobs.list("backup-keys/").await? {
        let Some((tenant, backup)) = layout::stored_key(&object) else {
            continue;
        };
        match seal_key_object(state, &TenantScope::system(tenant), backup, &object).await {
            Ok(true) => adopted.key_files += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(%backup, error = %e,
                "could not move a backup's key file into the database"),
        }
    }
    if adopted != Adopted::default() {
        state.backup_store.sync().await?;
        tracing::info!(
            archives = adopted.archives,
            key_files = adopted.key_files,
            "moved backups into the backup store, and their key files sealed into the database"
        );
    }
    Ok(adopted)
}

/// Says, at start-up, when key files in the database were sealed with another master key
/// than this server's: their backups cannot be opened (`backup_key_unavailable`) until it
/// is given that key.
pub async fn check_master_key(state: &AppState) -> Result<()> {
    for (id, count) in backup_keys::count_by_master_key(&state.db).await? {
        if id != state.master.id() {
            tracing::error!(sealed_with = %id, have = %state.master.id(), key_files = count,
                "backup keys in the database were sealed with another master key than master_key_file's: those backups cannot be opened until the server is given that key");
        }
    }
    Ok(())
}

/// Seals the plain key file object `key` of backup `backup` into the database (unless an
/// earlier start did) and removes it; false if there is none. A key file of a backup the
/// tenant does not have (a start that stopped before recording it) just goes.
async fn seal_key_object(
    state: &AppState,
    scope: &TenantScope,
    backup: Uuid,
    key: &str,
) -> Result<bool> {
    let recorded = backups::find(scope, &state.db, backup).await?.is_some();
    let sealed = backup_keys::find(scope, &state.db, backup).await?.is_some();
    if recorded && !sealed {
        let Some(bytes) = read_small(&*state.blobs, key, KEY_FILE_LIMIT).await? else {
            return Ok(false);
        };
        let bytes = zeroize::Zeroizing::new(bytes);
        keep_key_bytes(state, &state.db, scope.tenant_id(), backup, &bytes).await?;
    }
    state.blobs.delete(key).await?;
    Ok(recorded && !sealed)
}

/// Moves object `key` from `from` to `to`: copied (a local file is moved), checked by size,
/// then removed from `from`. False if `from` has no such object.
async fn move_object(
    from: &dyn BlobStore,
    to: &dyn BlobStore,
    key: &str,
    state: &AppState,
) -> Result<bool> {
    let Some(size) = from.size(key).await? else {
        return Ok(false);
    };
    if to.size(key).await? != Some(size) {
        let (file, scratch) = match from.local_path(key) {
            // Put consumes it: moved, not copied, where one filesystem holds both.
            Some(path) => (path, false),
            None => (download(from, key, size, state).await?, true),
        };
        let put = to.put_file(key, &file).await;
        if scratch {
            let _ = tokio::fs::remove_file(&file).await;
        }
        put?;
        if to.size(key).await? != Some(size) {
            return Err(Error::Internal(format!(
                "{key}: the copy is not the size it was"
            )));
        }
    }
    from.delete(key).await?;
    Ok(true)
}

/// Object `key` of `from`, as a local file under `<data_dir>/tmp/`.
async fn download(
    from: &dyn BlobStore,
    key: &str,
    size: u64,
    state: &AppState,
) -> Result<std::path::PathBuf> {
    use futures_util::TryStreamExt;
    use tokio::io::AsyncWriteExt;
    let io = |e: std::io::Error| Error::Internal(format!("copying {key}: {e}"));
    let dir = state.config.data_dir.join("tmp");
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    let path = dir.join(format!(".{}.move", Uuid::new_v4().simple()));
    let written = async {
        let mut file = tokio::fs::File::create(&path).await.map_err(io)?;
        let mut stream = from.read(key, 0, size).await?;
        while let Some(chunk) = stream.try_next().await.map_err(io)? {
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)
    };
    if let Err(e) = written.await {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(e);
    }
    Ok(path)
}

/// Moves the archives and key files that versions before the object store kept under
/// `<data_dir>/backups` and `<data_dir>/backup-keys`: archives into the backup store, key
/// files sealed into the database.
async fn adopt_local_trees(state: &AppState, adopted: &mut Adopted) {
    for (tree, suffix) in [("backups", ".cbk"), ("backup-keys", ".key.json")] {
        for (tenant, backup, path) in legacy_files(&state.config.data_dir.join(tree), suffix) {
            let scope = TenantScope::system(tenant);
            let moved = if suffix == ".cbk" {
                state
                    .backup_store
                    .put_file(&archive_object(tenant, backup), &path)
                    .await
            } else {
                seal_key_path(state, &scope, backup, &path).await
            };
            match moved {
                Ok(()) if suffix == ".cbk" => adopted.archives += 1,
                Ok(()) => adopted.key_files += 1,
                // Moved meanwhile (another instance starting on the same data_dir).
                Err(_) if !path.exists() => {}
                // Left where it is, for the next start; the server starts regardless.
                Err(e) => tracing::warn!(path = %path.display(), error = %e,
                    "could not move an older version's backup file"),
            }
        }
    }
}

async fn seal_key_path(
    state: &AppState,
    scope: &TenantScope,
    backup: Uuid,
    path: &std::path::Path,
) -> Result<()> {
    let io = |e: std::io::Error| Error::Internal(format!("{}: {e}", path.display()));
    // A key file of a backup never recorded (its start stopped first) just goes.
    if backups::find(scope, &state.db, backup).await?.is_some() {
        let bytes = zeroize::Zeroizing::new(tokio::fs::read(path).await.map_err(io)?);
        keep_key_bytes(state, &state.db, scope.tenant_id(), backup, &bytes).await?;
    }
    tokio::fs::remove_file(path).await.map_err(io)?;
    Ok(())
}

/// The backup files under an older version's `root` (`<tenant>/<backup><suffix>`); its
/// partial archives (`.<id>.partial`), whose exports are over, are removed.
fn legacy_files(root: &std::path::Path, suffix: &str) -> Vec<(Uuid, Uuid, std::path::PathBuf)> {
    let mut found = Vec::new();
    let Ok(tenants) = std::fs::read_dir(root) else {
        return found;
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
            let Some(name) = name.to_str() else {
                continue;
            };
            if name.starts_with('.') && name.ends_with(".partial") {
                let _ = std::fs::remove_file(file.path());
                continue;
            }
            if let Some(backup) = name
                .strip_suffix(suffix)
                .and_then(|n| Uuid::parse_str(n).ok())
            {
                found.push((tenant, backup, file.path()));
            }
        }
    }
    found
}
