//! Appending to an upload's part file off the reactor: incoming chunks gather into batches,
//! and each batch is written on one blocking thread and hashed on another while the next one
//! arrives — two blocking hand-offs per batch instead of one per WebSocket frame or HTTP
//! chunk, with the write and the SHA-256 on different cores.
use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use crate::app::uploads::UploadSlot;

/// Bytes gathered before a batch is written.
const BATCH: usize = 1024 * 1024;

/// A batch being written and hashed.
struct Flight {
    batch: Arc<Vec<u8>>,
    write: JoinHandle<io::Result<File>>,
    hash: JoinHandle<Sha256>,
}

pub struct PartWriter {
    /// The file and the hash of everything written to it, while no batch is in flight.
    idle: Option<(File, Sha256)>,
    flight: Option<Flight>,
    buf: Vec<u8>,
    /// A written batch's buffer, for reuse.
    spare: Vec<u8>,
    /// The task's claim on its part file, held by every write too: a write still running after
    /// the upload was dropped (its connection gone) keeps the task from being resumed until
    /// the write has landed.
    slot: Arc<UploadSlot>,
}

impl PartWriter {
    /// Appends at `file`'s position; `hasher` has seen everything before it.
    pub fn new(file: File, hasher: Sha256, slot: UploadSlot) -> Self {
        Self {
            idle: Some((file, hasher)),
            flight: None,
            buf: Vec::with_capacity(BATCH),
            spare: Vec::new(),
            slot: Arc::new(slot),
        }
    }

    pub async fn push(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(chunk);
        if self.buf.len() >= BATCH {
            self.send().await?;
        }
        Ok(())
    }

    /// Waits for the batch in flight, if any.
    async fn land(&mut self) -> io::Result<()> {
        if let Some(flight) = self.flight.take() {
            let hasher = flight.hash.await.map_err(io::Error::other)?;
            let file = flight.write.await.map_err(io::Error::other)??;
            self.idle = Some((file, hasher));
            if let Ok(mut spare) = Arc::try_unwrap(flight.batch) {
                spare.clear();
                self.spare = spare;
            }
        }
        Ok(())
    }

    async fn send(&mut self) -> io::Result<()> {
        self.land().await?;
        let (mut file, mut hasher) = self
            .idle
            .take()
            .ok_or_else(|| io::Error::other("part file lost after a failed write"))?;
        let batch = Arc::new(std::mem::replace(
            &mut self.buf,
            std::mem::take(&mut self.spare),
        ));
        let (to_write, to_hash) = (Arc::clone(&batch), Arc::clone(&batch));
        let slot = Arc::clone(&self.slot);
        self.flight = Some(Flight {
            batch,
            write: tokio::task::spawn_blocking(move || {
                let written = file.write_all(&to_write).map(|()| file);
                drop(slot);
                written
            }),
            hash: tokio::task::spawn_blocking(move || {
                hasher.update(&*to_hash);
                hasher
            }),
        });
        Ok(())
    }

    /// Writes everything pushed so far.
    pub async fn drain(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.send().await?;
        }
        self.land().await
    }

    /// Writes everything, makes it durable, and returns the hash of the whole file. Nothing
    /// can be pushed afterwards.
    pub async fn finish(&mut self) -> io::Result<Sha256> {
        self.drain().await?;
        let (file, hasher) = self
            .idle
            .take()
            .ok_or_else(|| io::Error::other("part file lost after a failed write"))?;
        tokio::task::spawn_blocking(move || file.sync_all())
            .await
            .map_err(io::Error::other)??;
        Ok(hasher)
    }
}

impl Drop for PartWriter {
    /// An upload dropped without [`PartWriter::drain`] (its connection or task gone) still
    /// keeps every byte that arrived, as a resume expects: the batch in flight lands and the
    /// rest is appended in the background, while the task's slot stays claimed.
    fn drop(&mut self) {
        let rest = std::mem::take(&mut self.buf);
        let (flight, idle) = (self.flight.take(), self.idle.take());
        if rest.is_empty() {
            // A batch in flight holds the slot by itself until it lands.
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let slot = Arc::clone(&self.slot);
        rt.spawn(async move {
            let mut file = match (flight, idle) {
                (Some(flight), _) => match flight.write.await {
                    Ok(Ok(file)) => file,
                    _ => return,
                },
                (None, Some((file, _))) => file,
                (None, None) => return,
            };
            let _ = tokio::task::spawn_blocking(move || {
                // Best effort: a failed write leaves a shorter part, which a resume reports.
                let _ = file.write_all(&rest);
                drop(slot);
            })
            .await;
        });
    }
}
