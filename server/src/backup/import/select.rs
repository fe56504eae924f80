//! Importing part of an archive (BACKUP_IMPORT.md §3.9): `select` names folders (each with
//! its subtree) and documents of the archive by path; only those are imported, with their
//! revisions, rules and grants. Where they go:
//!
//! * with `target_folder_id`, every selected item goes directly into that folder;
//! * without it, each goes back to its own path: the folders above it that the tenant still
//!   has (same names, from the top) are used as they are, and the ones it lacks are made as
//!   the archive has them (names, rules).
//!
//! The whole archive with a `target_folder_id` goes into that folder. The conflict policy
//! applies to the names in each destination.
use std::collections::{HashMap, HashSet};

use api_spec::ErrorCode;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::plan::{Plan, Target};
use crate::auth::TenantScope;
use crate::error::{Error, Result, fail};
use crate::services::depth;
use crate::storage::folders;

/// The archive paths of the plan's folders (`a/b/c`), by index.
fn folder_paths(plan: &Plan) -> Vec<String> {
    let mut paths: Vec<String> = Vec::with_capacity(plan.folders.len());
    for f in &plan.folders {
        let path = match f.parent {
            Some(p) => format!("{}/{}", paths[p], f.name),
            None => f.name.clone(),
        };
        paths.push(path);
    }
    paths
}

fn normalize(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("/")
}

/// Keeps of `plan` what `select` names, with the folders above it (unless `ancestors` is
/// false, when the selected items become the plan's top level). `import_selection_not_found`
/// (naming the path) for a path that names nothing.
pub fn narrow(plan: Plan, select: &[String], ancestors: bool) -> Result<Plan> {
    let paths = folder_paths(&plan);
    let mut chosen_folders = vec![false; plan.folders.len()];
    let mut chosen_documents = vec![false; plan.documents.len()];
    for wanted in select {
        let wanted = normalize(wanted);
        let mut found = false;
        for (i, path) in paths.iter().enumerate() {
            if *path == wanted {
                chosen_folders[i] = true;
                found = true;
            }
        }
        for (i, d) in plan.documents.iter().enumerate() {
            let path = match d.folder {
                Some(f) => format!("{}/{}", paths[f], d.title),
                None => d.title.clone(),
            };
            if path == wanted {
                chosen_documents[i] = true;
                found = true;
            }
        }
        if !found || wanted.is_empty() {
            return Err(Error::About {
                code: ErrorCode::ImportSelectionNotFound,
                id: wanted,
            });
        }
    }
    // Subtrees (parents come before children), then the documents in them.
    let mut inside = chosen_folders.clone();
    for i in 0..plan.folders.len() {
        if let Some(p) = plan.folders[i].parent
            && inside[p]
        {
            inside[i] = true;
        }
    }
    for (i, d) in plan.documents.iter().enumerate() {
        if d.folder.is_some_and(|f| inside[f]) {
            chosen_documents[i] = true;
        }
    }
    // A selected item's new top: itself when its ancestors are not kept.
    let mut keep = inside.clone();
    if ancestors {
        let mark = |mut at: Option<usize>, keep: &mut Vec<bool>| {
            while let Some(i) = at {
                keep[i] = true;
                at = plan.folders[i].parent;
            }
        };
        for i in (0..plan.folders.len()).filter(|i| chosen_folders[*i]) {
            mark(plan.folders[i].parent, &mut keep);
        }
        for d in plan
            .documents
            .iter()
            .zip(&chosen_documents)
            .filter(|(_, c)| **c)
        {
            mark(d.0.folder, &mut keep);
        }
    }
    Ok(rebuild(plan, &keep, &inside, &chosen_documents))
}

/// The plan with only the kept folders and documents (indexes renumbered), the files their
/// revisions use and the grants on them. An item whose parent is not kept becomes top-level;
/// a kept folder not `inside` the selection is kept only as an ancestor.
fn rebuild(plan: Plan, keep_folders: &[bool], inside: &[bool], keep_documents: &[bool]) -> Plan {
    let mut folder_index: HashMap<usize, usize> = HashMap::new();
    let mut folders = Vec::new();
    for (i, mut f) in plan.folders.into_iter().enumerate() {
        if !keep_folders[i] {
            continue;
        }
        f.parent = f.parent.and_then(|p| folder_index.get(&p).copied());
        f.ancestor_only = !inside[i];
        folder_index.insert(i, folders.len());
        folders.push(f);
    }
    let mut document_index: HashMap<usize, usize> = HashMap::new();
    let mut documents = Vec::new();
    for (i, mut d) in plan.documents.into_iter().enumerate() {
        if !keep_documents[i] {
            continue;
        }
        d.folder = d.folder.and_then(|f| folder_index.get(&f).copied());
        document_index.insert(i, documents.len());
        documents.push(d);
    }
    let used: HashSet<usize> = documents
        .iter()
        .flat_map(|d| d.revisions.iter().map(|r| r.file))
        .collect();
    let mut file_index: HashMap<usize, usize> = HashMap::new();
    let mut files = Vec::new();
    for (i, file) in plan.files.into_iter().enumerate() {
        if used.contains(&i) {
            file_index.insert(i, files.len());
            files.push(file);
        }
    }
    for d in &mut documents {
        for r in &mut d.revisions {
            r.file = file_index[&r.file];
        }
    }
    let entries = plan
        .entries
        .into_iter()
        .filter_map(|mut e| {
            e.target = match e.target {
                Target::Folder(i) => Target::Folder(*folder_index.get(&i)?),
                Target::Document(i) => Target::Document(*document_index.get(&i)?),
            };
            Some(e)
        })
        .collect();
    Plan {
        folders,
        documents,
        files,
        entries,
        ..plan
    }
}

/// Where the plan's top-level items go: into `target` (which must be a folder of the
/// tenant) when given; otherwise the plan's top-level folders that the tenant has at the
/// same path are merged into it (recursively), so what lies below them goes back into the
/// tenant's folders, and the rest to the top level. `depth_limit_exceeded` if the result
/// would nest too deep.
pub async fn destinations(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    plan: Plan,
    target: Option<Uuid>,
    merge_paths: bool,
) -> Result<Plan> {
    if let Some(target) = target {
        return into_target(scope, db, plan, target).await;
    }
    if !merge_paths {
        return Ok(plan);
    }
    let existing = existing_paths(scope, db, &plan).await?;
    let plan = merge(plan, &existing);
    // Each merged destination's depth leaves less room below it.
    let mut deepest = 0u32;
    for f in plan.folders.iter().filter(|f| f.parent.is_none()) {
        let base = depth::of(scope, db, f.dest).await?;
        deepest = deepest.max(base);
    }
    if plan_height(&plan) + deepest > depth::MAX_DEPTH {
        return Err(depth::exceeded());
    }
    Ok(plan)
}

/// The plan's top level goes into folder `target`, if it has room for the plan's depth.
async fn into_target(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    mut plan: Plan,
    target: Uuid,
) -> Result<Plan> {
    if folders::find(scope, db, target).await?.is_none() {
        return Err(fail(ErrorCode::FolderNotFound));
    }
    let room = depth::MAX_DEPTH.saturating_sub(depth::of(scope, db, Some(target)).await?);
    if plan_height(&plan) > room {
        return Err(depth::exceeded());
    }
    for f in plan.folders.iter_mut().filter(|f| f.parent.is_none()) {
        f.dest = Some(target);
    }
    for d in plan.documents.iter_mut().filter(|d| d.folder.is_none()) {
        d.dest = Some(target);
    }
    Ok(plan)
}

/// The tenant's folder at each plan folder's path, parents first, while they match.
async fn existing_paths(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    plan: &Plan,
) -> Result<Vec<Option<Uuid>>> {
    let mut existing: Vec<Option<Uuid>> = vec![None; plan.folders.len()];
    for i in 0..plan.folders.len() {
        let parent = match plan.folders[i].parent {
            None => None,
            Some(p) => match existing[p] {
                Some(id) => Some(id),
                None => continue,
            },
        };
        let named = folders::named(scope, db, parent, &plan.folders[i].name).await?;
        existing[i] = named.first().map(|f| f.id);
    }
    Ok(existing)
}

/// Merges the plan's folders that the tenant has at the same path (`existing`) into the
/// tenant's: they leave the plan, and what was below them becomes top-level with its
/// destination. Only folders the archive keeps as ancestors are merged: a selected folder
/// itself is restored (its name's conflict policy applies), never merged into one of the
/// same name.
fn merge(mut plan: Plan, existing: &[Option<Uuid>]) -> Plan {
    let merged: Vec<bool> = existing
        .iter()
        .enumerate()
        .map(|(i, e)| e.is_some() && plan.folders[i].ancestor_only)
        .collect();
    let mut index: HashMap<usize, usize> = HashMap::new();
    let mut folders = Vec::new();
    let old_folders = std::mem::take(&mut plan.folders);
    for (i, mut f) in old_folders.into_iter().enumerate() {
        if merged[i] {
            continue;
        }
        if let Some(p) = f.parent {
            if merged[p] {
                f.dest = existing[p];
                f.parent = None;
            } else {
                f.parent = index.get(&p).copied();
            }
        }
        index.insert(i, folders.len());
        folders.push(f);
    }
    for d in &mut plan.documents {
        if let Some(f) = d.folder {
            if merged[f] {
                d.dest = existing[f];
                d.folder = None;
            } else {
                d.folder = index.get(&f).copied();
            }
        }
    }
    for e in &mut plan.entries {
        if let Target::Folder(i) = e.target {
            match index.get(&i) {
                Some(j) => e.target = Target::Folder(*j),
                // A grant on a folder the tenant already has is not the archive's to set.
                None => e.target = Target::Folder(usize::MAX),
            }
        }
    }
    plan.entries
        .retain(|e| !matches!(e.target, Target::Folder(usize::MAX)));
    plan.folders = folders;
    plan
}

/// How many levels the plan's folders span.
pub(super) fn plan_height(plan: &Plan) -> u32 {
    let mut level = vec![0u32; plan.folders.len()];
    let mut height = 0;
    for (i, f) in plan.folders.iter().enumerate() {
        level[i] = f.parent.map_or(1, |p| level[p] + 1);
        height = height.max(level[i]);
    }
    height
}
