//! Hostile archives: authenticated Coffer archives whose tar stream (re-sealed with the real
//! key, so every tag verifies) holds links, traversal names, duplicates, unknown members,
//! swapped blobs or dangling references; and legacy CFMS archives with the same tricks (CFMS
//! faults 1–3, 7). Each import must fail with its own code and leave the tenant, the blob
//! store and the import directory exactly as they were.
use api_spec::jobs::ImportMode;
use std::io::Read;

use aes::Aes256;
use aes::cipher::KeyIvInit;
use aes::cipher::block_padding::Pkcs7;
use api_spec::ErrorCode;
use api_spec::actions::{VerifyBackup, VerifyBackupRequest};
use cbc::cipher::BlockEncryptMut;
use coffer::layout::{archive_object, key_object};
use tests::archive::reseal_plain;
use tests::{Client, TestServer};

use crate::backups::{download, export, listener, plain, populate, server};
use crate::imports::{census, import, no_import_leftovers};

/// One tar member: name (any bytes), content, type, link target.
pub(crate) struct Member {
    pub(crate) name: Vec<u8>,
    pub(crate) data: Vec<u8>,
    kind: tar::EntryType,
    link: Option<Vec<u8>>,
}

/// A hostile case: its name, the error code it must fail with, and how it changes the members.
type Case = (
    &'static str,
    &'static str,
    Box<dyn FnOnce(&mut Vec<Member>)>,
);

fn regular(name: &str, data: Vec<u8>) -> Member {
    Member {
        name: name.as_bytes().to_vec(),
        data,
        kind: tar::EntryType::Regular,
        link: None,
    }
}

/// A ustar stream with names written raw (the tar crate refuses `..` and absolute paths).
fn build(members: &[Member]) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    for m in members {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(m.kind);
        h.set_size(m.data.len() as u64);
        h.set_mode(0o644);
        let old = h.as_old_mut();
        old.name[..m.name.len()].copy_from_slice(&m.name);
        if let Some(link) = &m.link {
            old.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_cksum();
        out.append(&h, m.data.as_slice()).unwrap();
    }
    out.into_inner().unwrap()
}

fn members(tar_bytes: &[u8]) -> Vec<Member> {
    let mut archive = tar::Archive::new(tar_bytes);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path_bytes().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            Member {
                name,
                data,
                kind: tar::EntryType::Regular,
                link: None,
            }
        })
        .collect()
}

/// [`reseal_plain`], rewriting the tar's members.
pub(crate) fn reseal(archive: &[u8], key: &[u8], change: impl FnOnce(&mut Vec<Member>)) -> Vec<u8> {
    reseal_plain(archive, key, |plain| {
        let mut list = members(plain);
        change(&mut list);
        *plain = build(&list);
    })
}

pub(crate) fn index(list: &[Member], name: &str) -> usize {
    list.iter().position(|m| m.name == name.as_bytes()).unwrap()
}

fn first_blob(list: &[Member]) -> usize {
    list.iter()
        .position(|m| m.name.starts_with(b"files/"))
        .unwrap()
}

/// Rewrites the first line of a JSON-lines member.
fn edit_first_line(list: &mut [Member], name: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let i = index(list, name);
    let text = String::from_utf8(list[i].data.clone()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    edit(&mut first);
    lines[0] = first.to_string();
    list[i].data = format!("{}\n", lines.join("\n")).into_bytes();
}

/// Imports `archive` into the victim tenant and checks that it failed with `code` and left
/// everything as it was.
async fn refused(
    server: &TestServer,
    (victim, listener): (&mut Client, &mut Client),
    archive: &[u8],
    key: &[u8],
    legacy: bool,
    code: &str,
    case: &str,
) {
    let before = census(server, "victim").await;
    let blobs = server.blob_files().len();
    let (event, status) = import(victim, listener, archive, key, |r| {
        r.mode = Some(ImportMode::Merge);
        r.allow_legacy = legacy;
    })
    .await;
    assert_eq!(event["status"], "failed", "{case}: {status:?}");
    assert_eq!(event["error"], code, "{case}: {status:?}");
    assert_eq!(census(server, "victim").await, before, "{case}");
    assert_eq!(server.blob_files().len(), blobs, "{case}");
    assert!(no_import_leftovers(server), "{case}");
}

async fn victim(server: &TestServer) -> (Client, Client) {
    crate::imports::tenant(server, "victim").await
}

/// Puts `archive` and `key` in place of a stored backup of the `default` tenant and checks
/// that `verify_backup` and the offline `coffer backup verify` both answer `code`.
pub(crate) async fn stored_pair_refused(
    server: &TestServer,
    c: &mut Client,
    backup_id: &str,
    (archive, key): (&[u8], &[u8]),
    code: ErrorCode,
    case: &str,
) {
    let tenant = crate::imports::tenant_id(server, "default").await;
    let backup = uuid::Uuid::parse_str(backup_id).unwrap();
    server
        .store_object(&archive_object(tenant, backup), archive)
        .await;
    server.store_object(&key_object(tenant, backup), key).await;
    // The offline check reads files.
    let scratch = uuid::Uuid::new_v4().simple().to_string();
    let (archive_file, key_file) = (
        server.dir.path().join(format!(".{scratch}.archive")),
        server.dir.path().join(format!(".{scratch}.key")),
    );
    std::fs::write(&archive_file, archive).unwrap();
    std::fs::write(&key_file, key).unwrap();
    let e = c
        .call::<VerifyBackup>(&VerifyBackupRequest {
            identity: None,
            backup_id: backup_id.into(),
            passphrase: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.error, code, "verify_backup, {case}");
    let limits = coffer::Config::default().backup_kdf_limits();
    let offline = coffer::cli::offline::verify(
        (&archive_file, &key_file),
        archive_file.parent().unwrap(),
        Default::default(),
        limits,
    )
    .unwrap_err();
    assert_eq!(offline.code(), code, "coffer backup verify, {case}");
}

/// Rewrites the tar header block at `at` of a plaintext, with its checksum fixed, so the
/// change itself is what a reader meets.
fn edit_header(plain: &mut [u8], at: usize, edit: impl FnOnce(&mut [u8])) {
    let mut header = tar::Header::new_old();
    header.as_mut_bytes().copy_from_slice(&plain[at..at + 512]);
    edit(header.as_mut_bytes());
    header.set_cksum();
    plain[at..at + 512].copy_from_slice(header.as_bytes());
}

/// Malformed tar in a correctly sealed archive, each refused with a code (not `internal`) by
/// the import, with nothing written, and by `verify_backup` and the offline verifier. The
/// last cases are tar streams the writer never makes, which the reader used to accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tar_in_an_authenticated_archive_is_refused() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (backup_id, _, _) = export(&mut c, &mut l, plain("malformed")).await;
    let (archive, key) = download(&mut c, &backup_id).await;
    let (mut v, mut vl) = victim(&server).await;
    crate::support::mkdir(&mut v, "keep me", None).await;
    // The size field of the first member's header (`metadata.json`, at offset 0).
    const SIZE: std::ops::Range<usize> = 124..136;
    type Change = fn(&mut Vec<u8>);
    let cases: [(&str, Change); 6] = [
        ("a header checksum that does not add up", |p| p[148] ^= 1),
        ("a negative base-256 size", |p| {
            edit_header(p, 0, |h| h[SIZE].fill(0xff));
        }),
        ("garbage in the size field", |p| {
            edit_header(p, 0, |h| h[SIZE].copy_from_slice(b"12x4garbage\0"));
        }),
        ("no end blocks", |p| p.truncate(p.len() - 1024)),
        ("one end block", |p| p.truncate(p.len() - 512)),
        ("plaintext after the end blocks", |p| {
            p.extend_from_slice(b"smuggled after the end");
        }),
    ];
    for (case, change) in cases {
        let hostile = reseal_plain(&archive, &key, change);
        let code = "backup_manifest_invalid";
        refused(
            &server,
            (&mut v, &mut vl),
            &hostile,
            &key,
            false,
            code,
            case,
        )
        .await;
        let pair = (hostile.as_slice(), key.as_slice());
        let code = ErrorCode::BackupManifestInvalid;
        stored_pair_refused(&server, &mut c, &backup_id, pair, code, case).await;
    }
    // The untouched pair still verifies and imports.
    let tenant = crate::imports::tenant_id(&server, "default").await;
    let stored = uuid::Uuid::parse_str(&backup_id).unwrap();
    server
        .store_object(&archive_object(tenant, stored), &archive)
        .await;
    c.call::<VerifyBackup>(&VerifyBackupRequest {
        identity: None,
        backup_id: backup_id.clone(),
        passphrase: None,
    })
    .await
    .unwrap();
    let (event, status) = import(&mut v, &mut vl, &archive, &key, |r| {
        r.mode = Some(ImportMode::Merge);
    })
    .await;
    assert_eq!(event["status"], "completed", "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_members_and_references_in_an_authenticated_archive_are_refused() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (backup_id, _, _) = export(&mut c, &mut l, plain("hostile")).await;
    let (archive, key) = download(&mut c, &backup_id).await;
    let (mut v, mut vl) = victim(&server).await;
    // Something already there, which must survive every attempt.
    crate::support::mkdir(&mut v, "keep me", None).await;

    let link = |kind: tar::EntryType| {
        move |list: &mut Vec<Member>| {
            let i = first_blob(list);
            list[i].kind = kind;
            list[i].link = Some(b"/etc/passwd".to_vec());
            list[i].data.clear();
        }
    };
    let cases: Vec<Case> = vec![
        (
            "symlink blob",
            "backup_manifest_invalid",
            Box::new(link(tar::EntryType::Symlink)),
        ),
        (
            "hard link blob",
            "backup_manifest_invalid",
            Box::new(link(tar::EntryType::Link)),
        ),
        (
            "traversal name",
            "backup_manifest_invalid",
            Box::new(|list: &mut Vec<Member>| {
                list.insert(1, regular("../../../tmp/coffer-evil", b"owned".to_vec()));
            }),
        ),
        (
            "absolute name",
            "backup_manifest_invalid",
            Box::new(|list: &mut Vec<Member>| {
                list.insert(1, regular("/tmp/coffer-evil", b"owned".to_vec()));
            }),
        ),
        (
            "traversal blob name",
            "backup_manifest_invalid",
            Box::new(|list: &mut Vec<Member>| {
                let i = first_blob(list);
                list[i].name = b"files/../../../../tmp/coffer-evil".to_vec();
            }),
        ),
        (
            "PAX extension header (a huge one would be read whole by a naive reader)",
            "backup_manifest_invalid",
            Box::new(|list: &mut Vec<Member>| {
                let mut pax = regular("./PaxHeaders/x", b"27 path=../../tmp/evil.txt\n".to_vec());
                pax.kind = tar::EntryType::XHeader;
                list.insert(1, pax);
            }),
        ),
        (
            "GNU long name",
            "backup_manifest_invalid",
            Box::new(|list: &mut Vec<Member>| {
                let mut long = regular("././@LongLink", b"folders.jsonl\0".to_vec());
                long.kind = tar::EntryType::GNULongName;
                list.insert(1, long);
            }),
        ),
        (
            "duplicate manifest",
            "backup_manifest_invalid",
            Box::new(|list: &mut Vec<Member>| {
                let i = index(list, "folders.jsonl");
                let copy = regular("folders.jsonl", list[i].data.clone());
                list.insert(i + 1, copy);
            }),
        ),
        (
            "unknown member",
            "backup_manifest_invalid",
            Box::new(|list: &mut Vec<Member>| {
                list.insert(1, regular("extra.txt", b"hello".to_vec()));
            }),
        ),
        (
            "blob swapped for other bytes",
            "backup_blob_mismatch",
            Box::new(|list: &mut Vec<Member>| {
                let i = first_blob(list);
                let len = list[i].data.len();
                list[i].data = vec![b'x'; len];
            }),
        ),
        (
            "missing blob",
            "backup_manifest_mismatch",
            Box::new(|list: &mut Vec<Member>| {
                let i = first_blob(list);
                list.remove(i);
            }),
        ),
        (
            "document in a folder the archive lacks",
            "import_reference_invalid",
            Box::new(|list: &mut Vec<Member>| {
                edit_first_line(list, "documents.jsonl", |d| {
                    d["folder_id"] = uuid::Uuid::new_v4().to_string().into();
                });
            }),
        ),
        (
            "revision of a file the archive lacks",
            "import_reference_invalid",
            Box::new(|list: &mut Vec<Member>| {
                edit_first_line(list, "documents.jsonl", |d| {
                    d["revisions"][0]["file_id"] = "init".into();
                });
            }),
        ),
        (
            "folder whose parent comes later or not at all",
            "import_reference_invalid",
            Box::new(|list: &mut Vec<Member>| {
                edit_first_line(list, "folders.jsonl", |f| {
                    f["parent_id"] = uuid::Uuid::new_v4().to_string().into();
                });
            }),
        ),
        (
            "a name that is a path",
            "backup_manifest_invalid",
            Box::new(|list: &mut Vec<Member>| {
                edit_first_line(list, "folders.jsonl", |f| {
                    f["name"] = "../../etc".into();
                });
            }),
        ),
    ];
    for (case, code, change) in cases {
        let hostile = reseal(&archive, &key, change);
        refused(
            &server,
            (&mut v, &mut vl),
            &hostile,
            &key,
            false,
            code,
            case,
        )
        .await;
    }
    assert!(!std::path::Path::new("/tmp/coffer-evil").exists());
    // The untouched archive still imports into the same tenant afterwards.
    let (event, _) = import(&mut v, &mut vl, &archive, &key, |r| {
        r.mode = Some(ImportMode::Merge);
    })
    .await;
    assert_eq!(event["status"], "completed");
}

const LEGACY_KEY: [u8; 32] = [0x42; 32];

fn legacy_key_file() -> Vec<u8> {
    format!(
        r#"{{"key": "{}", "algorithm": "AES-256-CBC", "created_at": 1.0, "backup_name": "x"}}"#,
        hex::encode(LEGACY_KEY)
    )
    .into_bytes()
}

fn legacy_archive(members: &[Member]) -> Vec<u8> {
    let iv = [7u8; 16];
    let mut out = iv.to_vec();
    out.extend(
        cbc::Encryptor::<Aes256>::new(&LEGACY_KEY.into(), &iv.into())
            .encrypt_padded_vec_mut::<Pkcs7>(&build(members)),
    );
    out
}

/// A small, valid CFMS archive's members.
fn legacy_members() -> Vec<Member> {
    let json = |v: serde_json::Value| v.to_string().into_bytes();
    vec![
        regular(
            "./metadata.json",
            json(serde_json::json!({"version": "1.0", "created_at": 1.0,
                "documents_count": 1, "folders_count": 1, "files_count": 1})),
        ),
        regular(
            "./folders.json",
            json(
                serde_json::json!([{"id": "f1", "name": "Docs", "created_time": 1.0,
                "parent_id": null, "access_rules": []}]),
            ),
        ),
        regular(
            "./documents.json",
            json(
                serde_json::json!([{"id": "d1", "title": "a.txt", "created_time": 1.0,
                "folder_id": "f1", "access_rules": [],
                "revisions": [{"id": 1, "document_id": "d1", "file_id": "x1", "created_time": 2.0}]}]),
            ),
        ),
        regular(
            "./files.json",
            json(
                serde_json::json!([{"id": "x1", "sha256": null, "path": "/srv/x1",
                "created_time": 1.0, "active": true}]),
            ),
        ),
        regular("./files/x1", b"legacy bytes".to_vec()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_legacy_archives_are_refused() {
    let server = TestServer::start().await;
    let (mut v, mut vl) = victim(&server).await;
    crate::support::mkdir(&mut v, "keep me", None).await;
    let key = legacy_key_file();
    let cases: Vec<Case> = vec![
        (
            "traversal member",
            "backup_manifest_invalid",
            Box::new(|m: &mut Vec<Member>| {
                m.push(regular("../../../tmp/coffer-evil", b"owned".to_vec()));
            }),
        ),
        (
            "absolute member",
            "backup_manifest_invalid",
            Box::new(|m: &mut Vec<Member>| m.push(regular("/tmp/coffer-evil", b"x".to_vec()))),
        ),
        (
            "symlink blob",
            "backup_manifest_invalid",
            Box::new(|m: &mut Vec<Member>| {
                let last = m.len() - 1;
                m[last].kind = tar::EntryType::Symlink;
                m[last].link = Some(b"/etc/passwd".to_vec());
                m[last].data.clear();
            }),
        ),
        (
            "file id that is a path",
            "backup_manifest_invalid",
            Box::new(|m: &mut Vec<Member>| {
                m.push(regular("./files/../../../tmp/coffer-evil", b"x".to_vec()));
            }),
        ),
        (
            "PAX header renaming a member to a traversal path",
            "backup_manifest_invalid",
            Box::new(|m: &mut Vec<Member>| {
                let mut pax = regular(
                    "./PaxHeaders/x1",
                    b"32 path=../../tmp/coffer-evil.x\n".to_vec(),
                );
                pax.kind = tar::EntryType::XHeader;
                let last = m.len() - 1;
                m.insert(last, pax);
            }),
        ),
        (
            "oversized PAX header",
            "backup_manifest_invalid",
            Box::new(|m: &mut Vec<Member>| {
                let mut pax = regular("./PaxHeaders/x1", vec![b'9'; 70 * 1024]);
                pax.kind = tar::EntryType::XHeader;
                m.insert(1, pax);
            }),
        ),
        (
            "duplicate blob",
            "backup_manifest_invalid",
            Box::new(|m: &mut Vec<Member>| m.push(regular("./files/x1", b"other".to_vec()))),
        ),
        (
            "recorded sha256 that the bytes do not match",
            "backup_blob_mismatch",
            Box::new(|m: &mut Vec<Member>| {
                m[3].data = serde_json::json!([{"id": "x1", "sha256": "0".repeat(64)}])
                    .to_string()
                    .into_bytes();
            }),
        ),
        (
            "revision whose file has no bytes",
            "import_reference_invalid",
            Box::new(|m: &mut Vec<Member>| {
                m.pop();
            }),
        ),
        (
            "document in a folder the archive lacks",
            "import_reference_invalid",
            Box::new(|m: &mut Vec<Member>| {
                let text = String::from_utf8(m[2].data.clone()).unwrap();
                m[2].data = text
                    .replace("\"folder_id\":\"f1\"", "\"folder_id\":\"init\"")
                    .into_bytes();
            }),
        ),
        (
            "counts that do not match",
            "backup_manifest_mismatch",
            Box::new(|m: &mut Vec<Member>| {
                m[0].data = serde_json::json!({"version": "1.0", "documents_count": 5,
                    "folders_count": 1, "files_count": 1})
                .to_string()
                .into_bytes();
            }),
        ),
    ];
    for (case, code, change) in cases {
        let mut list = legacy_members();
        change(&mut list);
        let archive = legacy_archive(&list);
        refused(&server, (&mut v, &mut vl), &archive, &key, true, code, case).await;
    }
    assert!(!std::path::Path::new("/tmp/coffer-evil").exists());
    // The same archive, unaltered, imports.
    let archive = legacy_archive(&legacy_members());
    let (event, status) = import(&mut v, &mut vl, &archive, &key, |r| {
        r.mode = Some(ImportMode::Merge);
        r.allow_legacy = true;
    })
    .await;
    assert_eq!(event["status"], "completed", "{status:?}");
}
