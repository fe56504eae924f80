//! The client library (`coffer::client`): pipelined calls, and HTTP transfers that resume
//! after the connection drops (here through a proxy that cuts the first transfers short).
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use api_spec::actions::{
    CreateDocument, CreateDocumentRequest, DocumentIdRequest, GetDocument, ListRevisions,
    ServerInfo,
};
use api_spec::envelope::Empty;
use coffer::client::Client;
use tests::TestServer;
use tests::server::ADMIN_PASSWORD;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Which way a cut counts bytes.
#[derive(Clone, Copy)]
enum Way {
    ToServer,
    ToClient,
}

/// A TCP proxy to `target` that cuts each of its HTTP connections `1..=cuts` after `limit`
/// bytes went `way` (a network that drops); the WebSocket (the first connection) and later
/// connections pass whole.
async fn cutting_proxy(
    target: std::net::SocketAddr,
    way: Way,
    limit: usize,
    cuts: usize,
) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            // The first connection is the WebSocket; cut the HTTP ones after it.
            let cut = (1..=cuts).contains(&n).then_some(limit);
            tokio::spawn(pipe(client, target, way, cut));
        }
    });
    format!("http://{addr}")
}

async fn pipe(client: TcpStream, target: std::net::SocketAddr, way: Way, cut: Option<usize>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let (up_cut, down_cut) = match way {
        Way::ToServer => (cut, None),
        Way::ToClient => (None, cut),
    };
    // Whichever side ends first ends the connection: a cut drops both directions.
    tokio::select! {
        () = forward(cr, sw, up_cut) => {},
        () = forward(sr, cw, down_cut) => {},
    }
}

/// Copies `from` to `to`, stopping after `cut` bytes when given.
async fn forward(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    cut: Option<usize>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent = 0usize;
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let n = cut.map_or(n, |limit| n.min(limit.saturating_sub(sent)));
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        sent += n;
        if cut.is_some_and(|limit| sent >= limit) {
            return;
        }
    }
}

/// `admin` of tenant `default`, connected through `server`, and a new document of theirs.
async fn admin_with_document(
    server: &str,
    title: &str,
) -> (Client, api_spec::actions::CreateDocumentResponse) {
    let mut client = Client::connect(server).await.expect("connect");
    client
        .login(None, "admin", ADMIN_PASSWORD)
        .await
        .expect("login");
    let made = client
        .call::<CreateDocument>(&CreateDocumentRequest {
            title: title.into(),
            folder_id: None,
            access_rules: None,
            inherit_parent: None,
        })
        .await
        .unwrap();
    (client, made)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_resume_after_the_connection_drops() {
    let server = TestServer::start().await;
    let bytes = tests::bench::tenant::content(3 * 1024 * 1024, 21, false);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("upload.bin");
    std::fs::write(&file, &bytes).unwrap();

    // Two uploads cut after 1 MiB each: the third attempt completes the file.
    let proxy = cutting_proxy(server.addr, Way::ToServer, 1024 * 1024, 2).await;
    let (client, made) = admin_with_document(&proxy, "resumed").await;
    let done = client
        .upload(&made.task_data.task_id, &file, Arc::new(|_| {}))
        .await
        .expect("the upload resumes to the end");
    assert_eq!(done.file_size, bytes.len() as u64);

    // Pipelined calls from several tasks share the connection.
    let client = Arc::new(client);
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let c = Arc::clone(&client);
            tokio::spawn(async move { c.call::<ServerInfo>(&Empty {}).await })
        })
        .collect();
    for call in calls {
        call.await.unwrap().expect("each reply reaches its caller");
    }

    // A download cut short resumes from the bytes it has, and checks the hash.
    let proxy = cutting_proxy(server.addr, Way::ToClient, 1024 * 1024, 1).await;
    let mut reader = Client::connect(&proxy).await.unwrap();
    reader.login(None, "admin", ADMIN_PASSWORD).await.unwrap();
    let task = reader
        .call::<GetDocument>(&DocumentIdRequest {
            document_id: made.document_id,
        })
        .await
        .unwrap()
        .task_data;
    let dest = dir.path().join("download.bin");
    let size = reader
        .download(&task.task_id, &dest, Arc::new(|_| {}))
        .await
        .expect("the download completes");
    assert_eq!(size, bytes.len() as u64);
    assert!(std::fs::read(&dest).unwrap() == bytes);
}

/// The connection drops as the server answers a finished upload: the client asks where the
/// server stands and is told the upload is done, with the reply it lost (one revision).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_reply_is_lost_ends_with_that_reply() {
    let server = TestServer::start().await;
    let bytes = tests::bench::tenant::content(512 * 1024, 22, false);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("upload.bin");
    std::fs::write(&file, &bytes).unwrap();
    // The first HTTP connection passes every byte to the server and none back.
    let proxy = cutting_proxy(server.addr, Way::ToClient, 0, 1).await;
    let (client, made) = admin_with_document(&proxy, "reply lost").await;
    let started = std::time::Instant::now();
    let done = client
        .upload(&made.task_data.task_id, &file, Arc::new(|_| {}))
        .await
        .expect("the upload ends as done");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(done.document_id.as_deref(), Some(made.document_id.as_str()));
    let revisions = client
        .call::<ListRevisions>(&DocumentIdRequest {
            document_id: made.document_id,
        })
        .await
        .unwrap()
        .revisions;
    assert_eq!(revisions.len(), 1);
    assert_eq!(done.revision_id, Some(revisions[0].id.clone()));
}
