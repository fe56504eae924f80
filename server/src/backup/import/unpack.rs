//! First pass of an import: authenticate and unpack the archive into the job's staging
//! directory — manifests as files, blobs named by their verified SHA-256 — touching nothing
//! else. Coffer v1 archives go through the verifying walk (`verify::walk`: every segment's
//! tag is checked before its bytes are used, member names are matched exactly, and nothing
//! counts until the walk returns); legacy CFMS archives through `legacy`.
use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use api_spec::ErrorCode;

use super::legacy::{self, LegacyKey};
use crate::archive::chain::{Links, walk};
use crate::archive::keys::{BoundKey, KeyFile};
use crate::archive::manifest::Counts;
use crate::archive::verify::Visitor;
use crate::error::{Error, Result, fail};

/// Where an archive is unpacked: `manifests/<member>` and `blobs/<sha256>`.
#[derive(Debug, Clone)]
pub struct Staging {
    pub dir: PathBuf,
}

fn io(e: std::io::Error) -> Error {
    Error::Internal(format!("staging: {e}"))
}

impl Staging {
    pub fn manifest(&self, name: &str) -> PathBuf {
        self.dir.join("manifests").join(name)
    }

    pub fn blob(&self, sha256: &str) -> PathBuf {
        self.dir.join("blobs").join(sha256)
    }

    /// An empty staging directory at `dir` (anything there before is removed).
    pub fn create(dir: PathBuf) -> Result<Self> {
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["manifests", "blobs"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(io)?;
        }
        Ok(Self { dir })
    }
}

/// A key file, read and unlocked.
pub enum Unlocked {
    Coffer(BoundKey),
    Legacy(LegacyKey),
}

/// The key of an import held in the memory of the instance it is reserved for, with the
/// secret that opened it: an incremental backup's earlier links are opened with the same.
pub struct HeldKey {
    pub key: Unlocked,
    pub passphrase: Option<zeroize::Zeroizing<String>>,
    pub identity: Option<zeroize::Zeroizing<String>>,
}

/// A key file, read.
pub enum Parsed {
    /// To unlock (see `crate::app::unlock`).
    Coffer(Box<KeyFile>),
    Legacy(LegacyKey),
}

/// Reads a key file of either kind; a legacy key needs `allow_legacy`.
pub fn parse_key(bytes: &[u8], allow_legacy: bool) -> Result<Parsed> {
    match KeyFile::parse(bytes) {
        Ok(file) => Ok(Parsed::Coffer(Box::new(file))),
        Err(e) => match LegacyKey::parse(bytes) {
            Ok(_) if !allow_legacy => Err(fail(ErrorCode::ImportLegacyNotAllowed)),
            Ok(key) => Ok(Parsed::Legacy(key)),
            Err(_) => Err(e.into()),
        },
    }
}

/// What was unpacked.
#[derive(Debug, Clone)]
pub struct Unpacked {
    /// The source tenant (empty for legacy archives, which do not say).
    pub tenant: String,
    pub backup_id: Option<String>,
    pub authenticated: bool,
    pub counts: Counts,
    pub warnings: Vec<String>,
}

struct ToStaging<'a> {
    staging: &'a Staging,
}

impl Visitor for ToStaging<'_> {
    fn manifest(&mut self, name: &str, file: &mut File) -> crate::archive::error::Result<()> {
        let mut out = File::create(self.staging.manifest(name)).map_err(io)?;
        std::io::copy(file, &mut out).map_err(io)?;
        Ok(())
    }

    fn blob_sink(&mut self, sha256: &str) -> crate::archive::error::Result<Box<dyn Write>> {
        let path = self.staging.blob(&format!("{sha256}.partial"));
        Ok(Box::new(std::io::BufWriter::new(
            File::create(path).map_err(io)?,
        )))
    }

    fn blob_done(&mut self, sha256: &str) -> crate::archive::error::Result<()> {
        std::fs::rename(
            self.staging.blob(&format!("{sha256}.partial")),
            self.staging.blob(sha256),
        )
        .map_err(io)?;
        Ok(())
    }
}

/// Unpacks `archive` into `staging`, verifying everything; `progress` gets the archive bytes
/// read so far. A raised `cancel` flag stops the pass at the next read. An incremental
/// backup's earlier links come from `links`, each verified and only its needed blobs staged.
pub fn unpack(
    archive: impl Read,
    key: &Unlocked,
    staging: &Staging,
    (cancel, links): (Arc<AtomicBool>, &mut dyn Links),
    progress: &mut dyn FnMut(u64),
) -> Result<Unpacked> {
    let reader = Counting {
        inner: std::io::BufReader::with_capacity(1 << 20, archive),
        read: 0,
        cancel,
        report: progress,
    };
    match key {
        Unlocked::Coffer(key) => {
            let (summary, _) = walk(reader, key, links, |_| {}, &mut ToStaging { staging })?;
            Ok(Unpacked {
                tenant: summary.tenant,
                backup_id: Some(summary.backup_id.to_string()),
                authenticated: true,
                counts: summary.counts,
                warnings: Vec::new(),
            })
        }
        Unlocked::Legacy(key) => {
            let converted = legacy::unpack(reader, key, staging)?;
            Ok(Unpacked {
                tenant: String::new(),
                backup_id: None,
                authenticated: false,
                counts: converted.counts,
                warnings: converted.warnings,
            })
        }
    }
}

/// Counts (and reports) bytes read; fails reads once cancelled.
struct Counting<'a, R> {
    inner: R,
    read: u64,
    cancel: Arc<AtomicBool>,
    report: &'a mut dyn FnMut(u64),
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.cancel.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("import cancelled"));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.report)(self.read);
        Ok(n)
    }
}
