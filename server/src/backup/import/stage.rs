//! The import's rows, written where nobody sees them: under the job's staging folder
//! (`storage::staging`), in slices of about [`SLICE`] rows, each slice a write transaction of
//! its own. Between slices the database's write lock is free, so another tenant's write waits
//! for one slice at most, however large the archive; the import's last transaction
//! (`apply::publish`) makes the rows the tenant's.
//!
//! File rows come first: from then on every blob the import placed is held by a row, so no
//! one who removes unreferenced content (a failed upload, a delete) can take it away while the
//! documents that need it are still being written. Then folders (each with its rules, parents
//! first), then documents (each with its revisions and rules). What a failure leaves goes
//! with the staging folder, and the file rows no revision took up with the import's journal
//! (`leftovers`).
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use api_spec::ErrorCode;
use entity::{document, folder, revision};
use sea_orm::{DatabaseTransaction, EntityTrait, Set};
use uuid::Uuid;

use super::Publisher;
use super::apply::Import;
use super::plan::Plan;
use super::resolve::Resolution;
use crate::access::RuleSet;
use crate::app::AppState;
use crate::auth::TenantScope;
use crate::error::{Result, fail};
use crate::services::removal::pause;
use crate::storage::blobs::blob_key;
use crate::storage::rules::{Object, rule_row};
use crate::storage::{files, staging};

/// Rows per slice (and per multi-row INSERT). A document with more revisions than this is a
/// slice of its own.
pub(super) const SLICE: usize = 500;

/// What staging wrote: the staging folder, the file id of each plan file the documents
/// use, and how many file rows are new.
pub(super) struct Staged {
    pub(super) folder: Uuid,
    pub(super) file_id: HashMap<usize, Uuid>,
    pub(super) files_new: u64,
}

/// Rows written so far, reported as the job's progress.
pub(super) struct Progress<'a> {
    pub(super) done: u64,
    pub(super) total: u64,
    pub(super) report: &'a mut (dyn FnMut(u64, u64) + Send),
}

impl Progress<'_> {
    fn add(&mut self, rows: usize) {
        self.done += rows as u64;
        (self.report)(self.done, self.total);
    }
}

pub(super) async fn insert_chunked<E, A>(txn: &DatabaseTransaction, rows: Vec<A>) -> Result<()>
where
    E: EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E> + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(SLICE).collect();
        E::insert_many(chunk).exec_without_returning(txn).await?;
    }
    Ok(())
}

fn rule_rows(
    scope: &TenantScope,
    object: Object,
    set: &RuleSet,
    into: &mut Vec<entity::access_rule::ActiveModel>,
) -> Result<()> {
    for (t, rules) in set {
        for (position, rule) in rules.iter().enumerate() {
            into.push(rule_row(scope, object, *t, position, rule)?);
        }
    }
    Ok(())
}

/// Writes the file rows of `files` (plan indexes), then every folder and document the early
/// resolution `r` keeps, under a new staging folder of job `job`, a slice at a time; stops
/// with `job_state_conflict` at the first slice after `cancel` is raised.
pub(super) async fn stage(
    publisher: &mut Publisher<'_>,
    import: &Import<'_>,
    r: &Resolution,
    files: &[usize],
    progress: &mut Progress<'_>,
    cancel: &AtomicBool,
) -> Result<Staged> {
    let (scope, job, plan) = (&import.scope, import.claim.id, import.plan);
    let state = publisher.state();
    let root = {
        let (_turn, txn) = state.begin_write().await?;
        let id = staging::create(scope, &txn, job).await?;
        txn.commit().await?;
        id
    };
    let mut staged = Staged {
        folder: root,
        file_id: HashMap::new(),
        files_new: 0,
    };
    for slice in files.chunks(SLICE) {
        let write = async |txn: &DatabaseTransaction| {
            file_rows(publisher, scope, txn, plan, slice, &mut staged).await?;
            Ok(slice.len())
        };
        one_slice(state, cancel, progress, write).await?;
    }
    // Parents before children: the plan lists them so.
    let folders: Vec<usize> = (0..plan.folders.len())
        .filter(|i| !r.skipped_folders[*i])
        .collect();
    for slice in folders.chunks(SLICE) {
        let write = async |txn: &DatabaseTransaction| {
            stage_folders(scope, txn, plan, slice, root).await?;
            Ok(slice.len())
        };
        one_slice(state, cancel, progress, write).await?;
    }
    let documents: Vec<usize> = (0..plan.documents.len())
        .filter(|i| !r.skipped_documents[*i])
        .collect();
    let mut at = 0;
    while at < documents.len() {
        let mut end = at;
        let mut rows = 0;
        while end < documents.len() && rows < SLICE {
            rows += 1 + plan.documents[documents[end]].revisions.len();
            end += 1;
        }
        let slice = &documents[at..end];
        let write = async |txn: &DatabaseTransaction| {
            remake_gone_files(publisher, scope, txn, plan, slice, &mut staged).await?;
            stage_documents(scope, txn, plan, slice, &staged).await?;
            Ok(rows)
        };
        one_slice(state, cancel, progress, write).await?;
        at = end;
    }
    Ok(staged)
}

/// One slice: `write` in a write transaction of its own (it returns the rows it wrote), then
/// the progress, then a pause as long as the slice held the lock (`removal::pause`). Stops
/// with `job_state_conflict` instead once `cancel` is raised.
async fn one_slice(
    state: &AppState,
    cancel: &AtomicBool,
    progress: &mut Progress<'_>,
    write: impl AsyncFnOnce(&DatabaseTransaction) -> Result<usize>,
) -> Result<()> {
    if cancel.load(Ordering::SeqCst) {
        return Err(fail(ErrorCode::JobStateConflict));
    }
    let started = Instant::now();
    let (turn, txn) = state.begin_write().await?;
    let rows = write(&txn).await?;
    txn.commit().await?;
    drop(turn);
    progress.add(rows);
    pause(started).await;
    Ok(())
}

/// The folders of `slice`, with their rules; top-level ones go into the staging folder.
async fn stage_folders(
    scope: &TenantScope,
    txn: &DatabaseTransaction,
    plan: &Plan,
    slice: &[usize],
    root: Uuid,
) -> Result<()> {
    let mut rows = Vec::with_capacity(slice.len());
    let mut rules = Vec::new();
    for &i in slice {
        let f = &plan.folders[i];
        rows.push(folder::ActiveModel {
            id: Set(f.id),
            tenant_id: Set(scope.tenant_id()),
            parent_id: Set(Some(f.parent.map_or(root, |p| plan.folders[p].id))),
            name: Set(f.name.clone()),
            inherit: Set(f.inherit),
            created_at: Set(f.created_at),
            last_modified: Set(f.last_modified),
            import_job_id: Set(None),
        });
        rule_rows(scope, Object::Folder(f.id), &f.rules, &mut rules)?;
    }
    insert_chunked(txn, rows).await?;
    insert_chunked(txn, rules).await
}

/// File rows for `files` (plan indexes) that `staged` does not map yet: content the tenant
/// holds (now, inside this transaction) is shared, the rest gets new rows.
async fn file_rows(
    publisher: &mut Publisher<'_>,
    scope: &TenantScope,
    txn: &DatabaseTransaction,
    plan: &Plan,
    files: &[usize],
    staged: &mut Staged,
) -> Result<()> {
    let shas: Vec<&str> = files
        .iter()
        .map(|f| plan.files[*f].sha256.as_str())
        .collect();
    let held = files::ids_by_sha256(scope, txn, &shas).await?;
    let mut rows = Vec::new();
    for &f in files {
        let sha = &plan.files[f].sha256;
        if let Some(id) = held.get(sha) {
            staged.file_id.insert(f, *id);
            continue;
        }
        if !publisher.has(sha) {
            // The row that held this content went after the blobs were placed: the bytes
            // may have gone with it, so they are placed now.
            publisher.put(sha, txn).await?;
        }
        let row = files::row(
            scope,
            sha,
            plan.files[f].size,
            &blob_key(scope.tenant_id(), sha),
        );
        if let sea_orm::ActiveValue::Set(id) = row.id {
            staged.file_id.insert(f, id);
        }
        rows.push(row);
    }
    staged.files_new += rows.len() as u64;
    // Blobs placed just now must be durable before the rows that use them commit.
    publisher.sync().await?;
    insert_chunked(txn, rows).await
}

/// A file row the import mapped may have gone since (a user deleted the last document that
/// shared it, and its bytes with it): the content of such a row is placed again and gets a
/// row again before the documents of `slice` refer to it.
async fn remake_gone_files(
    publisher: &mut Publisher<'_>,
    scope: &TenantScope,
    txn: &DatabaseTransaction,
    plan: &Plan,
    slice: &[usize],
    staged: &mut Staged,
) -> Result<()> {
    let needed: BTreeSet<usize> = slice
        .iter()
        .flat_map(|d| plan.documents[*d].revisions.iter().map(|r| r.file))
        .collect();
    let ids: Vec<Uuid> = needed
        .iter()
        .filter_map(|f| staged.file_id.get(f).copied())
        .collect();
    let present = files::existing(scope, txn, &ids).await?;
    let gone: Vec<usize> = needed
        .into_iter()
        .filter(|f| staged.file_id.get(f).is_none_or(|id| !present.contains(id)))
        .collect();
    if gone.is_empty() {
        return Ok(());
    }
    for f in &gone {
        staged.file_id.remove(f);
        publisher.replace(&plan.files[*f].sha256, txn).await?;
    }
    file_rows(publisher, scope, txn, plan, &gone, staged).await
}

/// The documents of `slice`, with their revisions and rules; top-level ones go into the
/// staging folder.
async fn stage_documents(
    scope: &TenantScope,
    txn: &DatabaseTransaction,
    plan: &Plan,
    slice: &[usize],
    staged: &Staged,
) -> Result<()> {
    let mut rows = Vec::with_capacity(slice.len());
    let mut revisions = Vec::new();
    let mut rules = Vec::new();
    for &i in slice {
        let d = &plan.documents[i];
        rows.push(document::ActiveModel {
            id: Set(d.id),
            tenant_id: Set(scope.tenant_id()),
            folder_id: Set(Some(d.folder.map_or(staged.folder, |f| plan.folders[f].id))),
            title: Set(d.title.clone()),
            inherit: Set(d.inherit),
            current_revision_id: Set(d.current),
            created_at: Set(d.created_at),
            last_modified: Set(d.last_modified),
        });
        rule_rows(scope, Object::Document(d.id), &d.rules, &mut rules)?;
        for rev in &d.revisions {
            revisions.push(revision::ActiveModel {
                id: Set(rev.id),
                tenant_id: Set(scope.tenant_id()),
                document_id: Set(d.id),
                file_id: Set(staged.file_id.get(&rev.file).copied().unwrap_or_default()),
                parent_revision_id: Set(rev.parent),
                created_at: Set(rev.created_at),
            });
        }
    }
    insert_chunked(txn, rows).await?;
    insert_chunked(txn, revisions).await?;
    insert_chunked(txn, rules).await
}
