//! Chains of incremental backups (BACKUP_IMPORT.md §1.9). A link's manifest describes the
//! whole snapshot and names, for each file, the link that holds its blob: itself or one of
//! the links it builds on, back to a full backup. Each link names its base by backup id,
//! key id and the SHA-256 of the base's whole archive, so a missing, swapped or altered link
//! is found: `backup_chain_broken`, naming that link.
use std::cell::Cell;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, Write};
use std::rc::Rc;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::keys::BoundKey;
use super::manifest::{self as m, BaseLink};
use super::tar_io::spool_err;
use super::verify::{self, Summary, Visitor};
use crate::error::{Error, Result};

/// Links a chain may have at most (a full backup and the incrementals on it).
pub const MAX_LINKS: usize = 10_000;

/// Where a chain's earlier links come from: a directory, the server's store.
pub trait Links {
    /// The archive of link `backup_id` and its unlocked key; `Ok(None)` when there is no
    /// such link (the chain is broken there). A key that cannot be unlocked is the caller's
    /// error, passed on as it is.
    fn open(&mut self, backup_id: Uuid) -> Result<Option<(Box<dyn Read + Send>, BoundKey)>>;
}

/// The blobs a snapshot takes from each earlier link: by link, their SHA-256s and sizes.
type Needs = HashMap<Uuid, HashMap<[u8; 32], u64>>;

/// Collects, from the newest link's `files.jsonl`, the blobs it takes from earlier links,
/// and shows the caller's visitor everything of it.
struct Collect<'a> {
    own: String,
    needs: Needs,
    inner: &'a mut dyn Visitor,
}

impl Visitor for Collect<'_> {
    fn blob_sink(&mut self, sha256: &str) -> Result<Box<dyn Write>> {
        self.inner.blob_sink(sha256)
    }

    fn blob_done(&mut self, sha256: &str) -> Result<()> {
        self.inner.blob_done(sha256)
    }

    fn manifest(&mut self, name: &str, file: &mut File) -> Result<()> {
        if name != m::FILES {
            return self.inner.manifest(name, file);
        }
        let mut reader = BufReader::new(&mut *file);
        let mut line = String::new();
        while reader.read_line(&mut line).map_err(spool_err)? != 0 {
            let parsed: m::FileLine = serde_json::from_str(line.trim_end())
                .map_err(|e| Error::Internal(format!("a verified file line: {e}")))?;
            line.clear();
            let Some(link) = parsed.backup_id.as_deref().filter(|l| *l != self.own) else {
                continue;
            };
            if let Ok(link) = link.parse() {
                let sha = sha256_bytes(&parsed.sha256)?;
                self.needs.entry(link).or_default().insert(sha, parsed.size);
            }
        }
        file.rewind().map_err(spool_err)?;
        self.inner.manifest(name, file)
    }
}

/// Shows the caller's visitor the blobs of earlier link `link` that the newest snapshot
/// takes from it (and nothing else), crossing each off as it passes, verified — and only if
/// it is the size the newest snapshot says (its hash fixes its content, not the size a
/// crafted newer manifest claims).
struct CrossOff<'a> {
    link: Uuid,
    needs: Option<&'a mut HashMap<[u8; 32], u64>>,
    inner: &'a mut dyn Visitor,
    /// Bytes of the current blob shown to the visitor.
    passed: Rc<Cell<u64>>,
}

impl CrossOff<'_> {
    /// The size the snapshot says blob `sha256` has, if it takes it from this link.
    fn needed(&self, sha256: &str) -> Result<Option<u64>> {
        Ok(match &self.needs {
            Some(needs) => needs.get(&sha256_bytes(sha256)?).copied(),
            None => None,
        })
    }
}

/// Counts what it passes on.
struct Counted {
    inner: Box<dyn Write>,
    passed: Rc<Cell<u64>>,
}

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.passed.set(self.passed.get() + n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Visitor for CrossOff<'_> {
    fn blob_sink(&mut self, sha256: &str) -> Result<Box<dyn Write>> {
        if self.needed(sha256)?.is_none() {
            return Ok(Box::new(io::sink()));
        }
        self.passed.set(0);
        Ok(Box::new(Counted {
            inner: self.inner.blob_sink(sha256)?,
            passed: Rc::clone(&self.passed),
        }))
    }

    fn blob_done(&mut self, sha256: &str) -> Result<()> {
        let Some(size) = self.needed(sha256)? else {
            return Ok(());
        };
        if size != self.passed.get() {
            return Err(Error::ChainBroken {
                backup_id: self.link,
            });
        }
        if let Some(needs) = self.needs.as_mut() {
            needs.remove(&sha256_bytes(sha256)?);
        }
        self.inner.blob_done(sha256)
    }
}

/// Shows nothing (only verifies).
struct Nothing;
impl Visitor for Nothing {}

fn sha256_bytes(hex_text: &str) -> Result<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out)
        .map_err(|_| Error::Internal("a verified SHA-256 that is not hex".into()))?;
    Ok(out)
}

/// Hashes what is read through it.
struct Hashed<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Verifies the archive `newest` (with `key`) and, if it is a link of a chain, every earlier
/// link `links` gives, back to the full backup: each is the archive its successor names
/// (backup id, key id, SHA-256 of its bytes), verifies whole, and holds every blob the newest
/// snapshot takes from it. A fault of an earlier link is `backup_chain_broken` naming it;
/// the newest link's own faults keep their codes. Returns the newest's summary and the
/// backup ids of the chain, newest first.
pub fn verify(
    newest: impl Read,
    key: &BoundKey,
    links: &mut dyn Links,
    progress: impl FnMut(u64),
) -> Result<(Summary, Vec<Uuid>)> {
    walk(newest, key, links, progress, &mut Nothing)
}

/// [`verify`], showing `visitor` the newest link's manifests and blobs and, of each earlier
/// link, the blobs the newest snapshot takes from it: every blob of the snapshot once.
/// Nothing the visitor is shown counts as trustworthy until this returns `Ok`.
pub fn walk(
    newest: impl Read,
    key: &BoundKey,
    links: &mut dyn Links,
    mut progress: impl FnMut(u64),
    visitor: &mut dyn Visitor,
) -> Result<(Summary, Vec<Uuid>)> {
    let mut collect = Collect {
        own: key.backup_id().to_owned(),
        needs: Needs::new(),
        inner: visitor,
    };
    let summary = verify::walk(newest, key, &mut progress, &mut collect)?;
    let (mut needs, visitor) = (collect.needs, collect.inner);
    let mut chain = vec![summary.backup_id];
    let mut next = summary.base.clone();
    let mut done = 0u64;
    while let Some(base) = next {
        let id: Uuid = base
            .backup_id
            .parse()
            .map_err(|_| Error::Internal("a verified base id that is not a uuid".into()))?;
        let broken = || Error::ChainBroken { backup_id: id };
        if chain.len() >= MAX_LINKS || chain.contains(&id) {
            return Err(broken());
        }
        let cross_off = CrossOff {
            link: id,
            needs: needs.get_mut(&id),
            inner: &mut *visitor,
            passed: Rc::new(Cell::new(0)),
        };
        let link = verify_link(&base, id, links, cross_off, &mut |n| progress(done + n))?;
        done += link.1;
        if needs.remove(&id).is_some_and(|left| !left.is_empty()) {
            return Err(broken());
        }
        chain.push(id);
        next = link.0.base;
    }
    // A file line naming a link that is not in the chain.
    if let Some(&missing) = needs.keys().next() {
        return Err(Error::ChainBroken { backup_id: missing });
    }
    Ok((summary, chain))
}

/// One earlier link, as `base` names it: its summary and its archive's size. Any fault is
/// the chain's, at this link.
fn verify_link(
    base: &BaseLink,
    id: Uuid,
    links: &mut dyn Links,
    mut cross_off: CrossOff<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<(Summary, u64)> {
    let broken = || Error::ChainBroken { backup_id: id };
    let (archive, key) = links.open(id)?.ok_or_else(broken)?;
    if hex::encode(key.derive().key_id) != base.key_id || key.backup_id() != base.backup_id {
        return Err(broken());
    }
    let mut hashed = Hashed {
        inner: archive,
        hasher: Sha256::new(),
    };
    let mut consumed = 0u64;
    let summary = verify::walk(
        &mut hashed,
        &key,
        |n| {
            consumed = consumed.max(n);
            progress(consumed)
        },
        &mut cross_off,
    )
    .map_err(|e| match e {
        // The caller's own faults (a store that cannot be read) stay theirs.
        Error::Caller(_) | Error::Internal(_) => e,
        _ => broken(),
    })?;
    // Whatever follows the archive's end was refused by the walk; the hash is of it all.
    io::copy(&mut hashed, &mut io::sink()).map_err(|e| Error::Caller(Box::new(e)))?;
    if hex::encode(hashed.hasher.finalize()) != base.archive_sha256 {
        return Err(broken());
    }
    Ok((summary, consumed))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::format::{CHAIN_FORMAT_VERSION, FORMAT_VERSION};
    use crate::manifest::{Counts, Held, Metadata};
    use crate::stream::tests::{bound_key, seal_with};
    use api_spec::ErrorCode;

    /// One stored link: its archive's bytes and the key that opens it.
    struct Stored {
        archive: Vec<u8>,
        key: BoundKey,
    }

    /// Links by backup id, as a store would give them.
    #[derive(Default)]
    struct Store(HashMap<Uuid, Stored>);

    impl Links for Store {
        fn open(&mut self, id: Uuid) -> Result<Option<(Box<dyn Read + Send>, BoundKey)>> {
            Ok(self.0.get(&id).map(|s| {
                let key = crate::keys::KeyFile::new(
                    s.key.key(),
                    id,
                    1,
                    None,
                    crate::keys::WrapParams::default(),
                )
                .and_then(|f| f.unlock(None, crate::keys::KdfLimits::FORMAT))
                .unwrap();
                (
                    Box::new(io::Cursor::new(s.archive.clone())) as Box<dyn Read + Send>,
                    key,
                )
            }))
        }
    }

    fn sha(blob: &[u8]) -> String {
        hex::encode(Sha256::digest(blob))
    }

    /// The archive of backup `id` whose snapshot has `files` (a blob and the link holding
    /// it); a link of a chain when `base` names one, holding the blobs it names itself.
    fn archive(key: &BoundKey, files: &[(&[u8], Uuid)], base: Option<&Stored>) -> Vec<u8> {
        archive_claiming(key, files, base, None)
    }

    /// [`archive`], whose file line `claim.0` says its blob has `claim.1` bytes.
    fn archive_claiming(
        key: &BoundKey,
        files: &[(&[u8], Uuid)],
        base: Option<&Stored>,
        claim: Option<(usize, u64)>,
    ) -> Vec<u8> {
        let id: Uuid = key.backup_id().parse().unwrap();
        let link = base.is_some();
        let mut lines = String::new();
        let (mut counts, mut held) = (Counts::default(), Held::default());
        for (i, (blob, holder)) in files.iter().enumerate() {
            let size = match claim {
                Some((at, size)) if at == i => size,
                _ => blob.len() as u64,
            };
            let line = m::FileLine {
                id: format!("f{i}"),
                sha256: sha(blob),
                size,
                backup_id: link.then(|| holder.to_string()),
            };
            lines.push_str(&format!("{}\n", serde_json::to_string(&line).unwrap()));
            counts.files += 1;
            counts.bytes += size;
            if *holder == id {
                held.files += 1;
                held.bytes += blob.len() as u64;
            }
        }
        let metadata = Metadata {
            format: m::FORMAT.into(),
            format_version: if link { 2 } else { 1 },
            backup_id: id.to_string(),
            tenant: "t".into(),
            created_at: 1,
            server_version: "0".into(),
            compression: "none".into(),
            counts,
            base: base.map(|b| BaseLink {
                backup_id: b.key.backup_id().to_owned(),
                key_id: hex::encode(b.key.derive().key_id),
                archive_sha256: sha(&b.archive),
            }),
            held: link.then_some(held),
        };
        let mut tar = tar::Builder::new(Vec::new());
        let mut add = |name: &str, data: &[u8]| {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o600);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, name, data).unwrap();
        };
        add(m::METADATA, &serde_json::to_vec(&metadata).unwrap());
        for name in m::MANIFESTS {
            add(
                name,
                if name == m::FILES {
                    lines.as_bytes()
                } else {
                    b""
                },
            );
        }
        for (blob, holder) in files {
            if *holder == id {
                add(&format!("{}{}", m::BLOB_PREFIX, sha(blob)), blob);
            }
        }
        let plain = tar.into_inner().unwrap();
        let version = if link {
            CHAIN_FORMAT_VERSION
        } else {
            FORMAT_VERSION
        };
        seal_with(key, version, &plain, 64 * 1024, false, 1)
    }

    /// A full backup of {a, b}, a link adding c, and a link adding d without b: their ids,
    /// and the store holding the two earlier ones.
    fn chain() -> ([Uuid; 3], Store, Stored) {
        let ids = [Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4()];
        let keys = ids.map(bound_key);
        let [k0, k1, k2] = keys;
        let full = Stored {
            archive: archive(&k0, &[(b"a", ids[0]), (b"b", ids[0])], None),
            key: k0,
        };
        let files1: &[(&[u8], Uuid)] = &[(b"a", ids[0]), (b"b", ids[0]), (b"c", ids[1])];
        let one = Stored {
            archive: archive(&k1, files1, Some(&full)),
            key: k1,
        };
        let files2: &[(&[u8], Uuid)] = &[(b"a", ids[0]), (b"c", ids[1]), (b"d", ids[2])];
        let two = Stored {
            archive: archive(&k2, files2, Some(&one)),
            key: k2,
        };
        let mut store = Store::default();
        store.0.insert(ids[0], full);
        store.0.insert(ids[1], one);
        (ids, store, two)
    }

    fn verify_newest(newest: &Stored, store: &mut Store) -> Result<(Summary, Vec<Uuid>)> {
        verify(newest.archive.as_slice(), &newest.key, store, |_| {})
    }

    fn broken_at(result: Result<(Summary, Vec<Uuid>)>) -> Uuid {
        match result {
            Err(Error::ChainBroken { backup_id }) => backup_id,
            other => panic!("expected backup_chain_broken, got {other:?}"),
        }
    }

    #[test]
    fn a_whole_chain_verifies_and_names_its_links() {
        let (ids, mut store, newest) = chain();
        let (summary, links) = verify_newest(&newest, &mut store).unwrap();
        assert_eq!(links, vec![ids[2], ids[1], ids[0]]);
        assert_eq!(summary.counts.files, 3);
        assert_eq!(summary.counts.bytes, 3);
        assert_eq!(summary.held, Held { files: 1, bytes: 1 });
        assert_eq!(summary.base.unwrap().backup_id, ids[1].to_string());
        // A full backup is a chain of one.
        let full = store.0.remove(&ids[0]).unwrap();
        let (summary, links) = verify_newest(&full, &mut Store::default()).unwrap();
        assert_eq!((links, summary.base), (vec![ids[0]], None));
    }

    #[test]
    fn a_missing_altered_or_swapped_link_breaks_the_chain_there() {
        let (ids, mut store, newest) = chain();
        store.0.remove(&ids[0]);
        assert_eq!(broken_at(verify_newest(&newest, &mut store)), ids[0]);

        let (ids, mut store, newest) = chain();
        let one = store.0.get_mut(&ids[1]).unwrap();
        let last = one.archive.len() - 40;
        one.archive[last] ^= 1;
        assert_eq!(broken_at(verify_newest(&newest, &mut store)), ids[1]);

        // Another chain's full backup of the same id, under the same name: its own key
        // opens it, but it is not the archive the link after it names.
        let (ids, mut store, newest) = chain();
        let impostor_key = bound_key(ids[0]);
        let impostor = archive(&impostor_key, &[(b"a", ids[0]), (b"b", ids[0])], None);
        store.0.insert(
            ids[0],
            Stored {
                archive: impostor,
                key: impostor_key,
            },
        );
        assert_eq!(broken_at(verify_newest(&newest, &mut store)), ids[0]);

        // Bytes after the end of an earlier link.
        let (ids, mut store, newest) = chain();
        store.0.get_mut(&ids[0]).unwrap().archive.push(0);
        assert_eq!(broken_at(verify_newest(&newest, &mut store)), ids[0]);
    }

    #[test]
    fn a_blob_the_snapshot_takes_from_a_link_must_be_there() {
        let (ids, mut store, _) = chain();
        // The newest says link 1 holds e, which it does not.
        let key = bound_key(Uuid::new_v4());
        let own: Uuid = key.backup_id().parse().unwrap();
        let files: &[(&[u8], Uuid)] = &[(b"a", ids[0]), (b"e", ids[1]), (b"d", own)];
        let newest = Stored {
            archive: archive(&key, files, store.0.get(&ids[1])),
            key,
        };
        assert_eq!(broken_at(verify_newest(&newest, &mut store)), ids[1]);
        // … or a link that is not in the chain at all.
        let key = bound_key(Uuid::new_v4());
        let stranger = Uuid::new_v4();
        let files: &[(&[u8], Uuid)] = &[(b"a", ids[0]), (b"x", stranger)];
        let newest = Stored {
            archive: archive(&key, files, store.0.get(&ids[1])),
            key,
        };
        assert_eq!(broken_at(verify_newest(&newest, &mut store)), stranger);
        // … or one it holds, but not of the size the newest snapshot claims (which its
        // import would record).
        let key = bound_key(Uuid::new_v4());
        let own: Uuid = key.backup_id().parse().unwrap();
        let files: &[(&[u8], Uuid)] = &[(b"a", ids[0]), (b"c", ids[1]), (b"e", own)];
        let newest = Stored {
            archive: archive_claiming(&key, files, store.0.get(&ids[1]), Some((1, 5))),
            key,
        };
        assert_eq!(broken_at(verify_newest(&newest, &mut store)), ids[1]);
    }

    #[test]
    fn a_link_alone_verifies_its_own_blobs_and_a_version_1_reader_refuses_it() {
        let (_, _, newest) = chain();
        let summary = crate::verify::verify(newest.archive.as_slice(), &newest.key, |_| {});
        assert_eq!(summary.unwrap().held, Held { files: 1, bytes: 1 });
        // A header asking for a reader newer than this one is refused unread.
        let mut bytes = [0u8; crate::format::HEADER_LEN];
        bytes.copy_from_slice(&newest.archive[..crate::format::HEADER_LEN]);
        assert_eq!(
            u16::from_be_bytes([bytes[10], bytes[11]]),
            CHAIN_FORMAT_VERSION
        );
        bytes[10..12].copy_from_slice(&(crate::format::READER_VERSION + 1).to_be_bytes());
        let e = crate::format::Header::parse(&bytes).unwrap_err();
        assert_eq!(e.code(), ErrorCode::BackupUnsupportedVersion);
    }
}
