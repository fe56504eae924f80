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
//!
//! While the places left are all held by attempts in flight, a new attempt waits (without a
//! thread) for one of them to end rather than being refused: a crowd of right-password logins
//! for one account (a service's many workers starting at once) then goes through a few at a
//! time — no slower, as only `kdf_threads` hashes run at once anyway — and a crowd of wrong
//! ones is refused as soon as the failures fill the budget.
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
    /// Told whenever an attempt ends, for the attempts waiting for a place.
    ended: tokio::sync::Notify,
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
            ended: tokio::sync::Notify::new(),
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

    /// Takes a place for one attempt in the budget of every key — waiting while the places
    /// left are held by attempts in flight — or `Err(seconds)` once any of `keys` has its
    /// failures at its limit (the seconds until its window ends; at least 1).
    pub async fn reserve(&self, keys: Vec<ThrottleKey>) -> Result<Attempt<'_>, u64> {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            // Registered before the budget is read, so an end in between is not missed.
            ended.as_mut().enable();
            if self.try_reserve(&keys)? {
                return Ok(Attempt {
                    throttle: self,
                    keys,
                });
            }
            ended.await;
        }
    }

    /// One look at the budget: `Ok(true)` with a place taken for every key, `Ok(false)` if
    /// a key's places are all held in flight, `Err(seconds)` if its failures fill it.
    fn try_reserve(&self, keys: &[ThrottleKey]) -> Result<bool, u64> {
        let now = Instant::now();
        let mut windows = self.lock();
        if windows.len() > PRUNE_ABOVE {
            windows.retain(|_, w| w.in_flight > 0 || now.duration_since(w.started) < self.window);
        }
        let mut full = false;
        for key in keys {
            if let Some(w) = windows.get_mut(key) {
                let elapsed = now.duration_since(w.started);
                if elapsed >= self.window {
                    (w.started, w.failures) = (now, 0);
                } else if w.failures >= self.limit(key) {
                    return Err((self.window - elapsed).as_secs().max(1));
                }
                full |= w.failures.saturating_add(w.in_flight) >= self.limit(key);
            }
        }
        if full {
            return Ok(false);
        }
        for key in keys {
            let w = windows.entry(key.clone()).or_insert(Window {
                started: now,
                failures: 0,
                in_flight: 0,
            });
            w.in_flight += 1;
        }
        Ok(true)
    }

    /// Ends an attempt: releases its places, counting a failure against every key, or on
    /// success forgetting the account's (first key's) failures; then wakes the waiting.
    fn end(&self, keys: &[ThrottleKey], outcome: Outcome) {
        let mut windows = self.lock();
        for (i, key) in keys.iter().enumerate() {
            let Some(w) = windows.get_mut(key) else {
                continue;
            };
            w.in_flight = w.in_flight.saturating_sub(1);
            match outcome {
                Outcome::Failed => w.failures = w.failures.saturating_add(1),
                Outcome::Succeeded if i == 0 => w.failures = 0,
                _ => {}
            }
            if w.failures == 0 && w.in_flight == 0 {
                windows.remove(key);
            }
        }
        drop(windows);
        self.ended.notify_waiters();
    }
}

/// How an attempt ended.
#[derive(Clone, Copy)]
enum Outcome {
    Failed,
    Succeeded,
    /// Without an outcome: nothing was learned, the place is given back.
    Abandoned,
}

impl Attempt<'_> {
    fn end(mut self, outcome: Outcome) {
        let keys = std::mem::take(&mut self.keys);
        self.throttle.end(&keys, outcome);
    }

    /// The password check failed: the attempt counts against every key.
    pub fn failed(self) {
        self.end(Outcome::Failed);
    }

    /// The login succeeded: the attempt is given back, and the account's (first key's)
    /// failures are forgotten (not the address's).
    pub fn succeeded(self) {
        self.end(Outcome::Succeeded);
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if !self.keys.is_empty() {
            self.throttle.end(&self.keys, Outcome::Abandoned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Vec<ThrottleKey> {
        vec![ThrottleKey::Account {
            tenant: "t".into(),
            username: "u".into(),
        }]
    }

    #[tokio::test]
    async fn locks_after_max_failures_and_success_resets() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            t.reserve(account()).await.unwrap().failed();
        }
        let wait = t.reserve(account()).await.err().unwrap();
        assert!((1..=60).contains(&wait));
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        for _ in 0..2 {
            t.reserve(account()).await.unwrap().failed();
        }
        t.reserve(account()).await.unwrap().succeeded();
        for _ in 0..3 {
            t.reserve(account()).await.unwrap().failed();
        }
        assert!(t.reserve(account()).await.is_err());
    }

    #[tokio::test]
    async fn attempts_in_flight_hold_the_budget_and_the_next_waits() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(t.reserve(account()).await.unwrap());
        }
        let fourth = tokio::time::timeout(Duration::from_millis(50), t.reserve(account())).await;
        assert!(fourth.is_err(), "a fourth ran beside three");
        // One ends without an outcome: its place is given back, the next goes in.
        drop(held.pop());
        held.push(t.reserve(account()).await.unwrap());
        // All three fail: the waiting one is refused.
        let (waiting, ()) = tokio::join!(t.reserve(account()), async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            held.drain(..).for_each(Attempt::failed);
        });
        assert!(waiting.is_err());
    }

    #[tokio::test]
    async fn window_expiry_unlocks() {
        let t = LoginThrottle::new(1, Duration::from_millis(20));
        t.reserve(account()).await.unwrap().failed();
        assert!(t.reserve(account()).await.is_err());
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(t.reserve(account()).await.is_ok());
    }

    #[tokio::test]
    async fn addresses_get_a_larger_budget() {
        let t = LoginThrottle::new(2, Duration::from_secs(60));
        let addr = || vec![ThrottleKey::Address("1.2.3.4".into())];
        for _ in 0..7 {
            t.reserve(addr()).await.unwrap().failed();
        }
        t.reserve(addr()).await.unwrap().failed();
        assert!(t.reserve(addr()).await.is_err());
    }
}
