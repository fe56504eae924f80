//! Last pass of an import: the plan's rows into the target tenant, all or nothing, without
//! holding the database's write lock for long.
//!
//! 1. **Resolve** against the tenant, reading only: `restore` needs it empty, `merge` applies
//!    the name-conflict policy at the top level (`resolve`). A dry run reports here.
//! 2. **Stage** (`stage`): every row goes under a hidden staging folder, in slices that are
//!    transactions of their own, so another tenant's write waits for one slice at most.
//! 3. **Publish**, in one short transaction: resolve again (the tenant may have changed
//!    meanwhile), move the staged top level into place under its final names, bind grants to
//!    the tenant's users and groups, and complete the job. It costs the archive's top-level
//!    entries and grants, not its tree — and the rows become visible exactly when the job
//!    completes. A cancel that won the race, or any failure, leaves the staging folder, which
//!    the importer (or the reaper, after a crash) removes slice by slice, and file rows no
//!    revision took up, which go by the job's journal (`leftovers`).
//!
//! Blobs were placed in the store before (see `mod.rs`): unreferenced until the rows commit,
//! and removed if the import never completes.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::AtomicBool;

use api_spec::ErrorCode;
use entity::{access_entry, document, folder};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Publisher;
use super::plan::{EntryPlan, Plan, Target};
pub use super::resolve::{OnConflict, Options};
use super::resolve::{Resolution, resolve};
use super::stage::{Progress, Staged, insert_chunked, stage};
use super::unpack::Unpacked;
use crate::access::{AccessType, RuleSet};
use crate::auth::TenantScope;
use crate::error::{Result, fail};
use crate::storage::rules::{Entity, Object, entry_row};
use crate::storage::{files, groups, jobs, users};

/// Largest id map kept inline in the job's result.
pub const ID_MAP_INLINE_MAX: usize = 20_000;

/// The first statement of an import's last transaction (the publication).
///
/// On PostgreSQL it locks the tenant's row `FOR NO KEY UPDATE`: publications in one tenant
/// take turns, across instances, while ordinary inserts — whose foreign keys take only
/// `KEY SHARE` on the tenant — go on. (One import of a tenant runs at a time anyway: the
/// runner claims no second one.) On SQLite the transaction already holds the database's
/// write lock (`db::begin_write`).
async fn serialise(txn: &DatabaseTransaction, scope: &TenantScope) -> Result<()> {
    if txn.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT id FROM tenants WHERE id = $1 FOR NO KEY UPDATE",
            [scope.tenant_id().into()],
        ))
        .await?;
    }
    Ok(())
}

/// What the import is: the job's run, its plan and source, and how it was asked for.
pub struct Import<'a> {
    pub scope: TenantScope,
    /// The run (and its job, `claim.id`): its last transaction completes the job only while
    /// the job is still this run's.
    pub claim: jobs::Claim,
    pub plan: &'a Plan,
    pub source: &'a Unpacked,
    pub options: Options,
}

/// Imports the plan into the tenant and completes the job; returns the job's result. With
/// `dry_run`, reports the same without writing anything (the caller completes the job).
/// `cancel` stops it between slices.
pub async fn apply(
    publisher: &mut Publisher<'_>,
    import: &Import<'_>,
    progress: &mut (dyn FnMut(u64, u64) + Send),
    cancel: &AtomicBool,
) -> Result<Value> {
    let (scope, plan) = (&import.scope, import.plan);
    let db = &publisher.state().db;
    let early = resolve(scope, db, plan, import.options).await?;
    if import.options.dry_run {
        let mut warnings = import.source.warnings.clone();
        let principals = Principals::load(scope, db, plan, &mut warnings).await?;
        let chosen = Chosen::new(plan, &early, &principals);
        let shas: Vec<&str> = chosen
            .files
            .iter()
            .map(|f| plan.files[*f].sha256.as_str())
            .collect();
        let held = files::ids_by_sha256(scope, db, &shas).await?.len();
        let files_new = (chosen.files.len() - held) as u64;
        return Ok(report(import, &early, &chosen, files_new, warnings, None));
    }
    let chosen = Chosen::new(plan, &early, &Principals::default());
    let rows = chosen.files.len() + chosen.folders.len() + chosen.documents.len();
    let mut counter = Progress {
        done: 0,
        total: (rows + chosen.revisions) as u64,
        report: progress,
    };
    let staged = stage(
        publisher,
        import,
        &early,
        &chosen.files,
        &mut counter,
        cancel,
    )
    .await?;
    publish(publisher, import, &early, &staged).await
}

/// The last transaction: resolves the top level again, moves the staged top level into
/// place, inserts the grants, completes the job; then removes what a late conflict left in
/// the staging folder.
async fn publish(
    publisher: &mut Publisher<'_>,
    import: &Import<'_>,
    early: &Resolution,
    staged: &Staged,
) -> Result<Value> {
    let (scope, plan) = (&import.scope, import.plan);
    let state = publisher.state();
    let (turn, txn) = state.begin_write().await?;
    serialise(&txn, scope).await?;
    let mut r = resolve(scope, &txn, plan, import.options).await?;
    // What was skipped at first was never staged: it stays skipped.
    r.keep_skipped(plan, early);
    let mut warnings = import.source.warnings.clone();
    let principals = Principals::load(scope, &txn, plan, &mut warnings).await?;
    let chosen = Chosen::new(plan, &r, &principals);
    let left_behind = place_top_level(scope, &txn, plan, &r, early, staged.folder).await?;
    insert_entries(scope, &txn, plan, &chosen, &principals).await?;
    if !left_behind {
        crate::storage::folders::delete_many(scope, &txn, &[staged.folder]).await?;
    }
    let result = report(
        import,
        &r,
        &chosen,
        staged.files_new,
        warnings,
        Some(&staged.file_id),
    );
    if !jobs::complete(scope, &txn, &import.claim, result.clone()).await? {
        // Cancelled (or failed by the reaper) while we worked: nothing commits.
        return Err(fail(ErrorCode::JobStateConflict));
    }
    txn.commit().await?;
    drop(turn);
    if left_behind
        && let Err(e) = crate::services::removal::remove_hidden(state, scope, staged.folder).await
    {
        // The reaper removes it later: its job is no longer live.
        tracing::warn!(job = %import.claim.id, error = %e, "could not remove an import's staging folder");
    }
    Ok(result)
}

/// Moves the staged top-level folders and documents that `r` keeps out of the staging folder
/// `root`, under their final names; true if something (what a conflict that arose while
/// staging made `r` skip) stays behind in it.
async fn place_top_level(
    scope: &TenantScope,
    txn: &DatabaseTransaction,
    plan: &Plan,
    r: &Resolution,
    early: &Resolution,
    root: Uuid,
) -> Result<bool> {
    let tenant = scope.tenant_id();
    for (i, name) in &r.folder_names {
        folder::Entity::update_many()
            .col_expr(folder::Column::Name, Expr::value(name.clone()))
            .filter(folder::Column::TenantId.eq(tenant))
            .filter(folder::Column::Id.eq(plan.folders[*i].id))
            .exec(txn)
            .await?;
    }
    for (i, title) in &r.document_names {
        document::Entity::update_many()
            .col_expr(document::Column::Title, Expr::value(title.clone()))
            .filter(document::Column::TenantId.eq(tenant))
            .filter(document::Column::Id.eq(plan.documents[*i].id))
            .exec(txn)
            .await?;
    }
    let folders = top_level(plan.folders.iter().map(|f| f.parent.is_none()));
    let (late_folders, moving_folders): (Vec<usize>, Vec<usize>) = folders
        .filter(|i| !early.skipped_folders[*i])
        .partition(|i| r.skipped_folders[*i]);
    let documents = top_level(plan.documents.iter().map(|d| d.folder.is_none()));
    let (late_documents, moving_documents): (Vec<usize>, Vec<usize>) = documents
        .filter(|i| !early.skipped_documents[*i])
        .partition(|i| r.skipped_documents[*i]);
    let left_behind = !late_folders.is_empty() || !late_documents.is_empty();
    // Where each goes: the tenant's top level, or a folder (a partial import).
    let mut by_dest: BTreeMap<Option<Uuid>, (Vec<Uuid>, Vec<Uuid>)> = BTreeMap::new();
    for i in moving_folders {
        let f = &plan.folders[i];
        by_dest.entry(f.dest).or_default().0.push(f.id);
    }
    for i in moving_documents {
        let d = &plan.documents[i];
        by_dest.entry(d.dest).or_default().1.push(d.id);
    }
    // Usually everything in the staging folder moves to one place: one statement each.
    let all_at_once = !left_behind && by_dest.len() <= 1;
    for (dest, (folder_ids, document_ids)) in &by_dest {
        let to = Expr::value(*dest);
        let folder_ids = (!all_at_once).then_some(folder_ids.as_slice());
        for slice in slices(folder_ids) {
            let mut update = folder::Entity::update_many()
                .col_expr(folder::Column::ParentId, to.clone())
                .filter(folder::Column::TenantId.eq(tenant))
                .filter(folder::Column::ParentId.eq(root));
            if let Some(ids) = slice {
                update = update.filter(folder::Column::Id.is_in(ids.iter().copied()));
            }
            update.exec(txn).await?;
        }
        let document_ids = (!all_at_once).then_some(document_ids.as_slice());
        for slice in slices(document_ids) {
            let mut update = document::Entity::update_many()
                .col_expr(document::Column::FolderId, to.clone())
                .filter(document::Column::TenantId.eq(tenant))
                .filter(document::Column::FolderId.eq(root));
            if let Some(ids) = slice {
                update = update.filter(document::Column::Id.is_in(ids.iter().copied()));
            }
            update.exec(txn).await?;
        }
    }
    Ok(left_behind)
}

/// `None` (all at once) for no list, else the list's id slices.
fn slices(ids: Option<&[Uuid]>) -> Vec<Option<&[Uuid]>> {
    match ids {
        None => vec![None],
        Some(ids) => ids.chunks(crate::storage::ID_SLICE).map(Some).collect(),
    }
}

/// The indexes of the top-level entries among `is_top`.
fn top_level(is_top: impl Iterator<Item = bool>) -> impl Iterator<Item = usize> {
    is_top.enumerate().filter(|(_, top)| *top).map(|(i, _)| i)
}

/// The job's result.
fn report(
    import: &Import<'_>,
    r: &Resolution,
    chosen: &Chosen,
    files_new: u64,
    mut warnings: Vec<String>,
    file_id: Option<&HashMap<usize, Uuid>>,
) -> Value {
    let (plan, source, options) = (import.plan, import.source, import.options);
    let skipped_entries = plan.entries.len() - chosen.entries.len();
    if skipped_entries > 0 {
        warnings.push(format!(
            "{skipped_entries} access grants were not imported (their object was skipped or their user or group is missing)"
        ));
    }
    let counts = json!({
        "folders": chosen.folders.len(), "documents": chosen.documents.len(),
        "revisions": chosen.revisions, "files": chosen.files.len(), "files_new": files_new,
        "bytes": chosen.bytes, "access_rules": chosen.rule_count(plan),
        "access_entries": chosen.entries.len(),
        "skipped_folders": plan.folders.len() - chosen.folders.len(),
        "skipped_documents": plan.documents.len() - chosen.documents.len(),
    });
    let map_size =
        chosen.folders.len() + chosen.documents.len() + chosen.revisions + chosen.files.len();
    let id_map = file_id
        .filter(|_| map_size <= ID_MAP_INLINE_MAX)
        .map(|file_id| id_map(plan, chosen, file_id));
    json!({
        "mode": if options.merge { "merge" } else { "restore" },
        "dry_run": options.dry_run,
        "authenticated": source.authenticated,
        "source": {"tenant": source.tenant, "backup_id": source.backup_id,
                   "format": if source.authenticated { "coffer-v1" } else { "cfms-legacy" }},
        "counts": counts,
        "conflicts": r.conflicts,
        "warnings": warnings,
        "id_map": id_map,
        "id_map_omitted": !options.dry_run && id_map.is_none(),
    })
}

/// The target tenant's users and groups by name: grants bind to them, never create them.
#[derive(Default)]
struct Principals {
    users: HashMap<String, Uuid>,
    groups: HashMap<String, Uuid>,
}

impl Principals {
    /// Loads them, warning about the names the archive uses that the tenant lacks.
    async fn load(
        scope: &TenantScope,
        txn: &impl ConnectionTrait,
        plan: &Plan,
        warnings: &mut Vec<String>,
    ) -> Result<Self> {
        let users: HashMap<String, Uuid> = users::list(scope, txn)
            .await?
            .into_iter()
            .map(|u| (u.username, u.id))
            .collect();
        let groups: HashMap<String, Uuid> = groups::list(scope, txn)
            .await?
            .into_iter()
            .map(|g| (g.name, g.id))
            .collect();
        let missing = |names: &BTreeSet<String>, known: &HashMap<String, Uuid>| {
            let absent: Vec<&str> = names
                .iter()
                .filter(|n| !known.contains_key(*n))
                .map(String::as_str)
                .collect();
            absent.join(", ")
        };
        let users_missing = missing(&plan.users, &users);
        if !users_missing.is_empty() {
            warnings.push(format!(
                "users named by the archive that this tenant lacks (not created; their grants are skipped): {users_missing}"
            ));
        }
        let groups_missing = missing(&plan.groups, &groups);
        if !groups_missing.is_empty() {
            warnings.push(format!(
                "groups named by the archive's rules or grants that this tenant lacks (not created; rules keep naming them): {groups_missing}"
            ));
        }
        Ok(Self { users, groups })
    }

    fn knows(&self, e: &EntryPlan) -> bool {
        if e.group {
            self.groups.contains_key(&e.entity)
        } else {
            self.users.contains_key(&e.entity)
        }
    }
}

/// What of the plan is imported: indexes of the folders, documents, files and entries the
/// resolution kept.
struct Chosen {
    folders: Vec<usize>,
    documents: Vec<usize>,
    files: Vec<usize>,
    entries: Vec<usize>,
    revisions: usize,
    bytes: u64,
}

impl Chosen {
    fn new(plan: &Plan, r: &Resolution, principals: &Principals) -> Self {
        let folders: Vec<usize> = (0..plan.folders.len())
            .filter(|i| !r.skipped_folders[*i])
            .collect();
        let documents: Vec<usize> = (0..plan.documents.len())
            .filter(|i| !r.skipped_documents[*i])
            .collect();
        let mut files: Vec<usize> = documents
            .iter()
            .flat_map(|d| plan.documents[*d].revisions.iter().map(|r| r.file))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        files.sort_unstable();
        let entries = plan
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| match e.target {
                Target::Folder(f) => !r.skipped_folders[f],
                Target::Document(d) => !r.skipped_documents[d],
            })
            .filter(|(_, e)| principals.knows(e))
            .map(|(i, _)| i)
            .collect();
        let revisions = documents
            .iter()
            .map(|d| plan.documents[*d].revisions.len())
            .sum();
        let bytes = files.iter().map(|f| plan.files[*f].size).sum();
        Self {
            folders,
            documents,
            files,
            entries,
            revisions,
            bytes,
        }
    }

    /// The access rules the import brings (what a dry run reports).
    fn rule_count(&self, plan: &Plan) -> usize {
        let count = |rules: &RuleSet| rules.values().map(Vec::len).sum::<usize>();
        let folders = self.folders.iter().map(|i| count(&plan.folders[*i].rules));
        let documents = self
            .documents
            .iter()
            .map(|i| count(&plan.documents[*i].rules));
        folders.chain(documents).sum()
    }
}

/// Explicit grants, each bound to the tenant's principal of the same name.
async fn insert_entries(
    scope: &TenantScope,
    txn: &DatabaseTransaction,
    plan: &Plan,
    chosen: &Chosen,
    principals: &Principals,
) -> Result<()> {
    // Every entry chosen names a known principal and a valid type (the plan checked it).
    let rows: Vec<access_entry::ActiveModel> = chosen
        .entries
        .iter()
        .filter_map(|&i| {
            let e = &plan.entries[i];
            let object = match e.target {
                Target::Folder(f) => Object::Folder(plan.folders[f].id),
                Target::Document(d) => Object::Document(plan.documents[d].id),
            };
            let entity = if e.group {
                Entity::Group(*principals.groups.get(&e.entity)?)
            } else {
                Entity::User(*principals.users.get(&e.entity)?)
            };
            let access = AccessType::parse(&e.access_type)?;
            Some(entry_row(
                scope,
                entity,
                object,
                access,
                (e.start_time, e.end_time),
            ))
        })
        .collect();
    insert_chunked(txn, rows).await
}

/// Old id → new id of everything imported, for the job's result.
fn id_map(plan: &Plan, chosen: &Chosen, file_id: &HashMap<usize, Uuid>) -> Value {
    let folders: BTreeMap<&str, String> = chosen
        .folders
        .iter()
        .map(|i| {
            (
                plan.folders[*i].old.as_str(),
                plan.folders[*i].id.to_string(),
            )
        })
        .collect();
    let docs: BTreeMap<&str, String> = chosen
        .documents
        .iter()
        .map(|i| {
            let d = &plan.documents[*i];
            (d.old.as_str(), d.id.to_string())
        })
        .collect();
    let revs: BTreeMap<&str, String> = chosen
        .documents
        .iter()
        .flat_map(|i| plan.documents[*i].revisions.iter())
        .map(|r| (r.old.as_str(), r.id.to_string()))
        .collect();
    let fids: BTreeMap<&str, String> = chosen
        .files
        .iter()
        .flat_map(|f| {
            let new = file_id.get(f).copied().unwrap_or_default().to_string();
            plan.files[*f]
                .old_ids
                .iter()
                .map(move |o| (o.as_str(), new.clone()))
        })
        .collect();
    json!({"folders": folders, "documents": docs, "revisions": revs, "files": fids})
}
