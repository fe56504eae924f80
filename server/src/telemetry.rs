//! Logging: `RUST_LOG`-style filtering (default `info`), to stderr. Spans per connection and
//! per action carry ids and names only: never tokens, passwords or request payloads.
use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("COFFER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
