//! The `coffer` binary; everything it does is in [`coffer::cli`].
fn main() -> std::process::ExitCode {
    coffer::cli::entry()
}
