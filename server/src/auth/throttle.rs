//! Login throttling: after too many failures for one (tenant, username), or many more from
//! one address, further attempts get 429 until the window passes. Counting is in memory, per
//! server instance; nothing sleeps, so a throttled client never holds a worker.
//!
//! An attempt is counted when it starts, not when its password check fails: [`LoginThrottle::
//! reserve`] checks the budget and takes a place in it under one lock, and the place is held
//! (as an in-flight attempt) until the [`Attempt`] ends — as a failure, which it becomes, or
//! a success, which gives it back. Checking first and counting after the (slow, awaited)
//! password check let 40 parallel logins all be checked while each saw the budget unspent;
//! now parallel connections get no more guesses than sequential ones. An attempt dropped
//! without an outcome (the request failed inside, or its client left) gives its place back:
//! its caller learned nothing from it.
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
    /// Attempts reserved and not yet ended; they count against the budget like failures.
    in_flight: u32,
}

pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    windows: Mutex<HashMap<ThrottleKey, Window>>,
}

/// Addresses may fail this many times more than a single account before they are throttled
/// (a shared NAT has many honest users).
const ADDRESS_FACTOR: u32 = 4;
/// Above this many tracked keys, expired ones are pruned on the next reservation.
const PRUNE_ABOVE: usize = 10_000;

/// A login attempt holding its place in the budget of each of its keys; end it with
/// [`Attempt::failed`] or [`Attempt::succeeded`] (dropping it gives the place back).
#[must_use]
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    keys: Vec<ThrottleKey>,
}

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

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ThrottleKey, Window>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for one attempt in the budget of every key, or `Err(seconds)` while any
    /// of `keys` has its failures and in-flight attempts at its limit (the seconds until its
    /// window ends; at least 1).
    pub fn reserve(&self, keys: Vec<ThrottleKey>) -> Result<Attempt<'_>, u64> {
        let now = Instant::now();
        let mut windows = self.lock();
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, w| w.in_flight > 0 || now.duration_since(w.started) < self.window);
        }
        for key in &keys {
            if let Some(w) = windows.get_mut(key) {
                let elapsed = now.duration_since(w.started);
                if elapsed >= self.window {
                    (w.started, w.failures) = (now, 0);
                } else if w.failures.saturating_add(w.in_flight) >= self.limit(key) {
                    return Err((self.window - elapsed).as_secs().max(1));
                }
            }
        }
        for key in &keys {
            let w = windows.entry(key.clone()).or_insert(Window {
                started: now,
                failures: 0,
                in_flight: 0,
            });
            w.in_flight += 1;
        }
        drop(windows);
        Ok(Attempt {
            throttle: self,
            keys,
        })
    }

    /// Ends an attempt: releases its places, counting them as failures when `failed`.
    fn end(&self, keys: &[ThrottleKey], failed: bool) {
        let mut windows = self.lock();
        for key in keys {
            if let Some(w) = windows.get_mut(key) {
                w.in_flight = w.in_flight.saturating_sub(1);
                if failed {
                    w.failures = w.failures.saturating_add(1);
                }
            }
        }
    }
}

impl Attempt<'_> {
    /// The password check failed: the attempt counts against every key.
    pub fn failed(mut self) {
        let keys = std::mem::take(&mut self.keys);
        self.throttle.end(&keys, true);
    }

    /// The login succeeded: the attempt is given back, and the account's (first key's)
    /// failures are forgotten (not the address's).
    pub fn succeeded(mut self) {
        let keys = std::mem::take(&mut self.keys);
        self.throttle.end(&keys, false);
        if let Some(account) = keys.first() {
            let mut windows = self.throttle.lock();
            if windows.get(account).is_some_and(|w| w.in_flight == 0) {
                windows.remove(account);
            } else if let Some(w) = windows.get_mut(account) {
                w.failures = 0;
            }
        }
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.keys.is_empty() {
            self.throttle.end(&self.keys, false);
        }
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
        for _ in 0..3 {
            t.reserve(vec![account()]).unwrap().failed();
        }
        let wait = t.reserve(vec![account()]).err().unwrap();
        assert!((1..=60).contains(&wait));
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            t.reserve(vec![account()]).unwrap().failed();
        }
        t.reserve(vec![account()]).unwrap().succeeded();
        for _ in 0..3 {
            t.reserve(vec![account()]).unwrap().failed();
        }
        assert!(t.reserve(vec![account()]).is_err());
    }

    #[test]
    fn attempts_in_flight_count_against_the_budget() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        let held: Vec<Attempt<'_>> = (0..3)
            .map(|_| t.reserve(vec![account()]).unwrap())
            .collect();
        assert!(
            t.reserve(vec![account()]).is_err(),
            "a fourth ran beside three"
        );
        drop(held);
        // Dropped without an outcome: the places are given back, nothing was learned.
        let held: Vec<Attempt<'_>> = (0..3)
            .map(|_| t.reserve(vec![account()]).unwrap())
            .collect();
        held.into_iter().for_each(Attempt::failed);
        assert!(t.reserve(vec![account()]).is_err());
    }

    #[test]
    fn window_expiry_unlocks() {
        let t = LoginThrottle::new(1, Duration::from_millis(20));
        t.reserve(vec![account()]).unwrap().failed();
        assert!(t.reserve(vec![account()]).is_err());
        std::thread::sleep(Duration::from_millis(30));
        assert!(t.reserve(vec![account()]).is_ok());
    }

    #[test]
    fn addresses_get_a_larger_budget() {
        let t = LoginThrottle::new(2, Duration::from_secs(60));
        let addr = || vec![ThrottleKey::Address("1.2.3.4".into())];
        for _ in 0..7 {
            t.reserve(addr()).unwrap().failed();
        }
        t.reserve(addr()).unwrap().failed();
        assert!(t.reserve(addr()).is_err());
    }
}
