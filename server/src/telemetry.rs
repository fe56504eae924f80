//! Logging: `RUST_LOG`-style filtering through `COFFER_LOG`, to stderr, coloured only on a
//! terminal. Spans per connection and per action carry ids and names only: never tokens,
//! passwords or request payloads.
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Starts logging at `default` (`info` for the server; `warn` for the other commands, so
/// that start-up lines such as migrations stay out of their output) unless `COFFER_LOG` says
/// otherwise.
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_env("COFFER_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Logging for tests that start servers in their own process: warnings and errors (or what
/// `COFFER_LOG` asks for) through the test harness's capture, so a failing test shows what
/// its server logged — what an `internal` reply's log id stands for — and a passing one
/// shows nothing.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_env("COFFER_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_ansi(false)
        .try_init();
}
