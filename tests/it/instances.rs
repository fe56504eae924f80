//! Several instances on one PostgreSQL database (issue 12): what one instance publishes
//! reaches the listeners of every instance exactly once, however long; a session ended on one
//! instance is refused by the others at once, not after `auth_cache_ms`. On SQLite (one
//! instance per database) there is nothing to check, and these tests return.
use api_spec::jobs::ImportMode;
use std::time::{Duration, Instant};

use api_spec::actions::{
    ListDirectory, ListDirectoryRequest, Logout, LogoutRequest, RegisterListener,
    RegisterListenerRequest,
};
use coffer::events::Audience;
use coffer::server::RunningServer;
use serde_json::json;
use tests::server::ADMIN_PASSWORD;
use tests::{Client, TestServer};

use crate::imports::tenant_id;
use crate::support::mkdir;

/// Another instance on the same database and blob store, with `adjust` applied.
pub(crate) async fn another(
    server: &TestServer,
    adjust: impl FnOnce(&mut coffer::config::Config),
) -> RunningServer {
    let mut config = server.config_for_another_instance();
    adjust(&mut config);
    coffer::start(config, coffer::server::Signals::Ignore)
        .await
        .unwrap()
}

async fn admin_on(instance: &RunningServer) -> Client {
    let mut c = Client::connect(&format!("ws://{}/ws", instance.addr())).await;
    c.login("admin", ADMIN_PASSWORD, None).await.unwrap();
    c
}

async fn listen(c: &mut Client) {
    c.call::<RegisterListener>(&RegisterListenerRequest { events: None })
        .await
        .unwrap();
}

/// The p-th percentile of `values` (sorted here).
fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    values[((values.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_instance_publishes_reaches_every_instances_listeners_once() {
    let server = TestServer::start().await;
    if !server.uses_postgres() {
        return;
    }
    let b = another(&server, |_| {}).await;
    let mut on_a = server.admin().await;
    let mut heard_on_a = server.admin().await;
    let mut heard_on_b = admin_on(&b).await;
    listen(&mut heard_on_a).await;
    listen(&mut heard_on_b).await;

    // An action on A: both listeners hear it, once (the next thing each hears is the next
    // action, not a copy).
    let first = mkdir(&mut on_a, "made on a", None).await;
    let second = mkdir(&mut on_a, "made on a too", None).await;
    for listener in [&mut heard_on_a, &mut heard_on_b] {
        for id in [&first, &second] {
            let e = listener.next_event().await;
            assert_eq!(e.event, "directory_changed", "{e:?}");
            assert_eq!(e.data["folder_id"], json!(id), "{e:?}");
        }
    }

    // Longer than a notification carries: it travels by reference, whole.
    let tenant = tenant_id(&server, "default").await;
    let long = "x".repeat(20_000);
    let events = &server.state().events;
    events.publish(
        tenant,
        Audience::Readers(None),
        "directory_changed",
        &json!({"long": long}),
    );
    let e = heard_on_b.next_event().await;
    assert_eq!(e.data["long"].as_str().map(str::len), Some(20_000));
    drop(heard_on_a);

    // Delivery latency from A's bus to B's listener, one event at a time.
    let mut latencies = Vec::with_capacity(1000);
    for seq in 0..1000 {
        let sent = Instant::now();
        events.publish(
            tenant,
            Audience::Readers(None),
            "directory_changed",
            &json!({"seq": seq}),
        );
        let e = heard_on_b.next_event().await;
        latencies.push(sent.elapsed());
        assert_eq!(e.data["seq"], seq, "in order, each once");
    }
    let (p50, p99) = (
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99),
    );
    eprintln!("bus delivery A → B listener over 1,000 events: p50 {p50:?}, p99 {p99:?}");
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
    b.request_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_on_one_instance_is_refused_by_the_others_at_once() {
    // Caches that would otherwise hold an authentication for ten minutes.
    let long_cache = |c: &mut coffer::config::Config| c.auth_cache_ms = 600_000;
    let server = TestServer::start_with(long_cache).await;
    if !server.uses_postgres() {
        return;
    }
    let b = another(&server, long_cache).await;
    let on_a = server.admin().await;
    let mut on_b = Client::connect(&format!("ws://{}/ws", b.addr())).await;
    on_b.share_session(&on_a);
    let root = ListDirectoryRequest { folder_id: None };
    // B has authenticated the token, and remembers it.
    on_b.call::<ListDirectory>(&root).await.unwrap();
    on_b.call::<ListDirectory>(&root).await.unwrap();

    on_a.call::<Logout>(&LogoutRequest { all: false })
        .await
        .unwrap();
    let ended = Instant::now();
    let mut refused = None;
    while ended.elapsed() < Duration::from_secs(5) {
        if on_b.call::<ListDirectory>(&root).await.is_err() {
            refused = Some(ended.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let refused = refused.expect("B still accepts the token 5 s after the logout on A");
    eprintln!("a logout on A was refused by B after {refused:?}");
    assert!(refused < Duration::from_secs(2), "{refused:?}");
    b.request_stop();
}

/// Initiates an import through `c` and uploads archive and key over HTTP to `addr`.
async fn upload_through(
    addr: std::net::SocketAddr,
    c: &mut Client,
    archive: &[u8],
    key: &[u8],
) -> api_spec::actions::InitiateBackupImportResponse {
    use api_spec::actions::{InitiateBackupImport, InitiateBackupImportRequest};
    let init = c
        .call::<InitiateBackupImport>(&InitiateBackupImportRequest {
            timeout_seconds: Some(600),
            links: None,
        })
        .await
        .unwrap();
    let base = format!("http://{addr}");
    for (task, bytes) in [(&init.archive_task_id, archive), (&init.key_task_id, key)] {
        let put = tests::http::put(
            &base,
            c.token().as_deref(),
            task,
            bytes.to_vec(),
            None,
            None,
        )
        .await;
        assert_eq!(put.status, 200, "{:?}", put.json());
    }
    init
}

pub(crate) async fn tenant_admin_on(addr: std::net::SocketAddr, slug: &str) -> Client {
    let mut c = Client::connect(&format!("ws://{addr}/ws")).await;
    c.login("admin", "tenant-admin-pw", Some(slug))
        .await
        .unwrap();
    c
}

/// The archive and key of a backup of tenant `default`, populated.
async fn a_backup(server: &TestServer) -> (Vec<u8>, Vec<u8>) {
    let mut c = server.admin().await;
    let mut l = crate::backups::listener(server).await;
    crate::backups::populate(&mut c).await;
    let (id, _, _) = crate::backups::export(&mut c, &mut l, crate::backups::plain("src")).await;
    crate::backups::download(&mut c, &id).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploaded_through_one_started_on_another_watched_on_a_third() {
    use api_spec::actions::{GetBackupImportStatus, JobIdRequest, StartBackupImport};
    let mut server = TestServer::start().await;
    if !server.uses_postgres() || !server.uses_s3() {
        return;
    }
    let (archive, key) = a_backup(&server).await;
    let (_, _) = crate::imports::tenant(&server, "phoenix").await;
    // B and C share the database and the object store with A, not the disk. A runs no
    // jobs, so the import runs where it was started, away from the disk its uploads came
    // through; C runs none either, so what its listener hears comes from another instance.
    server.restart_with(|c| c.job_workers = 0).await;
    let (b_disk, c_disk) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b = another(&server, |c| c.data_dir = b_disk.path().to_path_buf()).await;
    let c = another(&server, |c| {
        c.data_dir = c_disk.path().to_path_buf();
        c.job_workers = 0;
    })
    .await;
    let mut on_a = tenant_admin_on(server.addr, "phoenix").await;
    let on_b = tenant_admin_on(b.addr(), "phoenix").await;
    let on_c = tenant_admin_on(c.addr(), "phoenix").await;
    let mut heard_on_c = tenant_admin_on(c.addr(), "phoenix").await;
    listen(&mut heard_on_c).await;

    let init = upload_through(server.addr, &mut on_a, &archive, &key).await;
    on_b.call::<StartBackupImport>(&crate::imports::start(&init.backup_task_id))
        .await
        .unwrap();
    let id = JobIdRequest {
        backup_task_id: init.backup_task_id.clone(),
    };
    let event = loop {
        let e = heard_on_c.next_event().await;
        if e.event == "backup_import_completed" {
            break e;
        }
    };
    assert_eq!(event.data["backup_task_id"], json!(init.backup_task_id));
    assert_eq!(event.data["status"], "completed", "{event:?}");
    let status = on_c.call::<GetBackupImportStatus>(&id).await.unwrap();
    assert_eq!(status.status, "completed", "{status:?}");
    assert_eq!(
        crate::imports::census(&server, "phoenix").await,
        crate::imports::census(&server, "default").await
    );
    // The uploads went with the job; B's staging with its run.
    assert!(crate::imports::no_import_leftovers(&server));
    let b_imports = b_disk.path().join("imports");
    assert!(
        std::fs::read_dir(&b_imports).map_or(true, |d| d
            .flatten()
            .all(|t| std::fs::read_dir(t.path()).map_or(true, |mut j| j.next().is_none()))),
        "B's staging is removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_import_on_its_own_disk_has_it_finished_by_another() {
    crate::import_jobs::an_instance_dies_mid_import(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_of_ten_tenants_across_three_instances_each_run_exactly_once() {
    use api_spec::actions::{CreateTenant, CreateTenantRequest, GenerateBackup, StartBackupImport};
    use entity::job;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let server = TestServer::start().await;
    if !server.uses_postgres() {
        return;
    }
    let (archive, key) = a_backup(&server).await;
    let root = server.admin().await;
    let slugs: Vec<String> = (0..10).map(|i| format!("tenant-{i}")).collect();
    for slug in &slugs {
        root.call::<CreateTenant>(&CreateTenantRequest {
            tenant: slug.clone(),
            display_name: None,
            admin_password: "tenant-admin-pw".into(),
        })
        .await
        .unwrap();
    }
    let (b, c) = (
        another(&server, |_| {}).await,
        another(&server, |_| {}).await,
    );
    let addrs = [server.addr, b.addr(), c.addr()];
    let states = [server.state(), b.state(), c.state()];
    let runs_before: u64 = states.iter().map(|s| s.jobs.runs_started()).sum();
    let db = &server.state().db;
    let since = coffer::time::now_ms();

    // Each tenant: an export submitted to one instance, two imports uploaded through one and
    // started on the next.
    let mut submitted = Vec::new();
    for (i, slug) in slugs.iter().enumerate() {
        let mut here = tenant_admin_on(addrs[i % 3], slug).await;
        let next = tenant_admin_on(addrs[(i + 1) % 3], slug).await;
        let export = here
            .call::<GenerateBackup>(&crate::backups::plain("nightly"))
            .await
            .unwrap();
        submitted.push(export.backup_task_id);
        for _ in 0..2 {
            let init = upload_through(addrs[i % 3], &mut here, &archive, &key).await;
            let mut req = crate::imports::start(&init.backup_task_id);
            req.mode = Some(ImportMode::Merge);
            next.call::<StartBackupImport>(&req).await.unwrap();
            submitted.push(init.backup_task_id);
        }
    }
    assert_eq!(submitted.len(), 30);

    // All end; each completed, claimed once.
    let mut rows = Vec::new();
    for _ in 0..1200 {
        rows = job::Entity::find()
            .filter(job::Column::CreatedAt.gte(since))
            .all(db)
            .await
            .unwrap();
        if rows.len() == 30
            && rows
                .iter()
                .all(|j| !["queued", "running"].contains(&j.status.as_str()))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rows.len(), 30);
    for j in &rows {
        assert_eq!((j.status.as_str(), j.attempts), ("completed", 1), "{j:?}");
    }
    let runs: u64 = states.iter().map(|s| s.jobs.runs_started()).sum::<u64>() - runs_before;
    assert_eq!(runs, 30, "every job ran exactly once");
    let per_instance: Vec<u64> = states.iter().map(|s| s.jobs.runs_started()).collect();
    eprintln!("runs per instance (with the source export on the first): {per_instance:?}");
    assert!(
        per_instance[1] > 0 && per_instance[2] > 0,
        "every instance ran some: {per_instance:?}"
    );
    // Never two imports of one tenant at once.
    for tenant in rows
        .iter()
        .map(|j| j.tenant_id)
        .collect::<std::collections::HashSet<_>>()
    {
        let mut spans: Vec<(i64, i64)> = rows
            .iter()
            .filter(|j| j.tenant_id == tenant && j.kind == "import")
            .map(|j| (j.started_at.unwrap(), j.finished_at.unwrap()))
            .collect();
        spans.sort();
        assert_eq!(spans.len(), 2);
        assert!(
            spans[0].1 <= spans[1].0,
            "imports of one tenant overlapped: {spans:?}"
        );
    }
    let (source, first) = (
        crate::imports::census(&server, "default").await,
        crate::imports::census(&server, "tenant-0").await,
    );
    assert_eq!(first[0], 2 * source[0], "both merges imported everything");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_made_through_one_instance_downloads_through_another_byte_for_byte() {
    use api_spec::actions::{BackupIdRequest, GetBackupDownload};
    let server = TestServer::start().await;
    if !server.uses_postgres() || !server.uses_s3() {
        return;
    }
    // B shares the database and the object store, not the disk.
    let own_disk = tempfile::tempdir().unwrap();
    // It runs no jobs: the backup is made by A.
    let b = another(&server, |c| {
        c.data_dir = own_disk.path().to_path_buf();
        c.job_workers = 0;
    })
    .await;
    let (archive, key) = a_backup(&server).await;
    let on_b = admin_on(&b).await;
    let backups = on_b
        .call::<api_spec::actions::ListBackups>(&api_spec::envelope::Empty {})
        .await
        .unwrap();
    let backup_id = backups.backups[0].backup_id.clone();
    let tasks = on_b
        .call::<GetBackupDownload>(&BackupIdRequest { backup_id })
        .await
        .unwrap();
    let base = format!("http://{}", b.addr());
    let token = on_b.token();
    let token = token.as_deref();
    let archive_on_b = tests::http::get(&base, token, &tasks.archive.task_id, None).await;
    let key_on_b = tests::http::get(&base, token, &tasks.key.task_id, None).await;
    assert_eq!((archive_on_b.status, key_on_b.status), (200, 200));
    assert!(archive_on_b.body == archive, "the archive, byte for byte");
    assert_eq!(key_on_b.body, key);
    // A range of it, as a resumed download asks.
    let range = tests::http::get(&base, token, &tasks.archive.task_id, Some("bytes=100-")).await;
    assert!(range.body == archive[100..], "the archive from byte 100");
    assert!(
        std::fs::read_dir(own_disk.path().join("exports")).is_err(),
        "nothing of it on B's disk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_slot_runs_once_however_many_instances_look() {
    use api_spec::actions::{BackupPolicy, SetBackupPolicy};
    use coffer::time::ManualClock;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    const HOUR: i64 = 3_600_000;
    // 2026-01-01T00:00:00Z.
    let start = 1_767_225_600_000;
    let clock = std::sync::Arc::new(ManualClock::at(start));
    let server = TestServer::start_with_clock(|_| {}, clock.clone()).await;
    if !server.uses_postgres() {
        return;
    }
    let b = coffer::start_with_clock(
        server.config_for_another_instance(),
        coffer::server::Signals::Ignore,
        server.clock.clone(),
    )
    .await
    .unwrap();
    let c = server.admin().await;
    c.call::<SetBackupPolicy>(&BackupPolicy {
        schedule: Some("0 * * * *".into()),
        ..BackupPolicy::default()
    })
    .await
    .unwrap();
    for slot in 1..=5 {
        clock.set(start + slot * HOUR + 1);
        let (on_a, on_b) = tokio::join!(
            coffer::lifecycle::policy::tick(server.state()),
            coffer::lifecycle::policy::tick(b.state()),
        );
        assert_eq!(on_a.unwrap() + on_b.unwrap(), 1, "slot {slot}");
    }
    let exports = entity::job::Entity::find()
        .filter(entity::job::Column::Kind.eq("export"))
        .count(&server.state().db)
        .await
        .unwrap();
    assert_eq!(exports, 5);

    // A drill slot too: each stored backup is verified once, not once per instance.
    c.call::<SetBackupPolicy>(&BackupPolicy {
        drill_schedule: Some("0 4 * * *".into()),
        ..BackupPolicy::default()
    })
    .await
    .unwrap();
    let mut completed = 0;
    for _ in 0..600 {
        let list = c
            .call::<api_spec::actions::ListBackups>(&api_spec::envelope::Empty {})
            .await
            .unwrap()
            .backups;
        if list.iter().all(|b| b.status != "running") {
            completed = list.iter().filter(|b| b.status == "completed").count();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(completed, 5);
    clock.set(start + 28 * HOUR + 1);
    let (on_a, on_b) = tokio::join!(
        coffer::lifecycle::policy::tick(server.state()),
        coffer::lifecycle::policy::tick(b.state()),
    );
    assert_eq!(
        on_a.unwrap() + on_b.unwrap(),
        5,
        "one verification per backup"
    );
    let verifications = entity::job::Entity::find()
        .filter(entity::job::Column::Kind.eq("verify"))
        .count(&server.state().db)
        .await
        .unwrap();
    assert_eq!(verifications, 5);
    b.request_stop();
}
