//! A guard in front of the WebSocket parser that refuses an oversized message as soon as a
//! frame header declares it, rather than after its bytes arrive.
//!
//! actix's parser waits for a whole frame before it compares the frame's length with the
//! limit, so a header declaring 2^62 bytes held the connection until the idle timeout; and
//! a fragmented message over the limit surfaced as an I/O error (close 1002). The guard reads
//! only frame headers as the bytes pass — the payload is counted, never copied — and trips
//! when one data frame, or the fragments of one message together, would exceed the limit.
//! The connection then closes with 1009, whichever way the limit was exceeded.
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use bytes::Bytes;
use futures_util::Stream;

/// Longest frame header: 2 bytes, an 8-byte extended length, a 4-byte mask.
const MAX_HEADER: usize = 14;
const OP_CONTINUATION: u8 = 0x0;
const FIN: u8 = 0x80;

/// Tells the connection, after the stream failed, that the guard is why.
#[derive(Clone, Default)]
pub struct Tripped(Arc<AtomicBool>);

impl Tripped {
    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The header-reading state machine, separate from the stream so it can be tested alone.
#[derive(Debug)]
struct Scanner {
    limit: u64,
    header: [u8; MAX_HEADER],
    have: usize,
    /// Whether the current header's length was already checked.
    checked: bool,
    /// Payload bytes of the current frame still to pass.
    payload_left: u64,
    /// Bytes so far of the fragmented data message in progress, if one is.
    message: Option<u64>,
}

/// The frame or message a header declared is over the limit.
#[derive(Debug, PartialEq, Eq)]
struct Oversize;

impl Scanner {
    fn new(limit: usize) -> Self {
        Self {
            limit: limit as u64,
            header: [0; MAX_HEADER],
            have: 0,
            checked: false,
            payload_left: 0,
            message: None,
        }
    }

    /// Feeds the next bytes off the wire.
    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Oversize> {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let skip = self.payload_left.min(bytes.len() as u64);
                self.payload_left -= skip;
                bytes = &bytes[skip as usize..];
                continue;
            }
            let before = self.have;
            let take = (MAX_HEADER - before).min(bytes.len());
            self.header[before..before + take].copy_from_slice(&bytes[..take]);
            self.have += take;
            let Some((len, declared)) = self.header_len() else {
                // Not even the length field yet: all of it belongs to the header.
                bytes = &bytes[take..];
                continue;
            };
            if let Some(declared) = declared
                && !self.checked
            {
                self.check(declared)?;
                self.checked = true;
            }
            if self.have < len {
                bytes = &bytes[take..];
                continue;
            }
            // The header is complete; what was taken beyond it is payload.
            bytes = &bytes[len - before..];
            self.payload_left = declared.unwrap_or(0);
            self.have = 0;
            self.checked = false;
        }
        Ok(())
    }

    /// The header's full length, and the payload length once its field has arrived.
    fn header_len(&self) -> Option<(usize, Option<u64>)> {
        if self.have < 2 {
            return None;
        }
        let mask = if self.header[1] & 0x80 != 0 { 4 } else { 0 };
        let field = match self.header[1] & 0x7f {
            126 => 2,
            127 => 8,
            short => return Some((2 + mask, Some(u64::from(short)))),
        };
        let declared = (self.have >= 2 + field).then(|| {
            self.header[2..2 + field]
                .iter()
                .fold(0u64, |n, b| (n << 8) | u64::from(*b))
        });
        Some((2 + field + mask, declared))
    }

    /// Checks a data frame's declared length against the limit, alone and as a fragment of
    /// its message.
    fn check(&mut self, declared: u64) -> Result<(), Oversize> {
        let opcode = self.header[0] & 0x0f;
        if opcode >= 0x8 {
            // Control frames are at most 125 bytes (RFC 6455 §5.5); actix would wait for a
            // longer one's payload before refusing it.
            return if declared > 125 {
                Err(Oversize)
            } else {
                Ok(())
            };
        }
        let so_far = match opcode {
            OP_CONTINUATION => self.message.unwrap_or(0),
            _ => 0,
        };
        let total = so_far.saturating_add(declared);
        if total > self.limit {
            return Err(Oversize);
        }
        let fin = self.header[0] & FIN != 0;
        self.message = (!fin).then_some(total);
        Ok(())
    }
}

/// The request body of a WebSocket connection, passed through the [`Scanner`].
pub struct FrameGuard {
    inner: Payload,
    scanner: Scanner,
    tripped: Tripped,
}

impl FrameGuard {
    pub fn new(inner: Payload, limit: usize) -> Self {
        Self {
            inner,
            scanner: Scanner::new(limit),
            tripped: Tripped::default(),
        }
    }

    pub fn tripped(&self) -> Tripped {
        self.tripped.clone()
    }
}

impl Stream for FrameGuard {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.tripped.is_set() {
            return Poll::Ready(None);
        }
        let next = Pin::new(&mut this.inner).poll_next(cx);
        if let Poll::Ready(Some(Ok(bytes))) = &next
            && this.scanner.feed(bytes).is_err()
        {
            this.tripped.0.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(PayloadError::Overflow)));
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1000;

    /// A masked client frame header declaring `len` bytes.
    fn header(first: u8, len: u64) -> Vec<u8> {
        let mut h = vec![first];
        match len {
            0..=125 => h.push(0x80 | len as u8),
            126..=0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                h.push(0x80 | 127);
                h.extend_from_slice(&len.to_be_bytes());
            }
        }
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    }

    fn frame(first: u8, len: usize) -> Vec<u8> {
        let mut f = header(first, len as u64);
        f.extend(std::iter::repeat_n(b'x', len));
        f
    }

    /// Feeds `wire` to a fresh scanner in pieces of `step` bytes.
    fn scan(wire: &[u8], step: usize) -> Result<Scanner, Oversize> {
        let mut s = Scanner::new(LIMIT);
        for piece in wire.chunks(step) {
            s.feed(piece)?;
        }
        Ok(s)
    }

    #[test]
    fn frames_within_the_limit_pass_whole_or_in_any_pieces() {
        let mut wire = frame(0x81, 5);
        wire.extend(frame(0x82, 300));
        wire.extend(frame(0x89, 0)); // ping
        wire.extend(frame(0x81, LIMIT));
        for step in [1, 2, 3, 7, 14, 100, wire.len()] {
            let s = scan(&wire, step).expect("within the limit");
            assert_eq!(
                (s.have, s.payload_left, s.message),
                (0, 0, None),
                "step {step}"
            );
        }
    }

    #[test]
    fn a_header_over_the_limit_trips_before_its_payload() {
        for len in [LIMIT as u64 + 1, 70_000, 1 << 62, 1 << 63, u64::MAX] {
            let h = header(0x82, len);
            // The length field alone is enough: no mask, no payload needed.
            let field_end = h.len() - 4;
            assert_eq!(scan(&h[..field_end], 1).err(), Some(Oversize), "{len}");
        }
    }

    #[test]
    fn a_control_frame_declaring_more_than_125_bytes_trips() {
        assert!(scan(&frame(0x89, 125), 3).is_ok());
        for len in [126, 1 << 40] {
            let h = header(0x89, len);
            assert_eq!(scan(&h[..h.len() - 4], 1).err(), Some(Oversize), "{len}");
        }
    }

    #[test]
    fn fragments_count_towards_their_message() {
        let mut wire = frame(0x01, 600); // text, not final
        wire.extend(frame(0x8a, 3)); // a pong between fragments does not count
        assert!(scan(&wire, 5).is_ok());
        wire.extend(frame(0x00, 300)); // continuation: 900 so far
        let s = scan(&wire, 5).expect("900 is within");
        assert_eq!(s.message, Some(900));
        let mut over = wire.clone();
        over.extend(header(0x80, 101)); // final continuation: 1001
        assert_eq!(scan(&over, 3).err(), Some(Oversize));
        let mut exact = wire;
        exact.extend(frame(0x80, 100)); // final continuation: exactly the limit
        let s = scan(&exact, 3).expect("exactly the limit");
        assert_eq!(s.message, None);
        // The next message starts from zero.
        exact.extend(frame(0x02, 700));
        assert!(scan(&exact, 64).is_ok());
    }
}
