//! Connections end: idle means no request (pings do not keep one open), each address may
//! hold a bounded number of connections, and an oversized message — one frame's header, or
//! a fragmented message's fragments together — closes with 1009 at once.
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tests::TestServer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::{CloseFrame, Frame};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn open(server: &TestServer) -> Ws {
    connect_async(server.ws_url()).await.expect("connect").0
}

/// Reads (answering the server's pings, as tungstenite does while read from) until the
/// server closes or `within` passes; the close frame and when it came.
async fn closed_within(ws: &mut Ws, within: Duration) -> Option<(CloseFrame, Duration)> {
    let started = Instant::now();
    while started.elapsed() < within {
        let left = within.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => {
                return Some((frame.expect("a close code"), started.elapsed()));
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) | Err(_) => return None,
        }
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_only_pings_is_idle() {
    let server = TestServer::start_with(|c| {
        c.heartbeat_secs = 1;
        c.idle_timeout_secs = 2;
    })
    .await;
    let mut ws = open(&server).await;
    let started = Instant::now();
    let mut closed = None;
    // Ping every 300 ms and answer the server's pings: a live client that never asks.
    while started.elapsed() < Duration::from_secs(8) && closed.is_none() {
        ws.send(Message::Ping(b"still here".to_vec().into()))
            .await
            .ok();
        closed = closed_within(&mut ws, Duration::from_millis(300)).await;
    }
    let (frame, _) = closed.expect("closed as idle although it pinged");
    assert_eq!(
        (frame.code, frame.reason.as_str()),
        (CloseCode::Normal, "idle timeout")
    );
    let after = started.elapsed();
    assert!(after < Duration::from_secs(5), "closed after {after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_listeners_keep_a_connection_open() {
    let server = TestServer::start_with(|c| {
        c.heartbeat_secs = 1;
        c.idle_timeout_secs = 2;
    })
    .await;
    // A client that asks something every second is not idle.
    let asking = server.client().await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(asking.request("server_info", json!({})).await.code, 200);
    }
    // A registered listener waits for events without asking: not idle either.
    let listener = server.admin().await;
    let reply = listener.request("register_listener", json!({})).await;
    assert_eq!(reply.code, 200, "{reply:?}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(listener.request("server_info", json!({})).await.code, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_address_holds_at_most_the_configured_connections() {
    let server = TestServer::start_with(|c| c.max_connections_per_address = 3).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(open(&server).await);
    }
    match connect_async(server.ws_url()).await {
        Err(tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429);
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().expect("a body"))
                    .expect("the reply JSON");
            assert_eq!(body["code"], 429);
            assert_eq!(body["data"]["error"], "too_many_connections");
        }
        other => panic!("a fourth connection from one address: {other:?}"),
    }
    // The ones held still work, and a closed one gives its place back.
    let mut first = held.remove(0);
    first.close(None).await.expect("close");
    while first.next().await.is_some() {}
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match connect_async(server.ws_url()).await {
            Ok(_) => break,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("the freed place was not given back: {e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragmented_message_over_the_limit_closes_with_1009() {
    let server = TestServer::start_with(|c| c.max_frame_bytes = 4096).await;
    let mut ws = open(&server).await;
    let fragment =
        |opcode, fin| Message::Frame(Frame::message(vec![b' '; 3000], OpCode::Data(opcode), fin));
    ws.send(fragment(Data::Text, false)).await.expect("first");
    ws.send(fragment(Data::Continue, false))
        .await
        .expect("second");
    let (frame, _) = closed_within(&mut ws, Duration::from_secs(5))
        .await
        .expect("closed");
    assert_eq!(frame.code, CloseCode::Size, "{frame:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_header_declaring_a_huge_length_closes_with_1009_at_once() {
    let server = TestServer::start().await;
    for declared in [1u64 << 62, (1 << 63) - 1, 1 << 63, 2 * 1024 * 1024] {
        let mut ws = open(&server).await;
        // A masked binary frame header and its mask, and nothing more.
        let mut header = vec![0x82, 0x80 | 127];
        header.extend_from_slice(&declared.to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        let raw = match ws.get_mut() {
            MaybeTlsStream::Plain(tcp) => tcp,
            _ => unreachable!("tests use plain TCP"),
        };
        raw.write_all(&header).await.expect("header");
        raw.flush().await.expect("flush");
        let (frame, after) = closed_within(&mut ws, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{declared}: not closed"));
        assert_eq!(frame.code, CloseCode::Size, "{declared}");
        assert!(
            after < Duration::from_secs(2),
            "{declared}: closed after {after:?}"
        );
    }
}
