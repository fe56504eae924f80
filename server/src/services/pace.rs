//! The pace an upload must keep: some bytes every `transfer_stall_secs`, and at least
//! `min_transfer_bytes_per_sec` over each `transfer_rate_window_secs`. An upload that falls
//! behind ends with `transfer_timeout`, keeping what arrived, so its task is free for a
//! resume instead of held by a client that trickles.
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Config;

/// The upload fell behind the pace.
#[derive(Debug, PartialEq, Eq)]
pub struct TooSlow;

pub struct Pace {
    stall: Duration,
    window: Duration,
    /// Bytes each full window must bring; 0: no rate is required.
    per_window: u64,
    window_started: Instant,
    in_window: u64,
    last_bytes: Instant,
}

impl Pace {
    pub fn new(config: &Config) -> Self {
        let window = Duration::from_secs(config.transfer_rate_window_secs.max(1));
        let now = Instant::now();
        Self {
            stall: Duration::from_secs(config.transfer_stall_secs),
            per_window: config
                .min_transfer_bytes_per_sec
                .saturating_mul(window.as_secs()),
            window,
            window_started: now,
            in_window: 0,
            last_bytes: now,
        }
    }

    /// Waits for `next` (the next chunk, or its absence) unless the pace fails first.
    pub async fn wait<F: Future>(&mut self, next: F) -> Result<F::Output, TooSlow> {
        let mut next = pin!(next);
        loop {
            tokio::select! {
                out = &mut next => return Ok(out),
                () = tokio::time::sleep_until(self.next_check()) => self.check(Instant::now())?,
            }
        }
    }

    /// Counts bytes that arrived.
    pub fn record(&mut self, bytes: usize) {
        self.in_window = self.in_window.saturating_add(bytes as u64);
        if bytes > 0 {
            self.last_bytes = Instant::now();
        }
    }

    fn next_check(&self) -> Instant {
        let stall = self.last_bytes + self.stall;
        if self.per_window == 0 {
            stall
        } else {
            stall.min(self.window_started + self.window)
        }
    }

    fn check(&mut self, now: Instant) -> Result<(), TooSlow> {
        if now >= self.last_bytes + self.stall {
            return Err(TooSlow);
        }
        if self.per_window > 0 && now >= self.window_started + self.window {
            if self.in_window < self.per_window {
                return Err(TooSlow);
            }
            self.window_started = now;
            self.in_window = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pace(stall: u64, rate: u64, window: u64) -> Pace {
        Pace::new(&Config {
            transfer_stall_secs: stall,
            min_transfer_bytes_per_sec: rate,
            transfer_rate_window_secs: window,
            ..Config::default()
        })
    }

    /// A chunk of `bytes` arriving after `secs` (paused clock: the sleeps take no time).
    async fn chunk(pace: &mut Pace, secs: u64, bytes: usize) -> Result<(), TooSlow> {
        let n = pace
            .wait(async {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                bytes
            })
            .await?;
        pace.record(n);
        Ok(())
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_sender_keeps_the_pace() {
        let mut p = pace(60, 4096, 10);
        for _ in 0..100 {
            // A little over the minimum: a window ending as a chunk arrives counts it later.
            chunk(&mut p, 1, 5000).await.expect("over the minimum");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_trickle_fails_at_the_end_of_its_first_window() {
        let mut p = pace(60, 4096, 10);
        let started = Instant::now();
        let mut failed = None;
        for _ in 0..100 {
            if chunk(&mut p, 1, 1024).await.is_err() {
                failed = Some(started.elapsed());
                break;
            }
        }
        assert_eq!(failed, Some(Duration::from_secs(10)));
    }

    #[tokio::test(start_paused = true)]
    async fn silence_fails_after_the_stall_limit_when_no_rate_is_set() {
        let mut p = pace(5, 0, 10);
        chunk(&mut p, 4, 1).await.expect("within the stall limit");
        let started = Instant::now();
        assert_eq!(chunk(&mut p, 3600, 1).await, Err(TooSlow));
        assert_eq!(started.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_carries_the_window_it_arrived_in_only() {
        let mut p = pace(60, 100, 10);
        chunk(&mut p, 1, 10_000)
            .await
            .expect("a burst pays for the first window");
        chunk(&mut p, 9, 0)
            .await
            .expect("the first window ends at 10 s");
        // The second window (10–20 s) brings 1,000 bytes: exactly the minimum.
        chunk(&mut p, 9, 1000)
            .await
            .expect("the second window is paid for");
        // The third (20–30 s) brings nothing: the burst's surplus does not carry over.
        assert_eq!(chunk(&mut p, 15, 1).await, Err(TooSlow));
    }
}
