//! Opening an archive for the offline commands (`coffer backup verify|ls|extract`), with
//! progress: a bar on a terminal, plain lines when piped.
use std::fs::File;
use std::io::Read;
use std::path::Path;

use uuid::Uuid;

use crate::archive::chain::{self, Links};
use crate::archive::error::{Error as ArchiveError, Result as ArchiveResult};
use crate::archive::keys::{BoundKey, KdfLimits, KeyFile};
use crate::backup::import::unpack::{Parsed, Unlocked, parse_key};
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

/// The secret that opens a key file, as files given on the command line hold it: an
/// identity (a write-only backup's), else a passphrase (its file's first line).
#[derive(Debug, Clone, Copy, Default)]
pub struct SecretFiles<'a> {
    pub passphrase: Option<&'a Path>,
    pub identity: Option<&'a Path>,
}

impl SecretFiles<'_> {
    /// The secret `file` takes, if its file was given: the identity for a write-only
    /// backup's key file, the passphrase otherwise.
    pub fn read_for(
        &self,
        file: &crate::archive::keys::KeyFile,
    ) -> Result<Option<zeroize::Zeroizing<String>>> {
        let io =
            |what: &'static str| move |e: std::io::Error| Error::Internal(format!("{what}: {e}"));
        if file.recipients.is_some() {
            return match self.identity {
                Some(identity) => Ok(Some(zeroize::Zeroizing::new(
                    std::fs::read_to_string(identity).map_err(io("reading the identity file"))?,
                ))),
                None => Ok(None),
            };
        }
        match self.passphrase {
            Some(p) => Ok(Some(zeroize::Zeroizing::new(
                std::fs::read_to_string(p)
                    .map_err(io("reading the passphrase file"))?
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            ))),
            None => Ok(None),
        }
    }
}

/// Opens `archive` with the key file `key`, unwrapping it (with the passphrase in
/// `passphrase_file`) only if that asks argon2id for no more than `limits`. `doing` labels
/// its progress ("verifying", "extracting").
pub fn open(
    archive: &Path,
    key: &Path,
    secret: SecretFiles<'_>,
    limits: KdfLimits,
    doing: &'static str,
    allow_legacy: bool,
) -> Result<Opened> {
    let io = |what: &'static str| move |e: std::io::Error| Error::Internal(format!("{what}: {e}"));
    let key_bytes = std::fs::read(key).map_err(io("reading the key file"))?;
    let key = match parse_key(&key_bytes, allow_legacy)? {
        Parsed::Coffer(file) => {
            let passphrase = secret.read_for(&file)?;
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

/// The earlier links of a chain as files in a directory, `<backup_id>.cbk` and
/// `<backup_id>.key.json` (the names `coffer backup download` gives them), each key file
/// opened as the newest's was (the same passphrase or identity file).
pub struct DirLinks<'a> {
    pub dir: &'a Path,
    pub secret: SecretFiles<'a>,
    pub limits: KdfLimits,
}

impl Links for DirLinks<'_> {
    fn open(&mut self, id: Uuid) -> ArchiveResult<Option<(Box<dyn Read + Send>, BoundKey)>> {
        let archive = self.dir.join(format!("{id}.cbk"));
        let key = self.dir.join(format!("{id}.key.json"));
        if !archive.is_file() || !key.is_file() {
            return Ok(None);
        }
        let caller = |e: Error| ArchiveError::Caller(Box::new(e));
        let io = |e: std::io::Error| caller(Error::Internal(format!("reading link {id}: {e}")));
        let bytes = std::fs::read(&key).map_err(io)?;
        // A key file that is not one is the link's damage.
        let file =
            KeyFile::parse(&bytes).map_err(|_| ArchiveError::ChainBroken { backup_id: id })?;
        let secret = self.secret.read_for(&file).map_err(caller)?;
        let key = file.unlock(secret.as_deref().map(String::as_str), self.limits)?;
        let reader = std::io::BufReader::with_capacity(1 << 20, File::open(&archive).map_err(io)?);
        Ok(Some((Box::new(reader), key)))
    }
}

/// The files of an incremental backup's earlier links, newest first, found in `dir` as
/// `<backup_id>.cbk` / `<backup_id>.key.json` by following each link's base (each key file
/// opened as `secret` allows); none for a full backup or a legacy archive. A link that is
/// not there is `backup_chain_broken`, naming it.
pub fn chain_files(
    (archive, key): (&Path, &Path),
    dir: &Path,
    secret: SecretFiles<'_>,
    limits: KdfLimits,
) -> Result<Vec<(std::path::PathBuf, std::path::PathBuf)>> {
    let mut out: Vec<(std::path::PathBuf, std::path::PathBuf)> = Vec::new();
    let mut next = base_of(archive, key, secret, limits)?;
    while let Some(base) = next {
        let files = (
            dir.join(format!("{base}.cbk")),
            dir.join(format!("{base}.key.json")),
        );
        if !files.0.is_file() || !files.1.is_file() || out.len() >= chain::MAX_LINKS {
            return Err(Error::AboutBackup {
                code: api_spec::ErrorCode::BackupChainBroken,
                backup_id: base.to_string(),
            });
        }
        next = base_of(&files.0, &files.1, secret, limits)?;
        out.push(files);
    }
    Ok(out)
}

/// The base an archive names in its `metadata.json` (read with its key), if it is a link.
fn base_of(
    archive: &Path,
    key: &Path,
    secret: SecretFiles<'_>,
    limits: KdfLimits,
) -> Result<Option<Uuid>> {
    use crate::archive::manifest::{MAX_JSON, Metadata};
    use crate::archive::stream::SegmentReader;
    use crate::archive::tar_io::Plaintext;
    let io = |e: std::io::Error| Error::Internal(format!("reading {}: {e}", archive.display()));
    let bytes = std::fs::read(key).map_err(io)?;
    // A legacy CFMS key: no chain.
    let Ok(file) = KeyFile::parse(&bytes) else {
        return Ok(None);
    };
    let passphrase = secret.read_for(&file)?;
    let key = file.unlock(passphrase.as_deref().map(String::as_str), limits)?;
    let file = std::io::BufReader::new(File::open(archive).map_err(io)?);
    let mut reader = SegmentReader::open(file, &key)?;
    if !reader.header().is_link() {
        return Ok(None);
    }
    let invalid = || crate::error::fail(api_spec::ErrorCode::BackupManifestInvalid);
    let mut tar = tar::Archive::new(Plaintext(&mut reader));
    let mut entries = tar.entries().map_err(|_| invalid())?;
    let first = entries.next().ok_or_else(invalid)?.map_err(|_| invalid())?;
    let meta: Metadata =
        serde_json::from_reader(first.take(MAX_JSON as u64)).map_err(|_| invalid())?;
    Ok(meta.base.and_then(|b| b.backup_id.parse().ok()))
}

/// `coffer backup verify`: checks `archive` with `key` end to end, and an incremental
/// backup's earlier links from `chain_dir`, and prints what it holds.
pub fn verify(
    (archive, key): (&Path, &Path),
    chain_dir: &Path,
    secret: SecretFiles<'_>,
    limits: KdfLimits,
) -> Result<serde_json::Value> {
    let opened = open(archive, key, secret, limits, "verifying", false)?;
    let Unlocked::Coffer(key) = &opened.key else {
        return Err(crate::error::fail(
            api_spec::ErrorCode::ImportLegacyNotAllowed,
        ));
    };
    let mut links = DirLinks {
        dir: chain_dir,
        secret,
        limits,
    };
    let (summary, chain) = chain::verify(opened.reader, key, &mut links, |_| {})?;
    let mut out = serde_json::json!({
        "verified": true,
        "backup_id": summary.backup_id,
        "tenant": summary.tenant,
        "compressed": summary.compressed,
        "counts": serde_json::to_value(&summary.counts)?,
    });
    if chain.len() > 1 {
        out["chain"] = serde_json::json!(chain);
    }
    Ok(out)
}

/// `coffer backup keygen [-o FILE]`: a new X25519 identity for write-only backups. Written
/// to FILE (mode 0600; an existing file is never replaced), or printed; its public key
/// (`age1…`) is what a policy's recipients take.
pub fn keygen(output: Option<&Path>) -> Result<serde_json::Value> {
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let secret = identity.to_string();
    match output {
        Some(path) => {
            let text = zeroize::Zeroizing::new(format!(
                "# created by coffer backup keygen\n# public key: {recipient}\n{}\n",
                secret.expose_secret()
            ));
            write_new_private(path, text.as_bytes())?;
            Ok(
                serde_json::json!({"recipient": recipient, "identity_file": path.display().to_string()}),
            )
        }
        None => Ok(serde_json::json!({"recipient": recipient, "identity": secret.expose_secret()})),
    }
}

/// Writes `bytes` to a new file at `path`, readable by its owner only: an existing file is
/// never replaced (it is refused), and a failed write leaves no file behind.
fn write_new_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Error::Internal(format!(
            "{} exists: an identity is never overwritten",
            path.display()
        )),
        _ => Error::Internal(format!("{}: {e}", path.display())),
    })?;
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(Error::Internal(format!("{}: {e}", path.display())));
    }
    Ok(())
}
