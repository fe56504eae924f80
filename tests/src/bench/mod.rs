//! Building blocks of `coffer-bench` (issue 6): a synthetic tenant made through the real API,
//! shell baselines (`tar`, `openssl`, `cat`) on the same bytes, RSS sampling, streaming HTTP
//! transfers, a small-action load generator, a crowd of connections against a server in its
//! own process, another tenant's write stalls during long writes, and the report (table and
//! JSON).
//!
//! They live in the library rather than beside the binary so each stays a small file with one
//! reason to change; nothing in the integration tests uses them.
pub mod ceiling;
pub mod connections;
pub mod incremental;
pub mod load;
pub mod phases;
pub mod report;
pub mod rss;
pub mod shell;
pub mod stall;
pub mod tenant;

/// Bytes in a MiB, for the figures.
pub const MIB: f64 = 1024.0 * 1024.0;
