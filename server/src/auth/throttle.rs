//! Login throttling: after too many failures for one (tenant, username), or many more from
//! one address, further attempts get 429 until the window passes. Counting is in memory, per
//! server instance; nothing sleeps, so a throttled client never holds a worker.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a failure counter is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ThrottleKey {
    Account { tenant: String, username: String },
    Address(String),
}

struct Window {
    started: Instant,
    failures: u32,
}

pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    windows: Mutex<HashMap<ThrottleKey, Window>>,
}

/// Addresses may fail this many times more than a single account before they are throttled
/// (a shared NAT has many honest users).
const ADDRESS_FACTOR: u32 = 4;
/// Above this many tracked keys, expired ones are pruned on the next failure.
const PRUNE_ABOVE: usize = 10_000;

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn limit(&self, key: &ThrottleKey) -> u32 {
        match key {
            ThrottleKey::Account { .. } => self.max_failures,
            ThrottleKey::Address(_) => self.max_failures.saturating_mul(ADDRESS_FACTOR),
        }
    }

    /// `Err(seconds)` while any of `keys` is locked out.
    pub fn check(&self, keys: &[ThrottleKey]) -> Result<(), u64> {
        let now = Instant::now();
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            if let Some(w) = windows.get(key) {
                let elapsed = now.duration_since(w.started);
                if w.failures >= self.limit(key) && elapsed < self.window {
                    return Err((self.window - elapsed).as_secs().max(1));
                }
            }
        }
        Ok(())
    }

    pub fn record_failure(&self, keys: &[ThrottleKey]) {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, w| now.duration_since(w.started) < self.window);
        }
        for key in keys {
            let w = windows.entry(key.clone()).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.duration_since(w.started) >= self.window {
                *w = Window {
                    started: now,
                    failures: 0,
                };
            }
            w.failures += 1;
        }
    }

    /// A successful login clears the account's counter (not the address's).
    pub fn record_success(&self, key: &ThrottleKey) {
        self.windows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> ThrottleKey {
        ThrottleKey::Account {
            tenant: "t".into(),
            username: "u".into(),
        }
    }

    #[test]
    fn locks_after_max_failures_and_success_resets() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        let keys = [account()];
        for _ in 0..3 {
            assert!(t.check(&keys).is_ok());
            t.record_failure(&keys);
        }
        let wait = t.check(&keys).unwrap_err();
        assert!((1..=60).contains(&wait));
        t.record_success(&account());
        assert!(t.check(&keys).is_ok());
    }

    #[test]
    fn window_expiry_unlocks() {
        let t = LoginThrottle::new(1, Duration::from_millis(20));
        t.record_failure(&[account()]);
        assert!(t.check(&[account()]).is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(t.check(&[account()]).is_ok());
    }

    #[test]
    fn addresses_get_a_larger_budget() {
        let t = LoginThrottle::new(2, Duration::from_secs(60));
        let addr = [ThrottleKey::Address("1.2.3.4".into())];
        for _ in 0..7 {
            t.record_failure(&addr);
        }
        assert!(t.check(&addr).is_ok());
        t.record_failure(&addr);
        assert!(t.check(&addr).is_err());
    }
}
