//! Backups that survive the loss of the data (issue 27): their own store, and keys the
//! server holds sealed in the database with its master key, never beside the archives.
use std::collections::BTreeMap;

use api_spec::actions::ListBackups;
use api_spec::envelope::Empty;
use tests::{Client, TestServer};

use crate::backups::{download, export, listener, plain, populate};
use crate::lifecycle::{metrics, sample};
use crate::support::{empty_and_restore, files_below, files_holding};

/// Every document of the caller's tenant by path, with its current bytes.
async fn contents(c: &mut Client) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![(None::<String>, String::new())];
    while let Some((id, path)) = todo.pop() {
        let list = crate::support::list(c, id.as_deref()).await;
        for f in list.folders {
            todo.push((Some(f.id), format!("{path}/{}", f.name)));
        }
        for d in list.documents {
            let bytes = crate::support::content_of(c, &d.id).await;
            out.insert(format!("{path}/{}", d.title), bytes);
        }
    }
    out
}

/// A destination's own settings for a bucket of the test's S3 server (its endpoint and
/// credentials).
fn reached_at(s3: &tests::s3::S3Server) -> coffer::config::DestinationSettings {
    let mut own = coffer::Config::default();
    s3.configure(&mut own);
    coffer::config::DestinationSettings {
        endpoint: own.s3_endpoint.clone(),
        region: None,
        access_key_id: own.s3_access_key_id.clone(),
        secret_access_key: own.s3_secret_access_key.take(),
        append_only: false,
    }
}

/// By default the backup store is a directory of its own beside the data (and says it shares
/// the disk); a backup's archive is there and not among the data, and its key — as raw
/// bytes, hex or base64 — is in no file the server keeps: the database holds it sealed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archives_go_to_the_backup_store_and_no_file_holds_a_server_key() {
    let server = crate::backups::server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (id, _, _) = export(&mut c, &mut l, plain("own store")).await;
    let state = server.state();
    if !state.backup_placement.in_data {
        let archives = server.backup_archive_files();
        assert_eq!(archives.len(), 1, "{archives:?}");
        assert!(archives[0].ends_with(uuid::Uuid::parse_str(&id).unwrap().simple().to_string()));
        let in_data = state.blobs.list("backups/").await.unwrap();
        assert!(in_data.is_empty(), "{in_data:?}");
    }
    // The defaults share a disk (or a bucket) with the data, and say so.
    let listed = c.call::<ListBackups>(&Empty {}).await.unwrap();
    assert!(listed.store_shares_data);
    let scrape = metrics(&server).await;
    assert_eq!(
        sample(&scrape, "coffer_backup_store_shares_data", &[]),
        Some(1.0)
    );

    let (_, key_file) = download(&mut c, &id).await;
    let parsed = coffer::archive::keys::KeyFile::parse(&key_file).unwrap();
    let encoded = parsed.key.clone().expect("a key the server holds");
    let bound = parsed
        .unlock(None, coffer::archive::keys::KdfLimits::FORMAT)
        .unwrap();
    let raw = bound.key().expose_secret().to_vec();
    let mut places = vec![server.dir.path().to_path_buf()];
    places.extend(server.s3_root());
    for place in &places {
        let hex_key = hex::encode(&raw);
        let needles: [&[u8]; 3] = [&raw, hex_key.as_bytes(), encoded.as_bytes()];
        for needle in needles {
            let found = files_holding(place, needle);
            assert!(found.is_empty(), "the key in {found:?}");
        }
    }
    assert!(server.backup_key_files().is_empty());
}

/// A backup store in another bucket, with its own endpoint and credentials
/// (`destination."s3://…"`), beside a local data store: apart from the data, so nothing is
/// said to be shared; backups are written, verified and restored through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_store_in_its_own_bucket_works_and_shares_nothing() {
    let s3 = tests::s3::S3Server::start().await;
    std::fs::create_dir(s3.root.path().join("coffer-backups")).unwrap();
    let url = "s3://coffer-backups/primary".to_owned();
    let server = TestServer::start_with(|c| {
        // The data stays where the run keeps it; only the backups go to this bucket.
        c.destination.insert(url.clone(), reached_at(&s3));
        c.backup_storage = Some(url.clone());
        c.backup_segment_bytes = 64 * 1024;
    })
    .await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let before = contents(&mut c).await;
    let (id, _, _) = export(&mut c, &mut l, plain("elsewhere")).await;
    let stored = files_below(&s3.root.path().join("coffer-backups"));
    assert_eq!(stored.len(), 1, "{stored:?}");
    let listed = c.call::<ListBackups>(&Empty {}).await.unwrap();
    // Another bucket is apart from a local data store, and from another bucket alike.
    assert!(!listed.store_shares_data);
    assert_eq!(listed.backups[0].verification, "unverified");
    c.call::<api_spec::actions::VerifyBackup>(&api_spec::actions::VerifyBackupRequest {
        backup_id: id.clone(),
        passphrase: None,
        identity: None,
    })
    .await
    .unwrap();
    let ended = empty_and_restore(&mut c, &id).await;
    assert_eq!(ended.status.as_str(), "completed", "{ended:?}");
    assert_eq!(contents(&mut c).await, before);
}

/// The data store wiped completely: a new server given the same database, backup store and
/// master key (each somewhere of its own) restores every tenant from its newest backup,
/// byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wiped_data_store_is_restored_from_the_backup_store() {
    let apart = tempfile::tempdir().unwrap();
    let (store, master) = (
        apart.path().join("backups"),
        apart.path().join("keys/master.key"),
    );
    let settings = |c: &mut coffer::Config| {
        c.backup_storage = Some(store.display().to_string());
        c.master_key_file = Some(master.clone());
        c.backup_segment_bytes = 64 * 1024;
    };
    let mut server = TestServer::start_with(settings).await;
    let (mut second, mut second_l) = crate::imports::tenant(&server, "second").await;
    let ledger = crate::backups::content(90_000, 9);
    crate::support::mkdoc(&mut second, "ledger.bin", None, &ledger).await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let mut before = Vec::new();
    let mut newest = Vec::new();
    for (client, l) in [(&mut c, &mut l), (&mut second, &mut second_l)] {
        export(client, l, plain("older")).await;
        let (id, _, _) = export(client, l, plain("newest")).await;
        newest.push(id);
        before.push(contents(client).await);
    }
    drop((c, l, second, second_l));

    server.stop().await;
    let data = server.data_store_root();
    std::fs::remove_dir_all(&data).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    server.restart_with(settings).await;

    let mut c = server.admin().await;
    let mut second = server.client().await;
    second
        .login("admin", "tenant-admin-pw", Some("second"))
        .await
        .unwrap();
    for ((client, id), want) in [&mut c, &mut second].into_iter().zip(&newest).zip(&before) {
        let ended = empty_and_restore(client, id).await;
        assert_eq!(ended.status.as_str(), "completed", "{ended:?}");
        assert!(
            contents(client).await == *want,
            "a tenant came back different"
        );
    }
}

/// The copies of backup `id` as `list_backups` shows them, once `done` holds of them (at
/// most 30 s).
async fn copies_when(
    c: &mut Client,
    id: &str,
    done: impl Fn(&[api_spec::actions::BackupCopy]) -> bool,
) -> Vec<api_spec::actions::BackupCopy> {
    let started = std::time::Instant::now();
    loop {
        let listed = c.call::<ListBackups>(&Empty {}).await.unwrap();
        let b = listed.backups.iter().find(|b| b.backup_id == id).unwrap();
        if done(&b.copies) {
            return b.copies.clone();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{:?}",
            b.copies
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn all_copied(copies: &[api_spec::actions::BackupCopy]) -> bool {
    !copies.is_empty() && copies.iter().all(|c| c.state.as_str() == "copied")
}

/// Every completed backup is copied to each destination (a directory and another bucket with
/// its own settings), read back as written; `/metrics` says how old the newest copy is and
/// that nothing waits; deleting the backup removes its copies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backup_is_copied_to_each_destination_and_goes_with_it() {
    let s3 = tests::s3::S3Server::start().await;
    std::fs::create_dir(s3.root.path().join("coffer-copies")).unwrap();
    let (apart, bucket) = (tempfile::tempdir().unwrap(), "s3://coffer-copies/offsite");
    let dir = apart.path().join("copies");
    let server = TestServer::start_with(|c| {
        c.destination.insert(bucket.to_owned(), reached_at(&s3));
        c.backup_copies = vec![dir.display().to_string(), bucket.to_owned()];
    })
    .await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (id, _, _) = export(&mut c, &mut l, plain("copied")).await;
    let copies = copies_when(&mut c, &id, all_copied).await;
    let names: Vec<&str> = copies.iter().map(|c| c.destination.as_str()).collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&bucket) && copies.iter().all(|c| c.copied_time.is_some()));
    let (archive, _) = download(&mut c, &id).await;
    let in_dir = files_below(&dir);
    assert_eq!(in_dir.len(), 1, "{in_dir:?}");
    assert!(
        std::fs::read(&in_dir[0]).unwrap() == archive,
        "the copy is the archive"
    );
    let in_bucket = files_below(&s3.root.path().join("coffer-copies"));
    assert_eq!(in_bucket.len(), 1, "{in_bucket:?}");
    let scrape = metrics(&server).await;
    for name in [dir.display().to_string(), bucket.to_owned()] {
        let labels = [("destination", name.as_str())];
        assert_eq!(
            sample(&scrape, "coffer_backup_copy_waiting_bytes", &labels),
            Some(0.0)
        );
        let age = sample(&scrape, "coffer_backup_copy_newest_age_seconds", &labels);
        assert!(age.is_some_and(|a| (0.0..60.0).contains(&a)), "{age:?}");
    }

    c.call::<api_spec::actions::DeleteBackup>(&api_spec::actions::BackupIdRequest {
        backup_id: id.clone(),
    })
    .await
    .unwrap();
    assert!(files_below(&dir).is_empty());
    assert!(files_below(&s3.root.path().join("coffer-copies")).is_empty());
}

/// A destination that cannot be written: the backup still completes, its copy waits (the
/// bytes waiting rise), tries again only when its wait is over (the server's clock), and
/// catches up once the destination is back; it is not copied again after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_is_down_catches_up_and_nothing_is_copied_twice() {
    let clock = std::sync::Arc::new(coffer::time::ManualClock::at(1_800_000_000_000));
    let apart = tempfile::tempdir().unwrap();
    let dir = apart.path().join("copies");
    let name = dir.display().to_string();
    let server =
        TestServer::start_with_clock(|c| c.backup_copies = vec![name.clone()], clock.clone()).await;
    // Down: a file where the destination's directories go.
    std::fs::write(dir.join("backups"), b"in the way").unwrap();
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (id, _, done) = export(&mut c, &mut l, plain("while down")).await;
    assert_eq!(done["status"], "completed", "{done}");
    let waiting = copies_when(&mut c, &id, |c| c.iter().any(|c| c.attempts >= 1)).await;
    assert_eq!(waiting[0].state.as_str(), "pending");
    assert!(
        waiting[0].error.as_deref().unwrap_or("").contains(&name),
        "{waiting:?}"
    );
    let labels = [("destination", name.as_str())];
    let scrape = metrics(&server).await;
    let bytes = sample(&scrape, "coffer_backup_copy_waiting_bytes", &labels);
    assert!(bytes.is_some_and(|b| b > 0.0), "{bytes:?}");
    assert_eq!(
        sample(&scrape, "coffer_backup_copy_newest_age_seconds", &labels),
        None
    );
    // Its wait is not over: it does not try again.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    let still = copies_when(&mut c, &id, |_| true).await;
    assert_eq!(still[0].attempts, 1, "{still:?}");

    std::fs::remove_file(dir.join("backups")).unwrap();
    clock.advance(31_000);
    let copied = copies_when(&mut c, &id, all_copied).await;
    assert_eq!(copied[0].attempts, 2, "{copied:?}");
    assert!(copied[0].error.is_none());
    let scrape = metrics(&server).await;
    assert_eq!(
        sample(&scrape, "coffer_backup_copy_waiting_bytes", &labels),
        Some(0.0)
    );
    let file = files_below(&dir).remove(0);
    let written = std::fs::metadata(&file).unwrap().modified().unwrap();

    // Later backups copy at once; the first is not copied again.
    clock.advance(3_600_000);
    let (next, _, _) = export(&mut c, &mut l, plain("after")).await;
    copies_when(&mut c, &next, all_copied).await;
    let first = copies_when(&mut c, &id, all_copied).await;
    assert_eq!(first[0].attempts, 2, "{first:?}");
    assert_eq!(
        std::fs::metadata(&file).unwrap().modified().unwrap(),
        written
    );
}

/// An append-only destination receives no delete or overwrite, whatever retention does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_only_destination_is_never_deleted_from() {
    let apart = tempfile::tempdir().unwrap();
    let dir = apart.path().join("vault");
    let name = dir.display().to_string();
    let server = TestServer::start_with(|c| {
        c.backup_copies = vec![name.clone()];
        c.destination.insert(
            name.clone(),
            coffer::config::DestinationSettings {
                append_only: true,
                ..Default::default()
            },
        );
    })
    .await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let mut ids = Vec::new();
    for n in ["one", "two", "three"] {
        let (id, _, _) = export(&mut c, &mut l, plain(n)).await;
        copies_when(&mut c, &id, all_copied).await;
        ids.push(id);
    }
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = files_below(&dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    assert_eq!(before.len(), 3);
    c.call::<api_spec::actions::DeleteBackup>(&api_spec::actions::BackupIdRequest {
        backup_id: ids[0].clone(),
    })
    .await
    .unwrap();
    // Retention that keeps one backup removes the other from the backup store only.
    c.call::<api_spec::actions::SetBackupPolicy>(&api_spec::actions::BackupPolicy {
        keep_last: Some(1),
        ..Default::default()
    })
    .await
    .unwrap();
    let pruned = c
        .call::<api_spec::actions::PruneBackups>(&api_spec::actions::PruneBackupsRequest {
            dry_run: false,
        })
        .await
        .unwrap();
    assert_eq!(pruned.removed, vec![ids[1].clone()], "{pruned:?}");
    let left = c.call::<ListBackups>(&Empty {}).await.unwrap().backups;
    assert_eq!(left.len(), 1);
    for (path, bytes) in &before {
        assert!(
            std::fs::read(path).unwrap() == *bytes,
            "{} changed",
            path.display()
        );
    }
}

/// A backup store named as the data's own place is that store: nothing is moved between
/// them at start, so no archive goes; a copy destination there is refused at start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_store_named_as_the_datas_own_place_loses_nothing() {
    let mut server = TestServer::start_with(|c| {
        c.backup_storage = c.storage.clone().or(Some("blobs".into()));
    })
    .await;
    assert!(server.state().backup_placement.in_data);
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (id, _, _) = export(&mut c, &mut l, plain("beside the data")).await;
    let (archive, _) = download(&mut c, &id).await;
    drop((c, l));
    server
        .restart_with(|c| c.backup_storage = c.storage.clone().or(Some("blobs".into())))
        .await;
    let mut c = server.admin().await;
    assert!(
        download(&mut c, &id).await.0 == archive,
        "the archive is still there"
    );

    let mut config = server.config_for_another_instance();
    config.backup_copies = vec![config.storage.clone().unwrap_or("blobs".into())];
    let refused = coffer::start(config, coffer::server::Signals::Ignore).await;
    let e = refused.err().expect("a copy where the data is is refused");
    assert!(e.to_string().contains("backup_copies"), "{e}");
}
