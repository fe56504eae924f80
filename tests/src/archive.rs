//! Rewritten archives: a real export, decrypted, changed and sealed again with its own key,
//! so that every tag of the result verifies. The hostile-archive tests change its tar stream;
//! [`widen`] makes a big tenant out of a small one, so that a test or the bench gets 100,000
//! folders or documents from one import instead of as many API calls.
use std::io::{Read, Write};
use std::sync::Arc;

use coffer::archive::format::Header;
use coffer::archive::keys::KeyFile;
use coffer::archive::stream::{SegmentReader, SegmentWriter};
use serde_json::{Value, json};
use uuid::Uuid;

/// Decrypts an archive, lets `change` rewrite its plaintext (the tar stream's bytes), and
/// seals the result with the same key, header fields and segment size.
pub fn reseal_plain(archive: &[u8], key: &[u8], change: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let key = KeyFile::parse(key)
        .unwrap()
        .unlock(None, coffer::archive::keys::KdfLimits::FORMAT)
        .unwrap();
    let mut reader = SegmentReader::open(archive, &key).unwrap();
    let h = reader.header().clone();
    let mut plain = Vec::new();
    reader.read_to_end(&mut plain).unwrap();
    change(&mut plain);
    let keys = key.derive();
    let (header, bytes) = Header::seal(
        &keys,
        h.version,
        h.flags,
        h.segment_size,
        h.backup_id,
        h.created_at,
    )
    .unwrap();
    let mut w = SegmentWriter::new(Vec::new(), Arc::new(keys), &header, &bytes, 1).unwrap();
    w.write_all(&plain).unwrap();
    w.finish().unwrap().0
}

/// The archive of a tenant whose only folder holds one document, rewritten so that the
/// folder holds `folders` empty subfolders and `documents` copies of that document (the
/// same content, one revision each) instead.
pub fn widen(archive: &[u8], key: &[u8], folders: usize, documents: usize) -> Vec<u8> {
    reseal_plain(archive, key, |plain| {
        let mut out = tar::Builder::new(Vec::new());
        let mut entries = tar::Archive::new(plain.as_slice());
        for entry in entries.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).unwrap();
            let data = match name.as_str() {
                "metadata.json" => {
                    let mut metadata: Value = serde_json::from_slice(&data).unwrap();
                    let counts = &mut metadata["counts"];
                    counts["folders"] = json!(folders + 1);
                    counts["documents"] = json!(documents);
                    counts["revisions"] = json!(documents);
                    metadata.to_string().into_bytes()
                }
                "folders.jsonl" => lines(&data, |wide| {
                    let parent = wide["id"].clone();
                    let subfolders = (0..folders).map(move |i| {
                        let mut f = wide.clone();
                        f["id"] = json!(Uuid::now_v7().to_string());
                        f["parent_id"] = parent.clone();
                        f["name"] = json!(format!("folder {i}"));
                        f
                    });
                    std::iter::once(wide.clone()).chain(subfolders).collect()
                }),
                "documents.jsonl" => lines(&data, |template| {
                    (0..documents)
                        .map(|i| {
                            let mut d = template.clone();
                            let revision = json!(Uuid::now_v7().to_string());
                            d["id"] = json!(Uuid::now_v7().to_string());
                            d["title"] = json!(format!("document {i}"));
                            d["current_revision_id"] = revision.clone();
                            d["revisions"][0]["id"] = revision;
                            d
                        })
                        .collect()
                }),
                _ => data,
            };
            let mut header = tar::Header::new_ustar();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            out.append_data(&mut header, &name, data.as_slice())
                .unwrap();
        }
        *plain = out.into_inner().unwrap();
    })
}

/// A JSON-lines member made from its first line by `make`.
fn lines(data: &[u8], make: impl FnOnce(&Value) -> Vec<Value>) -> Vec<u8> {
    let first = data.split(|b| *b == b'\n').next().unwrap();
    let first: Value = serde_json::from_slice(first).unwrap();
    let mut text = String::new();
    for line in make(&first) {
        text.push_str(&line.to_string());
        text.push('\n');
    }
    text.into_bytes()
}
