//! Access checks on folders and documents: the object's rules and explicit entries
//! (`crate::access::rules`), then — while `inherit` holds — those of each ancestor folder,
//! all ancestors read at once (a bounded number of queries at any depth).
use api_spec::ErrorCode;
use std::collections::{HashMap, HashSet};

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::depth;
use crate::access::{AccessType, RuleSet, rules};
use crate::auth::AuthContext;
use crate::error::{Result, fail};
use crate::storage::rules::{self as stored, Object};
use crate::storage::{ID_SLICE, documents, tree};
use crate::time::now_ms;

/// What `object` itself decides: `Some(true)` if an entry grants the access (an explicit
/// grant is decisive for the object and everything it inherits from), `Some(false)` if its
/// rules refuse it, `None` if the decision lies with the parent (when it inherits).
async fn own_level(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    object: Object,
    rule_set: &RuleSet,
    access: AccessType,
    now: i64,
) -> Result<Option<bool>> {
    let granted = stored::has_entry(
        auth.scope(),
        db,
        object,
        access,
        auth.user_id(),
        auth.group_ids(),
        now,
    )
    .await?;
    Ok(decide(granted, rule_set, auth, access))
}

/// One level's decision: see [`own_level`].
fn decide(
    granted: bool,
    rule_set: &RuleSet,
    auth: &AuthContext,
    access: AccessType,
) -> Option<bool> {
    if granted {
        Some(true)
    } else if !rules::allows(rule_set, access, auth.subject(), false) {
        Some(false)
    } else {
        None
    }
}

/// Whether the caller may have `access` to `object`. An object that does not exist allows
/// nothing: actions check existence first, but a listener checks an event's object when the
/// event arrives, and an object deleted meanwhile has no rules left — allowing it would hand
/// its events (ids and changes that an unreadable folder hid) to every listener.
pub async fn allowed(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    object: Object,
    access: AccessType,
) -> Result<bool> {
    let folder = match object {
        Object::Folder(id) => id,
        Object::Document(id) => {
            let Some(d) = documents::find(auth.scope(), db, id).await? else {
                return Ok(false);
            };
            let rule_set = stored::rules_of(auth.scope(), db, object).await?;
            if let Some(decided) = own_level(auth, db, object, &rule_set, access, now_ms()).await? {
                return Ok(decided);
            }
            match d.folder_id.filter(|_| d.inherit) {
                Some(folder) => folder,
                None => return Ok(true),
            }
        }
    };
    folder_allowed(auth, db, folder, access).await
}

/// [`allowed`] for a folder: the folders from it up to the first that does not inherit, read
/// in one query (`storage::tree::ancestors`), then their rules and entries in one query each — three
/// queries whatever the depth, where walking level by level took three per level.
async fn folder_allowed(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    folder: Uuid,
    access: AccessType,
) -> Result<bool> {
    let path = tree::ancestors(auth.scope(), db, folder, depth::MAX_DEPTH + 1).await?;
    // The levels that decide: up to and including the first that does not inherit.
    let levels = path
        .iter()
        .position(|f| !f.inherit)
        .map_or(path.len(), |i| i + 1);
    if levels > depth::MAX_DEPTH as usize {
        // Inheritance reaching above a folder deeper than the limit (only older data).
        return Err(depth::exceeded());
    }
    let path = &path[..levels];
    let Some(last) = path.last() else {
        return Ok(false);
    };
    if last.inherit && last.parent_id.is_some() {
        // The walk ended below the top at a parent that is not there.
        return Ok(false);
    }
    let ids: Vec<Uuid> = path.iter().map(|f| f.id).collect();
    let (rule_sets, granted) = rules_and_grants(auth, db, true, &ids, access).await?;
    let no_rules = RuleSet::new();
    for id in &ids {
        let rule_set = rule_sets.get(id).unwrap_or(&no_rules);
        if let Some(decided) = decide(granted.contains(id), rule_set, auth, access) {
            return Ok(decided);
        }
    }
    Ok(true)
}

/// The rules of these folders (`folders: true`) or documents, and which of them a live entry
/// grants `access` to the caller: two queries per slice of ids, so no query binds more values
/// than a database accepts.
async fn rules_and_grants(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    folders: bool,
    ids: &[Uuid],
    access: AccessType,
) -> Result<(HashMap<Uuid, RuleSet>, HashSet<Uuid>)> {
    let now = now_ms();
    let (mut rule_sets, mut granted) = (HashMap::new(), HashSet::new());
    for slice in ids.chunks(ID_SLICE) {
        rule_sets.extend(stored::rules_of_many(auth.scope(), db, folders, slice).await?);
        granted.extend(
            stored::granted_among(
                auth.scope(),
                db,
                folders,
                slice,
                access,
                auth.user_id(),
                auth.group_ids(),
                now,
            )
            .await?,
        );
    }
    Ok((rule_sets, granted))
}

/// Which of `folders` and `documents` (each with its parent folder if it inherits) the caller
/// may have `access` to — for each exactly what [`allowed`] answers, except that an object
/// whose inheritance reaches deeper than the limit (only data made before it) is left out
/// rather than failing the whole answer. For a search's hits: a bounded number of queries
/// per slice of ids, where checking each hit walked its whole chain (256 hits on one
/// 256-level chain took 2.2 s).
pub async fn allowed_among(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    folders: &[Uuid],
    documents: &[(Uuid, Option<Uuid>)],
    access: AccessType,
) -> Result<(HashSet<Uuid>, HashSet<Uuid>)> {
    let doc_ids: Vec<Uuid> = documents.iter().map(|(id, _)| *id).collect();
    let (doc_rules, doc_granted) = rules_and_grants(auth, db, false, &doc_ids, access).await?;
    let no_rules = RuleSet::new();
    let mut docs_allowed = HashSet::new();
    // Documents whose decision lies with their folder, by folder.
    let mut pending: Vec<(Uuid, Uuid)> = Vec::new();
    for &(id, parent) in documents {
        let own = doc_rules.get(&id).unwrap_or(&no_rules);
        match (decide(doc_granted.contains(&id), own, auth, access), parent) {
            (Some(true), _) | (None, None) => {
                docs_allowed.insert(id);
            }
            (Some(false), _) => {}
            (None, Some(folder)) => pending.push((id, folder)),
        }
    }
    let mut starts: Vec<Uuid> = folders.to_vec();
    starts.extend(pending.iter().map(|(_, f)| *f));
    starts.sort_unstable();
    starts.dedup();
    let mut forest = HashMap::new();
    for slice in starts.chunks(ID_SLICE) {
        for a in tree::inheriting_ancestors(auth.scope(), db, slice).await? {
            forest.insert(a.id, (a.parent_id, a.inherit));
        }
    }
    let ids: Vec<Uuid> = forest.keys().copied().collect();
    let (rules, granted) = rules_and_grants(auth, db, true, &ids, access).await?;
    let mut walk = Walk {
        auth,
        access,
        forest,
        rules,
        granted,
        memo: HashMap::new(),
    };
    let mut folder_ok = |start: Uuid| walk.folder(start);
    let folders_allowed = folders
        .iter()
        .copied()
        .filter(|f| folder_ok(*f) == Some(true))
        .collect();
    for (id, folder) in pending {
        if folder_ok(folder) == Some(true) {
            docs_allowed.insert(id);
        }
    }
    Ok((folders_allowed, docs_allowed))
}

/// Walks folders up their inheritance for [`allowed_among`], remembering each decision.
struct Walk<'a> {
    auth: &'a AuthContext,
    access: AccessType,
    /// Each folder's parent and whether it inherits.
    forest: HashMap<Uuid, (Option<Uuid>, bool)>,
    rules: HashMap<Uuid, RuleSet>,
    granted: HashSet<Uuid>,
    /// Per folder already walked: its decision, and how many levels the walk from it took.
    memo: HashMap<Uuid, (bool, usize)>,
}

impl Walk<'_> {
    /// Whether the caller may have the access to folder `start`; None when its inheritance
    /// reaches deeper than the limit.
    fn folder(&mut self, start: Uuid) -> Option<bool> {
        let no_rules = RuleSet::new();
        let mut path = Vec::new();
        let mut current = Some(start);
        let (result, beyond) = loop {
            let Some(id) = current else {
                break (true, 0);
            };
            if let Some(&known) = self.memo.get(&id) {
                break known;
            }
            let Some(&(parent, inherit)) = self.forest.get(&id) else {
                break (false, 0);
            };
            path.push(id);
            let own = self.rules.get(&id).unwrap_or(&no_rules);
            if let Some(decided) = decide(self.granted.contains(&id), own, self.auth, self.access) {
                break (decided, 0);
            }
            current = parent.filter(|_| inherit);
        };
        let levels = path.len() + beyond;
        if levels > depth::MAX_DEPTH as usize {
            // Inheritance reaching deeper than the limit: left out, nothing remembered.
            return None;
        }
        // Every folder on the way has the same decision, from fewer levels.
        self.memo.extend(
            path.into_iter()
                .enumerate()
                .map(|(i, id)| (id, (result, levels - i))),
        );
        Some(result)
    }
}

/// [`allowed`], for an object whose rules and parent folder (`None` if it does not inherit,
/// or is at the top level) the caller has already read.
pub async fn allowed_given(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    (object, parent): (Object, Option<Uuid>),
    rule_set: &RuleSet,
    access: AccessType,
) -> Result<bool> {
    if let Some(decided) = own_level(auth, db, object, rule_set, access, now_ms()).await? {
        return Ok(decided);
    }
    match parent {
        Some(folder) => allowed(auth, db, Object::Folder(folder), access).await,
        None => Ok(true),
    }
}

/// Which of `children` — all folders (`folders: true`) or all documents, each with its
/// `inherit` flag, directly in `parent` (`None`: the top level) — the caller may have `access`
/// to: for each, exactly what [`allowed`] answers, in a bounded number of queries rather than
/// three per child and ancestor. A child
/// is allowed if an entry grants it, or if its own rules allow and — when it inherits — the
/// parent is allowed; the parent's walk is shared by all children.
pub async fn allowed_children(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    (parent, folders): (Option<Uuid>, bool),
    children: &[(Uuid, bool)],
    access: AccessType,
) -> Result<HashSet<Uuid>> {
    if children.is_empty() {
        return Ok(HashSet::new());
    }
    let ids: Vec<Uuid> = children.iter().map(|(id, _)| *id).collect();
    let (rule_sets, granted) = rules_and_grants(auth, db, folders, &ids, access).await?;
    let no_rules = RuleSet::new();
    let mut parent_allowed = None;
    let mut allowed_ids = HashSet::new();
    for &(id, inherit) in children {
        if !granted.contains(&id) {
            let own = rule_sets.get(&id).unwrap_or(&no_rules);
            if !rules::allows(own, access, auth.subject(), false) {
                continue;
            }
            if let Some(parent) = parent.filter(|_| inherit) {
                let parent_ok = match parent_allowed {
                    Some(known) => known,
                    None => *parent_allowed
                        .insert(allowed(auth, db, Object::Folder(parent), access).await?),
                };
                if !parent_ok {
                    continue;
                }
            }
        }
        allowed_ids.insert(id);
    }
    Ok(allowed_ids)
}

/// `access_denied` unless [`allowed`].
pub async fn require(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    object: Object,
    access: AccessType,
) -> Result<()> {
    if allowed(auth, db, object, access).await? {
        Ok(())
    } else {
        Err(fail(ErrorCode::AccessDenied))
    }
}

/// Write access to a folder, or — for the top level, which has no rules — nothing.
pub async fn require_folder_write(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    folder: Option<Uuid>,
) -> Result<()> {
    match folder {
        Some(id) => require(auth, db, Object::Folder(id), AccessType::Write).await,
        None => Ok(()),
    }
}
