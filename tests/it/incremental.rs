//! Incremental backups (issue 26): links of a chain that carry only what changed, listed
//! with their base, verified and restored with their chain, and kept while needed.
use api_spec::ErrorCode;
use api_spec::actions::{
    BackupIdRequest, BackupInfo, DeleteBackup, DeleteDocument, DocumentIdRequest, GenerateBackup,
    GenerateBackupRequest, GenerateBackupResponse, RestoreBackup, RestoreBackupRequest,
    VerifyBackup, VerifyBackupRequest,
};
use tests::{Client, TestServer};

use crate::backups::{content, download, plain, server};
use crate::imports::{snapshot, tenant, tenant_id};
use crate::lifecycle::{backups, import_ended};
use crate::support::{mkdir, mkdoc, new_revision};

/// Size of each document's content: random bytes, so the archive is about their sum.
const DOC: usize = 64 * 1024;

/// Starts an export with `req` and waits for its completion event.
async fn export(
    c: &mut Client,
    l: &mut Client,
    req: GenerateBackupRequest,
) -> GenerateBackupResponse {
    let started = c.call::<GenerateBackup>(&req).await.unwrap();
    loop {
        let event = l.next_event().await;
        if event.event == "backup_export_completed"
            && event.data["backup_task_id"] == started.backup_task_id
        {
            assert_eq!(event.data["status"], "completed", "{}", event.data);
            return started;
        }
    }
}

fn incremental(name: &str, base: Option<&str>) -> GenerateBackupRequest {
    GenerateBackupRequest {
        incremental: true,
        base_backup_id: base.map(str::to_owned),
        ..plain(name)
    }
}

fn info<'a>(list: &'a [BackupInfo], id: &str) -> &'a BackupInfo {
    list.iter().find(|b| b.backup_id == id).expect("listed")
}

/// A tenant `slug` with a folder of 20 documents, and its full backup.
async fn tenant_with_full_backup(
    server: &TestServer,
    slug: &str,
) -> (Client, Client, Vec<String>, String) {
    let (mut c, mut l) = tenant(server, slug).await;
    let folder = mkdir(&mut c, "docs", None).await;
    let mut docs = Vec::new();
    for i in 0..20 {
        let name = format!("d{i}.bin");
        // Odd seeds: `content` makes one stream per odd seed.
        docs.push(mkdoc(&mut c, &name, Some(&folder), &content(DOC, 2 * i + 1)).await);
    }
    // Asked incremental with no backup to build on: a full one, and it says so.
    let full = export(&mut c, &mut l, incremental("full", None)).await;
    assert!(!full.incremental);
    assert_eq!(full.base_backup_id, None);
    (c, l, docs, full.backup_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_backup_carries_only_what_changed_and_restores_whole() {
    let server = server().await;
    let (mut c, mut l, docs, full) = tenant_with_full_backup(&server, "inc").await;
    // One changed, one added, one deleted.
    new_revision(&mut c, &docs[0], &content(DOC, 1001)).await;
    let folder = crate::support::doc_info(&mut c, &docs[2]).await.parent_id;
    mkdoc(&mut c, "new.bin", folder.as_deref(), &content(DOC, 1003)).await;
    c.call::<DeleteDocument>(&DocumentIdRequest {
        document_id: docs[1].clone(),
    })
    .await
    .unwrap();
    let at_link = snapshot(&server, "inc").await;

    let link = export(&mut c, &mut l, incremental("link", None)).await;
    assert!(link.incremental);
    assert_eq!(link.base_backup_id.as_deref(), Some(full.as_str()));
    let list = backups(&mut c).await;
    let (f, i) = (info(&list, &full), info(&list, &link.backup_id));
    assert_eq!(i.base_backup_id.as_deref(), Some(full.as_str()));
    assert_eq!(f.base_backup_id, None);
    let (full_size, link_size) = (f.size.unwrap(), i.size.unwrap());
    // Two new blobs and the manifests, against twenty blobs.
    assert!(link_size <= 2 * 2 * DOC as u64 + 64 * 1024, "{link_size}");
    assert!(full_size > 20 * DOC as u64, "{full_size}");
    assert_eq!(i.chain_size, Some(full_size + link_size));
    assert_eq!(f.chain_size, Some(full_size));
    // What the tenant's backups take in the store: every link.
    let scrape = crate::lifecycle::metrics(&server).await;
    let stored =
        crate::lifecycle::sample(&scrape, "coffer_backup_stored_bytes", &[("tenant", "inc")]);
    assert_eq!(stored, Some((full_size + link_size) as f64));
    let (archive, _) = download(&mut c, &link.backup_id).await;
    assert_eq!(
        &archive[8..12],
        &[0, 2, 0, 2],
        "format and min reader version 2"
    );

    // A link of a chain verifies with its chain.
    let verified = c
        .call::<VerifyBackup>(&VerifyBackupRequest {
            backup_id: link.backup_id.clone(),
            passphrase: None,
            identity: None,
        })
        .await
        .unwrap();
    assert_eq!(verified.counts["documents"], 20);

    // The base stays while the link needs it.
    let e = c
        .call::<DeleteBackup>(&BackupIdRequest {
            backup_id: full.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.error, ErrorCode::BackupNeeded);
    assert_eq!(e.data["backup_id"], link.backup_id.as_str());

    // Restored into the emptied tenant: exactly as it was when the link was made.
    let ended = crate::support::empty_and_restore(&mut c, &link.backup_id).await;
    assert_eq!(ended.status, "completed", "{ended:?}");
    assert_eq!(snapshot(&server, "inc").await, at_link);

    // Once the link is gone, so may the base go.
    for id in [&link.backup_id, &full] {
        c.call::<DeleteBackup>(&BackupIdRequest {
            backup_id: id.clone(),
        })
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_or_missing_base_breaks_the_chain_naming_it_and_changes_nothing() {
    let server = server().await;
    let (mut c, mut l, docs, full) = tenant_with_full_backup(&server, "broken").await;
    new_revision(&mut c, &docs[3], &content(DOC, 2001)).await;
    let link = export(&mut c, &mut l, incremental("link", Some(&full))).await;
    assert_eq!(link.base_backup_id.as_deref(), Some(full.as_str()));

    // One flipped byte in the stored base.
    let tenant = tenant_id(&server, "broken").await;
    let object = coffer::layout::archive_object(tenant, full.parse().unwrap());
    let (mut base, _) = download(&mut c, &full).await;
    let at = base.len() / 2;
    base[at] ^= 1;
    server.store_object(&object, &base).await;
    let before = snapshot(&server, "broken").await;

    let e = c
        .call::<VerifyBackup>(&VerifyBackupRequest {
            backup_id: link.backup_id.clone(),
            passphrase: None,
            identity: None,
        })
        .await
        .unwrap_err();
    assert_eq!(e.error, ErrorCode::BackupChainBroken);
    assert_eq!(e.data["backup_id"], full.as_str());
    let list = backups(&mut c).await;
    assert_eq!(info(&list, &link.backup_id).verification, "failed");

    let queued = c
        .call::<RestoreBackup>(&RestoreBackupRequest {
            backup_id: link.backup_id.clone(),
            mode: Some(api_spec::jobs::ImportMode::Merge),
            ..RestoreBackupRequest::default()
        })
        .await
        .unwrap();
    let ended = import_ended(&mut c, &queued.backup_task_id).await;
    assert_eq!(ended.status, "failed");
    assert_eq!(ended.error.as_deref(), Some("backup_chain_broken"));
    // The job's message names the link at fault, as the reply's `data.backup_id` does.
    let message = ended.error_message.unwrap_or_default();
    assert!(message.contains(&format!("(backup {full})")), "{message}");
    assert_eq!(snapshot(&server, "broken").await, before);

    // A link made on a base that no longer verifies is not a base: the next is full.
    let next = export(&mut c, &mut l, incremental("next", None)).await;
    assert!(!next.incremental, "{next:?}");

    // A base named that the tenant does not have.
    let e = c
        .call::<GenerateBackup>(&incremental("x", Some(&uuid::Uuid::now_v7().to_string())))
        .await
        .unwrap_err();
    assert_eq!(e.error, ErrorCode::BackupNotFound);
    // A base without incremental says nothing sensible.
    let e = c
        .call::<GenerateBackup>(&GenerateBackupRequest {
            base_backup_id: Some(full.clone()),
            ..plain("x")
        })
        .await
        .unwrap_err();
    assert_eq!(e.error, ErrorCode::InvalidField);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_makes_every_nth_backup_full_and_retention_holds_the_links_kept_ones_need() {
    use api_spec::actions::{BackupPolicy, PruneBackups, PruneBackupsRequest, SetBackupPolicy};
    use coffer::time::ManualClock;
    use std::sync::Arc;

    use crate::lifecycle::{HOUR, JAN_1, settle, tick};

    let clock = Arc::new(ManualClock::at(JAN_1 - 60_000));
    let server = TestServer::start_with_clock(|_| {}, clock.clone()).await;
    let mut c = server.admin().await;
    crate::backups::populate(&mut c).await;
    let policy = c
        .call::<SetBackupPolicy>(&BackupPolicy {
            schedule: Some("0 * * * *".into()),
            full_every: Some(3),
            keep_last: Some(2),
            ..BackupPolicy::default()
        })
        .await
        .unwrap()
        .policy
        .unwrap();
    assert_eq!(policy.full_every, 3);
    // Seven hourly slots, a document changed before each.
    let mut made = Vec::new();
    for hour in 0..7 {
        mkdoc(
            &mut c,
            &format!("hour {hour}.bin"),
            None,
            &content(DOC, 3001 + 2 * hour),
        )
        .await;
        clock.set(JAN_1 + hour as i64 * HOUR + 60_000);
        assert_eq!(tick(&server).await, 1, "hour {hour}");
        let list = settle(&mut c, |l| l.iter().any(|b| !made.contains(&b.backup_id))).await;
        let newest = &list[0];
        made.push(newest.backup_id.clone());
        let expected_base = match hour % 3 {
            0 => None,
            _ => Some(made[hour as usize - 1].clone()),
        };
        assert_eq!(newest.base_backup_id, expected_base, "hour {hour}");
    }
    // keep_last 2 keeps the full backup of hour 6 and the link of hour 5; that link needs
    // those of hours 4 and 3, which stay, held; the rest went after each backup.
    let list = backups(&mut c).await;
    let ids: Vec<&str> = list.iter().map(|b| b.backup_id.as_str()).collect();
    assert_eq!(
        ids,
        [&made[6], &made[5], &made[4], &made[3]].map(String::as_str)
    );
    let pruned = c
        .call::<PruneBackups>(&PruneBackupsRequest { dry_run: true })
        .await
        .unwrap();
    assert_eq!(pruned.kept, [made[6].clone(), made[5].clone()]);
    assert!(pruned.removed.is_empty(), "{pruned:?}");
    let held: Vec<(&str, &str)> = pruned
        .held
        .iter()
        .map(|h| (h.backup_id.as_str(), h.needed_by.as_str()))
        .collect();
    assert_eq!(
        held,
        [
            (made[4].as_str(), made[5].as_str()),
            (made[3].as_str(), made[5].as_str())
        ]
    );
    // Every kept backup restores: the newest link reads its chain whole.
    let verified = c
        .call::<VerifyBackup>(&VerifyBackupRequest {
            backup_id: made[5].clone(),
            passphrase: None,
            identity: None,
        })
        .await
        .unwrap();
    assert_eq!(verified.counts["documents"], 42 + 6);
}

/// Where the committed chain lives: three links, oldest a full backup (see its README).
fn chain_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/backup-chain")
}

/// Writes `tests/fixtures/backup-chain/` anew: a tool, not a test (`cargo nextest run -p
/// tests --test integration --run-ignored only write_the_chain_fixture`). Never run it to
/// make a failing reader pass: the committed files are what users' backups look like.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes the committed fixture"]
async fn write_the_chain_fixture() {
    let server = server().await;
    let (mut c, mut l) = tenant(&server, "chain").await;
    let folder = mkdir(&mut c, "Notes", None).await;
    let first = mkdoc(&mut c, "first.txt", Some(&folder), b"the first note\n").await;
    mkdoc(&mut c, "second.txt", Some(&folder), b"the second note\n").await;
    let full = export(&mut c, &mut l, plain("full")).await;
    new_revision(&mut c, &first, b"the first note, edited\n").await;
    let one = export(&mut c, &mut l, incremental("link 1", None)).await;
    mkdoc(&mut c, "third.txt", None, b"a third note at the top\n").await;
    let two = export(&mut c, &mut l, incremental("link 2", None)).await;
    assert_eq!(two.base_backup_id.as_deref(), Some(one.backup_id.as_str()));
    let dir = chain_fixture();
    std::fs::create_dir_all(&dir).unwrap();
    let links = [&two.backup_id, &one.backup_id, &full.backup_id];
    for id in links {
        let (archive, key) = download(&mut c, id).await;
        std::fs::write(dir.join(format!("{id}.cbk")), archive).unwrap();
        std::fs::write(dir.join(format!("{id}.key.json")), key).unwrap();
    }
    let chain = serde_json::json!({"links": links, "documents": 3, "revisions": 4, "folders": 1});
    std::fs::write(dir.join("chain.json"), format!("{chain:#}\n")).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_committed_chain_fixture_keeps_verifying_and_any_broken_link_is_named() {
    use coffer::archive::chain::Links;
    use coffer::archive::keys::KdfLimits;
    let dir = chain_fixture();
    let chain: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("chain.json")).unwrap()).unwrap();
    let links: Vec<String> = serde_json::from_value(chain["links"].clone()).unwrap();
    let verify = |dir: &std::path::Path| {
        let newest = &links[0];
        let archive = dir.join(format!("{newest}.cbk"));
        let key = dir.join(format!("{newest}.key.json"));
        coffer::cli::offline::verify((&archive, &key), dir, Default::default(), KdfLimits::FORMAT)
    };
    let out = verify(&dir).unwrap();
    assert_eq!(out["chain"], serde_json::json!(links));
    // Extracted offline, the newest link's tree comes out whole: its own blobs and those
    // of the links before it.
    let target = tempfile::tempdir().unwrap();
    let newest = dir.join(format!("{}.cbk", links[0]));
    let key = dir.join(format!("{}.key.json", links[0]));
    let opened = coffer::cli::offline::open(
        &newest,
        &key,
        Default::default(),
        KdfLimits::FORMAT,
        "extracting",
        false,
    )
    .unwrap();
    let mut dir_links = coffer::cli::offline::DirLinks {
        dir: &dir,
        secret: Default::default(),
        limits: KdfLimits::FORMAT,
    };
    let source = (opened.reader, &opened.key, &mut dir_links as &mut dyn Links);
    let into = target.path().join("out");
    let said = coffer::cli::extract::extract(source, &into, "", false).expect("extract");
    let read = |p: &str| {
        std::fs::read_to_string(target.path().join("out").join(p))
            .unwrap_or_else(|e| panic!("{p}: {e}; extract said {said}"))
    };
    assert_eq!(read("Notes/first.txt"), "the first note, edited\n");
    assert_eq!(read("Notes/second.txt"), "the second note\n");
    assert_eq!(read("third.txt"), "a third note at the top\n");
    for what in ["documents", "revisions", "folders"] {
        assert_eq!(out["counts"][what], chain[what], "{what}");
    }
    // The earlier links: removed, or one byte flipped, in a copy.
    for link in &links[1..] {
        for damage in ["removed", "flipped"] {
            let copy = tempfile::tempdir().unwrap();
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                std::fs::copy(&path, copy.path().join(path.file_name().unwrap())).unwrap();
            }
            let archive = copy.path().join(format!("{link}.cbk"));
            if damage == "removed" {
                std::fs::remove_file(&archive).unwrap();
            } else {
                let mut bytes = std::fs::read(&archive).unwrap();
                let at = bytes.len() / 2;
                bytes[at] ^= 1;
                std::fs::write(&archive, bytes).unwrap();
            }
            let e = verify(copy.path()).unwrap_err();
            assert_eq!(e.code(), ErrorCode::BackupChainBroken, "{link} {damage}");
            assert_eq!(e.to_reply_data().backup_id.as_deref(), Some(link.as_str()));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_uploaded_whole_imports_into_another_tenant_and_one_link_alone_is_refused() {
    use api_spec::actions::{InitiateBackupImport, InitiateBackupImportRequest, StartBackupImport};

    use crate::imports::{finished, start, upload_pair};

    let server = server().await;
    let (mut c, mut l, docs, full) = tenant_with_full_backup(&server, "source").await;
    new_revision(&mut c, &docs[5], &content(DOC, 4001)).await;
    mkdoc(&mut c, "later.bin", None, &content(DOC, 4003)).await;
    let link = export(&mut c, &mut l, incremental("link", None)).await;
    let at_link = snapshot(&server, "source").await;
    let (link_archive, link_key) = download(&mut c, &link.backup_id).await;
    let (full_archive, full_key) = download(&mut c, &full).await;

    // Alone, in a tenant that holds none of its chain: broken at its base, nothing imported.
    let (mut d, mut dl) = tenant(&server, "alone").await;
    let before = snapshot(&server, "alone").await;
    let init = upload_pair(&mut d, &link_archive, &link_key).await;
    d.call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap();
    let (event, status) = finished(&mut d, &mut dl, &init.backup_task_id).await;
    assert_eq!(event["status"], "failed", "{status:?}");
    assert_eq!(status.error.as_deref(), Some("backup_chain_broken"));
    assert_eq!(snapshot(&server, "alone").await, before);

    // With its chain: one more pair of uploads per earlier link, in any pairing order.
    let (mut d, mut dl) = tenant(&server, "copy").await;
    let init = d
        .call::<InitiateBackupImport>(&InitiateBackupImportRequest {
            timeout_seconds: Some(600),
            links: Some(1),
        })
        .await
        .unwrap();
    assert_eq!(init.link_tasks.len(), 1);
    d.upload(&init.archive_task_id, &link_archive)
        .await
        .unwrap();
    d.upload(&init.key_task_id, &link_key).await.unwrap();
    let pair = &init.link_tasks[0];
    d.upload(&pair.key_task_id, &full_key).await.unwrap();
    d.upload(&pair.archive_task_id, &full_archive)
        .await
        .unwrap();
    d.call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap();
    let (event, status) = finished(&mut d, &mut dl, &init.backup_task_id).await;
    assert_eq!(event["status"], "completed", "{status:?}");
    let copied = snapshot(&server, "copy").await;
    assert_eq!(copied, at_link);

    // Links asked for but not uploaded: the import cannot start.
    let init = d
        .call::<InitiateBackupImport>(&InitiateBackupImportRequest {
            timeout_seconds: Some(600),
            links: Some(1),
        })
        .await
        .unwrap();
    d.upload(&init.archive_task_id, &link_archive)
        .await
        .unwrap();
    d.upload(&init.key_task_id, &link_key).await.unwrap();
    let e = d
        .call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap_err();
    assert_eq!(e.error, ErrorCode::ImportUploadsIncomplete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_backup_made_on_one_instance_restores_on_another() {
    use crate::support::{content_of, list};

    let mut server = server().await;
    if !server.uses_postgres() || !server.uses_s3() {
        return;
    }
    let (mut c, mut l, docs, _) = tenant_with_full_backup(&server, "multi").await;
    new_revision(&mut c, &docs[7], &content(DOC, 5001)).await;
    let link = export(&mut c, &mut l, incremental("link", None)).await;
    assert!(link.incremental);
    // B shares the database and the object store, not the disk; A stops, so B runs the job.
    let own_disk = tempfile::tempdir().unwrap();
    let b =
        crate::instances::another(&server, |c| c.data_dir = own_disk.path().to_path_buf()).await;
    server.stop().await;
    let mut on_b = crate::instances::tenant_admin_on(b.addr(), "multi").await;
    let ended = crate::support::empty_and_restore(&mut on_b, &link.backup_id).await;
    assert_eq!(ended.status, "completed", "{ended:?}");
    let folder = &list(&mut on_b, None).await.folders[0];
    let restored = list(&mut on_b, Some(&folder.id)).await.documents;
    assert_eq!(restored.len(), 20);
    let changed = restored.iter().find(|d| d.title == "d7.bin").unwrap();
    assert_eq!(content_of(&mut on_b, &changed.id).await, content(DOC, 5001));
    let kept = restored.iter().find(|d| d.title == "d8.bin").unwrap();
    assert_eq!(content_of(&mut on_b, &kept.id).await, content(DOC, 17));
    b.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_days_of_daily_links_keep_exactly_what_the_kept_backups_need() {
    use api_spec::actions::{BackupPolicy, SetBackupPolicy};
    use coffer::time::ManualClock;
    use std::collections::HashSet;
    use std::sync::Arc;

    use crate::lifecycle::{JAN_1, settle, tick};
    const DAY: i64 = 24 * crate::lifecycle::HOUR;

    let clock = Arc::new(ManualClock::at(JAN_1 - 60_000));
    let server = TestServer::start_with_clock(|_| {}, clock.clone()).await;
    let mut c = server.admin().await;
    let note = mkdoc(&mut c, "diary.txt", None, b"day 0").await;
    c.call::<SetBackupPolicy>(&BackupPolicy {
        schedule: Some("0 2 * * *".into()),
        full_every: Some(7),
        keep_daily: Some(7),
        keep_weekly: Some(4),
        ..BackupPolicy::default()
    })
    .await
    .unwrap();
    let mut made = 0;
    for day in 0..60 {
        new_revision(&mut c, &note, format!("day {day}").as_bytes()).await;
        clock.set(JAN_1 + day * DAY + 2 * crate::lifecycle::HOUR + 60_000);
        assert_eq!(tick(&server).await, 1, "day {day}");
        made += 1;
        settle(&mut c, |l| {
            l.iter().filter(|b| b.status == "completed").count() >= 1
        })
        .await;
    }
    let list = settle(&mut c, |_| true).await;
    assert!(list.len() < made, "retention removed some: {}", list.len());
    let by_id: std::collections::HashMap<&str, &BackupInfo> =
        list.iter().map(|b| (b.backup_id.as_str(), b)).collect();
    // Every backup that stays is kept by a rule or needed by one that is.
    let mut needed = HashSet::new();
    for kept in list.iter().filter(|b| b.retained) {
        let mut next = kept.base_backup_id.as_deref();
        while let Some(id) = next {
            let link = by_id
                .get(id)
                .unwrap_or_else(|| panic!("{id}, a link kept backups need, is gone"));
            needed.insert(id);
            next = link.base_backup_id.as_deref();
        }
    }
    for b in &list {
        assert!(
            b.retained || needed.contains(b.backup_id.as_str()),
            "{} stays for nothing",
            b.name
        );
    }
    // Every kept backup verifies with its chain: each restores.
    for b in list.iter().filter(|b| b.retained) {
        c.call::<VerifyBackup>(&VerifyBackupRequest {
            backup_id: b.backup_id.clone(),
            passphrase: None,
            identity: None,
        })
        .await
        .unwrap_or_else(|e| panic!("{}: {e:?}", b.name));
    }
    assert!(list.iter().filter(|b| b.retained).count() >= 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_passphrase_protected_links_verifies_and_restores_with_the_passphrase() {
    const PASSPHRASE: &str = "one passphrase for the chain";
    let server = server().await;
    let (mut c, mut l) = tenant(&server, "wrapped").await;
    let doc = mkdoc(&mut c, "a.bin", None, &content(DOC, 6001)).await;
    let with_passphrase = |req: GenerateBackupRequest| GenerateBackupRequest {
        passphrase: Some(PASSPHRASE.into()),
        ..req
    };
    let full = export(&mut c, &mut l, with_passphrase(plain("full"))).await;
    new_revision(&mut c, &doc, &content(DOC, 6003)).await;
    let link = export(&mut c, &mut l, with_passphrase(incremental("link", None))).await;
    assert_eq!(
        link.base_backup_id.as_deref(),
        Some(full.backup_id.as_str())
    );
    let at_link = snapshot(&server, "wrapped").await;

    let verify = |passphrase: Option<&str>| VerifyBackupRequest {
        backup_id: link.backup_id.clone(),
        passphrase: passphrase.map(str::to_owned),
        identity: None,
    };
    let e = c.call::<VerifyBackup>(&verify(None)).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::BackupPassphraseRequired);
    c.call::<VerifyBackup>(&verify(Some(PASSPHRASE)))
        .await
        .unwrap();

    c.call::<DeleteDocument>(&DocumentIdRequest { document_id: doc })
        .await
        .unwrap();
    let queued = c
        .call::<RestoreBackup>(&RestoreBackupRequest {
            backup_id: link.backup_id.clone(),
            passphrase: Some(PASSPHRASE.into()),
            ..RestoreBackupRequest::default()
        })
        .await
        .unwrap();
    let ended = import_ended(&mut c, &queued.backup_task_id).await;
    assert_eq!(ended.status, "completed", "{ended:?}");
    assert_eq!(snapshot(&server, "wrapped").await, at_link);
}
