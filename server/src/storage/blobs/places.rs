//! Where the stores keep their objects, and which stores a configuration names: the data's
//! own (`storage`) and the backups' (`backup_storage`), each a local directory or an
//! `s3://bucket/prefix` URL with its own endpoint and credentials. Tells whether two of them
//! share a disk or a bucket, which is what losing one would take with it.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{BlobStore, LocalStore, S3Store};
use crate::config::Config;
use crate::error::{Error, Result};

/// Where a store keeps its objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A local directory.
    Dir(PathBuf),
    /// A bucket at an endpoint (`None`: the provider's default).
    Bucket {
        endpoint: Option<String>,
        bucket: String,
        prefix: String,
    },
}

impl Place {
    /// Whether losing the disk or bucket of one loses the other too: two directories on one
    /// filesystem, or two prefixes of one bucket.
    pub fn shares_with(&self, other: &Place) -> bool {
        match (self, other) {
            (Place::Dir(a), Place::Dir(b)) => same_device(a, b),
            (
                Place::Bucket {
                    endpoint: e1,
                    bucket: b1,
                    ..
                },
                Place::Bucket {
                    endpoint: e2,
                    bucket: b2,
                    ..
                },
            ) => e1 == e2 && b1 == b2,
            _ => false,
        }
    }
}

impl Place {
    /// Whether both name the very same place: one directory, or one prefix of one bucket.
    pub fn same_as(&self, other: &Place) -> bool {
        match (self, other) {
            (Place::Dir(a), Place::Dir(b)) => {
                let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
                real(a) == real(b)
            }
            _ => self == other,
        }
    }
}

/// The device of `path`, or of its nearest existing ancestor.
fn device(path: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        path.ancestors()
            .find_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.dev())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn same_device(a: &Path, b: &Path) -> bool {
    match (device(a), device(b)) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

/// A store and where it keeps its objects.
pub struct Opened {
    pub store: Arc<dyn BlobStore>,
    pub place: Place,
}

/// Opens the store `spec` names: a directory (relative ones under `data_dir`), or an
/// `s3://bucket/prefix` URL with the endpoint and credentials of `destination.<spec>`, else
/// of the `s3_*` settings.
pub fn open(spec: &str, config: &Config) -> Result<Opened> {
    if let Some(rest) = spec.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::Internal(format!("`{spec}` names no bucket")));
        }
        let settings = config.s3_settings(spec);
        let store = S3Store::new(bucket, prefix, &settings)?;
        let place = Place::Bucket {
            endpoint: settings.endpoint.map(str::to_owned),
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        };
        return Ok(Opened {
            store: Arc::new(store),
            place,
        });
    }
    if spec.contains("://") {
        return Err(Error::Internal(format!(
            "unsupported store `{spec}` (use a directory or s3://bucket/prefix)"
        )));
    }
    let dir = config.data_dir.join(spec);
    Ok(Opened {
        store: Arc::new(LocalStore::new(dir.clone())),
        place: Place::Dir(dir),
    })
}

/// A destination backups are copied to.
pub struct Copy {
    /// As `backup_copies` names it.
    pub name: String,
    pub store: Arc<dyn BlobStore>,
    /// Never delete or overwrite there.
    pub append_only: bool,
}

/// The stores of a running server.
pub struct Stores {
    /// File contents, and work in progress (import uploads).
    pub data: Arc<dyn BlobStore>,
    /// Backup archives.
    pub backups: Arc<dyn BlobStore>,
    /// Whether the backup store is the data's own store (the S3 default): nothing to move.
    pub backups_in_data: bool,
    /// Whether the backup store shares a disk or bucket with the data.
    pub backups_share_data: bool,
    /// The destinations of `backup_copies`.
    pub copies: Vec<Copy>,
}

impl Stores {
    /// The stores `config` names. Without `backup_storage`, backups go to
    /// `<data_dir>/backup-store` beside a local data store, and to the data's own bucket
    /// beside an S3 one (instances sharing a bucket share no disk).
    pub fn from_config(config: &Config) -> Result<Self> {
        let data = match config.storage.as_deref() {
            None | Some("") | Some("local") => open("blobs", config)?,
            Some(spec) => open(spec, config)?,
        };
        let (backups, backups_in_data) = match config.backup_storage.as_deref() {
            // Named as the data's own store (or its very place): the same store, nothing
            // to move between them.
            Some(spec) if !spec.is_empty() && !open(spec, config)?.place.same_as(&data.place) => {
                (open(spec, config)?, false)
            }
            Some(spec) if !spec.is_empty() => (
                Opened {
                    store: Arc::clone(&data.store),
                    place: data.place.clone(),
                },
                true,
            ),
            _ => match &data.place {
                Place::Dir(_) => (open(DEFAULT_BACKUP_DIR, config)?, false),
                Place::Bucket { .. } => (
                    Opened {
                        store: Arc::clone(&data.store),
                        place: data.place.clone(),
                    },
                    true,
                ),
            },
        };
        if let Place::Dir(dir) = &backups.place {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Internal(format!("backup_storage {}: {e}", dir.display())))?;
        }
        let backups_share_data = backups_in_data || backups.place.shares_with(&data.place);
        if backups_share_data {
            tracing::warn!(
                "the backup store shares a disk or bucket with the data: losing it loses the backups too; set backup_storage to another disk or bucket"
            );
        }
        let mut copies = Vec::new();
        for name in &config.backup_copies {
            let copy = open(name, config)?;
            if copy.place.same_as(&data.place) || copy.place.same_as(&backups.place) {
                return Err(Error::Internal(format!(
                    "backup_copies: {name} is where the data or the backups already are"
                )));
            }
            if let Place::Dir(dir) = &copy.place {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Internal(format!("backup_copies {name}: {e}")))?;
            }
            if copy.place.shares_with(&data.place) || copy.place.shares_with(&backups.place) {
                tracing::warn!(destination = %name,
                    "a backup copy shares a disk or bucket with the data or the backup store: it protects against less than it seems");
            }
            let append_only = config.destination.get(name).is_some_and(|d| d.append_only);
            copies.push(Copy {
                name: name.clone(),
                store: copy.store,
                append_only,
            });
        }
        Ok(Self {
            data: data.store,
            backups: backups.store,
            backups_in_data,
            backups_share_data,
            copies,
        })
    }
}

/// The backup store's directory under `data_dir` when `backup_storage` is not set beside a
/// local data store.
pub const DEFAULT_BACKUP_DIR: &str = "backup-store";
