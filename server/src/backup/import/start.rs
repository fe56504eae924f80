//! Queuing an import, for `start_backup_import` (its uploads) and `restore_backup` (a stored
//! backup): the options are checked, a `restore` finds the tenant empty (before anything is
//! read), the key (and passphrase) unlocked and the archive's header read with it — so a
//! wrong key or passphrase is answered at once — and the job is queued with the pair of
//! objects it imports.
use std::sync::Arc;

use api_spec::ErrorCode;
use api_spec::jobs::{ImportMode, ImportParams, ImportUploads, JobParams, KeySource, OnConflict};
use entity::job;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::unpack::{self, HeldKey, Parsed, Unlocked};
use super::uploads;
use crate::app::AppState;
use crate::archive::stream::SegmentReader;
use crate::auth::AuthContext;
use crate::error::{Result, fail, field_error};
use crate::storage::{self, folders, jobs};

/// Paths a `select` may name at most.
const SELECT_MAX: usize = 1000;

/// The options of an import as a request gives them.
pub struct Options<'a> {
    pub mode: Option<ImportMode>,
    pub on_conflict: Option<OnConflict>,
    pub dry_run: bool,
    pub allow_legacy: bool,
    pub select: Option<&'a [String]>,
    pub target_folder_id: Option<&'a str>,
    pub passphrase: Option<zeroize::Zeroizing<String>>,
    /// An identity file's text, for a write-only backup's key file.
    pub identity: Option<zeroize::Zeroizing<String>>,
}

/// The job's parameters (its key's place and its objects are decided later). With `select`
/// or a target folder the mode is `merge` (`restore` is refused); without, `restore` unless
/// said otherwise.
async fn params(state: &AppState, auth: &AuthContext, o: &Options<'_>) -> Result<ImportParams> {
    let partial = o.select.is_some() || o.target_folder_id.is_some();
    let default_mode = if partial {
        ImportMode::Merge
    } else {
        ImportMode::Restore
    };
    let mode = o.mode.unwrap_or(default_mode);
    if partial && mode != ImportMode::Merge {
        return Err(field_error(ErrorCode::InvalidField, "mode"));
    }
    let on_conflict = o.on_conflict.unwrap_or(OnConflict::Rename);
    let select = o.select.unwrap_or_default().to_vec();
    let paths_ok = (o.select.is_none() || !select.is_empty())
        && select.len() <= SELECT_MAX
        && select
            .iter()
            .all(|p| !p.trim_matches('/').is_empty() && p.len() <= 4096 && !p.contains('\0'));
    if !paths_ok {
        return Err(field_error(ErrorCode::InvalidField, "select"));
    }
    let target_folder_id = match o.target_folder_id {
        Some(raw) => {
            let id = Uuid::parse_str(raw)
                .map_err(|_| field_error(ErrorCode::InvalidField, "target_folder_id"))?;
            if folders::find(auth.scope(), &state.db, id).await?.is_none() {
                return Err(fail(ErrorCode::FolderNotFound));
            }
            Some(id)
        }
        None => None,
    };
    Ok(ImportParams {
        mode,
        on_conflict,
        dry_run: o.dry_run,
        allow_legacy: o.allow_legacy,
        key: KeySource::KeyFile,
        uploads: None,
        select,
        target_folder_id,
    })
}

/// Makes a `pending` import job of the caller's, due to be queued by [`queue`] before
/// `deadline` (the reaper times it out then): the one place import jobs are created, for
/// `initiate_backup_import` (in the transaction that makes its upload tasks; no parameters
/// yet) and `restore_backup` (naming the stored backup it reads, so that retention leaves it
/// alone meanwhile).
pub async fn pending(
    conn: &impl ConnectionTrait,
    auth: &AuthContext,
    deadline: i64,
    params: Option<&JobParams>,
) -> Result<job::Model> {
    let new = jobs::NewJob {
        kind: jobs::JobKind::Import,
        owner: auth.user_id(),
        status: jobs::JobState::Pending,
        deadline: Some(deadline),
        params,
        reserved_for: None,
    };
    jobs::insert(auth.scope(), conn, new).await
}

/// Queues `job` (the caller's, `pending`) to import the archive and key file at `objects`.
pub async fn queue(
    state: &Arc<AppState>,
    auth: &AuthContext,
    job: &job::Model,
    objects: ImportUploads,
    options: Options<'_>,
) -> Result<()> {
    let mut params = params(state, auth, &options).await?;
    // A restore needs an empty tenant: said first, before the key is read or unlocked. The
    // job checks again when it runs (something may be made meanwhile).
    if params.mode == ImportMode::Restore
        && storage::tenants::holds_content(auth.scope(), &state.db).await?
    {
        return Err(fail(ErrorCode::ImportTargetNotEmpty));
    }
    let key_file = uploads::read_key_file(state, &objects).await?;
    let secrets = (options.passphrase.clone(), options.identity.clone());
    let unlocked = match unpack::parse_key(&key_file, options.allow_legacy)? {
        Parsed::Coffer(file) => {
            // A key a passphrase wraps, or recipients seal, is usable only here (the server
            // never stores the passphrase or identity): the job is reserved for this
            // instance, which holds the key.
            if file.needs_secret() {
                params.key = KeySource::Memory;
            }
            let secret = file.pick_secret(options.passphrase, options.identity);
            Unlocked::Coffer(
                state
                    .unlocker
                    .unlock(auth.scope().tenant_id(), *file, secret)
                    .await?,
            )
        }
        Parsed::Legacy(key) => Unlocked::Legacy(key),
    };
    let (archive, size) = uploads::open_archive(state, &objects).await?;
    let (unlocked, link) = tokio::task::spawn_blocking(move || {
        let link = match &unlocked {
            Unlocked::Coffer(k) => {
                let reader = SegmentReader::open(std::io::BufReader::new(archive), k)?;
                reader.header().is_link()
            }
            Unlocked::Legacy(_) => {
                if size < 32 || size % 16 != 0 {
                    return Err(fail(ErrorCode::BackupNotAnArchive));
                }
                false
            }
        };
        Ok((unlocked, link))
    })
    .await??;
    // An incremental backup's earlier links open with the secret given for it: kept here,
    // with the key, for the job's run.
    if link && (secrets.0.is_some() || secrets.1.is_some()) {
        params.key = KeySource::Memory;
    }
    params.uploads = Some(objects);
    let reserved = params.key == KeySource::Memory;
    let held = HeldKey {
        key: unlocked,
        passphrase: secrets.0,
        identity: secrets.1,
    };
    if reserved && !state.jobs.hold(job.id, held) {
        // Another start of this job is under way here.
        return Err(fail(ErrorCode::JobStateConflict));
    }
    let reserved_for = reserved.then(|| state.jobs.instance());
    let params = JobParams::Import(params);
    if !jobs::queue(auth.scope(), &state.db, job.id, reserved_for, &params).await? {
        state.jobs.drop_held(job.id);
        // Cancelled, timed out or started meanwhile.
        return Err(fail(ErrorCode::JobStateConflict));
    }
    state.jobs.queued(state);
    Ok(())
}
