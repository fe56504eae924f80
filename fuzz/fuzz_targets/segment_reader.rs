//! `SegmentReader` with the fixed key over three kinds of input: raw bytes (the header
//! check), an authentic header followed by raw bytes (the segment framing), and authentic
//! segments that may be reordered, mis-marked, cut or followed by junk (ordering, the final
//! flag, truncation, trailing data). It never panics and never reports an uncoded error; a
//! well-formed archive reads back exactly its plaintext.
#![no_main]

use std::io::Read;

use api_spec::ErrorCode;
use arbitrary::Arbitrary;
use coffer::archive::format::{FLAG_ZSTD, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE};
use coffer::archive::stream::{SegmentReader, from_io};
use coffer_fuzz::{SEGMENT_SIZE, header, key, segment};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Segment {
    plain: Vec<u8>,
    /// Added to the segment's true index when sealing (0: in order).
    shift: u8,
    /// Flips the final flag the sealing would give it.
    flip_last: bool,
}

#[derive(Debug, Arbitrary)]
enum Input {
    Raw(Vec<u8>),
    AfterHeader {
        compress: bool,
        segment_size: u32,
        rest: Vec<u8>,
    },
    Sealed {
        compress: bool,
        segments: Vec<Segment>,
        /// Cut this many bytes off the end.
        cut: u16,
        tail: Vec<u8>,
    },
}

/// Reads all of `archive`; the plaintext, or the code of the error.
fn read(archive: &[u8]) -> Result<Vec<u8>, ErrorCode> {
    let mut reader = SegmentReader::open(archive, &key()).map_err(|e| e.code())?;
    let mut plain = Vec::new();
    reader
        .read_to_end(&mut plain)
        .map_err(|e| from_io(e).code())?;
    if !reader.finished() {
        return Err(ErrorCode::BackupTruncated);
    }
    Ok(plain)
}

fuzz_target!(|input: Input| {
    let keys = key().derive();
    let flags = |compress: bool| if compress { FLAG_ZSTD } else { 0 };
    let (archive, expected) = match input {
        Input::Raw(bytes) => (bytes, None),
        Input::AfterHeader {
            compress,
            segment_size,
            rest,
        } => {
            let size = segment_size.clamp(MIN_SEGMENT_SIZE, MAX_SEGMENT_SIZE);
            let mut archive = header(&keys, flags(compress), size).1.to_vec();
            archive.extend(rest);
            (archive, None)
        }
        Input::Sealed {
            compress,
            segments,
            cut,
            tail,
        } => {
            let (h, bytes) = header(&keys, flags(compress), SEGMENT_SIZE);
            let mut archive = bytes.to_vec();
            let mut plain = Vec::new();
            let mut well_formed = !segments.is_empty() && cut == 0 && tail.is_empty();
            let count = segments.len();
            for (i, s) in segments.into_iter().enumerate() {
                let last = (i + 1 == count) != s.flip_last;
                let body = &s.plain[..s.plain.len().min(SEGMENT_SIZE as usize)];
                archive.extend(segment(
                    &keys,
                    &h,
                    i as u64 + u64::from(s.shift),
                    last,
                    body,
                ));
                plain.extend_from_slice(body);
                well_formed &= s.shift == 0 && !s.flip_last;
            }
            archive.truncate(archive.len().saturating_sub(usize::from(cut)));
            archive.extend(tail);
            (archive, well_formed.then_some(plain))
        }
    };
    let result = read(&archive);
    if let Err(code) = result {
        assert_ne!(code, ErrorCode::Internal, "an uncoded error");
    }
    if let Some(plain) = expected {
        assert_eq!(result, Ok(plain), "a well-formed archive must read back");
    }
});
