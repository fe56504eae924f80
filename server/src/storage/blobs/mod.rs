//! Blob stores: where file contents live, content-addressed per tenant
//! (`<tenant>/<sha256[0..2]>/<sha256>`), and — under prefixes of their own (`layout`) —
//! import uploads; backup archives in a store of their own (`places`). Two implementations
//! behind one small trait: the local filesystem (the default, under the data dir) and
//! S3-compatible object storage.
//!
//! Blobs are immutable and written whole from a finished, verified local file; nothing
//! reads a blob whole into memory (reads are ranged streams).
mod local;
pub mod places;
mod s3;

use std::path::Path;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use uuid::Uuid;

pub use local::LocalStore;
pub use places::Stores;
pub use s3::S3Store;

use crate::error::{Error, Result};

/// A stream of a blob's bytes.
pub type ByteStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

#[async_trait::async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores the finished file at `path` under `key`, consuming the file (it may be moved).
    /// Writing a key that exists is harmless: content-addressed keys hold equal bytes.
    async fn put_file(&self, key: &str, path: &Path) -> Result<()>;
    /// Streams `len` bytes from `offset`.
    async fn read(&self, key: &str, offset: u64, len: u64) -> Result<ByteStream>;
    /// Removes the blob; a missing one is not an error.
    async fn delete(&self, key: &str) -> Result<()>;
    /// Whether the blob exists.
    async fn exists(&self, key: &str) -> Result<bool>;
    /// The blob's size; `None` if there is no such blob.
    async fn size(&self, key: &str) -> Result<Option<u64>>;
    /// The keys of every object under `prefix` (a whole path segment, ending in `/`). For
    /// the small prefixes of work in progress (import uploads), never for the blobs.
    async fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// Makes every blob put so far durable (a local store's renames and contents survive a
    /// crash from here on); call before committing rows that reference them.
    async fn sync(&self) -> Result<()> {
        Ok(())
    }
    /// Where the blob is as a local file, if the store keeps it as one: blocking readers
    /// (the export) read it directly instead of through an async stream.
    fn local_path(&self, _key: &str) -> Option<std::path::PathBuf> {
        None
    }
}

/// The key of a tenant's blob with this content hash.
pub fn blob_key(tenant_id: Uuid, sha256: &str) -> String {
    let prefix = sha256.get(..2).unwrap_or("00");
    format!("{tenant_id}/{prefix}/{sha256}")
}

/// Reads a small object whole (a key file): at most `limit` bytes; `None` if there is no such
/// object or it is larger.
pub async fn read_small(store: &dyn BlobStore, key: &str, limit: u64) -> Result<Option<Vec<u8>>> {
    use futures_util::TryStreamExt;
    let Some(size) = store.size(key).await? else {
        return Ok(None);
    };
    if size > limit {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(size as usize);
    let mut stream = store.read(key, 0, size).await?;
    while let Some(chunk) = stream
        .try_next()
        .await
        .map_err(|e| Error::Internal(format!("reading {key}: {e}")))?
    {
        bytes.extend_from_slice(&chunk);
    }
    Ok(Some(bytes))
}
