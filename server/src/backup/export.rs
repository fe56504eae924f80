//! Export jobs: `generate_backup` writes the key file and queues the job with the backup row
//! ([`start`]); a runner claims the job and [`run`] writes the archive on a blocking thread,
//! reporting progress (at most once a second) to the job row and to listeners. The runner
//! ends it, either way, with `backup_export_completed`.
use std::sync::Arc;
use std::time::{Duration, Instant};

use api_spec::events::{BACKUP_EXPORT_PROGRESS, BackupJobEvent};
use api_spec::permissions::EXPORT_BACKUP;
use uuid::Uuid;

use api_spec::ErrorCode;
use api_spec::jobs::{ExportParams, JobParams, KeySource};

use super::keys::{BackupKey, DerivedKeys, KeyFile};
use super::writer::{self, Plan};
use crate::app::AppState;
use crate::auth::TenantScope;
use crate::error::{Error, Result, fail};
use crate::events::Audience;
use crate::storage::backups::{self, NewBackup};
use crate::storage::jobs::{self, Claim, JobState, JobStep, Progress};
use crate::storage::tenants;
use crate::time::now_ms;

use crate::layout::{KEY_FILE_LIMIT, archive_object, export_scratch, key_object};

/// A stored backup's key file, from the object store.
pub async fn read_key_file(state: &AppState, tenant: Uuid, backup: Uuid) -> Result<Vec<u8>> {
    crate::storage::blobs::read_small(&*state.blobs, &key_object(tenant, backup), KEY_FILE_LIMIT)
        .await?
        .ok_or_else(|| Error::Internal(format!("the key file of backup {backup} is missing")))
}

/// Writes a file with mode 0600 via a temp name and a rename.
pub fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let io = |e: std::io::Error| Error::Internal(format!("writing {}: {e}", path.display()));
    let dir = path
        .parent()
        .ok_or_else(|| Error::Internal("no parent dir".into()))?;
    std::fs::create_dir_all(dir).map_err(io)?;
    let temp = dir.join(format!(".{}.tmp", Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp).map_err(io)?;
    file.write_all(bytes)
        .and_then(|_| file.sync_all())
        .map_err(io)?;
    std::fs::rename(&temp, path).map_err(io)
}

/// A validated export request.
pub struct ExportRequest {
    pub scope: TenantScope,
    pub owner: Uuid,
    pub name: String,
    pub passphrase: Option<zeroize::Zeroizing<String>>,
    pub compress: bool,
}

/// Writes the key file and queues the job with its backup. Returns (backup id, job id).
pub async fn start(state: &Arc<AppState>, req: ExportRequest) -> Result<(Uuid, Uuid)> {
    let backup_id = Uuid::now_v7();
    let created_at = now_ms();
    let key = BackupKey::generate();
    let params = state.config.backup_wrap_params();
    let passphrase = req.passphrase.clone();
    let (key, key_file) = tokio::task::spawn_blocking(move || {
        let file = KeyFile::new(
            &key,
            backup_id,
            created_at,
            passphrase.as_deref().map(String::as_str),
            params,
        )?;
        Ok::<_, Error>((key, file))
    })
    .await??;
    // Written privately to local scratch, then kept in the object store (a separate prefix
    // from the archives).
    let tenant = req.scope.tenant_id();
    let scratch = export_scratch(&state.config, tenant, backup_id, true);
    write_private(&scratch, &serde_json::to_vec_pretty(&key_file)?)?;
    let kept = async {
        state
            .blobs
            .put_file(&key_object(tenant, backup_id), &scratch)
            .await?;
        // Durable before the backup row that needs it commits.
        state.blobs.sync().await
    };
    if let Err(e) = kept.await {
        let _ = std::fs::remove_file(&scratch);
        let _ = state.blobs.delete(&key_object(tenant, backup_id)).await;
        return Err(e);
    }
    // A key a passphrase wraps is usable only here (the server never stores the
    // passphrase): the job is reserved for this instance, which holds the key meanwhile.
    let source = if req.passphrase.is_some() {
        KeySource::Memory
    } else {
        KeySource::KeyFile
    };
    let params = JobParams::Export(ExportParams {
        backup_id: backup_id.to_string(),
        created_at,
        compress: req.compress,
        key: source,
    });
    let queued = async {
        let (_turn, txn) = state.begin_write().await?;
        let new = jobs::NewJob {
            kind: jobs::JobKind::Export,
            owner: req.owner,
            status: JobState::Queued,
            deadline: None,
            params: Some(&params),
            reserved_for: (source == KeySource::Memory).then(|| state.jobs.instance()),
        };
        let job = jobs::insert(&req.scope, &txn, new).await?;
        let new = NewBackup {
            id: backup_id,
            job_id: job.id,
            name: req.name.clone(),
            compressed: req.compress,
            wrapped: req.passphrase.is_some(),
            key_id: key_file.key_id.clone(),
        };
        backups::insert(&req.scope, &txn, new).await?;
        // Held before the commit: from then on a runner may claim the job.
        if source == KeySource::Memory {
            state.jobs.hold(job.id, key);
        }
        if let Err(e) = txn.commit().await {
            state.jobs.drop_held(job.id);
            return Err(e.into());
        }
        Ok::<_, Error>(job)
    };
    let job = match queued.await {
        Ok(job) => job,
        Err(e) => {
            let _ = state.blobs.delete(&key_object(tenant, backup_id)).await;
            return Err(e);
        }
    };
    state.jobs.queued(state);
    Ok((backup_id, job.id))
}

fn announce(state: &AppState, scope: &TenantScope, name: &'static str, event: &BackupJobEvent) {
    state.events.publish(
        scope.tenant_id(),
        Audience::Permission(EXPORT_BACKUP),
        name,
        event,
    );
}

fn percent(done: u64, total: u64) -> i32 {
    // 99 until the archive is renamed into place: 100 means done.
    done.saturating_mul(99)
        .checked_div(total)
        .map_or(99, |p| p.min(99) as i32)
}

/// The keys of an export job: from the key held in memory for a passphrase-wrapped one, from
/// its key file otherwise.
async fn keys_of(
    state: &AppState,
    job: &entity::job::Model,
    params: &ExportParams,
) -> Result<DerivedKeys> {
    if params.key == KeySource::Memory {
        // Gone with the instance that accepted the job (or taken by an earlier run).
        return state
            .jobs
            .take_held::<BackupKey>(job.id)
            .map(|key| key.derive())
            .ok_or_else(|| fail(ErrorCode::JobInterrupted));
    }
    let backup_id = parse_id(&params.backup_id)?;
    let bytes = read_key_file(state, job.tenant_id, backup_id).await?;
    let file = KeyFile::parse(&bytes)?;
    Ok(file.unlock(None, state.unlocker.limits())?.derive())
}

fn parse_id(id: &str) -> Result<Uuid> {
    Uuid::parse_str(id).map_err(|_| Error::Internal(format!("a job names backup {id:.40}")))
}

/// Writes the archive of a claimed export job and completes the job.
pub async fn run(state: &Arc<AppState>, job: &entity::job::Model) -> Result<()> {
    let Some(JobParams::Export(params)) = jobs::params_of(job) else {
        return Err(Error::Internal(
            "an export job without its parameters".into(),
        ));
    };
    let scope = TenantScope::system(job.tenant_id);
    let (job_id, backup_id, created_at) = (job.id, parse_id(&params.backup_id)?, params.created_at);
    let tenant = tenants::find_by_id(&state.db, job.tenant_id)
        .await?
        .ok_or_else(|| Error::Internal("an export job of a tenant that is gone".into()))?
        .slug;
    let keys = keys_of(state, job, &params).await?;
    let workers = match state.config.backup_workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let plan = Plan {
        scope,
        tenant,
        backup_id,
        created_at,
        compress: params.compress,
        segment_size: state.config.backup_segment_bytes,
        workers,
        keys: Arc::new(keys),
        path: export_scratch(&state.config, scope.tenant_id(), backup_id, false),
    };
    let written_path = plan.path.clone();
    let event = move |done: u64, total: u64| BackupJobEvent {
        backup_task_id: job_id.to_string(),
        backup_id: Some(backup_id.to_string()),
        status: JobState::Running,
        progress_percent: percent(done, total),
        bytes_done: done,
        bytes_total: total,
        error: None,
    };
    let blocking_state = Arc::clone(state);
    let rt = tokio::runtime::Handle::current();
    let claim = Claim::of(job);
    let outcome = tokio::task::spawn_blocking(move || {
        let state = blocking_state;
        let mut last = Instant::now();
        let mut on_progress = |done: u64, total: u64| {
            if last.elapsed() < Duration::from_secs(1) {
                return;
            }
            last = Instant::now();
            let p = Progress {
                step: JobStep::Writing,
                percent: percent(done, total),
                bytes_done: done,
                bytes_total: total,
                counts: None,
            };
            let _ = rt.block_on(jobs::progress(&plan.scope, &state.db, &claim, p));
            announce(
                &state,
                &plan.scope,
                BACKUP_EXPORT_PROGRESS,
                &event(done, total),
            );
        };
        writer::write(
            rt.clone(),
            &state.db,
            Arc::clone(&state.blobs),
            &plan,
            &mut on_progress,
        )
    })
    .await
    .map_err(Error::from)
    .and_then(|r| r);
    let written = outcome.map_err(|e| match e {
        // The only things an export names are files (whose bytes are missing or wrong).
        Error::About { code, id } => Error::About {
            code,
            id: format!("file {id}"),
        },
        e => e,
    })?;
    let db = &state.db;
    let counts = serde_json::to_value(&written.counts)?;
    let result = serde_json::json!({"backup_id": backup_id.to_string(), "size": written.size,
        "sha256": written.sha256, "counts": counts});
    let p = Progress {
        step: JobStep::Completed,
        percent: 100,
        bytes_done: written.counts.bytes,
        bytes_total: written.counts.bytes,
        counts: Some(counts),
    };
    // Still this run's job (else the archive of the run that has it must not be replaced),
    // then kept in the object store before the backup is recorded complete.
    let claim = Claim::of(job);
    if !jobs::progress(&scope, db, &claim, p).await? {
        let _ = std::fs::remove_file(&written_path);
        return Err(fail(ErrorCode::JobStateConflict));
    }
    let object = archive_object(scope.tenant_id(), backup_id);
    state.blobs.put_file(&object, &written_path).await?;
    state.blobs.sync().await?;
    // The backup is recorded complete exactly when the job completes.
    let (_turn, txn) = state.begin_write().await?;
    let recorded = Some((written.size, written.sha256.clone()));
    backups::finish(&scope, &txn, backup_id, recorded).await?;
    if !jobs::complete(&scope, &txn, &claim, result).await? {
        // Ended meanwhile, or no longer this run's: nothing commits.
        return Err(fail(ErrorCode::JobStateConflict));
    }
    txn.commit().await?;
    Ok(())
}

/// Undoes an export cut short: its partial archive goes (local scratch, and the object if it
/// got that far); its key file and backup stay for the next run.
pub async fn reset(state: &AppState, job: &entity::job::Model) {
    let scope = TenantScope::system(job.tenant_id);
    if let Ok(Some(backup)) = backups::find_by_job(&scope, &state.db, job.id).await {
        remove_archive(state, job.tenant_id, backup.id).await;
    }
}

async fn remove_archive(state: &AppState, tenant: Uuid, backup: Uuid) {
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
                        jobs::state_of(&j).is_final() || (own && !state.jobs.runs(j.id))
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

/// Removes what an export that did not complete left: its archive (partial or whole) and its
/// key file; the backup is marked failed.
pub async fn discard(state: &AppState, job: &entity::job::Model) {
    let scope = TenantScope::system(job.tenant_id);
    if let Ok(Some(backup)) = backups::find_by_job(&scope, &state.db, job.id).await {
        if backup.status == backups::COMPLETED {
            // Completed with its job: the backup stands.
            return;
        }
        remove_files(state, job.tenant_id, backup.id).await;
        let _ = backups::finish(&scope, &state.db, backup.id, None).await;
    }
}
