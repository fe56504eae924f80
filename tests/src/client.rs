//! The tests' client: the `coffer` crate's own [`coffer::client::Client`] (pipelined calls
//! by `request_id`, the connection's events, HTTP transfers with resume), with what a test
//! wants on top: every wait bounded, an error reply as a plain [`ApiFailure`] to compare,
//! and transfers of bytes held in memory (staged in a temporary file, as the library
//! streams from and to files). Tests of the wire itself use [`crate::raw::RawSocket`].
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use api_spec::actions::UploadFileResponse;
use api_spec::{ActionSpec, ErrorCode, Event, Reply};
use coffer::client::{ClientError, Credentials};
use serde_json::Value;

/// How long a wait for an event may take before the test fails.
const WAIT: Duration = Duration::from_secs(15);
/// The longest a call may take (a long action answers only at its end).
const LONGEST_CALL: Duration = Duration::from_secs(300);

/// A non-200 reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiFailure {
    pub code: u16,
    pub error: ErrorCode,
    pub message: String,
    pub data: Value,
}

impl ApiFailure {
    /// The server's error; any other failure (the connection, a local file) fails the test.
    #[track_caller]
    fn from_client(e: ClientError, what: &str) -> Self {
        match e {
            ClientError::Api {
                status,
                error,
                message,
                data,
            } => Self {
                code: status,
                error,
                message,
                data,
            },
            other => panic!("{what}: {other}"),
        }
    }
}

pub struct Client {
    inner: coffer::client::Client,
}

/// A transfer's progress callback, and whether the transfer ever went back (the library
/// resumes or restarts a cut attempt silently; against the test server none is cut, so a
/// restart is a fault to report).
fn forward_only() -> (coffer::client::transfer::Progress, impl Fn() -> bool) {
    let last = Arc::new(AtomicU64::new(0));
    let went_back = Arc::new(AtomicBool::new(false));
    let (seen, back) = (Arc::clone(&last), Arc::clone(&went_back));
    let progress = Arc::new(move |done: u64| {
        // Within an attempt progress only grows (no piece is empty): a value not above the
        // last is an attempt begun again.
        if done <= seen.swap(done, Ordering::SeqCst) {
            back.store(true, Ordering::SeqCst);
        }
    });
    (progress, move || went_back.load(Ordering::SeqCst))
}

#[track_caller]
fn in_time<T>(what: &str, outcome: Result<T, tokio::time::error::Elapsed>) -> T {
    outcome.unwrap_or_else(|_| panic!("{what}: no answer in time"))
}

impl Client {
    /// Connects to `server` (`http://…`, `ws://…/ws` or `host:port`).
    pub async fn connect(server: &str) -> Self {
        let inner = tokio::time::timeout(WAIT, coffer::client::Client::connect(server))
            .await
            .expect("connect in time")
            .expect("connect");
        Self { inner }
    }

    /// The library client, for what this wrapper does not repeat.
    pub fn lib(&self) -> &coffer::client::Client {
        &self.inner
    }

    /// Logs in and acts as that user from now on.
    pub async fn login(
        &mut self,
        username: &str,
        password: &str,
        tenant: Option<&str>,
    ) -> Result<(), ApiFailure> {
        let outcome = tokio::time::timeout(WAIT, self.inner.login(tenant, username, password));
        match in_time("login", outcome.await) {
            Ok(_) => Ok(()),
            Err(e) => Err(ApiFailure::from_client(e, "login")),
        }
    }

    /// A typed call of action `A`.
    pub async fn call<A: ActionSpec>(&self, req: &A::Request) -> Result<A::Response, ApiFailure> {
        let outcome = tokio::time::timeout(LONGEST_CALL, self.inner.call::<A>(req)).await;
        in_time(A::NAME, outcome).map_err(|e| ApiFailure::from_client(e, A::NAME))
    }

    /// Sends `action` with `data` (untyped, to send what the types would not) and returns
    /// the reply, whatever its code.
    pub async fn request(&self, action: &str, data: Value) -> Reply {
        let outcome = tokio::time::timeout(LONGEST_CALL, self.inner.request(action, data)).await;
        in_time(action, outcome).unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    /// The next event the server pushed.
    pub async fn next_event(&mut self) -> Event {
        let outcome = tokio::time::timeout(WAIT, self.inner.next_event()).await;
        in_time("an event", outcome).expect("the connection closed while waiting for an event")
    }

    /// Events received so far, without waiting for more.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.inner.try_next_event()).collect()
    }

    /// The session's token, once logged in.
    pub fn token(&self) -> Option<String> {
        self.inner.credentials().map(|c| c.token.clone())
    }

    /// Acts with this envelope `username` and `token` from now on, whatever they name.
    pub fn act_as(&mut self, username: Option<&str>, token: &str) {
        self.inner.set_credentials(Credentials {
            username: username.map(str::to_owned),
            token: token.to_owned(),
        });
    }

    /// Acts in `other`'s session (e.g. from a second connection, or on another instance).
    pub fn share_session(&mut self, other: &Client) {
        let credentials = other
            .inner
            .credentials()
            .expect("a logged-in client")
            .clone();
        self.inner.set_credentials(credentials);
    }

    /// Uploads `bytes` to upload task `task_id` over HTTP (declaring their SHA-256).
    pub async fn upload(
        &self,
        task_id: &str,
        bytes: &[u8],
    ) -> Result<UploadFileResponse, ApiFailure> {
        let staged = tempfile::NamedTempFile::new().expect("a temporary file");
        std::fs::write(staged.path(), bytes).expect("stage the upload");
        self.upload_file(task_id, staged.path()).await
    }

    /// Uploads the file at `path` to upload task `task_id` over HTTP.
    pub async fn upload_file(
        &self,
        task_id: &str,
        path: &std::path::Path,
    ) -> Result<UploadFileResponse, ApiFailure> {
        let (progress, restarted) = forward_only();
        let sent = self.inner.upload(task_id, path, progress);
        let outcome = tokio::time::timeout(LONGEST_CALL, sent).await;
        let done = in_time("upload", outcome).map_err(|e| ApiFailure::from_client(e, "upload"));
        assert!(
            !restarted(),
            "the upload started over: an attempt was cut short"
        );
        done
    }

    /// Downloads download task `task_id` over HTTP (checked against the SHA-256 the server
    /// declares) and returns its bytes.
    pub async fn download(&self, task_id: &str) -> Result<Vec<u8>, ApiFailure> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let dest = dir.path().join("download");
        let (progress, restarted) = forward_only();
        let got = self.inner.download(task_id, &dest, progress);
        let outcome = tokio::time::timeout(LONGEST_CALL, got).await;
        in_time("download", outcome).map_err(|e| ApiFailure::from_client(e, "download"))?;
        assert!(
            !restarted(),
            "the download started over: an attempt was cut short"
        );
        Ok(std::fs::read(&dest).expect("read the download"))
    }

    /// Closes the connection politely.
    pub async fn close(self) {
        self.inner.close().await;
    }
}
