//! The `coffer` command line, built inside the tests package so that the integration tests
//! can run it as a subprocess (`CARGO_BIN_EXE_coffer-cli`): the same entry point as the
//! `coffer` binary, `coffer::cli::entry`.
fn main() -> std::process::ExitCode {
    coffer::cli::entry()
}
