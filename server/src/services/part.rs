//! Appending to an upload's part file off the reactor: incoming chunks gather into batches,
//! and each batch is written on one blocking thread and hashed on another while the next one
//! arrives — two blocking hand-offs per batch instead of one per WebSocket frame or HTTP
//! chunk, with the write and the SHA-256 on different cores.
use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;

use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;

use super::transfers::UploadSlot;

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
