//! Blobs in S3-compatible object storage (AWS, MinIO, s3s-fs, …) via `object_store`.
use std::path::Path;

use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::AsyncReadExt;

use super::{BlobStore, ByteStream};
use crate::config::S3Settings;
use crate::error::{Error, Result};

/// Part size for multipart uploads (S3's minimum is 5 MiB).
const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts uploaded at once.
const PARALLEL_PARTS: usize = 4;
/// Read buffer when feeding a multipart upload from disk.
const READ_CHUNK: usize = 1024 * 1024;

pub struct S3Store {
    store: AmazonS3,
    prefix: String,
}

fn s3_err(context: &'static str) -> impl Fn(object_store::Error) -> Error {
    move |e| Error::Internal(format!("{context}: {e}"))
}

impl S3Store {
    /// Bucket `bucket`, objects under `prefix`, reached as `settings` say (and, when they
    /// allow it, the usual `AWS_*` variables for what they leave out).
    pub fn new(bucket: &str, prefix: &str, settings: &S3Settings<'_>) -> Result<Self> {
        let builder = if settings.from_env {
            AmazonS3Builder::from_env()
        } else {
            AmazonS3Builder::new()
        };
        let mut builder = builder
            .with_bucket_name(bucket)
            .with_region(settings.region);
        if let Some(endpoint) = settings.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(id) = settings.access_key_id {
            builder = builder.with_access_key_id(id);
        }
        if let Some(secret) = settings.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder.build().map_err(s3_err("configuring S3"))?;
        Ok(Self {
            store,
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    fn path(&self, key: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }
}

#[async_trait::async_trait]
impl BlobStore for S3Store {
    async fn put_file(&self, key: &str, path: &Path) -> Result<()> {
        let upload = self
            .store
            .put_multipart(&self.path(key))
            .await
            .map_err(s3_err("starting upload"))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::Internal(format!("opening upload: {e}")))?;
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|e| Error::Internal(format!("reading upload: {e}")))?;
            if n == 0 {
                break;
            }
            writer
                .wait_for_capacity(PARALLEL_PARTS)
                .await
                .map_err(s3_err("uploading part"))?;
            writer.write(&buf[..n]);
        }
        writer.finish().await.map_err(s3_err("finishing upload"))?;
        tokio::fs::remove_file(path)
            .await
            .map_err(|e| Error::Internal(format!("removing staged upload: {e}")))
    }

    async fn read(&self, key: &str, offset: u64, len: u64) -> Result<ByteStream> {
        if len == 0 {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        let options = GetOptions {
            range: Some(GetRange::Bounded(offset..offset + len)),
            ..Default::default()
        };
        let result = self
            .store
            .get_opts(&self.path(key), options)
            .await
            .map_err(s3_err("reading blob"))?;
        Ok(Box::pin(
            result.into_stream().map_err(std::io::Error::other).boxed(),
        ))
    }

    async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(s3_err("deleting blob")(e)),
        }
    }

    async fn size(&self, key: &str) -> Result<Option<u64>> {
        match self.store.head(&self.path(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(s3_err("checking blob")(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let own = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let metas: Vec<_> = self
            .store
            .list(Some(&self.path(prefix.trim_end_matches('/'))))
            .try_collect()
            .await
            .map_err(s3_err("listing blobs"))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| m.location.as_ref().strip_prefix(&own).map(str::to_owned))
            .collect())
    }

    async fn exists(&self, key: &str) -> Result<bool> {
        match self.store.head(&self.path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(s3_err("checking blob")(e)),
        }
    }
}
