//! Small actions from many WebSocket clients at once: each client keeps a window of
//! `get_document_info` and `list_directory` requests (tagged with `request_id`), keeps the
//! window full until the deadline or its request cap, and records each reply's latency.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use api_spec::actions::{
    CreateDirectory, CreateDirectoryRequest, CreateDocument, CreateDocumentRequest,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::Client;

/// Requests in flight per connection: each client waits for its reply before sending the
/// next, as interactive clients do. (With a deeper window the latency target could not hold
/// at any throughput a 2-core machine has: by Little's law, 64 clients × 8 in flight at
/// 20,000/s is 26 ms per request.)
pub const WINDOW: usize = 1;

/// The objects the load reads: one folder with a few small documents.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub folder_id: String,
    pub document_ids: Vec<String>,
}

/// Makes the fixture (a folder `actions` with `docs` one-line documents).
pub async fn fixture(c: &mut Client, docs: usize) -> Fixture {
    let folder_id = c
        .call::<CreateDirectory>(&CreateDirectoryRequest {
            name: "actions".into(),
            parent_id: None,
            access_rules: None,
            exists_ok: true,
            inherit_parent: None,
        })
        .await
        .expect("create_directory")
        .id;
    let mut document_ids = Vec::new();
    for i in 0..docs {
        let doc = c
            .call::<CreateDocument>(&CreateDocumentRequest {
                title: format!("doc {i}"),
                folder_id: Some(folder_id.clone()),
                access_rules: None,
                inherit_parent: None,
            })
            .await
            .expect("create_document");
        c.upload(
            &doc.task_data.task_id,
            format!("document {i}").as_bytes(),
            0,
            None,
            4096,
        )
        .await
        .expect("upload");
        document_ids.push(doc.document_id);
    }
    Fixture {
        folder_id,
        document_ids,
    }
}

/// One load level's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub clients: usize,
    pub ok: u64,
    pub failed: u64,
    pub secs: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Outcome {
    pub fn per_sec(&self) -> f64 {
        self.ok as f64 / self.secs.max(1e-9)
    }
}

/// Runs `clients` connections (logged in as `username`/`password` of tenant `default`) for
/// `duration`, each sending at most `cap` requests.
pub async fn run(
    ws_url: &str,
    username: &str,
    password: &str,
    fixture: &Fixture,
    clients: usize,
    duration: Duration,
    cap: u64,
) -> Outcome {
    let barrier = Arc::new(Barrier::new(clients + 1));
    let fixture = Arc::new(fixture.clone());
    let mut tasks = Vec::new();
    for k in 0..clients {
        let (url, user, pass) = (ws_url.to_owned(), username.to_owned(), password.to_owned());
        let (barrier, fixture) = (Arc::clone(&barrier), Arc::clone(&fixture));
        tasks.push(tokio::spawn(async move {
            one_client(&url, &user, &pass, &fixture, k, barrier, duration, cap).await
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let (mut ok, mut failed, mut latencies) = (0u64, 0u64, Vec::new());
    for t in tasks {
        let (o, f, l) = t.await.expect("load client");
        ok += o;
        failed += f;
        latencies.extend(l);
    }
    let secs = start.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |us| *us as f64 / 1000.0)
    };
    Outcome {
        clients,
        ok,
        failed,
        secs,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

#[allow(clippy::too_many_arguments)]
async fn one_client(
    url: &str,
    username: &str,
    password: &str,
    fixture: &Fixture,
    k: usize,
    barrier: Arc<Barrier>,
    duration: Duration,
    cap: u64,
) -> (u64, u64, Vec<u32>) {
    let (mut ws, _) = connect_async(url).await.expect("connect");
    let token = login(&mut ws, username, password).await;
    barrier.wait().await;
    let outcome = drive(
        &mut ws,
        fixture,
        k,
        username,
        &token,
        Instant::now() + duration,
        cap,
    )
    .await;
    let _ = ws.close(None).await;
    outcome
}

/// Sends client `k`'s requests on `ws`, [`WINDOW`] at a time, until `deadline` or `cap`
/// requests; returns the replies that were 200, those that were not, and each latency (µs).
pub async fn drive(
    ws: &mut Socket,
    fixture: &Fixture,
    k: usize,
    username: &str,
    token: &str,
    deadline: Instant,
    cap: u64,
) -> (u64, u64, Vec<u32>) {
    let mut sent_at: HashMap<u64, Instant> = HashMap::new();
    let (mut sent, mut ok, mut failed) = (0u64, 0u64, 0u64);
    let mut latencies = Vec::new();
    loop {
        while sent_at.len() < WINDOW && sent < cap && Instant::now() < deadline {
            sent_at.insert(sent, Instant::now());
            let text = request(fixture, k, sent, username, token);
            ws.send(Message::text(text)).await.expect("send");
            sent += 1;
        }
        if sent_at.is_empty() {
            break;
        }
        let text = match ws.next().await {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break,
        };
        let v: Value = serde_json::from_str(&text).expect("JSON");
        let Some(id) = v["request_id"].as_str().and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        if let Some(at) = sent_at.remove(&id) {
            latencies.push(at.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
            if v["code"] == 200 {
                ok += 1;
            } else {
                failed += 1;
            }
        }
    }
    (ok, failed, latencies)
}

/// A client's WebSocket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Logs in on `ws` (tenant `default`) and returns the token.
pub async fn login(ws: &mut Socket, username: &str, password: &str) -> String {
    let login = json!({"action": "login", "data": {"username": username, "password": password},
                       "request_id": "login"});
    ws.send(Message::text(login.to_string()))
        .await
        .expect("send");
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).expect("JSON");
                if v["request_id"] == "login" {
                    return v["data"]["token"].as_str().expect("login token").to_owned();
                }
            }
            Some(Ok(_)) => {}
            other => panic!("login connection failed: {other:?}"),
        }
    }
}

/// Client `k`'s `n`th request: `get_document_info` and `list_directory` alternating, tagged
/// with `request_id` `n`.
pub fn request(fixture: &Fixture, k: usize, n: u64, username: &str, token: &str) -> String {
    let (action, data) = if n.is_multiple_of(2) {
        let docs = &fixture.document_ids;
        let doc = &docs[(n as usize / 2 + k) % docs.len()];
        ("get_document_info", json!({"document_id": doc}))
    } else {
        ("list_directory", json!({"folder_id": fixture.folder_id}))
    };
    json!({"action": action, "data": data, "username": username, "token": token,
           "request_id": n.to_string()})
    .to_string()
}
