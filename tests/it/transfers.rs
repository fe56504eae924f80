//! Uploads and downloads over both paths (WebSocket frames and HTTP), resume, limits,
//! hashes, expiry, ownership and deduplication.
use api_spec::ErrorCode;
use api_spec::actions::{
    CreateDocument, CreateDocumentRequest, CreateUser, CreateUserRequest, DocumentIdRequest,
    GetDocument, TaskData, UploadDocument,
};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tests::{RawSocket, TestServer, http};

/// Deterministic bytes that do not compress.
fn content(len: usize, seed: u64) -> Vec<u8> {
    tests::bench::tenant::content(len, seed, false)
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

async fn new_document(c: &mut RawSocket, title: &str) -> (String, TaskData) {
    let req = CreateDocumentRequest {
        title: title.into(),
        folder_id: None,
        access_rules: None,
        inherit_parent: None,
    };
    let res = c
        .call::<CreateDocument>(&req)
        .await
        .expect("create_document");
    (res.document_id, res.task_data)
}

async fn download_task(c: &mut RawSocket, document_id: &str) -> TaskData {
    c.call::<GetDocument>(&DocumentIdRequest {
        document_id: document_id.into(),
    })
    .await
    .expect("get_document")
    .task_data
}

const SIZES: [usize; 5] = [0, 1, 8192, 16384, 64 * 1024 * 1024];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_round_trips_of_every_size() {
    let server = TestServer::start().await;
    let mut c = server.raw_admin().await;
    for (i, size) in SIZES.into_iter().enumerate() {
        let bytes = content(size, i as u64 + 1);
        let (doc, task) = new_document(&mut c, &format!("ws-{size}")).await;
        // 8192-byte frames: the size CFMS's end-of-upload rule tripped over.
        let up = c
            .upload(
                &task.task_id,
                &bytes,
                0,
                Some(&sha(&bytes)),
                8192.max(size / 64),
            )
            .await
            .expect("upload");
        assert_eq!(
            (up.file_size, up.sha256.as_str()),
            (size as u64, sha(&bytes).as_str())
        );
        let down = download_task(&mut c, &doc).await;
        assert_eq!(down.size, Some(size as u64));
        let (header, got) = c.download(&down.task_id, None).await.expect("download");
        assert_eq!(header["sha256"], sha(&bytes));
        assert!(got == bytes, "size {size}: downloaded bytes differ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_round_trips_of_every_size() {
    let server = TestServer::start().await;
    let mut c = server.raw_admin().await;
    let base = server.http_url("");
    let token = c.token.clone().unwrap();
    for (i, size) in SIZES.into_iter().enumerate() {
        let bytes = content(size, 100 + i as u64);
        let (doc, task) = new_document(&mut c, &format!("http-{size}")).await;
        let put = http::put(
            &base,
            Some(&token),
            &task.task_id,
            bytes.clone(),
            None,
            Some(&sha(&bytes)),
        )
        .await;
        assert_eq!(put.status, 200, "{:?}", String::from_utf8_lossy(&put.body));
        assert_eq!(put.json()["data"]["sha256"], sha(&bytes));
        let down = download_task(&mut c, &doc).await;
        let got = http::get(&base, Some(&token), &down.task_id, None).await;
        assert_eq!(got.status, 200);
        assert_eq!(got.sha256.as_deref(), Some(sha(&bytes).as_str()));
        assert!(got.body == bytes, "size {size}: downloaded bytes differ");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upload_resumes_after_a_dropped_connection() {
    let server = TestServer::start().await;
    let mut c = server.raw_admin().await;
    let bytes = content(3 * 1024 * 1024 + 17, 7);
    let (doc, task) = new_document(&mut c, "resumed").await;
    let as_admin = |mut client: RawSocket| {
        client.username = c.username.clone();
        client.token = c.token.clone();
        client
    };
    let vanished = as_admin(server.raw().await);
    vanished
        .upload_then_vanish(
            &task.task_id,
            &bytes,
            0,
            2 * 1024 * 1024,
            Some(&part_file(&server, &task.task_id)),
        )
        .await;
    // The server keeps what arrived; a new attempt resumes from what it announces (it may
    // briefly answer task_not_usable while it notices the old connection is gone).
    let mut done = None;
    for _ in 0..100 {
        let mut again = as_admin(server.raw().await);
        match again
            .upload_from(&task.task_id, &bytes, None, Some(&sha(&bytes)), 256 * 1024)
            .await
        {
            Ok(d) => {
                let resumed_at = again.last_received.unwrap();
                assert!(resumed_at > 0, "nothing was kept for the resume");
                done = Some(d);
                break;
            }
            Err(e) if e.error == ErrorCode::TaskNotUsable => {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("resume failed: {e:?}"),
        }
    }
    assert_eq!(done.expect("the upload resumed").sha256, sha(&bytes));
    let down = download_task(&mut c, &doc).await;
    let (_, got) = c.download(&down.task_id, None).await.unwrap();
    assert!(got == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_upload_in_ranges_and_download_in_ranges() {
    let server = TestServer::start().await;
    let mut c = server.raw_admin().await;
    let (base, token) = (server.http_url(""), c.token.clone().unwrap());
    let bytes = content(100_000, 9);
    let (doc, task) = new_document(&mut c, "ranged").await;
    let first = http::put(
        &base,
        Some(&token),
        &task.task_id,
        bytes[..40_000].to_vec(),
        Some("bytes 0-39999/100000".into()),
        None,
    )
    .await;
    assert_eq!(first.status, 202);
    assert_eq!(first.json()["data"]["received"], 40_000);
    // A gap (starting beyond what is held) is refused with what the server holds.
    let gap = http::put(
        &base,
        Some(&token),
        &task.task_id,
        bytes[50_000..].to_vec(),
        Some("bytes 50000-99999/100000".into()),
        None,
    )
    .await;
    assert_eq!(gap.status, 400);
    assert_eq!(gap.json()["data"]["error"], "invalid_offset");
    assert_eq!(gap.json()["data"]["received"], 40_000);
    let rest = http::put(
        &base,
        Some(&token),
        &task.task_id,
        bytes[40_000..].to_vec(),
        Some("bytes 40000-99999/100000".into()),
        Some(&sha(&bytes)),
    )
    .await;
    assert_eq!(rest.status, 200, "{}", String::from_utf8_lossy(&rest.body));

    let down = download_task(&mut c, &doc).await;
    let part = http::get(&base, Some(&token), &down.task_id, Some("bytes=1000-1999")).await;
    assert_eq!(part.status, 206);
    assert_eq!(
        part.content_range.as_deref(),
        Some("bytes 1000-1999/100000")
    );
    assert!(part.body == bytes[1000..2000]);
    let tail = http::get(&base, Some(&token), &down.task_id, Some("bytes=-10")).await;
    assert!(tail.body == bytes[99_990..]);
    let beyond = http::get(&base, Some(&token), &down.task_id, Some("bytes=200000-")).await;
    assert_eq!(beyond.status, 416);
    // WebSocket download from an offset.
    let (header, got) = c.download(&down.task_id, Some(60_000)).await.unwrap();
    assert_eq!(header["offset"], 60_000);
    assert!(got == bytes[60_000..]);
}

/// A client whose connection dropped with the reply to its finished upload sends the same
/// file again (or the one-byte probe of its end): the server answers what it answered, and
/// publishes nothing more. Other bytes, or no declared hash, are still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_upload_sent_again_gets_its_reply_again() {
    let server = TestServer::start().await;
    let mut c = server.raw_admin().await;
    let (base, token) = (server.http_url(""), c.token.clone().unwrap());
    let bytes = content(50_000, 12);
    let (doc, task) = new_document(&mut c, "sent twice").await;
    let put = |body: Vec<u8>, range: Option<String>, sha: Option<String>| {
        let (base, token, task) = (base.clone(), token.clone(), task.task_id.clone());
        async move { http::put(&base, Some(&token), &task, body, range, sha.as_deref()).await }
    };
    let first = put(bytes.clone(), None, Some(sha(&bytes))).await;
    assert_eq!(first.status, 200, "{:?}", first.json());
    let first = first.json()["data"].clone();
    assert_eq!(first["document_id"], doc.as_str());

    let again = put(bytes.clone(), None, Some(sha(&bytes).to_uppercase())).await;
    assert_eq!(again.status, 200, "{:?}", again.json());
    assert_eq!(again.json()["data"], first);
    let probe = put(
        bytes[49_999..].to_vec(),
        Some("bytes 49999-49999/50000".into()),
        Some(sha(&bytes)),
    )
    .await;
    assert_eq!(probe.status, 200, "{:?}", probe.json());
    assert_eq!(probe.json()["data"], first);

    // The same content uploaded again to the document later is another revision; the
    // first upload's reply still names its own.
    let next = c
        .call::<UploadDocument>(&DocumentIdRequest {
            document_id: doc.clone(),
        })
        .await
        .unwrap()
        .task_data;
    c.upload(&next.task_id, &bytes, 0, None, 16_384)
        .await
        .unwrap();
    let later = put(bytes.clone(), None, Some(sha(&bytes))).await;
    assert_eq!(later.json()["data"], first);

    // What is checked is the declared file (the body is not read): another size or hash,
    // or none declared, is refused.
    let other = content(50_000, 13);
    // The body is not read: other bytes declared as the finished file get its reply.
    let unread = put(other.clone(), None, Some(sha(&bytes))).await;
    assert_eq!(unread.json()["data"], first);
    for (body, declared) in [(other.clone(), Some(sha(&other))), (bytes.clone(), None)] {
        let refused = put(body, None, declared).await;
        assert_eq!(refused.status, 400);
        assert_eq!(refused.json()["data"]["error"], "task_not_usable");
    }
    let revisions = c
        .call::<api_spec::actions::ListRevisions>(&api_spec::actions::DocumentIdRequest {
            document_id: doc,
        })
        .await
        .unwrap()
        .revisions;
    assert_eq!(revisions.len(), 2, "{revisions:?}");
    assert_eq!(first["revision_id"], revisions[0].id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_hash_or_size_is_rejected_and_the_partial_bytes_removed() {
    let server = TestServer::start().await;
    let mut c = server.raw_admin().await;
    let bytes = content(50_000, 3);
    let (doc, task) = new_document(&mut c, "checked").await;
    let wrong = sha(b"something else");
    let err = c
        .upload(&task.task_id, &bytes, 0, Some(&wrong), 8192)
        .await
        .unwrap_err();
    assert_eq!((err.code, err.error), (400, ErrorCode::HashMismatch));
    assert_eq!(err.data["received"], 0);
    let (base, token) = (server.http_url(""), c.token.clone().unwrap());
    let put = http::put(
        &base,
        Some(&token),
        &task.task_id,
        bytes.clone(),
        None,
        Some(&wrong),
    )
    .await;
    assert_eq!(put.json()["data"]["error"], "hash_mismatch");
    // Nothing of the failed attempts is left, and the task still works.
    let uploads = server.dir.path().join("uploads");
    assert!(
        std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0) == 0,
        "partial bytes left behind"
    );
    c.upload(&task.task_id, &bytes, 0, Some(&sha(&bytes)), 8192)
        .await
        .expect("retry works");
    let info = c
        .call::<api_spec::actions::GetDocumentInfo>(&DocumentIdRequest { document_id: doc })
        .await
        .unwrap();
    assert_eq!(info.size, 50_000);
    // A completed task cannot be used again.
    let again = c
        .upload(&task.task_id, &bytes, 0, None, 8192)
        .await
        .unwrap_err();
    assert_eq!(again.error, ErrorCode::TaskNotUsable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_bytes_than_declared_is_a_size_mismatch() {
    let server = TestServer::start().await;
    let mut c = server.raw_admin().await;
    let (_, task) = new_document(&mut c, "oversized").await;
    let (base, token) = (server.http_url(""), c.token.clone().unwrap());
    // Content-Range says 10 bytes; the body has 20.
    let put = http::put(
        &base,
        Some(&token),
        &task.task_id,
        vec![1u8; 20],
        Some("bytes 0-9/10".into()),
        None,
    )
    .await;
    assert_eq!((put.status, put.json()["code"].as_u64()), (400, Some(400)));
    let limited = TestServer::start_with(|c| c.max_upload_bytes = 1000).await;
    let mut c2 = limited.raw_admin().await;
    let (_, task2) = new_document(&mut c2, "too big").await;
    let err = c2
        .upload(&task2.task_id, &vec![0u8; 2000], 0, None, 1000)
        .await
        .unwrap_err();
    assert_eq!((err.code, err.error), (413, ErrorCode::TooLarge));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tasks_answer_408() {
    let server = TestServer::start_with(|c| c.task_ttl_secs = 1).await;
    let mut c = server.raw_admin().await;
    let (_, task) = new_document(&mut c, "late").await;
    let (_, done) = new_document(&mut c, "done in time").await;
    c.upload(&done.task_id, b"in time", 0, Some(&sha(b"in time")), 4)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let err = c
        .upload(&task.task_id, b"late", 0, None, 4)
        .await
        .unwrap_err();
    assert_eq!((err.code, err.error), (408, ErrorCode::TaskExpired));
    // A finished upload is not answered again once its task expired.
    let again = http::put(
        &server.http_url(""),
        c.token.as_deref(),
        &done.task_id,
        b"in time".to_vec(),
        None,
        Some(&sha(b"in time")),
    )
    .await;
    assert_eq!(again.json()["data"]["error"], "task_not_usable");
    let put = http::put(
        &server.http_url(""),
        c.token.as_deref(),
        &task.task_id,
        b"late".to_vec(),
        None,
        None,
    )
    .await;
    assert_eq!(put.status, 408);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_belong_to_their_user_and_tenant() {
    let server = TestServer::start().await;
    let mut admin = server.raw_admin().await;
    let (doc, task) = new_document(&mut admin, "private").await;
    admin
        .upload(&task.task_id, b"secret", 0, None, 6)
        .await
        .unwrap();
    let down = download_task(&mut admin, &doc).await;
    let upload = admin
        .call::<UploadDocument>(&DocumentIdRequest {
            document_id: doc.clone(),
        })
        .await
        .unwrap()
        .task_data;

    let req = CreateUserRequest {
        username: "eve".into(),
        password: "eve-password-1".into(),
        nickname: None,
        permissions: vec![],
        groups: vec![],
    };
    admin.call::<CreateUser>(&req).await.unwrap();
    let mut eve = server.raw().await;
    eve.login("eve", "eve-password-1", None).await.unwrap();
    let base = server.http_url("");
    for id in [&down.task_id, &upload.task_id] {
        assert_eq!(
            eve.download(id, None).await.unwrap_err().error,
            ErrorCode::TaskNotFound
        );
        let got = http::get(&base, eve.token.as_deref(), id, None).await;
        assert_eq!(
            (got.status, got.json()["data"]["error"].clone()),
            (404, "task_not_found".into())
        );
    }
    assert_eq!(
        eve.upload(&upload.task_id, b"x", 0, None, 1)
            .await
            .unwrap_err()
            .error,
        ErrorCode::TaskNotFound
    );
    // The admin's finished upload, sent again by eve with its size and hash: not found.
    let again = http::put(
        &base,
        eve.token.as_deref(),
        &task.task_id,
        b"secret".to_vec(),
        None,
        Some(&sha(b"secret")),
    )
    .await;
    assert_eq!(
        (again.status, again.json()["data"]["error"].clone()),
        (404, "task_not_found".into())
    );
    // No token, or a bad one.
    assert_eq!(
        http::get(&base, None, &down.task_id, None).await.status,
        401
    );
    assert_eq!(
        http::get(&base, Some("forged"), &down.task_id, None)
            .await
            .status,
        401
    );
    // A download task is not an upload task, and a malformed id is just not found.
    assert_eq!(
        admin
            .upload(&down.task_id, b"x", 0, None, 1)
            .await
            .unwrap_err()
            .error,
        ErrorCode::TaskNotUsable
    );
    assert_eq!(
        admin.download("not-a-task", None).await.unwrap_err().error,
        ErrorCode::TaskNotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_content_is_stored_once_per_tenant() {
    let server = TestServer::start().await;
    let mut c = server.raw_admin().await;
    let bytes = content(10_000, 5);
    for title in ["one", "two", "three"] {
        let (_, task) = new_document(&mut c, title).await;
        c.upload(&task.task_id, &bytes, 0, None, 4096)
            .await
            .unwrap();
    }
    let blobs = server.blob_files();
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    assert!(blobs[0].to_string_lossy().ends_with(&sha(&bytes)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_go_with_their_last_reference() {
    use api_spec::actions::{
        CreateDirectory, CreateDirectoryRequest, DeleteDirectory, DeleteDocument, FolderIdRequest,
    };
    let server = TestServer::start().await;
    let mut c = server.raw_admin().await;
    let shared = content(5000, 11);
    let (a, task_a) = new_document(&mut c, "a").await;
    c.upload(&task_a.task_id, &shared, 0, None, 4096)
        .await
        .unwrap();
    let (b, task_b) = new_document(&mut c, "b").await;
    c.upload(&task_b.task_id, &shared, 0, None, 4096)
        .await
        .unwrap();
    let folder = c
        .call::<CreateDirectory>(&CreateDirectoryRequest {
            name: "box".into(),
            parent_id: None,
            access_rules: None,
            exists_ok: false,
            inherit_parent: None,
        })
        .await
        .unwrap();
    let req = CreateDocumentRequest {
        title: "c".into(),
        folder_id: Some(folder.id.clone()),
        access_rules: None,
        inherit_parent: None,
    };
    let third = c.call::<CreateDocument>(&req).await.unwrap();
    c.upload(&third.task_data.task_id, &content(7000, 12), 0, None, 4096)
        .await
        .unwrap();
    assert_eq!(server.blob_files().len(), 2);

    c.call::<DeleteDocument>(&DocumentIdRequest { document_id: a })
        .await
        .unwrap();
    assert_eq!(
        server.blob_files().len(),
        2,
        "a blob still referenced by b must stay"
    );
    c.call::<DeleteDocument>(&DocumentIdRequest { document_id: b })
        .await
        .unwrap();
    assert_eq!(server.blob_files().len(), 1);
    c.call::<DeleteDirectory>(&FolderIdRequest {
        folder_id: folder.id,
    })
    .await
    .unwrap();
    assert_eq!(server.blob_files().len(), 0, "{:?}", server.blob_files());
}

/// A new document whose upload sent 200,000 of its 300,000 bytes and vanished: its task,
/// its bytes, and the part file the server keeps for a resume (waited for).
async fn vanished_upload(
    server: &TestServer,
    c: &mut RawSocket,
    title: &str,
    seed: u64,
) -> (TaskData, Vec<u8>, std::path::PathBuf) {
    let (_, task) = new_document(c, title).await;
    let bytes = content(300_000, seed);
    let mut vanishing = server.raw().await;
    vanishing.username = c.username.clone();
    vanishing.token = c.token.clone();
    vanishing
        .upload_then_vanish(&task.task_id, &bytes, 0, 200_000, None)
        .await;
    let part = server.dir.path().join("uploads").join(format!(
        "{}.part",
        uuid::Uuid::parse_str(&task.task_id).unwrap().simple()
    ));
    for _ in 0..50 {
        if part.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(part.exists(), "the partial upload is kept for a resume");
    (task, bytes, part)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reaper_expires_stale_uploads_and_removes_their_bytes() {
    let server = TestServer::start_with(|c| c.task_ttl_secs = 1).await;
    let mut c = server.raw_admin().await;
    let (task, bytes, _) = vanished_upload(&server, &mut c, "abandoned", 13).await;
    let uploads = server.dir.path().join("uploads");
    let count = || std::fs::read_dir(&uploads).map(|d| d.count()).unwrap_or(0);
    assert_eq!(count(), 1, "the partial upload is kept for a resume");
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    let expired = coffer::services::transfers::expire_uploads(server.state())
        .await
        .unwrap();
    assert_eq!(expired, 1);
    assert_eq!(count(), 0, "expired partial bytes are removed");
    let err = c
        .upload(&task.task_id, &bytes, 0, None, 65536)
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::TaskNotUsable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn part_files_no_upload_can_resume_are_swept() {
    use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
    let server = TestServer::start().await;
    let mut c = server.raw_admin().await;
    let (task, _, part) = vanished_upload(&server, &mut c, "ended elsewhere", 14).await;
    let uploads = server.dir.path().join("uploads");
    // A part whose task never existed here, and a file that is not a part.
    let stray = uploads.join(format!("{}.part", uuid::Uuid::now_v7().simple()));
    std::fs::write(&stray, b"stray").unwrap();
    std::fs::write(uploads.join("notes.txt"), b"not ours").unwrap();
    let sweep = || coffer::services::transfers::sweep_parts(server.state());
    assert_eq!(sweep().await.unwrap(), 1);
    assert!(
        part.exists() && !stray.exists(),
        "a pending task keeps its part"
    );
    // The task ends elsewhere (another instance expired it): its part here goes.
    let row =
        entity::transfer_task::Entity::find_by_id(uuid::Uuid::parse_str(&task.task_id).unwrap())
            .one(&server.state().db)
            .await
            .unwrap()
            .unwrap();
    let mut row = row.into_active_model();
    row.status = Set(entity::transfer_task::TaskStatus::Expired);
    row.update(&server.state().db).await.unwrap();
    // Once the server has let go of the vanished upload (an upload still in progress keeps
    // its part whatever its task says).
    // (Up to 20 s: on a loaded machine the server notices the dropped connection late.)
    let mut removed = 0;
    for _ in 0..400 {
        removed = sweep().await.unwrap();
        if removed > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(removed, 1);
    assert!(!part.exists());
    assert!(uploads.join("notes.txt").exists());
}

/// A server that cuts uploads slower than 1,000 bytes/s over 1 s windows.
async fn paced_server() -> TestServer {
    TestServer::start_with(|c| {
        c.min_transfer_bytes_per_sec = 1000;
        c.transfer_rate_window_secs = 1;
    })
    .await
}

/// An HTTP `PUT` whose body trickles (100 bytes every 250 ms) on a raw socket, as a slow or
/// hostile client sends it; returns the status and the reply JSON the server answered.
async fn trickle_put(server: &TestServer, token: &str, task_id: &str, size: usize) -> (u16, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let (mut read, mut write) = stream.into_split();
    let head = format!(
        "PUT /api/transfers/{task_id} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: {size}\r\n\r\n",
        server.addr
    );
    write.write_all(head.as_bytes()).await.expect("head");
    let body = content(size, 11);
    let trickle = tokio::spawn(async move {
        for piece in body.chunks(100) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            if write.write_all(piece).await.is_err() {
                break;
            }
        }
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let status_and_body = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let n = read.read(&mut buf).await.expect("read");
            assert!(n > 0, "the server closed without answering");
            answer.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&answer).into_owned();
            let Some((head, body)) = text.split_once("\r\n\r\n") else {
                continue;
            };
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().expect("length"))
                })
                .expect("content-length");
            if body.len() >= length {
                let status = head
                    .split(' ')
                    .nth(1)
                    .expect("status")
                    .parse()
                    .expect("status");
                return (
                    status,
                    serde_json::from_str(&body[..length]).expect("JSON body"),
                );
            }
        }
    })
    .await
    .expect("a trickling upload is answered within seconds, not held");
    trickle.abort();
    status_and_body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_http_upload_is_cut_and_its_task_freed_for_a_resume() {
    let server = paced_server().await;
    let mut c = server.raw_admin().await;
    let (base, token) = (server.http_url(""), c.token.clone().unwrap());
    let (doc, task) = new_document(&mut c, "trickled").await;
    let size = 20_000;
    let (status, reply) = trickle_put(&server, &token, &task.task_id, size).await;
    assert_eq!(
        (status, reply["code"].as_u64()),
        (408, Some(408)),
        "{reply}"
    );
    assert_eq!(reply["data"]["error"], "transfer_timeout");
    let received = reply["data"]["received"].as_u64().expect("received");
    assert!(received > 0 && received < size as u64, "{reply}");
    // The task is free at once: the rest arrives as a resume and the document is whole.
    let bytes = content(size, 11);
    let rest = http::put(
        &base,
        Some(&token),
        &task.task_id,
        bytes[received as usize..].to_vec(),
        Some(format!("bytes {received}-{}/{size}", size - 1)),
        Some(&sha(&bytes)),
    )
    .await;
    assert_eq!(rest.status, 200, "{}", String::from_utf8_lossy(&rest.body));
    let down = download_task(&mut c, &doc).await;
    let (_, got) = c.download(&down.task_id, None).await.unwrap();
    assert!(got == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_websocket_upload_is_cut_and_resumes() {
    let server = paced_server().await;
    let mut c = server.raw_admin().await;
    let (doc, task) = new_document(&mut c, "trickled").await;
    let bytes = content(20_000, 12);
    let err = c
        .upload_slowly(&task.task_id, &bytes, (100, Duration::from_millis(250), 12))
        .await
        .unwrap_err();
    assert_eq!((err.code, err.error), (408, ErrorCode::TransferTimeout));
    let received = err.data["received"].as_u64().expect("received");
    assert!(received > 0 && received < 1200, "{:?}", err.data);
    let mut fresh = server.raw_admin().await;
    fresh
        .upload_from(&task.task_id, &bytes, None, Some(&sha(&bytes)), 8192)
        .await
        .expect("the resume completes");
    assert_eq!(fresh.last_received, Some(received));
    let down = download_task(&mut fresh, &doc).await;
    let (_, got) = fresh.download(&down.task_id, None).await.unwrap();
    assert!(got == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_ranges_follow_rfc_9110_and_status_matches_the_reply_code() {
    let server = TestServer::start().await;
    let mut c = server.raw_admin().await;
    let (base, token) = (server.http_url(""), c.token.clone().unwrap());
    let bytes = content(1000, 13);
    let (doc, task) = new_document(&mut c, "ranges").await;
    c.upload(&task.task_id, &bytes, 0, None, 8192)
        .await
        .unwrap();
    let down = download_task(&mut c, &doc).await;
    let get = |range: &'static str| http::get(&base, Some(&token), &down.task_id, Some(range));
    // An end past the file, even one that would overflow, means "to the end".
    let huge = get("bytes=5-18446744073709551615").await;
    assert_eq!(huge.status, 206);
    assert_eq!(huge.content_range.as_deref(), Some("bytes 5-999/1000"));
    assert!(huge.body == bytes[5..]);
    // Several ranges, or another unit: the whole file, 200.
    for ignored in ["bytes=0-1,5-6", "items=0-1"] {
        let whole = get(ignored).await;
        assert_eq!(
            (whole.status, whole.content_range.as_deref()),
            (200, None),
            "{ignored}"
        );
        assert!(whole.body == bytes, "{ignored}");
    }
    // Unsatisfiable: 416 in the status and the reply, and where the file ends.
    for bad in ["bytes=1000-", "bytes=20-10", "bytes=-0"] {
        let refused = get(bad).await;
        assert_eq!(refused.status, 416, "{bad}");
        assert_eq!(refused.json()["code"], 416, "{bad}");
        assert_eq!(
            refused.json()["data"]["error"],
            "range_not_satisfiable",
            "{bad}"
        );
        assert_eq!(
            refused.content_range.as_deref(),
            Some("bytes */1000"),
            "{bad}"
        );
    }
    // A rejected Content-Range upload: 400 in the status and in the reply.
    let (_, task2) = new_document(&mut c, "ranged upload").await;
    for range in [
        "bytes 0-9/5",
        "bytes 9-0/10",
        "bytes 0-4/10 extra",
        "bytes 0-18446744073709551615/1",
    ] {
        let put = http::put(
            &base,
            Some(&token),
            &task2.task_id,
            vec![1u8; 10],
            Some(range.into()),
            None,
        )
        .await;
        assert_eq!(put.status, 400, "{range}");
        assert_eq!(put.json()["code"], 400, "{range}");
        assert_eq!(put.json()["data"]["error"], "invalid_offset", "{range}");
    }
}

/// Where the server keeps the bytes of an unfinished upload.
fn part_file(server: &TestServer, task_id: &str) -> std::path::PathBuf {
    let id = uuid::Uuid::parse_str(task_id).unwrap();
    server
        .dir
        .path()
        .join("uploads")
        .join(format!("{}.part", id.simple()))
}

/// An import's key file over the WebSocket: uploaded, replaced while its job waits, and
/// refused once the job has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_key_over_the_websocket_is_replaced_while_pending_then_final() {
    use api_spec::actions::{
        CancelBackupImport, InitiateBackupImport, InitiateBackupImportRequest, JobIdRequest,
    };
    let server = TestServer::start().await;
    let mut c = server.raw_admin().await;
    let init = c
        .call::<InitiateBackupImport>(&InitiateBackupImportRequest::default())
        .await
        .unwrap();
    let first = br#"{"first": true}"#;
    let done = c
        .upload(&init.key_task_id, first, 0, Some(&sha(first)), 4)
        .await
        .unwrap();
    assert_eq!(done.sha256, sha(first));
    let second = br#"{"second": true}"#;
    let replaced = c
        .upload(&init.key_task_id, second, 0, None, 4)
        .await
        .expect("a pending job's key file is replaced");
    assert_eq!(replaced.sha256, sha(second));
    c.call::<CancelBackupImport>(&JobIdRequest {
        backup_task_id: init.backup_task_id,
    })
    .await
    .unwrap();
    let late = c
        .upload(&init.key_task_id, first, 0, None, 4)
        .await
        .unwrap_err();
    assert_eq!(late.error, ErrorCode::TaskNotUsable);
}
