//! The plaintext under the verifying tar walk (`verify::walk`): which errors are the segment
//! stream's and which are the tar's, and how the tar must end.
//!
//! The tar crate passes the errors of the reader it reads from on unchanged and reports its
//! own complaints (a header checksum that does not add up, a size field that is not a number
//! or overflows, a header cut short) as plain `io::Error`s. So the reader under it marks every
//! error as the stream's ([`Plaintext`]), and [`read_err`] gives an unmarked one the
//! archive's fault: `backup_manifest_invalid`. The alternative — matching the tar crate's
//! messages — would break silently with its next release.
use std::io::{self, Read, Write};

use api_spec::ErrorCode;

use super::stream::{SegmentReader, from_io};
use crate::error::{Error, Result, fail};

/// Where an I/O error met by the walk came from, carried through the tar crate and the
/// walk's `Read` adapters.
#[derive(Debug)]
pub enum Origin {
    /// The segment stream: coded already (truncated, a failed tag, …), or a fault of the
    /// machine under it.
    Stream(io::Error),
    /// The walk's own temp files.
    Spool(io::Error),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Stream(e) => write!(f, "archive stream: {e}"),
            Origin::Spool(e) => write!(f, "verification spool: {e}"),
        }
    }
}

impl std::error::Error for Origin {}

/// The archive's plaintext as the tar crate reads it: each error marked as the stream's.
pub struct Plaintext<'a, R: Read>(pub &'a mut SegmentReader<R>);

impl<R: Read> Read for Plaintext<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::other(Origin::Stream(e)))
    }
}

/// A failure of the walk's own temp files: the machine's, not the archive's.
pub fn spool_err(e: io::Error) -> Error {
    Error::Internal(format!("verification spool: {e}"))
}

/// What a failed read during the walk means: the stream's error keeps its code, a spool's is
/// internal, and anything else (the tar crate's own errors, a member that is not UTF-8 text
/// where lines are read) is the archive breaking the format.
pub fn read_err(e: io::Error) -> Error {
    let Some(inner) = e.into_inner() else {
        return fail(ErrorCode::BackupManifestInvalid);
    };
    match inner.downcast::<Origin>() {
        Ok(origin) => match *origin {
            Origin::Stream(e) => from_io(e),
            Origin::Spool(e) => spool_err(e),
        },
        Err(_) => fail(ErrorCode::BackupManifestInvalid),
    }
}

/// A member's size as the writer writes it: octal, or from 8 GiB on base-256 the way the tar
/// crate writes it (`0x80`, three zero bytes, then the size in 8 bytes). The tar crate reads
/// any field with the high bit set as its last 8 bytes, so a negative base-256 number
/// (leading `0xff`) can pass as a small size that another reader would refuse: the reader
/// accepts only the form the writer uses.
pub fn member_size(header: &tar::Header) -> Result<u64> {
    let field = &header.as_old().size;
    if field[0] & 0x80 != 0 && field[..4] != [0x80, 0, 0, 0] {
        return Err(fail(ErrorCode::BackupManifestInvalid));
    }
    header
        .entry_size()
        .map_err(|_| fail(ErrorCode::BackupManifestInvalid))
}

const BLOCK: u64 = 512;

/// Counts what is written to it and whether any of it was not zero.
#[derive(Default)]
struct Rest {
    len: u64,
    nonzero: bool,
}

impl Write for Rest {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.len += buf.len() as u64;
        self.nonzero |= buf.iter().any(|b| *b != 0);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// After the tar walk: reads the rest of the stream, which must authenticate to its final
/// segment (else its code, or `backup_truncated`) and be exactly one zero block. The writer
/// ends its tar with two zero blocks (`tar::Builder::into_inner`), and the tar crate's
/// iterator stops after the first — or, without complaint, at the end of the plaintext. So a
/// tar without its end blocks, with one, or with anything after them is one this writer never
/// made, and is refused (`backup_manifest_invalid`) rather than imported. The rest is
/// streamed, not buffered: a hostile archive may put gigabytes there.
pub fn check_end<R: Read>(reader: &mut SegmentReader<R>) -> Result<()> {
    let mut rest = Rest::default();
    io::copy(reader, &mut rest).map_err(from_io)?;
    if !reader.finished() {
        return Err(fail(ErrorCode::BackupTruncated));
    }
    if rest.len != BLOCK || rest.nonzero {
        return Err(fail(ErrorCode::BackupManifestInvalid));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use sha2::{Digest, Sha256};

    use super::*;
    use crate::manifest::{self as m, Counts, Metadata};
    use crate::stream::tests::seal;
    use crate::verify::verify;

    const BLOB: &[u8] = b"the bytes of the only file";

    /// The plaintext of a small valid archive of `backup_id`: metadata, the six manifests
    /// (one line in `files.jsonl`) and one blob, ended as the writer ends it.
    fn plain_tar(backup_id: uuid::Uuid) -> Vec<u8> {
        let sha = hex::encode(Sha256::digest(BLOB));
        let line = serde_json::json!({"id": "f1", "sha256": sha, "size": BLOB.len()});
        let metadata = Metadata {
            format: m::FORMAT.into(),
            format_version: 1,
            backup_id: backup_id.to_string(),
            tenant: "t".into(),
            created_at: 1,
            server_version: "0".into(),
            compression: "none".into(),
            counts: Counts {
                files: 1,
                bytes: BLOB.len() as u64,
                ..Counts::default()
            },
            base: None,
            held: None,
        };
        let mut members = vec![(
            m::METADATA.to_owned(),
            serde_json::to_vec(&metadata).unwrap(),
        )];
        for name in m::MANIFESTS {
            let data = if name == m::FILES {
                format!("{line}\n")
            } else {
                String::new()
            };
            members.push((name.to_owned(), data.into_bytes()));
        }
        members.push((format!("{}{sha}", m::BLOB_PREFIX), BLOB.to_vec()));
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o600);
            header.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut header, name, data.as_slice()).unwrap();
        }
        tar.into_inner().unwrap()
    }

    /// `edit` applied to `plain` (a valid archive's plaintext), sealed and verified.
    fn verify_edited(edit: impl FnOnce(&mut Vec<u8>)) -> Result<()> {
        let id = uuid::Uuid::new_v4();
        let mut plain = plain_tar(id);
        edit(&mut plain);
        let (key, archive) = seal(id, &plain, 64 * 1024, false, 1);
        verify(archive.as_slice(), &key, |_| {}).map(|_| ())
    }

    /// Rewrites the header block at `at` and fixes its checksum.
    fn edit_header(plain: &mut [u8], at: usize, edit: impl FnOnce(&mut [u8])) {
        let mut header = tar::Header::new_old();
        header
            .as_mut_bytes()
            .copy_from_slice(&plain[at..at + BLOCK as usize]);
        edit(header.as_mut_bytes());
        header.set_cksum();
        plain[at..at + BLOCK as usize].copy_from_slice(header.as_bytes());
    }

    /// The size field of a header block.
    const SIZE: std::ops::Range<usize> = 124..136;

    #[test]
    fn malformed_tar_is_refused_with_a_code() {
        verify_edited(|_| {}).unwrap();
        type Change = fn(&mut Vec<u8>);
        let cases: [(&str, Change); 8] = [
            ("bad header checksum", |p| p[148] ^= 1),
            ("negative base-256 size", |p| {
                edit_header(p, 0, |h| h[SIZE].fill(0xff));
            }),
            ("negative base-256 size the tar crate reads as small", |p| {
                edit_header(p, 0, |h| {
                    h[SIZE].copy_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 16]);
                });
            }),
            ("garbage in the size field", |p| {
                edit_header(p, 0, |h| h[SIZE].copy_from_slice(b"12x4garbage\0"));
            }),
            ("no end blocks", |p| p.truncate(p.len() - 1024)),
            ("one end block", |p| p.truncate(p.len() - 512)),
            ("a third end block", |p| p.extend_from_slice(&[0; 512])),
            ("plaintext after the end blocks", |p| {
                p.extend_from_slice(b"not part of any member");
            }),
        ];
        let wrong: Vec<String> = cases
            .into_iter()
            .filter_map(|(case, edit)| match verify_edited(edit) {
                Err(e) if e.code() == ErrorCode::BackupManifestInvalid => None,
                other => Some(format!("{case}: {other:?}")),
            })
            .collect();
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    /// One change to a plaintext: a byte overwritten, the end cut off, bytes appended, or a
    /// range taken out.
    #[derive(Debug, Clone)]
    enum Edit {
        Set(prop::sample::Index, u8),
        Cut(prop::sample::Index),
        Append(Vec<u8>),
        Remove(prop::sample::Index, usize),
    }

    fn edits() -> impl Strategy<Value = Edit> {
        prop_oneof![
            6 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
            1 => any::<prop::sample::Index>().prop_map(Edit::Cut),
            1 => prop::collection::vec(any::<u8>(), 1..1100).prop_map(Edit::Append),
            1 => (any::<prop::sample::Index>(), 1usize..1100).prop_map(|(i, n)| Edit::Remove(i, n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// A valid archive's plaintext, changed and sealed correctly (so every segment
        /// verifies): the walk never panics, and answers success or a code, never `internal`.
        #[test]
        fn edited_tar_streams_are_ok_or_coded(changes in prop::collection::vec(edits(), 1..4)) {
            let result = verify_edited(|p| {
                for change in changes {
                    match change {
                        Edit::Set(at, b) if !p.is_empty() => {
                            let at = at.index(p.len());
                            p[at] = b;
                        }
                        Edit::Set(..) => {}
                        Edit::Cut(at) => p.truncate(at.index(p.len() + 1)),
                        Edit::Append(bytes) => p.extend_from_slice(&bytes),
                        Edit::Remove(at, n) => {
                            let at = at.index(p.len() + 1);
                            p.drain(at..(at + n).min(p.len()));
                        }
                    }
                }
            });
            if let Err(e) = result {
                prop_assert_ne!(e.code(), ErrorCode::Internal, "{}", e);
            }
        }
    }
}
