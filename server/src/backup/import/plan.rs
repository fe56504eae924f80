//! Second pass of an import: read the staged manifests and check every reference against
//! the archive itself — a folder's parent, a document's folder, a revision's file and parent,
//! a current revision, an access entry's target — never against rows outside it (CFMS
//! fault 7). Every object gets a fresh id here; nothing touches the database.
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};

use api_spec::ErrorCode;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::unpack::Staging;
use crate::access::{AccessType, Rule, RuleSet};
use crate::archive::manifest::{self as m};
use crate::error::{Error, Result, fail};
use crate::services::depth;
use crate::services::names::check_name;

pub struct FolderPlan {
    pub old: String,
    pub id: Uuid,
    /// The parent's index in `Plan::folders` (parents come first).
    pub parent: Option<usize>,
    pub name: String,
    pub inherit: bool,
    pub created_at: i64,
    pub last_modified: i64,
    pub rules: RuleSet,
    /// For a top-level folder: the tenant's folder it goes into (none: the top level).
    pub dest: Option<Uuid>,
    /// Kept by a partial import only as the folder above a selected item (`select`).
    pub ancestor_only: bool,
}

pub struct RevisionPlan {
    pub old: String,
    pub id: Uuid,
    /// Index in `Plan::files`.
    pub file: usize,
    pub parent: Option<Uuid>,
    pub created_at: i64,
}

pub struct DocumentPlan {
    pub old: String,
    pub id: Uuid,
    /// Index in `Plan::folders`.
    pub folder: Option<usize>,
    pub title: String,
    pub inherit: bool,
    pub created_at: i64,
    pub last_modified: i64,
    pub current: Option<Uuid>,
    pub rules: RuleSet,
    pub revisions: Vec<RevisionPlan>,
    /// For a top-level document: the tenant's folder it goes into (none: the top level).
    pub dest: Option<Uuid>,
}

/// One distinct content (archives may list one hash under several file ids).
pub struct FilePlan {
    pub old_ids: Vec<String>,
    pub sha256: String,
    pub size: u64,
}

pub enum Target {
    Folder(usize),
    Document(usize),
}

pub struct EntryPlan {
    pub group: bool,
    pub entity: String,
    pub target: Target,
    pub access_type: String,
    pub start_time: i64,
    pub end_time: Option<i64>,
}

/// Everything an archive holds, checked and given fresh ids.
#[derive(Default)]
pub struct Plan {
    pub folders: Vec<FolderPlan>,
    pub documents: Vec<DocumentPlan>,
    pub files: Vec<FilePlan>,
    pub entries: Vec<EntryPlan>,
    /// Principal names the archive mentions: its users, its groups, and the groups its
    /// rules require.
    pub users: BTreeSet<String>,
    pub groups: BTreeSet<String>,
}

impl Plan {
    pub fn revisions(&self) -> usize {
        self.documents.iter().map(|d| d.revisions.len()).sum()
    }
}

fn invalid() -> Error {
    fail(ErrorCode::BackupManifestInvalid)
}

/// A reference to something the archive does not hold, naming the reference.
fn dangling(id: &str) -> Error {
    Error::About {
        code: ErrorCode::ImportReferenceInvalid,
        id: id.to_owned(),
    }
}

/// Calls `each` with every line of a staged manifest.
fn each_line<T: DeserializeOwned>(
    staging: &Staging,
    name: &str,
    mut each: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    let file = File::open(staging.manifest(name)).map_err(|_| invalid())?;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|_| invalid())?;
        each(serde_json::from_str(&line).map_err(|_| invalid())?)?;
    }
    Ok(())
}

fn rules(raw: m::Rules, groups: &mut BTreeSet<String>) -> Result<RuleSet> {
    let mut set = RuleSet::new();
    for (name, list) in raw {
        let t = AccessType::parse(&name).ok_or_else(invalid)?;
        let parsed: Vec<Rule> = list
            .into_iter()
            .map(|r| serde_json::from_value(r).map_err(|_| invalid()))
            .collect::<Result<_>>()?;
        for rule in &parsed {
            for g in rule.match_groups.iter().filter_map(|mg| mg.groups.as_ref()) {
                groups.extend(g.require.iter().cloned());
            }
        }
        set.insert(t, parsed);
    }
    Ok(set)
}

/// Sibling names are unique within the archive, as on any server.
fn claim_name(
    names: &mut HashSet<(Option<usize>, String)>,
    parent: Option<usize>,
    name: &str,
) -> Result<()> {
    check_name(name, "name").map_err(|_| invalid())?;
    if !names.insert((parent, name.to_owned())) {
        return Err(invalid());
    }
    Ok(())
}

/// Reads and checks the staged manifests.
pub fn plan(staging: &Staging) -> Result<Plan> {
    let mut plan = Plan::default();
    // Files first: documents refer to them.
    let mut file_ids: HashMap<String, usize> = HashMap::new();
    let mut by_sha: HashMap<String, usize> = HashMap::new();
    each_line(staging, m::FILES, |f: m::FileLine| {
        if !m::is_sha256(&f.sha256) || file_ids.contains_key(&f.id) {
            return Err(invalid());
        }
        if !staging.blob(&f.sha256).is_file() {
            return Err(dangling(&f.id));
        }
        // One line per content: an exporter never lists the same bytes twice.
        if by_sha.contains_key(&f.sha256) {
            return Err(invalid());
        }
        by_sha.insert(f.sha256.clone(), plan.files.len());
        file_ids.insert(f.id.clone(), plan.files.len());
        plan.files.push(FilePlan {
            old_ids: vec![f.id],
            sha256: f.sha256,
            size: f.size,
        });
        Ok(())
    })?;
    let mut names: HashSet<(Option<usize>, String)> = HashSet::new();
    let mut folder_ids: HashMap<String, usize> = HashMap::new();
    // Each folder's depth (parents come first, so a parent's is known): an archive deeper
    // than the server's limit is refused before anything is written.
    let mut depths: Vec<u32> = Vec::new();
    let mut groups = BTreeSet::new();
    each_line(staging, m::FOLDERS, |f: m::FolderLine| {
        if folder_ids.contains_key(&f.id) {
            return Err(invalid());
        }
        let parent = match &f.parent_id {
            None => None,
            Some(p) => Some(*folder_ids.get(p).ok_or_else(|| dangling(p))?),
        };
        claim_name(&mut names, parent, &f.name)?;
        let depth = parent.map_or(0, |p| depths[p]) + 1;
        if depth > depth::MAX_DEPTH {
            return Err(depth::exceeded());
        }
        depths.push(depth);
        folder_ids.insert(f.id.clone(), plan.folders.len());
        plan.folders.push(FolderPlan {
            old: f.id,
            id: Uuid::now_v7(),
            parent,
            name: f.name,
            inherit: f.inherit,
            created_at: f.created_at,
            last_modified: f.last_modified,
            rules: rules(f.rules, &mut groups)?,
            dest: None,
            ancestor_only: false,
        });
        Ok(())
    })?;
    let mut document_ids: HashMap<String, usize> = HashMap::new();
    let mut revision_ids: HashSet<String> = HashSet::new();
    let mut revisions_total = 0u64;
    each_line(staging, m::DOCUMENTS, |d: m::DocumentLine| {
        if document_ids.contains_key(&d.id) {
            return Err(invalid());
        }
        let folder = match &d.folder_id {
            None => None,
            Some(f) => Some(*folder_ids.get(f).ok_or_else(|| dangling(f))?),
        };
        claim_name(&mut names, folder, &d.title)?;
        revisions_total += d.revisions.len() as u64;
        if revisions_total > m::MAX_COUNT {
            return Err(invalid());
        }
        let mut mine: HashMap<String, Uuid> = HashMap::new();
        let mut revisions = Vec::with_capacity(d.revisions.len());
        for r in d.revisions {
            if !revision_ids.insert(r.id.clone()) {
                return Err(invalid());
            }
            let file = *file_ids
                .get(&r.file_id)
                .ok_or_else(|| dangling(&r.file_id))?;
            let parent = match &r.parent_revision_id {
                None => None,
                Some(p) => Some(*mine.get(p).ok_or_else(|| dangling(p))?),
            };
            let id = Uuid::now_v7();
            mine.insert(r.id.clone(), id);
            revisions.push(RevisionPlan {
                old: r.id,
                id,
                file,
                parent,
                created_at: r.created_at,
            });
        }
        let current = match &d.current_revision_id {
            None => None,
            Some(c) => Some(*mine.get(c).ok_or_else(|| dangling(c))?),
        };
        document_ids.insert(d.id.clone(), plan.documents.len());
        plan.documents.push(DocumentPlan {
            old: d.id,
            id: Uuid::now_v7(),
            folder,
            title: d.title,
            inherit: d.inherit,
            created_at: d.created_at,
            last_modified: d.last_modified,
            current,
            rules: rules(d.rules, &mut groups)?,
            revisions,
            dest: None,
        });
        Ok(())
    })?;
    each_line(staging, m::USERS, |u: m::UserLine| {
        plan.users.insert(u.username);
        groups.extend(u.groups);
        Ok(())
    })?;
    each_line(staging, m::GROUPS, |g: m::GroupLine| {
        groups.insert(g.name);
        Ok(())
    })?;
    each_line(staging, m::ACCESS_ENTRIES, |e: m::AccessEntryLine| {
        let target = match e.target_type.as_str() {
            "directory" => Target::Folder(
                *folder_ids
                    .get(&e.target_id)
                    .ok_or_else(|| dangling(&e.target_id))?,
            ),
            "document" => Target::Document(
                *document_ids
                    .get(&e.target_id)
                    .ok_or_else(|| dangling(&e.target_id))?,
            ),
            _ => return Err(invalid()),
        };
        let group = match e.entity_type.as_str() {
            "user" => false,
            "group" => true,
            _ => return Err(invalid()),
        };
        if AccessType::parse(&e.access_type).is_none() {
            return Err(invalid());
        }
        if group {
            groups.insert(e.entity.clone());
        } else {
            plan.users.insert(e.entity.clone());
        }
        plan.entries.push(EntryPlan {
            group,
            entity: e.entity,
            target,
            access_type: e.access_type,
            start_time: e.start_time,
            end_time: e.end_time,
        });
        Ok(())
    })?;
    plan.groups = groups;
    Ok(plan)
}
