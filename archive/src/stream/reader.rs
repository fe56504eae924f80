//! [`SegmentReader`]: an archive's plaintext, each segment verified before a byte of it is
//! released, with the segments opened on a worker pool.
use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use api_spec::ErrorCode;

use super::{coded, from_io, pool, serve, to_io};
use crate::error::{Result, fail};
use crate::format::{self, HEADER_LEN, Header, RawSegment, SEGMENT_SLACK};
use crate::keys::{BoundKey, DerivedKeys};

/// Reads the plaintext of an archive, verifying each segment first. Segments are framed on
/// the caller's thread and opened (MAC, decryption, decompression) by a pool of worker
/// threads, one per core, a few segments ahead; they are released strictly in order, and an
/// error is reported where it occurs in the stream.
pub struct SegmentReader<R: Read> {
    inner: R,
    keys: Arc<DerivedKeys>,
    header: Header,
    next_index: u64,
    /// Segments framed and being opened, oldest first.
    pending: VecDeque<Opening>,
    /// The final segment (or an error) has been framed: nothing more is read from `inner`.
    framed_all: bool,
    workers: Option<Workers>,
    /// An error was reported: nothing more is served.
    failed: bool,
    plain: Vec<u8>,
    pos: usize,
    /// Archive bytes consumed so far (header included), for progress.
    pub consumed: u64,
}

/// A segment on its way to plaintext.
enum Opening {
    Queued(Receiver<io::Result<Vec<u8>>>),
    Failed(io::Error),
}

type OpenJob = (u64, RawSegment, SyncSender<io::Result<Vec<u8>>>);

struct Workers {
    jobs: SyncSender<OpenJob>,
    max_in_flight: usize,
}

/// Segment bytes a reader keeps framed ahead of what it has served, at most (with at least two
/// segments in flight).
const READ_AHEAD: usize = 64 * 1024 * 1024;

/// Positions tried when a tag fails, to tell reordering from corruption.
const LOOKAROUND: u64 = 64;

/// Verifies, decrypts and (if the header says so) decompresses one segment.
fn open_body(keys: &DerivedKeys, header: &Header, index: u64, raw: &RawSegment) -> Result<Vec<u8>> {
    let body = format::open_segment(keys, &header.mac, index, raw, LOOKAROUND)?;
    let plain = if header.compressed() {
        zstd::bulk::decompress(&body, header.segment_size as usize)
            .map_err(|_| fail(ErrorCode::BackupManifestInvalid))?
    } else {
        body
    };
    if plain.len() > header.segment_size as usize {
        return Err(fail(ErrorCode::BackupManifestInvalid));
    }
    Ok(plain)
}

impl<R: Read> SegmentReader<R> {
    /// Reads the header, authenticates it with `key`, and checks that it is of the backup
    /// `key`'s file names (`BoundKey::check`): the one place every reader of an archive passes.
    pub fn open(mut inner: R, key: &BoundKey) -> Result<Self> {
        let mut bytes = [0u8; HEADER_LEN];
        inner.read_exact(&mut bytes).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => fail(ErrorCode::BackupNotAnArchive),
            _ => from_io(e),
        })?;
        let header = Header::parse(&bytes)?;
        let keys = key.derive();
        header.authenticate(&bytes, &keys)?;
        key.check(&header)?;
        Ok(Self {
            inner,
            keys: Arc::new(keys),
            header,
            next_index: 0,
            pending: VecDeque::new(),
            framed_all: false,
            workers: None,
            failed: false,
            plain: Vec::new(),
            pos: 0,
            consumed: HEADER_LEN as u64,
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Fills `buf` exactly, or reports a truncated archive.
    fn read_exact_or_truncated(&mut self, buf: &mut [u8]) -> io::Result<()> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => coded(ErrorCode::BackupTruncated),
            _ => e,
        })?;
        self.consumed += buf.len() as u64;
        Ok(())
    }

    /// Reads the next segment's frame, and whether anything follows it that should not (only
    /// the final segment is checked: its own tag must be reported before that).
    fn frame(&mut self) -> io::Result<(RawSegment, bool)> {
        let mut prefix = [0u8; 5];
        self.read_exact_or_truncated(&mut prefix)?;
        let len = u32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        let last = match prefix[4] {
            0 => false,
            1 => true,
            _ => return Err(coded(ErrorCode::BackupMacMismatch)),
        };
        if len == 0 || len % 16 != 0 || len > self.header.segment_size + SEGMENT_SLACK {
            return Err(coded(ErrorCode::BackupMacMismatch));
        }
        let mut iv = [0u8; 16];
        self.read_exact_or_truncated(&mut iv)?;
        let mut ciphertext = vec![0u8; len as usize];
        self.read_exact_or_truncated(&mut ciphertext)?;
        let mut tag = [0u8; 32];
        self.read_exact_or_truncated(&mut tag)?;
        let trailing = last && self.anything_follows()?;
        let raw = RawSegment {
            last,
            iv,
            ciphertext,
            tag,
        };
        Ok((raw, trailing))
    }

    /// Whether any byte follows (read after the final segment).
    fn anything_follows(&mut self) -> io::Result<bool> {
        let mut probe = [0u8; 1];
        loop {
            match self.inner.read(&mut probe) {
                Ok(n) => return Ok(n != 0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The worker pool, started on the first segment (opening an archive only to check its
    /// header starts no threads).
    fn workers(&mut self) -> &Workers {
        let (keys, header) = (Arc::clone(&self.keys), self.header.clone());
        self.workers.get_or_insert_with(|| {
            let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
            // Two segments per worker ahead, but never more than READ_AHEAD bytes of them.
            let by_bytes = READ_AHEAD / (header.segment_size as usize).max(1);
            let max_in_flight = (workers * 2).min(by_bytes.max(2));
            let workers = workers.min(max_in_flight);
            let (jobs, queue) = sync_channel::<OpenJob>(max_in_flight);
            // The threads end when `jobs` is dropped with the reader.
            drop(pool(workers, queue, move |(index, raw, reply): OpenJob| {
                let opened = open_body(&keys, &header, index, &raw).map_err(to_io);
                // The reader may be gone (it stopped early): not this worker's concern.
                let _ = reply.send(opened);
                true
            }));
            Workers {
                jobs,
                max_in_flight,
            }
        })
    }

    /// Frames segments and hands them to the workers until enough are in flight.
    fn fill(&mut self) {
        while !self.framed_all && self.pending.len() < self.workers().max_in_flight {
            let (opening, trailing) = match self.frame() {
                Ok((raw, trailing)) => {
                    self.framed_all = raw.last;
                    let (reply, result) = sync_channel(1);
                    let index = self.next_index;
                    match self.workers().jobs.send((index, raw, reply)) {
                        Ok(()) => (Opening::Queued(result), trailing),
                        Err(_) => (Opening::Failed(io::Error::other("workers stopped")), false),
                    }
                }
                Err(e) => {
                    self.framed_all = true;
                    (Opening::Failed(e), false)
                }
            };
            self.next_index += 1;
            self.pending.push_back(opening);
            if trailing {
                let after = coded(ErrorCode::BackupTrailingData);
                self.pending.push_back(Opening::Failed(after));
            }
        }
    }

    /// After the plaintext is consumed: whether the final segment was reached.
    pub fn finished(&self) -> bool {
        !self.failed && self.framed_all && self.pending.is_empty() && self.pos >= self.plain.len()
    }
}

impl<R: Read> Read for SegmentReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.plain.len() {
            if self.failed {
                return Err(io::Error::other("archive read after an error"));
            }
            self.fill();
            let Some(next) = self.pending.pop_front() else {
                return Ok(0);
            };
            let opened = match next {
                Opening::Queued(result) => result
                    .recv()
                    .unwrap_or_else(|_| Err(io::Error::other("opening workers stopped"))),
                Opening::Failed(e) => Err(e),
            };
            match opened {
                Ok(plain) => self.plain = plain,
                Err(e) => {
                    // Nothing after an error is served.
                    self.failed = true;
                    self.pending.clear();
                    return Err(e);
                }
            }
            self.pos = 0;
        }
        Ok(serve(&self.plain, &mut self.pos, out))
    }
}
