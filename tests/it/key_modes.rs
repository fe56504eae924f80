//! Key files are their owner's only: every key file the command line writes (`backup create
//! -o`, `backup download`, with or without `--key-output`) and every key the server stores (its
//! own backups' and an import's uploaded key) has mode 0600 from its creation, whatever the
//! umask: the tests run the command line under umask 000, so a file made with the default
//! mode and narrowed later would show 0666 here.
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use api_spec::actions::{InitiateBackupImport, InitiateBackupImportRequest};
use tests::TestServer;
use tests::server::ADMIN_PASSWORD;

use crate::shell::{Shell, write};

fn mode(path: impl AsRef<Path>) -> u32 {
    let path = path.as_ref();
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_file_written_or_stored_is_the_owners_only() {
    let server = TestServer::start().await;
    let mut sh = Shell::new(&server);
    sh.umask = Some(0);
    sh.login(None, "admin", ADMIN_PASSWORD).await.ok();
    let file = write(sh.home.path(), "a.txt", b"some content");
    sh.run(&["put", &file]).await.ok();

    // `-o DIR`: the archive and the key side by side, the key 0600.
    let (archive, key) = sh.create_backup("together").await;
    assert_eq!(Path::new(&archive).parent(), Path::new(&key).parent());
    assert_eq!(mode(&key), 0o600, "{key}");
    assert_eq!(
        mode(&archive),
        0o666,
        "the archive takes the umask: it is encrypted"
    );

    // `--key-output DIR2`: the key elsewhere, in a directory made 0700.
    let (out, keys) = (sh.path("archives"), sh.path("keys"));
    let created = sh
        .run(&[
            "backup",
            "create",
            "-o",
            out.to_str().unwrap(),
            "--key-output",
            keys.to_str().unwrap(),
            "--json",
        ])
        .await
        .ok()
        .json();
    let backup_id = created["backup_id"].as_str().unwrap().to_owned();
    let key = keys.join(format!("{backup_id}.key.json"));
    assert_eq!(created["files"]["key"], key.to_str().unwrap(), "{created}");
    assert!(out.join(format!("{backup_id}.cbk")).is_file());
    assert!(!out.join(format!("{backup_id}.key.json")).exists());
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&keys), 0o700);

    // `backup download`, over a world-readable file of the same name: replaced by a 0600 one.
    let (dl, dl_keys) = (sh.path("dl"), sh.path("dl-keys"));
    std::fs::create_dir_all(&dl_keys).unwrap();
    let stale = dl_keys.join(format!("{backup_id}.key.json"));
    std::fs::write(&stale, b"old").unwrap();
    std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o644)).unwrap();
    let got = sh
        .run(&[
            "backup",
            "download",
            &backup_id,
            "-o",
            dl.to_str().unwrap(),
            "--key-output",
            dl_keys.to_str().unwrap(),
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(got["key"], stale.to_str().unwrap(), "{got}");
    assert_eq!(mode(&stale), 0o600);
    assert_eq!(std::fs::read(&stale).unwrap(), std::fs::read(&key).unwrap());
    let plain = sh.path("plain");
    sh.run(&[
        "backup",
        "download",
        &backup_id,
        "-o",
        plain.to_str().unwrap(),
    ])
    .await
    .ok();
    assert_eq!(mode(plain.join(format!("{backup_id}.key.json"))), 0o600);

    // An import's uploaded key, where the store is a directory of files (an S3 bucket's
    // modes are the object store's business).
    let c = server.admin().await;
    let init = c
        .call::<InitiateBackupImport>(&InitiateBackupImportRequest {
            timeout_seconds: Some(600),
            links: None,
        })
        .await
        .unwrap();
    c.upload(&init.key_task_id, &std::fs::read(&key).unwrap())
        .await
        .unwrap();
    if server.uses_s3() {
        eprintln!("the store is S3: its objects' modes are not checked");
        return;
    }
    let uploads = server.import_uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(mode(&uploads[0]), 0o600, "{}", uploads[0].display());
    // The server's own key files are sealed in the database, in no store; the master key
    // that seals them is its owner's alone.
    let server_keys = server.backup_key_files();
    assert!(server_keys.is_empty(), "{server_keys:?}");
    assert_eq!(mode(server.dir.path().join("master.key")), 0o600);
}
