//! Opening an archive for the offline commands (`coffer backup verify|ls|extract`), with
//! progress: a bar on a terminal, plain lines when piped.
use std::io::Read;
use std::path::Path;

use super::import::unpack::{Parsed, Unlocked, parse_key};
use super::keys::KdfLimits;
use super::verify;
use crate::error::{Error, Result};

/// Counts bytes read, for progress.
pub struct Counting<R> {
    inner: R,
    read: u64,
    report: Box<dyn FnMut(u64)>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        (self.report)(self.read);
        Ok(n)
    }
}

/// An archive opened for reading with its unlocked key: the bytes (counted for progress,
/// shown as a bar on a terminal or a line every two seconds otherwise) and the key — a
/// Coffer key, or (only when the caller allows legacy archives) a CFMS one.
pub struct Opened {
    pub reader: Counting<std::io::BufReader<std::fs::File>>,
    pub key: Unlocked,
}

/// Opens `archive` with the key file `key`, unwrapping it (with the passphrase in
/// `passphrase_file`) only if that asks argon2id for no more than `limits`. `doing` labels
/// its progress ("verifying", "extracting").
pub fn open(
    archive: &Path,
    key: &Path,
    passphrase_file: Option<&Path>,
    limits: KdfLimits,
    doing: &'static str,
    allow_legacy: bool,
) -> Result<Opened> {
    let io = |what: &'static str| move |e: std::io::Error| Error::Internal(format!("{what}: {e}"));
    let key_bytes = std::fs::read(key).map_err(io("reading the key file"))?;
    let passphrase = match passphrase_file {
        Some(p) => Some(zeroize::Zeroizing::new(
            std::fs::read_to_string(p)
                .map_err(io("reading the passphrase file"))?
                .lines()
                .next()
                .unwrap_or("")
                .to_owned(),
        )),
        None => None,
    };
    let key = match parse_key(&key_bytes, allow_legacy)? {
        Parsed::Coffer(file) => {
            Unlocked::Coffer(file.unlock(passphrase.as_deref().map(String::as_str), limits)?)
        }
        Parsed::Legacy(key) => Unlocked::Legacy(key),
    };
    let file = std::fs::File::open(archive).map_err(io("opening the archive"))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let bar = crate::cli::progress::Progress::new(total, doing);
    let report: Box<dyn FnMut(u64)> = Box::new(move |n| bar.set(n));
    let reader = Counting {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        read: 0,
        report,
    };
    Ok(Opened { reader, key })
}

/// `coffer backup verify`: checks `archive` with `key` end to end and prints what it holds.
pub fn verify(
    archive: &Path,
    key: &Path,
    passphrase_file: Option<&Path>,
    limits: KdfLimits,
) -> Result<()> {
    let opened = open(archive, key, passphrase_file, limits, "verifying", false)?;
    let Unlocked::Coffer(key) = &opened.key else {
        return Err(crate::error::fail(
            api_spec::ErrorCode::ImportLegacyNotAllowed,
        ));
    };
    let summary = verify::verify(opened.reader, key, |_| {})?;
    let c = &summary.counts;
    println!(
        "OK: backup {} of tenant `{}` — {} folders, {} documents, {} revisions, {} files ({} bytes), {} users, {} groups{}",
        summary.backup_id,
        summary.tenant,
        c.folders,
        c.documents,
        c.revisions,
        c.files,
        c.bytes,
        c.users,
        c.groups,
        if summary.compressed { ", zstd" } else { "" }
    );
    Ok(())
}
