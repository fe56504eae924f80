//! Folders: create (with `exists_ok`), list, info, rename, move (cycle check), delete (with
//! the subtree and the blobs only it used), access rules; each failure leaves state as it was.
use api_spec::ErrorCode;
use api_spec::actions::{
    CreateDirectory, CreateDirectoryRequest, CreateDocument, DeleteDirectory, FolderIdRequest,
    GetDirectoryAccessRules, GetDirectoryInfo, GetDocumentInfo, ListDirectory,
    ListDirectoryRequest, MoveDirectory, MoveDirectoryRequest, RenameDirectory,
    RenameDirectoryRequest, SetDirectoryRules, SetDirectoryRulesRequest,
};
use serde_json::json;
use tests::TestServer;

use crate::support::{
    dir_id, dir_info, doc_id, expect_error, list, mkdir, mkdir_with, mkdoc, names_in, new_doc,
    random_id, rules, sha,
};

fn create_req(name: &str, parent: Option<&str>, exists_ok: bool) -> CreateDirectoryRequest {
    CreateDirectoryRequest {
        name: name.into(),
        parent_id: parent.map(Into::into),
        access_rules: None,
        exists_ok,
        inherit_parent: None,
    }
}

fn rename_req(id: &str, name: &str) -> RenameDirectoryRequest {
    RenameDirectoryRequest {
        folder_id: id.into(),
        new_name: name.into(),
    }
}

fn move_req(id: &str, target: Option<&str>) -> MoveDirectoryRequest {
    MoveDirectoryRequest {
        folder_id: id.into(),
        target_folder_id: target.map(Into::into),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folders_are_created_listed_described_and_renamed() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let created = c
        .call::<CreateDirectory>(&create_req("Projects", None, false))
        .await
        .unwrap();
    assert_eq!(created.name, "Projects");
    assert!(!created.existed);
    let projects = created.id;
    let inner = mkdir(&mut c, "Inner", Some(&projects)).await;
    mkdoc(&mut c, "plan.txt", Some(&projects), b"the plan").await;

    let top = list(&mut c, None).await;
    assert_eq!(top.parent_id, None);
    assert_eq!(top.folders.len(), 1);
    assert_eq!(
        (top.folders[0].id.as_str(), top.folders[0].name.as_str()),
        (projects.as_str(), "Projects")
    );
    assert!(top.documents.is_empty());

    let listing = list(&mut c, Some(&projects)).await;
    assert_eq!(
        listing.parent_id.as_deref(),
        Some("/"),
        "a top-level folder"
    );
    assert_eq!(listing.folders.len(), 1);
    assert_eq!(listing.folders[0].id, inner);
    assert_eq!(listing.documents.len(), 1);
    let doc = &listing.documents[0];
    assert_eq!(doc.title, "plan.txt");
    assert_eq!(doc.size, 8);
    assert_eq!(doc.sha256.as_deref(), Some(sha(b"the plan").as_str()));
    assert_eq!(
        list(&mut c, Some(&inner)).await.parent_id.as_deref(),
        Some(projects.as_str())
    );

    let info = dir_info(&mut c, &projects).await;
    assert_eq!(info.directory_id, projects);
    assert_eq!(info.name, "Projects");
    assert_eq!(info.parent_id, None);
    assert_eq!(info.count_of_child, 2);
    assert!(info.inherit);
    assert_eq!(info.info_code, 0, "admin holds view_access_rules");
    assert_eq!(info.access_rules, Some(rules(json!({}))));
    assert_eq!(
        dir_info(&mut c, &inner).await.parent_id.as_deref(),
        Some(projects.as_str())
    );

    c.call::<RenameDirectory>(&rename_req(&projects, "Archive"))
        .await
        .unwrap();
    assert_eq!(dir_info(&mut c, &projects).await.name, "Archive");
    assert_eq!(names_in(&mut c, None).await.0, vec!["Archive"]);
    // Renaming to its own name is not a clash with itself.
    c.call::<RenameDirectory>(&rename_req(&projects, "Archive"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_names_and_clashes_change_nothing() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let a = mkdir(&mut c, "A", None).await;
    let b = mkdir(&mut c, "B", None).await;
    let doc = mkdoc(&mut c, "notes", None, b"n").await;

    for bad in ["", "a/b", "..", "   ", "tab\there", &"x".repeat(256)] {
        let e = expect_error(
            c.call::<CreateDirectory>(&create_req(bad, None, false))
                .await,
            400,
            ErrorCode::InvalidName,
        );
        assert_eq!(e.data["field"], "name", "{e:?}");
        expect_error(
            c.call::<RenameDirectory>(&rename_req(&a, bad)).await,
            400,
            ErrorCode::InvalidName,
        );
    }

    // A second "A" clashes and names the first; so does a folder named like a document.
    let e = expect_error(
        c.call::<CreateDirectory>(&create_req("A", None, false))
            .await,
        409,
        ErrorCode::NameConflict,
    );
    assert_eq!(e.data["id"], a.as_str());
    assert_eq!(e.data["object_type"], "folder");
    let e = expect_error(
        c.call::<CreateDirectory>(&create_req("notes", None, true))
            .await,
        409,
        ErrorCode::NameConflict,
    );
    assert_eq!(
        (e.data["id"].as_str(), e.data["object_type"].as_str()),
        (Some(doc.as_str()), Some("document")),
        "exists_ok answers only an existing folder"
    );
    // exists_ok answers the existing folder.
    let again = c
        .call::<CreateDirectory>(&create_req("A", None, true))
        .await
        .unwrap();
    assert!(again.existed);
    assert_eq!((again.id.as_str(), again.name.as_str()), (a.as_str(), "A"));
    // The same name in another folder is fine.
    mkdir(&mut c, "A", Some(&b)).await;

    let e = expect_error(
        c.call::<RenameDirectory>(&rename_req(&b, "A")).await,
        409,
        ErrorCode::NameConflict,
    );
    assert_eq!(e.data["id"], a.as_str());
    let e = expect_error(
        c.call::<RenameDirectory>(&rename_req(&b, "notes")).await,
        409,
        ErrorCode::NameConflict,
    );
    assert_eq!(e.data["id"], doc.as_str());

    // Nothing of the above changed the tree.
    assert_eq!(
        names_in(&mut c, None).await,
        (vec!["A".into(), "B".into()], vec!["notes".into()])
    );
    assert_eq!(names_in(&mut c, Some(&b)).await.0, vec!["A"]);
    assert_eq!(dir_info(&mut c, &a).await.count_of_child, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_folders_are_not_found_for_every_action() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let real = mkdir(&mut c, "real", None).await;
    fn nf<T: std::fmt::Debug>(r: Result<T, tests::ApiFailure>) {
        expect_error(r, 404, ErrorCode::FolderNotFound);
    }
    for missing in [random_id(), "not-a-uuid".to_owned()] {
        let m = missing.as_str();
        nf(c.call::<ListDirectory>(&ListDirectoryRequest {
            folder_id: Some(missing.clone()),
        })
        .await);
        nf(c.call::<GetDirectoryInfo>(&dir_id(m)).await);
        nf(c.call::<CreateDirectory>(&create_req("x", Some(m), false))
            .await);
        nf(c.call::<CreateDocument>(&new_doc("x", Some(m))).await);
        nf(c.call::<RenameDirectory>(&rename_req(m, "x")).await);
        nf(c.call::<MoveDirectory>(&move_req(m, None)).await);
        nf(c.call::<MoveDirectory>(&move_req(&real, Some(m))).await);
        nf(c.call::<DeleteDirectory>(&FolderIdRequest {
            folder_id: missing.clone(),
        })
        .await);
        nf(c.call::<GetDirectoryAccessRules>(&dir_id(m)).await);
        nf(c.call::<SetDirectoryRules>(&SetDirectoryRulesRequest {
            directory_id: missing.clone(),
            access_rules: rules(json!({})),
            inherit_parent: None,
        })
        .await);
    }
    // Nothing was created anywhere, and `real` is still at the top.
    assert_eq!(names_in(&mut c, None).await, (vec!["real".into()], vec![]));
    assert_eq!(dir_info(&mut c, &real).await.count_of_child, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_refuse_cycles_and_clashes() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    // a/b/c, and d at the top holding its own "b".
    let a = mkdir(&mut c, "a", None).await;
    let b = mkdir(&mut c, "b", Some(&a)).await;
    let cc = mkdir(&mut c, "c", Some(&b)).await;
    let d = mkdir(&mut c, "d", None).await;
    let d_b = mkdir(&mut c, "b", Some(&d)).await;

    for target in [&cc, &b, &a] {
        expect_error(
            c.call::<MoveDirectory>(&move_req(&a, Some(target))).await,
            400,
            ErrorCode::MoveCycle,
        );
    }
    expect_error(
        c.call::<MoveDirectory>(&move_req(&b, Some(&cc))).await,
        400,
        ErrorCode::MoveCycle,
    );
    let e = expect_error(
        c.call::<MoveDirectory>(&move_req(&b, Some(&d))).await,
        409,
        ErrorCode::NameConflict,
    );
    assert_eq!(e.data["id"], d_b.as_str());
    // Nothing moved.
    assert_eq!(dir_info(&mut c, &a).await.parent_id, None);
    assert_eq!(
        dir_info(&mut c, &b).await.parent_id.as_deref(),
        Some(a.as_str())
    );
    assert_eq!(
        dir_info(&mut c, &cc).await.parent_id.as_deref(),
        Some(b.as_str())
    );

    // Legal moves: c to the top, then a (with b) into c.
    c.call::<MoveDirectory>(&move_req(&cc, None)).await.unwrap();
    assert_eq!(dir_info(&mut c, &cc).await.parent_id, None);
    c.call::<MoveDirectory>(&move_req(&a, Some(&cc)))
        .await
        .unwrap();
    assert_eq!(
        dir_info(&mut c, &a).await.parent_id.as_deref(),
        Some(cc.as_str())
    );
    assert_eq!(names_in(&mut c, None).await.0, vec!["c", "d"]);
    assert_eq!(names_in(&mut c, Some(&cc)).await.0, vec!["a"]);
    assert_eq!(names_in(&mut c, Some(&a)).await.0, vec!["b"]);
    // And now c may not go below a.
    expect_error(
        c.call::<MoveDirectory>(&move_req(&cc, Some(&b))).await,
        400,
        ErrorCode::MoveCycle,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_folder_takes_its_subtree_and_the_blobs_only_it_used() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    // top/{inner/{deep.txt, leaf/}, only.txt, shared.txt}; kept.txt outside shares a blob.
    let top = mkdir(&mut c, "top", None).await;
    let inner = mkdir(&mut c, "inner", Some(&top)).await;
    let leaf = mkdir(&mut c, "leaf", Some(&inner)).await;
    let deep = mkdoc(&mut c, "deep.txt", Some(&inner), b"deep content").await;
    let only = mkdoc(&mut c, "only.txt", Some(&top), b"only here").await;
    let shared = mkdoc(&mut c, "shared.txt", Some(&top), b"shared bytes").await;
    let kept = mkdoc(&mut c, "kept.txt", None, b"shared bytes").await;
    assert_eq!(server.blob_files().len(), 3, "{:?}", server.blob_files());

    c.call::<DeleteDirectory>(&FolderIdRequest {
        folder_id: top.clone(),
    })
    .await
    .unwrap();

    for f in [&top, &inner, &leaf] {
        expect_error(
            c.call::<GetDirectoryInfo>(&dir_id(f)).await,
            404,
            ErrorCode::FolderNotFound,
        );
    }
    for d in [&deep, &only, &shared] {
        expect_error(
            c.call::<GetDocumentInfo>(&doc_id(d)).await,
            404,
            ErrorCode::DocumentNotFound,
        );
    }
    assert_eq!(
        names_in(&mut c, None).await,
        (vec![], vec!["kept.txt".into()])
    );
    let blobs = server.blob_files();
    assert_eq!(
        blobs.len(),
        1,
        "only the still-referenced blob stays: {blobs:?}"
    );
    assert!(blobs[0].to_string_lossy().ends_with(&sha(b"shared bytes")));
    assert_eq!(
        crate::support::content_of(&mut c, &kept).await,
        b"shared bytes"
    );
    // Deleting it again is a 404 and changes nothing.
    expect_error(
        c.call::<DeleteDirectory>(&FolderIdRequest { folder_id: top })
            .await,
        404,
        ErrorCode::FolderNotFound,
    );
    assert_eq!(server.blob_files().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folder_rules_are_set_read_replaced_by_type_and_cleared() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let sysop_read = crate::support::members_of("sysop");
    let created = mkdir_with(
        &mut c,
        "ruled",
        None,
        Some(rules(json!({"read": sysop_read}))),
        Some(false),
    )
    .await;
    let f = created.id;
    let got = c
        .call::<GetDirectoryAccessRules>(&dir_id(&f))
        .await
        .unwrap();
    assert_eq!(got.rules, rules(json!({"read": sysop_read})));
    assert!(!got.inherit, "created with inherit_parent: false");
    assert!(!dir_info(&mut c, &f).await.inherit);

    // Setting "write" keeps "read"; inherit_parent flips back.
    let any_staff = json!([{"match": "any", "match_groups": [
        {"groups": {"match": "any", "require": ["sysop", "staff"]}},
        {"rights": {"match": "all", "require": ["move"]}}
    ]}]);
    c.call::<SetDirectoryRules>(&SetDirectoryRulesRequest {
        directory_id: f.clone(),
        access_rules: rules(json!({"write": any_staff})),
        inherit_parent: Some(true),
    })
    .await
    .unwrap();
    let got = c
        .call::<GetDirectoryAccessRules>(&dir_id(&f))
        .await
        .unwrap();
    assert_eq!(
        got.rules,
        rules(json!({"read": sysop_read, "write": any_staff}))
    );
    assert!(got.inherit);
    assert_eq!(
        dir_info(&mut c, &f).await.access_rules,
        Some(rules(json!({"read": sysop_read, "write": any_staff})))
    );

    // Invalid rules are refused and change nothing.
    for bad in [
        json!({"delete": []}),
        json!({"read": [{"match": "most", "match_groups": []}]}),
        json!({"read": [{"match": "all"}]}),
        json!({"read": [{"match": "all", "match_groups": [{"groups": {"match": "all", "require": ["x"]}, "extra": 1}]}]}),
        json!({"read": ["not an object"]}),
    ] {
        let e = expect_error(
            c.call::<SetDirectoryRules>(&SetDirectoryRulesRequest {
                directory_id: f.clone(),
                access_rules: rules(bad.clone()),
                inherit_parent: Some(false),
            })
            .await,
            400,
            ErrorCode::InvalidRules,
        );
        assert_eq!(e.data["field"], "access_rules", "{bad}");
        expect_error(
            c.call::<CreateDirectory>(&CreateDirectoryRequest {
                access_rules: Some(rules(bad)),
                ..create_req("never", None, false)
            })
            .await,
            400,
            ErrorCode::InvalidRules,
        );
    }
    let got = c
        .call::<GetDirectoryAccessRules>(&dir_id(&f))
        .await
        .unwrap();
    assert_eq!(
        got.rules,
        rules(json!({"read": sysop_read, "write": any_staff}))
    );
    assert!(got.inherit, "a refused change keeps inherit too");
    assert_eq!(names_in(&mut c, None).await.0, vec!["ruled"]);

    // `{}` removes every rule.
    c.call::<SetDirectoryRules>(&SetDirectoryRulesRequest {
        directory_id: f.clone(),
        access_rules: rules(json!({})),
        inherit_parent: None,
    })
    .await
    .unwrap();
    let got = c
        .call::<GetDirectoryAccessRules>(&dir_id(&f))
        .await
        .unwrap();
    assert!(got.rules.is_empty(), "{:?}", got.rules);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_are_serialised_not_refused() {
    // Each action reads, then writes, in one transaction. On SQLite a deferred transaction
    // of that shape fails (`database is locked`, without waiting) when another writer
    // commits in between; writes must queue for the lock instead.
    let server = TestServer::start().await;
    let mut tasks = Vec::new();
    for client in 0..6 {
        let c = server.admin().await;
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for i in 0..15 {
                let r = c
                    .call::<CreateDirectory>(&create_req(&format!("c{client} f{i}"), None, false))
                    .await;
                if let Err(e) = r {
                    failures.push(e.error);
                }
            }
            failures
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), Vec::<ErrorCode>::new());
    }
    let mut admin = server.admin().await;
    assert_eq!(names_in(&mut admin, None).await.0.len(), 6 * 15);
}
