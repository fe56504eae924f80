//! `coffer backup verify`: progress bar on a terminal, plain lines when piped.
use std::io::{IsTerminal, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::keys::{KdfLimits, KeyFile};
use super::verify;
use crate::error::{Error, Result};

/// Counts bytes read, for progress.
struct Counting<R> {
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

/// Verifies `archive` with the key file `key`, unwrapping it (with the passphrase in
/// `passphrase_file`) only if that asks argon2id for no more than `limits`.
pub fn verify(
    archive: &Path,
    key: &Path,
    passphrase_file: Option<&Path>,
    limits: KdfLimits,
) -> Result<()> {
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
    let key =
        KeyFile::parse(&key_bytes)?.unlock(passphrase.as_deref().map(String::as_str), limits)?;
    let file = std::fs::File::open(archive).map_err(io("opening the archive"))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let report: Box<dyn FnMut(u64)> = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Box::new(move |n| bar.set_position(n))
    } else {
        let mut last = Instant::now();
        Box::new(move |n| {
            if last.elapsed() >= Duration::from_secs(2) {
                last = Instant::now();
                eprintln!("verified {n} of {total} bytes");
            }
        })
    };
    let reader = Counting {
        inner: std::io::BufReader::with_capacity(1 << 20, file),
        read: 0,
        report,
    };
    let summary = verify::verify(reader, &key, |_| {})?;
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
