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
    let mut p = Planner::default();
    // Files first: documents refer to them; folders before documents, which they hold.
    each_line(staging, m::FILES, |f| p.file(staging, f))?;
    each_line(staging, m::FOLDERS, |f| p.folder(f))?;
    each_line(staging, m::DOCUMENTS, |d| p.document(d))?;
    each_line(staging, m::USERS, |u: m::UserLine| {
        p.plan.users.insert(u.username);
        p.groups.extend(u.groups);
        Ok(())
    })?;
    each_line(staging, m::GROUPS, |g: m::GroupLine| {
        p.groups.insert(g.name);
        Ok(())
    })?;
    each_line(staging, m::ACCESS_ENTRIES, |e| p.entry(e))?;
    p.plan.groups = p.groups;
    Ok(p.plan)
}

/// A plan being read, with the indexes that check each line against the lines before it.
#[derive(Default)]
struct Planner {
    plan: Plan,
    file_ids: HashMap<String, usize>,
    by_sha: HashMap<String, usize>,
    /// Sibling names taken, by parent folder.
    names: HashSet<(Option<usize>, String)>,
    folder_ids: HashMap<String, usize>,
    /// Each folder's depth (parents come first, so a parent's is known): an archive deeper
    /// than the server's limit is refused before anything is written.
    depths: Vec<u32>,
    groups: BTreeSet<String>,
    document_ids: HashMap<String, usize>,
    revision_ids: HashSet<String>,
    revisions_total: u64,
}

impl Planner {
    fn file(&mut self, staging: &Staging, f: m::FileLine) -> Result<()> {
        if !m::is_sha256(&f.sha256) || self.file_ids.contains_key(&f.id) {
            return Err(invalid());
        }
        if !staging.blob(&f.sha256).is_file() {
            return Err(dangling(&f.id));
        }
        // One line per content: an exporter never lists the same bytes twice.
        if self.by_sha.contains_key(&f.sha256) {
            return Err(invalid());
        }
        self.by_sha.insert(f.sha256.clone(), self.plan.files.len());
        self.file_ids.insert(f.id.clone(), self.plan.files.len());
        self.plan.files.push(FilePlan {
            old_ids: vec![f.id],
            sha256: f.sha256,
            size: f.size,
        });
        Ok(())
    }

    /// The index of the folder the archive calls `id` (None: the top level).
    fn folder_of(&self, id: &Option<String>) -> Result<Option<usize>> {
        match id {
            None => Ok(None),
            Some(f) => Ok(Some(*self.folder_ids.get(f).ok_or_else(|| dangling(f))?)),
        }
    }

    fn folder(&mut self, f: m::FolderLine) -> Result<()> {
        if self.folder_ids.contains_key(&f.id) {
            return Err(invalid());
        }
        let parent = self.folder_of(&f.parent_id)?;
        claim_name(&mut self.names, parent, &f.name)?;
        let depth = parent.map_or(0, |p| self.depths[p]) + 1;
        if depth > depth::MAX_DEPTH {
            return Err(depth::exceeded());
        }
        self.depths.push(depth);
        self.folder_ids
            .insert(f.id.clone(), self.plan.folders.len());
        let rules = rules(f.rules, &mut self.groups)?;
        self.plan.folders.push(FolderPlan {
            old: f.id,
            id: Uuid::now_v7(),
            parent,
            name: f.name,
            inherit: f.inherit,
            created_at: f.created_at,
            last_modified: f.last_modified,
            rules,
            dest: None,
            ancestor_only: false,
        });
        Ok(())
    }

    fn document(&mut self, d: m::DocumentLine) -> Result<()> {
        if self.document_ids.contains_key(&d.id) {
            return Err(invalid());
        }
        let folder = self.folder_of(&d.folder_id)?;
        claim_name(&mut self.names, folder, &d.title)?;
        self.revisions_total += d.revisions.len() as u64;
        if self.revisions_total > m::MAX_COUNT {
            return Err(invalid());
        }
        let (revisions, mine) = self.revisions(d.revisions)?;
        let current = match &d.current_revision_id {
            None => None,
            Some(c) => Some(*mine.get(c).ok_or_else(|| dangling(c))?),
        };
        self.document_ids
            .insert(d.id.clone(), self.plan.documents.len());
        let rules = rules(d.rules, &mut self.groups)?;
        self.plan.documents.push(DocumentPlan {
            old: d.id,
            id: Uuid::now_v7(),
            folder,
            title: d.title,
            inherit: d.inherit,
            created_at: d.created_at,
            last_modified: d.last_modified,
            current,
            rules,
            revisions,
            dest: None,
        });
        Ok(())
    }

    /// A document's revisions, each with its new id (and the map from the archive's ids).
    fn revisions(
        &mut self,
        lines: Vec<m::RevisionLine>,
    ) -> Result<(Vec<RevisionPlan>, HashMap<String, Uuid>)> {
        let mut mine: HashMap<String, Uuid> = HashMap::new();
        let mut revisions = Vec::with_capacity(lines.len());
        for r in lines {
            if !self.revision_ids.insert(r.id.clone()) {
                return Err(invalid());
            }
            let file = *self
                .file_ids
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
        Ok((revisions, mine))
    }

    fn entry(&mut self, e: m::AccessEntryLine) -> Result<()> {
        let index = |ids: &HashMap<String, usize>| {
            ids.get(&e.target_id)
                .copied()
                .ok_or_else(|| dangling(&e.target_id))
        };
        let target = match e.target_type.as_str() {
            "directory" => Target::Folder(index(&self.folder_ids)?),
            "document" => Target::Document(index(&self.document_ids)?),
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
            self.groups.insert(e.entity.clone());
        } else {
            self.plan.users.insert(e.entity.clone());
        }
        self.plan.entries.push(EntryPlan {
            group,
            entity: e.entity,
            target,
            access_type: e.access_type,
            start_time: e.start_time,
            end_time: e.end_time,
        });
        Ok(())
    }
}
