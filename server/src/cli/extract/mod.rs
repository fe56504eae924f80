//! Offline recovery, no server needed: `coffer backup ls` prints an archive's tree, and
//! `coffer backup extract` writes it out as plain files, after checking every MAC.
//!
//! Extraction streams: each blob's bytes go to a staging file inside the target directory
//! and take their name (or names, when several revisions share content) only once the walk
//! has checked their MAC and SHA-256, so a file under its final name is always right. Names
//! come only from escaped archive names joined under the target directory, which must be
//! empty: nothing is written outside it, whatever the archive says. The index of folders,
//! documents and files is kept in memory (its size grows with their number, not with the
//! bytes of the archive).
//!
//! Files and folders are made relative to directory handles, one path component at a time
//! (`openat`, `mkdirat`, `renameat`), never through a whole path: a deep tree of long names
//! can pass Linux's `PATH_MAX` (4,096 bytes) below the target directory, and no component
//! below it is followed if it is a symbolic link. (A legacy archive's scratch files are
//! written by path under the staging directory.)
//!
//! A legacy CFMS archive (with `--allow-legacy`) has no MACs and no hashes of its own: it is
//! decrypted, converted and every file hashed into a scratch directory first (inside the
//! target directory for `extract`, a temporary one for `ls`), exactly as an import stages
//! it, and then laid out the same way.
use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use api_spec::ErrorCode;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::archive::chain::{Links, walk};
use crate::archive::manifest::{self as m, DocumentLine, FileLine, FolderLine};
use crate::archive::verify::{Summary, Visitor};
use crate::backup::import::legacy;
use crate::backup::import::unpack::{Staging, Unlocked};
use crate::error::{Error, Result, fail};

mod tree;
use tree::Tree;

/// The description written beside the files.
pub const DESCRIPTION: &str = "coffer-archive.json";
/// Where blobs wait for their check; no escaped name can be this (escapes are `%XX`).
const STAGING: &str = ".coffer%staging";
/// Longest escaped name kept whole, in bytes; longer ones are cut and tagged with a hash.
const MAX_NAME: usize = 200;

fn invalid() -> Error {
    fail(ErrorCode::BackupManifestInvalid)
}

fn local(what: &str) -> impl FnOnce(io::Error) -> Error + '_ {
    move |e| Error::Internal(format!("{what}: {e}"))
}

/// A name from the archive as a file name: `%`, `/`, `\` and control characters become
/// `%XX`; `.` and `..` become `%2E` and `%2E%2E`; the empty name becomes `%`; a name longer
/// than 200 bytes is cut and ends with `~` and 8 hex digits of its SHA-256.
pub fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '%' | '/' | '\\') || c.is_ascii_control() {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    match out.as_str() {
        "" => return "%".to_owned(),
        "." => return "%2E".to_owned(),
        ".." => return "%2E%2E".to_owned(),
        _ => {}
    }
    if out.len() > MAX_NAME {
        let mut cut = MAX_NAME;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        let digest = hex::encode(Sha256::digest(name.as_bytes()));
        out.push('~');
        out.push_str(&digest[..8]);
    }
    out
}

/// The manifests of an archive, as read during the walk.
#[derive(Default)]
pub struct Index {
    folders: Vec<FolderLine>,
    documents: Vec<DocumentLine>,
    files: HashMap<String, FileLine>,
    others: HashMap<&'static str, Vec<Value>>,
}

fn lines<T: DeserializeOwned>(file: &mut File) -> Result<Vec<T>> {
    let mut out = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.map_err(local("reading a manifest copy"))?;
        out.push(serde_json::from_str(&line).map_err(|_| invalid())?);
    }
    Ok(out)
}

impl Index {
    fn read(&mut self, name: &str, file: &mut File) -> Result<()> {
        match name {
            m::FOLDERS => self.folders = lines(file)?,
            m::DOCUMENTS => self.documents = lines(file)?,
            m::FILES => {
                self.files = lines::<FileLine>(file)?
                    .into_iter()
                    .map(|f| (f.id.clone(), f))
                    .collect();
            }
            m::USERS => _ = self.others.insert("users", lines(file)?),
            m::GROUPS => _ = self.others.insert("groups", lines(file)?),
            _ => _ = self.others.insert("access_entries", lines(file)?),
        }
        Ok(())
    }

    /// Each folder's names from the top level, checking that every parent exists and that
    /// no chain loops.
    fn folder_names(&self) -> Result<HashMap<&str, Vec<&str>>> {
        let by_id: HashMap<&str, &FolderLine> =
            self.folders.iter().map(|f| (f.id.as_str(), f)).collect();
        let mut names: HashMap<&str, Vec<&str>> = HashMap::new();
        for folder in &self.folders {
            let mut chain = vec![folder];
            let mut prefix: Vec<&str> = Vec::new();
            while let Some(parent) = chain.last().and_then(|f| f.parent_id.as_deref()) {
                if let Some(known) = names.get(parent) {
                    prefix = known.clone();
                    break;
                }
                let parent = by_id.get(parent).ok_or_else(invalid)?;
                chain.push(parent);
                if chain.len() > self.folders.len() {
                    return Err(invalid());
                }
            }
            for f in chain.into_iter().rev() {
                prefix.push(&f.name);
                names.entry(&f.id).or_insert_with(|| prefix.clone());
            }
        }
        Ok(names)
    }
}

/// Where an extraction puts each folder and revision.
struct Layout {
    /// Folder id → directory, relative to the target.
    folders: HashMap<String, PathBuf>,
    /// Blob SHA-256 → the files to write it as.
    blobs: HashMap<String, Vec<PathBuf>>,
    description: Value,
}

/// Names unique within each directory — compared case-insensitively, so that no two land on
/// one file on a case-insensitive filesystem: a taken name gets `~2`, `~3`, …
#[derive(Default)]
struct Names(HashMap<PathBuf, HashSet<String>>);

impl Names {
    fn take(&mut self, dir: &Path, name: String) -> PathBuf {
        let used = self.0.entry(dir.to_path_buf()).or_default();
        let mut candidate = name.clone();
        let mut n = 1;
        while !used.insert(candidate.to_lowercase()) {
            n += 1;
            candidate = format!("{name}~{n}");
        }
        dir.join(candidate)
    }
}

/// Lays out the folders under `root` (a `/`-separated folder path; empty for all) and their
/// documents: the current revision under the escaped title; with `all_revisions`, the
/// others beside it as `<title>.rev<k>` (k from 1, oldest first).
fn layout(index: &Index, root: &str, all_revisions: bool, summary: Value) -> Result<Layout> {
    let names = index.folder_names()?;
    let wanted: Vec<&str> = root.split('/').filter(|p| !p.is_empty()).collect();
    let skip = wanted.len();
    let mut folders: Vec<(&FolderLine, &Vec<&str>)> = index
        .folders
        .iter()
        .filter_map(|f| names.get(f.id.as_str()).map(|n| (f, n)))
        .filter(|(_, n)| n.len() > skip && n[..skip] == wanted[..])
        .collect();
    let root_id = root_of(index, &names, &wanted)?;
    // Parents before children; siblings in a stable order.
    folders.sort_by(|(a, an), (b, bn)| (an.len(), an, &a.id).cmp(&(bn.len(), bn, &b.id)));
    let mut taken = Names::default();
    // The description is a file at the top; nothing may take its name.
    taken.take(Path::new(""), DESCRIPTION.to_owned());
    let mut dirs: HashMap<String, PathBuf> = HashMap::new();
    let mut described_folders = Vec::new();
    for (folder, path) in &folders {
        let parent_dir = match folder.parent_id.as_deref() {
            Some(p) if Some(p) != root_id.as_deref() => dirs.get(p).cloned().ok_or_else(invalid)?,
            _ => PathBuf::new(),
        };
        let dir = taken.take(&parent_dir, escape(&folder.name));
        described_folders.push(json!({
            "id": folder.id, "path": path.join("/"), "file": dir, "inherit": folder.inherit,
            "rules": folder.rules, "created_at": folder.created_at,
        }));
        dirs.insert(folder.id.clone(), dir);
    }
    let mut blobs: HashMap<String, Vec<PathBuf>> = HashMap::new();
    let mut described_documents = Vec::new();
    let mut documents: Vec<&DocumentLine> = index
        .documents
        .iter()
        .filter(|d| match (&d.folder_id, &root_id) {
            (Some(f), root) => dirs.contains_key(f) || root.as_ref() == Some(f),
            (None, root) => root.is_none(),
        })
        .collect();
    documents.sort_by(|a, b| (&a.folder_id, &a.title, &a.id).cmp(&(&b.folder_id, &b.title, &b.id)));
    for doc in documents {
        let dir = doc
            .folder_id
            .as_ref()
            .and_then(|f| dirs.get(f).cloned())
            .unwrap_or_default();
        let placed = Placing {
            index,
            taken: &mut taken,
            blobs: &mut blobs,
            all_revisions,
        };
        described_documents.push(placed.document(doc, &dir)?);
    }
    let mut description = json!({
        "archive": summary,
        "path": if skip == 0 { "/".to_owned() } else { wanted.join("/") },
        "folders": described_folders,
        "documents": described_documents,
    });
    for (kind, values) in &index.others {
        description[*kind] = Value::Array(values.clone());
    }
    Ok(Layout {
        folders: dirs,
        blobs,
        description,
    })
}

/// The folder an extraction starts from, by its path's names (`None`: the top level).
fn root_of(
    index: &Index,
    names: &HashMap<&str, Vec<&str>>,
    wanted: &Vec<&str>,
) -> Result<Option<String>> {
    if wanted.is_empty() {
        return Ok(None);
    }
    index
        .folders
        .iter()
        .find(|f| names.get(f.id.as_str()) == Some(wanted))
        .map(|f| Some(f.id.clone()))
        .ok_or_else(|| fail(ErrorCode::FolderNotFound))
}

/// Where a document's revisions go, as [`layout`] places them.
struct Placing<'a> {
    index: &'a Index,
    taken: &'a mut Names,
    /// Each blob's files.
    blobs: &'a mut HashMap<String, Vec<PathBuf>>,
    all_revisions: bool,
}

impl Placing<'_> {
    /// Places `doc`'s revisions in `dir` (the current one under the escaped title, with
    /// `all_revisions` the others as `<title>.rev<k>`); the document's description.
    fn document(self, doc: &DocumentLine, dir: &Path) -> Result<Value> {
        let name = escape(&doc.title);
        let mut revisions: Vec<&m::RevisionLine> = doc.revisions.iter().collect();
        revisions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        let mut described_revisions = Vec::new();
        for (k, rev) in revisions.iter().enumerate() {
            let file = self.index.files.get(&rev.file_id).ok_or_else(invalid)?;
            let current = doc.current_revision_id.as_deref() == Some(rev.id.as_str());
            let path = if current {
                Some(self.taken.take(dir, name.clone()))
            } else if self.all_revisions {
                Some(self.taken.take(dir, format!("{name}.rev{}", k + 1)))
            } else {
                None
            };
            if let Some(path) = &path {
                self.blobs
                    .entry(file.sha256.clone())
                    .or_default()
                    .push(path.clone());
            }
            described_revisions.push(json!({
                "id": rev.id, "current": current, "file": path, "sha256": file.sha256,
                "size": file.size, "created_at": rev.created_at,
                "parent_revision_id": rev.parent_revision_id,
            }));
        }
        Ok(json!({
            "id": doc.id, "title": doc.title, "folder_id": doc.folder_id, "inherit": doc.inherit,
            "rules": doc.rules, "created_at": doc.created_at, "last_modified": doc.last_modified,
            "current_revision_id": doc.current_revision_id, "revisions": described_revisions,
        }))
    }
}

fn summary_json(summary: &Summary) -> Value {
    json!({
        "backup_id": summary.backup_id, "tenant": summary.tenant,
        "compressed": summary.compressed, "counts": summary.counts,
    })
}

/// Collects the manifests only.
#[derive(Default)]
struct Collect(Index);

impl Visitor for Collect {
    fn manifest(&mut self, name: &str, file: &mut File) -> crate::archive::error::Result<()> {
        Ok(self.0.read(name, file)?)
    }
}

/// Reads the archive through `visitor`; returns its summary. A Coffer archive is walked as it
/// streams; a legacy one is unpacked into `scratch` (created, and left for the caller to
/// remove) and handed to `visitor` from there.
fn read(
    (archive, key, links): (impl io::Read, &Unlocked, &mut dyn Links),
    visitor: &mut dyn Visitor,
    scratch: &Path,
) -> Result<Value> {
    let key = match key {
        Unlocked::Coffer(key) => {
            let (summary, chain) = walk(archive, key, links, |_| {}, visitor)?;
            let mut described = summary_json(&summary);
            if chain.len() > 1 {
                described["chain"] = json!(chain);
            }
            return Ok(described);
        }
        Unlocked::Legacy(key) => key,
    };
    let staging = Staging::create(scratch.to_path_buf())?;
    let converted = legacy::unpack(archive, key, &staging)?;
    for name in m::MANIFESTS {
        let mut file = File::open(staging.manifest(name)).map_err(local("reading a manifest"))?;
        visitor.manifest(name, &mut file)?;
    }
    let blobs = fs::read_dir(staging.dir.join("blobs")).map_err(local("listing the blobs"))?;
    for blob in blobs {
        let blob = blob.map_err(local("listing the blobs"))?;
        let sha256 = blob.file_name().to_string_lossy().into_owned();
        let mut sink = visitor.blob_sink(&sha256)?;
        let mut file = File::open(blob.path()).map_err(local("reading a blob"))?;
        io::copy(&mut file, &mut sink).map_err(local("copying a blob"))?;
        sink.flush().map_err(local("copying a blob"))?;
        drop(sink);
        visitor.blob_done(&sha256)?;
    }
    Ok(json!({
        "format": "cfms-legacy", "authenticated": false,
        "counts": converted.counts, "warnings": converted.warnings,
    }))
}

/// `coffer backup ls`: the tree of a verified archive (an incremental backup's verified
/// with its chain, from `links`).
pub fn list(archive: impl io::Read, key: &Unlocked, links: &mut dyn Links) -> Result<Value> {
    let mut collect = Collect::default();
    let scratch = tempfile::tempdir().map_err(local("creating a scratch directory"))?;
    let source = (archive, key, links);
    let summary = read(source, &mut collect, &scratch.path().join("cfms"))?;
    let layout = layout(&collect.0, "", true, summary)?;
    Ok(layout.description)
}

/// Writes blobs as the layout says, once each has been checked.
struct Extract<'a> {
    /// The target directory, and its staging directory.
    tree: Tree,
    index: Index,
    root: &'a str,
    all_revisions: bool,
    layout: Option<Layout>,
    written: u64,
}

impl Extract<'_> {
    fn layout(&mut self) -> Result<&mut Layout> {
        if self.layout.is_none() {
            let pending = json!({"verified": false});
            self.layout = Some(layout(&self.index, self.root, self.all_revisions, pending)?);
        }
        self.layout.as_mut().ok_or_else(invalid)
    }
}

impl Visitor for Extract<'_> {
    fn manifest(&mut self, name: &str, file: &mut File) -> crate::archive::error::Result<()> {
        Ok(self.index.read(name, file)?)
    }

    fn blob_sink(&mut self, sha256: &str) -> crate::archive::error::Result<Box<dyn Write>> {
        if !self.layout()?.blobs.contains_key(sha256) {
            return Ok(Box::new(io::sink()));
        }
        let file = self.tree.staged(sha256).map_err(local("staging a blob"))?;
        Ok(Box::new(BufWriter::with_capacity(256 * 1024, file)))
    }

    fn blob_done(&mut self, sha256: &str) -> crate::archive::error::Result<()> {
        let Some(targets) = self.layout()?.blobs.remove(sha256) else {
            return Ok(());
        };
        let count = targets.len();
        for (i, target) in targets.into_iter().enumerate() {
            self.tree
                .place(sha256, &target, i + 1 == count)
                .map_err(|e| Error::Internal(format!("writing {}: {e}", target.display())))?;
            self.written += 1;
        }
        Ok(())
    }
}

/// `coffer backup extract`: writes the archive's tree (or the folder `root` names) into
/// `dir`, which must be empty or not exist, plus [`DESCRIPTION`]. The description counts the
/// files written.
pub fn extract(
    (archive, key, links): (impl io::Read, &Unlocked, &mut dyn Links),
    dir: &Path,
    root: &str,
    all_revisions: bool,
) -> Result<Value> {
    if dir.exists() {
        let mut entries = fs::read_dir(dir).map_err(local("reading the target directory"))?;
        if entries.next().is_some() {
            return Err(Error::Internal(format!(
                "{} is not empty: extract into a new or empty directory",
                dir.display()
            )));
        }
    }
    fs::create_dir_all(dir).map_err(local("creating the target directory"))?;
    let mut extract = Extract {
        tree: Tree::open(dir)?,
        index: Index::default(),
        root,
        all_revisions,
        layout: None,
        written: 0,
    };
    // A legacy archive's scratch goes under the staging directory, by path.
    let staging = dir.join(STAGING);
    let walked = read((archive, key, links), &mut extract, &staging.join("cfms"));
    // By path too: a link put in its place would itself be removed, not followed.
    let _ = fs::remove_dir_all(&staging);
    let summary = walked?;
    let written = extract.written;
    let mut layout = match extract.layout.take() {
        Some(l) => l,
        None => layout(&extract.index, root, all_revisions, Value::Null)?,
    };
    // Empty folders and documents without content still appear.
    for folder in layout.folders.values() {
        extract
            .tree
            .dir(folder)
            .map_err(|e| Error::Internal(format!("creating {}: {e}", folder.display())))?;
    }
    layout.description["archive"] = summary;
    layout.description["files_written"] = json!(written);
    let out = extract
        .tree
        .top_file(DESCRIPTION)
        .map_err(local("writing the description"))?;
    let mut out = BufWriter::new(out);
    serde_json::to_writer_pretty(&mut out, &layout.description)
        .map_err(|e| Error::Internal(format!("writing the description: {e}")))?;
    out.flush().map_err(local("writing the description"))?;
    Ok(json!({
        "directory": dir, "files_written": written, "description": dir.join(DESCRIPTION),
        "archive": layout.description["archive"],
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_names_are_single_safe_components() {
        assert_eq!(escape("report.pdf"), "report.pdf");
        assert_eq!(escape("a/b"), "a%2Fb");
        assert_eq!(escape("..\\..\\etc"), "..%5C..%5Cetc");
        assert_eq!(escape("nul\0byte"), "nul%00byte");
        assert_eq!(escape("100%"), "100%25");
        assert_eq!(escape("."), "%2E");
        assert_eq!(escape(".."), "%2E%2E");
        assert_eq!(escape(""), "%");
        assert_eq!(escape("tab\there"), "tab%09here");
        assert_eq!(escape("ünïcødé ✓"), "ünïcødé ✓");
        let long = "é".repeat(300);
        let cut = escape(&long);
        assert!(cut.len() <= MAX_NAME + 9, "{}", cut.len());
        assert!(cut.ends_with(&hex::encode(Sha256::digest(long.as_bytes()))[..8]));
        assert_ne!(cut, escape(&"é".repeat(301)), "cut names stay apart");
        for name in ["a/b", "..", ".", "", "x\0", "/", "\\"] {
            let e = escape(name);
            assert!(
                !e.contains('/') && !e.contains('\0') && e != "." && e != "..",
                "{name:?}"
            );
        }
    }

    #[test]
    fn taken_names_get_a_counter() {
        let mut names = Names::default();
        let dir = Path::new("d");
        assert_eq!(names.take(dir, "x".into()), Path::new("d/x"));
        assert_eq!(names.take(dir, "x".into()), Path::new("d/x~2"));
        assert_eq!(names.take(dir, "x".into()), Path::new("d/x~3"));
        assert_eq!(names.take(Path::new("e"), "x".into()), Path::new("e/x"));
        assert_eq!(
            names.take(dir, "X".into()),
            Path::new("d/X~4"),
            "case folds"
        );
    }
}
