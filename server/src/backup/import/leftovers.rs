//! What an import that ended leaves behind, and how it goes: blobs it placed that nothing
//! references (from its journal), its uploads and staging.
use std::path::Path;

use entity::job;
use uuid::Uuid;

use super::{job_dir, published_path};
use crate::app::AppState;
use crate::auth::TenantScope;
use crate::error::Result;
use crate::storage::{jobs, tasks};

/// Removes the blobs a job put into the store that no file row references.
pub(super) async fn remove_published(state: &AppState, scope: &TenantScope, dir: &Path) {
    use tokio::io::AsyncBufReadExt;
    let Ok(journal) = tokio::fs::File::open(published_path(dir)).await else {
        return;
    };
    let mut lines = tokio::io::BufReader::new(journal).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some((sha, key)) = line.split_once('\t') {
            crate::services::transfers::remove_if_unreferenced(state, scope, sha, key).await;
        }
    }
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
    remove_published(state, &scope, &dir).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
}

/// Removes the directories of import jobs that are no longer live, with any blobs they put
/// into the store that nothing references: what a cancel or a timeout decided on another
/// instance, or a crash between an import's commit and its cleanup, left on this one.
pub async fn sweep(state: &AppState) -> Result<usize> {
    let root = state.config.data_dir.join("imports");
    let mut swept = 0;
    let Ok(mut tenants) = tokio::fs::read_dir(&root).await else {
        return Ok(0);
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
                .is_some_and(|j| jobs::LIVE.contains(&j.status.as_str()));
            if !live {
                remove_published(state, &scope, &dir.path()).await;
                let _ = tokio::fs::remove_dir_all(dir.path()).await;
                swept += 1;
            }
        }
    }
    Ok(swept)
}
