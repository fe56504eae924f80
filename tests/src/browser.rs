//! A real browser for the web console's tests: Debian's `chromium`, headless, driven through
//! WebDriver by `chromedriver` (both from apt: `apt-get install chromium chromium-driver`;
//! `.ci/run` installs them). Each [`Browser`] runs its own chromedriver on a free port, with
//! a download directory of its own. [`Browser::run`] saves a screenshot under
//! `target/browser-screenshots/` when the scenario fails.
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// How long a condition is waited for before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

fn driver_path() -> PathBuf {
    std::env::var_os("COFFER_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"))
}

fn chromium_path() -> PathBuf {
    if let Some(path) = std::env::var_os("COFFER_CHROMIUM") {
        return PathBuf::from(path);
    }
    // Debian's /usr/bin/chromium is a shell wrapper; the browser itself is here.
    ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Where screenshots go: `target/browser-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("browser-screenshots")
}

/// One headless Chromium and the chromedriver that drives it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    /// Where the browser saves downloads.
    pub downloads: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a `width`×`height` window; under
    /// 600 pixels wide it is a phone (Chromium's device emulation: touch, a mobile viewport).
    /// Without Chromium and its WebDriver the test is skipped (None, saying so and how to
    /// install them) — unless `CI` is set, as `.ci/run` sets it: there they must be present.
    pub async fn open(width: u32, height: u32) -> Option<Self> {
        let driver = driver_path();
        if !(driver.exists() && chromium_path().exists()) {
            let missing = format!(
                "the console's browser tests need Chromium and its WebDriver: \
                 apt-get install chromium chromium-driver (looked for {} and {})",
                driver.display(),
                chromium_path().display()
            );
            assert!(std::env::var_os("CI").is_none(), "{missing}");
            eprintln!("SKIPPED: {missing}");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut driver = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let downloads = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium_path(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--no-first-run", "--disable-extensions", "--disable-background-networking",
                    format!("--window-size={width},{height}"),
                ],
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                    "download.directory_upgrade": true,
                    "safebrowsing.enabled": false,
                    // What a person answers when the browser asks whether the site may
                    // save several files (the archive, then the key).
                    "profile.default_content_setting_values.automatic_downloads": 1,
                },
            }),
        );
        if width < 600 {
            caps["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 2, "touch": true},
                "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
                    (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36",
            });
        }
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() < Duration::from_secs(20) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    let _ = driver.kill();
                    panic!("no WebDriver session: {e}");
                }
            }
        };
        Some(Self {
            client,
            driver,
            downloads,
        })
    }

    /// Runs `scenario` against this browser (with its download directory) and answers what
    /// it answers. When it fails, a screenshot of the page is saved as
    /// `target/browser-screenshots/<name>.png` before the failure goes on.
    pub async fn run<F, Fut, T>(mut self, name: &str, scenario: F) -> T
    where
        F: FnOnce(Client, PathBuf) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        let outcome = tokio::spawn(scenario(
            self.client.clone(),
            self.downloads.path().to_path_buf(),
        ))
        .await;
        if outcome.is_err() {
            let saved = save_screenshot(&self.client, name).await;
            eprintln!("screenshot of the failing page: {saved}");
        }
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        match outcome {
            Ok(answer) => answer,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("the scenario did not finish: {e}"),
            },
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Saves a screenshot of the page as `target/browser-screenshots/<name>.png`; says where
/// (or why not).
pub async fn save_screenshot(client: &Client, name: &str) -> String {
    let dir = screenshot_dir();
    let path = dir.join(format!("{name}.png"));
    match client.screenshot().await {
        Ok(png) => match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, png)) {
            Ok(()) => path.display().to_string(),
            Err(e) => format!("not saved: {e}"),
        },
        Err(e) => format!("not taken: {e}"),
    }
}

/// Runs `script` (a function body; `arguments` holds `args`) in the page.
pub async fn js(client: &Client, script: &str, args: Vec<Value>) -> Value {
    client.execute(script, args).await.expect("script runs")
}

/// Waits until `script` answers something truthy; panics with `what` after [`PATIENCE`].
pub async fn until(client: &Client, what: &str, script: &str) -> Value {
    let started = Instant::now();
    loop {
        match client.execute(script, vec![]).await {
            Ok(v) if !matches!(v, Value::Null | Value::Bool(false)) && v != json!("") => {
                return v;
            }
            _ if started.elapsed() > PATIENCE => {
                let text = page_text(client).await;
                panic!("waited {PATIENCE:?} for {what}; the page says:\n{text}");
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The page's visible text.
pub async fn page_text(client: &Client) -> String {
    client
        .execute("return document.body.innerText", vec![])
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Waits until the page's text holds `text`.
pub async fn until_text(client: &Client, text: &str) {
    until(
        client,
        &format!("the text {text:?}"),
        &format!(
            "return document.body.innerText.includes({})",
            serde_json::to_string(text).unwrap()
        ),
    )
    .await;
}

/// The element `css` selects, waiting for it to appear.
pub async fn element(client: &Client, css: &str) -> fantoccini::elements::Element {
    until(
        client,
        &format!("an element {css}"),
        &format!(
            "return !!document.querySelector({})",
            serde_json::to_string(css).unwrap()
        ),
    )
    .await;
    client.find(Locator::Css(css)).await.expect("element")
}

/// Types `text` into the element `css` selects, after clearing it.
pub async fn fill(client: &Client, css: &str, text: &str) {
    let input = element(client, css).await;
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

/// Clicks the enabled button whose text is `label` (the first one, when several), waiting
/// for it; a button replaced while it is clicked (the page re-rendered) is looked up again.
pub async fn click_button(client: &Client, label: &str) {
    let xpath = format!(
        "//button[normalize-space(.)={} and not(@disabled)]",
        xpath_literal(label)
    );
    let started = Instant::now();
    loop {
        let clicked = match client.find(Locator::XPath(&xpath)).await {
            Ok(button) => button.click().await.is_ok(),
            Err(_) => false,
        };
        if clicked {
            return;
        }
        if started.elapsed() > PATIENCE {
            let text = page_text(client).await;
            panic!("waited {PATIENCE:?} to click the button {label:?}; the page says:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn xpath_literal(text: &str) -> String {
    if text.contains('\'') {
        format!("\"{text}\"")
    } else {
        format!("'{text}'")
    }
}

/// Waits until `dir` holds a finished download named `name`.
pub async fn downloaded(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let started = Instant::now();
    loop {
        let partial = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"))
            })
            .unwrap_or(false);
        if path.exists() && !partial {
            return path;
        }
        assert!(
            started.elapsed() < PATIENCE,
            "waited {PATIENCE:?} for the download {name}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
