//! One fuzzing connection on a raw socket (the typed client cannot send broken frames, and
//! it panics on a close): sending a batch, matching replies to frames by `request_id`, and
//! reconnecting after an expected close.
use std::collections::HashMap;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tests::TestServer;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use super::frames::{Expect, Frame};
use super::{REPLY_WAIT, check_reply};

/// The close code of a listener that fell behind: a legitimate way for the server to drop a
/// connection that registered for events during the fuzzing.
const CLOSE_TOO_SLOW: u16 = 1008;

pub struct Conn {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    credentials: Option<(String, String)>,
    /// The server closed the connection (a listener fell behind): open a new one.
    pub lost: bool,
}

/// What the connection did next.
enum Next {
    Message(Value),
    Closed,
    Silent,
}

impl Conn {
    /// Connects and, when given a login, logs in (a login that no longer works, such as the
    /// victim's after a frame deleted it, leaves the connection anonymous).
    pub async fn open(server: &TestServer, login: Option<(&str, &str)>) -> Self {
        let (ws, _) = connect_async(server.ws_url()).await.expect("connect");
        let mut conn = Self {
            ws,
            credentials: None,
            lost: false,
        };
        if let Some((username, password)) = login {
            let request = json!({"action": "login", "request_id": "login",
                "data": {"username": username, "password": password}});
            conn.send(Message::text(request.to_string())).await;
            let reply = loop {
                match conn.next().await {
                    Next::Message(value) if value.get("code").is_some() => break value,
                    Next::Message(_) => continue,
                    Next::Closed | Next::Silent => panic!("no reply to a login"),
                }
            };
            check_reply(&reply, "login");
            if let Some(token) = reply["data"]["token"].as_str() {
                conn.credentials = Some((username.to_owned(), token.to_owned()));
            }
        }
        conn
    }

    pub fn credentials(&self) -> Option<&(String, String)> {
        self.credentials.as_ref()
    }

    async fn send(&mut self, message: Message) {
        self.ws.send(message).await.expect("send a frame");
    }

    /// The next text message, as JSON.
    async fn next(&mut self) -> Next {
        loop {
            let Ok(message) = tokio::time::timeout(REPLY_WAIT, self.ws.next()).await else {
                return Next::Silent;
            };
            match message {
                Some(Ok(Message::Text(text))) => {
                    return Next::Message(serde_json::from_str(&text).unwrap_or_else(|e| {
                        panic!("the server sent text that is not JSON ({e}): {text}")
                    }));
                }
                Some(Ok(Message::Binary(b))) => panic!("an unasked-for binary frame: {b:?}"),
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.as_ref().map(|f| u16::from(f.code));
                    assert_eq!(code, Some(CLOSE_TOO_SLOW), "unexpected close: {frame:?}");
                    self.lost = true;
                    return Next::Closed;
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => panic!("connection failed: {e}"),
                None => panic!("connection ended without a close frame"),
            }
        }
    }

    /// Sends `batch` and waits for its replies, checking each; returns how many came.
    pub async fn exchange(&mut self, batch: Vec<Frame>) -> usize {
        // Replies are matched by the `request_id` they echo (several frames may echo the
        // same one); frames whose id is not echoed are answered without one.
        let mut by_id: HashMap<String, Vec<usize>> = HashMap::new();
        let mut anonymous: Vec<usize> = Vec::new();
        for (i, frame) in batch.iter().enumerate() {
            match &frame.expect {
                Expect::Reply(Some(id)) => by_id.entry(id.to_string()).or_default().push(i),
                Expect::Reply(None) => anonymous.push(i),
                Expect::Nothing | Expect::Close(_) => {}
            }
            self.send(frame.message.clone()).await;
        }
        let mut answered = 0;
        while !by_id.is_empty() || !anonymous.is_empty() {
            let message = match self.next().await {
                Next::Message(message) => message,
                // A listener that fell behind: the rest of its batch is lost, not wrong.
                Next::Closed => return answered,
                Next::Silent => {
                    let outstanding: Vec<&Frame> = by_id
                        .values()
                        .flatten()
                        .chain(&anonymous)
                        .map(|i| &batch[*i])
                        .collect();
                    panic!("no reply within {REPLY_WAIT:?} to: {outstanding:#?}");
                }
            };
            if message.get("code").is_none() {
                // An event: the connection registered as a listener.
                assert!(
                    message["event"].is_string(),
                    "neither reply nor event: {message}"
                );
                assert!(message["timestamp"].is_number(), "{message}");
                continue;
            }
            let slot = match message.get("request_id").map(Value::to_string) {
                Some(id) => {
                    let slot = by_id.get_mut(&id).and_then(Vec::pop);
                    by_id.retain(|_, frames| !frames.is_empty());
                    slot
                }
                None => anonymous.last().copied(),
            };
            let Some(i) = slot else {
                panic!("a reply to no frame of the batch: {message}\nbatch: {batch:#?}");
            };
            let sent = if message.get("request_id").is_some() {
                batch[i].describe()
            } else {
                // Replies without an id cannot be told apart: name every candidate.
                let candidates = anonymous.iter().map(|i| batch[*i].describe());
                candidates.collect::<Vec<_>>().join("\n  or: ")
            };
            if message.get("request_id").is_none() {
                anonymous.pop();
            }
            check_reply(&message, &sent);
            answered += 1;
        }
        answered
    }

    /// Sends a frame the server must answer by closing with its close code.
    pub async fn expect_close(&mut self, frame: &Frame) {
        let Expect::Close(want) = frame.expect else {
            return;
        };
        self.send(frame.message.clone()).await;
        loop {
            let message = tokio::time::timeout(REPLY_WAIT, self.ws.next()).await;
            match message {
                Ok(Some(Ok(Message::Close(close)))) => {
                    let code = close.map(|c| c.code);
                    assert_eq!(code, Some(CloseCode::from(want)), "to: {frame:#?}");
                    return;
                }
                Ok(Some(Ok(_))) => continue,
                other => panic!("no close ({other:?}) after: {frame:#?}"),
            }
        }
    }
}
