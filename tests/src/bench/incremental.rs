//! The `incremental` suite (issue 26): a tenant, one full backup, then rounds that each change
//! 1 % of the files (a new revision), add 0.5 % and delete 0.5 %, each followed by an
//! incremental backup. What it measures: an incremental's time and size against the full
//! backup's and the bytes that changed; the bytes the whole chain stores against one full
//! backup; and restoring the newest link (its chain read whole) against restoring the full
//! backup, both into a folder of the tenant (`restore_backup` with `target_folder_id`).
use std::time::{Duration, Instant};

use api_spec::actions::{
    BackupInfo, CreateDirectory, CreateDirectoryRequest, CreateDocument, CreateDocumentRequest,
    DeleteDocument, DocumentIdRequest, GenerateBackup, GenerateBackupRequest,
    GetBackupExportStatus, GetBackupImportStatus, ListBackups, ListDirectory, ListDirectoryRequest,
    RestoreBackup, RestoreBackupRequest, UploadDocument,
};
use api_spec::envelope::Empty;
use api_spec::jobs::ImportMode;

use super::MIB;
use super::phases::{Bench, err, wait_job};
use super::report::Figure;
use super::tenant::{self, Spec};
use crate::Client;

/// What one export made: its backup, how long it took, its archive's size.
struct Made {
    backup_id: String,
    took: Duration,
    size: u64,
}

async fn export(c: &mut Client, incremental: bool) -> Result<Made, String> {
    let start = Instant::now();
    let started = c
        .call::<GenerateBackup>(&GenerateBackupRequest {
            backup_name: Some(if incremental { "link" } else { "full" }.into()),
            passphrase: None,
            compression: None,
            incremental,
            base_backup_id: None,
        })
        .await
        .map_err(err)?;
    let done = wait_job::<GetBackupExportStatus>(c, &started.backup_task_id).await?;
    let took = start.elapsed();
    if done.status != "completed" || started.incremental != incremental {
        return Err(format!("export ended {} ({:?})", done.status, done.error));
    }
    let size = info(c, &started.backup_id).await?.size.unwrap_or(0);
    Ok(Made {
        backup_id: started.backup_id,
        took,
        size,
    })
}

async fn info(c: &mut Client, id: &str) -> Result<BackupInfo, String> {
    c.call::<ListBackups>(&Empty {})
        .await
        .map_err(err)?
        .backups
        .into_iter()
        .find(|b| b.backup_id == id)
        .ok_or_else(|| format!("backup {id} is not listed"))
}

/// The documents of the suite's folders: (id, size).
async fn documents(c: &mut Client, folders: &[String]) -> Result<Vec<(String, u64)>, String> {
    let mut out = Vec::new();
    for folder in folders {
        let list = c
            .call::<ListDirectory>(&ListDirectoryRequest {
                folder_id: Some(folder.clone()),
            })
            .await
            .map_err(err)?;
        out.extend(list.documents.into_iter().map(|d| (d.id, d.size)));
    }
    Ok(out)
}

/// `count` of `n` indices, spread pseudo-randomly (seeded by `round`), without repeats.
fn pick(n: usize, count: usize, round: u64) -> Vec<usize> {
    let mut x = round.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out: Vec<usize> = Vec::with_capacity(count);
    while out.len() < count.min(n) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x % n as u64) as usize;
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// One round: 1 % of the files (picked at random) get a new revision, 0.5 % are added and
/// 0.5 % deleted; the bytes that changed.
async fn change(c: &mut Client, folders: &[String], round: u64) -> Result<u64, String> {
    let docs = documents(c, folders).await?;
    let n = docs.len();
    let (changed, added) = ((n / 100).max(1), (n / 200).max(1));
    let picked = pick(n, changed + added, round);
    let (to_change, to_delete) = picked.split_at(changed.min(picked.len()));
    let mut bytes = 0;
    for (i, (id, size)) in to_change.iter().map(|&k| &docs[k]).enumerate() {
        let content = tenant::content(*size as usize, round * 1_000_003 + i as u64, false);
        let task = c
            .call::<UploadDocument>(&DocumentIdRequest {
                document_id: id.clone(),
            })
            .await
            .map_err(err)?
            .task_data;
        c.upload(&task.task_id, &content).await.map_err(err)?;
        bytes += content.len() as u64;
    }
    for i in 0..added {
        let content = tenant::content(8 * 1024, round * 7_000_001 + i as u64, false);
        let created = c
            .call::<CreateDocument>(&CreateDocumentRequest {
                title: format!("added-{round}-{i}.bin"),
                folder_id: Some(folders[i % folders.len()].clone()),
                access_rules: None,
                inherit_parent: None,
            })
            .await
            .map_err(err)?;
        c.upload(&created.task_data.task_id, &content)
            .await
            .map_err(err)?;
        bytes += content.len() as u64;
    }
    for (id, _) in to_delete.iter().map(|&k| &docs[k]) {
        c.call::<DeleteDocument>(&DocumentIdRequest {
            document_id: id.clone(),
        })
        .await
        .map_err(err)?;
    }
    Ok(bytes)
}

/// Restores backup `id` into a new top-level folder; how long it took.
async fn restore(c: &mut Client, id: &str, into: &str) -> Result<Duration, String> {
    let folder = c
        .call::<CreateDirectory>(&CreateDirectoryRequest {
            name: into.into(),
            parent_id: None,
            access_rules: None,
            exists_ok: false,
            inherit_parent: None,
        })
        .await
        .map_err(err)?
        .id;
    let start = Instant::now();
    let queued = c
        .call::<RestoreBackup>(&RestoreBackupRequest {
            backup_id: id.into(),
            mode: Some(ImportMode::Merge),
            target_folder_id: Some(folder),
            ..RestoreBackupRequest::default()
        })
        .await
        .map_err(err)?;
    let done = wait_job::<GetBackupImportStatus>(c, &queued.backup_task_id).await?;
    if done.status != "completed" {
        return Err(format!("restore ended {} ({:?})", done.status, done.error));
    }
    Ok(start.elapsed())
}

/// The suite: `spec`'s tenant (in folders `inc-<k>`), a full backup, `rounds` rounds.
pub async fn suite(b: &mut Bench, spec: Spec, rounds: u64) -> Result<(), String> {
    let plain = b.work.join("incremental-plain");
    // One client: concurrent writers on SQLite fail (see coffer-bench's POPULATE_CLIENTS).
    let made = tenant::populate(&b.server, spec, "inc", &plain, 1).await;
    println!(
        "incremental: tenant of {} files, {:.1} MiB; {rounds} rounds",
        made.files,
        made.bytes as f64 / MIB
    );
    let mut c = b.server.admin().await;
    let top = c
        .call::<ListDirectory>(&ListDirectoryRequest { folder_id: None })
        .await
        .map_err(err)?;
    let folders: Vec<String> = top
        .folders
        .into_iter()
        .filter(|f| f.name.starts_with("inc-"))
        .map(|f| f.id)
        .collect();
    let full = export(&mut c, false).await?;
    let (mut times, mut newest, mut changed_total, mut links_total) = (Vec::new(), None, 0, 0);
    for round in 1..=rounds {
        let changed = change(&mut c, &folders, round).await?;
        let link = export(&mut c, true).await?;
        println!(
            "  round {round}: {:.2} MiB changed, link {:.2} MiB in {:.2} s",
            changed as f64 / MIB,
            link.size as f64 / MIB,
            link.took.as_secs_f64()
        );
        changed_total += changed;
        links_total += link.size;
        times.push(link.took);
        newest = Some(link);
    }
    let Some(newest) = newest else {
        return Err("no rounds".into());
    };
    times.sort();
    let took = times[times.len() / 2];
    let time_ratio = took.as_secs_f64() / full.took.as_secs_f64().max(1e-9);
    b.figures.push(
        Figure::new("incremental_export_time_ratio", time_ratio, "× full")
            .target("median ≤ 0.10", time_ratio <= 0.10),
    );
    // Each link also carries the whole snapshot's manifests: a few hundred bytes a file.
    let manifests = 512 * made.files as u64 * rounds;
    let size_ratio = links_total as f64 / changed_total.max(1) as f64;
    b.figures.push(
        Figure::new("incremental_size_per_changed_byte", size_ratio, "×").target(
            "≤ 2 + manifests",
            links_total <= 2 * changed_total + manifests,
        ),
    );
    let chain = info(&mut c, &newest.backup_id)
        .await?
        .chain_size
        .unwrap_or(0);
    let stored_ratio = chain as f64 / full.size.max(1) as f64;
    b.figures.push(
        Figure::new(
            format!("incremental_chain_{rounds}_stored_ratio"),
            stored_ratio,
            "× full",
        )
        .target("≤ 1.5 at 30 rounds", rounds < 30 || stored_ratio <= 1.5),
    );
    println!(
        "  chain of {} links: {:.1} MiB stored for {:.1} MiB changed; one full backup {:.1} MiB",
        rounds + 1,
        chain as f64 / MIB,
        changed_total as f64 / MIB,
        full.size as f64 / MIB
    );
    let full_restore = restore(&mut c, &full.backup_id, "restored-full").await?;
    let link_restore = restore(&mut c, &newest.backup_id, "restored-link").await?;
    let restore_ratio = link_restore.as_secs_f64() / full_restore.as_secs_f64().max(1e-9);
    b.figures.push(
        Figure::new("incremental_restore_time_ratio", restore_ratio, "× full")
            .target("≤ 1.3", restore_ratio <= 1.3),
    );
    Ok(())
}
