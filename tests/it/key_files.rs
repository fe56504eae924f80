//! A key file is bound to its archive: one whose `backup_id` or `created_at` differs from the
//! archive header's — edited, or written for another backup with the same key — is
//! `backup_key_invalid` on every path that pairs a key with an archive (the import's start,
//! `verify_backup`, the offline `coffer backup verify`), and nothing is written.
use api_spec::ErrorCode;
use api_spec::actions::{GetBackupImportStatus, JobIdRequest, StartBackupImport};
use serde_json::Value;

use crate::backups::{download, export, listener, plain, populate, server};
use crate::hostile::stored_pair_refused;
use crate::imports::{census, import, start, upload_pair};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_file_naming_another_backup_is_refused_everywhere() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (backup_id, _, _) = export(&mut c, &mut l, plain("bound")).await;
    let (archive, key) = download(&server, &mut c, &backup_id).await;
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
        let file = coffer::backup::keys::KeyFile::parse(&edited).unwrap();
        assert!(file.unlock(None).is_ok(), "{case}");

        let before = census(&server, "victim").await;
        let init = upload_pair(&server, &mut v, &archive, &edited).await;
        let e = v
            .call::<StartBackupImport>(&start(&init.backup_task_id))
            .await
            .unwrap_err();
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
    let (event, status) = import(&server, &mut v, &mut vl, &archive, &key, |r| {
        r.mode = Some("merge".into());
    })
    .await;
    assert_eq!(event["status"], "completed", "{status:?}");
}
