//! The segment layer as `std::io` streams: [`SegmentWriter`] cuts a plaintext stream into
//! segments, compresses/encrypts/MACs them on all cores and writes them in order;
//! [`SegmentReader`] verifies each segment before releasing a byte of it.
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use api_spec::ErrorCode;

use super::format::{self, HEADER_LEN, Header, RawSegment, SEGMENT_SLACK};
use super::keys::DerivedKeys;
use crate::error::{Error, Result, fail};

/// An `io::Error` carrying an error code, so codes survive `Read`/`Write` plumbing (tar).
#[derive(Debug)]
pub struct Coded(pub ErrorCode);

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::error::Error for Coded {}

pub fn coded(code: ErrorCode) -> io::Error {
    io::Error::other(Coded(code))
}

/// The code an `io::Error` carries, if it is one of ours.
pub fn code_of(e: &io::Error) -> Option<ErrorCode> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Coded>())
        .map(|c| c.0)
}

/// Turns an I/O error from the archive layer into a coded error (internal if uncoded).
pub fn from_io(e: io::Error) -> Error {
    match code_of(&e) {
        Some(code) => fail(code),
        None if e.kind() == io::ErrorKind::UnexpectedEof => fail(ErrorCode::BackupTruncated),
        None => Error::Internal(format!("archive i/o: {e}")),
    }
}

fn to_io(e: Error) -> io::Error {
    match e {
        Error::Api { code, .. } => coded(code),
        other => io::Error::other(other.to_string()),
    }
}

type Job = (u64, bool, Vec<u8>);
type Done = (u64, Result<Vec<u8>>);

/// Starts `workers` threads taking jobs from `jobs` and running `work` on each, until the
/// queue closes or `work` returns false (its receiver is gone).
fn pool<J: Send + 'static>(
    workers: usize,
    jobs: Receiver<J>,
    work: impl Fn(J) -> bool + Send + Clone + 'static,
) -> Vec<JoinHandle<()>> {
    let jobs = Arc::new(std::sync::Mutex::new(jobs));
    (0..workers)
        .map(|_| {
            let (jobs, work) = (Arc::clone(&jobs), work.clone());
            std::thread::spawn(move || {
                loop {
                    let next = jobs.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok(job) = next else { return };
                    if !work(job) {
                        return;
                    }
                }
            })
        })
        .collect()
}

/// Writes segments of a plaintext stream: cut on the caller's thread, sealed by a pool of
/// worker threads, and written in order (and so hashed, by a hashing `W`) on an output
/// thread, so the caller's thread only produces plaintext.
pub struct SegmentWriter<W: Write + Send + 'static> {
    segment_size: usize,
    buf: Vec<u8>,
    next_index: u64,
    jobs: Option<SyncSender<Job>>,
    /// One message per segment written.
    written: Receiver<()>,
    in_flight: usize,
    max_in_flight: usize,
    workers: Vec<JoinHandle<()>>,
    output: Option<JoinHandle<io::Result<W>>>,
}

/// The output thread: writes sealed segments to `out` in index order, acknowledging each.
fn write_in_order<W: Write>(
    mut out: W,
    sealed: Receiver<Done>,
    written: std::sync::mpsc::Sender<()>,
) -> io::Result<W> {
    let mut ready = BTreeMap::new();
    let mut next = 0u64;
    // Ends when every worker is gone: after the last job, or when sealing failed.
    for (index, segment) in sealed {
        ready.insert(index, segment.map_err(to_io)?);
        while let Some(segment) = ready.remove(&next) {
            out.write_all(&segment)?;
            next += 1;
            // The writer may have given up already; then nobody needs to know.
            let _ = written.send(());
        }
    }
    out.flush()?;
    Ok(out)
}

impl<W: Write + Send + 'static> SegmentWriter<W> {
    /// Writes the header and starts `workers` sealing threads and the output thread.
    pub fn new(
        mut out: W,
        keys: Arc<DerivedKeys>,
        header: &Header,
        header_bytes: &[u8; HEADER_LEN],
        workers: usize,
    ) -> io::Result<Self> {
        out.write_all(header_bytes)?;
        let workers = workers.max(1);
        let max_in_flight = workers * 2;
        let (job_tx, job_rx) = sync_channel::<Job>(max_in_flight);
        let (done_tx, done_rx) = sync_channel::<Done>(max_in_flight);
        let (written_tx, written_rx) = std::sync::mpsc::channel();
        let compress = header.compressed();
        let header_mac = header.mac;
        let handles = pool(workers, job_rx, move |(index, last, plain): Job| {
            let sealed = if compress {
                zstd::bulk::compress(&plain, 3)
                    .map_err(|e| Error::Internal(format!("zstd: {e}")))
                    .and_then(|body| format::seal_segment(&keys, &header_mac, index, last, &body))
            } else {
                format::seal_segment(&keys, &header_mac, index, last, &plain)
            };
            done_tx.send((index, sealed)).is_ok()
        });
        let output = std::thread::spawn(move || write_in_order(out, done_rx, written_tx));
        Ok(Self {
            segment_size: header.segment_size as usize,
            buf: Vec::with_capacity(header.segment_size as usize * 2),
            next_index: 0,
            jobs: Some(job_tx),
            written: written_rx,
            in_flight: 0,
            max_in_flight,
            workers: handles,
            output: Some(output),
        })
    }

    /// Why the pipeline stopped: the output thread's error (sealing or writing).
    fn failure(&mut self) -> io::Error {
        self.jobs = None;
        match self.output.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            _ => io::Error::other("sealing pipeline stopped"),
        }
    }

    fn dispatch(&mut self, plain: Vec<u8>, last: bool) -> io::Result<()> {
        while self.in_flight >= self.max_in_flight {
            if self.written.recv().is_err() {
                return Err(self.failure());
            }
            self.in_flight -= 1;
        }
        let sent = match &self.jobs {
            Some(jobs) => jobs.send((self.next_index, last, plain)).is_ok(),
            None => false,
        };
        if !sent {
            return Err(self.failure());
        }
        self.next_index += 1;
        self.in_flight += 1;
        Ok(())
    }

    /// Seals the final segment, writes everything, and returns the output and the number
    /// of segments.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        let rest = std::mem::take(&mut self.buf);
        self.dispatch(rest, true)?;
        self.jobs = None;
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
        let out = match self.output.take().map(JoinHandle::join) {
            Some(Ok(result)) => result?,
            _ => return Err(io::Error::other("sealing output thread failed")),
        };
        Ok((out, self.next_index))
    }
}

impl<W: Write + Send + 'static> Write for SegmentWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        // A full segment is sent only once more data exists: only then is it known not to be
        // the final one.
        while self.buf.len() > self.segment_size {
            // The next segment's buffer is allocated whole, so filling it never reallocates.
            let mut rest = Vec::with_capacity(self.segment_size + data.len());
            rest.extend_from_slice(&self.buf[self.segment_size..]);
            self.buf.truncate(self.segment_size);
            let full = std::mem::replace(&mut self.buf, rest);
            self.dispatch(full, false)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

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
    /// Reads and authenticates the header with `keys`.
    pub fn open(mut inner: R, keys: DerivedKeys) -> Result<Self> {
        let mut bytes = [0u8; HEADER_LEN];
        inner.read_exact(&mut bytes).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => fail(ErrorCode::BackupNotAnArchive),
            _ => from_io(e),
        })?;
        let header = Header::parse(&bytes)?;
        header.authenticate(&bytes, &keys)?;
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

/// Copies what `out` can take of `plain[*pos..]` and advances `pos`: the read half of a
/// reader that decrypts a block of plaintext at a time.
pub fn serve(plain: &[u8], pos: &mut usize, out: &mut [u8]) -> usize {
    let n = out.len().min(plain.len().saturating_sub(*pos));
    out[..n].copy_from_slice(&plain[*pos..*pos + n]);
    *pos += n;
    n
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::backup::keys::BackupKey;

    fn seal(
        plain: &[u8],
        segment_size: u32,
        compress: bool,
        workers: usize,
    ) -> (BackupKey, Vec<u8>) {
        let key = BackupKey::generate();
        let keys = Arc::new(key.derive());
        let flags = if compress { format::FLAG_ZSTD } else { 0 };
        let (header, bytes) =
            Header::seal(&keys, flags, segment_size, uuid::Uuid::new_v4(), 1).unwrap();
        let mut w = SegmentWriter::new(Vec::new(), keys, &header, &bytes, workers).unwrap();
        // Uneven writes, as tar makes them.
        for piece in plain.chunks(7919) {
            w.write_all(piece).unwrap();
        }
        let (out, _) = w.finish().unwrap();
        (key, out)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn segments_round_trip(len in 0usize..400_000, seg in 0u32..3, compress: bool, workers in 1usize..4) {
            let segment_size = [64 * 1024, 100_000, 256 * 1024][seg as usize];
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 253) as u8).collect();
            let (key, archive) = seal(&plain, segment_size, compress, workers);
            let mut reader = SegmentReader::open(archive.as_slice(), key.derive()).unwrap();
            let mut back = Vec::new();
            reader.read_to_end(&mut back).unwrap();
            prop_assert!(reader.finished());
            prop_assert_eq!(back, plain);
        }

        #[test]
        fn any_single_flipped_bit_is_detected(at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let plain: Vec<u8> = (0..150_000).map(|i| (i % 251) as u8).collect();
            let (key, mut archive) = seal(&plain, 64 * 1024, false, 2);
            let at = at.index(archive.len());
            archive[at] ^= 1 << bit;
            let result = SegmentReader::open(archive.as_slice(), key.derive())
                .and_then(|mut r| { let mut v = Vec::new(); r.read_to_end(&mut v).map_err(from_io).map(|_| v) });
            prop_assert!(result.is_err(), "flip at {} went unnoticed", at);
        }
    }
}
