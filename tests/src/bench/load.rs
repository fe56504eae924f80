//! Small actions from many clients at once (each a `coffer::client::Client`): each client
//! sends `get_document_info` and `list_directory` requests, one at a time (it waits for its
//! reply before sending the next, as interactive clients do), until the deadline or its
//! request cap, and records each reply's latency. (With several requests in flight per
//! client the latency target could not hold at any throughput a 2-core machine has: by
//! Little's law, 64 clients × 8 in flight at 20,000/s is 26 ms per request.)
use std::sync::Arc;
use std::time::{Duration, Instant};

use api_spec::actions::{
    CreateDirectory, CreateDirectoryRequest, CreateDocument, CreateDocumentRequest,
};
use serde_json::{Value, json};
use tokio::sync::Barrier;

use crate::Client;

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
        c.upload(&doc.task_data.task_id, format!("document {i}").as_bytes())
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
    let c = login(url, username, password).await;
    barrier.wait().await;
    let outcome = drive(&c, fixture, k, Instant::now() + duration, cap).await;
    c.close().await;
    outcome
}

/// Sends client `k`'s requests on `c`, one at a time, until `deadline` or `cap` requests;
/// returns the replies that were 200, those that were not, and each latency (µs).
pub async fn drive(
    c: &coffer::client::Client,
    fixture: &Fixture,
    k: usize,
    deadline: Instant,
    cap: u64,
) -> (u64, u64, Vec<u32>) {
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut latencies = Vec::new();
    let mut sent = 0;
    while sent < cap && Instant::now() < deadline {
        let (action, data) = request(fixture, k, sent);
        let at = Instant::now();
        let Ok(reply) = c.request(action, data).await else {
            break;
        };
        latencies.push(at.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        sent += 1;
        if reply.code == 200 {
            ok += 1;
        } else {
            failed += 1;
        }
    }
    (ok, failed, latencies)
}

/// A connection to `url`, logged in as `username` of tenant `default`.
pub async fn login(url: &str, username: &str, password: &str) -> coffer::client::Client {
    let mut c = coffer::client::Client::connect(url).await.expect("connect");
    c.login(None, username, password).await.expect("login");
    c
}

/// Client `k`'s `n`th request: `get_document_info` and `list_directory` alternating.
pub fn request(fixture: &Fixture, k: usize, n: u64) -> (&'static str, Value) {
    if n.is_multiple_of(2) {
        let docs = &fixture.document_ids;
        let doc = &docs[(n as usize / 2 + k) % docs.len()];
        ("get_document_info", json!({"document_id": doc}))
    } else {
        ("list_directory", json!({"folder_id": fixture.folder_id}))
    }
}
