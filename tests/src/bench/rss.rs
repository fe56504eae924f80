//! Resident memory of this process, from `/proc/self/status`. The server runs in-process with
//! the bench, so this is the server's memory plus the bench's own (small, and steady during a
//! phase). VmHWM cannot be reset per phase, so a thread samples VmRSS every 20 ms instead.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the sampler reads VmRSS.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`); 0 where unavailable.
pub fn status_kib(field: &str) -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Samples VmRSS until finished; the peak is relative to VmRSS when it started.
pub struct Sampler {
    base_kib: u64,
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// A phase's memory: VmRSS before it, and the highest sample during it.
#[derive(Debug, Clone, Copy)]
pub struct Peak {
    pub base_kib: u64,
    pub peak_kib: u64,
}

impl Peak {
    /// Peak minus the level before the phase, in MiB.
    pub fn growth_mib(&self) -> f64 {
        self.peak_kib.saturating_sub(self.base_kib) as f64 / 1024.0
    }
}

impl Sampler {
    pub fn start() -> Self {
        let base_kib = status_kib("VmRSS");
        let peak_kib = Arc::new(AtomicU64::new(base_kib));
        let stop = Arc::new(AtomicBool::new(false));
        let (peak, halt) = (Arc::clone(&peak_kib), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                peak.fetch_max(status_kib("VmRSS"), Ordering::Relaxed);
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        Self {
            base_kib,
            peak_kib,
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> Peak {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak_kib
            .fetch_max(status_kib("VmRSS"), Ordering::Relaxed);
        Peak {
            base_kib: self.base_kib,
            peak_kib: self.peak_kib.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
