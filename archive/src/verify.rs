//! End-to-end verification of an archive: every segment (see `stream`), then the tar
//! members — names, order, manifest lines and counts, and every blob's size and SHA-256.
//! Memory stays flat: `files.jsonl` is spooled to a temp file and read back beside the blobs.
//!
//! Every error has a code: the segment stream's keep theirs (truncation, a failed tag, …), and
//! whatever else the tar crate or a member's parser complains about is the bytes breaking the
//! format (`backup_manifest_invalid`) — never `internal`, which is kept for faults of the
//! machine (a temp file that cannot be written).
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};

use api_spec::ErrorCode;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::format::Header;
use super::keys::BoundKey;
use super::manifest::{self as m, Counts, Metadata};
use super::stream::{SegmentReader, from_io};
use super::tar_io::{self, Origin, Plaintext, read_err, spool_err};
use crate::error::{Error, Result, fail};

/// What a verified archive holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub backup_id: uuid::Uuid,
    pub tenant: String,
    pub compressed: bool,
    /// Of the whole snapshot, whichever link holds its blobs.
    pub counts: Counts,
    /// A link of a chain (format v2): the link it builds on.
    pub base: Option<m::BaseLink>,
    /// The blobs this archive holds (all of them, but for a link of a chain).
    pub held: m::Held,
}

fn invalid() -> Error {
    fail(ErrorCode::BackupManifestInvalid)
}

fn mismatch() -> Error {
    fail(ErrorCode::BackupManifestMismatch)
}

/// Reads one line of at most `MAX_JSON` bytes; `None` at the end. `err` says what a failed
/// read means: the archive's (`read_err`) or the walk's own spool (`spool_err`).
fn next_line(
    reader: &mut impl BufRead,
    line: &mut String,
    err: fn(io::Error) -> Error,
) -> Result<Option<()>> {
    line.clear();
    let n = reader
        .take(m::MAX_JSON as u64 + 1)
        .read_line(line)
        .map_err(err)?;
    if n == 0 {
        return Ok(None);
    }
    if n > m::MAX_JSON || !line.ends_with('\n') {
        return Err(invalid());
    }
    Ok(Some(()))
}

/// Counts the lines of a JSON-lines member, each parsed as `T` and shown to `each`.
fn count_lines<T: DeserializeOwned>(
    member: impl Read,
    mut each: impl FnMut(&T, &str) -> Result<()>,
) -> Result<u64> {
    let mut reader = BufReader::new(member);
    let mut line = String::new();
    let mut count = 0u64;
    while next_line(&mut reader, &mut line, read_err)?.is_some() {
        let parsed: T = serde_json::from_str(line.trim_end()).map_err(|_| invalid())?;
        each(&parsed, line.trim_end())?;
        count += 1;
        if count > m::MAX_COUNT {
            return Err(invalid());
        }
    }
    Ok(count)
}

/// Copies like `std::io::copy`, in blocks of up to 256 KiB instead of 8 KiB (a blob's
/// bytes cross the hasher and the sink in a few calls, not thousands).
fn copy_in_blocks(from: &mut impl Read, to: &mut impl Write, size: u64) -> Result<u64> {
    let mut block = vec![0u8; size.clamp(1, 256 * 1024) as usize];
    let mut copied = 0u64;
    loop {
        let n = match from.read(&mut block) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        to.write_all(&block[..n]).map_err(from_io)?;
        copied += n as u64;
    }
}

/// Whether a file line names its link as the format asks: in format v1 none; in a link of a
/// chain (`own`: its backup id) a backup id, its own or an earlier link's.
fn names_link(line: &m::FileLine, own: Option<&str>) -> bool {
    match (&line.backup_id, own) {
        (None, None) => true,
        (Some(id), Some(_)) => uuid::Uuid::parse_str(id).is_ok_and(|u| u.to_string() == *id),
        _ => false,
    }
}

/// The manifests' part of verification: parses each and records its count (and, of the
/// file lines, the bytes of the snapshot's files). `own`: as for [`names_link`].
fn manifest(
    name: &str,
    entry: impl Read,
    seen: &mut Counts,
    spool: &mut BufWriter<File>,
    own: Option<&str>,
) -> Result<()> {
    match name {
        m::FOLDERS => seen.folders = count_lines::<m::FolderLine>(entry, |_, _| Ok(()))?,
        m::DOCUMENTS => {
            let mut revisions = 0;
            seen.documents = count_lines::<m::DocumentLine>(entry, |d, _| {
                revisions += d.revisions.len() as u64;
                Ok(())
            })?;
            seen.revisions = revisions;
        }
        m::FILES => {
            let mut bytes = 0u64;
            seen.files = count_lines::<m::FileLine>(entry, |f, raw| {
                if !m::is_sha256(&f.sha256) || !names_link(f, own) {
                    return Err(invalid());
                }
                bytes = bytes.checked_add(f.size).ok_or_else(invalid)?;
                writeln!(spool, "{raw}").map_err(spool_err)
            })?;
            seen.bytes = bytes;
        }
        m::USERS => seen.users = count_lines::<m::UserLine>(entry, |_, _| Ok(()))?,
        m::GROUPS => seen.groups = count_lines::<m::GroupLine>(entry, |_, _| Ok(()))?,
        _ => seen.access_entries = count_lines::<m::AccessEntryLine>(entry, |_, _| Ok(()))?,
    }
    Ok(())
}

/// What a caller does with verified content as the walk passes it.
pub trait Visitor {
    /// A manifest member, validated and spooled: `file` is positioned at its start.
    fn manifest(&mut self, _name: &str, _file: &mut File) -> Result<()> {
        Ok(())
    }
    /// Where a blob's bytes go while they are hashed (`io::sink` to just check them).
    fn blob_sink(&mut self, _sha256: &str) -> Result<Box<dyn Write>> {
        Ok(Box::new(std::io::sink()))
    }
    /// The blob's bytes matched their name and size.
    fn blob_done(&mut self, _sha256: &str) -> Result<()> {
        Ok(())
    }
}

/// Checks only.
struct JustVerify;
impl Visitor for JustVerify {}

/// Verifies `archive` with `key`; `progress` gets the archive bytes consumed so far.
pub fn verify(archive: impl Read, key: &BoundKey, progress: impl FnMut(u64)) -> Result<Summary> {
    walk(archive, key, progress, &mut JustVerify)
}

/// Verifies `archive` with `key`, showing `visitor` every manifest and blob as it passes.
/// Nothing the visitor is shown counts as trustworthy until this returns `Ok`. A link of a
/// chain is verified alone: its own blobs, and file lines that name the earlier links
/// holding the rest (`chain::verify` checks those links).
pub fn walk(
    archive: impl Read,
    key: &BoundKey,
    mut progress: impl FnMut(u64),
    visitor: &mut dyn Visitor,
) -> Result<Summary> {
    let mut reader = SegmentReader::open(archive, key)?;
    let header = reader.header().clone();
    let own = header.is_link().then(|| header.backup_id.to_string());
    let mut spool = BufWriter::new(tempfile::tempfile().map_err(spool_err)?);
    let mut expected: Option<BufReader<File>> = None;
    let mut metadata: Option<Metadata> = None;
    let mut seen = Counts::default();
    let mut held = m::Held::default();
    // 0: metadata.json; 1..=6: the manifests in order; 7: blobs.
    let mut stage = 0usize;
    let mut line = String::new();
    {
        let mut tar = tar::Archive::new(Plaintext(&mut reader));
        // Raw: extension headers (PAX, GNU long names) are members like any other, so the
        // type check refuses them before their bodies are read (the tar crate would read
        // them whole into memory to apply them).
        for entry in tar.entries().map_err(read_err)?.raw(true) {
            let entry = entry.map_err(read_err)?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                return Err(invalid());
            }
            let name = String::from_utf8(entry.path_bytes().into_owned()).map_err(|_| invalid())?;
            let size = tar_io::member_size(entry.header())?;
            if stage == 0 && name == m::METADATA && size <= m::MAX_JSON as u64 {
                metadata = Some(metadata_member(entry, &header)?);
                stage = 1;
            } else if (1..=6).contains(&stage) && name == m::MANIFESTS[stage - 1] {
                let spooled = (&mut seen, &mut spool, own.as_deref());
                manifest_member(&name, entry, spooled, visitor)?;
                stage += 1;
                if stage == 7 {
                    spool.flush().map_err(spool_err)?;
                    let mut file = spool.get_ref().try_clone().map_err(spool_err)?;
                    file.rewind().map_err(spool_err)?;
                    expected = Some(BufReader::new(file));
                }
            } else if let (7, Some(sha), Some(list)) =
                (stage, name.strip_prefix(m::BLOB_PREFIX), expected.as_mut())
            {
                if !m::is_sha256(sha) {
                    // Not a blob name at all (a path, say): the member breaks the format.
                    return Err(invalid());
                }
                let want = next_held(list, &mut line, own.as_deref())?.ok_or_else(mismatch)?;
                blob_member(sha, size, &want, entry, visitor)?;
                held.files += 1;
                held.bytes += size;
                progress(0);
            } else {
                return Err(invalid());
            }
        }
    }
    tar_io::check_end(&mut reader)?;
    progress(reader.consumed);
    let (Some(metadata), Some(mut list)) = (metadata, expected) else {
        return Err(invalid());
    };
    let held_declared = metadata.held.unwrap_or(held);
    if next_held(&mut list, &mut line, own.as_deref())?.is_some()
        || metadata.counts != seen
        || held_declared != held
    {
        return Err(mismatch());
    }
    Ok(Summary {
        backup_id: header.backup_id,
        tenant: metadata.tenant,
        compressed: header.compressed(),
        counts: seen,
        base: metadata.base,
        held,
    })
}

/// The next file line whose blob this archive holds (every line, but in a link of a chain
/// (`own`) those naming it); `None` when no more.
fn next_held(
    list: &mut BufReader<File>,
    line: &mut String,
    own: Option<&str>,
) -> Result<Option<m::FileLine>> {
    while next_line(list, line, spool_err)?.is_some() {
        let parsed: m::FileLine = serde_json::from_str(line.trim_end()).map_err(|_| mismatch())?;
        if own.is_none() || parsed.backup_id.as_deref() == own {
            return Ok(Some(parsed));
        }
    }
    Ok(None)
}

/// The `metadata.json` member: this format, the header's version and backup; a link of a
/// chain names its base (another backup) and what it holds, and only a link does.
fn metadata_member(entry: impl Read, header: &Header) -> Result<Metadata> {
    // A failed read of the stream keeps its code; bad JSON is the member's fault.
    let meta: Metadata = serde_json::from_reader(entry).map_err(|e| read_err(e.into()))?;
    let base_ok = match (&meta.base, meta.held, header.is_link()) {
        (None, None, false) => true,
        (Some(base), Some(_), true) => {
            uuid::Uuid::parse_str(&base.backup_id)
                .is_ok_and(|b| b != header.backup_id && b.to_string() == base.backup_id)
                && is_hex(&base.key_id, 32)
                && is_hex(&base.archive_sha256, 64)
        }
        _ => false,
    };
    if meta.format != m::FORMAT
        || meta.format_version != u32::from(header.version)
        || meta.backup_id != header.backup_id.to_string()
        || !base_ok
    {
        return Err(invalid());
    }
    Ok(meta)
}

/// Whether `text` is `len` lower-case hex digits.
fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A manifest member: checked line by line (and its file lines spooled for the blobs),
/// then shown to the visitor whole.
fn manifest_member(
    name: &str,
    entry: impl Read,
    (seen, spool, own): (&mut Counts, &mut BufWriter<File>, Option<&str>),
    visitor: &mut dyn Visitor,
) -> Result<()> {
    let mut copy = tempfile::tempfile().map_err(spool_err)?;
    let mut tee = TeeReader {
        inner: entry,
        copy: BufWriter::new(&mut copy),
    };
    manifest(name, &mut tee, seen, spool, own)?;
    io::copy(&mut tee, &mut io::sink()).map_err(read_err)?;
    tee.copy.flush().map_err(spool_err)?;
    drop(tee);
    copy.rewind().map_err(spool_err)?;
    visitor.manifest(name, &mut copy)
}

/// A blob member named `sha`: the next file line's (`want`), exactly its size and SHA-256,
/// streamed to the visitor's sink.
fn blob_member(
    sha: &str,
    size: u64,
    want: &m::FileLine,
    entry: impl Read,
    visitor: &mut dyn Visitor,
) -> Result<()> {
    if sha != want.sha256 || size != want.size {
        return Err(mismatch());
    }
    let mut hasher = Sha256::new();
    let mut sink = visitor.blob_sink(sha)?;
    let mut out = HashWriter(&mut hasher, &mut sink);
    let copied = copy_in_blocks(&mut entry.take(size), &mut out, size)?;
    out.flush().map_err(spool_err)?;
    drop(sink);
    if copied != size || hex::encode(hasher.finalize()) != sha {
        return Err(fail(ErrorCode::BackupBlobMismatch));
    }
    visitor.blob_done(sha)
}

/// Hashes what it passes on.
struct HashWriter<'a>(&'a mut Sha256, &'a mut Box<dyn Write>);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.1.write(buf)?;
        self.0.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.1.flush()
    }
}

/// Copies what is read into `copy`.
struct TeeReader<R, W: Write> {
    inner: R,
    copy: W,
}

impl<R: Read, W: Write> Read for TeeReader<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        // The copy is a temp file of ours: its failure is the machine's, not the archive's.
        self.copy
            .write_all(&buf[..n])
            .map_err(|e| io::Error::other(Origin::Spool(e)))?;
        Ok(n)
    }
}
