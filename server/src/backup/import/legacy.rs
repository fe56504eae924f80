//! Legacy CFMS archives (`IV(16) ‖ AES-256-CBC/PKCS7(tar)`, key `{key, algorithm, …}`):
//! decrypted as a stream, their tar members accepted by validated logical name only, their
//! blobs hashed (and checked against a recorded `sha256`), and their JSON converted to the
//! v1 manifest lines in the staging directory, so that the same plan and apply steps import
//! both formats. Nothing here is authenticated: the result says so.
//!
//! Member names are never used as paths: a blob `./files/<id>` is written to a numbered
//! staging file and renamed to its SHA-256 once hashed (CFMS faults 1–3).
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};

use api_spec::ErrorCode;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::cbc::CbcReader;
pub use super::legacy_convert::Converted;
use super::legacy_convert::{LegacyDocument, LegacyFile, LegacyFolder, convert};
use super::unpack::Staging;
use crate::archive::stream::from_io;
use crate::error::{Error, Result, fail};

/// Largest JSON member of a legacy archive (they are arrays read whole; blobs never are).
const MAX_JSON_MEMBER: u64 = 64 * 1024 * 1024;
/// Most blobs a legacy archive may hold (each costs a little memory while it is read).
const MAX_BLOBS: usize = 1_000_000;
/// Largest length of a legacy id.
const MAX_ID: usize = 255;

/// A legacy key: 32 raw bytes.
pub struct LegacyKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for LegacyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LegacyKey(<redacted>)")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyKeyFile {
    key: String,
    algorithm: String,
    #[serde(default)]
    #[allow(dead_code)]
    created_at: Option<f64>,
    #[serde(default)]
    #[allow(dead_code)]
    backup_name: Option<String>,
}

impl LegacyKey {
    /// Parses a CFMS key file.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let bad = || fail(ErrorCode::BackupKeyInvalid);
        let file: LegacyKeyFile = serde_json::from_slice(bytes).map_err(|_| bad())?;
        if file.algorithm != "AES-256-CBC" {
            return Err(bad());
        }
        let hex_key = Zeroizing::new(file.key);
        let raw = Zeroizing::new(hex::decode(hex_key.as_str()).map_err(|_| bad())?);
        let key: [u8; 32] = raw.as_slice().try_into().map_err(|_| bad())?;
        Ok(Self(Zeroizing::new(key)))
    }
}

#[derive(Deserialize)]
struct LegacyMetadata {
    version: String,
    documents_count: u64,
    folders_count: u64,
    files_count: u64,
}

pub(super) fn invalid() -> Error {
    fail(ErrorCode::BackupManifestInvalid)
}

pub(super) fn staging_err(e: std::io::Error) -> Error {
    Error::Internal(format!("staging: {e}"))
}

/// A legacy id: a non-empty label (it is only ever a map key).
pub(super) fn check_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_ID || id.chars().any(char::is_control) {
        return Err(invalid());
    }
    Ok(())
}

/// Decrypts and unpacks a legacy archive into `staging` as v1 manifests and blobs.
pub fn unpack(archive: impl Read, key: &LegacyKey, staging: &Staging) -> Result<Converted> {
    let reader = CbcReader::new(archive, &key.0)?;
    let mut tar = tar::Archive::new(reader);
    let mut json: HashMap<&'static str, Vec<u8>> = HashMap::new();
    // Legacy file id → (sha256, size) of its hashed blob.
    let mut blobs: HashMap<String, (String, u64)> = HashMap::new();
    // Raw: extension headers come to us as members, so they are read with a limit (the tar
    // crate would read them whole) and only a `path` is taken from them. Python's tarfile
    // writes PAX headers for fractional times, so CFMS archives have them.
    let mut long_name: Option<Vec<u8>> = None;
    for entry in tar.entries().map_err(from_io)?.raw(true) {
        let mut entry = entry.map_err(from_io)?;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XHeader | tar::EntryType::XGlobalHeader | tar::EntryType::GNULongName
        ) {
            long_name = extension_path(&mut entry, kind)?.or(long_name);
            continue;
        }
        let raw_name = long_name
            .take()
            .unwrap_or_else(|| entry.path_bytes().into_owned());
        let raw = String::from_utf8(raw_name).map_err(|_| invalid())?;
        let name = raw.strip_prefix("./").unwrap_or(&raw);
        if kind.is_dir() && matches!(name, "" | "." | "files" | "files/") {
            continue;
        }
        if kind != tar::EntryType::Regular {
            return Err(invalid());
        }
        let size = entry.header().size().map_err(|_| invalid())?;
        let member = match name {
            "metadata.json" => Some("metadata"),
            "folders.json" => Some("folders"),
            "documents.json" => Some("documents"),
            "files.json" => Some("files"),
            _ => None,
        };
        if let Some(member) = member {
            if size > MAX_JSON_MEMBER || json.contains_key(member) {
                return Err(invalid());
            }
            let mut bytes = Vec::with_capacity(size as usize);
            (&mut entry)
                .take(size)
                .read_to_end(&mut bytes)
                .map_err(from_io)?;
            json.insert(member, bytes);
            continue;
        }
        let id = name.strip_prefix("files/").ok_or_else(invalid)?;
        check_id(id)?;
        if id.contains('/') || blobs.contains_key(id) || blobs.len() >= MAX_BLOBS {
            return Err(invalid());
        }
        let temp = staging.blob(&format!("legacy-{}.partial", blobs.len()));
        let sha = stage_blob(&mut entry, &temp, size)?;
        std::fs::rename(&temp, staging.blob(&sha)).map_err(staging_err)?;
        blobs.insert(id.to_owned(), (sha, size));
    }
    convert_manifests(staging, json, &blobs)
}

/// The path an extension header (PAX or GNU long name) gives the next member, if any.
fn extension_path(entry: &mut impl Read, kind: tar::EntryType) -> Result<Option<Vec<u8>>> {
    let body = small_member(entry)?;
    Ok(match kind {
        tar::EntryType::GNULongName => Some(body.split(|b| *b == 0).next().unwrap_or(&[]).to_vec()),
        tar::EntryType::XHeader => pax_path(&body)?,
        _ => None,
    })
}

/// Copies a member of `size` bytes to `temp`, hashing it; its SHA-256.
fn stage_blob(entry: &mut impl Read, temp: &std::path::Path, size: u64) -> Result<String> {
    let mut out = BufWriter::new(File::create(temp).map_err(staging_err)?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut copied = 0u64;
    loop {
        let n = entry.read(&mut buf).map_err(from_io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(staging_err)?;
        copied += n as u64;
    }
    out.flush().map_err(staging_err)?;
    drop(out);
    if copied != size {
        return Err(fail(ErrorCode::BackupTruncated));
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Reads the legacy JSON members, checks their counts against the metadata, and writes them
/// as v1 manifests.
fn convert_manifests(
    staging: &Staging,
    json: HashMap<&'static str, Vec<u8>>,
    blobs: &HashMap<String, (String, u64)>,
) -> Result<Converted> {
    let parse =
        |name: &str| -> Result<&[u8]> { json.get(name).map(Vec::as_slice).ok_or_else(invalid) };
    let meta: LegacyMetadata = serde_json::from_slice(parse("metadata")?).map_err(|_| invalid())?;
    if meta.version != "1.0" {
        return Err(fail(ErrorCode::BackupUnsupportedVersion));
    }
    let folders: Vec<LegacyFolder> =
        serde_json::from_slice(parse("folders")?).map_err(|_| invalid())?;
    let documents: Vec<LegacyDocument> =
        serde_json::from_slice(parse("documents")?).map_err(|_| invalid())?;
    let files: Vec<LegacyFile> = serde_json::from_slice(parse("files")?).map_err(|_| invalid())?;
    drop(json);
    if meta.folders_count != folders.len() as u64
        || meta.documents_count != documents.len() as u64
        || meta.files_count != files.len() as u64
    {
        return Err(fail(ErrorCode::BackupManifestMismatch));
    }
    convert(staging, folders, documents, files, blobs)
}

/// Largest extension header accepted.
const MAX_EXTENSION: u64 = 64 * 1024;

/// The body of an extension header, at most [`MAX_EXTENSION`] bytes.
fn small_member(entry: &mut impl Read) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    entry
        .take(MAX_EXTENSION + 1)
        .read_to_end(&mut body)
        .map_err(from_io)?;
    if body.len() as u64 > MAX_EXTENSION {
        return Err(invalid());
    }
    Ok(body)
}

/// The `path` of PAX records (`"<len> key=value\n"`…). A record that would change how the
/// stream is framed (`size`, sparse files) is refused.
fn pax_path(body: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut path = None;
    for record in tar::PaxExtensions::new(body) {
        let record = record.map_err(|_| invalid())?;
        let key = record.key().map_err(|_| invalid())?;
        if key == "size" || key.starts_with("GNU.sparse") {
            return Err(invalid());
        }
        if key == "path" {
            path = Some(record.value_bytes().to_vec());
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_are_checked() {
        let good = br#"{"key": "d172e754bbb646f430fb2b236849d43ce0bfe9e4ef60740051360b6a8b2278cd", "algorithm": "AES-256-CBC", "created_at": 1.5, "backup_name": "x"}"#;
        assert!(LegacyKey::parse(good).is_ok());
        for bad in [
            br#"{"key": "00", "algorithm": "AES-256-CBC"}"#.as_slice(),
            br#"{"key": "d172e754bbb646f430fb2b236849d43ce0bfe9e4ef60740051360b6a8b2278cd", "algorithm": "DES"}"#,
            b"not json",
        ] {
            assert!(LegacyKey::parse(bad).is_err());
        }
    }
}
