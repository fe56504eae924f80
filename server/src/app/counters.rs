//! This process's counts for `/metrics` (`crate::metrics` renders them with what the
//! database knows): bytes through backup jobs, action latency, failed verifications.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use uuid::Uuid;

/// Bytes that went through a backup job.
#[derive(Debug, Clone, Copy)]
pub enum Flow {
    Exported,
    Imported,
    Verified,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FlowLabels {
    pub flow: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub action: &'static str,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~26 s.
    Histogram::new(exponential_buckets(0.0001, 4.0, 10))
}

/// This process's counts.
pub struct Metrics {
    bytes: Family<FlowLabels, Counter>,
    latency: Family<ActionLabels, Histogram, fn() -> Histogram>,
    verify_failures: Mutex<HashMap<Uuid, u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            bytes: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            verify_failures: Mutex::default(),
        }
    }
}

impl Metrics {
    pub fn bytes(&self, flow: Flow, n: u64) {
        let flow = match flow {
            Flow::Exported => "exported",
            Flow::Imported => "imported",
            Flow::Verified => "verified",
        };
        self.bytes.get_or_create(&FlowLabels { flow }).inc_by(n);
    }

    /// One action answered after `elapsed`.
    pub fn action(&self, action: &'static str, elapsed: Duration) {
        self.latency
            .get_or_create(&ActionLabels { action })
            .observe(elapsed.as_secs_f64());
    }

    /// A stored backup of `tenant` failed a verification.
    pub fn verify_failed(&self, tenant: Uuid) {
        *self
            .verify_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(tenant)
            .or_default() += 1;
    }

    /// The bytes counted, by flow (a handle on the same counters).
    pub fn bytes_family(&self) -> Family<FlowLabels, Counter> {
        self.bytes.clone()
    }

    /// The action latencies observed (a handle on the same histograms).
    pub fn latency_family(&self) -> Family<ActionLabels, Histogram, fn() -> Histogram> {
        self.latency.clone()
    }

    /// Failed verifications so far, per tenant.
    pub fn verify_failures(&self) -> HashMap<Uuid, u64> {
        self.verify_failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
