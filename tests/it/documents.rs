//! Documents and revisions: create, info, download, new revisions, rename, move, delete,
//! rules, revision history; each failure leaves state as it was.
use api_spec::ErrorCode;
use api_spec::actions::{
    CreateDocument, CreateDocumentRequest, DeleteDocument, GetDocument, GetDocumentAccessRules,
    GetDocumentInfo, GetRevision, ListRevisions, MoveDocument, MoveDocumentRequest, RenameDocument,
    RenameDocumentRequest, RevisionIdRequest, SetCurrentRevision, SetCurrentRevisionRequest,
    SetDocumentRules, SetDocumentRulesRequest, UploadDocument,
};
use serde_json::json;
use tests::{ApiFailure, TestServer};

use crate::support::{
    content_of, doc_id, doc_info, expect_error, members_of, mkdir, mkdoc, names_in, new_doc,
    new_revision, random_id, rules, sha,
};

fn rename_req(id: &str, title: &str) -> RenameDocumentRequest {
    RenameDocumentRequest {
        document_id: id.into(),
        new_title: title.into(),
    }
}

fn move_req(id: &str, target: Option<&str>) -> MoveDocumentRequest {
    MoveDocumentRequest {
        document_id: id.into(),
        target_folder_id: target.map(Into::into),
    }
}

fn set_current(document: &str, revision: &str) -> SetCurrentRevisionRequest {
    SetCurrentRevisionRequest {
        document_id: document.into(),
        revision_id: revision.into(),
    }
}

fn rev(id: &str) -> RevisionIdRequest {
    RevisionIdRequest { id: id.into() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_is_created_read_renamed_moved_and_deleted() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let folder = mkdir(&mut c, "folder", None).await;
    let created = c
        .call::<CreateDocument>(&new_doc("report.txt", Some(&folder)))
        .await
        .unwrap();
    let id = created.document_id.clone();

    // Before its first upload a document exists but has no content.
    let info = doc_info(&mut c, &id).await;
    assert_eq!((info.size, info.sha256.as_deref()), (0, None));
    assert_eq!(info.current_revision_id, None);
    assert_eq!(info.parent_id.as_deref(), Some(folder.as_str()));
    expect_error(
        c.call::<GetDocument>(&doc_id(&id)).await,
        404,
        ErrorCode::NoRevision,
    );

    let bytes = b"quarterly numbers".to_vec();
    let up = c.upload(&created.task_data.task_id, &bytes).await.unwrap();
    assert_eq!(up.document_id.as_deref(), Some(id.as_str()));
    let info = doc_info(&mut c, &id).await;
    assert_eq!(info.document_id, id);
    assert_eq!(info.title, "report.txt");
    assert_eq!(info.size, bytes.len() as u64);
    assert_eq!(info.sha256.as_deref(), Some(sha(&bytes).as_str()));
    assert_eq!(info.current_revision_id, up.revision_id);
    assert!(info.inherit);
    assert_eq!(
        (info.info_code, info.access_rules),
        (0, Some(rules(json!({}))))
    );
    assert!(info.last_modified >= info.created_time);

    let got = c.call::<GetDocument>(&doc_id(&id)).await.unwrap();
    assert_eq!(
        (got.document_id.as_str(), got.title.as_str()),
        (id.as_str(), "report.txt")
    );
    assert_eq!(got.task_data.size, Some(bytes.len() as u64));
    assert_eq!(got.task_data.sha256.as_deref(), Some(sha(&bytes).as_str()));
    assert_eq!(c.download(&got.task_data.task_id).await.unwrap(), bytes);

    c.call::<RenameDocument>(&rename_req(&id, "final.txt"))
        .await
        .unwrap();
    assert_eq!(doc_info(&mut c, &id).await.title, "final.txt");
    c.call::<MoveDocument>(&move_req(&id, None)).await.unwrap();
    assert_eq!(doc_info(&mut c, &id).await.parent_id, None);
    assert_eq!(names_in(&mut c, None).await.1, vec!["final.txt"]);
    assert!(names_in(&mut c, Some(&folder)).await.1.is_empty());
    c.call::<MoveDocument>(&move_req(&id, Some(&folder)))
        .await
        .unwrap();
    assert_eq!(names_in(&mut c, Some(&folder)).await.1, vec!["final.txt"]);
    assert_eq!(
        content_of(&mut c, &id).await,
        bytes,
        "content survives moves"
    );

    c.call::<DeleteDocument>(&doc_id(&id)).await.unwrap();
    expect_error(
        c.call::<GetDocumentInfo>(&doc_id(&id)).await,
        404,
        ErrorCode::DocumentNotFound,
    );
    assert!(names_in(&mut c, Some(&folder)).await.1.is_empty());
    assert!(server.blob_files().is_empty(), "{:?}", server.blob_files());
    expect_error(
        c.call::<DeleteDocument>(&doc_id(&id)).await,
        404,
        ErrorCode::DocumentNotFound,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_titles_and_clashes_change_nothing() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let folder = mkdir(&mut c, "folder", None).await;
    let a = mkdoc(&mut c, "a.txt", None, b"a").await;
    let b = mkdoc(&mut c, "b.txt", None, b"b").await;
    let inside = mkdoc(&mut c, "a.txt", Some(&folder), b"a2").await;

    for bad in ["", "x/y", ".", "back\\slash", &"t".repeat(256)] {
        let e = expect_error(
            c.call::<CreateDocument>(&new_doc(bad, None)).await,
            400,
            ErrorCode::InvalidName,
        );
        assert_eq!(e.data["field"], "title");
        let e = expect_error(
            c.call::<RenameDocument>(&rename_req(&a, bad)).await,
            400,
            ErrorCode::InvalidName,
        );
        assert_eq!(e.data["field"], "new_title");
    }

    let e = expect_error(
        c.call::<CreateDocument>(&new_doc("a.txt", None)).await,
        409,
        ErrorCode::NameConflict,
    );
    assert_eq!(
        (e.data["id"].as_str(), e.data["object_type"].as_str()),
        (Some(a.as_str()), Some("document"))
    );
    let e = expect_error(
        c.call::<CreateDocument>(&new_doc("folder", None)).await,
        409,
        ErrorCode::NameConflict,
    );
    assert_eq!(
        (e.data["id"].as_str(), e.data["object_type"].as_str()),
        (Some(folder.as_str()), Some("folder"))
    );
    let e = expect_error(
        c.call::<RenameDocument>(&rename_req(&b, "a.txt")).await,
        409,
        ErrorCode::NameConflict,
    );
    assert_eq!(e.data["id"], a.as_str());
    let e = expect_error(
        c.call::<MoveDocument>(&move_req(&a, Some(&folder))).await,
        409,
        ErrorCode::NameConflict,
    );
    assert_eq!(e.data["id"], inside.as_str(), "the clash is in the target");

    // Unknown folders and documents.
    expect_error(
        c.call::<MoveDocument>(&move_req(&a, Some(&random_id())))
            .await,
        404,
        ErrorCode::FolderNotFound,
    );
    expect_error(
        c.call::<CreateDocument>(&new_doc("new.txt", Some(&random_id())))
            .await,
        404,
        ErrorCode::FolderNotFound,
    );

    // Nothing changed.
    assert_eq!(
        names_in(&mut c, None).await,
        (vec!["folder".into()], vec!["a.txt".into(), "b.txt".into()])
    );
    assert_eq!(names_in(&mut c, Some(&folder)).await.1, vec!["a.txt"]);
    assert_eq!(content_of(&mut c, &a).await, b"a");
    assert_eq!(content_of(&mut c, &inside).await, b"a2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_documents_and_revisions_are_not_found_for_every_action() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let real = mkdoc(&mut c, "real", None, b"real").await;
    fn nf<T: std::fmt::Debug>(r: Result<T, ApiFailure>, e: ErrorCode) {
        expect_error(r, 404, e);
    }
    use ErrorCode::{DocumentNotFound as D, RevisionNotFound as R};
    for missing in [random_id(), "123".to_owned()] {
        let m = missing.as_str();
        nf(c.call::<GetDocumentInfo>(&doc_id(m)).await, D);
        nf(c.call::<GetDocument>(&doc_id(m)).await, D);
        nf(c.call::<UploadDocument>(&doc_id(m)).await, D);
        nf(c.call::<RenameDocument>(&rename_req(m, "x")).await, D);
        nf(c.call::<MoveDocument>(&move_req(m, None)).await, D);
        nf(c.call::<DeleteDocument>(&doc_id(m)).await, D);
        nf(c.call::<GetDocumentAccessRules>(&doc_id(m)).await, D);
        nf(
            c.call::<SetDocumentRules>(&SetDocumentRulesRequest {
                document_id: m.into(),
                access_rules: rules(json!({})),
                inherit_parent: None,
            })
            .await,
            D,
        );
        nf(c.call::<ListRevisions>(&doc_id(m)).await, D);
        nf(c.call::<GetRevision>(&rev(m)).await, R);
        nf(c.call::<SetCurrentRevision>(&set_current(m, m)).await, D);
        nf(
            c.call::<SetCurrentRevision>(&set_current(&real, m)).await,
            R,
        );
    }
    let info = doc_info(&mut c, &real).await;
    assert_eq!(info.title, "real");
    assert_eq!(content_of(&mut c, &real).await, b"real");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revisions_are_listed_downloaded_and_made_current() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let doc = mkdoc(&mut c, "history.txt", None, b"version one").await;
    let r2 = new_revision(&mut c, &doc, b"version two!").await;
    let r3 = new_revision(&mut c, &doc, b"version three").await;

    let listed = c
        .call::<ListRevisions>(&doc_id(&doc))
        .await
        .unwrap()
        .revisions;
    assert_eq!(listed.len(), 3);
    let r1 = listed[0].id.clone();
    assert_eq!(
        listed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        [r1.as_str(), r2.as_str(), r3.as_str()],
        "oldest first"
    );
    assert_eq!(listed[0].parent_id, None);
    assert_eq!(listed[1].parent_id.as_deref(), Some(r1.as_str()));
    assert_eq!(listed[2].parent_id.as_deref(), Some(r2.as_str()));
    assert_eq!(
        listed.iter().map(|r| r.is_current).collect::<Vec<_>>(),
        [false, false, true]
    );
    assert_eq!(
        (listed[1].size, listed[1].sha256.as_str()),
        (12, sha(b"version two!").as_str())
    );
    assert_eq!(content_of(&mut c, &doc).await, b"version three");

    // Any revision can be downloaded.
    let task = c.call::<GetRevision>(&rev(&r1)).await.unwrap().task_data;
    assert_eq!(task.sha256.as_deref(), Some(sha(b"version one").as_str()));
    assert_eq!(c.download(&task.task_id).await.unwrap(), b"version one");

    // Making r1 current changes what get_document serves, and nothing else.
    c.call::<SetCurrentRevision>(&set_current(&doc, &r1))
        .await
        .unwrap();
    assert_eq!(content_of(&mut c, &doc).await, b"version one");
    let info = doc_info(&mut c, &doc).await;
    assert_eq!(info.current_revision_id.as_deref(), Some(r1.as_str()));
    assert_eq!(info.size, 11);
    let listed = c
        .call::<ListRevisions>(&doc_id(&doc))
        .await
        .unwrap()
        .revisions;
    assert_eq!(
        listed.iter().map(|r| r.is_current).collect::<Vec<_>>(),
        [true, false, false]
    );

    // A new upload builds on the current revision.
    let r4 = new_revision(&mut c, &doc, b"version four").await;
    let listed = c
        .call::<ListRevisions>(&doc_id(&doc))
        .await
        .unwrap()
        .revisions;
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[3].id, r4);
    assert_eq!(listed[3].parent_id.as_deref(), Some(r1.as_str()));

    // Another document's revision is not this document's.
    let other = mkdoc(&mut c, "other.txt", None, b"other").await;
    let other_rev = doc_info(&mut c, &other).await.current_revision_id.unwrap();
    expect_error(
        c.call::<SetCurrentRevision>(&set_current(&doc, &other_rev))
            .await,
        404,
        ErrorCode::RevisionNotFound,
    );
    assert_eq!(
        doc_info(&mut c, &doc).await.current_revision_id.as_deref(),
        Some(r4.as_str())
    );
    assert_eq!(content_of(&mut c, &other).await, b"other");

    // Deleting the document removes every revision and its blobs (other's stays).
    c.call::<DeleteDocument>(&doc_id(&doc)).await.unwrap();
    expect_error(
        c.call::<GetRevision>(&rev(&r2)).await,
        404,
        ErrorCode::RevisionNotFound,
    );
    let blobs = server.blob_files();
    assert_eq!(blobs.len(), 1, "{blobs:?}");
    assert!(blobs[0].to_string_lossy().ends_with(&sha(b"other")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_content_is_stored_once_and_removed_with_its_last_revision() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let one = mkdoc(&mut c, "one", None, b"same bytes").await;
    let two = mkdoc(&mut c, "two", None, b"same bytes").await;
    new_revision(&mut c, &two, b"two's own").await;
    assert_eq!(server.blob_files().len(), 2);
    // two still has a revision with the shared bytes, so deleting one keeps them.
    c.call::<DeleteDocument>(&doc_id(&one)).await.unwrap();
    assert_eq!(server.blob_files().len(), 2);
    let first = c
        .call::<ListRevisions>(&doc_id(&two))
        .await
        .unwrap()
        .revisions[0]
        .id
        .clone();
    let task = c.call::<GetRevision>(&rev(&first)).await.unwrap().task_data;
    assert_eq!(c.download(&task.task_id).await.unwrap(), b"same bytes");
    c.call::<DeleteDocument>(&doc_id(&two)).await.unwrap();
    assert!(server.blob_files().is_empty(), "{:?}", server.blob_files());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_rules_are_set_read_and_cannot_lock_the_caller_out() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let staff_write = members_of("staff");
    let id = crate::support::mkdoc_req(
        &mut c,
        CreateDocumentRequest {
            access_rules: Some(rules(json!({"read": members_of("sysop")}))),
            inherit_parent: Some(false),
            ..new_doc("ruled", None)
        },
        b"x",
    )
    .await;
    let got = c
        .call::<GetDocumentAccessRules>(&doc_id(&id))
        .await
        .unwrap();
    assert_eq!(got.rules, rules(json!({"read": members_of("sysop")})));
    assert!(!got.inherit);

    // A write rule only "staff" passes would lock the admin (not in staff) out of writing.
    let e = expect_error(
        c.call::<SetDocumentRules>(&SetDocumentRulesRequest {
            document_id: id.clone(),
            access_rules: rules(json!({"write": staff_write})),
            inherit_parent: Some(true),
        })
        .await,
        403,
        ErrorCode::WouldLockOut,
    );
    assert_eq!(e.message, "These rules would lock you out");
    let got = c
        .call::<GetDocumentAccessRules>(&doc_id(&id))
        .await
        .unwrap();
    assert_eq!(got.rules, rules(json!({"read": members_of("sysop")})));
    assert!(!got.inherit, "the refused change is rolled back whole");
    // The same at creation: nothing is created.
    expect_error(
        c.call::<CreateDocument>(&CreateDocumentRequest {
            access_rules: Some(rules(json!({"manage": staff_write}))),
            ..new_doc("locked", None)
        })
        .await,
        403,
        ErrorCode::WouldLockOut,
    );
    assert_eq!(names_in(&mut c, None).await.1, vec!["ruled"]);

    c.call::<SetDocumentRules>(&SetDocumentRulesRequest {
        document_id: id.clone(),
        access_rules: rules(json!({"write": members_of("sysop"), "move": members_of("sysop")})),
        inherit_parent: None,
    })
    .await
    .unwrap();
    assert_eq!(
        doc_info(&mut c, &id).await.access_rules,
        Some(rules(json!({
            "read": members_of("sysop"),
            "write": members_of("sysop"),
            "move": members_of("sysop")
        })))
    );
    expect_error(
        c.call::<SetDocumentRules>(&SetDocumentRulesRequest {
            document_id: id.clone(),
            access_rules: rules(json!({"own": []})),
            inherit_parent: None,
        })
        .await,
        400,
        ErrorCode::InvalidRules,
    );
    c.call::<SetDocumentRules>(&SetDocumentRulesRequest {
        document_id: id.clone(),
        access_rules: rules(json!({})),
        inherit_parent: None,
    })
    .await
    .unwrap();
    assert!(
        c.call::<GetDocumentAccessRules>(&doc_id(&id))
            .await
            .unwrap()
            .rules
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_for_a_deleted_document_fail_and_leave_no_blob() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let folder = crate::support::mkdir(&mut c, "gone", None).await;
    let direct = c
        .call::<CreateDocument>(&new_doc("direct", None))
        .await
        .unwrap();
    let inside = c
        .call::<CreateDocument>(&new_doc("inside", Some(&folder)))
        .await
        .unwrap();
    // A document deleted before its first upload, and one deleted with its folder.
    c.call::<DeleteDocument>(&doc_id(&direct.document_id))
        .await
        .unwrap();
    c.call::<api_spec::actions::DeleteDirectory>(&api_spec::actions::FolderIdRequest {
        folder_id: folder,
    })
    .await
    .unwrap();
    for task in [direct.task_data.task_id, inside.task_data.task_id] {
        let e = c
            .upload(&task, b"orphan bytes")
            .await
            .expect_err("the upload's document is gone");
        assert_eq!(e.code, 404, "{e:?}");
        assert!(
            [ErrorCode::TaskNotFound, ErrorCode::DocumentNotFound].contains(&e.error),
            "{e:?}"
        );
    }
    assert!(server.blob_files().is_empty(), "{:?}", server.blob_files());
    assert_eq!(names_in(&mut c, None).await, (vec![], vec![]));
}
