//! The legacy CFMS manifests (JSON arrays) and their conversion to the v1 manifest lines the
//! plan reads: folders sorted parents first, revisions chained in time order, files folded by
//! content, rules grouped by type.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Write};

use api_spec::ErrorCode;
use serde::Deserialize;
use serde_json::Value;

use super::legacy::{check_id, invalid, staging_err};
use super::unpack::Staging;
use crate::archive::manifest::{self as m, Counts};
use crate::error::{Error, Result, fail};

#[derive(Deserialize)]
pub(super) struct LegacyRule {
    pub(super) access_type: String,
    pub(super) rule_data: Value,
}

#[derive(Deserialize)]
pub(super) struct LegacyFolder {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) created_time: f64,
    pub(super) parent_id: Option<String>,
    #[serde(default)]
    pub(super) access_rules: Vec<LegacyRule>,
}

#[derive(Deserialize)]
pub(super) struct LegacyRevision {
    pub(super) id: Value,
    pub(super) file_id: String,
    pub(super) created_time: f64,
}

#[derive(Deserialize)]
pub(super) struct LegacyDocument {
    pub(super) id: String,
    pub(super) title: String,
    pub(super) created_time: f64,
    pub(super) folder_id: Option<String>,
    #[serde(default)]
    pub(super) access_rules: Vec<LegacyRule>,
    #[serde(default)]
    pub(super) revisions: Vec<LegacyRevision>,
}

#[derive(Deserialize)]
pub(super) struct LegacyFile {
    pub(super) id: String,
    sha256: Option<String>,
}

pub(super) fn ms(secs: f64) -> i64 {
    if secs.is_finite() && secs >= 0.0 {
        (secs * 1000.0).round() as i64
    } else {
        0
    }
}

/// CFMS rule rows (`rule_data`: one rule or an array of them) grouped by type.
pub(super) fn rules(rows: Vec<LegacyRule>) -> Result<m::Rules> {
    let mut out = m::Rules::new();
    for row in rows {
        let list = out.entry(row.access_type).or_default();
        match row.rule_data {
            Value::Array(items) => list.extend(items),
            rule @ Value::Object(_) => list.push(rule),
            _ => return Err(invalid()),
        }
    }
    Ok(out)
}

/// What the legacy walk found.
pub struct Converted {
    pub counts: Counts,
    pub warnings: Vec<String>,
}

/// Writes the v1 manifests for the legacy content.
pub(super) fn convert(
    staging: &Staging,
    folders: Vec<LegacyFolder>,
    documents: Vec<LegacyDocument>,
    files: Vec<LegacyFile>,
    blobs: &HashMap<String, (String, u64)>,
) -> Result<Converted> {
    let mut counts = Counts::default();
    let mut warnings = Vec::new();
    check_files(&files, blobs)?;
    write_folders(staging, folders, &mut counts)?;
    let used = write_documents(staging, documents, &files, blobs, &mut counts)?;
    write_files(staging, &files, blobs, &used, &mut counts)?;
    let unused = files.len() as u64 - counts.files;
    if unused > 0 {
        warnings.push(format!(
            "{unused} file entries of the archive were not imported on their own (used by no revision, or the same bytes as another entry)"
        ));
    }
    for name in [m::USERS, m::GROUPS, m::ACCESS_ENTRIES] {
        finish(lines(staging, name)?)?;
    }
    warnings.push(
        "legacy CFMS archive: its contents are not authenticated; users, groups and grants are not part of it"
            .to_owned(),
    );
    Ok(Converted { counts, warnings })
}

/// Files: ids unique, and a recorded sha256 must match the bytes (CFMS never checked it).
fn check_files(files: &[LegacyFile], blobs: &HashMap<String, (String, u64)>) -> Result<()> {
    let mut known: HashSet<&str> = HashSet::new();
    for f in files {
        check_id(&f.id)?;
        if !known.insert(&f.id) {
            return Err(invalid());
        }
        if let (Some(recorded), Some((sha, _))) = (&f.sha256, blobs.get(&f.id))
            && !recorded.eq_ignore_ascii_case(sha)
        {
            return Err(Error::About {
                code: ErrorCode::BackupBlobMismatch,
                id: f.id.clone(),
            });
        }
    }
    Ok(())
}

/// Folders, parents before children (CFMS exported them in any order).
fn write_folders(staging: &Staging, folders: Vec<LegacyFolder>, counts: &mut Counts) -> Result<()> {
    let mut by_parent: BTreeMap<Option<String>, Vec<LegacyFolder>> = BTreeMap::new();
    let ids: HashSet<String> = folders.iter().map(|f| f.id.clone()).collect();
    if ids.len() != folders.len() {
        return Err(invalid());
    }
    for f in folders {
        check_id(&f.id)?;
        if f.parent_id.as_ref().is_some_and(|p| !ids.contains(p)) {
            return Err(fail(ErrorCode::ImportReferenceInvalid));
        }
        by_parent.entry(f.parent_id.clone()).or_default().push(f);
    }
    let mut out = lines(staging, m::FOLDERS)?;
    let mut level = vec![None::<String>];
    while !level.is_empty() {
        let mut next = Vec::new();
        for parent in level {
            for f in by_parent.remove(&parent).unwrap_or_default() {
                let line = m::FolderLine {
                    id: f.id.clone(),
                    parent_id: f.parent_id,
                    name: f.name,
                    // CFMS's backups come from a server without inheritance: each object's
                    // own rules are all that applied to it.
                    inherit: false,
                    created_at: ms(f.created_time),
                    last_modified: ms(f.created_time),
                    rules: rules(f.access_rules)?,
                };
                write_line(&mut out, &line)?;
                counts.folders += 1;
                next.push(Some(f.id));
            }
        }
        level = next;
    }
    if !by_parent.is_empty() {
        // What is left hangs in a cycle of parents.
        return Err(fail(ErrorCode::ImportReferenceInvalid));
    }
    finish(out)
}

/// Documents, with revisions in time order, each the parent of the next. Files with equal
/// bytes are one file: the first listed stands for the others. Returns the files used.
fn write_documents<'f>(
    staging: &Staging,
    documents: Vec<LegacyDocument>,
    files: &'f [LegacyFile],
    blobs: &'f HashMap<String, (String, u64)>,
    counts: &mut Counts,
) -> Result<HashSet<&'f str>> {
    let mut canonical: HashMap<&str, &str> = HashMap::new();
    for f in files {
        if let Some((sha, _)) = blobs.get(&f.id) {
            canonical.entry(sha.as_str()).or_insert(f.id.as_str());
        }
    }
    let mut used = HashSet::new();
    let mut out = lines(staging, m::DOCUMENTS)?;
    for mut d in documents {
        check_id(&d.id)?;
        d.revisions
            .sort_by(|a, b| a.created_time.total_cmp(&b.created_time));
        let mut revisions = Vec::with_capacity(d.revisions.len());
        let mut parent = None;
        for r in &d.revisions {
            let id = match &r.id {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(invalid()),
            };
            // A revision whose bytes the archive lacks (CFMS fault 16), or whose file
            // `files.json` does not list: never import a document that cannot be downloaded.
            let Some(file_id) = blobs
                .get(r.file_id.as_str())
                .and_then(|(sha, _)| canonical.get(sha.as_str()))
                .copied()
            else {
                return Err(Error::About {
                    code: ErrorCode::ImportReferenceInvalid,
                    id: r.file_id.clone(),
                });
            };
            used.insert(file_id);
            revisions.push(m::RevisionLine {
                id: id.clone(),
                file_id: file_id.to_owned(),
                parent_revision_id: parent.replace(id),
                created_at: ms(r.created_time),
            });
        }
        counts.revisions += revisions.len() as u64;
        let line = m::DocumentLine {
            id: d.id,
            folder_id: d.folder_id,
            title: d.title,
            inherit: false,
            created_at: ms(d.created_time),
            last_modified: revisions
                .last()
                .map_or(ms(d.created_time), |r| r.created_at),
            current_revision_id: parent,
            rules: rules(d.access_rules)?,
            revisions,
        };
        write_line(&mut out, &line)?;
        counts.documents += 1;
    }
    finish(out)?;
    Ok(used)
}

/// Files that some revision uses; CFMS listed others too.
fn write_files(
    staging: &Staging,
    files: &[LegacyFile],
    blobs: &HashMap<String, (String, u64)>,
    used: &HashSet<&str>,
    counts: &mut Counts,
) -> Result<()> {
    let mut out = lines(staging, m::FILES)?;
    for f in files {
        let Some((sha, size)) = blobs.get(&f.id) else {
            continue;
        };
        if !used.contains(f.id.as_str()) {
            continue;
        }
        let line = m::FileLine {
            id: f.id.clone(),
            sha256: sha.clone(),
            size: *size,
            backup_id: None,
        };
        write_line(&mut out, &line)?;
        counts.files += 1;
        counts.bytes += size;
    }
    finish(out)
}

fn lines(staging: &Staging, name: &str) -> Result<BufWriter<File>> {
    Ok(BufWriter::new(
        File::create(staging.manifest(name)).map_err(staging_err)?,
    ))
}

fn write_line(out: &mut BufWriter<File>, line: &impl serde::Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, line).map_err(|e| Error::Internal(e.to_string()))?;
    out.write_all(b"\n").map_err(staging_err)
}

fn finish(mut out: BufWriter<File>) -> Result<()> {
    out.flush().map_err(staging_err)
}
