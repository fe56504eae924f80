//! The segment layer as `std::io` streams: [`SegmentWriter`] cuts a plaintext stream into
//! segments, compresses/encrypts/MACs them on all cores and writes them in order;
//! [`SegmentReader`] verifies each segment before releasing a byte of it.
use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use api_spec::ErrorCode;

use super::format::{self, HEADER_LEN, Header};
use super::keys::DerivedKeys;
use crate::error::{Error, Result, fail};

mod reader;

pub use reader::SegmentReader;

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

/// Turns an I/O error from the archive layer into a coded error: the code it carries, an
/// [`Error`] passed through it (a caller's, say) as it was, internal otherwise.
pub fn from_io(e: io::Error) -> Error {
    if let Some(code) = code_of(&e) {
        return fail(code);
    }
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return fail(ErrorCode::BackupTruncated);
    }
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        if let Some(Ok(ours)) = e.into_inner().map(|inner| inner.downcast::<Error>()) {
            return *ours;
        }
        return Error::Internal("archive i/o".into());
    }
    Error::Internal(format!("archive i/o: {e}"))
}

fn to_io(e: Error) -> io::Error {
    match e {
        Error::Api { code } => coded(code),
        other => io::Error::other(other),
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

/// Copies what `out` can take of `plain[*pos..]` and advances `pos`: the read half of a
/// reader that decrypts a block of plaintext at a time.
pub fn serve(plain: &[u8], pos: &mut usize, out: &mut [u8]) -> usize {
    let n = out.len().min(plain.len().saturating_sub(*pos));
    out[..n].copy_from_slice(&plain[*pos..*pos + n]);
    *pos += n;
    n
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Read;

    use proptest::prelude::*;

    use super::*;
    use crate::keys::{BackupKey, BoundKey, KeyFile, WrapParams};

    /// A fresh key, as its key file unlocks it, for a backup with `backup_id`.
    pub(crate) fn bound_key(backup_id: uuid::Uuid) -> BoundKey {
        let file = KeyFile::new(
            &BackupKey::generate(),
            backup_id,
            1,
            None,
            WrapParams::default(),
        );
        file.and_then(|f| f.unlock(None, crate::keys::KdfLimits::FORMAT))
            .unwrap()
    }

    /// `plain` sealed as the archive of `backup_id`, and the key that opens it.
    pub(crate) fn seal(
        backup_id: uuid::Uuid,
        plain: &[u8],
        segment_size: u32,
        compress: bool,
        workers: usize,
    ) -> (BoundKey, Vec<u8>) {
        let key = bound_key(backup_id);
        let archive = seal_with(
            &key,
            format::FORMAT_VERSION,
            plain,
            segment_size,
            compress,
            workers,
        );
        (key, archive)
    }

    /// `plain` sealed with `key` as an archive of format `version`.
    pub(crate) fn seal_with(
        key: &BoundKey,
        version: u16,
        plain: &[u8],
        segment_size: u32,
        compress: bool,
        workers: usize,
    ) -> Vec<u8> {
        let backup_id: uuid::Uuid = key.backup_id().parse().unwrap();
        let keys = Arc::new(key.derive());
        let flags = if compress { format::FLAG_ZSTD } else { 0 };
        let (header, bytes) =
            Header::seal(&keys, version, flags, segment_size, backup_id, 1).unwrap();
        let mut w = SegmentWriter::new(Vec::new(), keys, &header, &bytes, workers).unwrap();
        // Uneven writes, as tar makes them.
        for piece in plain.chunks(7919) {
            w.write_all(piece).unwrap();
        }
        let (out, _) = w.finish().unwrap();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn segments_round_trip(len in 0usize..400_000, seg in 0u32..3, compress: bool, workers in 1usize..4) {
            let segment_size = [64 * 1024, 100_000, 256 * 1024][seg as usize];
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 253) as u8).collect();
            let (key, archive) = seal(uuid::Uuid::new_v4(), &plain, segment_size, compress, workers);
            let mut reader = SegmentReader::open(archive.as_slice(), &key).unwrap();
            let mut back = Vec::new();
            reader.read_to_end(&mut back).unwrap();
            prop_assert!(reader.finished());
            prop_assert_eq!(back, plain);
        }

        #[test]
        fn any_single_flipped_bit_is_detected(at in any::<prop::sample::Index>(), bit in 0u8..8) {
            let plain: Vec<u8> = (0..150_000).map(|i| (i % 251) as u8).collect();
            let (key, mut archive) = seal(uuid::Uuid::new_v4(), &plain, 64 * 1024, false, 2);
            let at = at.index(archive.len());
            archive[at] ^= 1 << bit;
            let result = SegmentReader::open(archive.as_slice(), &key)
                .and_then(|mut r| { let mut v = Vec::new(); r.read_to_end(&mut v).map_err(from_io).map(|_| v) });
            prop_assert!(result.is_err(), "flip at {} went unnoticed", at);
        }

        /// Anything at all, an authentic header followed by anything, or an authentic prefix
        /// followed by anything: never a panic, and refused with a code (`internal` is for
        /// faults of the machine, and reading from memory has none) unless it is the archive.
        #[test]
        fn arbitrary_bytes_are_refused_with_a_code(
            prefix in 0u8..3,
            cut in any::<prop::sample::Index>(),
            junk in prop::collection::vec(any::<u8>(), 0..2048),
        ) {
            let plain: Vec<u8> = (0..100_000).map(|i| (i % 251) as u8).collect();
            let (key, archive) = seal(uuid::Uuid::new_v4(), &plain, 64 * 1024, prefix == 2, 1);
            let keep = match prefix {
                0 => 0,
                1 => format::HEADER_LEN,
                _ => cut.index(archive.len() + 1),
            };
            let mut bytes = archive[..keep].to_vec();
            bytes.extend_from_slice(&junk);
            let result = SegmentReader::open(bytes.as_slice(), &key).and_then(|mut r| {
                let mut v = Vec::new();
                r.read_to_end(&mut v).map_err(from_io).map(|_| v)
            });
            match result {
                Ok(back) => prop_assert!(bytes == archive && back == plain),
                Err(e) => prop_assert_ne!(e.code(), ErrorCode::Internal, "{:?}", e),
            }
        }
    }
}
