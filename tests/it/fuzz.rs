//! A bounded WebSocket fuzz test: a few thousand frames from a seeded generator (print the
//! seed; `COFFER_FUZZ_SEED` replays one) over a handful of connections, anonymous and logged
//! in. Frames are requests for every action of the catalogue with data built from the action's
//! own schema, then broken: wrong types, huge and negative numbers, deep nesting, unicode, NUL,
//! missing and unknown fields, bad envelopes, random action names, cut or garbled text, binary
//! frames and invalid UTF-8. Every reply must be a valid envelope (a known code with its
//! status, never `internal`), every request must be answered, and the server must still let a
//! fresh connection log in afterwards.
use std::time::Duration;

use futures_util::future::join_all;
use serde_json::{Value, json};
use tests::TestServer;

use crate::support::{group, mkdir, mkdoc, new_revision, user};

mod frames;
mod wire;

use frames::{Expect, Frame, Generator};
use wire::Conn;

/// Frames sent in all; `COFFER_FUZZ_FRAMES` changes it for a longer local run.
const FRAMES: usize = 3000;
/// Seed when `COFFER_FUZZ_SEED` is not set: fixed, so CI runs are reproducible.
const DEFAULT_SEED: u64 = 0x00c0_ffee_f022;
/// The user whose login proves the server alive at the end. Its name is in no dictionary of
/// the generator, so no frame can delete it or change its password.
const WITNESS: &str = "liveness-witness";

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    Some(parsed.unwrap_or_else(|_| panic!("{name}={text} is not a number")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_hostile_frames_get_valid_replies_and_the_server_lives() {
    let seed = env_number("COFFER_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let count = env_number("COFFER_FUZZ_FRAMES").map_or(FRAMES, |n| n as usize);
    eprintln!("websocket fuzz: seed {seed:#x}, {count} frames (COFFER_FUZZ_SEED replays it)");
    // Login throttling by address would lock out the final login (every connection comes from
    // 127.0.0.1); throttling has its own tests.
    let server = TestServer::start_with(|c| c.login_max_failures = 1_000_000).await;
    let mut admin = server.admin().await;

    // Something for ids to name: a folder, a document with two revisions, a group, a user to
    // be mangled, and the witness.
    group(&mut admin, "fuzzers", &["list_users"]).await;
    user(&server, &mut admin, "victim", &[], &["fuzzers"]).await;
    user(&server, &mut admin, WITNESS, &[], &[]).await;
    let folder = mkdir(&mut admin, "fuzz-dir", None).await;
    let document = mkdoc(&mut admin, "fuzz-doc", Some(&folder), b"first").await;
    let revision = new_revision(&mut admin, &document, b"second").await;
    let permissions: Vec<&str> = api_spec::permissions::ALL.to_vec();
    user(&server, &mut admin, "fuzz-user", &permissions, &[]).await;

    let ids = vec![folder, document, revision];
    let mut generator = Generator::new(seed, ids);
    // Connections: anonymous, admin, a user holding every permission, and the victim (whom
    // the others may delete or lock out: its frames then fail authentication).
    let logins: [Option<(&str, &str)>; 4] = [
        None,
        Some(("admin", tests::server::ADMIN_PASSWORD)),
        Some(("fuzz-user", crate::support::USER_PASSWORD)),
        Some(("victim", crate::support::USER_PASSWORD)),
    ];
    let mut plans: Vec<Vec<Frame>> = vec![Vec::new(); logins.len()];
    for _ in 0..count {
        let which = generator.below(logins.len());
        let frame = generator.frame(logins[which].is_some());
        plans[which].push(frame);
    }
    let started = std::time::Instant::now();
    let runs = plans
        .into_iter()
        .zip(logins)
        .map(|(plan, login)| run_connection(&server, login, plan));
    let replies: usize = join_all(runs).await.into_iter().sum();
    eprintln!(
        "websocket fuzz: {count} frames, {replies} replies in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Alive: a fresh connection logs in and asks for the server's info.
    let mut fresh = server.client().await;
    fresh
        .login(WITNESS, crate::support::USER_PASSWORD, None)
        .await
        .expect("a fresh login after the fuzzing");
    let info = fresh.request("server_info", json!({})).await;
    assert_eq!(info.code, 200, "{info:?}");
}

/// Sends `plan` on one connection in pipelined batches, checking every reply; returns how
/// many replies it checked.
async fn run_connection(
    server: &TestServer,
    login: Option<(&str, &str)>,
    plan: Vec<Frame>,
) -> usize {
    let mut conn = Conn::open(server, login).await;
    let mut checked = 0;
    let mut batch: Vec<Frame> = Vec::new();
    for frame in plan {
        let closes = matches!(frame.expect, Expect::Close(_));
        if closes || batch.len() == BATCH {
            checked += conn.exchange(std::mem::take(&mut batch)).await;
        }
        if conn.lost {
            conn = Conn::open(server, login).await;
        }
        if closes {
            conn.expect_close(&frame).await;
            conn = Conn::open(server, login).await;
        } else {
            batch.push(frame.with_credentials(conn.credentials()));
        }
    }
    checked + conn.exchange(batch).await
}

/// Frames in flight on one connection at once: below the server's `max_in_flight` (16), so
/// the server never stops reading in the middle of a batch.
const BATCH: usize = 12;

/// How long a connection may go without any message while replies are outstanding.
pub const REPLY_WAIT: Duration = Duration::from_secs(8);

/// Checks one reply's envelope; `sent` names the frames it may answer, for the message.
pub fn check_reply(reply: &Value, sent: &str) {
    let code = reply["code"].as_u64().unwrap_or_else(|| {
        panic!("reply without an integer code: {reply}\nto: {sent}");
    });
    assert!(
        reply["message"].is_string(),
        "no message: {reply}\nto: {sent}"
    );
    assert!(reply.get("data").is_some(), "no data: {reply}\nto: {sent}");
    assert!(
        reply["timestamp"].is_number(),
        "no timestamp: {reply}\nto: {sent}"
    );
    assert_ne!(code, 500, "an internal error: {reply}\nto: {sent}");
    if code != 200 {
        let error: api_spec::ErrorCode = serde_json::from_value(reply["data"]["error"].clone())
            .unwrap_or_else(|e| panic!("data.error is no known code ({e}): {reply}\nto: {sent}"));
        assert_eq!(u64::from(error.status()), code, "{reply}\nto: {sent}");
    }
}
