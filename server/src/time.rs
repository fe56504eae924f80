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
