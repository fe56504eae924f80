//! The job queue (issue 12) on one instance, on every backend: a queued job survives a
//! restart; a job of an instance that stopped runs again when its key is in its key file, and
//! fails with `job_interrupted` when only the stopped instance held its key, or when it was
//! claimed `MAX_ATTEMPTS` times.
use api_spec::jobs::ImportMode;
use api_spec::jobs::JobState;
use std::time::Duration;

use api_spec::actions::{
    GenerateBackup, GenerateBackupRequest, GetBackupExportStatus, GetBackupImportStatus,
    JobIdRequest, JobStatus, StartBackupImport,
};
use entity::job;
use sea_orm::{ActiveValue::Set, EntityTrait};
use tests::{Client, TestServer};
use uuid::Uuid;

use crate::backups::{download, export, listener, plain, populate};
use crate::import_jobs::set_job;
use crate::imports::{census, import_leftovers_gone, start, tenant, upload_pair};

const PASSPHRASE: &str = "correct horse battery";

async fn status_of(c: &mut Client, id: &str, export: bool) -> JobStatus {
    let req = JobIdRequest {
        backup_task_id: id.into(),
    };
    if export {
        c.call::<GetBackupExportStatus>(&req).await.unwrap()
    } else {
        c.call::<GetBackupImportStatus>(&req).await.unwrap()
    }
}

/// Polls a job until it is no longer queued or running (at most 60 s).
async fn ended(c: &mut Client, id: &str, export: bool) -> JobStatus {
    for _ in 0..600 {
        let status = status_of(c, id, export).await;
        if !["queued", "running"].contains(&status.status.as_str()) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("job {id} did not end");
}

async fn row(server: &TestServer, id: &str) -> job::Model {
    job::Entity::find_by_id(Uuid::parse_str(id).unwrap())
        .one(&server.state().db)
        .await
        .unwrap()
        .unwrap()
}

/// A server holding tenant `default`, populated, and an empty tenant `phoenix`; the archive
/// and key of a backup of `default`. The server is restarted to run and reap nothing on its
/// own: the test does.
async fn a_backup_and_an_idle_instance() -> (TestServer, Vec<u8>, Vec<u8>) {
    let mut server = TestServer::start().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (backup_id, _, _) = export(&mut c, &mut l, plain("source")).await;
    let (archive, key) = download(&mut c, &backup_id).await;
    let (_, _) = tenant(&server, "phoenix").await;
    drop((c, l));
    server
        .restart_with(|c| {
            c.job_workers = 0;
            c.job_reap_secs = 3600;
        })
        .await;
    (server, archive, key)
}

/// A backup's archive and key file.
type Pair = (Vec<u8>, Vec<u8>);

/// Tenant `default` populated, an empty tenant `phoenix`, and the archive and key of two
/// backups of `default`: one whose key is in its key file, one a passphrase wraps.
async fn plain_and_wrapped(server: &TestServer) -> (Pair, Pair) {
    let mut c = server.admin().await;
    let mut l = listener(server).await;
    populate(&mut c).await;
    let (plain_id, _, _) = export(&mut c, &mut l, plain("plain")).await;
    let with_passphrase = GenerateBackupRequest {
        passphrase: Some(PASSPHRASE.into()),
        ..plain("wrapped")
    };
    let (wrapped_id, _, _) = export(&mut c, &mut l, with_passphrase).await;
    let plain_pair = download(&mut c, &plain_id).await;
    let wrapped_pair = download(&mut c, &wrapped_id).await;
    let (_, _) = tenant(server, "phoenix").await;
    (plain_pair, wrapped_pair)
}

async fn phoenix_admin(server: &TestServer) -> Client {
    let mut c = server.client().await;
    c.login("admin", "tenant-admin-pw", Some("phoenix"))
        .await
        .unwrap();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_survive_a_restart_by_the_documented_rule() {
    let mut server = TestServer::start().await;
    let ((archive, key), (wrapped_archive, wrapped_key)) = plain_and_wrapped(&server).await;

    // An instance that takes nothing from the shared queue (and beats and reaps only as it
    // starts: this test says when its jobs fall silent).
    server
        .restart_with(|c| {
            c.job_workers = 0;
            c.job_heartbeat_secs = 3600;
            c.job_reap_secs = 3600;
        })
        .await;
    let mut c = server.admin().await;
    let mut p = phoenix_admin(&server).await;
    // An export of `default` and an import into `phoenix` whose keys are in key files: queued
    // for any instance, and this one takes none.
    let queued_export = c.call::<GenerateBackup>(&plain("queued")).await.unwrap();
    let plain_import = upload_pair(&mut p, &archive, &key).await;
    p.call::<StartBackupImport>(&start(&plain_import.backup_task_id))
        .await
        .unwrap();
    // An import whose key a passphrase unwrapped: only this instance can run it, and would
    // (even with no workers) — but another import of the tenant runs, so it waits.
    let blocker = upload_pair(&mut p, &archive, &key).await;
    let instance = server.state().jobs.instance().to_owned();
    set_job(&server, &blocker.backup_task_id, |j| {
        j.status = Set(JobState::Running);
        j.worker_id = Set(Some(instance));
        j.heartbeat_at = Set(Some(i64::MAX / 2));
    })
    .await;
    let wrapped_import = upload_pair(&mut p, &wrapped_archive, &wrapped_key).await;
    let mut req = start(&wrapped_import.backup_task_id);
    req.passphrase = Some(PASSPHRASE.into());
    p.call::<StartBackupImport>(&req).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        status_of(&mut c, &queued_export.backup_task_id, true)
            .await
            .status,
        "queued"
    );
    for id in [&plain_import.backup_task_id, &wrapped_import.backup_task_id] {
        assert_eq!(status_of(&mut p, id, false).await.status, "queued", "{id}");
    }
    let wrapped_row = row(&server, &wrapped_import.backup_task_id).await;
    assert_eq!(
        wrapped_row.worker_id.as_deref(),
        Some(server.state().jobs.instance()),
        "reserved for the instance that holds its key"
    );
    assert_eq!(
        row(&server, &plain_import.backup_task_id).await.worker_id,
        None,
        "anyone's"
    );
    drop((c, p));

    // The instance stops, its heartbeats long silent; one that runs jobs starts.
    for id in [&blocker.backup_task_id, &wrapped_import.backup_task_id] {
        set_job(&server, id, |j| j.heartbeat_at = Set(Some(1))).await;
    }
    server.restart_with(|_| {}).await;
    let mut c = server.admin().await;
    let mut p = phoenix_admin(&server).await;
    let export_status = ended(&mut c, &queued_export.backup_task_id, true).await;
    assert_eq!(export_status.status, "completed", "{export_status:?}");
    let (again, _) = download(&mut c, &queued_export.backup_id).await;
    assert!(!again.is_empty());
    let wrapped = ended(&mut p, &wrapped_import.backup_task_id, false).await;
    assert_eq!(
        (wrapped.status.as_str(), wrapped.error.as_deref()),
        ("failed", Some("job_interrupted")),
        "its key went with the instance that held it"
    );
    let imported = ended(&mut p, &plain_import.backup_task_id, false).await;
    assert_eq!(imported.status, "completed", "{imported:?}");
    assert_eq!(row(&server, &plain_import.backup_task_id).await.attempts, 1);
    assert_eq!(
        census(&server, "phoenix").await,
        census(&server, "default").await
    );
    assert!(import_leftovers_gone(&server).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_instances_job_runs_again_at_most_max_attempts_times() {
    let (mut server, archive, key) = a_backup_and_an_idle_instance().await;
    let mut p = phoenix_admin(&server).await;

    // Two imports queued for anyone, each "claimed by an instance that stopped" (one at a
    // time: one import of a tenant runs at once): one on its last attempt, one on its first.
    let spent = upload_pair(&mut p, &archive, &key).await;
    let again = upload_pair(&mut p, &archive, &key).await;
    for (init, attempts) in [(&spent, coffer::jobs::MAX_ATTEMPTS), (&again, 1)] {
        let mut req = start(&init.backup_task_id);
        req.mode = Some(ImportMode::Merge);
        p.call::<StartBackupImport>(&req).await.unwrap();
        set_job(&server, &init.backup_task_id, |j| {
            j.status = Set(JobState::Running);
            j.worker_id = Set(Some("a-stopped-instance".into()));
            j.heartbeat_at = Set(Some(1));
            j.attempts = Set(attempts);
        })
        .await;
        assert_eq!(coffer::jobs::reap(server.state(), false).await.unwrap(), 1);
    }
    let spent_status = ended(&mut p, &spent.backup_task_id, false).await;
    assert_eq!(
        (spent_status.status.as_str(), spent_status.error.as_deref()),
        ("failed", Some("job_interrupted"))
    );
    let requeued = row(&server, &again.backup_task_id).await;
    assert_eq!(
        (requeued.status.as_str(), requeued.worker_id.as_deref()),
        ("queued", None),
        "queued again, for anyone"
    );

    // The run that lost it is told so (its runner stops it; its writes are fenced), and a
    // new claim is a new run.
    let lost_run = coffer::storage::jobs::Claim {
        id: requeued.id,
        worker: "a-stopped-instance".into(),
        attempt: 1,
    };
    let (turn, txn) = server.state().begin_write().await.unwrap();
    let kinds = [api_spec::jobs::JobKind::Import];
    let claimed =
        coffer::storage::jobs::claim_next(&txn, "another-instance", &kinds, true, i64::MAX)
            .await
            .unwrap()
            .expect("claimable");
    txn.commit().await.unwrap();
    drop(turn);
    assert_eq!((claimed.id, claimed.attempts), (requeued.id, 2));
    let new_run = coffer::storage::jobs::Claim::of(&claimed);
    let lost = coffer::storage::jobs::lost(&server.state().db, &[lost_run.clone(), new_run])
        .await
        .unwrap();
    assert_eq!(lost, [lost_run]);
    // Back to the queue for the instance below (as a reaper would after that claimer died).
    set_job(&server, &again.backup_task_id, |j| {
        j.status = Set(JobState::Queued);
        j.worker_id = Set(None);
        j.attempts = Set(1);
    })
    .await;

    // An instance that runs jobs takes it and completes it.
    drop(p);
    server.restart_with(|_| {}).await;
    let mut p = phoenix_admin(&server).await;
    let done = ended(&mut p, &again.backup_task_id, false).await;
    assert_eq!(done.status, "completed", "{done:?}");
    assert_eq!(row(&server, &again.backup_task_id).await.attempts, 2);
    assert_eq!(
        census(&server, "phoenix").await,
        census(&server, "default").await
    );
    assert!(import_leftovers_gone(&server).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_under_contention_take_each_job_once() {
    use api_spec::jobs::JobKind;
    use coffer::storage::jobs;
    // No runner of this instance takes these jobs: the claimers below are the only ones.
    let server = TestServer::start_with(|c| c.job_workers = 0).await;
    let state = server.state().clone();
    let c = server.admin().await;
    const JOBS: usize = 300;
    for _ in 0..JOBS {
        c.call::<GenerateBackup>(&plain("claimed")).await.unwrap();
    }

    // Three claimers at once, as three instances' runners would.
    let began = std::time::Instant::now();
    let claimers = (0..3).map(|i| {
        let state = state.clone();
        tokio::spawn(async move {
            let mut claimed = Vec::new();
            loop {
                let (_turn, txn) = state.begin_write().await.unwrap();
                let next = jobs::claim_next(
                    &txn,
                    &format!("claimer-{i}"),
                    &[JobKind::Export],
                    true,
                    i64::MAX,
                )
                .await
                .unwrap();
                txn.commit().await.unwrap();
                match next {
                    Some(job) => claimed.push(job.id),
                    None => return claimed,
                }
            }
        })
    });
    let mut all = Vec::new();
    for claimer in claimers.collect::<Vec<_>>() {
        all.extend(claimer.await.unwrap());
    }
    let took = began.elapsed();
    let distinct: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(
        (all.len(), distinct.len()),
        (JOBS, JOBS),
        "each job claimed once"
    );
    eprintln!(
        "{JOBS} claims by 3 claimers in {took:?}: {:.0} claims/s ({})",
        JOBS as f64 / took.as_secs_f64(),
        if server.uses_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_a_stopped_instances_import_placed_go_with_whoever_takes_it_over() {
    use sha2::{Digest, Sha256};
    let (mut server, archive, key) = a_backup_and_an_idle_instance().await;
    let tenant = crate::imports::tenant_id(&server, "phoenix").await;
    let mut p = phoenix_admin(&server).await;
    let init = upload_pair(&mut p, &archive, &key).await;
    p.call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap();
    let job_id = Uuid::parse_str(&init.backup_task_id).unwrap();
    set_job(&server, &init.backup_task_id, |j| {
        j.status = Set(JobState::Running);
        j.worker_id = Set(Some("a-stopped-instance".into()));
        j.heartbeat_at = Set(Some(1));
        j.attempts = Set(1);
    })
    .await;
    // What the stopped instance's run put into the store before it stopped: its journal
    // in the database names it, the bytes are unreferenced. The instance's disk is out of
    // reach; nothing else of it is needed.
    let bytes = b"placed by a run that stopped with its instance";
    let sha = hex::encode(Sha256::digest(bytes));
    let blob = coffer::storage::blobs::blob_key(tenant, &sha);
    server.store_object(&blob, bytes).await;
    entity::job_blob::Entity::insert(entity::job_blob::ActiveModel {
        job_id: Set(job_id),
        sha256: Set(sha),
        tenant_id: Set(tenant),
    })
    .exec(&server.state().db)
    .await
    .unwrap();

    assert_eq!(coffer::jobs::reap(server.state(), false).await.unwrap(), 1);
    assert_eq!(row(&server, &init.backup_task_id).await.status, "queued");
    assert!(
        !server.has_object(&blob).await,
        "the stopped run's blob is removed"
    );
    let journal = entity::job_blob::Entity::find()
        .all(&server.state().db)
        .await
        .unwrap();
    assert!(journal.is_empty(), "{journal:?}");
    // The uploads stay for the run to come, which completes.
    drop(p);
    server.restart_with(|_| {}).await;
    let mut p = phoenix_admin(&server).await;
    let done = ended(&mut p, &init.backup_task_id, false).await;
    assert_eq!(done.status, "completed", "{done:?}");
    assert!(import_leftovers_gone(&server).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_stopping_on_purpose_hands_its_jobs_off() {
    let mut server = TestServer::start().await;
    let ((archive, key), (wrapped_archive, wrapped_key)) = plain_and_wrapped(&server).await;
    // Nothing runs or reaps on its own: this test says what this instance was doing.
    server
        .restart_with(|c| {
            c.job_workers = 0;
            c.job_reap_secs = 3600;
        })
        .await;
    let mut p = phoenix_admin(&server).await;
    // An import whose key is in its key file, which this instance was running (its second
    // claim), and one whose key only this instance's memory holds.
    let held = upload_pair(&mut p, &archive, &key).await;
    p.call::<StartBackupImport>(&start(&held.backup_task_id))
        .await
        .unwrap();
    let instance = server.state().jobs.instance().to_owned();
    set_job(&server, &held.backup_task_id, |j| {
        j.status = Set(JobState::Running);
        j.worker_id = Set(Some(instance));
        j.heartbeat_at = Set(Some(coffer::time::now_ms()));
        j.attempts = Set(2);
    })
    .await;
    let wrapped = upload_pair(&mut p, &wrapped_archive, &wrapped_key).await;
    let mut req = start(&wrapped.backup_task_id);
    req.passphrase = Some(PASSPHRASE.into());
    req.mode = Some(ImportMode::Merge);
    p.call::<StartBackupImport>(&req).await.unwrap();

    let moved = coffer::jobs::hand_off(server.state(), Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(moved, 2);
    let requeued = row(&server, &held.backup_task_id).await;
    assert_eq!(
        (
            requeued.status.as_str(),
            requeued.worker_id.as_deref(),
            requeued.attempts
        ),
        ("queued", None, 1),
        "queued again for anyone, the cut-short attempt not counted"
    );
    let interrupted = ended(&mut p, &wrapped.backup_task_id, false).await;
    assert_eq!(
        (interrupted.status.as_str(), interrupted.error.as_deref()),
        ("failed", Some("job_interrupted")),
        "its key goes with this instance"
    );

    // The next instance runs the handed-off import at once, with no wait for silence.
    drop(p);
    server.restart_with(|_| {}).await;
    let mut p = phoenix_admin(&server).await;
    let done = ended(&mut p, &held.backup_task_id, false).await;
    assert_eq!(done.status, "completed", "{done:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_handing_its_jobs_off_claims_no_more() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let moved = coffer::jobs::hand_off(server.state(), Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(moved, 0);
    assert!(server.state().jobs.stopping());
    let queued = c.call::<GenerateBackup>(&plain("after")).await.unwrap();
    // Longer than the runner's poll: it would have claimed the job by now.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let status = status_of(&mut c, &queued.backup_task_id, true).await;
    assert_eq!(status.status, "queued", "{status:?}");
}
