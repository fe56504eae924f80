//! Tenant isolation of the document core, action by action: another tenant's folder,
//! document, revision, access entry, user or group answers exactly what an id that names
//! nothing answers (a 404, never a 403, never data), and nothing changes on either side.
use api_spec::actions::{
    EntityType, GrantAccess, GrantAccessRequest, ObjectType, SetDirectoryRules,
    SetDirectoryRulesRequest, SetDocumentRules, SetDocumentRulesRequest, TargetType,
    ViewAccessEntries, ViewAccessEntriesRequest,
};
use api_spec::{ErrorCode, Reply};
use serde_json::{Value, json};
use tests::{Client, TestServer};

use crate::support::{
    EDITOR_PERMISSIONS, content_of, dir_info, doc_info, group, members_of, mkdir, mkdoc,
    new_revision, other_tenant, random_id, rules, user,
};

/// An action, its request data for an id, and the error both ids must answer.
type Case<'a> = (&'static str, Box<dyn Fn(&str) -> Value + 'a>, ErrorCode);

/// Sends `action` with `data(foreign)` and with `data(unknown)`; both must answer the same
/// 404 `error`, with the same message and data.
async fn same_as_unknown(
    c: &mut Client,
    action: &str,
    foreign: &str,
    unknown: &str,
    data: impl Fn(&str) -> Value,
    error: ErrorCode,
) {
    let theirs: Reply = c.request(action, data(foreign)).await;
    let nothing: Reply = c.request(action, data(unknown)).await;
    let expected = serde_json::to_value(error).unwrap();
    assert_eq!(
        (theirs.code, &theirs.data["error"]),
        (404, &expected),
        "{action} with another tenant's id: {theirs:?}"
    );
    assert_eq!(
        (nothing.code, &nothing.message, &nothing.data),
        (theirs.code, &theirs.message, &theirs.data),
        "{action}: another tenant's id must look like an unknown one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_objects_answer_like_unknown_ids_for_every_action() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    // Tenant default: alice in staff; folder F holding document D (two revisions), both
    // with rules; an access entry for alice on D.
    group(&mut admin, "staff", &[]).await;
    user(&server, &mut admin, "alice", EDITOR_PERMISSIONS, &["staff"]).await;
    let f = mkdir(&mut admin, "F", None).await;
    let d = mkdoc(&mut admin, "D", Some(&f), b"first").await;
    let r1 = doc_info(&mut admin, &d).await.current_revision_id.unwrap();
    let r2 = new_revision(&mut admin, &d, b"second").await;
    let rule_set = rules(json!({"read": members_of("sysop")}));
    admin
        .call::<SetDirectoryRules>(&SetDirectoryRulesRequest {
            directory_id: f.clone(),
            access_rules: rule_set.clone(),
            inherit_parent: None,
        })
        .await
        .unwrap();
    admin
        .call::<SetDocumentRules>(&SetDocumentRulesRequest {
            document_id: d.clone(),
            access_rules: rule_set.clone(),
            inherit_parent: None,
        })
        .await
        .unwrap();
    let entry = admin
        .call::<GrantAccess>(&GrantAccessRequest {
            entity_type: EntityType::User,
            entity_identifier: "alice".into(),
            target_type: TargetType::Document,
            target_identifier: d.clone(),
            access_types: vec!["read".into()],
            start_time: None,
            end_time: None,
        })
        .await
        .unwrap()
        .entry_ids
        .remove(0);
    let upload_task = admin
        .call::<api_spec::actions::UploadDocument>(&crate::support::doc_id(&d))
        .await
        .unwrap()
        .task_data
        .task_id;

    // Tenant other: its admin (holding every document permission) and its own objects.
    let mut other = other_tenant(&server, &mut admin, "other").await;
    let of = mkdir(&mut other, "OF", None).await;
    let od = mkdoc(&mut other, "OD", None, b"theirs").await;
    let or = doc_info(&mut other, &od).await.current_revision_id.unwrap();

    let unknown = random_id();
    let u = unknown.as_str();
    let o = &mut other;
    use ErrorCode::{
        DocumentNotFound as DocNf, EntryNotFound, FolderNotFound as DirNf, GroupNotFound,
        RevisionNotFound as RevNf, TaskNotFound, UserNotFound,
    };

    // Folders.
    let cases: Vec<Case<'_>> = vec![
        (
            "list_directory",
            Box::new(|x| json!({"folder_id": x})),
            DirNf,
        ),
        (
            "get_directory_info",
            Box::new(|x| json!({"directory_id": x})),
            DirNf,
        ),
        (
            "create_directory",
            Box::new(|x| json!({"name": "n", "parent_id": x})),
            DirNf,
        ),
        (
            "create_directory",
            Box::new(|x| json!({"name": "n", "parent_id": x, "exists_ok": true})),
            DirNf,
        ),
        (
            "rename_directory",
            Box::new(|x| json!({"folder_id": x, "new_name": "n"})),
            DirNf,
        ),
        (
            "move_directory",
            Box::new(|x| json!({"folder_id": x, "target_folder_id": null})),
            DirNf,
        ),
        (
            "move_directory",
            Box::new(|x| json!({"folder_id": of, "target_folder_id": x})),
            DirNf,
        ),
        (
            "delete_directory",
            Box::new(|x| json!({"folder_id": x})),
            DirNf,
        ),
        (
            "get_directory_access_rules",
            Box::new(|x| json!({"directory_id": x})),
            DirNf,
        ),
        (
            "set_directory_rules",
            Box::new(|x| json!({"directory_id": x, "access_rules": {}, "inherit_parent": false})),
            DirNf,
        ),
        (
            "create_document",
            Box::new(|x| json!({"title": "n", "folder_id": x})),
            DirNf,
        ),
        (
            "move_document",
            Box::new(|x| json!({"document_id": od, "target_folder_id": x})),
            DirNf,
        ),
    ];
    for (action, data, error) in &cases {
        same_as_unknown(o, action, &f, u, data, *error).await;
    }

    // Documents.
    let cases: Vec<Case<'_>> = vec![
        (
            "get_document_info",
            Box::new(|x| json!({"document_id": x})),
            DocNf,
        ),
        (
            "get_document",
            Box::new(|x| json!({"document_id": x})),
            DocNf,
        ),
        (
            "upload_document",
            Box::new(|x| json!({"document_id": x})),
            DocNf,
        ),
        (
            "rename_document",
            Box::new(|x| json!({"document_id": x, "new_title": "n"})),
            DocNf,
        ),
        (
            "move_document",
            Box::new(|x| json!({"document_id": x, "target_folder_id": null})),
            DocNf,
        ),
        (
            "delete_document",
            Box::new(|x| json!({"document_id": x})),
            DocNf,
        ),
        (
            "get_document_access_rules",
            Box::new(|x| json!({"document_id": x})),
            DocNf,
        ),
        (
            "set_document_rules",
            Box::new(|x| json!({"document_id": x, "access_rules": {}, "inherit_parent": false})),
            DocNf,
        ),
        (
            "list_revisions",
            Box::new(|x| json!({"document_id": x})),
            DocNf,
        ),
        (
            "set_current_revision",
            Box::new(|x| json!({"document_id": x, "revision_id": or})),
            DocNf,
        ),
    ];
    for (action, data, error) in &cases {
        same_as_unknown(o, action, &d, u, data, *error).await;
    }

    // Revisions.
    let cases: Vec<Case<'_>> = vec![
        ("get_revision", Box::new(|x| json!({"id": x})), RevNf),
        (
            "set_current_revision",
            Box::new(|x| json!({"document_id": od, "revision_id": x})),
            RevNf,
        ),
    ];
    for (action, data, error) in &cases {
        for r in [&r1, &r2] {
            same_as_unknown(o, action, r, u, data, *error).await;
        }
    }

    // Access entries, and grants naming another tenant's objects or principals.
    let grant = |entity_type: &str, who: &str, target_type: &str, target: &str| {
        json!({"entity_type": entity_type, "entity_identifier": who,
               "target_type": target_type, "target_identifier": target,
               "access_types": ["read"]})
    };
    same_as_unknown(
        o,
        "grant_access",
        &d,
        u,
        |x| grant("user", "admin", "document", x),
        DocNf,
    )
    .await;
    same_as_unknown(
        o,
        "grant_access",
        &f,
        u,
        |x| grant("user", "admin", "directory", x),
        DirNf,
    )
    .await;
    same_as_unknown(
        o,
        "grant_access",
        "alice",
        "no-such-user",
        |x| grant("user", x, "document", &od),
        UserNotFound,
    )
    .await;
    same_as_unknown(
        o,
        "grant_access",
        "staff",
        "no-such-group",
        |x| grant("group", x, "document", &od),
        GroupNotFound,
    )
    .await;
    same_as_unknown(
        o,
        "revoke_access",
        &entry,
        u,
        |x| json!({"entry_id": x}),
        EntryNotFound,
    )
    .await;
    for (object_type, foreign, unknown, error) in [
        ("document", d.as_str(), u, DocNf),
        ("directory", f.as_str(), u, DirNf),
        ("user", "alice", "no-such-user", UserNotFound),
        ("group", "staff", "no-such-group", GroupNotFound),
    ] {
        same_as_unknown(
            o,
            "view_access_entries",
            foreign,
            unknown,
            |x| json!({"object_type": object_type, "object_identifier": x}),
            error,
        )
        .await;
    }
    // Transfer tasks.
    same_as_unknown(
        o,
        "download_file",
        &upload_task,
        u,
        |x| json!({"task_id": x}),
        TaskNotFound,
    )
    .await;

    // Search and listings show nothing of tenant default.
    let found = other.request("search", json!({"query": "D"})).await;
    assert_eq!(found.code, 200);
    assert_eq!(found.data["documents"][0]["id"], od.as_str(), "{found:?}");
    assert_eq!(found.data["total_count"], 1, "only OD matches: {found:?}");
    assert_eq!(
        crate::support::names_in(&mut other, None).await,
        (vec!["OF".into()], vec!["OD".into()])
    );

    // Nothing changed in either tenant.
    let fi = dir_info(&mut admin, &f).await;
    assert_eq!(
        (fi.name.as_str(), fi.parent_id, fi.inherit),
        ("F", None, true)
    );
    assert_eq!(fi.access_rules, Some(rule_set.clone()));
    let di = doc_info(&mut admin, &d).await;
    assert_eq!(di.title, "D");
    assert_eq!(di.parent_id.as_deref(), Some(f.as_str()));
    assert_eq!(di.current_revision_id.as_deref(), Some(r2.as_str()));
    assert_eq!((di.access_rules, di.inherit), (Some(rule_set), true));
    assert_eq!(content_of(&mut admin, &d).await, b"second");
    let entries = admin
        .call::<ViewAccessEntries>(&ViewAccessEntriesRequest {
            object_type: ObjectType::Document,
            object_identifier: d.clone(),
        })
        .await
        .unwrap()
        .result;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].id, entry);
    assert_eq!(
        crate::support::names_in(&mut admin, None).await,
        (vec!["F".into()], vec![])
    );
    assert_eq!(
        crate::support::names_in(&mut admin, Some(&f)).await.1,
        vec!["D"]
    );
    assert_eq!(dir_info(&mut other, &of).await.parent_id, None);
    let odi = doc_info(&mut other, &od).await;
    assert_eq!(
        (odi.parent_id, odi.current_revision_id),
        (None, Some(or.clone()))
    );
    assert_eq!(content_of(&mut other, &od).await, b"theirs");
}
