//! What an action may know and use of the connection it arrived on, independent of the
//! transport: the peer address, the bounded outgoing queue, and the listener subscription.
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// A message for the client.
#[derive(Debug)]
pub enum Outgoing {
    Text(String),
    Binary(Bytes),
    /// Close the connection with this WebSocket close code and reason.
    Close(u16, String),
}

pub struct ConnectionCtx {
    pub id: u64,
    pub remote: Option<String>,
    /// Bounded: replies wait for room (backpressure); events that find it full are
    /// dropped and the connection is closed instead (see `listener`).
    pub outgoing: mpsc::Sender<Outgoing>,
    /// Out-of-band close requests (capacity 1), for when `outgoing` itself is full.
    pub close: mpsc::Sender<(u16, String)>,
    listener: Mutex<Option<AbortHandle>>,
    /// While a WebSocket upload runs, where incoming messages go instead of the dispatcher.
    frames: Mutex<Option<mpsc::Sender<Frame>>>,
}

/// A client message routed to a transfer in progress.
#[derive(Debug)]
pub enum Frame {
    Text(String),
    Binary(Bytes),
}

/// Routes the connection's incoming messages to a transfer until dropped.
pub struct FrameClaim<'a> {
    conn: &'a ConnectionCtx,
    pub rx: mpsc::Receiver<Frame>,
}

impl Drop for FrameClaim<'_> {
    fn drop(&mut self) {
        self.conn
            .frames
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

impl ConnectionCtx {
    pub fn new(
        id: u64,
        remote: Option<String>,
        outgoing: mpsc::Sender<Outgoing>,
        close: mpsc::Sender<(u16, String)>,
    ) -> Self {
        Self {
            id,
            remote,
            outgoing,
            close,
            listener: Mutex::new(None),
            frames: Mutex::new(None),
        }
    }

    /// Routes incoming messages to the returned receiver (bounded: a slow writer slows the
    /// reader, and so the client). `None` if another transfer holds the connection.
    pub fn claim_frames(&self, capacity: usize) -> Option<FrameClaim<'_>> {
        let mut slot = self.frames.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return None;
        }
        let (tx, rx) = mpsc::channel(capacity);
        *slot = Some(tx);
        Some(FrameClaim { conn: self, rx })
    }

    /// Ends the routing of messages to a transfer (the connection is closing).
    pub fn end_transfer(&self) {
        self.frames.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Where an incoming message goes if a transfer holds the connection.
    pub fn frame_sink(&self) -> Option<mpsc::Sender<Frame>> {
        self.frames
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Installs the listener task, stopping any previous one.
    pub fn set_listener(&self, handle: AbortHandle) {
        let old = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(handle);
        if let Some(old) = old {
            old.abort();
        }
    }

    /// Whether a listener task is installed and still running.
    pub fn is_listening(&self) -> bool {
        self.listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|h| !h.is_finished())
    }

    /// Stops the listener task, if any.
    pub fn stop_listener(&self) {
        if let Some(old) = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            old.abort();
        }
    }
}

impl Drop for ConnectionCtx {
    fn drop(&mut self) {
        self.stop_listener();
    }
}
