//! The web console (`GET /`), served by the server itself under a strict policy, the
//! WebSocket's origin check, and the helpers of the browser tests (`console_backups.rs`):
//! headless Chromium driven by chromedriver (`tests::browser`), a balancer in front of two
//! instances. A failing browser test leaves a screenshot under `target/browser-screenshots/`.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use coffer::client::Client;
use serde_json::json;
use tests::TestServer;
use tests::browser::{fill, js, save_screenshot, until, until_text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub(crate) const SECOND_PASSWORD: &str = "second-admin-pw";

/// The page's console assets and headers: a strict CSP, nothing from another origin, no
/// inline script or style.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_from_the_binary_with_a_strict_policy() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let page = http.get(server.http_url("/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    for needed in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(needed), "CSP {csp:?} lacks {needed:?}");
    }
    assert!(
        !csp.contains("unsafe"),
        "CSP allows something unsafe: {csp}"
    );
    let html = page.text().await.unwrap();
    assert!(!html.contains("<style"), "inline style");
    assert!(!html.contains(" style="), "inline style attribute");
    // Every script is a file of this origin.
    for script in html.split("<script").skip(1) {
        let tag = &script[..script.find('>').unwrap()];
        assert!(
            tag.contains("src=\"/console/"),
            "inline or foreign script: {tag}"
        );
    }
    let mut assets = vec![];
    for part in html.split(['"', '\'']) {
        if part.starts_with("/console/") {
            assets.push(part.to_owned());
        }
    }
    assert!(assets.len() >= 3, "{assets:?}");
    // The modules the page loads, and the modules they import.
    let mut i = 0;
    while i < assets.len() {
        let answer = http.get(server.http_url(&assets[i])).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{}", assets[i]);
        assert!(answer.headers().contains_key("content-security-policy"));
        let body = answer.text().await.unwrap();
        for foreign in ["http://", "https://", "//cdn", "@import url"] {
            let allowed_svg = assets[i].ends_with(".svg") && foreign == "http://";
            assert!(
                allowed_svg || !body.contains(foreign),
                "{} names {foreign}",
                assets[i]
            );
        }
        for line in body.lines() {
            if let Some(rest) = line.trim().strip_prefix("import ")
                && let Some(from) = rest.split(" from ").nth(1)
            {
                let module = from.trim_matches(|c| c == '\'' || c == ';' || c == '"');
                let module = format!("/console/{}", module.trim_start_matches("./"));
                if !assets.contains(&module) {
                    assets.push(module);
                }
            }
        }
        i += 1;
    }
    assert!(
        assets.iter().any(|a| a.ends_with("documents.js")),
        "{assets:?}"
    );
    let missing = http
        .get(server.http_url("/console/nope.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

/// A browser opens a WebSocket only from a page of the server's own origin (or a listed
/// one); clients that send no `Origin` are not browsers and pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_upgrade_checks_a_browsers_origin() {
    let server = TestServer::start_with(|c| {
        c.allowed_origins = vec!["https://docs.example.com".into()];
    })
    .await;
    let open = |origin: Option<&'static str>| {
        let url = server.ws_url();
        async move {
            use tokio_tungstenite::tungstenite::client::IntoClientRequest;
            let mut req = url.into_client_request().unwrap();
            if let Some(origin) = origin {
                req.headers_mut().insert("origin", origin.parse().unwrap());
            }
            tokio_tungstenite::connect_async(req).await
        }
    };
    let own = format!("http://{}", server.addr);
    let own: &'static str = Box::leak(own.into_boxed_str());
    assert!(open(None).await.is_ok());
    assert!(open(Some(own)).await.is_ok());
    assert!(open(Some("https://docs.example.com")).await.is_ok());
    for foreign in ["http://evil.example", "null", "http://127.0.0.1:1"] {
        match open(Some(foreign)).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert_eq!(res.status(), 403, "{foreign}");
                let body: serde_json::Value =
                    serde_json::from_slice(res.body().as_deref().unwrap_or_default()).unwrap();
                assert_eq!(body["data"]["error"], "origin_not_allowed", "{foreign}");
            }
            other => panic!("{foreign}: {other:?}"),
        }
    }
}

/// What the test proxy does to uploads (`PUT /api/transfers/…`) on their way.
#[derive(Clone, Copy)]
pub(crate) enum Network {
    /// Cut the first upload after 1 MiB, once: a connection that drops.
    CutFirstUpload,
    /// Pass uploads at about 1 MiB/s: a slow line.
    SlowUploads,
}

/// What the proxy saw.
#[derive(Default)]
pub(crate) struct Seen {
    /// It cut an upload short.
    pub(crate) cut: AtomicBool,
    /// A PUT with `Content-Range` passed: the page asked what the server held, or resumed.
    pub(crate) ranged_put: AtomicBool,
    /// Bytes of uploads passed on.
    pub(crate) uploaded: AtomicUsize,
    /// The browser closed a connection in the middle of an upload.
    pub(crate) upload_abandoned: AtomicBool,
}

/// Instances behind one origin: a TCP proxy that hands each new connection to the next
/// instance in turn, treating uploads as `network` says. Answers the origin's URL and what
/// the proxy saw.
pub(crate) async fn balancer(instances: Vec<SocketAddr>, network: Network) -> (String, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Seen::default());
    let shared = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let target = instances[next.fetch_add(1, Ordering::SeqCst) % instances.len()];
            tokio::spawn(pipe(client, target, network, Arc::clone(&shared)));
        }
    });
    (format!("http://{addr}"), seen)
}

pub(crate) async fn pipe(client: TcpStream, target: SocketAddr, network: Network, seen: Arc<Seen>) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let cut_now = Arc::new(tokio::sync::Notify::new());
    let cut_tx = Arc::clone(&cut_now);
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        // Bytes sent since an upload began on this connection.
        let mut put_bytes: Option<usize> = None;
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => {
                    if put_bytes.is_some() {
                        seen.upload_abandoned.store(true, Ordering::SeqCst);
                    }
                    return;
                }
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            if chunk.windows(19).any(|w| w == b"PUT /api/transfers/") {
                put_bytes = Some(0);
                let head = String::from_utf8_lossy(chunk).to_ascii_lowercase();
                if head.contains("\r\ncontent-range: bytes ") {
                    seen.ranged_put.store(true, Ordering::SeqCst);
                }
            }
            if let Some(sent) = put_bytes.as_mut() {
                *sent += n;
                seen.uploaded.fetch_add(n, Ordering::SeqCst);
                match network {
                    Network::CutFirstUpload => {
                        if *sent > 1024 * 1024 && !seen.cut.swap(true, Ordering::SeqCst) {
                            // What a gateway answers when the instance behind it drops:
                            // 502. (A connection closed with no answer at all is one the
                            // browser may send again by itself, unseen by the page.)
                            cut_tx.notify_one();
                            // What the browser still sends is read and dropped until it
                            // closes, so that the close after the 502 is an orderly one (a
                            // reset could lose the 502 on its way).
                            while matches!(cr.read(&mut buf).await, Ok(n) if n > 0) {}
                            return;
                        }
                    }
                    Network::SlowUploads => {
                        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
                    }
                }
            }
            if sw.write_all(chunk).await.is_err() {
                return;
            }
        }
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            tokio::select! {
                read = sr.read(&mut buf) => match read {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => if cw.write_all(&buf[..n]).await.is_err() { return false },
                },
                () = cut_now.notified() => {
                    let _ = cw
                        .write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                    let _ = cw.shutdown().await;
                    return true;
                }
            }
        }
    };
    // The answering side ends the connection; after a cut's 502, once the browser has
    // closed its side (bounded).
    let up = tokio::spawn(up);
    if down.await {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), up).await;
    } else {
        up.abort();
    }
}

pub(crate) async fn api(base: &str, tenant: Option<&str>, user: &str, password: &str) -> Client {
    let mut client = Client::connect(base).await.unwrap();
    client.login(tenant, user, password).await.unwrap();
    client
}

/// Logs in through the page with the keyboard only: typing, and Enter to submit.
pub(crate) async fn log_in(
    c: &fantoccini::Client,
    base: &str,
    tenant: &str,
    user: &str,
    password: &str,
) {
    c.goto(&format!("{base}/")).await.unwrap();
    fill(c, "input[name=tenant]", tenant).await;
    fill(c, "input[name=username]", user).await;
    fill(c, "input[name=password]", &format!("{password}\u{E007}")).await;
    until_text(c, "Log out").await;
}

pub(crate) async fn open_page(c: &fantoccini::Client, base: &str, page: &str, heading: &str) {
    c.goto(&format!("{base}/#/{page}")).await.unwrap();
    ready(c, page).await;
    let h1 = js(
        c,
        "return document.querySelector('main h1').textContent",
        vec![],
    )
    .await;
    assert!(h1.as_str().unwrap().starts_with(heading), "{h1}");
}

/// Waits until `page` has rendered completely (the console marks `main` when a page's
/// loading is done).
pub(crate) async fn ready(c: &fantoccini::Client, page: &str) {
    until(
        c,
        &format!("the page {page:?} to be ready"),
        &format!("return !!document.querySelector('main[data-ready={page}]')"),
    )
    .await;
}

/// The documents the listing shows, by title.
pub(crate) async fn listed(c: &fantoccini::Client) -> serde_json::Value {
    js(
        c,
        "return [...document.querySelectorAll('td .doc')].map(e => e.textContent).sort()",
        vec![],
    )
    .await
}

/// Every control on the page has a name a screen reader reads, and the page fits the
/// window's width (no sideways scrolling).
pub(crate) async fn accessible_and_fitting(c: &fantoccini::Client, what: &str) {
    let unlabelled = js(
        c,
        "return [...document.querySelectorAll('input, select, textarea, button')]
            .filter(e => e.offsetParent !== null)
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                && !(e.tagName === 'BUTTON' && e.textContent.trim()))
            .map(e => e.outerHTML.slice(0, 120))",
        vec![],
    )
    .await;
    assert_eq!(unlabelled, json!([]), "{what}: controls without a label");
    let overflow = js(
        c,
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        vec![],
    )
    .await;
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "{what}: wider than the window by {overflow}px"
    );
}

pub(crate) async fn screenshot_if_asked(c: &fantoccini::Client, name: &str) {
    if std::env::var_os("COFFER_CONSOLE_SCREENSHOTS").is_some() {
        eprintln!("{name}: {}", save_screenshot(c, name).await);
    }
}
