//! The synthetic tenant: many small files and a few large ones, half compressible text and
//! half random bytes, made through the real API (each file uploaded over HTTP by the
//! `coffer` client) and written to a plain directory as well, for the baselines to read the same
//! bytes.
use std::path::{Path, PathBuf};

use api_spec::actions::{
    CreateDirectory, CreateDirectoryRequest, CreateDocument, CreateDocumentRequest,
};

use crate::{Client, TestServer};

/// How much to make.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub small_files: usize,
    /// Small files are 256 bytes up to this.
    pub small_max: usize,
    pub large_files: usize,
    pub large_bytes: usize,
}

/// What was made.
#[derive(Debug, Clone, Copy, Default)]
pub struct Made {
    pub files: usize,
    pub bytes: u64,
}

impl Made {
    pub fn add(&mut self, other: Made) {
        self.files += other.files;
        self.bytes += other.bytes;
    }
}

const WORDS: [&str; 32] = [
    "invoice",
    "report",
    "quarterly",
    "budget",
    "the",
    "of",
    "and",
    "contract",
    "annex",
    "tenant",
    "revision",
    "folder",
    "document",
    "approved",
    "pending",
    "total",
    "2026",
    "client",
    "review",
    "signed",
    "draft",
    "page",
    "section",
    "policy",
    "access",
    "backup",
    "archive",
    "ledger",
    "memo",
    "minutes",
    "summary",
    "appendix",
];

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// `len` bytes: word salad (zstd shrinks it several times) or xorshift noise (incompressible).
pub fn content(len: usize, seed: u64, compressible: bool) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 16);
    if compressible {
        while out.len() < len {
            let r = next(&mut x);
            out.extend_from_slice(WORDS[(r % 32) as usize].as_bytes());
            out.push(if r.is_multiple_of(13) { b'\n' } else { b' ' });
        }
    } else {
        while out.len() < len {
            out.extend_from_slice(&next(&mut x).to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

/// Makes `spec`'s files in tenant `default` with `workers` concurrent clients, each in its own
/// top-level folder `<round>-<k>`, and writes the same bytes under `plain/<round>-<k>/`.
pub async fn populate(
    server: &TestServer,
    spec: Spec,
    round: &str,
    plain: &Path,
    workers: usize,
) -> Made {
    let workers = workers.max(1);
    let mut tasks = Vec::new();
    for k in 0..workers {
        let client = server.admin().await;
        let folder = format!("{round}-{k}");
        let dir = plain.join(&folder);
        let seed = round
            .bytes()
            .fold(k as u64 + 1, |a, b| a * 31 + u64::from(b));
        let share = Spec {
            small_files: spread(spec.small_files, workers, k),
            large_files: spread(spec.large_files, workers, k),
            ..spec
        };
        tasks.push(tokio::spawn(worker(client, folder, dir, share, seed)));
    }
    let mut made = Made::default();
    for t in tasks {
        made.add(t.await.expect("populate worker"));
    }
    made
}

/// Worker `k`'s part of `n` items.
fn spread(n: usize, workers: usize, k: usize) -> usize {
    n / workers + usize::from(k < n % workers)
}

async fn worker(c: Client, folder: String, dir: PathBuf, spec: Spec, seed: u64) -> Made {
    std::fs::create_dir_all(&dir).expect("baseline directory");
    let folder_id = c
        .call::<CreateDirectory>(&CreateDirectoryRequest {
            name: folder,
            parent_id: None,
            access_rules: None,
            exists_ok: false,
            inherit_parent: None,
        })
        .await
        .expect("create_directory")
        .id;
    let mut made = Made::default();
    let mut x = seed | 1;
    let total = spec.small_files + spec.large_files;
    for i in 0..total {
        let large = i >= spec.small_files;
        let compressible = i.is_multiple_of(2);
        let len = if large {
            spec.large_bytes
        } else {
            256 + (next(&mut x) as usize) % spec.small_max.max(1)
        };
        let title = format!(
            "{}-{i}.{}",
            if large { "big" } else { "f" },
            if compressible { "txt" } else { "bin" }
        );
        let bytes = content(len, seed.wrapping_add(i as u64), compressible);
        let baseline = dir.join(&title);
        std::fs::write(&baseline, &bytes).expect("baseline file");
        let doc = c
            .call::<CreateDocument>(&CreateDocumentRequest {
                title,
                folder_id: Some(folder_id.clone()),
                access_rules: None,
                inherit_parent: None,
            })
            .await
            .expect("create_document");
        c.upload_file(&doc.task_data.task_id, &baseline)
            .await
            .expect("upload");
        made.files += 1;
        made.bytes += len as u64;
    }
    made
}
