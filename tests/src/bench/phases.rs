//! The bench's backup phases against the running server: export, download, offline verify
//! and import, each timed to its job's end (status polled every 20 ms) with the process's
//! memory sampled meanwhile.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use api_spec::actions::{
    BackupIdRequest, Compression, CreateTenant, CreateTenantRequest, GenerateBackup,
    GenerateBackupRequest, GetBackupDownload, GetBackupExportStatus, GetBackupImportStatus,
    InitiateBackupImport, InitiateBackupImportRequest, JobIdRequest, JobStatus, StartBackupImport,
    StartBackupImportRequest,
};
use coffer::archive::keys::KeyFile;

use super::report::Figure;
use super::rss::{Peak, Sampler};
use super::{MIB, ceiling};
use crate::{Client, TestServer};

/// How long one backup job may take before the bench gives up.
pub const JOB_LIMIT: Duration = Duration::from_secs(1800);
/// How often a job's status is polled.
pub const POLL: Duration = Duration::from_millis(20);

/// The running server, a logged-in admin, and the figures so far.
pub struct Bench {
    pub server: TestServer,
    pub admin: Client,
    pub work: PathBuf,
    pub figures: Vec<Figure>,
    pub tenants: usize,
}

/// MiB per second.
pub fn mib_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / MIB / took.as_secs_f64().max(1e-9)
}

/// An error as the bench reports it.
pub fn err(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

/// The median of some timings (the upper one of an even count); the first error, if any.
pub fn median(times: impl Iterator<Item = Result<Duration, String>>) -> Result<Duration, String> {
    let mut v = times.collect::<Result<Vec<_>, _>>()?;
    v.sort();
    v.get(v.len() / 2)
        .copied()
        .ok_or_else(|| "no timings".to_owned())
}

/// Logs the admin in again: a connection left idle through a long phase (no pongs while
/// nobody reads it) is closed by the server after `idle_timeout_secs`.
pub async fn fresh_admin(b: &mut Bench) {
    b.admin = b.server.admin().await;
}

/// The format's own cost on one thread (see `tests::bench::ceiling`).
pub async fn tenant_ceiling(plain: &Path) -> Result<(Duration, Duration), String> {
    let plain = plain.to_path_buf();
    tokio::task::spawn_blocking(move || ceiling::seal_times(&plain))
        .await
        .map_err(err)?
}

/// Waits for a backup job (export or import) to end; returns its final status.
/// Also prints how long each `current_step` was seen (to the 20 ms of the polling).
pub async fn wait_job<A>(c: &mut Client, job: &str) -> Result<JobStatus, String>
where
    A: api_spec::ActionSpec<Request = JobIdRequest, Response = JobStatus>,
{
    let start = Instant::now();
    let limit = start + JOB_LIMIT;
    let mut steps: Vec<(String, f64)> = Vec::new();
    while Instant::now() < limit {
        let s = c
            .call::<A>(&JobIdRequest {
                backup_task_id: job.into(),
            })
            .await
            .map_err(err)?;
        let step = s
            .current_step
            .map_or_else(|| s.status.to_string(), |step| step.to_string());
        if steps.last().is_none_or(|(last, _)| *last != step) {
            steps.push((step, start.elapsed().as_secs_f64()));
        }
        if !matches!(s.status.as_str(), "pending" | "queued" | "running") {
            if steps
                .last()
                .is_none_or(|(last, _)| *last != s.status.as_str())
            {
                steps.push((s.status.to_string(), start.elapsed().as_secs_f64()));
            }
            let phases: Vec<String> = steps
                .windows(2)
                .map(|w| format!("{} {:.2} s", w[0].0, w[1].1 - w[0].1))
                .collect();
            println!("  {} steps: {}", s.kind, phases.join(", "));
            return Ok(s);
        }
        tokio::time::sleep(POLL).await;
    }
    Err(format!("job {job} did not end within {JOB_LIMIT:?}"))
}

/// `generate_backup` to completion; the time and memory of the whole job.
pub async fn export(
    b: &mut Bench,
    compression: Option<Compression>,
) -> Result<(String, Duration, Peak), String> {
    fresh_admin(b).await;
    let rss = Sampler::start();
    let cpu = ceiling::process_cpu();
    let start = Instant::now();
    let started = b
        .admin
        .call::<GenerateBackup>(&GenerateBackupRequest {
            backup_name: Some("bench".into()),
            passphrase: None,
            compression,
            incremental: false,
            base_backup_id: None,
        })
        .await
        .map_err(err)?;
    let done = wait_job::<GetBackupExportStatus>(&mut b.admin, &started.backup_task_id).await?;
    let took = start.elapsed();
    let peak = rss.finish();
    if done.status != "completed" {
        return Err(format!("export ended {}: {:?}", done.status, done.error));
    }
    println!(
        "export ({}): {:.2} s, process CPU {:.2} s, RSS +{:.1} MiB",
        compression.unwrap_or_default(),
        took.as_secs_f64(),
        (ceiling::process_cpu().saturating_sub(cpu)).as_secs_f64(),
        peak.growth_mib()
    );
    Ok((started.backup_id, took, peak))
}

/// Downloads a backup's archive and key over HTTP into the work directory.
pub async fn download(
    b: &mut Bench,
    backup_id: &str,
    tag: &str,
) -> Result<(PathBuf, PathBuf), String> {
    download_as(&b.admin, &b.work, backup_id, tag).await
}

/// [`download`] by the client `c`, into `work` (each file checked against the SHA-256 the
/// server declares).
pub async fn download_as(
    c: &Client,
    work: &Path,
    backup_id: &str,
    tag: &str,
) -> Result<(PathBuf, PathBuf), String> {
    let tasks = c
        .call::<GetBackupDownload>(&BackupIdRequest {
            backup_id: backup_id.into(),
        })
        .await
        .map_err(err)?;
    let (archive, key) = (
        work.join(format!("{tag}.cbk")),
        work.join(format!("{tag}.key")),
    );
    for (task, path) in [
        (&tasks.archive.task_id, &archive),
        (&tasks.key.task_id, &key),
    ] {
        c.lib()
            .download(task, path, std::sync::Arc::new(|_| {}))
            .await
            .map_err(|e| format!("download of {}: {e}", path.display()))?;
    }
    Ok((archive, key))
}

/// The library's offline verification of a downloaded pair, on a blocking thread.
pub async fn verify(archive: &Path, key: &Path) -> Result<Duration, String> {
    let key = std::fs::read(key).map_err(err)?;
    let key = KeyFile::parse(&key)
        .and_then(|k| k.unlock(None, coffer::archive::keys::KdfLimits::FORMAT))
        .map_err(|e| format!("key: {:?}", e.code()))?;
    let file = std::fs::File::open(archive).map_err(err)?;
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        coffer::archive::verify::verify(std::io::BufReader::new(file), &key, |_| {})
            .map_err(|e| format!("verify: {:?}", e.code()))?;
        Ok(start.elapsed())
    })
    .await
    .map_err(err)?
}

/// A new tenant `slug` (made by `root`, a user of tenant `default` with `manage_tenants`),
/// and its logged-in admin.
pub async fn tenant_admin(
    server: &TestServer,
    root: &mut Client,
    slug: &str,
) -> Result<Client, String> {
    root.call::<CreateTenant>(&CreateTenantRequest {
        tenant: slug.to_owned(),
        display_name: None,
        admin_password: "bench-tenant-admin".into(),
    })
    .await
    .map_err(err)?;
    let mut c = server.client().await;
    c.login("admin", "bench-tenant-admin", Some(slug))
        .await
        .map_err(err)?;
    Ok(c)
}

/// Initiates an import and uploads the pair; returns the job id.
pub async fn upload_import(c: &mut Client, archive: &Path, key: &Path) -> Result<String, String> {
    let init = c
        .call::<InitiateBackupImport>(&InitiateBackupImportRequest {
            timeout_seconds: Some(3600),
            links: None,
        })
        .await
        .map_err(err)?;
    c.upload_file(&init.archive_task_id, archive)
        .await
        .map_err(err)?;
    c.upload_file(&init.key_task_id, key).await.map_err(err)?;
    Ok(init.backup_task_id)
}

/// Starts an uploaded import (restore) and waits for it to complete.
pub async fn run_import(c: &mut Client, job: &str) -> Result<(), String> {
    c.call::<StartBackupImport>(&StartBackupImportRequest {
        backup_task_id: job.to_owned(),
        ..StartBackupImportRequest::default()
    })
    .await
    .map_err(err)?;
    let done = wait_job::<GetBackupImportStatus>(c, job).await?;
    if done.status != "completed" {
        return Err(format!(
            "import ended {}: {:?} {:?}",
            done.status, done.error, done.error_message
        ));
    }
    Ok(())
}

/// Imports a pair into a fresh tenant; times `start_backup_import` to `completed`.
pub async fn import(b: &mut Bench, archive: &Path, key: &Path) -> Result<(Duration, Peak), String> {
    fresh_admin(b).await;
    b.tenants += 1;
    let slug = format!("bench-import-{}", b.tenants);
    let mut c = tenant_admin(&b.server, &mut b.admin, &slug).await?;
    let job = upload_import(&mut c, archive, key).await?;
    let rss = Sampler::start();
    let cpu = ceiling::process_cpu();
    let start = Instant::now();
    run_import(&mut c, &job).await?;
    let took = start.elapsed();
    let peak = rss.finish();
    println!(
        "import into {slug}: {:.2} s, process CPU {:.2} s, RSS +{:.1} MiB",
        took.as_secs_f64(),
        (ceiling::process_cpu().saturating_sub(cpu)).as_secs_f64(),
        peak.growth_mib()
    );
    Ok((took, peak))
}
