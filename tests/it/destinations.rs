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
        let mut own = coffer::Config::default();
        s3.configure(&mut own);
        c.destination.insert(
            url.clone(),
            coffer::config::DestinationSettings {
                endpoint: own.s3_endpoint.clone(),
                region: None,
                access_key_id: own.s3_access_key_id.clone(),
                secret_access_key: own.s3_secret_access_key.take(),
            },
        );
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
