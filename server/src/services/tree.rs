//! The folder tree and its documents: create, rename, move, delete. Each function does one
//! whole change on the connection it is given (the caller's transaction); deletions return
//! the blob keys that became unreferenced, to remove only after the commit.
use api_spec::ErrorCode;
use entity::{document, folder};
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use super::names::{check_name, ensure_free, folder as load_folder};
use super::{access, depth, rules};
use crate::access::{AccessType, RuleSet};
use crate::auth::{AuthContext, TenantScope};
use crate::error::{Error, Result, fail};
use crate::storage::rules::Object;
use crate::storage::{documents, files, folders};

/// What a folder or document starts with.
pub struct NewNode<'a> {
    pub parent: Option<Uuid>,
    pub name: &'a str,
    pub rules: Option<RuleSet>,
    pub inherit: bool,
}

/// Creates a folder; with `exists_ok`, an existing folder of that name is returned instead
/// (`Ok((folder, true))`).
pub async fn create_folder(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    new: NewNode<'_>,
    exists_ok: bool,
) -> Result<(folder::Model, bool)> {
    check_name(new.name, "name")?;
    if let Some(parent) = new.parent {
        load_folder(auth.scope(), db, parent).await?;
    }
    access::require_folder_write(auth, db, new.parent).await?;
    if depth::of(auth.scope(), db, new.parent).await? >= depth::MAX_DEPTH {
        return Err(depth::exceeded());
    }
    match ensure_free(auth.scope(), db, new.parent, new.name, None).await {
        Err(Error::Conflict {
            id,
            object_type: "folder",
        }) if exists_ok => {
            let existing = load_folder(
                auth.scope(),
                db,
                super::names::parse_id(&id, ErrorCode::FolderNotFound)?,
            )
            .await?;
            return Ok((existing, true));
        }
        other => other?,
    }
    let created = folders::insert(auth.scope(), db, new.parent, new.name, new.inherit).await?;
    if let Some(set) = &new.rules {
        rules::apply(auth, db, Object::Folder(created.id), set).await?;
    }
    Ok((created, false))
}

/// Creates an (empty) document.
pub async fn create_document(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    new: NewNode<'_>,
) -> Result<document::Model> {
    check_name(new.name, "title")?;
    if let Some(parent) = new.parent {
        load_folder(auth.scope(), db, parent).await?;
    }
    access::require_folder_write(auth, db, new.parent).await?;
    // Documents add no level, but none goes where no folder could be made.
    depth::of(auth.scope(), db, new.parent).await?;
    ensure_free(auth.scope(), db, new.parent, new.name, None).await?;
    let created = documents::insert(auth.scope(), db, new.parent, new.name, new.inherit).await?;
    if let Some(set) = &new.rules {
        rules::apply(auth, db, Object::Document(created.id), set).await?;
    }
    Ok(created)
}

pub async fn rename_folder(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    id: Uuid,
    name: &str,
) -> Result<folder::Model> {
    check_name(name, "new_name")?;
    let mut f = load_folder(auth.scope(), db, id).await?;
    access::require(auth, db, Object::Folder(id), AccessType::Write).await?;
    ensure_free(auth.scope(), db, f.parent_id, name, Some(id)).await?;
    f.name = name.to_owned();
    folders::update(auth.scope(), db, f.clone()).await?;
    Ok(f)
}

pub async fn rename_document(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    id: Uuid,
    title: &str,
) -> Result<document::Model> {
    check_name(title, "new_title")?;
    let mut d = super::names::document(auth.scope(), db, id).await?;
    access::require(auth, db, Object::Document(id), AccessType::Write).await?;
    ensure_free(auth.scope(), db, d.folder_id, title, Some(id)).await?;
    d.title = title.to_owned();
    documents::update(auth.scope(), db, d.clone()).await?;
    Ok(d)
}

/// Checks move access to the object and write access to the target, which must exist.
async fn check_move(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    object: Object,
    target: Option<Uuid>,
) -> Result<()> {
    if let Some(t) = target {
        load_folder(auth.scope(), db, t).await?;
    }
    access::require(auth, db, object, AccessType::Move).await?;
    access::require_folder_write(auth, db, target).await
}

/// Moves a folder; not into itself or anywhere below it, nor so that its subtree would reach
/// deeper than the limit.
pub async fn move_folder(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    id: Uuid,
    target: Option<Uuid>,
) -> Result<folder::Model> {
    let mut f = load_folder(auth.scope(), db, id).await?;
    check_move(auth, db, Object::Folder(id), target).await?;
    let above = match target {
        Some(t) => depth::path_up(auth.scope(), db, t).await?,
        None => Vec::new(),
    };
    if above.iter().any(|a| a.id == id) {
        return Err(fail(ErrorCode::MoveCycle));
    }
    let room = depth::MAX_DEPTH - above.len() as u32;
    depth::require_height_within(auth.scope(), db, id, room).await?;
    ensure_free(auth.scope(), db, target, &f.name, Some(id)).await?;
    f.parent_id = target;
    folders::update(auth.scope(), db, f.clone()).await?;
    Ok(f)
}

pub async fn move_document(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    id: Uuid,
    target: Option<Uuid>,
) -> Result<document::Model> {
    let mut d = super::names::document(auth.scope(), db, id).await?;
    check_move(auth, db, Object::Document(id), target).await?;
    depth::of(auth.scope(), db, target).await?;
    ensure_free(auth.scope(), db, target, &d.title, Some(id)).await?;
    d.folder_id = target;
    documents::update(auth.scope(), db, d.clone()).await?;
    Ok(d)
}

/// Removes the documents' rows (revisions, rules and entries cascade) and then the files
/// nothing references any more; returns those files' blob keys.
pub(super) async fn remove_documents(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    ids: &[Uuid],
) -> Result<Vec<String>> {
    let file_ids = files::file_ids_of(scope, db, ids).await?;
    documents::delete(scope, db, ids).await?;
    let gone = files::delete_unreferenced(scope, db, &file_ids).await?;
    Ok(gone.into_iter().map(|f| f.storage_key).collect())
}

pub async fn delete_document(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<(document::Model, Vec<String>)> {
    let d = super::names::document(auth.scope(), db, id).await?;
    access::require(auth, db, Object::Document(id), AccessType::Write).await?;
    let keys = remove_documents(auth.scope(), db, &[id]).await?;
    Ok((d, keys))
}

/// Levels a delete walks below its folder: far beyond the limit, so that a subtree made
/// deeper before the limit existed still goes whole; a bound only against cycles in corrupt
/// data.
const DELETE_LEVELS: u32 = 100_000;

/// The folder and every folder below it, read in one query, each before its children.
pub(super) async fn subtree(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Vec<Uuid>> {
    let mut below = crate::storage::tree::descendants(scope, db, id, DELETE_LEVELS).await?;
    below.sort_by_key(|d| d.depth);
    Ok(below.into_iter().map(|d| d.id).collect())
}

/// Deletes a folder and everything below it, in the caller's one transaction: the documents,
/// then the folders deepest first, a slice at a time, so that no delete cascades through more
/// levels than a slice spans (SQLite fails a cascade deeper than 1,000 levels). A large
/// subtree is emptied first in slices that are transactions of their own
/// (`removal::delete_folder`), so that what is left here is small.
pub async fn delete_folder(
    auth: &AuthContext,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<(folder::Model, Vec<String>)> {
    let f = load_folder(auth.scope(), db, id).await?;
    access::require(auth, db, Object::Folder(id), AccessType::Write).await?;
    let keys = delete_subtree(auth.scope(), db, id).await?;
    Ok((f, keys))
}

/// [`delete_folder`] without its checks; returns the blob keys of the files that went.
pub(super) async fn delete_subtree(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    id: Uuid,
) -> Result<Vec<String>> {
    let below = subtree(scope, db, id).await?;
    let docs = documents::ids_in_folders(scope, db, &below, None).await?;
    let keys = remove_documents(scope, db, &docs).await?;
    for slice in below.rchunks(super::removal::SLICE) {
        folders::delete_many(scope, db, slice).await?;
    }
    Ok(keys)
}
