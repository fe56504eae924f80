//! A typed Coffer client: one WebSocket connection with pipelined requests (each reply finds
//! its caller by `request_id`), the connection's events, and HTTP transfers with resume
//! ([`transfer`]). The `coffer` command line is built on it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), coffer::client::ClientError> {
//! use api_spec::actions::{ListDirectory, ListDirectoryRequest};
//! let mut client = coffer::client::Client::connect("http://127.0.0.1:5104").await?;
//! client.login(Some("default"), "admin", "password").await?;
//! let top = ListDirectoryRequest { folder_id: None };
//! let listing = client.call::<ListDirectory>(&top).await?;
//! println!("{} folders", listing.folders.len());
//! # Ok(()) }
//! ```
pub mod session;
pub mod transfer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use api_spec::actions::{Login, LoginRequest, LoginResponse};
use api_spec::{ActionSpec, ErrorCode, Event, Reply};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Reply>>>>;

/// Events queued for the caller; more are dropped until it reads.
const EVENT_QUEUE: usize = 1024;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error reply.
    #[error("{message} [{}]", code_name(.error))]
    Api {
        /// The reply's `code` (HTTP-like).
        status: u16,
        error: ErrorCode,
        message: String,
        data: Value,
    },
    /// The server could not be reached, or the connection failed.
    #[error("{0}")]
    Transport(String),
    /// A local file could not be read or written.
    #[error("{0}")]
    Io(String),
}

/// The snake_case name of an error code, as the wire has it.
pub fn code_name(code: &ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl ClientError {
    /// The server's error code, when the server answered.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Api { error, .. } => Some(*error),
            _ => None,
        }
    }

    fn transport(e: impl std::fmt::Display) -> Self {
        Self::Transport(e.to_string())
    }

    /// The error a non-200 reply carries.
    pub fn from_reply(reply: &Reply) -> Self {
        let error = reply
            .data
            .get("error")
            .and_then(|e| serde_json::from_value(e.clone()).ok())
            .unwrap_or(ErrorCode::Internal);
        Self::Api {
            status: reply.code,
            error,
            message: reply.message.clone(),
            data: reply.data.clone(),
        }
    }
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Who the client acts as: the envelope's `username` and `token`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Credentials {
    /// `None`: the token alone names its session.
    pub username: Option<String>,
    pub token: String,
}

/// Where a server answers: its WebSocket endpoint and its HTTP base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub ws: String,
    pub http: String,
}

impl Endpoint {
    /// From `http(s)://host:port[/]`, `ws(s)://host:port[/ws]` or a bare `host:port`.
    pub fn parse(server: &str) -> Result<Self> {
        let server = server.trim();
        let (secure, rest) = if let Some(rest) = server.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = server.strip_prefix("wss://") {
            (true, rest)
        } else if let Some(rest) = server
            .strip_prefix("http://")
            .or_else(|| server.strip_prefix("ws://"))
        {
            (false, rest)
        } else if server.contains("://") {
            return Err(ClientError::Transport(format!(
                "unsupported server URL `{server}`: use http://, https://, ws:// or wss://"
            )));
        } else {
            (false, server)
        };
        let rest = rest.trim_end_matches('/');
        let host = rest.strip_suffix("/ws").unwrap_or(rest);
        if host.is_empty() {
            return Err(ClientError::Transport(
                "the server URL names no host".into(),
            ));
        }
        let (http, ws) = if secure {
            ("https", "wss")
        } else {
            ("http", "ws")
        };
        Ok(Self {
            ws: format!("{ws}://{host}/ws"),
            http: format!("{http}://{host}"),
        })
    }
}

/// One connection to a Coffer server.
pub struct Client {
    endpoint: Endpoint,
    sink: tokio::sync::Mutex<SplitSink<Ws, Message>>,
    waiters: Waiters,
    /// Set by the reader when the connection ends: no reply will come any more.
    closed: Arc<std::sync::atomic::AtomicBool>,
    events: mpsc::Receiver<Event>,
    next_id: AtomicU64,
    credentials: Option<Credentials>,
    /// Made at the first transfer: a connection that only calls needs no HTTP pool.
    http: std::sync::OnceLock<reqwest::Client>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Client {
    /// Connects to `server` (see [`Endpoint::parse`]).
    pub async fn connect(server: &str) -> Result<Self> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let endpoint = Endpoint::parse(server)?;
        let (ws, _) = tokio_tungstenite::connect_async(&endpoint.ws)
            .await
            .map_err(|e| {
                ClientError::Transport(format!("cannot connect to {}: {e}", endpoint.ws))
            })?;
        let (sink, stream) = ws.split();
        let waiters: Waiters = Arc::default();
        let (event_tx, events) = mpsc::channel(EVENT_QUEUE);
        let closed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = tokio::spawn(read(
            stream,
            Arc::clone(&waiters),
            Arc::clone(&closed),
            event_tx,
        ));
        Ok(Self {
            endpoint,
            sink: tokio::sync::Mutex::new(sink),
            waiters,
            closed,
            events,
            next_id: AtomicU64::new(1),
            credentials: None,
            http: std::sync::OnceLock::new(),
            reader,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Acts as `credentials` from now on (a stored session, or a token given by the user).
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.credentials = Some(credentials);
    }

    /// Logs in (tenant `default` when `tenant` is `None`) and acts as that user from now on.
    pub async fn login(
        &mut self,
        tenant: Option<&str>,
        username: &str,
        password: &str,
    ) -> Result<LoginResponse> {
        let req = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            tenant: tenant.map(str::to_owned),
        };
        let res = self.call::<Login>(&req).await?;
        self.credentials = Some(Credentials {
            username: Some(username.to_owned()),
            token: res.token.clone(),
        });
        Ok(res)
    }

    /// Calls action `A`; its typed response, or the server's error.
    pub async fn call<A: ActionSpec>(&self, req: &A::Request) -> Result<A::Response> {
        let data = serde_json::to_value(req).map_err(ClientError::transport)?;
        let reply = self.request(A::NAME, data).await?;
        if reply.code != 200 {
            return Err(ClientError::from_reply(&reply));
        }
        serde_json::from_value(reply.data).map_err(|e| {
            ClientError::Transport(format!("the server's {} reply did not parse: {e}", A::NAME))
        })
    }

    /// Sends any action with `data` and waits for its reply, whatever its code. Requests
    /// from several tasks share the connection; each reply reaches its own caller.
    pub async fn request(&self, action: &str, data: Value) -> Result<Reply> {
        let id = format!("c{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut envelope = json!({"action": action, "data": data, "request_id": id});
        if let Some(c) = &self.credentials {
            if let Some(username) = &c.username {
                envelope["username"] = json!(username);
            }
            envelope["token"] = json!(c.token);
        }
        let (tx, rx) = oneshot::channel();
        lock(&self.waiters).insert(id.clone(), tx);
        // Checked after the waiter is in place: the reader sets the flag, then drops every
        // waiter, so a request made after the end never waits for nothing.
        if self.closed.load(Ordering::SeqCst) {
            lock(&self.waiters).remove(&id);
            return Err(ClientError::Transport(
                "the server closed the connection".into(),
            ));
        }
        let sent = self
            .sink
            .lock()
            .await
            .send(Message::text(envelope.to_string()))
            .await;
        if let Err(e) = sent {
            lock(&self.waiters).remove(&id);
            return Err(ClientError::transport(format!("sending {action}: {e}")));
        }
        rx.await
            .map_err(|_| ClientError::Transport("the server closed the connection".into()))
    }

    /// The next event the server pushed; `None` once the connection closed.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.events.recv().await
    }

    /// An event already received, without waiting; `None` when none is queued.
    pub fn try_next_event(&mut self) -> Option<Event> {
        self.events.try_recv().ok()
    }

    /// Closes the connection politely.
    pub async fn close(self) {
        let _ = self.sink.lock().await.send(Message::Close(None)).await;
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(reqwest::Client::new)
    }

    fn bearer(&self) -> Result<&str> {
        self.credentials
            .as_ref()
            .map(|c| c.token.as_str())
            .ok_or_else(|| ClientError::Transport("not logged in".into()))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The connection's reader: replies to their waiters, events to the queue. When it ends,
/// every waiter learns the connection closed.
async fn read(
    mut stream: SplitStream<Ws>,
    waiters: Waiters,
    closed: Arc<std::sync::atomic::AtomicBool>,
    events: mpsc::Sender<Event>,
) {
    while let Some(Ok(message)) = stream.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if value.get("code").is_some() {
            let Ok(reply) = serde_json::from_value::<Reply>(value) else {
                continue;
            };
            let id = match &reply.request_id {
                Some(Value::String(s)) => s.clone(),
                _ => continue,
            };
            if let Some(tx) = lock(&waiters).remove(&id) {
                let _ = tx.send(reply);
            }
        } else if let Ok(event) = serde_json::from_value::<Event>(value) {
            // A caller that does not read events must not stall its replies: when the queue
            // is full, the event is dropped.
            let _ = events.try_send(event);
        }
    }
    closed.store(true, Ordering::SeqCst);
    lock(&waiters).clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_every_form_of_server_url() {
        let plain = Endpoint {
            ws: "ws://127.0.0.1:5104/ws".into(),
            http: "http://127.0.0.1:5104".into(),
        };
        for url in [
            "http://127.0.0.1:5104",
            "http://127.0.0.1:5104/",
            "ws://127.0.0.1:5104/ws",
            "127.0.0.1:5104",
        ] {
            assert_eq!(Endpoint::parse(url).unwrap(), plain, "{url}");
        }
        let tls = Endpoint::parse("https://coffer.example/").unwrap();
        assert_eq!(tls.ws, "wss://coffer.example/ws");
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://").is_err());
    }
}
