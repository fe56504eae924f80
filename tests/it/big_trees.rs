//! Wide trees and long writes (issue 15): a folder with more children than a database binds
//! in one statement imports, exports, lists and deletes; deleting a large folder never
//! stalls another tenant's writes; a write that cannot get its lock answers `busy`. The big
//! tenants are made by importing a generated archive (a small real export whose manifests
//! are rewritten and resealed), so the tests stay fast.
use std::time::{Duration, Instant};

use api_spec::ErrorCode;
use api_spec::actions::{
    CreateDirectory, CreateDirectoryRequest, DeleteDirectory, FolderIdRequest,
};
use coffer::backup::keys::KeyFile;
use tests::{Client, TestServer};

use crate::backups::{download, export, plain};
use crate::imports::{census, import, tenant};
use crate::support::{expect_error, list, mkdir, mkdoc};

/// More than SQLite's 32,766 bound variables per statement.
const WIDE: usize = 33_000;

/// A server whose pings keep a client waiting for a long action from timing out.
async fn server() -> TestServer {
    TestServer::start_with(|c| c.heartbeat_secs = 2).await
}

/// An archive of a tenant holding one folder, `wide`, with `folders` empty subfolders and
/// `documents` documents (one revision each, all of the same content), and its key.
async fn wide_archive(server: &TestServer, folders: usize, documents: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut c, mut l) = tenant(server, "template").await;
    let wide = mkdir(&mut c, "wide", None).await;
    mkdoc(
        &mut c,
        "doc",
        Some(&wide),
        b"the same bytes in every document",
    )
    .await;
    let (backup_id, _, done) = export(&mut c, &mut l, plain("template")).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (archive, key) = download(server, &mut c, &backup_id).await;
    (
        tests::archive::widen(&archive, &key, folders, documents),
        key,
    )
}

/// Imports the archive into a new tenant `slug`; returns its admin and listener.
async fn imported(server: &TestServer, slug: &str, pair: &(Vec<u8>, Vec<u8>)) -> (Client, Client) {
    let (mut c, mut l) = tenant(server, slug).await;
    let (event, status) = import(server, &mut c, &mut l, &pair.0, &pair.1, |_| {}).await;
    assert_eq!(event["status"], "completed", "{status:?}");
    (c, l)
}

async fn top_folder(c: &mut Client) -> String {
    let top = list(c, None).await;
    assert_eq!(top.folders.len(), 1);
    top.folders[0].id.clone()
}

/// 33,000 folders on one level: the export (which failed at once with `internal`), a listing
/// and a delete all succeed, and the template tenant is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_wider_than_a_statement_exports_lists_and_deletes() {
    let server = server().await;
    let pair = wide_archive(&server, WIDE, 100).await;
    let (mut c, mut l) = imported(&server, "wide", &pair).await;
    let wide = top_folder(&mut c).await;
    let listed = list(&mut c, Some(&wide)).await;
    assert_eq!((listed.folders.len(), listed.documents.len()), (WIDE, 100));

    let (backup_id, _, done) = export(&mut c, &mut l, plain("wide")).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (archive, key) = download(&server, &mut c, &backup_id).await;
    let key = KeyFile::parse(&key)
        .unwrap()
        .unlock(None, coffer::backup::keys::KdfLimits::FORMAT)
        .unwrap();
    let summary =
        coffer::backup::verify::verify(archive.as_slice(), &key, |_| {}).expect("verifies");
    assert_eq!(
        (summary.counts.folders, summary.counts.documents),
        (WIDE as u64 + 1, 100)
    );

    c.call::<DeleteDirectory>(&folder_id(&wide)).await.unwrap();
    assert!(list(&mut c, None).await.folders.is_empty());
    assert_eq!(census(&server, "wide").await, [0, 0, 0, 0]);
    assert_eq!(census(&server, "template").await, [1, 1, 1, 1]);
}

fn folder_id(id: &str) -> FolderIdRequest {
    FolderIdRequest {
        folder_id: id.into(),
    }
}

fn folder_named(name: String) -> CreateDirectoryRequest {
    CreateDirectoryRequest {
        name,
        parent_id: None,
        access_rules: None,
        exists_ok: false,
        inherit_parent: None,
    }
}

/// While tenant A deletes a folder of 20,000 documents, tenant B's writes keep succeeding,
/// none waiting long (one transaction held SQLite's write lock for the whole delete, and B's
/// writes failed with `internal` after the busy timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_delete_does_not_stall_another_tenants_writes() {
    const DOCUMENTS: usize = 20_000;
    let server = server().await;
    let pair = wide_archive(&server, 0, DOCUMENTS).await;
    let (mut a, _) = imported(&server, "big", &pair).await;
    let folder = top_folder(&mut a).await;
    let mut b = server.admin().await;
    let delete = tokio::spawn(async move {
        let started = Instant::now();
        a.call::<DeleteDirectory>(&folder_id(&folder))
            .await
            .unwrap();
        started.elapsed()
    });
    let (mut writes, mut longest) = (0, Duration::ZERO);
    while !delete.is_finished() {
        let started = Instant::now();
        b.call::<CreateDirectory>(&folder_named(format!("b {writes}")))
            .await
            .unwrap_or_else(|e| panic!("tenant B's write {writes} failed: {e:?}"));
        longest = longest.max(started.elapsed());
        writes += 1;
    }
    let took = delete.await.unwrap();
    assert_eq!(census(&server, "big").await, [0, 0, 0, 0]);
    assert!(writes > 1, "B wrote only {writes} times in {took:?}");
    // A slice of 500 documents takes well under a second, even in a debug build.
    assert!(
        longest < Duration::from_secs(2),
        "B waited {longest:?} for one write ({writes} writes while the delete took {took:?})"
    );
}

/// A write that cannot get its lock within `db_lock_timeout_ms` answers `busy` (503, with
/// `retry_after`), not `internal`, and changes nothing; once the lock is free it succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_cannot_get_its_lock_answers_busy() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let server = TestServer::start_with(|c| c.db_lock_timeout_ms = 300).await;
    let mut c = server.admin().await;
    let db = &server.state().db;
    // Another writer holds the lock: SQLite's write lock, or PostgreSQL's on the table.
    let held = if server.uses_postgres() {
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared("LOCK TABLE folders IN EXCLUSIVE MODE")
            .await
            .unwrap();
        txn
    } else {
        coffer::db::begin_write(db).await.unwrap()
    };
    let e = expect_error(
        c.call::<CreateDirectory>(&folder_named("blocked".into()))
            .await,
        503,
        ErrorCode::Busy,
    );
    assert_eq!(e.data["retry_after"], 1, "{e:?}");
    held.rollback().await.unwrap();
    assert!(list(&mut c, None).await.folders.is_empty());
    c.call::<CreateDirectory>(&folder_named("blocked".into()))
        .await
        .unwrap();
}
