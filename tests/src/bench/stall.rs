//! The `stall` suite (issue 15): how long another tenant's ordinary writes wait while one
//! tenant makes long writes. Tenant A imports an archive of one folder holding 100,000
//! documents (a small real export, widened: `tests::archive::widen`), then deletes that
//! folder; meanwhile tenant B's admin creates folders in a loop, one request in flight, and
//! every write's latency is recorded. A write answered with an error code (e.g. `busy`) is
//! counted, not retried.
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use api_spec::actions::{
    CreateDirectory, CreateDirectoryRequest, DeleteDirectory, FolderIdRequest, GenerateBackup,
    GenerateBackupRequest, GetBackupExportStatus, ListDirectory, ListDirectoryRequest,
};
use tokio::task::JoinHandle;

use super::phases::{download_as, err, run_import, tenant_admin, upload_import, wait_job};
use super::report::Figure;
use crate::{Client, TestServer};

/// Documents in the folder A imports and deletes.
pub const DOCUMENTS: usize = 100_000;
/// The stall the issue allows: "no other tenant's write waits more than about a second".
const TARGET_MS: f64 = 1000.0;

/// B's writes while one phase of A's runs.
struct Writer {
    stop: Arc<AtomicBool>,
    task: JoinHandle<(Vec<Duration>, usize)>,
}

impl Writer {
    /// B creates folders named `{tag} {n}` until stopped; each write's latency is kept.
    fn start(b: Client, tag: &'static str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let (mut latencies, mut failed) = (Vec::new(), 0);
            while !flag.load(Ordering::Relaxed) {
                let started = Instant::now();
                let created = b
                    .call::<CreateDirectory>(&CreateDirectoryRequest {
                        name: format!("{tag} {}", latencies.len() + failed),
                        parent_id: None,
                        access_rules: None,
                        exists_ok: false,
                        inherit_parent: None,
                    })
                    .await;
                match created {
                    Ok(_) => latencies.push(started.elapsed()),
                    Err(e) => {
                        println!("  B's write failed: {} {:?}", e.code, e.error);
                        failed += 1;
                    }
                }
            }
            (latencies, failed)
        });
        Self { stop, task }
    }

    /// Stops B and turns its latencies into figures named `stall_{phase}_*`.
    async fn finish(self, phase: &str, took: Duration) -> Result<Vec<Figure>, String> {
        self.stop.store(true, Ordering::Relaxed);
        let (mut latencies, failed) = self.task.await.map_err(err)?;
        latencies.sort();
        let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let max = ms(latencies.last());
        let p99 = ms(latencies.get(latencies.len() * 99 / 100));
        println!(
            "  {phase}: {:.1} s; B made {} writes ({failed} failed), longest {max:.0} ms",
            took.as_secs_f64(),
            latencies.len()
        );
        Ok(vec![
            Figure::new(format!("stall_{phase}_secs"), took.as_secs_f64(), "s"),
            Figure::new(format!("stall_{phase}_b_max"), max, "ms").target(
                &format!("≤ {TARGET_MS} ms"),
                max <= TARGET_MS && failed == 0,
            ),
            Figure::new(format!("stall_{phase}_b_p99"), p99, "ms"),
            Figure::new(format!("stall_{phase}_b_failed"), failed as f64, "writes")
                .target("0", failed == 0),
        ])
    }
}

/// The suite, on its own server (default settings except light argon2).
pub async fn suite(work: &Path) -> Result<Vec<Figure>, String> {
    let server = TestServer::start_with(|c| {
        let defaults = coffer::Config::default();
        c.workers = defaults.workers;
        c.db_max_connections = defaults.db_max_connections;
        c.auth_cache_ms = defaults.auth_cache_ms;
    })
    .await;
    let mut root = server.admin().await;
    let (archive, key) = widened_archive(&server, &mut root, work).await?;
    let mut a = tenant_admin(&server, &mut root, "stall-a").await?;
    let job = upload_import(&mut a, &archive, &key).await?;

    let b = Writer::start(server.admin().await, "during import");
    let started = Instant::now();
    run_import(&mut a, &job).await?;
    let mut figures = b.finish("import", started.elapsed()).await?;

    let top = a
        .call::<ListDirectory>(&ListDirectoryRequest { folder_id: None })
        .await
        .map_err(err)?;
    let folder = top
        .folders
        .first()
        .ok_or("the import made no folder")?
        .id
        .clone();
    let b = Writer::start(server.admin().await, "during delete");
    let started = Instant::now();
    a.call::<DeleteDirectory>(&FolderIdRequest { folder_id: folder })
        .await
        .map_err(err)?;
    figures.extend(b.finish("delete", started.elapsed()).await?);
    Ok(figures)
}

/// A tenant with one folder holding one small document, exported, downloaded and widened
/// to [`DOCUMENTS`] documents; the paths of the archive and its key.
async fn widened_archive(
    server: &TestServer,
    root: &mut Client,
    work: &Path,
) -> Result<(std::path::PathBuf, std::path::PathBuf), String> {
    let mut t = tenant_admin(server, root, "stall-template").await?;
    let folder = t
        .call::<CreateDirectory>(&CreateDirectoryRequest {
            name: "wide".into(),
            parent_id: None,
            access_rules: None,
            exists_ok: false,
            inherit_parent: None,
        })
        .await
        .map_err(err)?;
    let created = t
        .call::<api_spec::actions::CreateDocument>(&api_spec::actions::CreateDocumentRequest {
            title: "doc".into(),
            folder_id: Some(folder.id),
            access_rules: None,
            inherit_parent: None,
        })
        .await
        .map_err(err)?;
    let bytes = b"one small document, copied 100,000 times";
    t.upload(&created.task_data.task_id, bytes)
        .await
        .map_err(err)?;
    let started = t
        .call::<GenerateBackup>(&GenerateBackupRequest {
            backup_name: Some("template".into()),
            passphrase: None,
            compression: None,
            incremental: false,
            base_backup_id: None,
        })
        .await
        .map_err(err)?;
    wait_job::<GetBackupExportStatus>(&mut t, &started.backup_task_id).await?;
    let (archive, key) = download_as(&t, work, &started.backup_id, "stall").await?;
    let (small, key_bytes) = (
        std::fs::read(&archive).map_err(err)?,
        std::fs::read(&key).map_err(err)?,
    );
    let wide = tokio::task::spawn_blocking(move || {
        crate::archive::widen(&small, &key_bytes, 0, DOCUMENTS)
    })
    .await
    .map_err(err)?;
    std::fs::write(&archive, wide).map_err(err)?;
    Ok((archive, key))
}
