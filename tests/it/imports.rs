//! Backup import end to end: initiate, upload (HTTP and WebSocket), start, watch; restore into
//! another tenant and another server; the legacy CFMS fixture; tampering, conflicts, dry runs,
//! deadlines, cancellation, crashes, permissions and tenants — and that a failed import
//! leaves nothing behind.
use std::collections::BTreeMap;

use api_spec::ErrorCode;
use api_spec::actions::{
    CancelBackupImport, CreateTenant, CreateTenantRequest, CreateUser, CreateUserRequest,
    GetBackupImportStatus, InitiateBackupImport, InitiateBackupImportRequest,
    InitiateBackupImportResponse, JobIdRequest, JobStatus, ListDirectory, ListDirectoryRequest,
    RegisterListener, RegisterListenerRequest, StartBackupImport, StartBackupImportRequest,
};
use entity::{document, file, folder, job, revision};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tests::{Client, TestServer};
use uuid::Uuid;

use crate::backups::{download, export, listener, plain, populate, server};

const LEGACY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/fixtures/cfms-legacy/cfms-legacy-sample"
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
    walk(&dir).is_empty() && server.import_uploads().is_empty()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
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
    req.mode = Some("merge".into());
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
    merge.mode = Some("merge".into());
    merge.dry_run = true;
    c.call::<StartBackupImport>(&merge)
        .await
        .expect("the same job, as a merge");
    let (event, _) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(event["status"], "completed");
    // Merge with `fail` stops at the first clash.
    let (event, _) = import(&mut c, &mut l, &archive, &key, |r| {
        r.mode = Some("merge".into());
        r.on_conflict = Some("fail".into());
    })
    .await;
    assert_eq!(event["error"], "import_name_conflict");
    // A dry run reports the plan and writes nothing.
    let (event, status) = import(&mut c, &mut l, &archive, &key, |r| {
        r.mode = Some("merge".into());
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
        r.mode = Some("merge".into());
        r.on_conflict = Some("skip".into());
    })
    .await;
    assert_eq!(event["status"], "completed");
    assert_eq!(status.result.unwrap()["counts"]["skipped_documents"], 42);
    assert_eq!(tree(&mut c).await, source);
    // Rename imports a second copy beside the first, sharing the stored blobs.
    let blobs = server.blob_files().len();
    let (event, _) = import(&mut c, &mut l, &archive, &key, |r| {
        r.mode = Some("merge".into());
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
        },
    )
    .await;
    let (archive, key) = download(&mut c, &backup_id).await;
    for bad in [Some(59), Some(86_401)] {
        let e = c
            .call::<InitiateBackupImport>(&InitiateBackupImportRequest {
                timeout_seconds: bad,
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
    req.mode = Some("merge".into());
    c.call::<StartBackupImport>(&req).await.unwrap();
    let e = c.call::<StartBackupImport>(&req).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::JobStateConflict);
    let (event, status) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(event["status"], "completed", "{status:?}");
    // The job with the replaced key runs; once it has started, its uploads are final.
    let mut right = start(&other.backup_task_id);
    right.passphrase = Some("correct horse battery".into());
    right.mode = Some("merge".into());
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
const LEGACY_KEY: &str = r#"{"key": "d172e754bbb646f430fb2b236849d43ce0bfe9e4ef60740051360b6a8b2278cd", "algorithm": "AES-256-CBC"}"#;

pub(crate) async fn set_job(server: &TestServer, id: &str, f: impl FnOnce(&mut job::ActiveModel)) {
    use sea_orm::{ActiveModelTrait, IntoActiveModel};
    let db = &server.state().db;
    let row = job::Entity::find_by_id(Uuid::parse_str(id).unwrap())
        .one(db)
        .await
        .unwrap()
        .unwrap();
    let mut active = row.into_active_model();
    f(&mut active);
    active.update(db).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_cancellation_and_dead_servers_end_jobs_and_remove_uploads() {
    use sea_orm::Set;
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    let archive = b"not yet a real archive".to_vec();

    // Past its deadline, start answers 408 and the job times out.
    let init = upload_pair(&mut c, &archive, LEGACY_KEY.as_bytes()).await;
    set_job(&server, &init.backup_task_id, |j| j.deadline = Set(Some(1))).await;
    let e = c
        .call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap_err();
    assert_eq!((e.code, e.error), (408, ErrorCode::ImportDeadlinePassed));
    let (event, status) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(
        (event["status"].as_str(), status.status.as_str()),
        (Some("timeout"), "timeout")
    );

    // Never started: the reaper times it out and removes its uploads.
    let init = upload_pair(&mut c, &archive, LEGACY_KEY.as_bytes()).await;
    assert!(!no_import_leftovers(&server));
    set_job(&server, &init.backup_task_id, |j| j.deadline = Set(Some(1))).await;
    assert_eq!(coffer::jobs::reap(server.state(), false).await.unwrap(), 1);
    let (event, _) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(event["status"], "timeout");
    assert!(no_import_leftovers(&server));
    // Its upload tasks are gone with it.
    let late = c.upload(&init.key_task_id, b"{}").await.unwrap_err();
    assert_eq!(late.error, ErrorCode::TaskNotUsable);

    // Cancelled while pending: once, with its event; then nothing more.
    let init = upload_pair(&mut c, &archive, LEGACY_KEY.as_bytes()).await;
    let id = JobIdRequest {
        backup_task_id: init.backup_task_id.clone(),
    };
    c.call::<CancelBackupImport>(&id).await.unwrap();
    let (event, status) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(
        (event["status"].as_str(), status.status.as_str()),
        (Some("cancelled"), "cancelled")
    );
    assert!(no_import_leftovers(&server));
    let e = c.call::<CancelBackupImport>(&id).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::JobStateConflict);
    // Leftovers of an ended job (say, an upload stored after the job was cancelled on
    // another instance, or the staging of an instance that stopped) are swept by the reaper.
    let (tenant, job) = (
        tenant_id(&server, "default").await,
        Uuid::parse_str(&init.backup_task_id).unwrap(),
    );
    let leftover = coffer::backup::import::job_dir(&server.state().config, tenant, job);
    std::fs::create_dir_all(leftover.join("staging-1")).unwrap();
    std::fs::write(leftover.join("staging-1").join("x"), b"left behind").unwrap();
    let stray = coffer::layout::import_upload(job, Uuid::now_v7(), &"ab".repeat(32), true);
    server
        .store_object(&stray, b"a key file stored too late")
        .await;
    assert!(!no_import_leftovers(&server));
    coffer::jobs::reap(server.state(), false).await.unwrap();
    assert!(!leftover.exists());
    assert!(!server.has_object(&stray).await);
    assert!(no_import_leftovers(&server));
    let e = c
        .call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap_err();
    assert_eq!(e.error, ErrorCode::JobStateConflict);

    // Cancelled while queued behind another running import of the tenant: the queued job
    // never runs, and its uploads go.
    let blocker = upload_pair(&mut c, &archive, LEGACY_KEY.as_bytes()).await;
    let instance = server.state().jobs.instance().to_owned();
    set_job(&server, &blocker.backup_task_id, |j| {
        j.status = Set("running".into());
        j.worker_id = Set(Some(instance));
        j.heartbeat_at = Set(Some(i64::MAX / 2));
    })
    .await;
    let fixture = std::fs::read(format!("{LEGACY}.cfms.enc")).unwrap();
    let fixture_key = std::fs::read(format!("{LEGACY}.key")).unwrap();
    let init = upload_pair(&mut c, &fixture, &fixture_key).await;
    let mut req = start(&init.backup_task_id);
    req.allow_legacy = true;
    req.mode = Some("merge".into());
    c.call::<StartBackupImport>(&req).await.unwrap();
    let id = JobIdRequest {
        backup_task_id: init.backup_task_id.clone(),
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let waiting = c.call::<GetBackupImportStatus>(&id).await.unwrap();
    assert_eq!(waiting.status, "queued", "one running import per tenant");
    c.call::<CancelBackupImport>(&id).await.unwrap();
    let (event, status) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(
        (event["status"].as_str(), status.status.as_str()),
        (Some("cancelled"), "cancelled")
    );
    assert!(status.started_time.is_none(), "it never ran");
    let job = Uuid::parse_str(&init.backup_task_id)
        .unwrap()
        .simple()
        .to_string();
    let uploads_of_job = || {
        server
            .import_uploads()
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(&job))
            .count()
    };
    for _ in 0..50 {
        if uploads_of_job() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        uploads_of_job(),
        0,
        "the cancelled job's uploads are removed"
    );
    assert_eq!(census(&server, "default").await, [0, 0, 0, 0]);
    set_job(&server, &blocker.backup_task_id, |j| {
        j.status = Set("cancelled".into())
    })
    .await;
    coffer::backup::import::discard(
        server.state(),
        &job::Entity::find_by_id(Uuid::parse_str(&blocker.backup_task_id).unwrap())
            .one(&server.state().db)
            .await
            .unwrap()
            .unwrap(),
    )
    .await;

    // A job another (now silent) server was running fails as interrupted.
    let init = upload_pair(&mut c, &archive, LEGACY_KEY.as_bytes()).await;
    set_job(&server, &init.backup_task_id, |j| {
        j.status = Set("running".into());
        j.worker_id = Set(Some("a-dead-server".into()));
        j.heartbeat_at = Set(Some(1));
    })
    .await;
    assert_eq!(coffer::jobs::reap(server.state(), false).await.unwrap(), 1);
    let (event, status) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(event["error"], "job_interrupted");
    assert_eq!(status.status, "failed");
    assert!(no_import_leftovers(&server));

    // So does one this instance owns but no task of it runs (a task that died), once silent.
    let init = upload_pair(&mut c, &archive, LEGACY_KEY.as_bytes()).await;
    let instance = server.state().jobs.instance().to_owned();
    set_job(&server, &init.backup_task_id, |j| {
        j.status = Set("running".into());
        j.worker_id = Set(Some(instance));
        j.heartbeat_at = Set(Some(1));
    })
    .await;
    assert_eq!(coffer::jobs::reap(server.state(), false).await.unwrap(), 1);
    let (event, _) = finished(&mut c, &mut l, &init.backup_task_id).await;
    assert_eq!(event["error"], "job_interrupted");
    assert!(no_import_leftovers(&server));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_of_another_tenant_hears_nothing_of_an_import() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    let (mut other, mut ol) = tenant(&server, "elsewhere").await;
    crate::support::mkdir(&mut other, "x", None).await;
    let archive = std::fs::read(format!("{LEGACY}.cfms.enc")).unwrap();
    let key = std::fs::read(format!("{LEGACY}.key")).unwrap();
    let (event, _) = import(&mut c, &mut l, &archive, &key, |r| r.allow_legacy = true).await;
    assert_eq!(event["status"], "completed");
    // Give a stray event time to arrive, then check the other tenant's listener.
    let probe = ol
        .call::<api_spec::actions::ServerInfo>(&api_spec::envelope::Empty {})
        .await;
    assert!(probe.is_ok());
    assert!(
        ol.take_events()
            .iter()
            .all(|e| !e.event.starts_with("backup_import")),
        "another tenant's listener heard an import"
    );
}

/// A second server instance on `server`'s database and data, on its own runtime and thread,
/// which [`Crashable::crash`] stops dead: its tasks vanish mid-await, as in a process abort.
struct Crashable {
    addr: std::net::SocketAddr,
    kill: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Crashable {
    fn start(config: coffer::config::Config) -> Self {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (kill, kill_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let running = rt
                .block_on(coffer::start(config, coffer::server::Signals::Ignore))
                .unwrap();
            addr_tx.send(running.addr()).unwrap();
            let _ = kill_rx.recv();
            // No graceful anything: every task of this instance stops where it is.
            std::mem::forget(running);
            rt.shutdown_background();
        });
        let addr = addr_rx.recv().unwrap();
        Self { addr, kill, thread }
    }

    fn crash(self) {
        self.kill.send(()).unwrap();
        self.thread.join().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_dies_mid_import_has_the_import_run_again_by_another() {
    an_instance_dies_mid_import(false).await;
}

/// An instance receives an import's uploads and runs it, and dies in the middle; another
/// instance (here: the test server, restarted to take jobs) runs it again, by the rule, and
/// nothing is left over. `own_disk`: the doomed instance has a data directory of its own
/// (PostgreSQL and S3 only; the test returns otherwise), so what it leaves on its disk is
/// out of every other instance's reach.
pub(crate) async fn an_instance_dies_mid_import(own_disk: bool) {
    let mut server = TestServer::start_with(|c| {
        c.backup_segment_bytes = 64 * 1024;
        c.job_stale_secs = 1;
    })
    .await;
    if own_disk && !(server.uses_postgres() && server.uses_s3()) {
        return;
    }
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (backup_id, _, _) = export(&mut c, &mut l, plain("crash")).await;
    let (archive, key) = download(&mut c, &backup_id).await;
    let (_, _) = tenant(&server, "phoenix").await;
    let blobs_before = server.blob_files().len();
    // Only the doomed instance takes jobs from the queue.
    server
        .restart_with(|c| {
            c.backup_segment_bytes = 64 * 1024;
            c.job_stale_secs = 1;
            c.job_workers = 0;
        })
        .await;

    // The doomed instance receives the uploads and runs the import.
    let doomed_disk = tempfile::tempdir().unwrap();
    let mut config = server.config_for_another_instance();
    if own_disk {
        config.data_dir = doomed_disk.path().to_path_buf();
    }
    let doomed = Crashable::start(config);
    let url = format!("ws://{}/ws", doomed.addr);
    let mut dc = Client::connect(&url).await;
    dc.login("admin", "tenant-admin-pw", Some("phoenix"))
        .await
        .unwrap();
    let mut dl = Client::connect(&url).await;
    dl.login("admin", "tenant-admin-pw", Some("phoenix"))
        .await
        .unwrap();
    dl.call::<RegisterListener>(&RegisterListenerRequest { events: None })
        .await
        .unwrap();
    let init = dc
        .call::<InitiateBackupImport>(&InitiateBackupImportRequest::default())
        .await
        .unwrap();
    dc.upload(&init.archive_task_id, &archive).await.unwrap();
    dc.upload(&init.key_task_id, &key).await.unwrap();
    dc.call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap();
    // Dies as soon as the import reports that it imports (its archive verified and
    // unpacked; blobs and rows about to be placed).
    loop {
        let e = dl.next_event().await;
        if e.event == "backup_import_progress"
            && e.data["progress_percent"].as_i64().unwrap_or(0) >= 60
        {
            break;
        }
    }
    doomed.crash();

    // An instance that runs jobs notices the silence and, by the rule (the key is in the
    // job's key file), runs the import again.
    server
        .restart_with(|c| {
            c.backup_segment_bytes = 64 * 1024;
            c.job_stale_secs = 1;
        })
        .await;
    let mut admin = server.client().await;
    admin
        .login("admin", "tenant-admin-pw", Some("phoenix"))
        .await
        .unwrap();
    let id = JobIdRequest {
        backup_task_id: init.backup_task_id.clone(),
    };
    let mut status = admin.call::<GetBackupImportStatus>(&id).await.unwrap();
    for _ in 0..300 {
        if !["queued", "running"].contains(&status.status.as_str()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        coffer::jobs::reap(server.state(), false).await.unwrap();
        status = admin.call::<GetBackupImportStatus>(&id).await.unwrap();
    }
    // Whether or not it committed before it died, it ends complete, exactly once: every
    // row there, every blob referenced.
    assert_eq!(status.status, "completed", "{status:?}");
    let after = census(&server, "phoenix").await;
    assert_eq!((after[0], after[1], after[2]), (2, 42, 43));
    assert_eq!(after, census(&server, "default").await);
    assert_eq!(
        server.blob_files().len(),
        blobs_before + after[3],
        "no orphan blobs"
    );
    assert!(import_leftovers_gone(&server).await);
    let journal = entity::job_blob::Entity::find()
        .all(&server.state().db)
        .await
        .unwrap();
    assert!(journal.is_empty(), "{journal:?}");
}

/// A small deterministic generator (xorshift), so a failing tenant can be rebuilt from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Builds a random tenant: a folder tree, documents anywhere with 0–3 revisions of random
/// sizes (empty ones, shared contents, multi-segment ones), rules on some objects.
async fn random_tenant(c: &mut Client, rng: &mut Rng) {
    const WORDS: [&str; 6] = ["Отчёт", "报告", "naïve", "plain", "Ünïcödé", "a b"];
    let mut folders: Vec<Option<String>> = vec![None];
    for i in 0..rng.below(8) {
        let parent = folders[rng.below(folders.len() as u64) as usize].clone();
        let name = format!("{} {i}", WORDS[rng.below(6) as usize]);
        let id = crate::support::mkdir(c, &name, parent.as_deref()).await;
        if rng.below(3) == 0 {
            let rule = serde_json::json!([{"match": "any", "match_groups": [
                {"groups": {"match": "any", "require": ["sysop", format!("g{i}")]}}]}]);
            let reply = c
                .request(
                    "set_directory_rules",
                    serde_json::json!({"directory_id": id, "access_rules": {"read": rule},
                        "inherit_parent": rng.below(2) == 0}),
                )
                .await;
            assert_eq!(reply.code, 200, "{reply:?}");
        }
        folders.push(Some(id));
    }
    let shared = crate::backups::content(5000, rng.next());
    for i in 0..1 + rng.below(12) {
        let folder = folders[rng.below(folders.len() as u64) as usize].clone();
        let req = api_spec::actions::CreateDocumentRequest {
            title: format!("{} doc {i}", WORDS[rng.below(6) as usize]),
            folder_id: folder,
            access_rules: None,
            inherit_parent: None,
        };
        let doc = c
            .call::<api_spec::actions::CreateDocument>(&req)
            .await
            .unwrap();
        let mut task = Some(doc.task_data.task_id);
        for _ in 0..rng.below(4) {
            let bytes = match rng.below(4) {
                0 => Vec::new(),
                1 => shared.clone(),
                _ => crate::backups::content(rng.below(150_000) as usize, rng.next()),
            };
            let task_id = match task.take() {
                Some(t) => t,
                None => {
                    c.call::<api_spec::actions::UploadDocument>(
                        &api_spec::actions::DocumentIdRequest {
                            document_id: doc.document_id.clone(),
                        },
                    )
                    .await
                    .unwrap()
                    .task_data
                    .task_id
                }
            };
            c.upload(&task_id, &bytes).await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_tenants_survive_export_and_import() {
    let server = server().await;
    for seed in [0x9e37_79b9_7f4a_7c15u64, 42, 7_777_777] {
        let mut rng = Rng(seed);
        let (mut src, mut sl) = tenant(&server, &format!("src-{}", seed % 1000)).await;
        random_tenant(&mut src, &mut rng).await;
        let before = snapshot(&server, &format!("src-{}", seed % 1000)).await;
        let compression = ["zstd", "none"][(seed % 2) as usize];
        let req = api_spec::actions::GenerateBackupRequest {
            backup_name: Some(format!("random {seed}")),
            passphrase: None,
            compression: Some(compression.into()),
        };
        let (backup_id, _, done) = export(&mut src, &mut sl, req).await;
        assert_eq!(done["status"], "completed", "seed {seed}");
        let (archive, key) = download(&mut src, &backup_id).await;
        let dst = format!("dst-{}", seed % 1000);
        let (mut d, mut dl) = tenant(&server, &dst).await;
        let (event, status) = import(&mut d, &mut dl, &archive, &key, |_| {}).await;
        assert_eq!(event["status"], "completed", "seed {seed}: {status:?}");
        assert_eq!(snapshot(&server, &dst).await, before, "seed {seed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_progress_moves_against_one_total_and_the_end_says_so() {
    let server = server().await;
    let mut c = server.admin().await;
    let mut l = listener(&server).await;
    populate(&mut c).await;
    let (backup_id, _, _) = export(&mut c, &mut l, plain("progress")).await;
    let (archive, key) = download(&mut c, &backup_id).await;
    let (mut admin, mut tl) = tenant(&server, "progress").await;
    let init = upload_pair(&mut admin, &archive, &key).await;
    admin
        .call::<StartBackupImport>(&start(&init.backup_task_id))
        .await
        .unwrap();
    let mut seen: Vec<(u64, u64)> = Vec::new();
    let done = loop {
        let event = tl.next_event().await;
        if event.data["backup_task_id"] != init.backup_task_id.as_str() {
            continue;
        }
        let at = (
            event.data["bytes_done"].as_u64().unwrap(),
            event.data["bytes_total"].as_u64().unwrap(),
        );
        seen.push(at);
        if event.event == "backup_import_completed" {
            break event;
        }
    };
    assert_eq!(done.data["status"], "completed", "{done:?}");
    // One total throughout (the archive's bytes, verified then imported), never zero;
    // bytes_done never goes back and ends at the total.
    let total = seen[0].1;
    assert_eq!(total, 2 * archive.len() as u64, "{seen:?}");
    assert!(seen.iter().all(|(_, t)| *t == total), "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
    assert!(seen.iter().any(|(d, _)| *d > 0 && *d < total), "{seen:?}");
    assert_eq!(seen.last().unwrap().0, total, "{seen:?}");
    let status = admin
        .call::<GetBackupImportStatus>(&JobIdRequest {
            backup_task_id: init.backup_task_id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(
        status.current_step,
        Some(api_spec::jobs::JobStep::Completed)
    );
    assert_eq!((status.bytes_done, status.bytes_total), (total, total));
    assert_eq!(status.progress_percent, 100);
    let counts = status.counts.expect("the final counts");
    assert!(counts["documents"].as_u64().unwrap() > 0, "{counts}");
    // The completed event says the same: its final step and counts.
    assert_eq!(done.data["current_step"], "completed", "{done:?}");
    assert_eq!(done.data["counts"], counts, "{done:?}");
}
