//! Export jobs: `generate_backup` creates the job, the backup row and the key file, then a
//! task claims the job and writes the archive on a blocking thread, reporting progress (at
//! most once a second) to the job row and to listeners, and ending — either way — with
//! `backup_export_completed`.
use std::sync::Arc;
use std::time::{Duration, Instant};

use api_spec::events::{BACKUP_EXPORT_COMPLETED, BACKUP_EXPORT_PROGRESS, BackupJobEvent};
use api_spec::permissions::EXPORT_BACKUP;
use uuid::Uuid;

use super::keys::{BackupKey, KeyFile};
use super::writer::{self, Plan};
use crate::app::AppState;
use crate::auth::TenantScope;
use crate::error::{Error, Result};
use crate::events::Audience;
use crate::storage::backups::{self, NewBackup};
use crate::storage::jobs::{self, JobState, JobStep, Progress};
use crate::time::now_ms;

pub use crate::layout::{backup_archive as archive_path, backup_key as key_path};

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
    pub tenant: String,
    pub owner: Uuid,
    pub name: String,
    pub passphrase: Option<zeroize::Zeroizing<String>>,
    pub compress: bool,
}

/// Creates the job, the backup and its key file, and starts the export. Returns
/// (backup id, job id).
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
    let key_path = key_path(&state.config, req.scope.tenant_id(), backup_id);
    write_private(&key_path, &serde_json::to_vec_pretty(&key_file)?)?;
    let (_turn, txn) = state.begin_write().await?;
    let job = jobs::insert(
        &req.scope,
        &txn,
        jobs::JobKind::Export,
        req.owner,
        JobState::Queued,
        None,
    )
    .await?;
    let new = NewBackup {
        id: backup_id,
        job_id: job.id,
        name: req.name.clone(),
        compressed: req.compress,
        wrapped: req.passphrase.is_some(),
        key_id: key_file.key_id.clone(),
    };
    backups::insert(&req.scope, &txn, new).await?;
    txn.commit().await?;
    let state = Arc::clone(state);
    let job_id = job.id;
    // Registered before it runs: the reaper fails this instance's jobs that nothing runs.
    state.jobs.flag(job_id);
    tokio::spawn(async move {
        run(Arc::clone(&state), req, job_id, backup_id, created_at, key).await;
        state.jobs.release(job_id);
    });
    Ok((backup_id, job_id))
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

async fn run(
    state: Arc<AppState>,
    req: ExportRequest,
    job_id: Uuid,
    backup_id: Uuid,
    created_at: i64,
    key: BackupKey,
) {
    let scope = req.scope;
    match jobs::claim(&scope, &state.db, job_id, state.jobs.instance()).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            let _ = e.to_reply_data();
            return;
        }
    }
    let _heartbeat = crate::jobs::Heartbeat::start(&state, scope, job_id);
    let workers = match state.config.backup_workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    let plan = Plan {
        scope,
        tenant: req.tenant.clone(),
        backup_id,
        created_at,
        compress: req.compress,
        segment_size: state.config.backup_segment_bytes,
        workers,
        keys: Arc::new(key.derive()),
        path: archive_path(&state.config, scope.tenant_id(), backup_id),
    };
    drop(key);
    let event =
        move |status: JobState, done: u64, total: u64, error: Option<String>| BackupJobEvent {
            backup_task_id: job_id.to_string(),
            backup_id: Some(backup_id.to_string()),
            status,
            progress_percent: if status == JobState::Completed {
                100
            } else {
                percent(done, total)
            },
            bytes_done: done,
            bytes_total: total,
            error,
        };
    let blocking_state = Arc::clone(&state);
    let rt = tokio::runtime::Handle::current();
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
            let _ = rt.block_on(jobs::progress(&plan.scope, &state.db, job_id, p));
            announce(
                &state,
                &plan.scope,
                BACKUP_EXPORT_PROGRESS,
                &event(JobState::Running, done, total, None),
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
    let db = &state.db;
    match outcome {
        Ok(written) => {
            let counts = serde_json::to_value(&written.counts).unwrap_or_default();
            let result = serde_json::json!({"backup_id": backup_id.to_string(), "size": written.size,
                "sha256": written.sha256, "counts": counts});
            let _ = backups::finish(
                &scope,
                db,
                backup_id,
                Some((written.size, written.sha256.clone())),
            )
            .await;
            let p = Progress {
                step: JobStep::Completed,
                percent: 100,
                bytes_done: written.counts.bytes,
                bytes_total: written.counts.bytes,
                counts: Some(counts),
            };
            let _ = jobs::progress(&scope, db, job_id, p).await;
            let _ = jobs::complete(&scope, db, job_id, result).await;
            announce(
                &state,
                &scope,
                BACKUP_EXPORT_COMPLETED,
                &event(
                    JobState::Completed,
                    written.counts.bytes,
                    written.counts.bytes,
                    None,
                ),
            );
        }
        Err(e) => {
            let data = e.to_reply_data();
            let code = serde_json::to_value(data.error)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let message = match &data.id {
                Some(id) => format!("{} (file {id})", data.error.message()),
                None => data.error.message().to_owned(),
            };
            let _ = std::fs::remove_file(key_path(&state.config, scope.tenant_id(), backup_id));
            let _ = backups::finish(&scope, db, backup_id, None).await;
            let failed = Some((code.as_str(), message.as_str()));
            let _ = jobs::transition(
                &scope,
                db,
                job_id,
                &[JobState::Running],
                JobState::Failed,
                failed,
            )
            .await;
            announce(
                &state,
                &scope,
                BACKUP_EXPORT_COMPLETED,
                &event(JobState::Failed, 0, 0, Some(code)),
            );
        }
    }
}

/// Removes what an export that did not complete left: its partial archive and its key;
/// the backup is marked failed.
pub async fn discard(state: &AppState, job: &entity::job::Model) {
    let scope = TenantScope::system(job.tenant_id);
    if let Ok(Some(backup)) = backups::find_by_job(&scope, &state.db, job.id).await {
        let archive = archive_path(&state.config, job.tenant_id, backup.id);
        if let Some(dir) = archive.parent() {
            let _ = std::fs::remove_file(dir.join(format!(".{}.partial", backup.id.simple())));
        }
        let _ = std::fs::remove_file(key_path(&state.config, job.tenant_id, backup.id));
        let _ = backups::finish(&scope, &state.db, backup.id, None).await;
    }
}
