//! Progress of a transfer, a job or an archive read: a bar on a terminal, a plain line every
//! two seconds otherwise.
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// A transfer's or a job's progress: a bar on a terminal, a line every few seconds otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    total: u64,
    last: std::sync::Mutex<Instant>,
}

impl Progress {
    pub fn new(total: u64, label: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(label.to_owned());
            bar
        });
        Self {
            bar,
            label: label.to_owned(),
            total,
            last: std::sync::Mutex::new(Instant::now()),
        }
    }

    pub fn set(&self, done: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(done),
            None => {
                let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= Duration::from_secs(2) {
                    *last = Instant::now();
                    eprintln!("{}: {done}/{} bytes", self.label, self.total);
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
