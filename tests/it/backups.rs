//! Backup export end to end: generate, watch, download over HTTP, verify (library, CLI and
//! action); tampering of every kind rejected with its own code; permissions and tenants.
use crate::support::refused_field;
use api_spec::ErrorCode;
use api_spec::actions::Compression;
use api_spec::actions::{
    BackupIdRequest, CreateDirectory, CreateDirectoryRequest, CreateDocument,
    CreateDocumentRequest, CreateTenant, CreateTenantRequest, CreateUser, CreateUserRequest,
    DeleteBackup, GenerateBackup, GenerateBackupRequest, GetBackupDownload, GetBackupExportStatus,
    JobIdRequest, ListBackups, RegisterListener, RegisterListenerRequest, UploadDocument,
    VerifyBackup, VerifyBackupRequest,
};
use api_spec::envelope::Empty;
use coffer::archive::keys::KeyFile;
use coffer::archive::verify::{Summary, verify};
use serde_json::json;
use tests::{Client, TestServer};

pub(crate) fn content(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Small segments, so modest files span several of them.
pub(crate) async fn server() -> TestServer {
    TestServer::start_with(|c| c.backup_segment_bytes = 64 * 1024).await
}

/// A tenant with nested unicode folders, many small files, a multi-segment file, a shared
/// blob and a second revision. Returns the number of bytes stored.
pub(crate) async fn populate(c: &mut Client) {
    let folder = |name: &str, parent: Option<String>| CreateDirectoryRequest {
        name: name.into(),
        parent_id: parent,
        access_rules: None,
        exists_ok: false,
        inherit_parent: None,
    };
    let top = c
        .call::<CreateDirectory>(&folder("Отчёты 2026", None))
        .await
        .unwrap();
    let inner = c
        .call::<CreateDirectory>(&folder("报告", Some(top.id.clone())))
        .await
        .unwrap();
    for i in 0..40 {
        let req = CreateDocumentRequest {
            title: format!("note {i}.txt"),
            folder_id: Some(inner.id.clone()),
            access_rules: None,
            inherit_parent: None,
        };
        let doc = c.call::<CreateDocument>(&req).await.unwrap();
        c.upload(
            &doc.task_data.task_id,
            format!("note number {i}").as_bytes(),
        )
        .await
        .unwrap();
    }
    let big = c
        .call::<CreateDocument>(&CreateDocumentRequest {
            title: "naïve café.bin".into(),
            folder_id: None,
            access_rules: None,
            inherit_parent: None,
        })
        .await
        .unwrap();
    c.upload(&big.task_data.task_id, &content(300_000, 3))
        .await
        .unwrap();
    let next = c
        .call::<UploadDocument>(&api_spec::actions::DocumentIdRequest {
            document_id: big.document_id.clone(),
        })
        .await
        .unwrap();
    c.upload(&next.task_data.task_id, &content(200_000, 4))
        .await
        .unwrap();
    let empty = c
        .call::<CreateDocument>(&CreateDocumentRequest {
            title: "empty".into(),
            folder_id: Some(top.id),
            access_rules: None,
            inherit_parent: None,
        })
        .await
        .unwrap();
    c.upload(&empty.task_data.task_id, b"").await.unwrap();
}

/// Starts an export and waits for its completion event; returns (backup id, job id, event).
pub(crate) async fn export(
    c: &mut Client,
    listener: &mut Client,
    req: GenerateBackupRequest,
) -> (String, String, serde_json::Value) {
    let started = c
        .call::<GenerateBackup>(&req)
        .await
        .expect("generate_backup");
    loop {
        let event = listener.next_event().await;
        if event.event == "backup_export_completed"
            && event.data["backup_task_id"] == started.backup_task_id
        {
            return (started.backup_id, started.backup_task_id, event.data);
        }
    }
}

pub(crate) fn plain(name: &str) -> GenerateBackupRequest {
    GenerateBackupRequest {
        backup_name: Some(name.into()),
        passphrase: None,
        compression: None,
        incremental: false,
        base_backup_id: None,
    }
}

pub(crate) async fn listener(server: &TestServer) -> Client {
    let l = server.admin().await;
    l.call::<RegisterListener>(&RegisterListenerRequest { events: None })
        .await
        .unwrap();
    l
}

/// Downloads a backup's archive and key.
pub(crate) async fn download(c: &mut Client, backup_id: &str) -> (Vec<u8>, Vec<u8>) {
    let tasks = c
        .call::<GetBackupDownload>(&BackupIdRequest {
            backup_id: backup_id.into(),
        })
        .await
        .unwrap();
    let archive = c.download(&tasks.archive.task_id).await.unwrap();
    let key = c.download(&tasks.key.task_id).await.unwrap();
    (archive, key)
}

fn check(archive: &[u8], key: &[u8], passphrase: Option<&str>) -> Result<Summary, ErrorCode> {
    let key = KeyFile::parse(key)
        .and_then(|k| k.unlock(passphrase, coffer::archive::keys::KdfLimits::FORMAT))
        .map_err(|e| e.code())?;
    verify(archive, &key, |_| {}).map_err(|e| e.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_download_and_verify_round_trip() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (backup_id, job_id, done) = export(&mut c, &mut l, plain("nightly")).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress_percent"], 100);
    let status = c
        .call::<GetBackupExportStatus>(&JobIdRequest {
            backup_task_id: job_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        (status.status.as_str(), status.progress_percent),
        ("completed", 100)
    );
    assert_eq!(status.backup_id.as_deref(), Some(backup_id.as_str()));
    let listed = c.call::<ListBackups>(&Empty {}).await.unwrap();
    assert_eq!(listed.backups.len(), 1);
    assert_eq!(listed.backups[0].status, "completed");

    let (archive, key) = download(&mut c, &backup_id).await;
    let summary = check(&archive, &key, None).expect("the archive verifies");
    assert_eq!(summary.tenant, "default");
    assert!(summary.compressed);
    let counts = &summary.counts;
    assert_eq!(
        (counts.folders, counts.documents, counts.revisions),
        (2, 42, 43)
    );
    assert_eq!(
        counts.files, 43,
        "40 notes, two big revisions, one empty file"
    );
    assert_eq!(
        counts.bytes,
        300_000
            + 200_000
            + (0..40)
                .map(|i| format!("note number {i}").len() as u64)
                .sum::<u64>()
    );
    assert!(
        archive.len() > 5 * 64 * 1024 / 2,
        "several segments were written"
    );
    // The key file never holds a password hash or server path, and the archive no plaintext.
    assert!(!String::from_utf8_lossy(&key).contains(server.dir.path().to_str().unwrap()));
    assert!(!archive.windows(11).any(|w| w == b"note number"));

    // The same pair verifies through the action and the offline CLI.
    let verified = c
        .call::<VerifyBackup>(&VerifyBackupRequest {
            identity: None,
            backup_id: backup_id.clone(),
            passphrase: None,
        })
        .await
        .unwrap();
    assert_eq!(verified.counts["documents"], 42);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.cbk"), &archive).unwrap();
    std::fs::write(dir.path().join("k.json"), &key).unwrap();
    let cli = |archive: &str| {
        <coffer::cli::Cli as clap::Parser>::parse_from([
            "coffer",
            "backup",
            "verify",
            archive,
            "--key",
            dir.path().join("k.json").to_str().unwrap(),
        ])
    };
    coffer::cli::run(cli(dir.path().join("a.cbk").to_str().unwrap()))
        .await
        .expect("CLI accepts the pair");
    let mut tampered = archive.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x10;
    std::fs::write(dir.path().join("t.cbk"), &tampered).unwrap();
    let err = coffer::cli::run(cli(dir.path().join("t.cbk").to_str().unwrap()))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::BackupMacMismatch);

    let tenant = crate::imports::tenant_id(&server, "default").await;
    let backup = uuid::Uuid::parse_str(&backup_id).unwrap();
    // The server records what the archive holds, to plan incremental backups from.
    let held = recorded_blobs(&server, backup).await;
    assert_eq!(held, (counts.files, counts.bytes as i64));
    let objects = [
        coffer::layout::archive_object(tenant, backup),
        coffer::layout::key_object(tenant, backup),
    ];
    for object in &objects {
        assert!(server.has_object(object).await, "{object} is kept");
    }
    c.call::<DeleteBackup>(&BackupIdRequest {
        backup_id: backup_id.clone(),
    })
    .await
    .unwrap();
    let err = c
        .call::<GetBackupDownload>(&BackupIdRequest { backup_id })
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::BackupNotFound);
    for object in &objects {
        assert!(!server.has_object(object).await, "{object} is removed");
    }
    assert_eq!(
        recorded_blobs(&server, backup).await,
        (0, 0),
        "with their backup"
    );
}

/// How many blobs, and how many bytes, the server records backup `backup` to hold; and
/// that a completed backup says it has them recorded.
async fn recorded_blobs(server: &TestServer, backup: uuid::Uuid) -> (u64, i64) {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let db = &server.state().db;
    let rows = entity::backup_blob::Entity::find()
        .filter(entity::backup_blob::Column::BackupId.eq(backup))
        .all(db)
        .await
        .unwrap();
    if let Some(row) = entity::backup::Entity::find_by_id(backup)
        .one(db)
        .await
        .unwrap()
    {
        assert!(row.blobs_recorded);
    }
    (rows.len() as u64, rows.iter().map(|r| r.size).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_tenants_and_uncompressed_archives_verify() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    let req = GenerateBackupRequest {
        backup_name: None,
        passphrase: None,
        compression: Some(Compression::None),
        incremental: false,
        base_backup_id: None,
    };
    let (backup_id, _, done) = export(&mut c, &mut l, req).await;
    assert_eq!(done["status"], "completed");
    let (archive, key) = download(&mut c, &backup_id).await;
    let summary = check(&archive, &key, None).unwrap();
    assert!(!summary.compressed);
    assert_eq!(
        (
            summary.counts.documents,
            summary.counts.files,
            summary.counts.users
        ),
        (0, 0, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passphrase_protected_keys() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let req = GenerateBackupRequest {
        backup_name: Some("locked".into()),
        passphrase: Some("correct horse battery".into()),
        compression: None,
        incremental: false,
        base_backup_id: None,
    };
    let (backup_id, _, _) = export(&mut c, &mut l, req).await;
    let (archive, key) = download(&mut c, &backup_id).await;
    assert!(
        !String::from_utf8_lossy(&key).contains("\"key\""),
        "the raw key is not in a wrapped key file"
    );
    assert_eq!(
        check(&archive, &key, None).unwrap_err(),
        ErrorCode::BackupPassphraseRequired
    );
    assert_eq!(
        check(&archive, &key, Some("wrong horse battery")).unwrap_err(),
        ErrorCode::BackupWrongPassphrase
    );
    assert!(check(&archive, &key, Some("correct horse battery")).is_ok());
    let req = |p: Option<&str>| VerifyBackupRequest {
        identity: None,
        backup_id: backup_id.clone(),
        passphrase: p.map(Into::into),
    };
    assert_eq!(
        c.call::<VerifyBackup>(&req(None)).await.unwrap_err().error,
        ErrorCode::BackupPassphraseRequired
    );
    assert!(
        c.call::<VerifyBackup>(&req(Some("correct horse battery")))
            .await
            .is_ok()
    );
    let weak = GenerateBackupRequest {
        backup_name: None,
        passphrase: Some("short".into()),
        compression: None,
        incremental: false,
        base_backup_id: None,
    };
    assert_eq!(
        c.call::<GenerateBackup>(&weak).await.unwrap_err().error,
        ErrorCode::WeakPassword
    );
}

/// The byte ranges of each segment (after the 96-byte header).
fn segments(archive: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut at = 96;
    while at < archive.len() {
        let len = u32::from_be_bytes(archive[at..at + 4].try_into().unwrap()) as usize;
        let end = at + 5 + 16 + len + 32;
        out.push(at..end);
        at = end;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_tampering_has_its_own_code() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (first, _, _) = export(&mut c, &mut l, plain("first")).await;
    let (second, _, _) = export(&mut c, &mut l, plain("second")).await;
    let (archive, key) = download(&mut c, &first).await;
    let (_, other_key) = download(&mut c, &second).await;
    let segs = segments(&archive);
    assert!(segs.len() >= 4, "need several segments, got {}", segs.len());
    assert_eq!(segs.last().unwrap().end, archive.len());

    let flipped = |at: usize| {
        let mut a = archive.clone();
        a[at] ^= 0x01;
        check(&a, &key, None).unwrap_err()
    };
    assert_eq!(flipped(0), ErrorCode::BackupNotAnArchive);
    // min_reader_version 1 → 3: a newer format than this reader knows.
    let mut newer = archive.clone();
    newer[11] ^= 0x02;
    assert_eq!(
        check(&newer, &key, None).unwrap_err(),
        ErrorCode::BackupUnsupportedVersion
    );
    // … and 1 → 0 is simply an altered header.
    assert_eq!(flipped(11), ErrorCode::BackupHeaderInvalid);
    assert_eq!(flipped(25), ErrorCode::BackupWrongKey);
    for at in [40, 55, 70, 95] {
        assert_eq!(
            flipped(at),
            ErrorCode::BackupHeaderInvalid,
            "header byte {at}"
        );
    }
    let s1 = segs[1].clone();
    for at in [
        s1.start + 4,
        s1.start + 10,
        s1.start + 200,
        s1.end - 40,
        s1.end - 1,
    ] {
        assert_eq!(
            flipped(at),
            ErrorCode::BackupMacMismatch,
            "segment byte {at}"
        );
    }
    // A flipped length byte is corruption too (or, past the end, truncation).
    assert!(matches!(
        flipped(s1.start + 2),
        ErrorCode::BackupMacMismatch | ErrorCode::BackupTruncated
    ));
    // Every single flipped bit in a sample across the file is rejected.
    for at in (0..archive.len()).step_by(archive.len() / 97 + 1) {
        let mut a = archive.clone();
        a[at] ^= 0x80;
        assert!(check(&a, &key, None).is_err(), "flip at {at} accepted");
    }

    for cut in [
        segs[1].start,
        segs[2].start,
        segs.last().unwrap().start,
        segs[1].start + 30,
        archive.len() - 1,
        50,
    ] {
        let err = check(&archive[..cut], &key, None).unwrap_err();
        let expected = if cut < 96 {
            ErrorCode::BackupNotAnArchive
        } else {
            ErrorCode::BackupTruncated
        };
        assert_eq!(err, expected, "cut at {cut}");
    }
    let mut swapped = archive[..segs[1].start].to_vec();
    swapped.extend_from_slice(&archive[segs[2].clone()]);
    swapped.extend_from_slice(&archive[segs[1].clone()]);
    swapped.extend_from_slice(&archive[segs[2].end..]);
    assert_eq!(
        check(&swapped, &key, None).unwrap_err(),
        ErrorCode::BackupSegmentOutOfOrder
    );
    let mut duplicated = archive[..segs[2].start].to_vec();
    duplicated.extend_from_slice(&archive[segs[1].clone()]);
    duplicated.extend_from_slice(&archive[segs[2].start..]);
    assert_eq!(
        check(&duplicated, &key, None).unwrap_err(),
        ErrorCode::BackupSegmentOutOfOrder
    );
    let mut trailing = archive.clone();
    trailing.extend_from_slice(b"extra");
    assert_eq!(
        check(&trailing, &key, None).unwrap_err(),
        ErrorCode::BackupTrailingData
    );
    assert_eq!(
        check(&archive, &other_key, None).unwrap_err(),
        ErrorCode::BackupWrongKey
    );
    assert_eq!(
        check(b"not an archive at all", &key, None).unwrap_err(),
        ErrorCode::BackupNotAnArchive
    );
    assert_eq!(
        check(&archive, b"{}", None).unwrap_err(),
        ErrorCode::BackupKeyInvalid
    );
    assert!(
        check(&archive, &key, None).is_ok(),
        "the untouched archive still verifies"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_blob_fails_the_export_naming_the_file() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let blobs = server.blob_files();
    std::fs::remove_file(&blobs[0]).unwrap();
    let (backup_id, job_id, done) = export(&mut c, &mut l, plain("broken")).await;
    assert_eq!(
        (done["status"].as_str(), done["error"].as_str()),
        (Some("failed"), Some("backup_blob_missing"))
    );
    let status = c
        .call::<GetBackupExportStatus>(&JobIdRequest {
            backup_task_id: job_id,
        })
        .await
        .unwrap();
    assert_eq!(status.error.as_deref(), Some("backup_blob_missing"));
    assert!(
        status.error_message.unwrap_or_default().contains("file "),
        "the message names the file"
    );
    let err = c
        .call::<GetBackupDownload>(&BackupIdRequest {
            backup_id: backup_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::BackupNotReady);
    // Nothing partial is left behind: no scratch, no archive or key file in the store.
    let leftovers = crate::support::files_below(&server.dir.path().join("exports"));
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let tenant = crate::imports::tenant_id(&server, "default").await;
    let backup = uuid::Uuid::parse_str(&backup_id).unwrap();
    for object in [
        coffer::layout::archive_object(tenant, backup),
        coffer::layout::key_object(tenant, backup),
    ] {
        assert!(!server.has_object(&object).await, "{object} is left");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_actions_need_the_permission_and_stay_in_their_tenant() {
    let server = server().await;
    let mut admin = server.admin().await;
    let mut l = listener(&server).await;
    let (backup_id, job_id, _) = export(&mut admin, &mut l, plain("mine")).await;
    let user = CreateUserRequest {
        username: "plain".into(),
        password: "plain-password".into(),
        nickname: None,
        permissions: vec![],
        groups: vec![],
    };
    admin.call::<CreateUser>(&user).await.unwrap();
    let mut plain_user = server.client().await;
    plain_user
        .login("plain", "plain-password", None)
        .await
        .unwrap();
    let by_id = BackupIdRequest {
        backup_id: backup_id.clone(),
    };
    let job = JobIdRequest {
        backup_task_id: job_id.clone(),
    };
    assert_eq!(
        plain_user
            .call::<GenerateBackup>(&plain("x"))
            .await
            .unwrap_err()
            .error,
        ErrorCode::PermissionDenied
    );
    assert_eq!(
        plain_user
            .call::<ListBackups>(&Empty {})
            .await
            .unwrap_err()
            .error,
        ErrorCode::PermissionDenied
    );
    assert_eq!(
        plain_user
            .call::<GetBackupDownload>(&by_id)
            .await
            .unwrap_err()
            .error,
        ErrorCode::PermissionDenied
    );
    assert_eq!(
        plain_user
            .call::<GetBackupExportStatus>(&job)
            .await
            .unwrap_err()
            .error,
        ErrorCode::PermissionDenied
    );
    assert_eq!(
        plain_user
            .call::<DeleteBackup>(&by_id)
            .await
            .unwrap_err()
            .error,
        ErrorCode::PermissionDenied
    );

    admin
        .call::<CreateTenant>(&CreateTenantRequest {
            tenant: "other".into(),
            display_name: None,
            admin_password: "other-admin-pw".into(),
        })
        .await
        .unwrap();
    let mut other = server.client().await;
    other
        .login("admin", "other-admin-pw", Some("other"))
        .await
        .unwrap();
    assert_eq!(
        other
            .call::<GetBackupDownload>(&by_id)
            .await
            .unwrap_err()
            .error,
        ErrorCode::BackupNotFound
    );
    assert_eq!(
        other.call::<DeleteBackup>(&by_id).await.unwrap_err().error,
        ErrorCode::BackupNotFound
    );
    let verify_req = VerifyBackupRequest {
        identity: None,
        backup_id: backup_id.clone(),
        passphrase: None,
    };
    assert_eq!(
        other
            .call::<VerifyBackup>(&verify_req)
            .await
            .unwrap_err()
            .error,
        ErrorCode::BackupNotFound
    );
    assert_eq!(
        other
            .call::<GetBackupExportStatus>(&job)
            .await
            .unwrap_err()
            .error,
        ErrorCode::JobNotFound
    );
    assert!(
        other
            .call::<ListBackups>(&Empty {})
            .await
            .unwrap()
            .backups
            .is_empty()
    );
    // Download tasks are the creator's alone.
    let tasks = admin.call::<GetBackupDownload>(&by_id).await.unwrap();
    let got = other.download(&tasks.archive.task_id).await;
    assert_eq!(got.unwrap_err().code, 404);
    // Names are labels, never paths.
    let bad = GenerateBackupRequest {
        backup_name: Some("../../escaped_backup".into()),
        passphrase: None,
        compression: None,
        incremental: false,
        base_backup_id: None,
    };
    assert_eq!(
        admin.call::<GenerateBackup>(&bad).await.unwrap_err().error,
        ErrorCode::InvalidName
    );
    let bad = json!({"compression": "lz4"});
    refused_field(&admin, "generate_backup", bad, "compression").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_committed_v1_fixture_keeps_verifying() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/backup-v1");
    let archive = std::fs::read(dir.join("archive.cbk")).expect("fixture archive");
    let key = std::fs::read(dir.join("key.json")).expect("fixture key");
    let summary = check(&archive, &key, None).expect("the v1 fixture verifies");
    assert_eq!(summary.tenant, "default");
    assert_eq!(summary.counts.documents, 42);
    let wrapped = std::fs::read(dir.join("key-passphrase.json")).expect("fixture wrapped key");
    let passphrase = std::fs::read_to_string(dir.join("passphrase.txt")).unwrap();
    let archive2 = std::fs::read(dir.join("archive-passphrase.cbk")).unwrap();
    assert!(check(&archive2, &wrapped, Some(passphrase.trim())).is_ok());
}

/// What older versions kept elsewhere moves at start: archives and key files on local disk
/// (before the object store), and archives and plain key files in the data's store (before
/// the backup store and the master key). Archives go to the backup store, key files sealed
/// into the database; nothing is left where it was, and both download byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_older_versions_kept_elsewhere_move_into_place_at_start() {
    use coffer::layout::{archive_object, backup_archive, backup_key, key_object};
    use sea_orm::EntityTrait;
    let mut server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (on_disk, _, _) = export(&mut c, &mut l, plain("kept on disk")).await;
    let (in_store, _, _) = export(&mut c, &mut l, plain("kept in the data store")).await;
    let mut files = Vec::new();
    for id in [&on_disk, &in_store] {
        files.push(download(&mut c, id).await);
    }
    drop((c, l));

    // Taken out of where this version keeps them...
    let tenant = crate::imports::tenant_id(&server, "default").await;
    let state = server.state().clone();
    let ids: Vec<uuid::Uuid> = [&on_disk, &in_store]
        .map(|id| uuid::Uuid::parse_str(id).unwrap())
        .into();
    for id in &ids {
        entity::backup_key::Entity::delete_by_id(*id)
            .exec(&state.db)
            .await
            .unwrap();
        state
            .backup_store
            .delete(&archive_object(tenant, *id))
            .await
            .unwrap();
        assert!(!server.has_object(&key_object(tenant, *id)).await);
    }
    // ...and put where older versions kept them: files under data_dir, and objects of the
    // data's store.
    let config = &state.config;
    let (old_archive, old_key) = (
        backup_archive(config, tenant, ids[0]),
        backup_key(config, tenant, ids[0]),
    );
    for (path, bytes) in [(&old_archive, &files[0].0), (&old_key, &files[0].1)] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    for (object, bytes) in [
        (archive_object(tenant, ids[1]), &files[1].0),
        (key_object(tenant, ids[1]), &files[1].1),
    ] {
        let temp = server.dir.path().join(".old-object");
        std::fs::write(&temp, bytes).unwrap();
        state.blobs.put_file(&object, &temp).await.unwrap();
    }
    drop(state);

    server
        .restart_with(|c| c.backup_segment_bytes = 64 * 1024)
        .await;
    assert!(
        !old_archive.exists() && !old_key.exists(),
        "moved, not copied"
    );
    let state = server.state().clone();
    let plain_keys = state.blobs.list("backup-keys/").await.unwrap();
    assert!(plain_keys.is_empty(), "{plain_keys:?}");
    if !state.backup_placement.in_data {
        let left = state.blobs.list("backups/").await.unwrap();
        assert!(left.is_empty(), "{left:?}");
    }
    let mut c = server.admin().await;
    for (id, (archive, key)) in [&on_disk, &in_store].into_iter().zip(&files) {
        let (archive_again, key_again) = download(&mut c, id).await;
        assert!(
            archive_again == *archive,
            "the archive downloads byte for byte"
        );
        assert_eq!(key_again, *key);
        let id: uuid::Uuid = id.parse().unwrap();
        let sealed = entity::backup_key::Entity::find_by_id(id)
            .one(&state.db)
            .await
            .unwrap()
            .expect("the key file is sealed in the database");
        assert!(
            !sealed
                .sealed
                .windows(key.len().min(64))
                .any(|w| key.starts_with(w))
        );
    }
    // A second start finds nothing more to move.
    let again = coffer::backup::stored::adopt(&state).await.unwrap();
    assert_eq!(again, coffer::backup::stored::Adopted::default());
}

/// Export scratch that no run here writes goes with the reaper's sweep (a run that stopped
/// with its process leaves it on a disk no other instance reaches); a start's key file not
/// yet recorded stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_scratch_of_stopped_runs_is_swept() {
    use coffer::layout::export_scratch;
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (backup_id, _, _) = export(&mut c, &mut l, plain("done")).await;
    let tenant = crate::imports::tenant_id(&server, "default").await;
    let config = &server.state().config;
    let done = uuid::Uuid::parse_str(&backup_id).unwrap();
    let (left, partial, starting) = (
        export_scratch(config, tenant, done, false),
        export_scratch(config, tenant, done, false)
            .with_file_name(format!(".{}.partial", done.simple())),
        export_scratch(config, tenant, uuid::Uuid::now_v7(), true),
    );
    for path in [&left, &partial, &starting] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"scratch").unwrap();
    }
    coffer::jobs::reap(server.state(), false).await.unwrap();
    assert!(
        !left.exists() && !partial.exists(),
        "a finished export's scratch goes"
    );
    assert!(starting.exists(), "a key file of a start under way stays");
}
