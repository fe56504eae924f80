//! Last pass of an import: in ONE database transaction, resolve the plan against the target
//! tenant (restore needs it empty; merge applies the name-conflict policy at the top level),
//! re-bind principals by name, insert every row with its fresh id, and complete the job —
//! so the rows become visible exactly when the job completes, and a cancel that won the race
//! leaves nothing. Blobs were placed in the store before (see `mod.rs`): unreferenced until
//! this commit, and removed if it never happens.
use std::collections::{BTreeMap, HashMap, HashSet};

use api_spec::ErrorCode;
use entity::{access_entry, access_rule, document, folder, revision};
use sea_orm::{ConnectionTrait, DatabaseTransaction, EntityTrait, Set};
use serde_json::{Value, json};
use uuid::Uuid;

use super::Publisher;
use super::plan::{Plan, Target};
use super::resolve::resolve;
pub use super::resolve::{OnConflict, Options};
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
    let known_users: HashMap<String, Uuid> = users::list(scope, &txn)
        .await?
        .into_iter()
        .map(|u| (u.username, u.id))
        .collect();
    let known_groups: HashMap<String, Uuid> = groups::list(scope, &txn)
        .await?
        .into_iter()
        .map(|g| (g.name, g.id))
        .collect();
    let missing_users: Vec<&String> = plan
        .users
        .iter()
        .filter(|u| !known_users.contains_key(*u))
        .collect();
    let missing_groups: Vec<&String> = plan
        .groups
        .iter()
        .filter(|g| !known_groups.contains_key(*g))
        .collect();
    if !missing_users.is_empty() {
        warnings.push(format!(
            "users named by the archive that this tenant lacks (not created; their grants are skipped): {}",
            missing_users.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    if !missing_groups.is_empty() {
        warnings.push(format!(
            "groups named by the archive's rules or grants that this tenant lacks (not created; rules keep naming them): {}",
            missing_groups.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
        ));
    }
    let folders_in: Vec<usize> = (0..plan.folders.len())
        .filter(|i| !r.skipped_folders[*i])
        .collect();
    let documents_in: Vec<usize> = (0..plan.documents.len())
        .filter(|i| !r.skipped_documents[*i])
        .collect();
    let mut files_used: Vec<usize> = documents_in
        .iter()
        .flat_map(|d| plan.documents[*d].revisions.iter().map(|r| r.file))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    files_used.sort_unstable();
    let entries_in: Vec<usize> = plan
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| match e.target {
            Target::Folder(f) => !r.skipped_folders[f],
            Target::Document(d) => !r.skipped_documents[d],
        })
        .filter(|(_, e)| {
            if e.group {
                known_groups.contains_key(&e.entity)
            } else {
                known_users.contains_key(&e.entity)
            }
        })
        .map(|(i, _)| i)
        .collect();
    let revisions: usize = documents_in
        .iter()
        .map(|d| plan.documents[*d].revisions.len())
        .sum();
    let bytes: u64 = files_used.iter().map(|f| plan.files[*f].size).sum();
    let rule_count: usize;
    let total = (files_used.len() + folders_in.len() + documents_in.len() + revisions) as u64;
    let mut done = 0u64;

    // File rows: content the tenant already holds is shared, not stored twice.
    let shas: Vec<&str> = files_used
        .iter()
        .map(|f| plan.files[*f].sha256.as_str())
        .collect();
    let held = files::ids_by_sha256(scope, &txn, &shas).await?;
    let mut file_id: HashMap<usize, Uuid> = HashMap::new();
    let mut file_rows = Vec::new();
    for &f in &files_used {
        let sha = &plan.files[f].sha256;
        if let Some(id) = held.get(sha) {
            file_id.insert(f, *id);
            continue;
        }
        if options.dry_run {
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
        file_rows.push(row);
    }
    let files_new = (files_used.len() - held.len()) as u64;
    insert_chunked(&txn, file_rows).await?;
    done += files_used.len() as u64;
    progress(done, total);
    if !options.dry_run {
        let mut rows = Vec::with_capacity(folders_in.len());
        let mut rules = Vec::new();
        for &i in &folders_in {
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
        insert_chunked(&txn, rows).await?;
        done += folders_in.len() as u64;
        progress(done, total);
        let mut rows = Vec::with_capacity(documents_in.len());
        let mut revision_rows = Vec::with_capacity(revisions);
        for &i in &documents_in {
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
        insert_chunked(&txn, rows).await?;
        done += documents_in.len() as u64;
        progress(done, total);
        insert_chunked(&txn, revision_rows).await?;
        done += revisions as u64;
        progress(done, total);
        rule_count = rules.len();
        insert_chunked(&txn, rules).await?;
        // Every entry left names a known principal and a valid type (the plan checked it).
        let entry_rows: Vec<access_entry::ActiveModel> = entries_in
            .iter()
            .filter_map(|&i| {
                let e = &plan.entries[i];
                let object = match e.target {
                    Target::Folder(f) => Object::Folder(plan.folders[f].id),
                    Target::Document(d) => Object::Document(plan.documents[d].id),
                };
                let entity = if e.group {
                    Entity::Group(*known_groups.get(&e.entity)?)
                } else {
                    Entity::User(*known_users.get(&e.entity)?)
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
        insert_chunked(&txn, entry_rows).await?;
    } else {
        rule_count = folders_in
            .iter()
            .map(|i| plan.folders[*i].rules.values().map(Vec::len).sum::<usize>())
            .chain(documents_in.iter().map(|i| {
                plan.documents[*i]
                    .rules
                    .values()
                    .map(Vec::len)
                    .sum::<usize>()
            }))
            .sum();
    }
    let skipped_entries = plan.entries.len() - entries_in.len();
    if skipped_entries > 0 {
        warnings.push(format!(
            "{skipped_entries} access grants were not imported (their object was skipped or their user or group is missing)"
        ));
    }
    let counts = json!({
        "folders": folders_in.len(), "documents": documents_in.len(), "revisions": revisions,
        "files": files_used.len(), "files_new": files_new, "bytes": bytes,
        "access_rules": rule_count, "access_entries": entries_in.len(),
        "skipped_folders": plan.folders.len() - folders_in.len(),
        "skipped_documents": plan.documents.len() - documents_in.len(),
    });
    let map_size = folders_in.len() + documents_in.len() + revisions + files_used.len();
    let id_map = (!options.dry_run && map_size <= ID_MAP_INLINE_MAX).then(|| {
        let folders: BTreeMap<&str, String> = folders_in
            .iter()
            .map(|i| {
                (
                    plan.folders[*i].old.as_str(),
                    plan.folders[*i].id.to_string(),
                )
            })
            .collect();
        let docs: BTreeMap<&str, String> = documents_in
            .iter()
            .map(|i| {
                (
                    plan.documents[*i].old.as_str(),
                    plan.documents[*i].id.to_string(),
                )
            })
            .collect();
        let revs: BTreeMap<&str, String> = documents_in
            .iter()
            .flat_map(|i| plan.documents[*i].revisions.iter())
            .map(|r| (r.old.as_str(), r.id.to_string()))
            .collect();
        let fids: BTreeMap<&str, String> = files_used
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
    });
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
