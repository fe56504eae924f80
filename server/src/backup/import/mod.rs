//! Backup import (BACKUP_IMPORT.md §3). `initiate_backup_import` creates a `pending` job with
//! two upload tasks whose bytes are kept in the object store under the job's prefixes
//! (`uploads`; never among the blobs); `start_backup_import` unlocks the key, checks the
//! archive's header and queues the job with the uploads it checked; a runner on any instance
//! claims it when no other import of the tenant runs, and [`run`]:
//!
//! 1. **verifying** — `unpack`: the archive streamed from the store, every segment
//!    authenticated, every member validated, every blob hashed, into local staging;
//! 2. **planning** — `plan`: every reference checked against the archive, fresh ids;
//! 3. **importing** — blobs the tenant lacks are put into the blob store under their
//!    content-addressed keys (unreferenced, so invisible, and journalled in the database
//!    first so a failure or a crash — of this instance too — can remove them), then `apply`
//!    writes the rows under a hidden staging folder in short transactions (`stage`) and, in
//!    one last short transaction, makes them the tenant's and completes the job;
//! 4. **finalizing** — the uploads, the journal and the local staging go.
//!
//! Publishing blobs before the commit rather than after is deliberate: a commit is the
//! moment the import becomes visible, and rows must never point at bytes a failed
//! post-commit copy left out.
pub mod apply;
mod cbc;
mod leftovers;
pub mod legacy;
mod legacy_convert;
pub mod plan;
mod resolve;
pub mod select;
mod stage;
pub mod start;
pub mod unpack;
pub mod uploads;

use leftovers::remove_leftovers;
pub use leftovers::{discard, sweep};

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use api_spec::ErrorCode;
use api_spec::events::{BACKUP_IMPORT_PROGRESS, BackupJobEvent};
use api_spec::permissions::IMPORT_BACKUP;
use entity::job;
use sea_orm::ConnectionTrait;

use api_spec::jobs::{ImportParams, ImportUploads, JobParams, KeySource};

use self::apply::Options;
use self::unpack::{HeldKey, Parsed, Staging, Unlocked};
use super::links::StoreLinks;
use crate::app::AppState;
use crate::auth::TenantScope;
use crate::error::{Error, Result, fail};
use crate::events::Audience;
use crate::storage::blobs::blob_key;
use crate::storage::jobs::{self, Claim, JobStep, Progress};
use crate::storage::{files, job_blobs};

pub use crate::layout::import_dir as job_dir;

/// Reports progress to the job row and to listeners, at most once a second.
struct Reporter {
    state: Arc<AppState>,
    job: job::Model,
    last: Option<Instant>,
}

impl Reporter {
    async fn report(&mut self, step: JobStep, percent: i32, done: u64, total: u64, force: bool) {
        if !force
            && self
                .last
                .is_some_and(|l| l.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.last = Some(Instant::now());
        let scope = TenantScope::system(self.job.tenant_id);
        let p = Progress {
            step,
            percent,
            bytes_done: done,
            bytes_total: total,
            counts: None,
        };
        if !jobs::progress(&scope, &self.state.db, &Claim::of(&self.job), p)
            .await
            .unwrap_or(false)
        {
            return;
        }
        let event = BackupJobEvent {
            backup_task_id: self.job.id.to_string(),
            backup_id: None,
            status: jobs::JobState::Running,
            progress_percent: percent,
            bytes_done: done,
            bytes_total: total,
            current_step: Some(step),
            counts: None,
            error: None,
        };
        self.state.events.publish(
            self.job.tenant_id,
            Audience::Permission(IMPORT_BACKUP),
            BACKUP_IMPORT_PROGRESS,
            &event,
        );
    }
}

/// The key of a claimed import: held in memory, with the secret given for it, for one a
/// passphrase or identity opened; from its uploaded key file otherwise.
async fn key_of(
    state: &AppState,
    job: &job::Model,
    uploads: &ImportUploads,
    params: &ImportParams,
) -> Result<HeldKey> {
    if params.key == KeySource::Memory {
        // Gone with the instance that accepted the job.
        return state
            .jobs
            .take_held::<HeldKey>(job.id)
            .ok_or_else(|| fail(ErrorCode::JobInterrupted));
    }
    let bytes = uploads::read_key_file(state, uploads).await?;
    let key = match unpack::parse_key(&bytes, params.allow_legacy)? {
        Parsed::Coffer(file) => {
            Unlocked::Coffer(state.unlocker.unlock(job.tenant_id, *file, None).await?)
        }
        Parsed::Legacy(key) => Unlocked::Legacy(key),
    };
    Ok(HeldKey {
        key,
        passphrase: None,
        identity: None,
    })
}

/// Runs a claimed import: verifies and unpacks the archive, imports it and completes the
/// job; its uploads, journal and staging go once it completed. A failure leaves the rest to
/// the runner (which ends the job and has what it left removed).
pub async fn run(state: &Arc<AppState>, job: &job::Model, cancel: &Arc<AtomicBool>) -> Result<()> {
    let Some(JobParams::Import(params)) = jobs::params_of(job) else {
        return Err(Error::Internal(
            "an import job without its parameters".into(),
        ));
    };
    // A job queued by a version that kept its uploads on one instance's disk.
    let uploads = params
        .uploads
        .clone()
        .ok_or_else(|| fail(ErrorCode::ImportUploadsIncomplete))?;
    let key = key_of(state, job, &uploads, &params).await?;
    let dir = job_dir(&state.config, job.tenant_id, job.id);
    let size = pipeline(state, job, &dir, &params, &uploads, key, cancel).await?;
    state
        .metrics
        .bytes(crate::app::counters::Flow::Imported, size);
    let scope = TenantScope::system(job.tenant_id);
    // Every blob it put is referenced now.
    if let Err(e) = job_blobs::clear(&scope, &state.db, job.id).await {
        tracing::warn!(job = %job.id, error = %e, "could not clear an import's journal");
    }
    uploads::remove(state, job.id).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    Ok(())
}

/// Undoes an import cut short: its staged rows, the blobs it placed and its staging here go;
/// its uploads stay for the next run.
pub async fn reset(state: &AppState, job: &job::Model) {
    let scope = TenantScope::system(job.tenant_id);
    remove_leftovers(state, &scope, job.id).await;
    // Every run's staging (`staging-<attempt>`) on this instance; another instance's goes
    // with its sweep.
    let _ = tokio::fs::remove_dir_all(job_dir(&state.config, job.tenant_id, job.id)).await;
}

/// Verifies, unpacks, plans and applies the import; the archive's size (the bytes imported).
async fn pipeline(
    state: &Arc<AppState>,
    job: &job::Model,
    dir: &Path,
    params: &ImportParams,
    uploads: &ImportUploads,
    key: HeldKey,
    flag: &Arc<AtomicBool>,
) -> Result<u64> {
    let options = Options::from(params);
    let scope = TenantScope::system(job.tenant_id);
    let cancelled = || fail(ErrorCode::JobStateConflict);
    // One staging directory per run: a run that lost the job (its instance was taken for
    // stopped) never writes into the next run's.
    let staging = Staging::create(dir.join(format!("staging-{}", job.attempts)))?;
    let (unpacked, plan, size, mut reporter) =
        unpack_and_plan(state, job, uploads, key, &staging, flag).await?;
    if flag.load(Ordering::SeqCst) {
        return Err(cancelled());
    }
    let plan = place(state, &scope, params, plan).await?;
    let total = size.saturating_mul(2);
    reporter
        .report(JobStep::Importing, 60, size, total, true)
        .await;
    let mut publisher = Publisher::new(state, scope, job.id, &staging);
    if !options.dry_run {
        publisher.put_missing(&plan).await?;
    }
    if flag.load(Ordering::SeqCst) {
        return Err(cancelled());
    }
    let import = apply::Import {
        scope,
        claim: Claim::of(job),
        plan: &plan,
        source: &unpacked,
        options,
    };
    let mut on_rows = rows_progress(state, job, size);
    let result = apply::apply(&mut publisher, &import, &mut on_rows, flag).await?;
    if options.dry_run && !jobs::complete(&scope, &state.db, &Claim::of(job), result).await? {
        return Err(cancelled());
    }
    Ok(size)
}

/// Verifies and unpacks the uploaded archive into `staging` and reads its plan, off the
/// reactor, reporting the bytes read; the archive's size, and the reporter (to report the
/// next step once the plan is placed).
async fn unpack_and_plan(
    state: &Arc<AppState>,
    job: &job::Model,
    uploads: &ImportUploads,
    key: HeldKey,
    staging: &Staging,
    flag: &Arc<AtomicBool>,
) -> Result<(unpack::Unpacked, plan::Plan, u64, Reporter)> {
    let mut reporter = Reporter {
        state: Arc::clone(state),
        job: job.clone(),
        last: None,
    };
    let (archive, size) = uploads::open_archive(state, uploads).await?;
    // One measure for the whole job: the archive's bytes twice, once as they are verified
    // and unpacked, once as what they hold is imported.
    let total = size.saturating_mul(2);
    reporter.report(JobStep::Verifying, 0, 0, total, true).await;
    let rt = tokio::runtime::Handle::current();
    let (staging, flag) = (staging.clone(), Arc::clone(flag));
    // An incremental backup's earlier links: uploaded with it, else the tenant's stored
    // backups, each checked against what the link after it names.
    let mut links = StoreLinks::new(state, rt.clone(), job.tenant_id);
    links.uploaded = (uploads.link_archives.clone(), uploads.link_keys.clone());
    let secret = |s: &Option<zeroize::Zeroizing<String>>| s.as_ref().map(|s| s.to_string());
    (links.passphrase, links.identity) = (secret(&key.passphrase), secret(&key.identity));
    let (unpacked, plan, reporter) = tokio::task::spawn_blocking(move || {
        let mut on_read = |read: u64| {
            let percent = (read.saturating_mul(60) / size.max(1)).min(60) as i32;
            let done = read.min(size);
            rt.block_on(reporter.report(JobStep::Verifying, percent, done, total, false));
        };
        let unpacked = unpack::unpack(
            archive,
            &key.key,
            &staging,
            (flag, &mut links),
            &mut on_read,
        )?;
        drop((key, links));
        let plan = plan::plan(&staging)?;
        Ok::<_, Error>((unpacked, plan, reporter))
    })
    .await??;
    Ok((unpacked, plan, size, reporter))
}

/// Where the plan's items go: a partial import (`select`) keeps only what it names, and a
/// target folder or the selected items' own paths decide where the top level goes.
async fn place(
    state: &AppState,
    scope: &TenantScope,
    params: &ImportParams,
    plan: plan::Plan,
) -> Result<plan::Plan> {
    let plan = if params.select.is_empty() {
        plan
    } else {
        select::narrow(plan, &params.select, params.target_folder_id.is_none())?
    };
    let merge_paths = !params.select.is_empty();
    let target = params.target_folder_id;
    select::destinations(scope, &state.db, plan, target, merge_paths).await
}

/// The import's progress as rows are written: at most once a second, reported beside the
/// import's transaction, never inside it; the second half of the job's measure.
fn rows_progress(
    state: &Arc<AppState>,
    job: &job::Model,
    size: u64,
) -> impl FnMut(u64, u64) + use<> {
    let rt = tokio::runtime::Handle::current();
    let progress_state = Arc::clone(state);
    let job_row = job.clone();
    let mut last = Instant::now();
    move |done: u64, total: u64| {
        if last.elapsed() < Duration::from_secs(1) {
            return;
        }
        last = Instant::now();
        let percent = 60 + (done.saturating_mul(35) / total.max(1)).min(35) as i32;
        let bytes = size + size.saturating_mul(done) / total.max(1);
        let state = Arc::clone(&progress_state);
        let job_row = job_row.clone();
        rt.spawn(async move {
            let mut r = Reporter {
                state,
                job: job_row,
                last: None,
            };
            let total = size.saturating_mul(2);
            r.report(JobStep::Importing, percent, bytes.min(total), total, true)
                .await;
        });
    }
}

/// Puts an import's blobs into the store, listing each in the job's journal (in the
/// database) first so that a failure, a cancel or a crash can take it out again.
pub struct Publisher<'a> {
    state: &'a AppState,
    scope: TenantScope,
    job: uuid::Uuid,
    staging: &'a Staging,
    published: std::collections::HashSet<String>,
    /// Blobs were placed since the last [`Publisher::sync`].
    unsynced: bool,
}

impl<'a> Publisher<'a> {
    pub fn new(
        state: &'a AppState,
        scope: TenantScope,
        job: uuid::Uuid,
        staging: &'a Staging,
    ) -> Self {
        Self {
            state,
            scope,
            job,
            staging,
            published: Default::default(),
            unsynced: false,
        }
    }

    /// Puts `sha256`'s staged bytes into the store (once), from inside the staging
    /// transaction `txn` that writes the row using them: listed in the journal by that
    /// transaction, which commits the row that references the bytes with it.
    /// [`Publisher::sync`] makes them durable.
    pub async fn put(&mut self, sha256: &str, txn: &impl ConnectionTrait) -> Result<()> {
        if self.published.contains(sha256) {
            return Ok(());
        }
        self.replace(sha256, txn).await
    }

    /// Puts `sha256`'s staged bytes into the store again, even if this import placed them
    /// before (someone may have removed them since); journalled as [`Publisher::put`] says.
    pub async fn replace(&mut self, sha256: &str, txn: &impl ConnectionTrait) -> Result<()> {
        job_blobs::record(&self.scope, txn, self.job, &[sha256]).await?;
        self.place(sha256).await
    }

    /// Makes the blobs placed since the last call durable (one store-wide sync, and none if
    /// nothing was placed); call before committing rows that reference them.
    pub async fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            self.state.blobs.sync().await?;
            self.unsynced = false;
        }
        Ok(())
    }

    async fn place(&mut self, sha256: &str) -> Result<()> {
        let key = blob_key(self.scope.tenant_id(), sha256);
        self.state
            .blobs
            .put_file(&key, &self.staging.blob(sha256))
            .await?;
        self.published.insert(sha256.to_owned());
        self.unsynced = true;
        Ok(())
    }

    pub fn state(&self) -> &'a AppState {
        self.state
    }

    /// Whether this import put `sha256` into the store.
    pub fn has(&self, sha256: &str) -> bool {
        self.published.contains(sha256)
    }

    /// Lists the plan's contents the tenant lacks in the job's journal, then puts them (before
    /// the transactions, so the copies never hold the database's write lock). Only what this
    /// import places is listed: a content the tenant holds is never the import's to remove.
    /// (One listed but never placed is harmless: removal checks references.)
    async fn put_missing(&mut self, plan: &plan::Plan) -> Result<()> {
        let all: Vec<&str> = plan.files.iter().map(|f| f.sha256.as_str()).collect();
        let held = files::ids_by_sha256(&self.scope, &self.state.db, &all).await?;
        let missing: Vec<&str> = all.into_iter().filter(|s| !held.contains_key(*s)).collect();
        job_blobs::record(&self.scope, &self.state.db, self.job, &missing).await?;
        for sha256 in missing {
            self.place(sha256).await?;
        }
        // The rows that reference these bytes commit next: the bytes must be durable first.
        self.sync().await
    }
}
