//! The WebSocket endpoint: one task per connection reads messages, runs each request as its
//! own task (up to `max_in_flight` at once; beyond that it stops reading, which is the
//! backpressure), writes replies and events from one bounded queue, pings, and closes idle
//! or misbehaving connections with the right close code. An address holding
//! `max_connections_per_address` connections is refused before the upgrade.
mod frames;
mod origin;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError, Session};
use api_spec::ErrorCode;
use tokio::sync::{Semaphore, mpsc};
use tracing::Instrument;

use crate::app::AppState;
use crate::connection::{ConnectionCtx, Frame, Outgoing};
use crate::error::fail;
use crate::registry::{dispatch, error_reply};

pub use crate::app::addresses::AddressCounts;
use crate::app::addresses::AddressSlot;
use frames::{FrameGuard, Tripped};

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<Arc<AppState>>,
) -> actix_web::Result<HttpResponse> {
    if !origin::allowed(&req, &state.config.allowed_origins) {
        return Ok(refused(ErrorCode::OriginNotAllowed));
    }
    let address = req.peer_addr().map(|a| a.ip());
    let slot = match address {
        Some(ip) => match state
            .addresses
            .admit(ip, state.config.max_connections_per_address)
        {
            Some(slot) => Some(slot),
            None => {
                let mut refusal = refused(ErrorCode::TooManyConnections);
                refusal.headers_mut().insert(
                    actix_web::http::header::RETRY_AFTER,
                    actix_web::http::header::HeaderValue::from_static("10"),
                );
                return Ok(refusal);
            }
        },
        None => None,
    };
    // The body passes the frame guard before actix's parser sees it.
    let guard = FrameGuard::new(body.into_inner(), state.config.max_frame_bytes);
    let tripped = guard.tripped();
    let mut guarded: actix_web::dev::Payload = actix_web::dev::Payload::Stream {
        payload: Box::pin(guard),
    };
    let body = web::Payload::from_request(&req, &mut guarded).await?;
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let id = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
    let remote = address.map(|a: IpAddr| a.to_string());
    let span = tracing::info_span!(
        "connection",
        conn = id,
        peer = remote.as_deref().unwrap_or("-")
    );
    let state = Arc::clone(state.get_ref());
    let wire = Wire {
        session,
        stream,
        tripped,
        _slot: slot,
    };
    actix_web::rt::spawn(run(state, wire, id, remote).instrument(span));
    Ok(response)
}

/// An upgrade refused before it happens: the code's HTTP status, with the usual error
/// reply as the body.
fn refused(code: ErrorCode) -> HttpResponse {
    let reply = error_reply(&fail(code), None, None);
    let status = actix_web::http::StatusCode::from_u16(reply.code)
        .unwrap_or(actix_web::http::StatusCode::FORBIDDEN);
    HttpResponse::build(status).json(reply)
}

/// One upgraded connection: its two halves, whether the frame guard refused it, and its
/// place in the per-address count (given back when the connection ends).
struct Wire {
    session: Session,
    stream: actix_ws::MessageStream,
    tripped: Tripped,
    _slot: Option<AddressSlot>,
}

fn close(code: CloseCode, description: &str) -> Option<CloseReason> {
    Some(CloseReason {
        code,
        description: Some(description.to_owned()),
    })
}

/// What the connection loop does after a message.
enum Next {
    Go,
    /// Close (with the reason, if any).
    Stop(Option<CloseReason>),
}

/// What a connection's incoming messages are handled with.
struct Incoming<'a> {
    state: &'a Arc<AppState>,
    conn: &'a Arc<ConnectionCtx>,
    in_flight: &'a Arc<Semaphore>,
    tripped: &'a Tripped,
}

impl Incoming<'_> {
    /// Handles one incoming message (None: the stream ended): a request is dispatched on a
    /// task of its own, under the in-flight limit; a transfer in progress takes the frames.
    async fn message(
        &self,
        message: Option<Result<AggregatedMessage, ProtocolError>>,
        session: &mut Session,
    ) -> Next {
        let conn = self.conn;
        match message {
            None => Next::Stop(None),
            Some(Err(_)) if self.tripped.is_set() => {
                Next::Stop(close(CloseCode::Size, "message too large"))
            }
            Some(Err(ProtocolError::Overflow)) => {
                Next::Stop(close(CloseCode::Size, "message too large"))
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "protocol error");
                Next::Stop(close(CloseCode::Protocol, "protocol error"))
            }
            // A transfer in progress owns the connection's messages until it ends.
            Some(Ok(AggregatedMessage::Text(text))) if let Some(sink) = conn.frame_sink() => {
                let _ = sink.send(Frame::Text(text.to_string())).await;
                Next::Go
            }
            Some(Ok(AggregatedMessage::Binary(bytes))) if let Some(sink) = conn.frame_sink() => {
                let _ = sink.send(Frame::Binary(bytes)).await;
                Next::Go
            }
            Some(Ok(AggregatedMessage::Text(text))) => {
                let Ok(permit) = Arc::clone(self.in_flight).try_acquire_owned() else {
                    return Next::Go;
                };
                let (state, conn) = (Arc::clone(self.state), Arc::clone(conn));
                tokio::spawn(
                    async move {
                        let reply = dispatch(state, Arc::clone(&conn), &text).await;
                        if let Ok(json) = serde_json::to_string(&reply) {
                            let _ = conn.outgoing.send(Outgoing::Text(json)).await;
                        }
                        drop(permit);
                    }
                    .in_current_span(),
                );
                Next::Go
            }
            Some(Ok(AggregatedMessage::Binary(_))) => {
                let why = "Binary messages are accepted only during a file upload";
                let reply = error_reply(&fail(ErrorCode::NotAnObject), Some(why.into()), None);
                let Ok(json) = serde_json::to_string(&reply) else {
                    return Next::Go;
                };
                match session.text(json).await {
                    Ok(()) => Next::Go,
                    Err(_) => Next::Stop(None),
                }
            }
            Some(Ok(AggregatedMessage::Ping(bytes))) => match session.pong(&bytes).await {
                Ok(()) => Next::Go,
                Err(_) => Next::Stop(None),
            },
            Some(Ok(AggregatedMessage::Pong(_))) => Next::Go,
            // actix-ws does not answer a Close itself: echo it, or the client waits.
            Some(Ok(AggregatedMessage::Close(reason))) => Next::Stop(reason),
        }
    }
}

async fn run(state: Arc<AppState>, wire: Wire, id: u64, remote: Option<String>) {
    tracing::debug!("connected");
    let config = &state.config;
    let Wire {
        mut session,
        stream,
        tripped,
        _slot,
    } = wire;
    let mut stream = stream
        .max_frame_size(config.max_frame_bytes)
        .aggregate_continuations()
        .max_continuation_size(config.max_frame_bytes);
    let (out_tx, mut out_rx) = mpsc::channel(config.outgoing_queue);
    let (close_tx, mut close_rx) = mpsc::channel(1);
    let conn = Arc::new(ConnectionCtx::new(id, remote, out_tx, close_tx));
    let in_flight = Arc::new(Semaphore::new(config.max_in_flight));
    let idle = Duration::from_secs(config.idle_timeout_secs);
    let mut heartbeat = tokio::time::interval(Duration::from_secs(config.heartbeat_secs));
    heartbeat.tick().await;
    // Idle means no request: pings and pongs do not count; a request in flight or a
    // registered listener does.
    let mut last_request = Instant::now();

    let reason = loop {
        tokio::select! {
            message = stream.recv(), if in_flight.available_permits() > 0 => {
                if matches!(message, Some(Ok(AggregatedMessage::Text(_) | AggregatedMessage::Binary(_)))) {
                    last_request = Instant::now();
                }
                let on = Incoming { state: &state, conn: &conn, in_flight: &in_flight, tripped: &tripped };
                if let Next::Stop(reason) = on.message(message, &mut session).await {
                    break reason;
                }
            }
            Some(out) = out_rx.recv() => match out {
                Outgoing::Text(text) => if session.text(text).await.is_err() { break None },
                Outgoing::Binary(bytes) => if session.binary(bytes).await.is_err() { break None },
                Outgoing::Close(code, why) => break close(CloseCode::from(code), &why),
            },
            Some((code, why)) = close_rx.recv() => break close(CloseCode::from(code), &why),
            _ = heartbeat.tick() => {
                let busy = in_flight.available_permits() < config.max_in_flight || conn.is_listening();
                if busy {
                    last_request = Instant::now();
                } else if last_request.elapsed() > idle {
                    break close(CloseCode::Normal, "idle timeout");
                }
                if session.ping(b"").await.is_err() { break None; }
            }
        }
    };
    conn.stop_listener();
    // A transfer waiting for this connection's frames learns at once that none will come.
    conn.end_transfer();
    let _ = session.close(reason).await;
    tracing::debug!("disconnected");
}
