//! A key file is bound to its archive: one whose `backup_id` or `created_at` differs from the
//! archive header's — edited, or written for another backup with the same key — is
//! `backup_key_invalid` on every path that pairs a key with an archive (the import's start,
//! `verify_backup`, the offline `coffer backup verify`), and nothing is written.
use api_spec::jobs::ImportMode;
use std::time::{Duration, Instant};

use api_spec::ErrorCode;
use api_spec::actions::{GetBackupImportStatus, JobIdRequest, StartBackupImport};
use clap::Parser;
use coffer::archive::keys::{KdfLimits, KeyFile, WrapParams};
use serde_json::Value;

use crate::backups::{download, export, listener, plain, populate, server};
use crate::hostile::stored_pair_refused;
use crate::imports::{census, import, start, upload_pair};

const PASS: &str = "correct horse battery";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_naming_another_backup_is_refused_everywhere() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (backup_id, _, _) = export(&mut c, &mut l, plain("bound")).await;
    let (archive, key) = download(&mut c, &backup_id).await;
    let (mut v, mut vl) = crate::imports::tenant(&server, "victim").await;
    crate::support::mkdir(&mut v, "keep me", None).await;
    let original: Value = serde_json::from_slice(&key).unwrap();
    let cases: [(&str, Value); 4] = [
        ("backup_id \"\"", Value::from("")),
        (
            "another backup's id",
            Value::from(uuid::Uuid::new_v4().to_string()),
        ),
        ("created_at 0", Value::from(0)),
        ("created_at -1", Value::from(-1)),
    ];
    for (case, value) in cases {
        let mut edited = original.clone();
        let field = if case.starts_with("created_at") {
            "created_at"
        } else {
            "backup_id"
        };
        edited[field] = value;
        let edited = serde_json::to_vec_pretty(&edited).unwrap();
        // Otherwise a valid key file: it parses and unlocks.
        let file = KeyFile::parse(&edited).unwrap();
        assert!(file.unlock(None, KdfLimits::FORMAT).is_ok(), "{case}");

        let before = census(&server, "victim").await;
        let init = upload_pair(&mut v, &archive, &edited).await;
        // A merge: the victim holds a folder, and a restore would be refused for that first.
        let mut merge = start(&init.backup_task_id);
        merge.mode = Some(ImportMode::Merge);
        let e = v.call::<StartBackupImport>(&merge).await.unwrap_err();
        assert_eq!(e.error, ErrorCode::BackupKeyInvalid, "import, {case}");
        let job = v
            .call::<GetBackupImportStatus>(&JobIdRequest {
                backup_task_id: init.backup_task_id.clone(),
            })
            .await
            .unwrap();
        assert_eq!(
            job.status, "pending",
            "{case}: the client may try another key"
        );
        assert_eq!(census(&server, "victim").await, before, "{case}");

        let pair = (archive.as_slice(), edited.as_slice());
        let code = ErrorCode::BackupKeyInvalid;
        stored_pair_refused(&server, &mut c, &backup_id, pair, code, case).await;
    }
    // The key file as written still opens its archive.
    let (event, status) = import(&mut v, &mut vl, &archive, &key, |r| {
        r.mode = Some(ImportMode::Merge);
    })
    .await;
    assert_eq!(event["status"], "completed", "{status:?}");
}

/// A passphrase-wrapped key file names its own argon2id cost (the format allows 4 GiB and 64
/// iterations). The server pays at most its limits (`backup_kdf_max_memory_kib` /
/// `backup_kdf_max_iterations`, 256 MiB and 8 by default) and refuses a key asking more with
/// `key_cost_too_high`, naming the limits, before doing any of that work — at the import's
/// start (the job stays pending), in `verify_backup` and in the offline `coffer backup
/// verify`, which unlocks it when given larger limits (`--max-kdf-iterations`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_asking_too_much_work_is_refused_before_the_work() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (backup_id, _, _) = export(&mut c, &mut l, plain("costly")).await;
    let (archive, key) = download(&mut c, &backup_id).await;
    let raw = KeyFile::parse(&key).unwrap();
    let bound = raw.unlock(None, KdfLimits::FORMAT).unwrap();
    let wrap = |iterations| {
        let params = WrapParams {
            memory_kib: 8 * 1024,
            iterations,
        };
        let backup = uuid::Uuid::parse_str(&raw.backup_id).unwrap();
        KeyFile::new(bound.key(), backup, raw.created_at, Some(PASS), params).unwrap()
    };
    let mut most = wrap(1);
    let w = most.wrapped.as_mut().unwrap();
    (w.memory_kib, w.iterations) = (4 * 1024 * 1024, 64);
    let cases = [("4 GiB × 64", most), ("9 iterations", wrap(9))];
    let (mut v, _vl) = crate::imports::tenant(&server, "victim").await;
    for (case, file) in cases {
        let file = serde_json::to_vec_pretty(&file).unwrap();
        let before = census(&server, "victim").await;
        let init = upload_pair(&mut v, &archive, &file).await;
        let mut req = start(&init.backup_task_id);
        req.passphrase = Some(PASS.into());
        let started = Instant::now();
        let e = v.call::<StartBackupImport>(&req).await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{case}: refused after {:?}",
            started.elapsed()
        );
        assert_eq!(e.error, ErrorCode::KeyCostTooHigh, "{case}");
        assert_eq!(
            (&e.data["max_memory_kib"], &e.data["max_iterations"]),
            (&Value::from(262_144), &Value::from(8)),
            "{case}"
        );
        let job = v
            .call::<GetBackupImportStatus>(&JobIdRequest {
                backup_task_id: init.backup_task_id.clone(),
            })
            .await
            .unwrap();
        assert_eq!(job.status, "pending", "{case}");
        assert_eq!(census(&server, "victim").await, before, "{case}");
        let pair = (archive.as_slice(), file.as_slice());
        let code = ErrorCode::KeyCostTooHigh;
        stored_pair_refused(&server, &mut c, &backup_id, pair, code, case).await;
    }
    // Offline, an operator may pay more: the 9-iteration key opens with a larger limit.
    let dir = tempfile::tempdir().unwrap();
    let (archive_file, key_file, pass_file) = (
        dir.path().join("a.cbk"),
        dir.path().join("a.key"),
        dir.path().join("pass"),
    );
    std::fs::write(&archive_file, &archive).unwrap();
    std::fs::write(&key_file, serde_json::to_vec(&wrap(9)).unwrap()).unwrap();
    std::fs::write(&pass_file, PASS).unwrap();
    let verify = |extra: &[&str]| {
        let mut args = vec!["coffer", "backup", "verify", archive_file.to_str().unwrap()];
        args.extend(["--key", key_file.to_str().unwrap()]);
        args.extend(["--passphrase-file", pass_file.to_str().unwrap()]);
        args.extend(extra);
        coffer::cli::Cli::parse_from(args)
    };
    let e = coffer::cli::run(verify(&[])).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::KeyCostTooHigh);
    coffer::cli::run(verify(&["--max-kdf-iterations", "9"]))
        .await
        .unwrap();
}
