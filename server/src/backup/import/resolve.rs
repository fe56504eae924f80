//! Resolving an import against its target tenant: `restore` needs the tenant empty;
//! `merge` applies the name-conflict policy to the archive's top level in each destination
//! (the tenant's top level, or a folder for a partial import: `select`); everything below
//! it is new, so nothing else can clash. Runs before the import stages its rows, and again in
//! its last transaction.
use std::collections::{BTreeSet, HashMap, HashSet};

use api_spec::ErrorCode;
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::plan::Plan;
use crate::auth::TenantScope;
use crate::error::{Error, Result, fail};
use crate::services::depth;
use crate::storage::{documents, folders};

pub use api_spec::jobs::OnConflict;
use api_spec::jobs::{
    ConflictHolder, ConflictObject, ConflictResolution, ImportConflict, ImportMode, ImportParams,
};

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub merge: bool,
    pub on_conflict: OnConflict,
    pub dry_run: bool,
}

impl From<&ImportParams> for Options {
    fn from(p: &ImportParams) -> Self {
        Self {
            merge: p.mode == ImportMode::Merge,
            on_conflict: p.on_conflict,
            dry_run: p.dry_run,
        }
    }
}

/// How each top-level name clash was resolved.
pub(super) struct Resolution {
    pub(super) skipped_folders: Vec<bool>,
    pub(super) skipped_documents: Vec<bool>,
    pub(super) folder_names: HashMap<usize, String>,
    pub(super) document_names: HashMap<usize, String>,
    pub(super) conflicts: Vec<ImportConflict>,
}

fn renamed(name: &str, taken: &HashSet<String>) -> String {
    (1..)
        .map(|n| {
            let suffix = if n == 1 {
                " (imported)".to_owned()
            } else {
                format!(" (imported {n})")
            };
            let room = 255usize.saturating_sub(suffix.chars().count());
            let base: String = name.chars().take(room).collect();
            format!("{base}{suffix}")
        })
        .find(|candidate| !taken.contains(candidate))
        .unwrap_or_else(|| name.to_owned())
}

/// Resolves the archive's top level against each of its destinations (the tenant's top
/// level, or a folder: `select`) in the tenant.
pub(super) async fn resolve(
    scope: &TenantScope,
    txn: &impl ConnectionTrait,
    plan: &Plan,
    options: Options,
) -> Result<Resolution> {
    if !options.merge {
        let any_folder = !folders::children(scope, txn, None).await?.is_empty();
        if any_folder || !documents::in_folder(scope, txn, None).await?.is_empty() {
            return Err(fail(ErrorCode::ImportTargetNotEmpty));
        }
    }
    let mut r = Resolution {
        skipped_folders: vec![false; plan.folders.len()],
        skipped_documents: vec![false; plan.documents.len()],
        folder_names: HashMap::new(),
        document_names: HashMap::new(),
        conflicts: Vec::new(),
    };
    let top_folders = plan
        .folders
        .iter()
        .enumerate()
        .filter(|(_, f)| f.parent.is_none());
    let top_documents = plan
        .documents
        .iter()
        .enumerate()
        .filter(|(_, d)| d.folder.is_none());
    // (destination, is a folder, index, name, old id)
    let names: Vec<(Option<Uuid>, bool, usize, &str, &str)> = top_folders
        .map(|(i, f)| (f.dest, true, i, f.name.as_str(), f.old.as_str()))
        .chain(top_documents.map(|(i, d)| (d.dest, false, i, d.title.as_str(), d.old.as_str())))
        .collect();
    let destinations: BTreeSet<Option<Uuid>> = names.iter().map(|n| n.0).collect();
    for dest in destinations {
        if let Some(folder) = dest {
            if folders::find(scope, txn, folder).await?.is_none() {
                // Deleted since the import began.
                return Err(fail(ErrorCode::FolderNotFound));
            }
            // Moved deeper since, perhaps: the archive's folders must still fit below it.
            let room = depth::MAX_DEPTH.saturating_sub(depth::of(scope, txn, dest).await?);
            if super::select::plan_height(plan) > room {
                return Err(depth::exceeded());
            }
        }
        let here: Vec<_> = names.iter().filter(|n| n.0 == dest).collect();
        resolve_in(scope, txn, dest, &here, options, &mut r).await?;
    }
    r.propagate(plan);
    Ok(r)
}

/// Applies the conflict policy to the archive's entries `names` that go into `dest`.
async fn resolve_in(
    scope: &TenantScope,
    txn: &impl ConnectionTrait,
    dest: Option<Uuid>,
    names: &[&(Option<Uuid>, bool, usize, &str, &str)],
    options: Options,
    r: &mut Resolution,
) -> Result<()> {
    let mut holder: HashMap<String, (Uuid, ConflictHolder)> = HashMap::new();
    for f in folders::children(scope, txn, dest).await? {
        holder.insert(f.name, (f.id, ConflictHolder::Folder));
    }
    for d in documents::in_folder(scope, txn, dest).await? {
        holder.insert(d.title, (d.id, ConflictHolder::Document));
    }
    let mut taken: HashSet<String> = holder.keys().cloned().collect();
    // Names the archive itself uses in this destination stay reserved for it.
    taken.extend(names.iter().map(|n| n.3.to_owned()));
    // Two items of the archive may meet in one destination (a selection from different
    // folders, into one target): the first keeps its name, the next is a conflict too.
    let mut arrived: HashMap<&str, &str> = HashMap::new();
    for &&(_, is_folder, index, name, old) in names {
        let (existing, object_type) = match holder.get(name) {
            Some((id, kind)) => (id.to_string(), *kind),
            None => match arrived.insert(name, old) {
                None => continue,
                Some(first) => {
                    arrived.insert(name, first);
                    (first.to_owned(), ConflictHolder::Archive)
                }
            },
        };
        let existing = &existing;
        let (resolution, new_name) = match options.on_conflict {
            OnConflict::Fail => {
                return Err(Error::About {
                    code: ErrorCode::ImportNameConflict,
                    id: existing.clone(),
                });
            }
            OnConflict::Skip => {
                if is_folder {
                    r.skipped_folders[index] = true;
                } else {
                    r.skipped_documents[index] = true;
                }
                (ConflictResolution::Skipped, None)
            }
            OnConflict::Rename => {
                let new = renamed(name, &taken);
                taken.insert(new.clone());
                if is_folder {
                    r.folder_names.insert(index, new.clone());
                } else {
                    r.document_names.insert(index, new.clone());
                }
                (ConflictResolution::Renamed, Some(new))
            }
        };
        r.conflicts.push(ImportConflict {
            object_type: if is_folder {
                ConflictObject::Folder
            } else {
                ConflictObject::Document
            },
            old_id: old.to_owned(),
            name: name.to_owned(),
            existing_id: existing.clone(),
            existing_type: object_type,
            resolution,
            new_name,
        });
    }
    Ok(())
}

impl Resolution {
    /// A skipped folder takes its subtree along (parents come before children).
    fn propagate(&mut self, plan: &Plan) {
        for i in 0..plan.folders.len() {
            if let Some(p) = plan.folders[i].parent
                && self.skipped_folders[p]
            {
                self.skipped_folders[i] = true;
            }
        }
        for (i, d) in plan.documents.iter().enumerate() {
            if d.folder.is_some_and(|f| self.skipped_folders[f]) {
                self.skipped_documents[i] = true;
            }
        }
    }

    /// Keeps skipped what `earlier` skipped (with its conflict reported), whether or not
    /// the clash is still there.
    pub(super) fn keep_skipped(&mut self, plan: &Plan, earlier: &Resolution) {
        let reported: HashSet<String> = self.conflicts.iter().map(|c| c.old_id.clone()).collect();
        for c in &earlier.conflicts {
            if c.resolution == ConflictResolution::Skipped && !reported.contains(&c.old_id) {
                self.conflicts.push(c.clone());
            }
        }
        for (mine, theirs) in [
            (&mut self.skipped_folders, &earlier.skipped_folders),
            (&mut self.skipped_documents, &earlier.skipped_documents),
        ] {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m |= *t;
            }
        }
        self.propagate(plan);
    }
}
