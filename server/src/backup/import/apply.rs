//! Last pass of an import: in ONE database transaction, resolve the plan against the target
//! tenant (restore needs it empty; merge applies the name-conflict policy at the top level),
//! re-bind principals by name, insert every row with its fresh id, and complete the job —
//! so the rows become visible exactly when the job completes, and a cancel that won the race
//! leaves nothing. Blobs were placed in the store before (see `mod.rs`): unreferenced until
//! this commit, and removed if it never happens.
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use api_spec::ErrorCode;
use entity::{access_entry, access_rule, document, folder, revision};
use sea_orm::{ConnectionTrait, DatabaseTransaction, EntityTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Publisher;
use super::plan::{EntryPlan, Plan, Target};
pub use super::resolve::{OnConflict, Options};
use super::resolve::{Resolution, resolve};
use super::unpack::Unpacked;
use crate::access::{AccessType, RuleSet};
use crate::auth::TenantScope;
use crate::error::{Result, fail};
use crate::storage::blobs::blob_key;
use crate::storage::rules::{Entity, Object, entry_row, rule_row};
use crate::storage::{files, groups, jobs, users};

/// Rows per multi-row INSERT.
const CHUNK: usize = 500;
/// Largest id map kept inline in the job's result.
pub const ID_MAP_INLINE_MAX: usize = 20_000;

async fn insert_chunked<E, A>(txn: &DatabaseTransaction, rows: Vec<A>) -> Result<()>
where
    E: EntityTrait,
    A: sea_orm::ActiveModelTrait<Entity = E> + Send,
{
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<A> = rows.by_ref().take(CHUNK).collect();
        E::insert_many(chunk).exec_without_returning(txn).await?;
    }
    Ok(())
}

fn rule_rows(
    scope: &TenantScope,
    object: Object,
    set: &RuleSet,
) -> Result<Vec<access_rule::ActiveModel>> {
    let mut out = Vec::new();
    for (t, rules) in set {
        for (position, rule) in rules.iter().enumerate() {
            out.push(rule_row(scope, object, *t, position, rule)?);
        }
    }
    Ok(out)
}

/// The first statement of an import's transactions (the claim and the import itself).
///
/// On PostgreSQL it locks the tenant's row `FOR NO KEY UPDATE`: imports (and claims) of one
/// tenant take turns, across instances, while ordinary inserts — whose foreign keys take only
/// `KEY SHARE` on the tenant — go on. On SQLite the transaction already holds the database's
/// write lock (`db::begin_write`).
pub(super) async fn serialise(txn: &DatabaseTransaction, scope: &TenantScope) -> Result<()> {
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

/// Imports `plan` into the tenant and completes job `job_id`, all in one transaction;
/// returns the job's result. With `dry_run`, reports the same without writing anything.
pub async fn apply(
    publisher: &mut Publisher<'_>,
    scope: &TenantScope,
    job_id: Uuid,
    plan: &Plan,
    source: &Unpacked,
    options: Options,
    progress: &mut (dyn FnMut(u64, u64) + Send),
) -> Result<Value> {
    let (_turn, txn) = publisher.state().begin_write().await?;
    serialise(&txn, scope).await?;
    let r = resolve(scope, &txn, plan, options).await?;
    let mut warnings: Vec<String> = source.warnings.clone();
    let principals = Principals::load(scope, &txn, plan, &mut warnings).await?;
    let chosen = Chosen::new(plan, &r, &principals);
    let total =
        (chosen.files.len() + chosen.folders.len() + chosen.documents.len() + chosen.revisions)
            as u64;
    let mut counter = Progress {
        done: 0,
        total,
        report: progress,
    };
    let (file_id, files_new) =
        insert_files(publisher, scope, &txn, plan, &chosen, options.dry_run).await?;
    counter.add(chosen.files.len());
    let rule_count = if options.dry_run {
        chosen.rule_count(plan)
    } else {
        let rule_count =
            insert_tree(scope, &txn, plan, &r, &chosen, &file_id, &mut counter).await?;
        insert_entries(scope, &txn, plan, &chosen, &principals).await?;
        rule_count
    };
    let skipped_entries = plan.entries.len() - chosen.entries.len();
    if skipped_entries > 0 {
        warnings.push(format!(
            "{skipped_entries} access grants were not imported (their object was skipped or their user or group is missing)"
        ));
    }
    let counts = json!({
        "folders": chosen.folders.len(), "documents": chosen.documents.len(),
        "revisions": chosen.revisions, "files": chosen.files.len(), "files_new": files_new,
        "bytes": chosen.bytes, "access_rules": rule_count,
        "access_entries": chosen.entries.len(),
        "skipped_folders": plan.folders.len() - chosen.folders.len(),
        "skipped_documents": plan.documents.len() - chosen.documents.len(),
    });
    let map_size =
        chosen.folders.len() + chosen.documents.len() + chosen.revisions + chosen.files.len();
    let id_map = (!options.dry_run && map_size <= ID_MAP_INLINE_MAX)
        .then(|| id_map(plan, &chosen, &file_id));
    let result = json!({
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
    });
    if options.dry_run {
        txn.rollback().await?;
        return Ok(result);
    }
    // Blobs re-placed above (rare) must be durable before the rows that use them commit.
    publisher.sync().await?;
    if !jobs::complete(scope, &txn, job_id, result.clone()).await? {
        // Cancelled (or failed by the reaper) while we worked: nothing commits.
        return Err(fail(ErrorCode::JobStateConflict));
    }
    txn.commit().await?;
    Ok(result)
}

/// Rows written so far, reported as the job's progress.
struct Progress<'a> {
    done: u64,
    total: u64,
    report: &'a mut (dyn FnMut(u64, u64) + Send),
}

impl Progress<'_> {
    fn add(&mut self, rows: usize) {
        self.done += rows as u64;
        (self.report)(self.done, self.total);
    }
}

/// The target tenant's users and groups by name: grants bind to them, never create them.
struct Principals {
    users: HashMap<String, Uuid>,
    groups: HashMap<String, Uuid>,
}

impl Principals {
    /// Loads them, warning about the names the archive uses that the tenant lacks.
    async fn load(
        scope: &TenantScope,
        txn: &DatabaseTransaction,
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

/// File rows: content the tenant already holds is shared, not stored twice. Returns the file
/// id of each plan file, and how many rows are new.
async fn insert_files(
    publisher: &mut Publisher<'_>,
    scope: &TenantScope,
    txn: &DatabaseTransaction,
    plan: &Plan,
    chosen: &Chosen,
    dry_run: bool,
) -> Result<(HashMap<usize, Uuid>, u64)> {
    let shas: Vec<&str> = chosen
        .files
        .iter()
        .map(|f| plan.files[*f].sha256.as_str())
        .collect();
    let held = files::ids_by_sha256(scope, txn, &shas).await?;
    let mut file_id: HashMap<usize, Uuid> = HashMap::new();
    let mut rows = Vec::new();
    for &f in &chosen.files {
        let sha = &plan.files[f].sha256;
        if let Some(id) = held.get(sha) {
            file_id.insert(f, *id);
            continue;
        }
        if dry_run {
            file_id.insert(f, Uuid::nil());
            continue;
        }
        if !publisher.has(sha) {
            // The row that held this content went after the blobs were placed: the bytes
            // may have gone with it, so they are placed now.
            publisher.put(sha).await?;
        }
        let row = files::row(
            scope,
            sha,
            plan.files[f].size,
            &blob_key(scope.tenant_id(), sha),
        );
        if let sea_orm::ActiveValue::Set(id) = row.id {
            file_id.insert(f, id);
        }
        rows.push(row);
    }
    insert_chunked(txn, rows).await?;
    Ok((file_id, (chosen.files.len() - held.len()) as u64))
}

/// Folders, documents, their revisions and access rules; returns the number of rules.
async fn insert_tree(
    scope: &TenantScope,
    txn: &DatabaseTransaction,
    plan: &Plan,
    r: &Resolution,
    chosen: &Chosen,
    file_id: &HashMap<usize, Uuid>,
    progress: &mut Progress<'_>,
) -> Result<usize> {
    let mut rows = Vec::with_capacity(chosen.folders.len());
    let mut rules = Vec::new();
    for &i in &chosen.folders {
        let f = &plan.folders[i];
        rows.push(folder::ActiveModel {
            id: Set(f.id),
            tenant_id: Set(scope.tenant_id()),
            parent_id: Set(f.parent.map(|p| plan.folders[p].id)),
            name: Set(r.folder_names.get(&i).unwrap_or(&f.name).clone()),
            inherit: Set(f.inherit),
            created_at: Set(f.created_at),
            last_modified: Set(f.last_modified),
        });
        rules.extend(rule_rows(scope, Object::Folder(f.id), &f.rules)?);
    }
    insert_chunked(txn, rows).await?;
    progress.add(chosen.folders.len());
    let mut rows = Vec::with_capacity(chosen.documents.len());
    let mut revision_rows = Vec::with_capacity(chosen.revisions);
    for &i in &chosen.documents {
        let d = &plan.documents[i];
        rows.push(document::ActiveModel {
            id: Set(d.id),
            tenant_id: Set(scope.tenant_id()),
            folder_id: Set(d.folder.map(|f| plan.folders[f].id)),
            title: Set(r.document_names.get(&i).unwrap_or(&d.title).clone()),
            inherit: Set(d.inherit),
            current_revision_id: Set(d.current),
            created_at: Set(d.created_at),
            last_modified: Set(d.last_modified),
        });
        rules.extend(rule_rows(scope, Object::Document(d.id), &d.rules)?);
        for rev in &d.revisions {
            revision_rows.push(revision::ActiveModel {
                id: Set(rev.id),
                tenant_id: Set(scope.tenant_id()),
                document_id: Set(d.id),
                file_id: Set(file_id.get(&rev.file).copied().unwrap_or_default()),
                parent_revision_id: Set(rev.parent),
                created_at: Set(rev.created_at),
            });
        }
    }
    insert_chunked(txn, rows).await?;
    progress.add(chosen.documents.len());
    insert_chunked(txn, revision_rows).await?;
    progress.add(chosen.revisions);
    let rule_count = rules.len();
    insert_chunked(txn, rules).await?;
    Ok(rule_count)
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
