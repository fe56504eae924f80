//! What an import that ended leaves behind, and how it goes: its staging folder (rows
//! written but never published), blobs it placed that nothing references (from its journal),
//! its uploads and staging directory. The staging folder goes first: the blobs its file rows
//! reference go with them, and the journal's reference check then finds the rest free.
use std::path::Path;

use entity::job;
use uuid::Uuid;

use super::{job_dir, published_path};
use crate::app::AppState;
use crate::auth::TenantScope;
use crate::error::Result;
use crate::services::removal;
use crate::storage::{files, jobs, staging, tasks};

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

/// Removes what an import that failed or was cancelled left: its staged rows, then the
/// blobs it put into the store that no file row references.
pub(super) async fn remove_leftovers(state: &AppState, scope: &TenantScope, job: Uuid, dir: &Path) {
    remove_staged(state, scope, job).await;
    remove_published(state, scope, dir).await;
}

/// Removes the content a job put into the store that nothing uses: the file rows it made
/// that no revision took up (an import writes its file rows before its documents), then the
/// blobs no file row holds. From the job's journal, [`JOURNAL_SLICE`] keys at a time.
async fn remove_published(state: &AppState, scope: &TenantScope, dir: &Path) {
    use tokio::io::AsyncBufReadExt;
    let Ok(journal) = tokio::fs::File::open(published_path(dir)).await else {
        return;
    };
    let mut lines = tokio::io::BufReader::new(journal).lines();
    let mut batch: Vec<(String, String)> = Vec::new();
    loop {
        let line = lines.next_line().await.ok().flatten();
        if let Some((sha, key)) = line.as_deref().and_then(|l| l.split_once('\t')) {
            batch.push((sha.to_owned(), key.to_owned()));
        }
        if batch.len() >= JOURNAL_SLICE || (line.is_none() && !batch.is_empty()) {
            if let Err(e) = remove_unused_rows(state, scope, &batch).await {
                tracing::warn!(error = %e, "could not remove an import's unused file rows");
            }
            for (sha, key) in batch.drain(..) {
                crate::services::transfers::remove_if_unreferenced(state, scope, &sha, &key).await;
            }
        }
        if line.is_none() {
            return;
        }
    }
}

/// Journal lines handled per transaction.
const JOURNAL_SLICE: usize = 500;

/// Deletes the file rows of these contents that no revision references.
async fn remove_unused_rows(
    state: &AppState,
    scope: &TenantScope,
    batch: &[(String, String)],
) -> Result<()> {
    let shas: Vec<&str> = batch.iter().map(|(sha, _)| sha.as_str()).collect();
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

/// Removes everything an import that did not complete left: uploads (finished or partial),
/// staged content, and blobs it put into the store.
pub async fn discard(state: &AppState, job: &job::Model) {
    let scope = TenantScope::system(job.tenant_id);
    if let Ok(tasks) = tasks::of_job(&scope, &state.db, job.id).await {
        for task in tasks {
            let _ =
                tokio::fs::remove_file(crate::services::transfers::part_path(state, task.id)).await;
        }
    }
    let _ = tasks::expire_for_job(&scope, &state.db, job.id).await;
    let dir = job_dir(&state.config, job.tenant_id, job.id);
    remove_leftovers(state, &scope, job.id, &dir).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
}

/// Removes the staging folders of import jobs that are no longer live (an import that
/// stopped with its server), and the directories of such jobs with any blobs they put into
/// the store that nothing references: what a cancel or a timeout decided on another
/// instance, or a crash between an import's commit and its cleanup, left on this one.
pub async fn sweep(state: &AppState) -> Result<usize> {
    let mut swept = 0;
    for (tenant, _, job) in staging::all(&state.db).await? {
        let scope = TenantScope::system(tenant);
        let live = jobs::find(&scope, &state.db, job)
            .await?
            .is_some_and(|j| !jobs::state_of(&j).is_final());
        if !live {
            remove_staged(state, &scope, job).await;
            swept += 1;
        }
    }
    let root = state.config.data_dir.join("imports");
    let Ok(mut tenants) = tokio::fs::read_dir(&root).await else {
        return Ok(swept);
    };
    while let Ok(Some(tenant)) = tenants.next_entry().await {
        let Some(tenant_id) = tenant
            .file_name()
            .to_str()
            .and_then(|n| Uuid::parse_str(n).ok())
        else {
            continue;
        };
        let scope = TenantScope::system(tenant_id);
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
            let live = jobs::find(&scope, &state.db, job_id)
                .await?
                .is_some_and(|j| !jobs::state_of(&j).is_final());
            if !live {
                remove_leftovers(state, &scope, job_id, &dir.path()).await;
                let _ = tokio::fs::remove_dir_all(dir.path()).await;
                swept += 1;
            }
        }
    }
    Ok(swept)
}
