//! `verify` (the tar walk) on archives sealed correctly with the fixed key around any
//! plaintext: raw bytes, or a tar stream of members named like an archive's (metadata,
//! manifests, blobs named by their own hash, anything else) with any bodies and entry types.
//! It never panics and never answers `internal`: every way a plaintext can be wrong has its
//! own code.
#![no_main]

use api_spec::ErrorCode;
use arbitrary::Arbitrary;
use coffer::archive::manifest::{self as m, Counts, Metadata};
use coffer::archive::verify::verify;
use coffer_fuzz::{BACKUP_ID, key, seal};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

#[derive(Debug, Arbitrary)]
enum Name {
    Metadata,
    Manifest(u8),
    /// `files/<sha256 of the body>`.
    Blob,
    Other(String),
}

#[derive(Debug, Arbitrary)]
enum Body {
    Bytes(Vec<u8>),
    /// A `metadata.json` of this archive with these counts.
    Metadata([u16; 8]),
    /// JSON lines of any JSON text.
    Lines(Vec<String>),
    /// The `files.jsonl` lines of the blob members of this input, in order.
    FilesOfBlobs,
}

#[derive(Debug, Arbitrary)]
struct Member {
    name: Name,
    body: Body,
    /// The tar entry type byte; `None` is a regular file.
    kind: Option<u8>,
}

#[derive(Debug, Arbitrary)]
enum Input {
    Raw(Vec<u8>),
    Tar {
        compress: bool,
        members: Vec<Member>,
    },
}

fn metadata(counts: [u16; 8]) -> Vec<u8> {
    let n = counts.map(u64::from);
    let meta = Metadata {
        format: m::FORMAT.into(),
        format_version: 1,
        backup_id: BACKUP_ID.to_string(),
        tenant: "default".into(),
        created_at: 0,
        server_version: "fuzz".into(),
        compression: "none".into(),
        counts: Counts {
            folders: n[0],
            documents: n[1],
            revisions: n[2],
            files: n[3],
            users: n[4],
            groups: n[5],
            access_entries: n[6],
            bytes: n[7],
        },
    };
    serde_json::to_vec(&meta).expect("metadata serialises")
}

fn tar(members: Vec<Member>) -> Vec<u8> {
    let bodies: Vec<Option<Vec<u8>>> = members
        .iter()
        .map(|member| match &member.body {
            Body::Bytes(bytes) => Some(bytes.clone()),
            Body::Metadata(counts) => Some(metadata(*counts)),
            Body::Lines(lines) => Some(
                lines
                    .iter()
                    .flat_map(|l| format!("{l}\n").into_bytes())
                    .collect(),
            ),
            Body::FilesOfBlobs => None,
        })
        .collect();
    let blob_lines: Vec<u8> = members
        .iter()
        .zip(&bodies)
        .filter(|(member, _)| matches!(member.name, Name::Blob))
        .filter_map(|(_, body)| body.as_ref())
        .enumerate()
        .flat_map(|(i, body)| {
            let line = m::FileLine {
                id: format!("file-{i}"),
                sha256: hex(&Sha256::digest(body)),
                size: body.len() as u64,
            };
            let mut line = serde_json::to_vec(&line).expect("a file line serialises");
            line.push(b'\n');
            line
        })
        .collect();
    let mut out = tar::Builder::new(Vec::new());
    for (member, body) in members.into_iter().zip(bodies) {
        let body = body.unwrap_or_else(|| blob_lines.clone());
        let name = match member.name {
            Name::Metadata => m::METADATA.to_owned(),
            Name::Manifest(i) => m::MANIFESTS[usize::from(i) % m::MANIFESTS.len()].to_owned(),
            Name::Blob => format!("{}{}", m::BLOB_PREFIX, hex(&Sha256::digest(&body))),
            Name::Other(name) => name,
        };
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o600);
        header.set_entry_type(
            member
                .kind
                .map_or(tar::EntryType::Regular, tar::EntryType::new),
        );
        // Names the tar crate refuses (absolute, `..`, too long) are not this target's point.
        if header.set_path(&name).is_err() {
            continue;
        }
        header.set_cksum();
        out.append(&header, body.as_slice())
            .expect("appending to a Vec");
    }
    out.into_inner().expect("finishing a Vec")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fuzz_target!(|input: Input| {
    let (plain, compress) = match input {
        Input::Raw(bytes) => (bytes, false),
        Input::Tar { compress, members } => (tar(members), compress),
    };
    let k = key();
    let archive = seal(&k.derive(), &plain, compress);
    if let Err(e) = verify(archive.as_slice(), &k, |_| {}) {
        assert_ne!(e.code(), ErrorCode::Internal, "{e:?}");
    }
});
