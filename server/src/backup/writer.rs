//! Writes a tenant's archive: a consistent snapshot (`snapshot`) as a tar stream (metadata,
//! manifests spooled to temp files, then blobs re-hashed as they stream from the store)
//! through the segment writer (`stream`) into a temp file, renamed into place only when
//! complete. Runs on a blocking thread; database and blob-store calls go through `rt`.
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use api_spec::ErrorCode;
use sea_orm::{DatabaseConnection, DatabaseTransaction};
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;
use uuid::Uuid;

use super::blob_reader::BlobReader;
use super::snapshot;
use crate::archive::format::{FLAG_ZSTD, Header};
use crate::archive::keys::DerivedKeys;
use crate::archive::manifest::{self as m, Counts, Metadata};
use crate::archive::stream::{SegmentWriter, code_of, from_io};
use crate::auth::TenantScope;
use crate::error::{Error, Result, fail};
use crate::storage::ID_SLICE;
use crate::storage::blobs::BlobStore;
use crate::time::now_ms;

/// What to write.
pub struct Plan {
    pub scope: TenantScope,
    pub tenant: String,
    pub backup_id: Uuid,
    pub created_at: i64,
    pub compress: bool,
    pub segment_size: u32,
    pub workers: usize,
    pub keys: Arc<DerivedKeys>,
    /// Where the finished archive goes (its directory also takes the temp file).
    pub path: PathBuf,
    /// Raised when the job was ended elsewhere (or taken from this run): the writer stops
    /// before the next blob with `job_state_conflict`.
    pub cancel: Arc<AtomicBool>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    pub size: u64,
    pub sha256: String,
    pub counts: Counts,
}

/// Progress: blob bytes done of the total.
pub type OnProgress<'a> = &'a mut dyn FnMut(u64, u64);

/// Hashes what passes through, so the archive's own SHA-256 is known when it is done.
struct Hashing<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn tar_header(size: u64, mtime: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

fn io(e: std::io::Error) -> Error {
    from_io(e).into()
}

/// Spools JSON lines to a temp file (in `dir`) and returns it rewound with its size.
struct Spool {
    file: BufWriter<File>,
}

impl Spool {
    fn new(dir: &Path) -> Result<Self> {
        let file =
            tempfile::tempfile_in(dir).map_err(|e| Error::Internal(format!("spool: {e}")))?;
        Ok(Self {
            file: BufWriter::new(file),
        })
    }

    fn line(&mut self, value: &impl serde::Serialize) -> Result<()> {
        serde_json::to_writer(&mut self.file, value)?;
        self.file.write_all(b"\n").map_err(io)
    }

    fn finish(self) -> Result<(File, u64)> {
        let mut file = self.file.into_inner().map_err(|e| io(e.into_error()))?;
        let size = file.stream_position().map_err(io)?;
        file.rewind().map_err(io)?;
        Ok((file, size))
    }
}

/// Writes the archive of `plan`; on any failure the temp file is removed and nothing is left.
pub fn write(
    rt: Handle,
    db: &DatabaseConnection,
    blobs: Arc<dyn BlobStore>,
    plan: &Plan,
    progress: OnProgress<'_>,
) -> Result<Written> {
    let dir = plan
        .path
        .parent()
        .ok_or_else(|| Error::Internal("archive path has no directory".into()))?;
    std::fs::create_dir_all(dir).map_err(io)?;
    let temp = dir.join(format!(".{}.partial", plan.backup_id.simple()));
    let result = write_to(&rt, db, blobs, plan, &temp, progress);
    match result {
        Ok(written) => {
            std::fs::rename(&temp, &plan.path).map_err(io)?;
            Ok(written)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            Err(e)
        }
    }
}

/// Spools every folder inside `parents` (`None`: the top level), page by page, and adds
/// their ids to `level` (the parents of the next level).
fn spool_folders(
    rt: &Handle,
    scope: &TenantScope,
    txn: &DatabaseTransaction,
    parents: Option<&[Uuid]>,
    spool: &mut Spool,
    level: &mut Vec<Uuid>,
) -> Result<()> {
    let mut after = None;
    loop {
        let page = rt.block_on(snapshot::folder_page(scope, txn, parents, after))?;
        for line in &page {
            let id: Uuid = line
                .id
                .parse()
                .map_err(|_| Error::Internal("a folder id that is not a uuid".into()))?;
            level.push(id);
            after = Some(id);
            spool.line(line)?;
        }
        if page.len() < snapshot::PAGE as usize {
            return Ok(());
        }
    }
}

fn write_to(
    rt: &Handle,
    db: &DatabaseConnection,
    blobs: Arc<dyn BlobStore>,
    plan: &Plan,
    temp: &Path,
    progress: OnProgress<'_>,
) -> Result<Written> {
    let scope = &plan.scope;
    let txn = rt.block_on(snapshot::begin(scope, db))?;
    let counts = rt.block_on(snapshot::counts(scope, &txn))?;
    let flags = if plan.compress { FLAG_ZSTD } else { 0 };
    let (header, header_bytes) = Header::seal(
        &plan.keys,
        flags,
        plan.segment_size,
        plan.backup_id,
        plan.created_at,
    )?;
    let file = File::create(temp).map_err(io)?;
    let out = Hashing {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        written: 0,
    };
    let segments = SegmentWriter::new(
        out,
        Arc::clone(&plan.keys),
        &header,
        &header_bytes,
        plan.workers,
    )
    .map_err(io)?;
    let mut tar = tar::Builder::new(segments);
    let mtime = (plan.created_at / 1000).max(0) as u64;
    let dir = temp.parent().unwrap_or(Path::new("."));

    let metadata = Metadata {
        format: m::FORMAT.into(),
        format_version: 1,
        backup_id: plan.backup_id.to_string(),
        tenant: plan.tenant.clone(),
        created_at: plan.created_at,
        server_version: env!("CARGO_PKG_VERSION").into(),
        compression: if plan.compress { "zstd" } else { "none" }.into(),
        counts: counts.clone(),
    };
    let bytes = serde_json::to_vec(&metadata)?;
    tar.append_data(
        &mut tar_header(bytes.len() as u64, mtime),
        m::METADATA,
        bytes.as_slice(),
    )
    .map_err(io)?;

    let append = |tar: &mut tar::Builder<_>, name: &str, spool: Spool| -> Result<()> {
        let (file, size) = spool.finish()?;
        tar.append_data(&mut tar_header(size, mtime), name, file)
            .map_err(io)
    };

    // Level by level, paged: only the ids of one level are held, never its rows.
    let mut spool = Spool::new(dir)?;
    let mut level = Vec::new();
    spool_folders(rt, scope, &txn, None, &mut spool, &mut level)?;
    while !level.is_empty() {
        let parents = std::mem::take(&mut level);
        for slice in parents.chunks(ID_SLICE) {
            spool_folders(rt, scope, &txn, Some(slice), &mut spool, &mut level)?;
        }
    }
    append(&mut tar, m::FOLDERS, spool)?;

    let mut spool = Spool::new(dir)?;
    let mut after = None;
    loop {
        let page = rt.block_on(snapshot::document_page(scope, &txn, after))?;
        let Some(last) = page.last() else { break };
        after = last.id.parse().ok();
        for line in &page {
            spool.line(line)?;
        }
    }
    append(&mut tar, m::DOCUMENTS, spool)?;

    let mut spool = Spool::new(dir)?;
    let mut after = None;
    loop {
        let page = rt.block_on(snapshot::file_page(scope, &txn, after))?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for f in &page {
            spool.line(&m::FileLine {
                id: f.id.to_string(),
                sha256: f.sha256.clone(),
                size: f.size as u64,
            })?;
        }
    }
    append(&mut tar, m::FILES, spool)?;

    let (users, groups) = rt.block_on(snapshot::principals(scope, &txn, now_ms()))?;
    let mut spool = Spool::new(dir)?;
    for line in &users {
        spool.line(line)?;
    }
    append(&mut tar, m::USERS, spool)?;
    let mut spool = Spool::new(dir)?;
    for line in &groups {
        spool.line(line)?;
    }
    append(&mut tar, m::GROUPS, spool)?;

    let mut names: HashMap<Uuid, String> = HashMap::new();
    for u in rt.block_on(crate::storage::users::list(scope, &txn))? {
        names.insert(u.id, u.username);
    }
    for g in rt.block_on(crate::storage::groups::list(scope, &txn))? {
        names.insert(g.id, g.name);
    }
    let mut spool = Spool::new(dir)?;
    let mut after = None;
    loop {
        let (last, lines) = rt.block_on(snapshot::entry_page(scope, &txn, after, &names))?;
        for line in &lines {
            spool.line(line)?;
        }
        match last {
            Some(last) => after = Some(last),
            None => break,
        }
    }
    append(&mut tar, m::ACCESS_ENTRIES, spool)?;

    let mut done = 0u64;
    let mut after = None;
    loop {
        let page = rt.block_on(snapshot::file_page(scope, &txn, after))?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for f in page {
            if plan.cancel.load(Ordering::SeqCst) {
                return Err(fail(ErrorCode::JobStateConflict));
            }
            let size = f.size as u64;
            let missing = || Error::About {
                code: ErrorCode::BackupBlobMissing,
                id: f.id.to_string(),
            };
            let mut reader = BlobReader::open(rt, blobs.as_ref(), &f.storage_key, size)
                .map_err(|_| missing())?;
            let name = format!("{}{}", m::BLOB_PREFIX, f.sha256);
            // tar copies what the reader yields without checking it against the header, so the
            // count is checked here (and a short blob fails the whole export).
            tar.append_data(
                &mut tar_header(size, mtime),
                &name,
                // Large reads from the store; tar's own copy then takes 8 KiB at a time.
                std::io::BufReader::with_capacity(
                    size.clamp(1, 256 * 1024) as usize,
                    (&mut reader).take(size),
                ),
            )
            .map_err(|e| match code_of(&e) {
                Some(code) => Error::About {
                    code,
                    id: f.id.to_string(),
                },
                // A stream that ends early (tar pads it and fails) or fails is a missing blob.
                None => missing(),
            })?;
            if reader.count != size {
                return Err(missing());
            }
            if hex::encode(reader.hasher.finalize()) != f.sha256 {
                return Err(Error::About {
                    code: ErrorCode::BackupBlobMismatch,
                    id: f.id.to_string(),
                });
            }
            done += size;
            progress(done, counts.bytes);
        }
    }
    let segments = tar.into_inner().map_err(io)?;
    let (mut out, _) = segments.finish().map_err(io)?;
    out.flush().map_err(io)?;
    out.inner.get_ref().sync_all().map_err(io)?;
    rt.block_on(txn.rollback())?;
    Ok(Written {
        size: out.written,
        sha256: hex::encode(out.hasher.finalize()),
        counts,
    })
}
