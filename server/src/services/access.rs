//! Access checks on folders and documents: the object's rules and explicit entries
//! (`crate::access::rules`), then — while `inherit` holds — those of each ancestor folder.
use api_spec::ErrorCode;
use std::collections::HashSet;

use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::access::{AccessType, RuleSet, rules};
use crate::auth::AuthContext;
use crate::error::{Error, Result, fail};
use crate::storage::rules::{self as stored, Object};
use crate::storage::{documents, folders};
use crate::time::now_ms;

/// Deeper than any sane tree; reaching it means a cycle in the data.
const MAX_DEPTH: usize = 10_000;

/// Where the walk goes after `object`.
enum Next {
    /// To the parent folder, whose rules apply too.
    Parent(Object),
    /// Nowhere: the object does not inherit, or is at the top level.
    Done,
    /// The object does not exist (any more).
    Missing,
}

/// The object the walk continues with, if `object` inherits from a parent folder.
async fn next(auth: &AuthContext, db: &impl ConnectionTrait, object: Object) -> Result<Next> {
    let scope = auth.scope();
    let parent = match object {
        Object::Document(id) => documents::find(scope, db, id)
            .await?
            .map(|d| d.folder_id.filter(|_| d.inherit)),
        Object::Folder(id) => folders::find(scope, db, id)
            .await?
            .map(|f| f.parent_id.filter(|_| f.inherit)),
    };
    Ok(match parent {
        None => Next::Missing,
        Some(None) => Next::Done,
        Some(Some(folder)) => Next::Parent(Object::Folder(folder)),
    })
}

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
    Ok(if granted {
        Some(true)
    } else if !rules::allows(rule_set, access, auth.subject(), false) {
        Some(false)
    } else {
        None
    })
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
    let now = now_ms();
    let mut current = Some(object);
    let mut depth = 0;
    while let Some(object) = current {
        depth += 1;
        if depth > MAX_DEPTH {
            return Err(Error::Internal("folder cycle while checking access".into()));
        }
        let rule_set: RuleSet = stored::rules_of(auth.scope(), db, object).await?;
        if let Some(decided) = own_level(auth, db, object, &rule_set, access, now).await? {
            return Ok(decided);
        }
        current = match next(auth, db, object).await? {
            Next::Parent(parent) => Some(parent),
            Next::Done => None,
            Next::Missing => return Ok(false),
        };
    }
    Ok(true)
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
    let now = now_ms();
    let ids: Vec<Uuid> = children.iter().map(|(id, _)| *id).collect();
    let rule_sets = stored::rules_of_many(auth.scope(), db, folders, &ids).await?;
    let granted = stored::granted_among(
        auth.scope(),
        db,
        folders,
        &ids,
        access,
        auth.user_id(),
        auth.group_ids(),
        now,
    )
    .await?;
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
