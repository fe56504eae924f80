//! What an import that ended leaves behind, and how it goes: its staging folder (rows
//! written but never published), blobs it placed that nothing references (from its journal
//! in the database), its uploads in the object store and its local staging. The staging
//! folder goes first: the blobs its file rows reference go with them, and the journal's
//! reference check then finds the rest free.
use entity::job;
use uuid::Uuid;

use super::{job_dir, uploads};
use crate::app::AppState;
use crate::auth::TenantScope;
use crate::error::Result;
use crate::services::removal;
use crate::storage::blobs::blob_key;
use crate::storage::{files, job_blobs, jobs, staging, tasks};

/// Removes the rows job `job` staged and never published, and the blobs only they used.
async fn remove_staged(state: &AppState, scope: &TenantScope, job: Uuid) {
    match staging::of_job(scope, &state.db, job).await {
        Ok(folders) => {
            for folder in folders {
                if let Err(e) = removal::remove_hidden(state, scope, folder).await {
                    tracing::warn!(%job, error = %e, "could not remove an import's staged rows");
                }
            }
        }
        Err(e) => tracing::warn!(%job, error = %e, "could not look for an import's staged rows"),
    }
}

/// Removes what an import that failed or was cancelled wrote, wherever it ran: its staged
/// rows, then the blobs it put into the store that no file row references.
pub(super) async fn remove_leftovers(state: &AppState, scope: &TenantScope, job: Uuid) {
    remove_staged(state, scope, job).await;
    if let Err(e) = remove_published(state, scope, job).await {
        // The journal stays, for the reaper's next sweep.
        tracing::warn!(%job, error = %e, "could not remove the blobs an import put");
    }
}

/// Removes the content a job put into the store that nothing uses: the file rows it made
/// that no revision took up (an import writes its file rows before its documents), then the
/// blobs no file row holds. From the job's journal, [`JOURNAL_SLICE`] at a time; the journal
/// goes once all is done.
async fn remove_published(state: &AppState, scope: &TenantScope, job: Uuid) -> Result<()> {
    let mut after: Option<String> = None;
    loop {
        let batch =
            job_blobs::slice(scope, &state.db, job, after.as_deref(), JOURNAL_SLICE).await?;
        let Some(last) = batch.last().cloned() else {
            break;
        };
        remove_unused_rows(state, scope, &batch).await?;
        for sha256 in &batch {
            let key = blob_key(scope.tenant_id(), sha256);
            crate::services::transfers::remove_if_unreferenced(state, scope, sha256, &key).await;
        }
        after = Some(last);
    }
    job_blobs::clear(scope, &state.db, job).await
}

/// Journal entries handled per transaction.
const JOURNAL_SLICE: u64 = 500;

/// Deletes the file rows of these contents that no revision references.
async fn remove_unused_rows(state: &AppState, scope: &TenantScope, shas: &[String]) -> Result<()> {
    let shas: Vec<&str> = shas.iter().map(String::as_str).collect();
    let (turn, txn) = state.begin_write().await?;
    let ids: Vec<Uuid> = files::ids_by_sha256(scope, &txn, &shas)
        .await?
        .into_values()
        .collect();
    files::delete_unreferenced(scope, &txn, &ids).await?;
    txn.commit().await?;
    drop(turn);
    Ok(())
}

/// Removes everything an import that did not complete left: uploads (finished, or partial
/// on this instance), staged content, blobs it put into the store, local staging.
pub async fn discard(state: &AppState, job: &job::Model) {
    let scope = TenantScope::system(job.tenant_id);
    if let Ok(tasks) = tasks::of_job(&scope, &state.db, job.id).await {
        for task in tasks {
            let _ =
                tokio::fs::remove_file(crate::services::transfers::part_path(state, task.id)).await;
        }
    }
    let _ = tasks::expire_for_job(&scope, &state.db, job.id).await;
    remove_leftovers(state, &scope, job.id).await;
    uploads::remove(state, job.id).await;
    let _ = tokio::fs::remove_dir_all(job_dir(&state.config, job.tenant_id, job.id)).await;
}

/// Removes what import jobs that are no longer live left — an import that stopped with its
/// server, a cancel or a timeout decided on another instance, a crash between an import's
/// commit and its cleanup: staging folders, journalled blobs nothing references, uploads in
/// the object store, and this instance's local staging. Returns how many leftovers it
/// removed.
pub async fn sweep(state: &AppState) -> Result<usize> {
    let mut swept = 0;
    for (tenant, _, job) in staging::all(&state.db).await? {
        let scope = TenantScope::system(tenant);
        if !jobs::is_live(&state.db, job).await? {
            remove_staged(state, &scope, job).await;
            swept += 1;
        }
    }
    for (tenant, job) in job_blobs::journalled(&state.db).await? {
        let scope = TenantScope::system(tenant);
        if !jobs::is_live(&state.db, job).await? {
            match remove_published(state, &scope, job).await {
                Ok(()) => swept += 1,
                // The journal stays for the next sweep; the rest of this one goes on.
                Err(e) => tracing::warn!(%job, error = %e, "could not remove an import's blobs"),
            }
        }
    }
    swept += uploads::sweep(state).await?;
    swept += sweep_local(state).await?;
    Ok(swept)
}

/// Removes this instance's staging directories (`<data_dir>/imports/<tenant>/<job>`) of jobs
/// no longer live.
async fn sweep_local(state: &AppState) -> Result<usize> {
    let mut swept = 0;
    let root = state.config.data_dir.join("imports");
    let Ok(mut tenants) = tokio::fs::read_dir(&root).await else {
        return Ok(0);
    };
    while let Ok(Some(tenant)) = tenants.next_entry().await {
        let Ok(mut dirs) = tokio::fs::read_dir(tenant.path()).await else {
            continue;
        };
        while let Ok(Some(dir)) = dirs.next_entry().await {
            let Some(job_id) = dir
                .file_name()
                .to_str()
                .and_then(|n| Uuid::parse_str(n).ok())
            else {
                continue;
            };
            if !jobs::is_live(&state.db, job_id).await? {
                let _ = tokio::fs::remove_dir_all(dir.path()).await;
                swept += 1;
            }
        }
    }
    Ok(swept)
}
