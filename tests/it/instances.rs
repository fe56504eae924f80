//! Several instances on one PostgreSQL database (issue 12): what one instance publishes
//! reaches the listeners of every instance exactly once, however long; a session ended on one
//! instance is refused by the others at once, not after `auth_cache_ms`. On SQLite (one
//! instance per database) there is nothing to check, and these tests return.
use std::time::{Duration, Instant};

use api_spec::actions::{
    ListDirectory, ListDirectoryRequest, Logout, LogoutRequest, RegisterListener,
    RegisterListenerRequest,
};
use coffer::events::Audience;
use coffer::server::RunningServer;
use serde_json::json;
use tests::server::ADMIN_PASSWORD;
use tests::{Client, TestServer};

use crate::imports::tenant_id;
use crate::support::mkdir;

/// Another instance on the same database and blob store, with `adjust` applied.
async fn another(
    server: &TestServer,
    adjust: impl FnOnce(&mut coffer::config::Config),
) -> RunningServer {
    let mut config = server.config_for_another_instance();
    adjust(&mut config);
    coffer::start(config, coffer::server::Signals::Ignore)
        .await
        .unwrap()
}

async fn admin_on(instance: &RunningServer) -> Client {
    let mut c = Client::connect(&format!("ws://{}/ws", instance.addr())).await;
    c.login("admin", ADMIN_PASSWORD, None).await.unwrap();
    c
}

async fn listen(c: &mut Client) {
    c.call::<RegisterListener>(&RegisterListenerRequest { events: None })
        .await
        .unwrap();
}

/// The p-th percentile of `values` (sorted here).
fn percentile(values: &mut [Duration], p: f64) -> Duration {
    values.sort();
    values[((values.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_one_instance_publishes_reaches_every_instances_listeners_once() {
    let server = TestServer::start().await;
    if !server.uses_postgres() {
        return;
    }
    let b = another(&server, |_| {}).await;
    let mut on_a = server.admin().await;
    let mut heard_on_a = server.admin().await;
    let mut heard_on_b = admin_on(&b).await;
    listen(&mut heard_on_a).await;
    listen(&mut heard_on_b).await;

    // An action on A: both listeners hear it, once (the next thing each hears is the next
    // action, not a copy).
    let first = mkdir(&mut on_a, "made on a", None).await;
    let second = mkdir(&mut on_a, "made on a too", None).await;
    for listener in [&mut heard_on_a, &mut heard_on_b] {
        for id in [&first, &second] {
            let e = listener.next_event().await;
            assert_eq!(e.event, "directory_changed", "{e:?}");
            assert_eq!(e.data["folder_id"], json!(id), "{e:?}");
        }
    }

    // Longer than a notification carries: it travels by reference, whole.
    let tenant = tenant_id(&server, "default").await;
    let long = "x".repeat(20_000);
    let events = &server.state().events;
    events.publish(
        tenant,
        Audience::Readers(None),
        "directory_changed",
        &json!({"long": long}),
    );
    let e = heard_on_b.next_event().await;
    assert_eq!(e.data["long"].as_str().map(str::len), Some(20_000));
    drop(heard_on_a);

    // Delivery latency from A's bus to B's listener, one event at a time.
    let mut latencies = Vec::with_capacity(1000);
    for seq in 0..1000 {
        let sent = Instant::now();
        events.publish(
            tenant,
            Audience::Readers(None),
            "directory_changed",
            &json!({"seq": seq}),
        );
        let e = heard_on_b.next_event().await;
        latencies.push(sent.elapsed());
        assert_eq!(e.data["seq"], seq, "in order, each once");
    }
    let (p50, p99) = (
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99),
    );
    eprintln!("bus delivery A → B listener over 1,000 events: p50 {p50:?}, p99 {p99:?}");
    assert!(p99 < Duration::from_secs(1), "p99 {p99:?}");
    b.request_stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_ended_on_one_instance_is_refused_by_the_others_at_once() {
    // Caches that would otherwise hold an authentication for ten minutes.
    let long_cache = |c: &mut coffer::config::Config| c.auth_cache_ms = 600_000;
    let server = TestServer::start_with(long_cache).await;
    if !server.uses_postgres() {
        return;
    }
    let b = another(&server, long_cache).await;
    let mut on_a = server.admin().await;
    let mut on_b = Client::connect(&format!("ws://{}/ws", b.addr())).await;
    on_b.username = on_a.username.clone();
    on_b.token = on_a.token.clone();
    let root = ListDirectoryRequest { folder_id: None };
    // B has authenticated the token, and remembers it.
    on_b.call::<ListDirectory>(&root).await.unwrap();
    on_b.call::<ListDirectory>(&root).await.unwrap();

    on_a.call::<Logout>(&LogoutRequest { all: false })
        .await
        .unwrap();
    let ended = Instant::now();
    let mut refused = None;
    while ended.elapsed() < Duration::from_secs(5) {
        if on_b.call::<ListDirectory>(&root).await.is_err() {
            refused = Some(ended.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let refused = refused.expect("B still accepts the token 5 s after the logout on A");
    eprintln!("a logout on A was refused by B after {refused:?}");
    assert!(refused < Duration::from_secs(2), "{refused:?}");
    b.request_stop();
}
