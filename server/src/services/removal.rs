//! Deleting a folder with a large subtree without holding the write lock for long. One
//! transaction for the whole subtree held SQLite's single write lock for as long as it took
//! (51 s for 16,500 children), and every other tenant's writes failed meanwhile. Here the
//! subtree's documents, then its folders, go in slices of at most [`SLICE`] rows, each slice
//! its own short write transaction, so that other writers take their turn between slices; the
//! folder itself goes last, in one transaction with whatever was added below it meanwhile.
//!
//! The price: the delete is no longer all-or-nothing. While it runs, a listing may show the
//! subtree partly gone; a server that stops halfway leaves the folder with what was not yet
//! removed, and deleting it again finishes the work. (Marking the subtree deleted at once
//! and hiding it from every lookup was the alternative: every query on folders and documents
//! would have had to check the ancestors' mark.)
use std::time::{Duration, Instant};

use api_spec::events::Change;
use entity::folder;
use uuid::Uuid;

use super::{access, names, transfers, tree};
use crate::access::AccessType;
use crate::app::AppState;
use crate::auth::{AuthContext, TenantScope};
use crate::error::Result;
use crate::storage::rules::Object;
use crate::storage::{ID_SLICE, documents, folders};

/// Rows deleted per transaction: documents (with their revisions, rules and entries), or
/// folders.
pub const SLICE: usize = 500;

/// Longest pause after a slice (see [`pause`]).
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// Writers of this server queue fairly for their turn (`db::WriteGate`), but a few writes
/// (sessions, audit rows, job heartbeats) go straight to SQLite, whose busy handler retries
/// only every 100 ms once it has waited a while: after each slice the lock stays free as long
/// as the slice held it (up to 100 ms), so those find it free too.
pub async fn pause(since: Instant) {
    tokio::time::sleep(since.elapsed().min(MAX_PAUSE)).await;
}

/// Deletes a folder and everything below it, slice by slice, and announces it with the last
/// transaction's commit; returns the folder as it was.
pub async fn delete_folder(
    state: &AppState,
    auth: &AuthContext,
    id: Uuid,
) -> Result<folder::Model> {
    // Checked before the first slice goes, and again by the last transaction.
    names::folder(auth.scope(), &state.db, id).await?;
    access::require(auth, &state.db, Object::Folder(id), AccessType::Write).await?;
    empty_below(state, auth.scope(), id).await?;
    let mut w = state.write().await?;
    let (folder, keys) = tree::delete_folder(auth, w.txn(), id).await?;
    super::events::directory_changed(&mut w, auth, &folder, Change::Deleted);
    w.commit().await?;
    // Blobs go only once the rows that referenced them are gone for good.
    transfers::remove_blobs(state, keys).await;
    Ok(folder)
}

/// Removes a folder that no user reaches (an import's staging folder) and everything below
/// it, slice by slice, with no access check.
pub async fn remove_hidden(state: &AppState, scope: &TenantScope, id: Uuid) -> Result<()> {
    empty_below(state, scope, id).await?;
    let (turn, txn) = state.begin_write().await?;
    let keys = tree::delete_subtree(scope, &txn, id).await?;
    txn.commit().await?;
    drop(turn);
    transfers::remove_blobs(state, keys).await;
    Ok(())
}

/// Removes what lies below folder `id`, slice by slice: its documents, then its subfolders
/// (what is added meanwhile is left for the caller's last transaction).
async fn empty_below(state: &AppState, scope: &TenantScope, id: Uuid) -> Result<()> {
    let below = tree::subtree(scope, &state.db, id).await?;
    for group in below.chunks(ID_SLICE) {
        while remove_slice(state, scope, group).await? {}
    }
    // Deepest first (the subtree lists each folder before its children), so a slice's
    // folders have no subfolders left for the cascade to reach.
    for group in below.get(1..).unwrap_or_default().rchunks(SLICE) {
        let started = Instant::now();
        let (turn, txn) = state.begin_write().await?;
        // Documents created in these folders since their slice went.
        let docs = documents::ids_in_folders(scope, &txn, group, None).await?;
        let keys = tree::remove_documents(scope, &txn, &docs).await?;
        folders::delete_many(scope, &txn, group).await?;
        txn.commit().await?;
        drop(turn);
        transfers::remove_blobs(state, keys).await;
        pause(started).await;
    }
    Ok(())
}

/// Removes up to [`SLICE`] documents inside `group` in one transaction; false when there
/// were none left.
async fn remove_slice(state: &AppState, scope: &TenantScope, group: &[Uuid]) -> Result<bool> {
    let started = Instant::now();
    let (turn, txn) = state.begin_write().await?;
    let docs = documents::ids_in_folders(scope, &txn, group, Some(SLICE)).await?;
    if docs.is_empty() {
        return Ok(false);
    }
    let keys = tree::remove_documents(scope, &txn, &docs).await?;
    txn.commit().await?;
    drop(turn);
    transfers::remove_blobs(state, keys).await;
    pause(started).await;
    Ok(true)
}
