//! Blobs as files under a root directory.
use std::io::SeekFrom;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::{BlobStore, ByteStream};
use crate::error::{Error, Result};

/// Read buffer for streaming a blob.
const READ_CHUNK: usize = 256 * 1024;

pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn path(&self, key: &str) -> Result<PathBuf> {
        // Keys are built by `blob_key` from a UUID and a hex hash; refuse anything else so a
        // key can never name a path outside the root.
        let ok = !key.is_empty()
            && key.split('/').all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if ok {
            Ok(self.root.join(key))
        } else {
            Err(Error::Internal(format!("bad blob key {key:?}")))
        }
    }
}

fn io(context: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Internal(format!("{context}: {e}"))
}

#[async_trait::async_trait]
impl BlobStore for LocalStore {
    async fn put_file(&self, key: &str, path: &Path) -> Result<()> {
        let target = self.path(key)?;
        let dir = target
            .parent()
            .ok_or_else(|| Error::Internal("blob path has no parent".into()))?;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(io("creating blob dir"))?;
        // A rename within one filesystem is atomic: readers see no blob or the whole blob.
        if tokio::fs::rename(path, &target).await.is_ok() {
            return Ok(());
        }
        // Different filesystems: copy beside the target, then rename into place.
        let staging = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
        tokio::fs::copy(path, &staging)
            .await
            .map_err(io("copying blob"))?;
        tokio::fs::rename(&staging, &target)
            .await
            .map_err(io("publishing blob"))?;
        tokio::fs::remove_file(path)
            .await
            .map_err(io("removing staged upload"))
    }

    async fn read(&self, key: &str, offset: u64, len: u64) -> Result<ByteStream> {
        let mut file = tokio::fs::File::open(self.path(key)?)
            .await
            .map_err(io("opening blob"))?;
        file.seek(SeekFrom::Start(offset))
            .await
            .map_err(io("seeking blob"))?;
        Ok(Box::pin(ReaderStream::with_capacity(
            file.take(len),
            READ_CHUNK,
        )))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("deleting blob")(e)),
        }
    }

    /// One `syncfs` of the store's filesystem: a single journal commit for every blob put
    /// since, rather than an `fsync` per file and per directory.
    async fn sync(&self) -> Result<()> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || match std::fs::File::open(&root) {
            Ok(dir) => rustix::fs::syncfs(&dir).map_err(std::io::Error::from),
            // No store directory yet: no blob was ever put, so nothing to make durable.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        })
        .await
        .map_err(|e| Error::Internal(format!("syncing blobs: {e}")))?
        .map_err(io("syncing blobs"))
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        self.path(key).ok()
    }

    async fn size(&self, key: &str) -> Result<Option<u64>> {
        match tokio::fs::metadata(self.path(key)?).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("reading blob size")(e)),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        tokio::fs::try_exists(self.path(key)?)
            .await
            .map_err(io("checking blob"))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let start = self.path(prefix.trim_end_matches('/'))?;
        let mut keys = Vec::new();
        let mut stack = vec![(start, prefix.trim_end_matches('/').to_owned())];
        while let Some((dir, key)) = stack.pop() {
            let mut entries = match tokio::fs::read_dir(&dir).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("listing blobs")(e)),
            };
            while let Some(entry) = entries.next_entry().await.map_err(io("listing blobs"))? {
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                // A copy on its way into place (`.<id>.tmp`) is not an object yet.
                if name.starts_with('.') {
                    continue;
                }
                let child = format!("{key}/{name}");
                if entry
                    .file_type()
                    .await
                    .map_err(io("listing blobs"))?
                    .is_dir()
                {
                    stack.push((entry.path(), child));
                } else {
                    keys.push(child);
                }
            }
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_escape_the_root() {
        let store = LocalStore::new(PathBuf::from("/tmp/x"));
        assert!(store.path("../etc/passwd").is_err());
        assert!(store.path("/abs").is_err());
        assert!(store.path("a//b").is_err());
        assert!(store.path("0f/ab/cd").is_ok());
    }
}
