//! Backup import end to end: initiate, upload (HTTP and WebSocket), start, watch; restore into
//! another tenant and another server; the legacy CFMS fixture; tampering, conflicts, dry runs,
//! what start checks — and that a failed import leaves nothing behind (deadlines,
//! cancellation, crashes and progress: `import_jobs.rs`).
use api_spec::jobs::ImportMode;
use api_spec::jobs::OnConflict;
use std::collections::BTreeMap;

use api_spec::ErrorCode;
use api_spec::actions::{
    CancelBackupImport, CreateTenant, CreateTenantRequest, CreateUser, CreateUserRequest,
    GetBackupImportStatus, InitiateBackupImport, InitiateBackupImportRequest,
    InitiateBackupImportResponse, JobIdRequest, JobStatus, ListDirectory, ListDirectoryRequest,
    RegisterListener, RegisterListenerRequest, StartBackupImport, StartBackupImportRequest,
};
use entity::{document, file, folder, revision};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tests::{Client, TestServer};
use uuid::Uuid;

use crate::backups::{download, export, listener, plain, populate, server};

pub(crate) const LEGACY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/cfms-legacy/cfms-legacy-sample"
);

pub(crate) fn start(job: &str) -> StartBackupImportRequest {
    StartBackupImportRequest {
        backup_task_id: job.into(),
        ..StartBackupImportRequest::default()
    }
}

/// A second tenant, its logged-in admin, and a listener of that tenant.
pub(crate) async fn tenant(server: &TestServer, slug: &str) -> (Client, Client) {
    let root = server.admin().await;
    root.call::<CreateTenant>(&CreateTenantRequest {
        tenant: slug.into(),
        display_name: None,
        admin_password: "tenant-admin-pw".into(),
    })
    .await
    .unwrap();
    let mut admin = server.client().await;
    admin
        .login("admin", "tenant-admin-pw", Some(slug))
        .await
        .unwrap();
    let mut l = server.client().await;
    l.login("admin", "tenant-admin-pw", Some(slug))
        .await
        .unwrap();
    l.call::<RegisterListener>(&RegisterListenerRequest { events: None })
        .await
        .unwrap();
    (admin, l)
}

/// Initiates an import and uploads the archive and the key.
pub(crate) async fn upload_pair(
    c: &mut Client,
    archive: &[u8],
    key: &[u8],
) -> InitiateBackupImportResponse {
    let init = c
        .call::<InitiateBackupImport>(&InitiateBackupImportRequest {
            timeout_seconds: Some(600),
            links: None,
        })
        .await
        .unwrap();
    c.upload(&init.archive_task_id, archive).await.unwrap();
    c.upload(&init.key_task_id, key).await.unwrap();
    init
}

/// Waits for the job's `backup_import_completed` event, then returns it and the status.
pub(crate) async fn finished(
    c: &mut Client,
    listener: &mut Client,
    job: &str,
) -> (Value, JobStatus) {
    let event = loop {
        let event = listener.next_event().await;
        if event.event == "backup_import_completed" && event.data["backup_task_id"] == job {
            break event.data;
        }
    };
    let status = c
        .call::<GetBackupImportStatus>(&JobIdRequest {
            backup_task_id: job.into(),
        })
        .await
        .unwrap();
    (event, status)
}

/// Uploads, starts with `req`, and waits for the end.
pub(crate) async fn import(
    c: &mut Client,
    listener: &mut Client,
    archive: &[u8],
    key: &[u8],
    adjust: impl FnOnce(&mut StartBackupImportRequest),
) -> (Value, JobStatus) {
    let init = upload_pair(c, archive, key).await;
    let mut req = start(&init.backup_task_id);
    adjust(&mut req);
    let started = c.call::<StartBackupImport>(&req).await.unwrap();
    assert_eq!(started.status, "queued");
    finished(c, listener, &init.backup_task_id).await
}

/// Folder and document names of a tenant, as paths, with each document's content hash.
async fn tree(c: &mut Client) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![(None::<String>, String::new())];
    while let Some((id, path)) = todo.pop() {
        let list = c
            .call::<ListDirectory>(&ListDirectoryRequest { folder_id: id })
            .await
            .unwrap();
        for f in list.folders {
            let p = format!("{path}/{}", f.name);
            out.insert(p.clone(), None);
            todo.push((Some(f.id), p));
        }
        for d in list.documents {
            out.insert(format!("{path}/{}", d.title), d.sha256);
        }
    }
    out
}

pub(crate) async fn tenant_id(server: &TestServer, slug: &str) -> Uuid {
    coffer::storage::tenants::find_by_slug(&server.state().db, slug)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// Folders, documents, revisions and files of a tenant.
pub(crate) async fn census(server: &TestServer, slug: &str) -> [usize; 4] {
    let t = tenant_id(server, slug).await;
    let db = &server.state().db;
    [
        folder::Entity::find()
            .filter(folder::Column::TenantId.eq(t))
            .all(db)
            .await
            .unwrap()
            .len(),
        document::Entity::find()
            .filter(document::Column::TenantId.eq(t))
            .all(db)
            .await
            .unwrap()
            .len(),
        revision::Entity::find()
            .filter(revision::Column::TenantId.eq(t))
            .all(db)
            .await
            .unwrap()
            .len(),
        file::Entity::find()
            .filter(file::Column::TenantId.eq(t))
            .all(db)
            .await
            .unwrap()
            .len(),
    ]
}

/// Everything a tenant holds, keyed by path rather than id: folders with their rules and
/// inheritance, documents with every revision (content hash, time, parent order), current
/// revision and rules, and every explicit grant by principal name.
pub(crate) async fn snapshot(server: &TestServer, slug: &str) -> BTreeMap<String, Value> {
    use entity::{access_entry, access_rule, group, user};
    let t = tenant_id(server, slug).await;
    let db = &server.state().db;
    let folders = folder::Entity::find()
        .filter(folder::Column::TenantId.eq(t))
        .all(db)
        .await
        .unwrap();
    let by_id: BTreeMap<Uuid, folder::Model> = folders.iter().map(|f| (f.id, f.clone())).collect();
    let path = |mut id: Option<Uuid>| {
        let mut parts = Vec::new();
        while let Some(f) = id.and_then(|i| by_id.get(&i)) {
            parts.push(f.name.clone());
            id = f.parent_id;
        }
        parts.reverse();
        format!("/{}", parts.join("/"))
    };
    let rules = access_rule::Entity::find()
        .filter(access_rule::Column::TenantId.eq(t))
        .order_by_asc(access_rule::Column::Position)
        .all(db)
        .await
        .unwrap();
    let rules_of = |folder: Option<Uuid>, doc: Option<Uuid>| -> Vec<Value> {
        let mut r: Vec<Value> = rules
            .iter()
            .filter(|r| r.folder_id == folder && r.document_id == doc)
            .map(|r| serde_json::json!([r.access_type, r.position, r.rule_data]))
            .collect();
        r.sort_by_key(|v| v.to_string());
        r
    };
    let mut out = BTreeMap::new();
    for f in &folders {
        let key = path(Some(f.id));
        out.insert(
            key,
            serde_json::json!({"inherit": f.inherit, "rules": rules_of(Some(f.id), None)}),
        );
    }
    let files: BTreeMap<Uuid, String> = file::Entity::find()
        .filter(file::Column::TenantId.eq(t))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|f| (f.id, f.sha256))
        .collect();
    let mut doc_paths = BTreeMap::new();
    for d in document::Entity::find()
        .filter(document::Column::TenantId.eq(t))
        .all(db)
        .await
        .unwrap()
    {
        let revisions = revision::Entity::find()
            .filter(revision::Column::DocumentId.eq(d.id))
            .order_by_asc(revision::Column::CreatedAt)
            .order_by_asc(revision::Column::Id)
            .all(db)
            .await
            .unwrap();
        let index: BTreeMap<Uuid, usize> = revisions
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id, i))
            .collect();
        let revs: Vec<Value> = revisions
            .iter()
            .map(|r| {
                serde_json::json!([
                    files[&r.file_id],
                    r.created_at,
                    r.parent_revision_id.map(|p| index[&p])
                ])
            })
            .collect();
        let key = format!("{}/{}", path(d.folder_id).trim_end_matches('/'), d.title);
        doc_paths.insert(d.id, key.clone());
        out.insert(
            key,
            serde_json::json!({"inherit": d.inherit, "revisions": revs,
                "current": d.current_revision_id.map(|c| index[&c]),
                "rules": rules_of(None, Some(d.id))}),
        );
    }
    let users: BTreeMap<Uuid, String> = user::Entity::find()
        .filter(user::Column::TenantId.eq(t))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.id, u.username))
        .collect();
    let groups: BTreeMap<Uuid, String> = group::Entity::find()
        .filter(group::Column::TenantId.eq(t))
        .all(db)
        .await
        .unwrap()
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    for e in access_entry::Entity::find()
        .filter(access_entry::Column::TenantId.eq(t))
        .all(db)
        .await
        .unwrap()
    {
        let target = match (e.folder_id, e.document_id) {
            (Some(f), _) => path(Some(f)),
            (_, Some(d)) => doc_paths[&d].clone(),
            _ => unreachable!("an entry names its object"),
        };
        let who = match (e.user_id, e.group_id) {
            (Some(u), _) => format!("user:{}", users[&u]),
            (_, Some(g)) => format!("group:{}", groups[&g]),
            _ => unreachable!("an entry names its principal"),
        };
        out.insert(
            format!("grant {target} {who} {}", e.access_type),
            serde_json::json!([e.start_time, e.end_time]),
        );
    }
    out
}

/// [`no_import_leftovers`], once the run that ended the job has cleaned up after itself (a
/// job's status says `completed` before its run removed its uploads; its end event comes
/// after): waits at most 5 s.
pub(crate) async fn import_leftovers_gone(server: &TestServer) -> bool {
    for _ in 0..100 {
        if no_import_leftovers(server) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    no_import_leftovers(server)
}

/// Nothing of an ended import remains: no local staging, no upload in the object store.
pub(crate) fn no_import_leftovers(server: &TestServer) -> bool {
    let dir = server.state().config.data_dir.join("imports");
    crate::support::files_below(&dir).is_empty() && server.import_uploads().is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_restores_into_another_tenant_and_another_server() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    // Rules (on a folder and a document, one not inheriting) and grants travel too.
    let top = c
        .call::<ListDirectory>(&ListDirectoryRequest { folder_id: None })
        .await
        .unwrap();
    let rule = serde_json::json!([{"match": "any", "match_groups": [
        {"groups": {"match": "any", "require": ["sysop", "auditors"]}}]}]);
    let ok = |r: api_spec::Reply| assert_eq!(r.code, 200, "{r:?}");
    ok(c.request(
        "set_directory_rules",
        serde_json::json!({
        "directory_id": top.folders[0].id, "access_rules": {"read": rule, "write": rule}}),
    )
    .await);
    ok(c.request(
        "set_document_rules",
        serde_json::json!({
        "document_id": top.documents[0].id, "access_rules": {"manage": rule},
        "inherit_parent": false}),
    )
    .await);
    ok(c.request(
        "grant_access",
        serde_json::json!({"entity_type": "group",
        "entity_identifier": "sysop", "target_type": "directory",
        "target_identifier": top.folders[0].id, "access_types": ["read", "move"]}),
    )
    .await);
    ok(c.request(
        "grant_access",
        serde_json::json!({"entity_type": "user",
        "entity_identifier": "admin", "target_type": "document",
        "target_identifier": top.documents[0].id, "access_types": ["write"],
        "start_time": 1000.0, "end_time": 4102444800.0}),
    )
    .await);
    let source_tree = tree(&mut c).await;
    let source_snapshot = snapshot(&server, "default").await;
    let grants = source_snapshot
        .keys()
        .filter(|k| k.starts_with("grant "))
        .count();
    assert_eq!(grants, 3, "{source_snapshot:?}");
    let (backup_id, _, done) = export(&mut c, &mut l, plain("for restore")).await;
    assert_eq!(done["status"], "completed");
    let (archive, key) = download(&mut c, &backup_id).await;

    let (mut admin, mut tl) = tenant(&server, "restored").await;
    let (event, status) = import(&mut admin, &mut tl, &archive, &key, |_| {}).await;
    assert_eq!(event["status"], "completed", "{event}");
    assert_eq!(event["progress_percent"], 100);
    assert_eq!(status.status, "completed", "{status:?}");
    assert_eq!(status.kind, "import");
    let result = status.result.expect("a result");
    assert_eq!(result["authenticated"], true);
    assert_eq!(result["mode"], "restore");
    assert_eq!(result["source"]["tenant"], "default");
    let counts = &result["counts"];
    assert_eq!(
        (
            &counts["folders"],
            &counts["documents"],
            &counts["revisions"]
        ),
        (&2.into(), &42.into(), &43.into())
    );
    // Fresh ids: no imported id is a source id, and the map covers every object.
    let map = result["id_map"]["documents"].as_object().unwrap();
    assert_eq!(map.len(), 42);
    assert!(map.iter().all(|(old, new)| old != new.as_str().unwrap()));
    assert_eq!(tree(&mut admin).await, source_tree);
    assert_eq!(snapshot(&server, "restored").await, source_snapshot);
    // The archive names a group this tenant lacks: reported, not created.
    let warnings = result["warnings"].to_string();
    assert!(warnings.contains("auditors"), "{warnings}");
    // The bytes came along: a restored document downloads with its hash.
    let doc = map.values().next().unwrap().as_str().unwrap();
    let task = admin
        .call::<api_spec::actions::GetDocument>(&api_spec::actions::DocumentIdRequest {
            document_id: doc.into(),
        })
        .await
        .unwrap();
    let got = admin.download(&task.task_data.task_id).await.unwrap();
    assert_eq!(
        Some(hex::encode(Sha256::digest(&got))),
        task.task_data.sha256
    );
    assert!(no_import_leftovers(&server));
    // The source tenant is untouched and its listener heard nothing of the other tenant.
    assert_eq!(tree(&mut c).await, source_tree);
    assert!(
        l.take_events()
            .iter()
            .all(|e| !e.event.starts_with("backup_import"))
    );

    // A second, fresh server: a backup of one fresh install restores into another
    // (CFMS fault 13), into its default tenant.
    let other = TestServer::start().await;
    let mut oc = other.admin().await;
    let mut ol = listener(&other).await;
    let (event, _) = import(&mut oc, &mut ol, &archive, &key, |_| {}).await;
    assert_eq!(event["status"], "completed", "{event}");
    assert_eq!(tree(&mut oc).await, source_tree);
    assert_eq!(snapshot(&other, "default").await, source_snapshot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_cfms_fixture_imports_to_its_expected_contents() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    let archive = std::fs::read(format!("{LEGACY}.cfms.enc")).unwrap();
    let key = std::fs::read(format!("{LEGACY}.key")).unwrap();
    let expected: Value =
        serde_json::from_slice(&std::fs::read(format!("{LEGACY}.expected.json")).unwrap()).unwrap();

    // Into a tenant that already holds something, which stays as it is.
    let kept = crate::support::mkdir(&mut c, "already here", None).await;
    // Without opting in, an unauthenticated archive is refused, and the job stays pending.
    let init = upload_pair(&mut c, &archive, &key).await;
    let mut req = start(&init.backup_task_id);
    req.mode = Some(ImportMode::Merge);
    let refused = c.call::<StartBackupImport>(&req).await.unwrap_err();
    assert_eq!(refused.error, ErrorCode::ImportLegacyNotAllowed);
    req.allow_legacy = true;
    c.call::<StartBackupImport>(&req).await.unwrap();
    let (event, status) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(event["status"], "completed", "{event} {status:?}");
    let top = c
        .call::<ListDirectory>(&ListDirectoryRequest { folder_id: None })
        .await
        .unwrap();
    assert!(
        top.folders
            .iter()
            .any(|f| f.id == kept && f.name == "already here")
    );
    let result = status.result.unwrap();
    assert_eq!(result["authenticated"], false);
    assert_eq!(result["source"]["format"], "cfms-legacy");

    let db = &server.state().db;
    let folders = result["id_map"]["folders"].as_object().unwrap();
    let want_folders = expected["folders"].as_object().unwrap();
    assert_eq!(folders.len(), want_folders.len());
    for (old, want) in want_folders {
        let new = Uuid::parse_str(folders[old].as_str().unwrap()).unwrap();
        let row = folder::Entity::find_by_id(new)
            .one(db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.name, want["name"].as_str().unwrap());
        let parent = want["parent_id"]
            .as_str()
            .map(|p| Uuid::parse_str(folders[p].as_str().unwrap()).unwrap());
        assert_eq!(row.parent_id, parent, "parent of {old}");
    }
    let documents = result["id_map"]["documents"].as_object().unwrap();
    let want_documents = expected["documents"].as_object().unwrap();
    assert_eq!(documents.len(), want_documents.len());
    for (old, want) in want_documents {
        let new = Uuid::parse_str(documents[old].as_str().unwrap()).unwrap();
        let row = document::Entity::find_by_id(new)
            .one(db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.title, want["title"].as_str().unwrap());
        let folder = want["folder_id"]
            .as_str()
            .map(|p| Uuid::parse_str(folders[p].as_str().unwrap()).unwrap());
        assert_eq!(row.folder_id, folder, "folder of {old}");
        let revisions = revision::Entity::find()
            .filter(revision::Column::DocumentId.eq(new))
            .order_by_asc(revision::Column::CreatedAt)
            .all(db)
            .await
            .unwrap();
        let mut hashes = Vec::new();
        for r in &revisions {
            let f = file::Entity::find_by_id(r.file_id)
                .one(db)
                .await
                .unwrap()
                .unwrap();
            hashes.push((f.sha256, r.created_at));
        }
        let want_revisions: Vec<(String, i64)> = want["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["file_sha256"].as_str().unwrap().to_owned(),
                    (r["created_time"].as_f64().unwrap() * 1000.0).round() as i64,
                )
            })
            .collect();
        assert_eq!(hashes, want_revisions, "revisions of {old}");
        assert_eq!(row.current_revision_id, revisions.last().map(|r| r.id));
    }
    // Every imported document downloads with the bytes the fixture holds.
    for new in documents.values() {
        let task = c
            .call::<api_spec::actions::GetDocument>(&api_spec::actions::DocumentIdRequest {
                document_id: new.as_str().unwrap().into(),
            })
            .await
            .unwrap();
        let got = c.download(&task.task_data.task_id).await.unwrap();
        assert_eq!(
            Some(hex::encode(Sha256::digest(&got))),
            task.task_data.sha256
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_archive_fails_and_leaves_nothing_behind() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (backup_id, _, _) = export(&mut c, &mut l, plain("tamper")).await;
    let (mut archive, key) = download(&mut c, &backup_id).await;
    let (mut admin, mut tl) = tenant(&server, "victim").await;
    let before = census(&server, "victim").await;
    let blobs_before = server.blob_files().len();
    // A flipped bit deep inside: the blobs before it are already staged when it is found.
    let at = archive.len() - 2000;
    archive[at] ^= 0x10;
    let (event, status) = import(&mut admin, &mut tl, &archive, &key, |_| {}).await;
    assert_eq!(event["status"], "failed");
    assert_eq!(event["error"], "backup_mac_mismatch");
    assert_eq!(status.status, "failed");
    assert_eq!(status.error.as_deref(), Some("backup_mac_mismatch"));
    assert_eq!(census(&server, "victim").await, before);
    assert_eq!(server.blob_files().len(), blobs_before);
    assert!(no_import_leftovers(&server));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_merge_conflicts_and_dry_runs() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (backup_id, _, _) = export(&mut c, &mut l, plain("merge")).await;
    let (archive, key) = download(&mut c, &backup_id).await;
    let source = tree(&mut c).await;

    // Restore needs an empty tenant: into the source itself it is refused at the start,
    // before any work, and the job stays pending for a merge.
    let init = upload_pair(&mut c, &archive, &key).await;
    let refused = c
        .call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap_err();
    assert_eq!(
        (refused.code, refused.error),
        (409, ErrorCode::ImportTargetNotEmpty)
    );
    // Said before the key file is read: even a key file that is not one gets this answer.
    let unread = upload_pair(&mut c, &archive, b"{}").await;
    let refused = c
        .call::<StartBackupImport>(&start(&unread.backup_task_id))
        .await
        .unwrap_err();
    assert_eq!(refused.error, ErrorCode::ImportTargetNotEmpty);
    let pending = c
        .call::<GetBackupImportStatus>(&JobIdRequest {
            backup_task_id: init.backup_task_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(pending.status, "pending");
    assert_eq!(tree(&mut c).await, source);
    let mut merge = start(&init.backup_task_id);
    merge.mode = Some(ImportMode::Merge);
    merge.dry_run = true;
    c.call::<StartBackupImport>(&merge)
        .await
        .expect("the same job, as a merge");
    let (event, _) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(event["status"], "completed");
    // Merge with `fail` stops at the first clash.
    let (event, _) = import(&mut c, &mut l, &archive, &key, |r| {
        r.mode = Some(ImportMode::Merge);
        r.on_conflict = Some(OnConflict::Fail);
    })
    .await;
    assert_eq!(event["error"], "import_name_conflict");
    // A dry run reports the plan and writes nothing.
    let (event, status) = import(&mut c, &mut l, &archive, &key, |r| {
        r.mode = Some(ImportMode::Merge);
        r.dry_run = true;
    })
    .await;
    assert_eq!(event["status"], "completed");
    let plan = status.result.unwrap();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["counts"]["documents"], 42);
    assert_eq!(plan["conflicts"].as_array().unwrap().len(), 2);
    assert_eq!(
        plan["counts"]["files_new"], 0,
        "the tenant holds every blob"
    );
    assert_eq!(tree(&mut c).await, source);
    // Skip leaves the clashing top level alone (here: everything).
    let (event, status) = import(&mut c, &mut l, &archive, &key, |r| {
        r.mode = Some(ImportMode::Merge);
        r.on_conflict = Some(OnConflict::Skip);
    })
    .await;
    assert_eq!(event["status"], "completed");
    assert_eq!(status.result.unwrap()["counts"]["skipped_documents"], 42);
    assert_eq!(tree(&mut c).await, source);
    // Rename imports a second copy beside the first, sharing the stored blobs.
    let blobs = server.blob_files().len();
    let (event, _) = import(&mut c, &mut l, &archive, &key, |r| {
        r.mode = Some(ImportMode::Merge);
    })
    .await;
    assert_eq!(event["status"], "completed");
    let merged = tree(&mut c).await;
    assert_eq!(merged.len(), 2 * source.len());
    assert!(merged.contains_key("/Отчёты 2026 (imported)/报告/note 7.txt"));
    assert!(merged.contains_key("/naïve café.bin (imported)"));
    assert_eq!(server.blob_files().len(), blobs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_checks_uploads_keys_deadlines_and_callers() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    let (backup_id, _, _) = export(
        &mut c,
        &mut l,
        api_spec::actions::GenerateBackupRequest {
            backup_name: Some("locked".into()),
            passphrase: Some("correct horse battery".into()),
            compression: None,
            incremental: false,
            base_backup_id: None,
        },
    )
    .await;
    let (archive, key) = download(&mut c, &backup_id).await;
    for bad in [Some(59), Some(86_401)] {
        let e = c
            .call::<InitiateBackupImport>(&InitiateBackupImportRequest {
                timeout_seconds: bad,
                links: None,
            })
            .await
            .unwrap_err();
        assert_eq!(e.error, ErrorCode::InvalidField);
    }
    // Nothing uploaded yet.
    let init = c
        .call::<InitiateBackupImport>(&InitiateBackupImportRequest::default())
        .await
        .unwrap();
    assert_eq!(init.timeout, 3600);
    let e = c
        .call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap_err();
    assert_eq!(e.error, ErrorCode::ImportUploadsIncomplete);
    // Another tenant's admin sees no such job, whatever the action.
    let (stranger, _) = tenant(&server, "stranger").await;
    let id = JobIdRequest {
        backup_task_id: init.backup_task_id.clone(),
    };
    for e in [
        stranger
            .call::<GetBackupImportStatus>(&id)
            .await
            .unwrap_err(),
        stranger.call::<CancelBackupImport>(&id).await.unwrap_err(),
        stranger
            .call::<StartBackupImport>(&start(&init.backup_task_id))
            .await
            .unwrap_err(),
    ] {
        assert_eq!(e.error, ErrorCode::JobNotFound);
    }
    // Without `import_backup` there is no import.
    c.call::<CreateUser>(&CreateUserRequest {
        username: "clerk".into(),
        password: "clerk-password".into(),
        nickname: None,
        permissions: vec![],
        groups: vec![],
    })
    .await
    .unwrap();
    let mut clerk = server.client().await;
    clerk.login("clerk", "clerk-password", None).await.unwrap();
    let e = clerk
        .call::<InitiateBackupImport>(&InitiateBackupImportRequest::default())
        .await
        .unwrap_err();
    assert_eq!(e.error, ErrorCode::PermissionDenied);
    let e = clerk.call::<GetBackupImportStatus>(&id).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::JobNotFound);

    // A wrapped key: no passphrase, a wrong one, then the right one.
    let init = upload_pair(&mut c, &archive, &key).await;
    let mut req = start(&init.backup_task_id);
    let e = c.call::<StartBackupImport>(&req).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::BackupPassphraseRequired);
    req.passphrase = Some("wrong horse".into());
    let e = c.call::<StartBackupImport>(&req).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::BackupWrongPassphrase);
    // A key of another archive is refused before anything is queued, and the job stays
    // pending: the right key file, uploaded to the same task, replaces the wrong one.
    let other = upload_pair(&mut c, &archive, LEGACY_KEY.as_bytes()).await;
    let mut wrong = start(&other.backup_task_id);
    wrong.allow_legacy = true;
    let e = c.call::<StartBackupImport>(&wrong).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::BackupNotAnArchive);
    c.upload(&other.key_task_id, &key)
        .await
        .expect("a pending job's key file is replaced");
    req.passphrase = Some("correct horse battery".into());
    req.mode = Some(ImportMode::Merge);
    c.call::<StartBackupImport>(&req).await.unwrap();
    let e = c.call::<StartBackupImport>(&req).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::JobStateConflict);
    let (event, status) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(event["status"], "completed", "{status:?}");
    // The job with the replaced key runs; once it has started, its uploads are final.
    let mut right = start(&other.backup_task_id);
    right.passphrase = Some("correct horse battery".into());
    right.mode = Some(ImportMode::Merge);
    right.dry_run = true;
    c.call::<StartBackupImport>(&right)
        .await
        .expect("the replaced key opens the archive");
    let late = c
        .upload(&other.key_task_id, LEGACY_KEY.as_bytes())
        .await
        .unwrap_err();
    assert_eq!(late.error, ErrorCode::TaskNotUsable);
    let (event, status) = finished(&mut c, &mut l, &other.backup_task_id).await;
    assert_eq!(event["status"], "completed", "{status:?}");
}

/// A legacy key: valid, but for no Coffer archive.
pub(crate) const LEGACY_KEY: &str = r#"{"key": "d172e754bbb646f430fb2b236849d43ce0bfe9e4ef60740051360b6a8b2278cd", "algorithm": "AES-256-CBC"}"#;
