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

/// The object the walk continues with, if `object` inherits from a parent folder.
async fn inherited_parent(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    object: Object,
) -> Result<Option<Object>> {
    let scope = auth.scope();
    Ok(match object {
        Object::Document(id) => documents::find(scope, db, id)
            .await?
            .filter(|d| d.inherit)
            .and_then(|d| d.folder_id)
            .map(Object::Folder),
        Object::Folder(id) => folders::find(scope, db, id)
            .await?
            .filter(|f| f.inherit)
            .and_then(|f| f.parent_id)
            .map(Object::Folder),
    })
}

/// Whether the caller may have `access` to `object`.
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
        current = inherited_parent(auth, db, object).await?;
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
