//! Wide trees and long writes (issue 15): a folder with more children than a database binds
//! in one statement imports, exports, lists and deletes; deleting a large folder never
//! stalls another tenant's writes; a write that cannot get its lock answers `busy`. The big
//! tenants are made by importing a generated archive (a small real export whose manifests
//! are rewritten and resealed), so the tests stay fast.
use std::time::{Duration, Instant};

use api_spec::ErrorCode;
use api_spec::actions::{
    CancelBackupImport, CreateDirectory, CreateDirectoryRequest, DeleteDirectory, FolderIdRequest,
    GetBackupImportStatus, JobIdRequest, Search, SearchRequest, StartBackupImport,
};
use coffer::archive::keys::KeyFile;
use tests::{Client, TestServer};

use crate::backups::{download, export, plain};
use crate::imports::{census, finished, import, start, tenant, tenant_id, upload_pair};
use crate::support::{expect_error, list, mkdir, mkdoc};

/// More than SQLite's 32,766 bound variables per statement.
const WIDE: usize = 33_000;

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
    let (archive, key) = download(&mut c, &backup_id).await;
    (
        tests::archive::widen(&archive, &key, folders, documents),
        key,
    )
}

/// Imports the archive into a new tenant `slug`; returns its admin and listener.
async fn imported(server: &TestServer, slug: &str, pair: &(Vec<u8>, Vec<u8>)) -> (Client, Client) {
    let (mut c, mut l) = tenant(server, slug).await;
    let (event, status) = import(&mut c, &mut l, &pair.0, &pair.1, |_| {}).await;
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
    let server = TestServer::start().await;
    let pair = wide_archive(&server, WIDE, 100).await;
    let (mut c, mut l) = imported(&server, "wide", &pair).await;
    let wide = top_folder(&mut c).await;
    let listed = list(&mut c, Some(&wide)).await;
    assert_eq!((listed.folders.len(), listed.documents.len()), (WIDE, 100));

    let (backup_id, _, done) = export(&mut c, &mut l, plain("wide")).await;
    assert_eq!(done["status"], "completed", "{done}");
    let (archive, key) = download(&mut c, &backup_id).await;
    let key = KeyFile::parse(&key)
        .unwrap()
        .unlock(None, coffer::archive::keys::KdfLimits::FORMAT)
        .unwrap();
    let summary =
        coffer::archive::verify::verify(archive.as_slice(), &key, |_| {}).expect("verifies");
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

/// Tenant B's write number `n` (a new top-level folder); how long it took.
async fn write_b(b: &mut Client, n: usize) -> Duration {
    let started = Instant::now();
    b.call::<CreateDirectory>(&folder_named(format!("b {n}")))
        .await
        .unwrap_or_else(|e| panic!("tenant B's write {n} failed: {e:?}"));
    started.elapsed()
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
    let server = TestServer::start().await;
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
        longest = longest.max(write_b(&mut b, writes).await);
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

fn job_id(job: &str) -> JobIdRequest {
    JobIdRequest {
        backup_task_id: job.into(),
    }
}

/// Hits of a search for `query` (documents and folders).
async fn found(c: &mut Client, query: &str) -> u64 {
    c.call::<Search>(&SearchRequest {
        query: query.into(),
        limit: Some(1),
        sort_by: None,
        sort_order: None,
        search_documents: true,
        search_directories: true,
    })
    .await
    .unwrap()
    .total_count
}

/// While tenant A imports 20,000 documents, tenant B's writes keep succeeding, some of them
/// between the import's own writes (its progress moves while B writes; one transaction for
/// the whole import held SQLite's write lock until the end), and none waits long; and A's
/// other session sees nothing of the import — no listing, no search hit — until the job
/// completes, and then all of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_import_stays_out_of_sight_and_does_not_stall_another_tenants_writes() {
    const DOCUMENTS: usize = 20_000;
    let server = TestServer::start().await;
    let pair = wide_archive(&server, 0, DOCUMENTS).await;
    let (mut a, mut la) = tenant(&server, "big").await;
    let mut watcher = server.client().await;
    watcher
        .login("admin", "tenant-admin-pw", Some("big"))
        .await
        .unwrap();
    let mut b = server.admin().await;
    let init = upload_pair(&mut a, &pair.0, &pair.1).await;
    let job = init.backup_task_id.clone();
    a.call::<StartBackupImport>(&start(&job)).await.unwrap();
    let ended = tokio::spawn(async move { finished(&mut a, &mut la, &job).await });

    let (mut writes, mut longest) = (0, Duration::ZERO);
    // The import's progress while it writes rows, and whether one of B's writes completed
    // between two of its moves.
    let (mut importing, mut wrote_since_move, mut interleaved) = (Vec::new(), false, false);
    while !ended.is_finished() {
        let status = watcher
            .call::<GetBackupImportStatus>(&job_id(&init.backup_task_id))
            .await
            .unwrap();
        // Read before the job's status said completed: nothing of it may show.
        let listed = list(&mut watcher, None).await;
        let hits = found(&mut watcher, "document").await;
        let now = watcher
            .call::<GetBackupImportStatus>(&job_id(&init.backup_task_id))
            .await
            .unwrap();
        if now.status != "completed" {
            assert!(
                listed.folders.is_empty() && listed.documents.is_empty(),
                "the import shows before it completed: {listed:?}"
            );
            assert_eq!(hits, 0, "a search finds the import before it completed");
        }
        let writing = status.current_step == Some(api_spec::jobs::JobStep::Importing);
        if writing && importing.last() != Some(&status.bytes_done) {
            interleaved |= !importing.is_empty() && wrote_since_move;
            importing.push(status.bytes_done);
            wrote_since_move = false;
        }
        longest = longest.max(write_b(&mut b, writes).await);
        writes += 1;
        wrote_since_move |= writing;
    }
    let (event, status) = ended.await.unwrap();
    assert_eq!(event["status"], "completed", "{status:?}");
    // Everything at once: the staging folder is gone, the rows are the tenant's.
    assert_eq!(
        census(&server, "big").await,
        [1, DOCUMENTS, DOCUMENTS, 1],
        "one folder, every document, nothing staged left over"
    );
    let wide = top_folder(&mut watcher).await;
    assert_eq!(
        list(&mut watcher, Some(&wide)).await.documents.len(),
        DOCUMENTS
    );
    assert_eq!(found(&mut watcher, "document").await, DOCUMENTS as u64);
    assert!(
        interleaved,
        "B never wrote between two of the import's writes (its progress while importing: \
         {importing:?})"
    );
    // A slice of 500 rows takes well under a second, even in a debug build.
    assert!(
        longest < Duration::from_secs(2),
        "B waited {longest:?} for one write ({writes} writes)"
    );
}

/// A cancel while the import writes its rows: the rows it wrote go, slice by slice, and the
/// blobs with them; the tenant never showed any of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_cancelled_while_it_writes_its_rows_leaves_nothing() {
    let server = TestServer::start().await;
    let pair = wide_archive(&server, 0, 20_000).await;
    let blobs_before = server.blob_files().len();
    let (mut a, mut la) = tenant(&server, "cancelled").await;
    let init = upload_pair(&mut a, &pair.0, &pair.1).await;
    let job = job_id(&init.backup_task_id);
    a.call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap();
    // Until the first slices of rows are written (the test looks into the database: no
    // client can see them).
    let tenant = tenant_id(&server, "cancelled").await;
    let staged = || async {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        entity::document::Entity::find()
            .filter(entity::document::Column::TenantId.eq(tenant))
            .count(&server.state().db)
            .await
            .unwrap()
    };
    let mut writing = false;
    for _ in 0..3000 {
        if staged().await > 0 {
            writing = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(writing, "the import never started writing rows");
    assert!(
        list(&mut a, None).await.folders.is_empty(),
        "staging is hidden"
    );
    if let Err(e) = a.call::<CancelBackupImport>(&job).await {
        let status = a.call::<GetBackupImportStatus>(&job).await.unwrap();
        panic!("the cancel failed: {e:?}; the job: {status:?}");
    }
    let (event, _) = finished(&mut a, &mut la, &init.backup_task_id).await;
    assert_eq!(event["status"], "cancelled");
    assert!(list(&mut a, None).await.folders.is_empty());
    let mut left = census(&server, "cancelled").await;
    for _ in 0..600 {
        if left == [0, 0, 0, 0] && server.blob_files().len() == blobs_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = census(&server, "cancelled").await;
    }
    assert_eq!(left, [0, 0, 0, 0], "the staged rows are removed");
    assert_eq!(
        server.blob_files().len(),
        blobs_before,
        "and the blobs only they used"
    );
}

/// A staging folder whose import no longer runs (its server stopped mid-import) is removed,
/// with everything below it, by the reaper.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reaper_removes_what_a_stopped_import_staged() {
    let server = TestServer::start().await;
    let (mut a, _) = tenant(&server, "stopped").await;
    use sea_orm::{ActiveModelTrait, Set};
    let tenant = tenant_id(&server, "stopped").await;
    let db = &server.state().db;
    // What an import whose server stopped left: its staging folder (its job is gone) with
    // two levels of staged folders.
    let mut parent = None;
    for (name, job) in [
        (".import-x", Some(uuid::Uuid::new_v4())),
        ("staged", None),
        ("deeper", None),
    ] {
        let id = uuid::Uuid::now_v7();
        entity::folder::ActiveModel {
            id: Set(id),
            tenant_id: Set(tenant),
            parent_id: Set(parent),
            name: Set(name.into()),
            inherit: Set(true),
            created_at: Set(1),
            last_modified: Set(1),
            import_job_id: Set(job),
        }
        .insert(db)
        .await
        .unwrap();
        parent = Some(id);
    }
    assert_eq!(census(&server, "stopped").await, [3, 0, 0, 0]);
    assert!(
        list(&mut a, None).await.folders.is_empty(),
        "staging is hidden"
    );
    coffer::jobs::reap(server.state(), false).await.unwrap();
    assert_eq!(census(&server, "stopped").await, [0, 0, 0, 0]);
}
