//! Access checks on folders and documents: the object's rules and explicit entries
//! (`crate::access::rules`), then — while `inherit` holds — those of each ancestor folder.
use api_spec::ErrorCode;
use sea_orm::ConnectionTrait;

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
        if granted {
            // An explicit grant is decisive for the object and everything it inherits from.
            return Ok(true);
        }
        if !rules::allows(&rule_set, access, auth.subject(), false) {
            return Ok(false);
        }
        current = match next(auth, db, object).await? {
            Next::Parent(parent) => Some(parent),
            Next::Done => None,
            Next::Missing => return Ok(false),
        };
    }
    Ok(true)
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
    folder: Option<uuid::Uuid>,
) -> Result<()> {
    match folder {
        Some(id) => require(auth, db, Object::Folder(id), AccessType::Write).await,
        None => Ok(()),
    }
}
