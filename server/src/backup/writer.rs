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
use crate::archive::format::{CHAIN_FORMAT_VERSION, FLAG_ZSTD, FORMAT_VERSION, Header};
use crate::archive::keys::DerivedKeys;
use crate::archive::manifest::{self as m, Counts, Held, Metadata};
use crate::archive::stream::{SegmentWriter, code_of, from_io};
use crate::auth::TenantScope;
use crate::error::{Error, Result, fail};
use crate::storage::blobs::BlobStore;
use crate::storage::{ID_SLICE, backup_blobs};
use crate::time::now_ms;

/// An incremental backup's base: the link its metadata names, and the backups of its chain,
/// newest first (the blobs they hold stay out of the archive).
pub struct Base {
    pub link: m::BaseLink,
    pub chain: Vec<Uuid>,
}

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
    /// Set for an incremental backup (a link of a chain, format v2).
    pub base: Option<Base>,
}

/// What was written.
#[derive(Debug)]
pub struct Written {
    pub size: u64,
    pub sha256: String,
    pub counts: Counts,
    /// The blobs the archive holds, one JSON line `[sha256, size]` each, rewound: what
    /// `backup_blobs` records once the backup is kept.
    pub held: File,
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

/// The archive being written: the tar stream through the segment writer into the temp file.
type Tar = tar::Builder<SegmentWriter<Hashing<BufWriter<File>>>>;

/// Where the members come from: the snapshot's transaction, read page by page through `rt`,
/// and where their manifests spool.
struct Snapshot<'a> {
    rt: &'a Handle,
    scope: &'a TenantScope,
    txn: &'a DatabaseTransaction,
    /// The directory manifests spool in.
    dir: &'a Path,
    /// Every member's modification time: the backup's.
    mtime: u64,
}

impl Snapshot<'_> {
    /// Appends a spooled manifest as member `name`.
    fn append(&self, tar: &mut Tar, name: &str, spool: Spool) -> Result<()> {
        let (file, size) = spool.finish()?;
        tar.append_data(&mut tar_header(size, self.mtime), name, file)
            .map_err(io)
    }

    /// Spools every line `lines` yields into member `name`.
    fn member<T: serde::Serialize>(
        &self,
        tar: &mut Tar,
        name: &str,
        lines: impl IntoIterator<Item = T>,
    ) -> Result<()> {
        let mut spool = Spool::new(self.dir)?;
        for line in lines {
            spool.line(&line)?;
        }
        self.append(tar, name, spool)
    }

    fn metadata(&self, tar: &mut Tar, plan: &Plan, counts: &Counts, held: Held) -> Result<()> {
        let metadata = Metadata {
            format: m::FORMAT.into(),
            format_version: if plan.base.is_some() { 2 } else { 1 },
            backup_id: plan.backup_id.to_string(),
            tenant: plan.tenant.clone(),
            created_at: plan.created_at,
            server_version: env!("CARGO_PKG_VERSION").into(),
            compression: if plan.compress { "zstd" } else { "none" }.into(),
            counts: counts.clone(),
            base: plan.base.as_ref().map(|b| b.link.clone()),
            held: plan.base.as_ref().map(|_| held),
        };
        let bytes = serde_json::to_vec(&metadata)?;
        let mut header = tar_header(bytes.len() as u64, self.mtime);
        tar.append_data(&mut header, m::METADATA, bytes.as_slice())
            .map_err(io)
    }

    /// Level by level, paged: only the ids of one level are held, never its rows.
    fn folders(&self, tar: &mut Tar) -> Result<()> {
        let mut spool = Spool::new(self.dir)?;
        let mut level = Vec::new();
        self.spool_folders(None, &mut spool, &mut level)?;
        while !level.is_empty() {
            let parents = std::mem::take(&mut level);
            for slice in parents.chunks(ID_SLICE) {
                self.spool_folders(Some(slice), &mut spool, &mut level)?;
            }
        }
        self.append(tar, m::FOLDERS, spool)
    }

    /// Spools every folder inside `parents` (`None`: the top level), page by page, and adds
    /// their ids to `level` (the parents of the next level).
    fn spool_folders(
        &self,
        parents: Option<&[Uuid]>,
        spool: &mut Spool,
        level: &mut Vec<Uuid>,
    ) -> Result<()> {
        let mut after = None;
        loop {
            let page = self
                .rt
                .block_on(snapshot::folder_page(self.scope, self.txn, parents, after))?;
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

    fn documents(&self, tar: &mut Tar) -> Result<()> {
        let mut spool = Spool::new(self.dir)?;
        let mut after = None;
        loop {
            let page = self
                .rt
                .block_on(snapshot::document_page(self.scope, self.txn, after))?;
            let Some(last) = page.last() else { break };
            after = last.id.parse().ok();
            for line in &page {
                spool.line(line)?;
            }
        }
        self.append(tar, m::DOCUMENTS, spool)
    }

    /// The file manifest; in a link of a chain, each line names the link holding its blob.
    fn files(&self, tar: &mut Tar, plan: &Plan) -> Result<()> {
        let mut spool = Spool::new(self.dir)?;
        self.each_file(plan, |f, holder| {
            spool.line(&m::FileLine {
                id: f.id.to_string(),
                sha256: f.sha256.clone(),
                size: f.size as u64,
                backup_id: plan
                    .base
                    .as_ref()
                    .map(|_| holder.unwrap_or(plan.backup_id).to_string()),
            })
        })?;
        self.append(tar, m::FILES, spool)
    }

    /// Calls `each` with every file row of the snapshot, page by page, and (for a link of a
    /// chain) the earlier link that holds its blob, if one does.
    fn each_file(
        &self,
        plan: &Plan,
        mut each: impl FnMut(entity::file::Model, Option<Uuid>) -> Result<()>,
    ) -> Result<()> {
        let mut after = None;
        loop {
            let page = self
                .rt
                .block_on(snapshot::file_page(self.scope, self.txn, after))?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some(last.id);
            let holders = match &plan.base {
                Some(base) => {
                    let shas = page.iter().map(|f| f.sha256.clone()).collect();
                    let found = backup_blobs::holders(self.scope, self.txn, &base.chain, shas);
                    self.rt.block_on(found)?
                }
                None => HashMap::new(),
            };
            for f in page {
                let holder = holders.get(&f.sha256).copied();
                each(f, holder)?;
            }
        }
    }

    /// Users, groups, and the access entries naming them.
    fn principals_and_entries(&self, tar: &mut Tar) -> Result<()> {
        let (scope, txn) = (self.scope, self.txn);
        let (users, groups) = self
            .rt
            .block_on(snapshot::principals(scope, txn, now_ms()))?;
        self.member(tar, m::USERS, &users)?;
        self.member(tar, m::GROUPS, &groups)?;
        let mut names: HashMap<Uuid, String> = HashMap::new();
        for u in self.rt.block_on(crate::storage::users::list(scope, txn))? {
            names.insert(u.id, u.username);
        }
        for g in self.rt.block_on(crate::storage::groups::list(scope, txn))? {
            names.insert(g.id, g.name);
        }
        let mut spool = Spool::new(self.dir)?;
        let mut after = None;
        loop {
            let page = snapshot::entry_page(scope, txn, after, &names);
            let (last, lines) = self.rt.block_on(page)?;
            for line in &lines {
                spool.line(line)?;
            }
            match last {
                Some(last) => after = Some(last),
                None => break,
            }
        }
        self.append(tar, m::ACCESS_ENTRIES, spool)
    }

    /// Every blob, re-hashed as it streams from the store, each listed in `held`; reports
    /// bytes done of `total`.
    fn blobs(
        &self,
        tar: &mut Tar,
        (blobs, held): (&dyn BlobStore, &mut Spool),
        plan: &Plan,
        total: u64,
        progress: OnProgress<'_>,
    ) -> Result<()> {
        let mut done = 0u64;
        self.each_file(plan, |f, holder| {
            if holder.is_some() {
                // An earlier link of the chain holds it.
                return Ok(());
            }
            if plan.cancel.load(Ordering::SeqCst) {
                return Err(fail(ErrorCode::JobStateConflict));
            }
            self.blob(tar, blobs, &f)?;
            held.line(&(&f.sha256, f.size))?;
            done += f.size as u64;
            progress(done, total);
            Ok(())
        })
    }

    /// One blob as member `blobs/<sha256>`: exactly its recorded size and SHA-256.
    fn blob(&self, tar: &mut Tar, blobs: &dyn BlobStore, f: &entity::file::Model) -> Result<()> {
        let size = f.size as u64;
        let about = |code| Error::About {
            code,
            id: f.id.to_string(),
        };
        let missing = || about(ErrorCode::BackupBlobMissing);
        let mut reader =
            BlobReader::open(self.rt, blobs, &f.storage_key, size).map_err(|_| missing())?;
        let name = format!("{}{}", m::BLOB_PREFIX, f.sha256);
        // tar copies what the reader yields without checking it against the header, so the
        // count is checked here (and a short blob fails the whole export).
        tar.append_data(
            &mut tar_header(size, self.mtime),
            &name,
            // Large reads from the store; tar's own copy then takes 8 KiB at a time.
            std::io::BufReader::with_capacity(
                size.clamp(1, 256 * 1024) as usize,
                (&mut reader).take(size),
            ),
        )
        .map_err(|e| match code_of(&e) {
            Some(code) => about(code),
            // A stream that ends early (tar pads it and fails) or fails is a missing blob.
            None => missing(),
        })?;
        if reader.count != size {
            return Err(missing());
        }
        if hex::encode(reader.hasher.finalize()) != f.sha256 {
            return Err(about(ErrorCode::BackupBlobMismatch));
        }
        Ok(())
    }
}

/// Opens the archive at `temp`: its header sealed, a segment writer and a tar stream on it.
fn open_archive(plan: &Plan, temp: &Path) -> Result<Tar> {
    let flags = if plan.compress { FLAG_ZSTD } else { 0 };
    let (header, header_bytes) = Header::seal(
        &plan.keys,
        if plan.base.is_some() {
            CHAIN_FORMAT_VERSION
        } else {
            FORMAT_VERSION
        },
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
    let keys = Arc::clone(&plan.keys);
    let segments =
        SegmentWriter::new(out, keys, &header, &header_bytes, plan.workers).map_err(io)?;
    Ok(tar::Builder::new(segments))
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
    let mut tar = open_archive(plan, temp)?;
    let from = Snapshot {
        rt,
        scope,
        txn: &txn,
        dir: temp.parent().unwrap_or(Path::new(".")),
        mtime: (plan.created_at / 1000).max(0) as u64,
    };
    // What this archive holds: everything, or in a link what its chain does not.
    let carried = match &plan.base {
        Some(base) => {
            let (files, bytes) = rt.block_on(backup_blobs::not_held(scope, &txn, &base.chain))?;
            Held { files, bytes }
        }
        None => Held {
            files: counts.files,
            bytes: counts.bytes,
        },
    };
    from.metadata(&mut tar, plan, &counts, carried)?;
    from.folders(&mut tar)?;
    from.documents(&mut tar)?;
    from.files(&mut tar, plan)?;
    from.principals_and_entries(&mut tar)?;
    let mut held = Spool::new(from.dir)?;
    from.blobs(
        &mut tar,
        (blobs.as_ref(), &mut held),
        plan,
        carried.bytes,
        progress,
    )?;
    let segments = tar.into_inner().map_err(io)?;
    let (mut out, _) = segments.finish().map_err(io)?;
    out.flush().map_err(io)?;
    out.inner.get_ref().sync_all().map_err(io)?;
    rt.block_on(txn.rollback())?;
    Ok(Written {
        size: out.written,
        sha256: hex::encode(out.hasher.finalize()),
        counts,
        held: held.finish()?.0,
    })
}
