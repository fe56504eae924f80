//! Import jobs over time and across instances: deadlines, cancellation and dead servers end
//! jobs and remove their uploads; another tenant's listener hears nothing; an instance that
//! dies mid-import has the job run again; random tenants survive export and import; progress
//! moves against one total.
use api_spec::ErrorCode;
use api_spec::actions::Compression;
use api_spec::actions::{
    CancelBackupImport, GetBackupImportStatus, InitiateBackupImport, InitiateBackupImportRequest,
    JobIdRequest, RegisterListener, RegisterListenerRequest, StartBackupImport,
};
use api_spec::jobs::ImportMode;
use api_spec::jobs::JobState;
use entity::job;
use sea_orm::EntityTrait;
use tests::{Client, TestServer};
use uuid::Uuid;

use crate::backups::{download, export, listener, plain, populate, server};
use crate::imports::{
    LEGACY, LEGACY_KEY, census, finished, import, import_leftovers_gone, no_import_leftovers,
    snapshot, start, tenant, tenant_id, upload_pair,
};

pub(crate) async fn set_job(server: &TestServer, id: &str, f: impl FnOnce(&mut job::ActiveModel)) {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    let db = &server.state().db;
    let row = job::Entity::find_by_id(Uuid::parse_str(id).unwrap())
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let mut active = row.into_active_model();
    f(&mut active);
    active.update(db).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_cancellation_and_dead_servers_end_jobs_and_remove_uploads() {
    use sea_orm::Set;
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    let archive = b"not yet a real archive".to_vec();

    // Past its deadline, start answers 408 and the job times out.
    let init = upload_pair(&mut c, &archive, LEGACY_KEY.as_bytes()).await;
    set_job(&server, &init.backup_task_id, |j| j.deadline = Set(Some(1))).await;
    let e = c
        .call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap_err();
    assert_eq!((e.code, e.error), (408, ErrorCode::ImportDeadlinePassed));
    let (event, status) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(
        (event["status"].as_str(), status.status.as_str()),
        (Some("timeout"), "timeout")
    );

    // Never started: the reaper times it out and removes its uploads.
    let init = upload_pair(&mut c, &archive, LEGACY_KEY.as_bytes()).await;
    assert!(!no_import_leftovers(&server));
    set_job(&server, &init.backup_task_id, |j| j.deadline = Set(Some(1))).await;
    assert_eq!(coffer::jobs::reap(server.state(), false).await.unwrap(), 1);
    let (event, _) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(event["status"], "timeout");
    assert!(no_import_leftovers(&server));
    // Its upload tasks are gone with it.
    let late = c.upload(&init.key_task_id, b"{}").await.unwrap_err();
    assert_eq!(late.error, ErrorCode::TaskNotUsable);

    // Cancelled while pending: once, with its event; then nothing more.
    let init = upload_pair(&mut c, &archive, LEGACY_KEY.as_bytes()).await;
    let id = JobIdRequest {
        backup_task_id: init.backup_task_id.clone(),
    };
    c.call::<CancelBackupImport>(&id).await.unwrap();
    let (event, status) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(
        (event["status"].as_str(), status.status.as_str()),
        (Some("cancelled"), "cancelled")
    );
    assert!(no_import_leftovers(&server));
    let e = c.call::<CancelBackupImport>(&id).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::JobStateConflict);
    // Leftovers of an ended job (say, an upload stored after the job was cancelled on
    // another instance, or the staging of an instance that stopped) are swept by the reaper.
    let (tenant, job) = (
        tenant_id(&server, "default").await,
        Uuid::parse_str(&init.backup_task_id).unwrap(),
    );
    let leftover = coffer::backup::import::job_dir(&server.state().config, tenant, job);
    std::fs::create_dir_all(leftover.join("staging-1")).unwrap();
    std::fs::write(leftover.join("staging-1").join("x"), b"left behind").unwrap();
    let stray = coffer::layout::import_upload(job, Uuid::now_v7(), &"ab".repeat(32), true);
    server
        .store_object(&stray, b"a key file stored too late")
        .await;
    assert!(!no_import_leftovers(&server));
    coffer::jobs::reap(server.state(), false).await.unwrap();
    assert!(!leftover.exists());
    assert!(!server.has_object(&stray).await);
    assert!(no_import_leftovers(&server));
    let e = c
        .call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap_err();
    assert_eq!(e.error, ErrorCode::JobStateConflict);

    // Cancelled while queued behind another running import of the tenant: the queued job
    // never runs, and its uploads go.
    let blocker = upload_pair(&mut c, &archive, LEGACY_KEY.as_bytes()).await;
    let instance = server.state().jobs.instance().to_owned();
    set_job(&server, &blocker.backup_task_id, |j| {
        j.status = Set(JobState::Running);
        j.worker_id = Set(Some(instance));
        j.heartbeat_at = Set(Some(i64::MAX / 2));
    })
    .await;
    let fixture = std::fs::read(format!("{LEGACY}.cfms.enc")).unwrap();
    let fixture_key = std::fs::read(format!("{LEGACY}.key")).unwrap();
    let init = upload_pair(&mut c, &fixture, &fixture_key).await;
    let mut req = start(&init.backup_task_id);
    req.allow_legacy = true;
    req.mode = Some(ImportMode::Merge);
    c.call::<StartBackupImport>(&req).await.unwrap();
    let id = JobIdRequest {
        backup_task_id: init.backup_task_id.clone(),
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let waiting = c.call::<GetBackupImportStatus>(&id).await.unwrap();
    assert_eq!(waiting.status, "queued", "one running import per tenant");
    c.call::<CancelBackupImport>(&id).await.unwrap();
    let (event, status) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(
        (event["status"].as_str(), status.status.as_str()),
        (Some("cancelled"), "cancelled")
    );
    assert!(status.started_time.is_none(), "it never ran");
    let job = Uuid::parse_str(&init.backup_task_id)
        .unwrap()
        .simple()
        .to_string();
    let uploads_of_job = || {
        server
            .import_uploads()
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(&job))
            .count()
    };
    for _ in 0..50 {
        if uploads_of_job() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        uploads_of_job(),
        0,
        "the cancelled job's uploads are removed"
    );
    assert_eq!(census(&server, "default").await, [0, 0, 0, 0]);
    set_job(&server, &blocker.backup_task_id, |j| {
        j.status = Set(JobState::Cancelled)
    })
    .await;
    coffer::backup::import::discard(
        server.state(),
        &job::Entity::find_by_id(Uuid::parse_str(&blocker.backup_task_id).unwrap())
            .one(&server.state().db)
            .await
            .unwrap()
            .unwrap(),
    )
    .await;

    // A job another (now silent) server was running fails as interrupted.
    let init = upload_pair(&mut c, &archive, LEGACY_KEY.as_bytes()).await;
    set_job(&server, &init.backup_task_id, |j| {
        j.status = Set(JobState::Running);
        j.worker_id = Set(Some("a-dead-server".into()));
        j.heartbeat_at = Set(Some(1));
    })
    .await;
    assert_eq!(coffer::jobs::reap(server.state(), false).await.unwrap(), 1);
    let (event, status) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(event["error"], "job_interrupted");
    assert_eq!(status.status, "failed");
    assert!(no_import_leftovers(&server));

    // So does one this instance owns but no task of it runs (a task that died), once silent.
    let init = upload_pair(&mut c, &archive, LEGACY_KEY.as_bytes()).await;
    let instance = server.state().jobs.instance().to_owned();
    set_job(&server, &init.backup_task_id, |j| {
        j.status = Set(JobState::Running);
        j.worker_id = Set(Some(instance));
        j.heartbeat_at = Set(Some(1));
    })
    .await;
    assert_eq!(coffer::jobs::reap(server.state(), false).await.unwrap(), 1);
    let (event, _) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(event["error"], "job_interrupted");
    assert!(no_import_leftovers(&server));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_of_another_tenant_hears_nothing_of_an_import() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    let (mut other, mut ol) = tenant(&server, "elsewhere").await;
    crate::support::mkdir(&mut other, "x", None).await;
    let archive = std::fs::read(format!("{LEGACY}.cfms.enc")).unwrap();
    let key = std::fs::read(format!("{LEGACY}.key")).unwrap();
    let (event, _) = import(&mut c, &mut l, &archive, &key, |r| r.allow_legacy = true).await;
    assert_eq!(event["status"], "completed");
    // Give a stray event time to arrive, then check the other tenant's listener.
    let probe = ol
        .call::<api_spec::actions::ServerInfo>(&api_spec::envelope::Empty {})
        .await;
    assert!(probe.is_ok());
    assert!(
        ol.take_events()
            .iter()
            .all(|e| !e.event.starts_with("backup_import")),
        "another tenant's listener heard an import"
    );
}

/// A second server instance on `server`'s database and data, on its own runtime and thread,
/// which [`Crashable::crash`] stops dead: its tasks vanish mid-await, as in a process abort.
struct Crashable {
    addr: std::net::SocketAddr,
    kill: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Crashable {
    fn start(config: coffer::config::Config) -> Self {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (kill, kill_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let running = rt
                .block_on(coffer::start(config, coffer::server::Signals::Ignore))
                .unwrap();
            addr_tx.send(running.addr()).unwrap();
            let _ = kill_rx.recv();
            // No graceful anything: every task of this instance stops where it is.
            std::mem::forget(running);
            rt.shutdown_background();
        });
        let addr = addr_rx.recv().unwrap();
        Self { addr, kill, thread }
    }

    fn crash(self) {
        self.kill.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_dies_mid_import_has_the_import_run_again_by_another() {
    an_instance_dies_mid_import(false).await;
}

/// An instance receives an import's uploads and runs it, and dies in the middle; another
/// instance (here: the test server, restarted to take jobs) runs it again, by the rule, and
/// nothing is left over. `own_disk`: the doomed instance has a data directory of its own
/// (PostgreSQL and S3 only; the test returns otherwise), so what it leaves on its disk is
/// out of every other instance's reach.
pub(crate) async fn an_instance_dies_mid_import(own_disk: bool) {
    let mut server = TestServer::start_with(|c| {
        c.backup_segment_bytes = 64 * 1024;
        c.job_stale_secs = 1;
    })
    .await;
    if own_disk && !(server.uses_postgres() && server.uses_s3()) {
        return;
    }
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (backup_id, _, _) = export(&mut c, &mut l, plain("crash")).await;
    let (archive, key) = download(&mut c, &backup_id).await;
    let (_, _) = tenant(&server, "phoenix").await;
    let blobs_before = server.blob_files().len();
    // Only the doomed instance takes jobs from the queue.
    server
        .restart_with(|c| {
            c.backup_segment_bytes = 64 * 1024;
            c.job_stale_secs = 1;
            c.job_workers = 0;
        })
        .await;

    // The doomed instance receives the uploads and runs the import.
    let doomed_disk = tempfile::tempdir().unwrap();
    let mut config = server.config_for_another_instance();
    if own_disk {
        config.data_dir = doomed_disk.path().to_path_buf();
    }
    let doomed = Crashable::start(config);
    let url = format!("ws://{}/ws", doomed.addr);
    let mut dc = Client::connect(&url).await;
    dc.login("admin", "tenant-admin-pw", Some("phoenix"))
        .await
        .unwrap();
    let mut dl = Client::connect(&url).await;
    dl.login("admin", "tenant-admin-pw", Some("phoenix"))
        .await
        .unwrap();
    dl.call::<RegisterListener>(&RegisterListenerRequest { events: None })
        .await
        .unwrap();
    let init = dc
        .call::<InitiateBackupImport>(&InitiateBackupImportRequest::default())
        .await
        .unwrap();
    dc.upload(&init.archive_task_id, &archive).await.unwrap();
    dc.upload(&init.key_task_id, &key).await.unwrap();
    dc.call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap();
    // Dies as soon as the import reports that it imports (its archive verified and
    // unpacked; blobs and rows about to be placed).
    loop {
        let e = dl.next_event().await;
        if e.event == "backup_import_progress"
            && e.data["progress_percent"].as_i64().unwrap_or(0) >= 60
        {
            break;
        }
    }
    doomed.crash();

    // An instance that runs jobs notices the silence and, by the rule (the key is in the
    // job's key file), runs the import again.
    server
        .restart_with(|c| {
            c.backup_segment_bytes = 64 * 1024;
            c.job_stale_secs = 1;
        })
        .await;
    let mut admin = server.client().await;
    admin
        .login("admin", "tenant-admin-pw", Some("phoenix"))
        .await
        .unwrap();
    let id = JobIdRequest {
        backup_task_id: init.backup_task_id.clone(),
    };
    let mut status = admin.call::<GetBackupImportStatus>(&id).await.unwrap();
    for _ in 0..300 {
        if !["queued", "running"].contains(&status.status.as_str()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        coffer::jobs::reap(server.state(), false).await.unwrap();
        status = admin.call::<GetBackupImportStatus>(&id).await.unwrap();
    }
    // Whether or not it committed before it died, it ends complete, exactly once: every
    // row there, every blob referenced.
    assert_eq!(status.status, "completed", "{status:?}");
    let after = census(&server, "phoenix").await;
    assert_eq!((after[0], after[1], after[2]), (2, 42, 43));
    assert_eq!(after, census(&server, "default").await);
    assert_eq!(
        server.blob_files().len(),
        blobs_before + after[3],
        "no orphan blobs"
    );
    assert!(import_leftovers_gone(&server).await);
    let journal = entity::job_blob::Entity::find()
        .all(&server.state().db)
        .await
        .unwrap();
    assert!(journal.is_empty(), "{journal:?}");
}

/// A small deterministic generator (xorshift), so a failing tenant can be rebuilt from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Builds a random tenant: a folder tree, documents anywhere with 0–3 revisions of random
/// sizes (empty ones, shared contents, multi-segment ones), rules on some objects.
async fn random_tenant(c: &mut Client, rng: &mut Rng) {
    const WORDS: [&str; 6] = ["Отчёт", "报告", "naïve", "plain", "Ünïcödé", "a b"];
    let mut folders: Vec<Option<String>> = vec![None];
    for i in 0..rng.below(8) {
        let parent = folders[rng.below(folders.len() as u64) as usize].clone();
        let name = format!("{} {i}", WORDS[rng.below(6) as usize]);
        let id = crate::support::mkdir(c, &name, parent.as_deref()).await;
        if rng.below(3) == 0 {
            let rule = serde_json::json!([{"match": "any", "match_groups": [
                {"groups": {"match": "any", "require": ["sysop", format!("g{i}")]}}]}]);
            let reply = c
                .request(
                    "set_directory_rules",
                    serde_json::json!({"directory_id": id, "access_rules": {"read": rule},
                        "inherit_parent": rng.below(2) == 0}),
                )
                .await;
            assert_eq!(reply.code, 200, "{reply:?}");
        }
        folders.push(Some(id));
    }
    let shared = crate::backups::content(5000, rng.next());
    for i in 0..1 + rng.below(12) {
        let folder = folders[rng.below(folders.len() as u64) as usize].clone();
        let req = api_spec::actions::CreateDocumentRequest {
            title: format!("{} doc {i}", WORDS[rng.below(6) as usize]),
            folder_id: folder,
            access_rules: None,
            inherit_parent: None,
        };
        let doc = c
            .call::<api_spec::actions::CreateDocument>(&req)
            .await
            .unwrap();
        let mut task = Some(doc.task_data.task_id);
        for _ in 0..rng.below(4) {
            let bytes = match rng.below(4) {
                0 => Vec::new(),
                1 => shared.clone(),
                _ => crate::backups::content(rng.below(150_000) as usize, rng.next()),
            };
            let task_id = match task.take() {
                Some(t) => t,
                None => {
                    c.call::<api_spec::actions::UploadDocument>(
                        &api_spec::actions::DocumentIdRequest {
                            document_id: doc.document_id.clone(),
                        },
                    )
                    .await
                    .unwrap()
                    .task_data
                    .task_id
                }
            };
            c.upload(&task_id, &bytes).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_tenants_survive_export_and_import() {
    let server = server().await;
    for seed in [0x9e37_79b9_7f4a_7c15u64, 42, 7_777_777] {
        let mut rng = Rng(seed);
        let (mut src, mut sl) = tenant(&server, &format!("src-{}", seed % 1000)).await;
        random_tenant(&mut src, &mut rng).await;
        let before = snapshot(&server, &format!("src-{}", seed % 1000)).await;
        let compression = [Compression::Zstd, Compression::None][(seed % 2) as usize];
        let req = api_spec::actions::GenerateBackupRequest {
            backup_name: Some(format!("random {seed}")),
            passphrase: None,
            compression: Some(compression),
            incremental: false,
            base_backup_id: None,
        };
        let (backup_id, _, done) = export(&mut src, &mut sl, req).await;
        assert_eq!(done["status"], "completed", "seed {seed}");
        let (archive, key) = download(&mut src, &backup_id).await;
        let dst = format!("dst-{}", seed % 1000);
        let (mut d, mut dl) = tenant(&server, &dst).await;
        let (event, status) = import(&mut d, &mut dl, &archive, &key, |_| {}).await;
        assert_eq!(event["status"], "completed", "seed {seed}: {status:?}");
        assert_eq!(snapshot(&server, &dst).await, before, "seed {seed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_progress_moves_against_one_total_and_the_end_says_so() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (backup_id, _, _) = export(&mut c, &mut l, plain("progress")).await;
    let (archive, key) = download(&mut c, &backup_id).await;
    let (mut admin, mut tl) = tenant(&server, "progress").await;
    let init = upload_pair(&mut admin, &archive, &key).await;
    admin
        .call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap();
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let done = loop {
        let event = tl.next_event().await;
        if event.data["backup_task_id"] != init.backup_task_id.as_str() {
            continue;
        }
        let at = (
            event.data["bytes_done"].as_u64().unwrap(),
            event.data["bytes_total"].as_u64().unwrap(),
        );
        seen.push(at);
        if event.event == "backup_import_completed" {
            break event;
        }
    };
    assert_eq!(done.data["status"], "completed", "{done:?}");
    // One total throughout (the archive's bytes, verified then imported), never zero;
    // bytes_done never goes back and ends at the total.
    let total = seen[0].1;
    assert_eq!(total, 2 * archive.len() as u64, "{seen:?}");
    assert!(seen.iter().all(|(_, t)| *t == total), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
    assert!(seen.iter().any(|(d, _)| *d > 0 && *d < total), "{seen:?}");
    assert_eq!(seen.last().unwrap().0, total, "{seen:?}");
    let status = admin
        .call::<GetBackupImportStatus>(&JobIdRequest {
            backup_task_id: init.backup_task_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        status.current_step,
        Some(api_spec::jobs::JobStep::Completed)
    );
    assert_eq!((status.bytes_done, status.bytes_total), (total, total));
    assert_eq!(status.progress_percent, 100);
    let counts = status.counts.expect("the final counts");
    assert!(counts["documents"].as_u64().unwrap() > 0, "{counts}");
    // The completed event says the same: its final step and counts.
    assert_eq!(done.data["current_step"], "completed", "{done:?}");
    assert_eq!(done.data["counts"], counts, "{done:?}");
}
