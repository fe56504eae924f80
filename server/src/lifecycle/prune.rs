//! Retention applied (BACKUP_IMPORT.md §2.1): after every good backup, and when
//! `prune_backups` asks, the tenant's good backups that its policy's rules
//! (`retention`) do not keep are removed — rows and objects — each with an audit entry. A
//! backup a download or a restore is reading is left for the next run; the newest always
//! stays.
use std::collections::{HashMap, HashSet};

use api_spec::actions::{HeldBackup, PruneBackupsResponse};
use uuid::Uuid;

use super::policy;
use super::retention::{self, Candidate};
use crate::app::AppState;
use crate::auth::TenantScope;
use crate::backup::stored;
use crate::error::Result;
use crate::storage::audit::{self, NewEntry};
use crate::storage::jobs::{self, JobKind};
use crate::storage::{backups, policies, tasks};
use crate::time::now_ms;

/// Whether a backup counts as good: completed, its verification not failed, and — when
/// the tenant's policy says `verify_after` — verified.
pub fn is_good(b: &entity::backup::Model, verified_only: bool) -> bool {
    b.status == backups::BackupStatus::Completed
        && b.verify_state != backups::Verification::Failed
        && (!verified_only || b.verify_state == backups::Verification::Good)
}

/// Of the tenant's backups `all`: the ids of the good ones ([`is_good`]) and of those the
/// ones its policy keeps (all, without a policy).
pub async fn good_and_retained(
    state: &AppState,
    scope: &TenantScope,
    all: &[entity::backup::Model],
) -> Result<(HashSet<Uuid>, HashSet<Uuid>)> {
    let policy = policies::get(scope, &state.db).await?;
    let verified_only = policy.as_ref().is_some_and(|p| p.verify_after);
    let candidates: Vec<Candidate> = all
        .iter()
        .filter(|b| is_good(b, verified_only))
        .map(|b| Candidate {
            id: b.id,
            created_at: b.created_at,
        })
        .collect();
    let good = candidates.iter().map(|c| c.id).collect();
    let kept = match &policy {
        Some(p) => {
            let (rules, zone) = policy::rules(p);
            retention::kept(&candidates, &rules, zone)
        }
        None => candidates.iter().map(|c| c.id).collect(),
    };
    Ok((good, kept))
}

/// Applies the tenant's retention (with `dry_run`, only says what it would remove).
/// `username` is who asked, for the audit (none: after a backup).
pub async fn prune(
    state: &AppState,
    scope: &TenantScope,
    dry_run: bool,
    username: Option<&str>,
) -> Result<PruneBackupsResponse> {
    let all = backups::list(scope, &state.db).await?;
    let (good, kept) = good_and_retained(state, scope, &all).await?;
    let gone: Vec<Uuid> = all
        .iter()
        .filter(|b| good.contains(&b.id) && !kept.contains(&b.id))
        .map(|b| b.id)
        .collect();
    let mut reading = tasks::backups_in_download(scope, &state.db, &gone, now_ms()).await?;
    reading.extend(read_by_jobs(&state.db, scope, &gone).await?);
    let needed = needed_links(&all, |b| {
        b.status != backups::BackupStatus::Failed
            && (!good.contains(&b.id) || kept.contains(&b.id) || reading.contains(&b.id))
    });
    let mut answer = PruneBackupsResponse {
        kept: Vec::new(),
        removed: Vec::new(),
        in_use: Vec::new(),
        held: Vec::new(),
    };
    // Newest first: a link goes only after the backups built on it.
    for b in all.iter().filter(|b| good.contains(&b.id)) {
        let id = b.id.to_string();
        if kept.contains(&b.id) {
            answer.kept.push(id);
        } else if reading.contains(&b.id) {
            answer.in_use.push(id);
        } else if let Some(by) = needed.get(&b.id) {
            answer.held.push(HeldBackup {
                backup_id: id,
                needed_by: by.to_string(),
            });
        } else {
            if !dry_run && remove(state, scope, b, username).await? {
                tracing::info!(backup = %b.id, tenant = %scope.tenant_id(), "retention removed a backup");
            }
            answer.removed.push(id);
        }
    }
    Ok(answer)
}

/// The earlier links of the chains of the backups that stay (`stays`), each with the newest
/// backup that needs it.
fn needed_links(
    all: &[entity::backup::Model],
    stays: impl Fn(&entity::backup::Model) -> bool,
) -> HashMap<Uuid, Uuid> {
    let mut needed = HashMap::new();
    // Newest first, so the first to claim a link is the newest that needs it.
    for b in all.iter().filter(|b| stays(b)) {
        let mut next = b.base_backup_id;
        let mut steps = 0;
        while let Some(link) = next {
            steps += 1;
            if steps > crate::archive::chain::MAX_LINKS {
                break;
            }
            needed.entry(link).or_insert(b.id);
            next = all
                .iter()
                .find(|l| l.id == link)
                .and_then(|l| l.base_backup_id);
        }
    }
    needed
}

/// Those of `ids` that a job not yet ended reads: a restore (`restore_backup`) or a
/// verification.
async fn read_by_jobs(
    db: &impl sea_orm::ConnectionTrait,
    scope: &TenantScope,
    ids: &[Uuid],
) -> Result<HashSet<Uuid>> {
    use api_spec::jobs::JobParams;
    let tenant = scope.tenant_id();
    let mut archives: HashSet<String> = HashSet::new();
    let mut verified: HashSet<String> = HashSet::new();
    for kind in [JobKind::Import, JobKind::Verify] {
        for job in jobs::live_of_kind(scope, db, kind).await? {
            match jobs::params_of(&job) {
                Some(JobParams::Import(p)) => archives.extend(p.uploads.map(|u| u.archive)),
                Some(JobParams::Verify(p)) => {
                    verified.insert(p.backup_id);
                }
                _ => {}
            }
        }
    }
    Ok(ids
        .iter()
        .copied()
        .filter(|id| {
            archives.contains(&crate::layout::archive_object(tenant, *id))
                || verified.contains(&id.to_string())
        })
        .collect())
}

/// Removes one backup that retention does not keep, with its audit entry. False if it was
/// gone already.
async fn remove(
    state: &AppState,
    scope: &TenantScope,
    b: &entity::backup::Model,
    username: Option<&str>,
) -> Result<bool> {
    // Looked at again with the delete, in one write: a download asked for since the first
    // look keeps the backup for the next run.
    let (turn, txn) = state.begin_write().await?;
    let asked = tasks::backups_in_download(scope, &txn, &[b.id], now_ms()).await?;
    let read = read_by_jobs(&txn, scope, &[b.id]).await?;
    // A backup built on it since the first look (an incremental export) keeps it too; the
    // row is locked first, so such an export is seen (`backups::lock`).
    backups::lock(scope, &txn, b.id).await?;
    let needed = backups::built_on(scope, &txn, b.id)
        .await?
        .iter()
        .any(|d| d.status != backups::BackupStatus::Failed);
    if !asked.is_empty()
        || !read.is_empty()
        || needed
        || !backups::delete(scope, &txn, b.id).await?
    {
        return Ok(false);
    }
    txn.commit().await?;
    drop(turn);
    stored::remove_files(state, scope.tenant_id(), b.id).await;
    let entry = NewEntry {
        username: username.map(str::to_owned),
        action: "retention_remove_backup".to_owned(),
        target: Some(b.id.to_string()),
        data: Some(serde_json::json!({
            "name": b.name,
            "origin": b.origin,
            "created_time": crate::time::to_secs(b.created_at),
        })),
        result: 200,
        remote_address: None,
    };
    audit::insert(scope, &state.db, entry).await?;
    Ok(true)
}

/// Applies retention after a good backup of the tenant, if its policy has rules.
pub async fn after_backup(state: &AppState, scope: &TenantScope) {
    let has_rules = match policies::get(scope, &state.db).await {
        Ok(Some(p)) => policy::rules(&p).0.any(),
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "could not read a backup policy");
            false
        }
    };
    if has_rules && let Err(e) = prune(state, scope, false, None).await {
        tracing::warn!(tenant = %scope.tenant_id(), error = %e, "retention failed");
    }
}
