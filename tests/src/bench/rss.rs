//! Resident memory of a process, from `/proc/<pid>/status`: this one's (the backup suites run
//! the server in-process with the bench, so that is the server's memory plus the bench's own,
//! small and steady during a phase), or a child's (the connections suite runs the server in
//! its own process, because a thousand clients would swamp the figure). VmHWM cannot be reset
//! per phase, so a thread samples VmRSS every 20 ms instead.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the sampler reads VmRSS.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// Which process to read: this one, or another by pid.
#[derive(Debug, Clone, Copy)]
pub enum Process {
    This,
    Pid(u32),
}

/// A field of the process's `/proc/<pid>/status` in KiB (`VmRSS`, `VmHWM`); 0 where
/// unavailable.
pub fn status_kib_of(process: Process, field: &str) -> u64 {
    let path = match process {
        Process::This => "/proc/self/status".to_owned(),
        Process::Pid(pid) => format!("/proc/{pid}/status"),
    };
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0;
    };
    text.lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Samples VmRSS until finished; the peak is relative to VmRSS when it started.
pub struct Sampler {
    process: Process,
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
    /// Samples this process.
    pub fn start() -> Self {
        Self::start_for(Process::This)
    }

    /// Samples `process`.
    pub fn start_for(process: Process) -> Self {
        let base_kib = status_kib_of(process, "VmRSS");
        let peak_kib = Arc::new(AtomicU64::new(base_kib));
        let stop = Arc::new(AtomicBool::new(false));
        let (peak, halt) = (Arc::clone(&peak_kib), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                peak.fetch_max(status_kib_of(process, "VmRSS"), Ordering::Relaxed);
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        Self {
            process,
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
            .fetch_max(status_kib_of(self.process, "VmRSS"), Ordering::Relaxed);
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
