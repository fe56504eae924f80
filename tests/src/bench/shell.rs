//! The baselines: `tar`, `openssl` and `cat` run through `sh -c`, timed by wall clock.
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The passphrase of the baseline's `openssl enc` (the cost of `-pbkdf2`'s 10,000 rounds is
/// a few milliseconds, inside the baseline's time).
const OPENSSL_ENC: &str = "openssl enc -aes-256-cbc -pbkdf2 -pass pass:x";

/// Checks that the baseline tools are installed; names the missing ones.
pub fn require_tools() -> Result<(), String> {
    let missing: Vec<&str> = ["openssl", "tar", "cat", "sh"]
        .into_iter()
        .filter(|tool| {
            !Command::new("sh")
                .arg("-c")
                .arg(format!("command -v {tool} >/dev/null"))
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "coffer-bench needs {} on PATH for its baselines (e.g. `apt-get install openssl tar`)",
            missing.join(", ")
        ))
    }
}

/// Single-quotes a path for `sh`.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// Runs `script` with `sh -c` and returns its wall time; fails when it exits non-zero.
pub fn timed(script: &str) -> Result<Duration, String> {
    let start = Instant::now();
    let status = Command::new("sh")
        .arg("-c")
        .arg(script)
        .status()
        .map_err(|e| format!("cannot run sh: {e}"))?;
    let took = start.elapsed();
    if status.success() {
        Ok(took)
    } else {
        Err(format!("baseline failed ({status}): {script}"))
    }
}

/// `tar -c <dir> | openssl enc > out`: the export baseline.
pub fn tar_encrypt(dir: &Path, out: &Path) -> Result<Duration, String> {
    timed(&format!(
        "tar -cf - -C {} . | {OPENSSL_ENC} > {}",
        quote(dir),
        quote(out)
    ))
}

/// `openssl enc -d < enc | tar -x -C into`: the import baseline.
pub fn decrypt_untar(enc: &Path, into: &Path) -> Result<Duration, String> {
    std::fs::create_dir_all(into).map_err(|e| e.to_string())?;
    timed(&format!(
        "{OPENSSL_ENC} -d -in {} | tar -xf - -C {}",
        quote(enc),
        quote(into)
    ))
}

/// `openssl enc -d < enc > /dev/null`: the verify baseline.
pub fn decrypt_null(enc: &Path) -> Result<Duration, String> {
    timed(&format!("{OPENSSL_ENC} -d -in {} > /dev/null", quote(enc)))
}

/// `cat big > copy`: the transfer baseline (same disk as the server's data).
pub fn cat_copy(from: &Path, to: &Path) -> Result<Duration, String> {
    timed(&format!("cat {} > {}", quote(from), quote(to)))
}
