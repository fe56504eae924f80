//! `coffer-bench`: a reproducible benchmark of the real server (issue 6).
//!
//! ```sh
//! cargo run --release -p tests --bin coffer-bench -- [--quick] [--json FILE] [SUITE...]
//! ```
//!
//! Suites: `export`, `import`, `verify`, `upload`, `download`, `actions`, `rss` (default: all).
//! The server runs in this process on 127.0.0.1 (SQLite, local blobs in a temp dir, default
//! settings except light argon2 for logins); a synthetic tenant is made through the API, and
//! every throughput is paired with a shell baseline run in the same run on the same bytes.
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use api_spec::actions::{
    BackupIdRequest, CreateDocument, CreateDocumentRequest, CreateTenant, CreateTenantRequest,
    DocumentIdRequest, GenerateBackup, GenerateBackupRequest, GetBackupDownload,
    GetBackupExportStatus, GetBackupImportStatus, GetDocument, InitiateBackupImport,
    InitiateBackupImportRequest, JobIdRequest, JobStatus, StartBackupImport,
    StartBackupImportRequest,
};
use coffer::backup::keys::KeyFile;
use tests::bench::report::{self, Figure};
use tests::bench::rss::{Peak, Sampler};
use tests::bench::tenant::{self, Made, Spec};
use tests::bench::{MIB, ceiling, load, shell, transfer};
use tests::server::ADMIN_PASSWORD;
use tests::{Client, TestServer};

const SUITES: [&str; 7] = [
    "export", "import", "verify", "upload", "download", "actions", "rss",
];
const USAGE: &str = "usage: coffer-bench [--quick] [--json FILE] [SUITE...]\n  \
     suites: export import verify upload download actions rss (default: all)";
/// How long one backup job may take before the bench gives up.
const JOB_LIMIT: Duration = Duration::from_secs(1800);
/// Clients making the tenant. One: concurrent writers on SQLite currently fail with 500
/// `database is locked` (SQLITE_BUSY_SNAPSHOT, code 517, which `busy_timeout` does not retry);
/// the README's Performance section records this.
const POPULATE_CLIENTS: usize = 1;
const POLL: Duration = Duration::from_millis(20);

struct Args {
    quick: bool,
    json: Option<PathBuf>,
    suites: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        quick: false,
        json: None,
        suites: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => args.quick = true,
            "--json" => args.json = Some(it.next().ok_or(USAGE)?.into()),
            "-h" | "--help" => return Err(USAGE.into()),
            s if SUITES.contains(&s) => args.suites.push(s.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    if args.suites.is_empty() {
        args.suites = SUITES.iter().map(|s| s.to_string()).collect();
    }
    Ok(args)
}

/// How big each part is: `--quick` stays well under two minutes in release mode.
struct Sizes {
    first: Spec,
    second: Spec,
    big_file: usize,
    load_for: Duration,
    load_cap: u64,
    /// Runs of each short phase (and its baseline); the median is reported.
    repeat: usize,
}

fn sizes(quick: bool) -> Sizes {
    if quick {
        Sizes {
            first: Spec {
                small_files: 400,
                small_max: 16 * 1024,
                large_files: 4,
                large_bytes: 8 << 20,
            },
            second: Spec {
                small_files: 800,
                small_max: 16 * 1024,
                large_files: 4,
                large_bytes: 24 << 20,
            },
            big_file: 128 << 20,
            load_for: Duration::from_secs(3),
            load_cap: 100_000,
            repeat: 3,
        }
    } else {
        Sizes {
            first: Spec {
                small_files: 3000,
                small_max: 32 * 1024,
                large_files: 8,
                large_bytes: 32 << 20,
            },
            second: Spec {
                small_files: 9000,
                small_max: 32 * 1024,
                large_files: 8,
                large_bytes: 64 << 20,
            },
            big_file: 1 << 30,
            load_for: Duration::from_secs(10),
            load_cap: 1_000_000,
            repeat: 3,
        }
    }
}

struct Bench {
    server: TestServer,
    admin: Client,
    http: reqwest::Client,
    work: PathBuf,
    figures: Vec<Figure>,
    tenants: usize,
}

fn mib_s(bytes: u64, took: Duration) -> f64 {
    bytes as f64 / MIB / took.as_secs_f64().max(1e-9)
}

fn err(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("coffer-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), String> {
    let args = parse_args()?;
    if std::env::var_os("COFFER_LOG").is_some() {
        coffer::telemetry::init();
    }
    shell::require_tools()?;
    let sizes = sizes(args.quick);
    let wants = |s: &str| args.suites.iter().any(|x| x == s);
    let started = Instant::now();
    let temp = tempfile::tempdir().map_err(err)?;
    // Default settings (HTTP workers and backup workers one per core, 16 DB connections);
    // only argon2 is light, as in the tests, so 64 logins do not dominate.
    let server = TestServer::start_with(|c| {
        c.workers = 0;
        c.db_max_connections = 16;
    })
    .await;
    println!(
        "coffer-bench: server on {} (in-process, SQLite, data in {}); {} cores; mode {}",
        server.addr,
        server.dir.path().display(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if args.quick { "--quick" } else { "full" }
    );
    let admin = server.admin().await;
    let mut b = Bench {
        server,
        admin,
        http: reqwest::Client::new(),
        work: temp.path().to_path_buf(),
        figures: Vec::new(),
        tenants: 0,
    };
    if ["export", "import", "verify", "rss"]
        .iter()
        .any(|s| wants(s))
    {
        backups(&mut b, &sizes, &wants).await?;
    }
    if wants("upload") || wants("download") {
        transfers(&mut b, sizes.big_file).await?;
    }
    if wants("actions") {
        actions(&mut b, &sizes).await?;
    }
    println!("\n{}", report::table(&b.figures));
    println!(
        "total {:.1} s. Figures are wall-clock on a shared machine: noisy, compare ratios.",
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report::json(&b.figures)).map_err(err)?;
        std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// Export (zstd and none), verify and import on the first tenant size, then RSS at a second.
async fn backups(b: &mut Bench, sizes: &Sizes, wants: &dyn Fn(&str) -> bool) -> Result<(), String> {
    let plain = b.work.join("plain");
    let start = Instant::now();
    let made = tenant::populate(&b.server, sizes.first, "one", &plain, POPULATE_CLIENTS).await;
    println!(
        "tenant: {} files, {:.1} MiB in {:.1} s (small {}-{} B and {} x {} MiB, half compressible)",
        made.files,
        made.bytes as f64 / MIB,
        start.elapsed().as_secs_f64(),
        256,
        sizes.first.small_max + 256,
        sizes.first.large_files,
        sizes.first.large_bytes >> 20
    );
    let n = sizes.repeat;
    let enc = b.work.join("baseline.tar.enc");
    let base_export = mib_s(
        made.bytes,
        median((0..n).map(|_| shell::tar_encrypt(&plain, &enc)))?,
    );
    // The first export's memory is the small size's RSS figure; the time is the median.
    let (backup_id, took, rss_export) = export(b, None).await?;
    let mut times = vec![took];
    if wants("export") {
        for _ in 1..n {
            times.push(export(b, None).await?.1);
        }
        b.figures.push(
            Figure::new(
                "export_zstd",
                mib_s(made.bytes, median(times.into_iter().map(Ok))?),
                "MiB/s",
            )
            .against("tar -c | openssl enc", base_export)
            .ratio_at_least(2.5),
        );
        let mut none = Vec::new();
        for _ in 0..n {
            none.push(Ok(export(b, Some("none")).await?.1));
        }
        b.figures.push(
            Figure::new(
                "export_none",
                mib_s(made.bytes, median(none.into_iter())?),
                "MiB/s",
            )
            .against("tar -c | openssl enc", base_export),
        );
        let (seal, zstd_seal) = tenant_ceiling(&plain).await?;
        b.figures.push(
            Figure::new(
                "export_ceiling_zstd_seal_1core",
                mib_s(made.bytes, zstd_seal),
                "MiB/s",
            )
            .against("tar -c | openssl enc", base_export),
        );
        b.figures.push(
            Figure::new(
                "export_ceiling_seal_1core",
                mib_s(made.bytes, seal),
                "MiB/s",
            )
            .against("tar -c | openssl enc", base_export),
        );
    }
    let (archive, key) = download(b, &backup_id, "one").await?;
    let archive_mib = std::fs::metadata(&archive).map_err(err)?.len() as f64 / MIB;
    println!("export archive (zstd): {archive_mib:.1} MiB");
    if wants("verify") {
        let mut times = Vec::new();
        for _ in 0..n {
            times.push(verify(&archive, &key).await);
        }
        let took = median(times.into_iter())?;
        let base = median((0..n).map(|_| shell::decrypt_null(&enc)))?;
        b.figures.push(
            Figure::new("verify", mib_s(made.bytes, took), "MiB/s")
                .against("openssl enc -d > /dev/null", mib_s(made.bytes, base))
                .ratio_at_least(0.8),
        );
    }
    let (took, rss_import) = import(b, &archive, &key).await?;
    if wants("import") {
        let mut times = vec![Ok(took)];
        for _ in 1..n {
            times.push(Ok(import(b, &archive, &key).await?.0));
        }
        let base = median((0..n).map(|i| {
            let into = b.work.join(format!("untar-{i}"));
            let took = shell::decrypt_untar(&enc, &into);
            let _ = std::fs::remove_dir_all(&into);
            took
        }))?;
        b.figures.push(
            Figure::new(
                "import",
                mib_s(made.bytes, median(times.into_iter())?),
                "MiB/s",
            )
            .against("openssl enc -d | tar -x", mib_s(made.bytes, base))
            .ratio_at_least(1.5),
        );
    }
    if wants("rss") {
        let more = tenant::populate(
            &b.server,
            sizes.second,
            "two",
            &b.work.join("plain2"),
            POPULATE_CLIENTS,
        )
        .await;
        let mut total = made;
        total.add(more);
        let (backup_id, _, rss_export2) = export(b, None).await?;
        let (archive, key) = download(b, &backup_id, "two").await?;
        let (_, rss_import2) = import(b, &archive, &key).await?;
        rss_figures(b, "export", made, total, rss_export, rss_export2);
        rss_figures(b, "import", made, total, rss_import, rss_import2);
    }
    Ok(())
}

/// The median of some timings (the upper one of an even count); the first error, if any.
fn median(times: impl Iterator<Item = Result<Duration, String>>) -> Result<Duration, String> {
    let mut v = times.collect::<Result<Vec<_>, _>>()?;
    v.sort();
    v.get(v.len() / 2)
        .copied()
        .ok_or_else(|| "no timings".to_owned())
}

fn rss_figures(b: &mut Bench, phase: &str, small: Made, large: Made, one: Peak, two: Peak) {
    for (size, m, p) in [("small", small, one), ("large", large, two)] {
        println!(
            "rss_{phase}_{size}: tenant of {} files, {:.0} MiB: VmRSS {:.0} -> peak {:.0} MiB",
            m.files,
            m.bytes as f64 / MIB,
            p.base_kib as f64 / 1024.0,
            p.peak_kib as f64 / 1024.0
        );
        b.figures.push(Figure::new(
            format!("rss_{phase}_{size}"),
            p.growth_mib(),
            "MiB",
        ));
    }
    let growth = two.growth_mib() - one.growth_mib();
    b.figures.push(
        Figure::new(format!("rss_{phase}_growth"), growth, "MiB")
            .target("≤ 64 MiB", growth <= 64.0),
    );
}

/// Logs the admin in again: a connection left idle through a long phase (no pongs while
/// nobody reads it) is closed by the server after `idle_timeout_secs`.
async fn fresh_admin(b: &mut Bench) {
    b.admin = b.server.admin().await;
}

/// The format's own cost on one thread (see `tests::bench::ceiling`).
async fn tenant_ceiling(plain: &Path) -> Result<(Duration, Duration), String> {
    let plain = plain.to_path_buf();
    tokio::task::spawn_blocking(move || ceiling::seal_times(&plain))
        .await
        .map_err(err)?
}

/// Waits for a backup job (export or import) to end; returns its final status.
/// Also prints how long each `current_step` was seen (to the 20 ms of the polling).
async fn wait_job<A>(c: &mut Client, job: &str) -> Result<JobStatus, String>
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
        let step = s.current_step.clone().unwrap_or_else(|| s.status.clone());
        if steps.last().is_none_or(|(last, _)| *last != step) {
            steps.push((step, start.elapsed().as_secs_f64()));
        }
        if !matches!(s.status.as_str(), "pending" | "queued" | "running") {
            if steps.last().is_none_or(|(last, _)| *last != s.status) {
                steps.push((s.status.clone(), start.elapsed().as_secs_f64()));
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
async fn export(
    b: &mut Bench,
    compression: Option<&str>,
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
            compression: compression.map(str::to_owned),
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
        compression.unwrap_or("zstd"),
        took.as_secs_f64(),
        (ceiling::process_cpu().saturating_sub(cpu)).as_secs_f64(),
        peak.growth_mib()
    );
    Ok((started.backup_id, took, peak))
}

/// Downloads a backup's archive and key over HTTP into the work directory.
async fn download(b: &mut Bench, backup_id: &str, tag: &str) -> Result<(PathBuf, PathBuf), String> {
    let tasks = b
        .admin
        .call::<GetBackupDownload>(&BackupIdRequest {
            backup_id: backup_id.into(),
        })
        .await
        .map_err(err)?;
    let base = b.server.http_url("");
    let token = b.admin.token.clone().unwrap_or_default();
    let (archive, key) = (
        b.work.join(format!("{tag}.cbk")),
        b.work.join(format!("{tag}.key")),
    );
    for (task, path) in [
        (&tasks.archive.task_id, &archive),
        (&tasks.key.task_id, &key),
    ] {
        let (status, _) = transfer::get_file(&b.http, &base, &token, task, path).await?;
        if status != 200 {
            return Err(format!("download of {} answered {status}", path.display()));
        }
    }
    Ok((archive, key))
}

/// The library's offline verification of a downloaded pair, on a blocking thread.
async fn verify(archive: &Path, key: &Path) -> Result<Duration, String> {
    let key = std::fs::read(key).map_err(err)?;
    let key = KeyFile::parse(&key)
        .and_then(|k| k.unlock(None))
        .map_err(|e| format!("key: {:?}", e.code()))?;
    let file = std::fs::File::open(archive).map_err(err)?;
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        coffer::backup::verify::verify(std::io::BufReader::new(file), &key, |_| {})
            .map_err(|e| format!("verify: {:?}", e.code()))?;
        Ok(start.elapsed())
    })
    .await
    .map_err(err)?
}

/// Imports a pair into a fresh tenant; times `start_backup_import` to `completed`.
async fn import(b: &mut Bench, archive: &Path, key: &Path) -> Result<(Duration, Peak), String> {
    fresh_admin(b).await;
    b.tenants += 1;
    let slug = format!("bench-import-{}", b.tenants);
    b.admin
        .call::<CreateTenant>(&CreateTenantRequest {
            tenant: slug.clone(),
            display_name: None,
            admin_password: "bench-tenant-admin".into(),
        })
        .await
        .map_err(err)?;
    let mut c = b.server.client().await;
    c.login("admin", "bench-tenant-admin", Some(&slug))
        .await
        .map_err(err)?;
    let init = c
        .call::<InitiateBackupImport>(&InitiateBackupImportRequest {
            timeout_seconds: Some(3600),
        })
        .await
        .map_err(err)?;
    let token = c.token.clone().unwrap_or_default();
    let base = b.server.http_url("");
    let (status, body) =
        transfer::put_file(&b.http, &base, &token, &init.archive_task_id, archive).await?;
    if status != 200 {
        return Err(format!("archive upload answered {status}: {body}"));
    }
    let key_bytes = std::fs::read(key).map_err(err)?;
    c.upload(&init.key_task_id, &key_bytes, 0, None, 4096)
        .await
        .map_err(err)?;
    let rss = Sampler::start();
    let cpu = ceiling::process_cpu();
    let start = Instant::now();
    c.call::<StartBackupImport>(&StartBackupImportRequest {
        backup_task_id: init.backup_task_id.clone(),
        passphrase: None,
        mode: None,
        on_conflict: None,
        dry_run: false,
        allow_legacy: false,
    })
    .await
    .map_err(err)?;
    let done = wait_job::<GetBackupImportStatus>(&mut c, &init.backup_task_id).await?;
    let took = start.elapsed();
    let peak = rss.finish();
    if done.status != "completed" {
        return Err(format!(
            "import ended {}: {:?} {:?}",
            done.status, done.error, done.error_message
        ));
    }
    println!(
        "import into {slug}: {:.2} s, process CPU {:.2} s, RSS +{:.1} MiB",
        took.as_secs_f64(),
        (ceiling::process_cpu().saturating_sub(cpu)).as_secs_f64(),
        peak.growth_mib()
    );
    Ok((took, peak))
}

/// One large file over HTTP, up and down, against `cat big > copy` on the same disk.
async fn transfers(b: &mut Bench, size: usize) -> Result<(), String> {
    fresh_admin(b).await;
    let big = b.work.join("big.bin");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).map_err(err)?);
        for i in 0..size.div_ceil(8 << 20) {
            let n = (8usize << 20).min(size - i * (8 << 20));
            f.write_all(&tenant::content(n, 1000 + i as u64, false))
                .map_err(err)?;
        }
        f.flush().map_err(err)?;
    }
    let cat = mib_s(
        size as u64,
        shell::cat_copy(&big, &b.work.join("big.copy"))?,
    );
    let _ = std::fs::remove_file(b.work.join("big.copy"));
    let doc = b
        .admin
        .call::<CreateDocument>(&CreateDocumentRequest {
            title: "big.bin".into(),
            folder_id: None,
            access_rules: None,
            inherit_parent: None,
        })
        .await
        .map_err(err)?;
    let base = b.server.http_url("");
    let token = b.admin.token.clone().unwrap_or_default();
    let start = Instant::now();
    let (status, body) =
        transfer::put_file(&b.http, &base, &token, &doc.task_data.task_id, &big).await?;
    let up = start.elapsed();
    if status != 200 {
        return Err(format!("upload answered {status}: {body}"));
    }
    b.figures.push(
        Figure::new(
            format!("upload_http_{}mib", size >> 20),
            mib_s(size as u64, up),
            "MiB/s",
        )
        .against("cat big > copy", cat)
        .ratio_at_least(0.5),
    );
    let task = b
        .admin
        .call::<GetDocument>(&DocumentIdRequest {
            document_id: doc.document_id,
        })
        .await
        .map_err(err)?
        .task_data
        .task_id;
    let copy = b.work.join("big.down");
    let start = Instant::now();
    let (status, got) = transfer::get_file(&b.http, &base, &token, &task, &copy).await?;
    let down = start.elapsed();
    if status != 200 || got != size as u64 {
        return Err(format!("download answered {status} with {got} bytes"));
    }
    let _ = std::fs::remove_file(&copy);
    b.figures.push(
        Figure::new(
            format!("download_http_{}mib", size >> 20),
            mib_s(size as u64, down),
            "MiB/s",
        )
        .against("cat big > copy", cat),
    );
    Ok(())
}

/// Small actions from 1, 16 and 64 clients.
async fn actions(b: &mut Bench, sizes: &Sizes) -> Result<(), String> {
    fresh_admin(b).await;
    let fixture = load::fixture(&mut b.admin, 10).await;
    for clients in [1usize, 16, 64] {
        let o = load::run(
            &b.server.ws_url(),
            "admin",
            ADMIN_PASSWORD,
            &fixture,
            clients,
            sizes.load_for,
            sizes.load_cap,
        )
        .await;
        println!(
            "actions, {clients} clients: {} ok, {} failed in {:.2} s",
            o.ok, o.failed, o.secs
        );
        if o.failed > 0 {
            return Err(format!("{} small actions failed", o.failed));
        }
        let mut rate = Figure::new(format!("actions_c{clients}"), o.per_sec(), "actions/s");
        let mut p99 = Figure::new(format!("actions_c{clients}_p99"), o.p99_ms, "ms");
        if clients == 64 {
            rate = rate.target("≥ 20000/s", o.per_sec() >= 20_000.0);
            p99 = p99.target("< 10 ms", o.p99_ms < 10.0);
        }
        b.figures.push(rate);
        b.figures.push(Figure::new(
            format!("actions_c{clients}_p50"),
            o.p50_ms,
            "ms",
        ));
        b.figures.push(p99);
    }
    Ok(())
}
