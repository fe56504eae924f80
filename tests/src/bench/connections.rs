//! The `connections` suite (issue 10): the server's memory under a crowd of WebSocket clients.
//!
//! The server runs in a child process (this binary again, `coffer-bench __serve DIR`) on
//! its default settings — real argon2 for the logins included — so that its VmRSS is its own
//! and not the thousand clients'. Phases, each against the VmRSS before the crowd came:
//! every client connects and logs in (its own session), makes one request and goes idle
//! (per idle authenticated connection); all of them make small actions at once (the peak,
//! sampled every 20 ms from the first connect); all disconnect, and 30 s later the level
//! must be back near where it started. The `frames` suite sends a fuzzer's worth of hostile
//! frames (valid JSON near the frame limit that costs far more to parse than its size) from
//! 50 connections to a fresh server: the peak, and the level 30 s after.
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Barrier, Semaphore};
use tokio_tungstenite::connect_async;
use tokio_tungstenite::tungstenite::Message;

use super::load::{self, Fixture};
use super::report::Figure;
use super::rss::{Process, Sampler, status_kib_of};
use crate::Client;
use crate::server::ADMIN_PASSWORD;

/// The argument that makes this binary the suite's server.
pub const SERVE_ARG: &str = "__serve";
/// How long after the crowd leaves the level is read.
pub const SETTLE: Duration = Duration::from_secs(30);
/// Connections opened at once while the crowd arrives (each then logs in).
const ARRIVING: usize = 64;

/// The child's side: runs the server with default settings on `127.0.0.1:0` in `dir`, prints
/// its address, and stops when standard input closes (the bench ended, or died).
pub async fn serve_child(dir: &Path) -> Result<(), String> {
    let config = coffer::Config {
        bind: ([127, 0, 0, 1], 0).into(),
        data_dir: dir.to_path_buf(),
        admin_password: Some(coffer::secret::SecretString::new(ADMIN_PASSWORD.to_owned())),
        // Every bench client comes from 127.0.0.1: the per-address cap would refuse most.
        max_connections_per_address: 0,
        ..coffer::Config::default()
    };
    let server = coffer::start(config, coffer::Signals::Ignore)
        .await
        .map_err(|e| format!("server: {e}"))?;
    println!("listening {}", server.addr());
    let _ = std::io::stdout().flush();
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    })
    .await;
    server.stop().await.map_err(|e| format!("stop: {e}"))
}

/// The server in its own process; killed when dropped.
struct ChildServer {
    child: Child,
    addr: String,
}

impl ChildServer {
    fn spawn(dir: &Path) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .arg(SERVE_ARG)
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn the server: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .ok_or_else(|| format!("the server said {line:?}"))?
            .to_owned();
        Ok(Self { child, addr })
    }

    fn process(&self) -> Process {
        Process::Pid(self.child.id())
    }

    fn rss_mib(&self) -> f64 {
        status_kib_of(self.process(), "VmRSS") as f64 / 1024.0
    }

    fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the crowd's phases measured.
struct Crowd {
    idle_mib: f64,
    busy_peak_mib: f64,
    ok: u64,
    failed: u64,
    busy_secs: f64,
}

/// Runs the suite with `clients` connections, busy for `busy_for`; returns its figures.
pub async fn suite(work: &Path, clients: usize, busy_for: Duration) -> Result<Vec<Figure>, String> {
    let dir = work.join("connections-server");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let server = ChildServer::spawn(&dir)?;
    let fixture = {
        let mut admin = Client::connect(&server.ws_url()).await;
        admin
            .login("admin", ADMIN_PASSWORD, None)
            .await
            .map_err(|e| format!("admin login: {e:?}"))?;
        let fixture = load::fixture(&mut admin, 10).await;
        admin.close().await;
        fixture
    };
    // Let the set-up's memory settle before reading the level the crowd is measured from.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base_mib = server.rss_mib();
    let sampler = Sampler::start_for(server.process());
    let crowd = crowd(&server, &fixture, clients, busy_for).await?;
    let peak = sampler.finish();
    let left_at = Instant::now();
    tokio::time::sleep(SETTLE.saturating_sub(left_at.elapsed())).await;
    let after_mib = server.rss_mib();
    println!(
        "connections: {clients} clients; VmRSS {base_mib:.0} MiB before, {:.0} MiB idle, \
         peak {:.0} MiB busy ({} ok, {} failed in {:.1} s), {after_mib:.0} MiB {} s after \
         they left",
        crowd.idle_mib,
        peak.peak_kib as f64 / 1024.0,
        crowd.ok,
        crowd.failed,
        crowd.busy_secs,
        SETTLE.as_secs()
    );
    if crowd.failed > 0 {
        return Err(format!("{} small actions failed", crowd.failed));
    }
    let per_conn_kib = (crowd.idle_mib - base_mib).max(0.0) * 1024.0 / clients as f64;
    let busy_peak_mib = crowd.busy_peak_mib.max(peak.peak_kib as f64 / 1024.0);
    let returned = after_mib - base_mib;
    Ok(vec![
        Figure::new("conn_base", base_mib, "MiB"),
        Figure::new("conn_idle_per_conn", per_conn_kib, "KiB")
            .target("≤ 64 KiB", per_conn_kib <= 64.0),
        Figure::new(format!("conn_busy_peak_c{clients}"), busy_peak_mib, "MiB")
            .target("≤ 256 MiB", busy_peak_mib <= 256.0),
        Figure::new(
            format!("conn_busy_c{clients}"),
            crowd.ok as f64 / crowd.busy_secs.max(1e-9),
            "actions/s",
        ),
        Figure::new("conn_after_30s_above_base", returned, "MiB")
            .target("≤ 64 MiB", returned <= 64.0),
    ])
}

/// The `frames` suite: a fuzzer's worth of hostile frames against a fresh server; the peak
/// and the level 30 s after, against the level before.
pub async fn frames_suite(work: &Path) -> Result<Vec<Figure>, String> {
    let dir = work.join("frames-server");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let server = ChildServer::spawn(&dir)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base_mib = server.rss_mib();
    let sampler = Sampler::start_for(server.process());
    let replies = hostile(&server).await?;
    let hostile_peak = sampler.finish();
    tokio::time::sleep(SETTLE).await;
    let after_mib = server.rss_mib();
    println!(
        "hostile frames: {HOSTILE_CONNECTIONS} connections x {HOSTILE_FRAMES} frames of ~1 MiB \
         ({replies} replies); VmRSS {base_mib:.0} MiB before, peak {:.0} MiB, \
         {after_mib:.0} MiB {} s after",
        hostile_peak.peak_kib as f64 / 1024.0,
        SETTLE.as_secs()
    );
    Ok(vec![
        Figure::new("frames_base", base_mib, "MiB"),
        Figure::new("frames_peak_above_base", hostile_peak.growth_mib(), "MiB"),
        Figure::new("frames_after_30s_above_base", after_mib - base_mib, "MiB"),
    ])
}

/// Connections of the hostile-frames phase, and frames each sends at once.
const HOSTILE_CONNECTIONS: usize = 50;
const HOSTILE_FRAMES: usize = 20;

/// Frames a fuzzer sends: syntactically valid JSON just under the default 1 MiB frame limit
/// whose parse costs far more memory than its size (long arrays and objects of tiny values),
/// where the server expects a small object. Each connection sends all of its frames before
/// reading the replies; returns how many replies came.
async fn hostile(server: &ChildServer) -> Result<usize, String> {
    let frames = [
        format!(
            r#"{{"action":"server_info","data":[{}0]}}"#,
            "0,".repeat(500_000)
        ),
        format!(
            r#"{{"action":"server_info","data":{{"pad":[{}[]]}}}}"#,
            "[],".repeat(330_000)
        ),
        format!(
            r#"{{"action":"login","data":{{"username":"admin","password":"x"}},"pad":{{{}"k":0}}}}"#,
            (0..70_000)
                .map(|i| format!("\"k{i}\":0,"))
                .collect::<String>()
        ),
    ];
    let frames = Arc::new(frames);
    let mut tasks = Vec::new();
    for k in 0..HOSTILE_CONNECTIONS {
        let (url, frames) = (server.ws_url(), Arc::clone(&frames));
        tasks.push(tokio::spawn(async move {
            // A server busy with the others may time the handshake out (408): that client
            // then sends nothing, and the replies count shows it.
            let Ok((mut ws, _)) = connect_async(&url).await else {
                return 0;
            };
            for i in 0..HOSTILE_FRAMES {
                let frame = frames[(k + i) % frames.len()].clone();
                if ws.send(Message::text(frame)).await.is_err() {
                    return 0;
                }
            }
            let mut replies = 0;
            while replies < HOSTILE_FRAMES {
                match tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
                    Ok(Some(Ok(m))) if m.is_text() => replies += 1,
                    Ok(Some(Ok(_))) => {}
                    _ => break,
                }
            }
            let _ = ws.close(None).await;
            replies
        }));
    }
    let mut replies = 0;
    for t in tasks {
        replies += t.await.map_err(|e| format!("hostile client: {e}"))?;
    }
    Ok(replies)
}

/// Connects `clients` clients, each logging in and making one request; reads the idle level;
/// lets them all make small actions for `busy_for`; closes them all.
async fn crowd(
    server: &ChildServer,
    fixture: &Fixture,
    clients: usize,
    busy_for: Duration,
) -> Result<Crowd, String> {
    let ready = Arc::new(Barrier::new(clients + 1));
    let go = Arc::new(Barrier::new(clients + 1));
    let done = Arc::new(Barrier::new(clients + 1));
    let arriving = Arc::new(Semaphore::new(ARRIVING));
    let fixture = Arc::new(fixture.clone());
    let deadline = Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut tasks = Vec::new();
    for k in 0..clients {
        let url = server.ws_url();
        let (ready, go, done) = (Arc::clone(&ready), Arc::clone(&go), Arc::clone(&done));
        let (arriving, fixture, deadline) = (
            Arc::clone(&arriving),
            Arc::clone(&fixture),
            Arc::clone(&deadline),
        );
        tasks.push(tokio::spawn(async move {
            let c = {
                let _arriving = arriving.acquire().await;
                let c = load::login(&url, "admin", ADMIN_PASSWORD).await;
                let (action, data) = load::request(&fixture, k, 0);
                c.request(action, data).await.expect("the first request");
                c
            };
            ready.wait().await;
            go.wait().await;
            let until = *deadline.get().expect("deadline set before go");
            let outcome = load::drive(&c, &fixture, k, until, u64::MAX).await;
            done.wait().await;
            c.close().await;
            outcome
        }));
    }
    ready.wait().await;
    // Idle: every client connected, logged in, answered, and now silent.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_mib = server.rss_mib();
    let _ = deadline.set(Instant::now() + busy_for);
    let started = Instant::now();
    go.wait().await;
    done.wait().await;
    let busy_secs = started.elapsed().as_secs_f64();
    let busy_peak_mib = server.rss_mib();
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        let (o, f, _) = t.await.map_err(|e| format!("client: {e}"))?;
        ok += o;
        failed += f;
    }
    Ok(Crowd {
        idle_mib,
        busy_peak_mib,
        ok,
        failed,
        busy_secs,
    })
}
