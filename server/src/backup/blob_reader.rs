//! A blob of the store as a blocking reader for the export's writer thread, re-hashing what
//! it yields: a local store's file is read directly, any other store's stream is driven from
//! the blocking thread.
use std::fs::File;
use std::io::Read;

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;

use crate::archive::stream::from_io;
use crate::error::Result;
use crate::storage::blobs::{BlobStore, ByteStream};

/// A blob as a blocking reader that re-hashes what it yields.
pub struct BlobReader {
    source: Source,
    pub hasher: Sha256,
    /// Bytes yielded so far.
    pub count: u64,
}

enum Source {
    /// A local store's file, read directly.
    File(File),
    /// Any other store's stream, driven from this blocking thread.
    Stream {
        rt: Handle,
        stream: ByteStream,
        chunk: Bytes,
    },
}

impl BlobReader {
    pub fn open(rt: &Handle, blobs: &dyn BlobStore, key: &str, size: u64) -> Result<Self> {
        let source = match blobs.local_path(key) {
            Some(path) => Source::File(File::open(path).map_err(from_io)?),
            None => Source::Stream {
                rt: rt.clone(),
                stream: rt.block_on(blobs.read(key, 0, size))?,
                chunk: Bytes::new(),
            },
        };
        Ok(Self {
            source,
            hasher: Sha256::new(),
            count: 0,
        })
    }
}

impl Read for BlobReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = match &mut self.source {
            Source::File(file) => file.read(out)?,
            Source::Stream { rt, stream, chunk } => {
                while chunk.is_empty() {
                    match rt.block_on(stream.next()) {
                        Some(next) => *chunk = next?,
                        None => return Ok(0),
                    }
                }
                let n = out.len().min(chunk.len());
                out[..n].copy_from_slice(&chunk[..n]);
                *chunk = chunk.slice(n..);
                n
            }
        };
        self.hasher.update(&out[..n]);
        self.count += n as u64;
        Ok(n)
    }
}
