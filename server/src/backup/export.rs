//! Export jobs: `generate_backup` queues the job with the backup row and its sealed key file
//! ([`start`]); a runner claims the job and [`run`] writes the archive on a blocking thread,
//! reporting progress (at most once a second) to the job row and to listeners. The runner
//! ends it, either way, with `backup_export_completed`.
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use api_spec::events::{BACKUP_EXPORT_PROGRESS, BackupJobEvent};
use api_spec::permissions::EXPORT_BACKUP;
use uuid::Uuid;

use api_spec::ErrorCode;
use api_spec::jobs::{ExportParams, JobParams, KeySource};

use super::writer::{self, Plan};
use crate::app::AppState;
use crate::archive::keys::{BackupKey, DerivedKeys, KeyFile};
use crate::auth::TenantScope;
use crate::error::{Error, Result, fail};
use crate::events::Audience;
use crate::storage::backups::{self, NewBackup};
use crate::storage::jobs::{self, Claim, JobState, JobStep, Progress};
use crate::storage::{backup_blobs, tenants};

use super::stored::{keep_key_file, read_key_file, remove_archive, remove_files};
use crate::layout::{archive_object, export_scratch};

/// A validated export request.
pub struct ExportRequest {
    pub scope: TenantScope,
    pub owner: Uuid,
    pub name: String,
    pub passphrase: Option<zeroize::Zeroizing<String>>,
    pub compress: bool,
    pub origin: crate::storage::backups::BackupOrigin,
    /// Without a passphrase: the `age1…` public keys the key is wrapped to (a write-only
    /// backup; the server keeps the key only while the backup is written). None: the server
    /// keeps the key file.
    pub recipients: Vec<String>,
    /// The base of an incremental backup: `None` for a full backup; `Some(None)` for the
    /// tenant's newest usable backup; `Some(Some(id))` for that one. Without a usable base
    /// the backup is full.
    pub base: Option<Option<Uuid>>,
    /// The most links a base's chain may have (a longer one is not a base: the backup is
    /// full). `generate_backup` takes any whole chain; a policy's `full_every` limits it.
    pub max_base_links: usize,
}

/// The most links a chain the server makes may have: an incremental backup on a chain this
/// long is a full one instead (an import takes up to this many links, a reader ten times as
/// many).
pub const CHAIN_LINKS_MAX: usize = 1000;

/// What `start` queued.
pub struct Started {
    pub backup_id: Uuid,
    pub job_id: Uuid,
    /// The base of an incremental backup; `None`: a full one.
    pub base: Option<Uuid>,
}

/// Queues the job with its backup and its sealed key file (and, for an incremental one, the
/// base it picked); returns what it queued.
pub async fn start(state: &Arc<AppState>, req: ExportRequest) -> Result<Started> {
    let backup_id = Uuid::now_v7();
    let created_at = state.clock.now_ms();
    let (key, key_file) = make_key(state, &req, backup_id, created_at).await?;
    let (job_id, base) = queue(state, &req, backup_id, created_at, key, &key_file).await?;
    state.jobs.queued(state);
    Ok(Started {
        backup_id,
        job_id,
        base,
    })
}

/// The base an export asked for (`ExportRequest::base`), among the tenant's backups as
/// `db` sees them: `backup_not_found` for a named backup the tenant does not have; `None`
/// (a full backup) when it, or every backup, is unusable as a base.
async fn base_of(
    scope: &TenantScope,
    db: &impl sea_orm::ConnectionTrait,
    asked: Option<Option<Uuid>>,
    max_links: usize,
) -> Result<Option<Uuid>> {
    let Some(named) = asked else {
        return Ok(None);
    };
    let all = backups::list(scope, db).await?;
    let usable = |b: &&entity::backup::Model| backups::usable_base(&all, b);
    let base = match named {
        Some(id) => Some(
            all.iter()
                .find(|b| b.id == id)
                .ok_or_else(|| fail(ErrorCode::BackupNotFound))?,
        ),
        // Newest first.
        None => all.iter().find(usable),
    };
    // A chain as long as allowed ends: the next backup is full.
    let short = |b: &&entity::backup::Model| {
        backups::chain(&all, b.id).is_some_and(|links| links.len() <= max_links)
    };
    let Some(base) = base.filter(usable).filter(short) else {
        return Ok(None);
    };
    // Held until the new backup naming it commits; deleted meanwhile: a full backup.
    Ok(backups::lock(scope, db, base.id).await?.then_some(base.id))
}

/// A new backup key and its key file: wrapped by the request's passphrase, sealed to its
/// recipients (a write-only backup), or plain.
async fn make_key(
    state: &AppState,
    req: &ExportRequest,
    backup_id: Uuid,
    created_at: i64,
) -> Result<(BackupKey, KeyFile)> {
    let key = BackupKey::generate();
    let params = state.config.backup_wrap_params();
    let passphrase = req.passphrase.clone();
    // A passphrase wins: it was asked for this backup.
    let recipients = match passphrase {
        Some(_) => Vec::new(),
        None => crate::archive::keys::parse_recipients(&req.recipients)?,
    };
    tokio::task::spawn_blocking(move || {
        let file = if recipients.is_empty() {
            let passphrase = passphrase.as_deref().map(String::as_str);
            KeyFile::new(&key, backup_id, created_at, passphrase, params)?
        } else {
            KeyFile::for_recipients(&key, backup_id, created_at, &recipients)?
        };
        Ok::<_, Error>((key, file))
    })
    .await?
}

/// Queues the export job with its backup row, in one transaction (which also picks the base
/// of an incremental backup, so that the base cannot go meanwhile); returns the job's id and
/// the base.
async fn queue(
    state: &AppState,
    req: &ExportRequest,
    backup_id: Uuid,
    created_at: i64,
    key: BackupKey,
    key_file: &KeyFile,
) -> Result<(Uuid, Option<Uuid>)> {
    // A key a passphrase wraps, or recipients seal, is usable only here (the server never
    // stores the passphrase, and holds no identity): the job is reserved for this instance,
    // which holds the key meanwhile, and forgets it when the archive is written.
    let wrapped = key_file.needs_secret();
    let source = if wrapped {
        KeySource::Memory
    } else {
        KeySource::KeyFile
    };
    let (_turn, txn) = state.begin_write().await?;
    let base = base_of(&req.scope, &txn, req.base, req.max_base_links).await?;
    let params = JobParams::Export(ExportParams {
        backup_id: backup_id.to_string(),
        created_at,
        compress: req.compress,
        key: source,
        base_backup_id: base.map(|b| b.to_string()),
    });
    let new = jobs::NewJob {
        kind: jobs::JobKind::Export,
        owner: req.owner,
        status: JobState::Queued,
        deadline: None,
        params: Some(&params),
        reserved_for: wrapped.then(|| state.jobs.instance()),
    };
    let job = jobs::insert(&req.scope, &txn, new).await?;
    let new = NewBackup {
        id: backup_id,
        job_id: job.id,
        name: req.name.clone(),
        compressed: req.compress,
        wrapped,
        key_id: key_file.key_id.clone(),
        created_at,
        origin: req.origin,
        base_backup_id: base,
    };
    backups::insert(&req.scope, &txn, new).await?;
    keep_key_file(state, &txn, &req.scope, backup_id, key_file).await?;
    // Held before the commit: from then on a runner may claim the job.
    if wrapped {
        state.jobs.hold(job.id, key);
    }
    if let Err(e) = txn.commit().await {
        state.jobs.drop_held(job.id);
        return Err(e.into());
    }
    Ok((job.id, base))
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

/// Writes the archive of a claimed export job and completes the job; stops early once
/// `cancel` is raised (the job was ended elsewhere, or taken from this run).
pub async fn run(
    state: &Arc<AppState>,
    job: &entity::job::Model,
    cancel: &Arc<AtomicBool>,
) -> Result<()> {
    let Some(JobParams::Export(params)) = jobs::params_of(job) else {
        return Err(Error::Internal(
            "an export job without its parameters".into(),
        ));
    };
    let plan = plan_of(state, job, &params, cancel).await?;
    let (scope, backup_id, path) = (plan.scope, plan.backup_id, plan.path.clone());
    let written = write_archive(state, job, plan).await?;
    keep(state, &scope, job, backup_id, &written, &path).await?;
    state
        .metrics
        .bytes(crate::app::counters::Flow::Exported, written.size);
    state
        .jobs
        .backup_completed(state, &scope, job.owner_id, backup_id)
        .await;
    Ok(())
}

/// What export job `job` writes, and where.
async fn plan_of(
    state: &AppState,
    job: &entity::job::Model,
    params: &ExportParams,
    cancel: &Arc<AtomicBool>,
) -> Result<Plan> {
    let scope = TenantScope::system(job.tenant_id);
    let backup_id = parse_id(&params.backup_id)?;
    let tenant = tenants::find_by_id(&state.db, job.tenant_id)
        .await?
        .ok_or_else(|| Error::Internal("an export job of a tenant that is gone".into()))?
        .slug;
    let keys = keys_of(state, job, params).await?;
    let workers = match state.config.backup_workers {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    };
    Ok(Plan {
        scope,
        tenant,
        backup_id,
        created_at: params.created_at,
        compress: params.compress,
        segment_size: state.config.backup_segment_bytes,
        workers,
        keys: Arc::new(keys),
        path: export_scratch(&state.config, scope.tenant_id(), backup_id, false),
        cancel: Arc::clone(cancel),
        base: chain_base(state, &scope, params).await?,
    })
}

/// The base of an incremental export, as its chain stands now: `backup_chain_broken` naming
/// the base when its chain is no longer whole (a link of it was deleted meanwhile).
async fn chain_base(
    state: &AppState,
    scope: &TenantScope,
    params: &ExportParams,
) -> Result<Option<writer::Base>> {
    let Some(raw) = &params.base_backup_id else {
        return Ok(None);
    };
    let id = parse_id(raw)?;
    let broken = || Error::AboutBackup {
        code: ErrorCode::BackupChainBroken,
        backup_id: raw.clone(),
    };
    let all = backups::list(scope, &state.db).await?;
    let links = backups::chain(&all, id).ok_or_else(broken)?;
    let base = links[0];
    let archive_sha256 = base.archive_sha256.clone().ok_or_else(broken)?;
    Ok(Some(writer::Base {
        link: crate::archive::manifest::BaseLink {
            backup_id: base.id.to_string(),
            key_id: base.key_id.clone(),
            archive_sha256,
        },
        chain: links.iter().map(|l| l.id).collect(),
    }))
}

/// Writes `plan`'s archive on a blocking thread, recording and announcing its progress at
/// most once a second.
async fn write_archive(
    state: &Arc<AppState>,
    job: &entity::job::Model,
    plan: Plan,
) -> Result<writer::Written> {
    let (job_id, backup_id) = (job.id, plan.backup_id);
    let event = move |done: u64, total: u64| BackupJobEvent {
        backup_task_id: job_id.to_string(),
        backup_id: Some(backup_id.to_string()),
        status: JobState::Running,
        progress_percent: percent(done, total),
        bytes_done: done,
        bytes_total: total,
        current_step: Some(JobStep::Writing),
        counts: None,
        error: None,
    };
    let state = Arc::clone(state);
    let rt = tokio::runtime::Handle::current();
    let claim = Claim::of(job);
    let outcome = tokio::task::spawn_blocking(move || {
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
            let progress = event(done, total);
            announce(&state, &plan.scope, BACKUP_EXPORT_PROGRESS, &progress);
        };
        let blobs = Arc::clone(&state.blobs);
        writer::write(rt.clone(), &state.db, blobs, &plan, &mut on_progress)
    })
    .await
    .map_err(Error::from)
    .and_then(|r| r);
    outcome.map_err(|e| match e {
        // The only things an export names are files (whose bytes are missing or wrong).
        Error::About { code, id } => Error::About {
            code,
            id: format!("file {id}"),
        },
        e => e,
    })
}

/// Keeps the archive written at `path` in the object store and records the backup complete
/// with its job — if the job is still this run's (else the archive of the run that has it
/// must not be replaced).
async fn keep(
    state: &AppState,
    scope: &TenantScope,
    job: &entity::job::Model,
    backup_id: Uuid,
    written: &writer::Written,
    path: &std::path::Path,
) -> Result<()> {
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
    let claim = Claim::of(job);
    if !jobs::progress(scope, db, &claim, p).await? {
        let _ = std::fs::remove_file(path);
        return Err(fail(ErrorCode::JobStateConflict));
    }
    let object = archive_object(scope.tenant_id(), backup_id);
    state.backup_store.put_file(&object, path).await?;
    state.backup_store.sync().await?;
    // The backup is recorded complete exactly when the job completes.
    let (turn, txn) = state.begin_write().await?;
    let recorded = Some((written.size, written.sha256.clone()));
    backup_blobs::record(scope, &txn, backup_id, &written.held).await?;
    backups::finish(scope, &txn, backup_id, recorded).await?;
    super::copy::queue(state, &txn, scope, backup_id, job.owner_id).await?;
    if !jobs::complete(scope, &txn, &claim, result).await? {
        // Ended meanwhile, or no longer this run's: nothing commits.
        return Err(fail(ErrorCode::JobStateConflict));
    }
    txn.commit().await?;
    drop(turn);
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

/// Removes what an export that did not complete left: its archive (partial or whole) and its
/// key file; the backup is marked failed.
pub async fn discard(state: &AppState, job: &entity::job::Model) {
    let scope = TenantScope::system(job.tenant_id);
    if let Ok(Some(backup)) = backups::find_by_job(&scope, &state.db, job.id).await {
        if backup.status == backups::BackupStatus::Completed {
            // Completed with its job: the backup stands.
            return;
        }
        remove_files(state, job.tenant_id, backup.id).await;
        let _ = backups::finish(&scope, &state.db, backup.id, None).await;
    }
}
