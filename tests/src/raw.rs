//! A raw WebSocket for the tests of the wire itself: frames, envelopes, close codes and
//! transfers over the socket. Everything else goes through [`crate::Client`], the `coffer`
//! crate's own client. Events that arrive meanwhile are checked for their shape and
//! dropped.
use std::collections::VecDeque;
use std::time::Duration;

use api_spec::actions::{Login, LoginRequest};
use api_spec::{ActionSpec, ErrorCode, Event, Reply};

use crate::ApiFailure;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// How long any single wait for the server may take before the test fails.
const WAIT: Duration = Duration::from_secs(15);
/// The longest wait for a reply or an event, pings or not.
const LONGEST_SILENCE: Duration = Duration::from_secs(300);

pub struct RawSocket {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub username: Option<String>,
    pub token: Option<String>,
    replies: VecDeque<Reply>,
    /// The close frame, once the server closed the connection.
    pub closed: Option<Option<CloseFrame>>,
    /// `received` of the last upload's `transfer_file` message.
    pub last_received: Option<u64>,
}

impl RawSocket {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = tokio::time::timeout(WAIT, connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        Self {
            ws,
            username: None,
            token: None,
            replies: VecDeque::new(),
            closed: None,
            last_received: None,
        }
    }

    /// Sends a raw text message.
    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(Message::text(text.into()))
            .await
            .expect("send");
    }

    /// Sends a raw message of any kind.
    pub async fn send_message(&mut self, message: Message) {
        self.ws.send(message).await.expect("send");
    }

    /// Reads one server message into the reply or event queue; false once the socket closed.
    async fn pump(&mut self) -> bool {
        // The server's pings show it alive (a long action answers only at its end), but
        // not forever: a message lost for good fails the test instead of hanging it.
        let deadline = tokio::time::Instant::now() + LONGEST_SILENCE;
        loop {
            let step = (tokio::time::Instant::now() + WAIT).min(deadline);
            let next = tokio::time::timeout_at(step, self.ws.next())
                .await
                .expect("server answered in time");
            match next {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("server sends JSON");
                    if value.get("code").is_some() {
                        self.replies
                            .push_back(serde_json::from_value(value).expect("reply shape"));
                    } else if value.get("action").is_none() {
                        // An event (a transfer's control message outside the transfer
                        // helpers, `{"action": "transfer_file", …}`, is not one).
                        let _: Event = serde_json::from_value(value).expect("event shape");
                    }
                    return true;
                }
                Some(Ok(Message::Close(frame))) => {
                    self.closed = Some(frame);
                    return false;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    self.closed.get_or_insert(None);
                    return false;
                }
            }
        }
    }

    /// The next reply.
    pub async fn next_reply(&mut self) -> Reply {
        loop {
            if let Some(r) = self.replies.pop_front() {
                return r;
            }
            assert!(
                self.pump().await,
                "connection closed while waiting for a reply: {:?}",
                self.closed
            );
        }
    }

    /// Waits until the server closes the connection; returns its close frame.
    pub async fn wait_closed(&mut self) -> Option<CloseFrame> {
        while self.closed.is_none() {
            self.pump().await;
        }
        self.closed.clone().flatten()
    }

    /// Sends `{action, data}` with this client's credentials and returns the raw reply.
    pub async fn request(&mut self, action: &str, data: Value) -> Reply {
        let mut envelope = json!({"action": action, "data": data});
        if let Some(u) = &self.username {
            envelope["username"] = json!(u);
        }
        if let Some(t) = &self.token {
            envelope["token"] = json!(t);
        }
        self.send_text(envelope.to_string()).await;
        self.next_reply().await
    }

    /// A typed call of action `A`.
    pub async fn call<A: ActionSpec>(
        &mut self,
        req: &A::Request,
    ) -> Result<A::Response, ApiFailure> {
        let reply = self
            .request(
                A::NAME,
                serde_json::to_value(req).expect("request serialises"),
            )
            .await;
        into_result::<A>(reply)
    }

    /// Logs in and keeps the token for later calls.
    pub async fn login(
        &mut self,
        username: &str,
        password: &str,
        tenant: Option<&str>,
    ) -> Result<(), ApiFailure> {
        let req = LoginRequest {
            username: username.to_owned(),
            password: password.to_owned(),
            tenant: tenant.map(str::to_owned),
        };
        let res = self.call::<Login>(&req).await?;
        self.username = Some(username.to_owned());
        self.token = Some(res.token);
        Ok(())
    }

    /// Reads the next text message that is not an event (a reply or a control message), as
    /// JSON.
    async fn next_control_or_reply(&mut self) -> Value {
        loop {
            if let Some(r) = self.replies.pop_front() {
                return serde_json::to_value(r).expect("reply");
            }
            let next = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("server answered in time");
            match next {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON");
                    if value.get("event").is_some() {
                        let _: Event = serde_json::from_value(value).expect("event shape");
                    } else {
                        return value;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    self.closed = Some(frame);
                    panic!("connection closed during a transfer");
                }
                Some(Ok(_)) => continue,
                other => panic!("connection failed during a transfer: {other:?}"),
            }
        }
    }

    /// Uploads `bytes[offset..]` for an upload task over the WebSocket, declaring the whole
    /// size (and `sha256`, if given), in frames of `chunk` bytes. Returns the final reply.
    pub async fn upload(
        &mut self,
        task_id: &str,
        bytes: &[u8],
        offset: u64,
        sha256: Option<&str>,
        chunk: usize,
    ) -> Result<api_spec::actions::UploadFileResponse, ApiFailure> {
        self.upload_from(task_id, bytes, Some(offset), sha256, chunk)
            .await
    }

    /// Like [`RawSocket::upload`]; with `offset: None` it resumes from the `received` count the
    /// server announces.
    pub async fn upload_from(
        &mut self,
        task_id: &str,
        bytes: &[u8],
        offset: Option<u64>,
        sha256: Option<&str>,
        chunk: usize,
    ) -> Result<api_spec::actions::UploadFileResponse, ApiFailure> {
        let first = self.open_upload(task_id).await;
        if first.get("code").is_some() {
            return into_result::<api_spec::actions::UploadFile>(
                serde_json::from_value(first).expect("reply"),
            );
        }
        assert_eq!(first["action"], "transfer_file", "{first}");
        assert_eq!(first["request_id"], "up");
        let received = first["data"]["received"].as_u64().expect("received");
        self.last_received = Some(received);
        let offset = offset.unwrap_or(received);
        let header = json!({"file_size": bytes.len(), "sha256": sha256, "offset": offset});
        self.send_text(header.to_string()).await;
        for piece in bytes[offset as usize..].chunks(chunk.max(1)) {
            self.ws
                .send(Message::binary(piece.to_vec()))
                .await
                .expect("send chunk");
        }
        let reply = self.next_control_or_reply().await;
        into_result::<api_spec::actions::UploadFile>(serde_json::from_value(reply).expect("reply"))
    }

    /// Sends `upload_file` for `task_id`; the server's first answer: its `transfer_file`
    /// control message, or a reply refusing the upload.
    async fn open_upload(&mut self, task_id: &str) -> Value {
        let mut envelope =
            json!({"action": "upload_file", "data": {"task_id": task_id}, "request_id": "up"});
        envelope["username"] = json!(self.username);
        envelope["token"] = json!(self.token);
        self.send_text(envelope.to_string()).await;
        self.next_control_or_reply().await
    }

    /// Starts an upload of `bytes` and sends `pieces` pieces of `piece` bytes, one every
    /// `every` (a client that trickles), then returns the reply. Binary frames sent after
    /// the server ended the upload are answered too: use a new connection afterwards.
    pub async fn upload_slowly(
        &mut self,
        task_id: &str,
        bytes: &[u8],
        (piece, every, pieces): (usize, std::time::Duration, usize),
    ) -> Result<api_spec::actions::UploadFileResponse, ApiFailure> {
        let ready = self.open_upload(task_id).await;
        assert_eq!(ready["action"], "transfer_file", "{ready}");
        self.send_text(json!({"file_size": bytes.len(), "offset": 0}).to_string())
            .await;
        for chunk in bytes.chunks(piece).take(pieces) {
            tokio::time::sleep(every).await;
            if self.ws.send(Message::binary(chunk.to_vec())).await.is_err() {
                break;
            }
        }
        let reply = self.next_control_or_reply().await;
        into_result::<api_spec::actions::UploadFile>(serde_json::from_value(reply).expect("reply"))
    }

    /// Starts an upload and sends only `bytes[offset..stop]`, then drops the connection
    /// (a client that crashes mid-upload).
    pub async fn upload_then_vanish(
        mut self,
        task_id: &str,
        bytes: &[u8],
        offset: u64,
        stop: usize,
        arrived: Option<&std::path::Path>,
    ) -> u64 {
        let ready = self.open_upload(task_id).await;
        let received = ready["data"]["received"].as_u64().expect("received");
        self.send_text(json!({"file_size": bytes.len(), "offset": offset}).to_string())
            .await;
        for piece in bytes[offset as usize..stop].chunks(64 * 1024) {
            self.ws
                .send(Message::binary(piece.to_vec()))
                .await
                .expect("send chunk");
        }
        self.ws.flush().await.ok();
        // Vanishing with the server's messages unread resets the connection, which may throw
        // away bytes the server has not read yet: with `arrived` (the server's part file),
        // the client first waits (up to 5 s) until some of them are on the server's disk.
        if let Some(part) = arrived {
            for _ in 0..250 {
                if std::fs::metadata(part).is_ok_and(|m| m.len() > offset) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        drop(self);
        received
    }

    /// Downloads a task over the WebSocket from `offset`; returns the header and the bytes.
    pub async fn download(
        &mut self,
        task_id: &str,
        offset: Option<u64>,
    ) -> Result<(Value, Vec<u8>), ApiFailure> {
        let mut envelope =
            json!({"action": "download_file", "data": {"task_id": task_id, "offset": offset}});
        envelope["username"] = json!(self.username);
        envelope["token"] = json!(self.token);
        self.send_text(envelope.to_string()).await;
        let first = self.next_control_or_reply().await;
        if first.get("code").is_some() {
            into_result::<api_spec::actions::DownloadFile>(
                serde_json::from_value(first).expect("reply"),
            )?;
            panic!("a download reply before its header");
        }
        let header = first["data"].clone();
        let mut bytes = Vec::new();
        loop {
            let next = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("server answered in time");
            match next {
                Some(Ok(Message::Binary(b))) => {
                    assert!(
                        b.len() as u64 <= header["chunk_size"].as_u64().unwrap(),
                        "frame over chunk_size"
                    );
                    bytes.extend_from_slice(&b);
                }
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON");
                    if value.get("event").is_some() {
                        continue;
                    }
                    into_result::<api_spec::actions::DownloadFile>(
                        serde_json::from_value(value).expect("reply"),
                    )?;
                    return Ok((header, bytes));
                }
                Some(Ok(_)) => continue,
                other => panic!("connection failed during a download: {other:?}"),
            }
        }
    }

    /// Closes the connection politely and waits for the server's answering Close frame.
    pub async fn close(mut self) -> Option<CloseFrame> {
        self.ws.send(Message::Close(None)).await.ok();
        self.wait_closed().await
    }
}

/// Turns a raw reply into the typed response of `A` or an [`ApiFailure`].
fn into_result<A: ActionSpec>(reply: Reply) -> Result<A::Response, ApiFailure> {
    if reply.code == 200 {
        return Ok(serde_json::from_value(reply.data).expect("response matches the spec"));
    }
    let error: ErrorCode = serde_json::from_value(reply.data["error"].clone())
        .expect("every non-200 reply carries data.error");
    Err(ApiFailure {
        code: reply.code,
        error,
        message: reply.message,
        data: reply.data,
    })
}
