//! Time as stored (Unix epoch milliseconds) and as sent (seconds, as a float, like CFMS).
use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in epoch milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Milliseconds to wire seconds.
pub fn to_secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// Wire seconds to milliseconds; `None` for negative, NaN or absurd values.
pub fn from_secs(secs: f64) -> Option<i64> {
    // Up to year ~33658: anything larger is a client bug, not a date.
    (secs.is_finite() && (0.0..1.0e12).contains(&secs)).then(|| (secs * 1000.0).round() as i64)
}

/// Now, in wire seconds.
pub fn now_secs() -> f64 {
    to_secs(now_ms())
}

/// Where time-driven work (backup schedules, retention, drills) reads the time: the system
/// clock in a server, a [`ManualClock`] in tests, which move time without sleeping. Request
/// handling and storage keep reading the system clock ([`now_ms`]).
pub trait Clock: Send + Sync {
    /// Now, in epoch milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        now_ms()
    }
}

/// A clock that moves only when told.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    /// A clock standing at `ms` (epoch milliseconds).
    pub fn at(ms: i64) -> Self {
        Self(std::sync::atomic::AtomicI64::new(ms))
    }

    pub fn set(&self, ms: i64) {
        self.0.store(ms, std::sync::atomic::Ordering::SeqCst);
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}
