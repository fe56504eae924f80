//! What the archive format alone costs on this machine: the export's per-segment work
//! (`zstd` level 3, then AES-256-CBC and HMAC-SHA256 via `coffer::archive::format`) on one
//! thread, over the same bytes the tenant holds, without the database, the blob reads, the
//! tar stream or the ordering of the writer. Two cores can at best double it. Timed as this
//! thread's CPU time (`/proc/thread-self/schedstat`), so another build on the machine slows
//! it less than it slows the wall-clock figures.
use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use coffer::archive::format::seal_segment;
use coffer::archive::keys::BackupKey;

/// Segment size of the default configuration.
pub const SEGMENT: usize = 1024 * 1024;

/// Seal time of every file under `dir`, cut into segments: (seal only, zstd + seal).
pub fn seal_times(dir: &Path) -> Result<(Duration, Duration), String> {
    let keys = BackupKey::generate().derive();
    let header_mac = [7u8; 32];
    let (mut plain, mut zstd) = (Duration::ZERO, Duration::ZERO);
    let mut index = 0u64;
    let mut seal = |chunk: &[u8]| -> Result<(), String> {
        let start = thread_cpu();
        seal_segment(&keys, &header_mac, index, false, chunk).map_err(|e| e.to_string())?;
        plain += thread_cpu().saturating_sub(start);
        let start = thread_cpu();
        let body = zstd::bulk::compress(chunk, 3).map_err(|e| e.to_string())?;
        seal_segment(&keys, &header_mac, index, false, &body).map_err(|e| e.to_string())?;
        zstd += thread_cpu().saturating_sub(start);
        index += 1;
        Ok(())
    };
    let mut buf = Vec::with_capacity(SEGMENT);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&d)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let mut f = std::fs::File::open(&path).map_err(|e| e.to_string())?;
            loop {
                let room = SEGMENT - buf.len();
                let n = (&mut f)
                    .take(room as u64)
                    .read_to_end(&mut buf)
                    .map_err(|e| e.to_string())?;
                if buf.len() == SEGMENT {
                    seal(&buf)?;
                    buf.clear();
                }
                if n == 0 {
                    break;
                }
            }
        }
    }
    if !buf.is_empty() {
        seal(&buf)?;
    }
    Ok((plain, zstd))
}

/// This thread's CPU time so far (the first field of `/proc/thread-self/schedstat`, in ns);
/// the wall clock where that file is missing.
pub fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .map_or_else(|| EPOCH.elapsed(), Duration::from_nanos)
}

static EPOCH: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);

/// This process's CPU time (user + system, all threads) from `/proc/self/stat`, in clock
/// ticks of 10 ms.
pub fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the command name (which may hold spaces) start at field 3.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15, i.e. 11 and 12 after the command.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}
