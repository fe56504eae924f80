//! Per-object access rules (read, write, move, manage) on folders and documents, their
//! inheritance, and listings that show exactly what each check allows (grants, the lock-out
//! check and the permissions in front of them: `grants.rs`).
use api_spec::ErrorCode;
use api_spec::actions::{
    CreateDirectory, CreateDirectoryRequest, CreateDocument, CreateDocumentRequest,
    DeleteDirectory, DeleteDocument, EntityType, FolderIdRequest, GetDirectoryAccessRules,
    GetDirectoryInfo, GetDocument, GetDocumentAccessRules, GetDocumentInfo, GetRevision,
    GrantAccess, GrantAccessRequest, ListDirectory, ListDirectoryRequest, ListRevisions,
    MoveDirectory, MoveDirectoryRequest, MoveDocument, MoveDocumentRequest, ObjectType,
    RenameDirectory, RenameDirectoryRequest, RenameDocument, RenameDocumentRequest,
    RevisionIdRequest, Search, SearchRequest, SetCurrentRevision, SetCurrentRevisionRequest,
    SetDirectoryRules, SetDirectoryRulesRequest, SetDocumentRules, SetDocumentRulesRequest,
    TargetType, UploadDocument, ViewAccessEntries, ViewAccessEntriesRequest,
};
use serde_json::json;
use tests::{ApiFailure, Client, TestServer};

use crate::support::{
    EDITOR_PERMISSIONS, content_of, dir_id, doc_id, doc_info, expect_error, group, mkdir,
    mkdir_with, mkdoc, mkdoc_req, names_in, new_doc, new_revision, rules, sysop_only, user,
};

/// A server, its admin, and `alice`: every document permission (not
/// `super_list_directory`), member of `staff`, not of `sysop`.
pub(crate) async fn setup() -> (TestServer, Client, Client) {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    group(&mut admin, "staff", &[]).await;
    let alice = user(&server, &mut admin, "alice", EDITOR_PERMISSIONS, &["staff"]).await;
    (server, admin, alice)
}

#[track_caller]
pub(crate) fn denied<T: std::fmt::Debug>(r: Result<T, ApiFailure>) {
    expect_error(r, 403, ErrorCode::AccessDenied);
}

pub(crate) async fn search(c: &mut Client, query: &str) -> (Vec<String>, Vec<String>) {
    let res = c
        .call::<Search>(&SearchRequest {
            query: query.into(),
            limit: None,
            sort_by: None,
            sort_order: None,
            search_documents: true,
            search_directories: true,
        })
        .await
        .expect("search");
    (
        res.directories.into_iter().map(|h| h.name).collect(),
        res.documents.into_iter().map(|h| h.name).collect(),
    )
}

pub(crate) fn doc_with(title: &str, folder: Option<&str>, access: &str) -> CreateDocumentRequest {
    CreateDocumentRequest {
        access_rules: Some(sysop_only(access)),
        ..new_doc(title, folder)
    }
}

pub(crate) async fn dir_with(
    c: &mut Client,
    name: &str,
    parent: Option<&str>,
    access: &str,
) -> String {
    mkdir_with(c, name, parent, Some(sysop_only(access)), None)
        .await
        .id
}

pub(crate) fn rename_doc(id: &str, title: &str) -> RenameDocumentRequest {
    RenameDocumentRequest {
        document_id: id.into(),
        new_title: title.into(),
    }
}

pub(crate) fn move_doc(id: &str, target: Option<&str>) -> MoveDocumentRequest {
    MoveDocumentRequest {
        document_id: id.into(),
        target_folder_id: target.map(Into::into),
    }
}

pub(crate) fn move_dir(id: &str, target: Option<&str>) -> MoveDirectoryRequest {
    MoveDirectoryRequest {
        folder_id: id.into(),
        target_folder_id: target.map(Into::into),
    }
}

pub(crate) fn new_dir(name: &str, parent: Option<&str>) -> CreateDirectoryRequest {
    CreateDirectoryRequest {
        name: name.into(),
        parent_id: parent.map(Into::into),
        access_rules: None,
        exists_ok: false,
        inherit_parent: None,
    }
}

pub(crate) fn grant(
    entity_type: EntityType,
    who: &str,
    target_type: TargetType,
    target: &str,
    types: &[&str],
) -> GrantAccessRequest {
    GrantAccessRequest {
        entity_type,
        entity_identifier: who.into(),
        target_type,
        target_identifier: target.into(),
        access_types: types.iter().map(|t| (*t).into()).collect(),
        start_time: None,
        end_time: None,
    }
}

pub(crate) fn entries_of(object_type: ObjectType, id: &str) -> ViewAccessEntriesRequest {
    ViewAccessEntriesRequest {
        object_type,
        object_identifier: id.into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_rules_hide_folders_and_documents() {
    let (server, mut admin, mut alice) = setup().await;
    let secret = dir_with(&mut admin, "secret", None, "read").await;
    let public = mkdir(&mut admin, "shared", None).await;
    let doc = mkdoc_req(&mut admin, doc_with("secret.txt", None, "read"), b"s").await;
    mkdoc(&mut admin, "shared.txt", None, b"p").await;
    mkdoc(&mut admin, "hidden inside", Some(&secret), b"h").await;
    let rev = doc_info(&mut admin, &doc)
        .await
        .current_revision_id
        .unwrap();

    // Listings and search show only what alice may read.
    assert_eq!(
        names_in(&mut alice, None).await,
        (vec!["shared".into()], vec!["shared.txt".into()])
    );
    assert_eq!(
        search(&mut alice, "e").await,
        (vec!["shared".into()], vec!["shared.txt".into()])
    );
    assert_eq!(
        search(&mut admin, "e").await,
        (
            vec!["secret".into(), "shared".into()],
            vec![
                "hidden inside".into(),
                "secret.txt".into(),
                "shared.txt".into()
            ]
        )
    );

    // The folder: no listing, info or rules, and nothing can be created inside.
    denied(
        alice
            .call::<ListDirectory>(&ListDirectoryRequest {
                folder_id: Some(secret.clone()),
            })
            .await,
    );
    denied(alice.call::<GetDirectoryInfo>(&dir_id(&secret)).await);
    denied(
        alice
            .call::<GetDirectoryAccessRules>(&dir_id(&secret))
            .await,
    );
    denied(
        alice
            .call::<CreateDocument>(&new_doc("x", Some(&secret)))
            .await,
    );
    denied(
        alice
            .call::<CreateDirectory>(&new_dir("x", Some(&secret)))
            .await,
    );
    assert_eq!(
        names_in(&mut admin, Some(&secret)).await,
        (vec![], vec!["hidden inside".into()])
    );

    // The document: no info, content, revisions or rules, and no new revision.
    denied(alice.call::<GetDocumentInfo>(&doc_id(&doc)).await);
    denied(alice.call::<GetDocument>(&doc_id(&doc)).await);
    denied(alice.call::<ListRevisions>(&doc_id(&doc)).await);
    denied(
        alice
            .call::<GetRevision>(&RevisionIdRequest { id: rev.clone() })
            .await,
    );
    denied(alice.call::<GetDocumentAccessRules>(&doc_id(&doc)).await);
    denied(alice.call::<UploadDocument>(&doc_id(&doc)).await);
    assert_eq!(content_of(&mut admin, &doc).await, b"s");

    // super_list_directory lists everything, but grants no other access.
    let mut carol = user(&server, &mut admin, "carol", &["super_list_directory"], &[]).await;
    assert_eq!(
        names_in(&mut carol, None).await,
        (
            vec!["secret".into(), "shared".into()],
            vec!["secret.txt".into(), "shared.txt".into()]
        )
    );
    assert_eq!(
        names_in(&mut carol, Some(&secret)).await.1,
        vec!["hidden inside"]
    );
    denied(carol.call::<GetDocumentInfo>(&doc_id(&doc)).await);
    assert_eq!(names_in(&mut carol, Some(&public)).await, (vec![], vec![]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_rules_allow_reading_but_refuse_changes() {
    let (_server, mut admin, mut alice) = setup().await;
    let doc = mkdoc_req(&mut admin, doc_with("w.txt", None, "write"), b"w1").await;
    let first = doc_info(&mut admin, &doc)
        .await
        .current_revision_id
        .unwrap();
    new_revision(&mut admin, &doc, b"w2").await;
    let folder = dir_with(&mut admin, "wf", None, "write").await;
    let inner = mkdoc(&mut admin, "inner.txt", Some(&folder), b"i").await;
    let mine = mkdoc(&mut alice, "mine.txt", None, b"m").await;
    let my_dir = mkdir(&mut alice, "mydir", None).await;

    // Reading is fine.
    assert_eq!(doc_info(&mut alice, &doc).await.title, "w.txt");
    assert_eq!(content_of(&mut alice, &doc).await, b"w2");
    assert_eq!(
        names_in(&mut alice, Some(&folder)).await.1,
        vec!["inner.txt"]
    );

    // Every write to the document is refused.
    denied(alice.call::<UploadDocument>(&doc_id(&doc)).await);
    denied(alice.call::<RenameDocument>(&rename_doc(&doc, "x")).await);
    denied(alice.call::<DeleteDocument>(&doc_id(&doc)).await);
    denied(
        alice
            .call::<SetCurrentRevision>(&SetCurrentRevisionRequest {
                document_id: doc.clone(),
                revision_id: first.clone(),
            })
            .await,
    );
    // ... to the folder, and (inherited) to the document inside it.
    denied(
        alice
            .call::<CreateDocument>(&new_doc("x", Some(&folder)))
            .await,
    );
    denied(
        alice
            .call::<CreateDirectory>(&new_dir("x", Some(&folder)))
            .await,
    );
    denied(
        alice
            .call::<RenameDirectory>(&RenameDirectoryRequest {
                folder_id: folder.clone(),
                new_name: "x".into(),
            })
            .await,
    );
    denied(
        alice
            .call::<DeleteDirectory>(&FolderIdRequest {
                folder_id: folder.clone(),
            })
            .await,
    );
    denied(alice.call::<RenameDocument>(&rename_doc(&inner, "x")).await);
    denied(alice.call::<DeleteDocument>(&doc_id(&inner)).await);
    // ... and moving anything into the folder needs write access to it.
    denied(
        alice
            .call::<MoveDocument>(&move_doc(&mine, Some(&folder)))
            .await,
    );
    denied(
        alice
            .call::<MoveDirectory>(&move_dir(&my_dir, Some(&folder)))
            .await,
    );

    // Nothing changed.
    let info = doc_info(&mut admin, &doc).await;
    assert_eq!(info.title, "w.txt");
    assert_ne!(info.current_revision_id.as_deref(), Some(first.as_str()));
    assert_eq!(content_of(&mut admin, &doc).await, b"w2");
    assert_eq!(
        names_in(&mut admin, Some(&folder)).await,
        (vec![], vec!["inner.txt".into()])
    );
    assert_eq!(
        names_in(&mut admin, None).await,
        (
            vec!["mydir".into(), "wf".into()],
            vec!["mine.txt".into(), "w.txt".into()]
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn move_rules_refuse_only_moves() {
    let (_server, mut admin, mut alice) = setup().await;
    let dest = mkdir(&mut admin, "dest", None).await;
    let doc = mkdoc_req(&mut admin, doc_with("m.txt", None, "move"), b"m").await;
    let folder = dir_with(&mut admin, "mf", None, "move").await;

    denied(
        alice
            .call::<MoveDocument>(&move_doc(&doc, Some(&dest)))
            .await,
    );
    denied(
        alice
            .call::<MoveDirectory>(&move_dir(&folder, Some(&dest)))
            .await,
    );
    assert_eq!(doc_info(&mut admin, &doc).await.parent_id, None);
    assert_eq!(
        names_in(&mut admin, None).await.0,
        vec!["dest", "mf"],
        "nothing moved"
    );
    // Reading and writing are not move.
    alice
        .call::<RenameDocument>(&rename_doc(&doc, "renamed.txt"))
        .await
        .unwrap();
    alice
        .call::<RenameDirectory>(&RenameDirectoryRequest {
            folder_id: folder.clone(),
            new_name: "renamed".into(),
        })
        .await
        .unwrap();
    assert_eq!(content_of(&mut alice, &doc).await, b"m");
    // The admin (sysop) passes the move rule.
    admin
        .call::<MoveDocument>(&move_doc(&doc, Some(&dest)))
        .await
        .unwrap();
    assert_eq!(
        names_in(&mut alice, Some(&dest)).await.1,
        vec!["renamed.txt"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manage_rules_refuse_rule_changes_and_grants() {
    let (server, mut admin, alice) = setup().await;
    user(&server, &mut admin, "bob", &[], &[]).await;
    let doc = mkdoc_req(&mut admin, doc_with("g.txt", None, "manage"), b"g").await;
    let folder = dir_with(&mut admin, "gf", None, "manage").await;

    let open = rules(json!({}));
    denied(
        alice
            .call::<SetDocumentRules>(&SetDocumentRulesRequest {
                document_id: doc.clone(),
                access_rules: open.clone(),
                inherit_parent: None,
            })
            .await,
    );
    denied(
        alice
            .call::<SetDirectoryRules>(&SetDirectoryRulesRequest {
                directory_id: folder.clone(),
                access_rules: open,
                inherit_parent: Some(false),
            })
            .await,
    );
    // Granting needs each granted type: manage is refused, read is alice's to give.
    denied(
        alice
            .call::<GrantAccess>(&grant(
                EntityType::User,
                "bob",
                TargetType::Document,
                &doc,
                &["read", "manage"],
            ))
            .await,
    );
    assert!(
        admin
            .call::<ViewAccessEntries>(&entries_of(ObjectType::Document, &doc))
            .await
            .unwrap()
            .result
            .is_empty(),
        "a refused grant adds no entry, not even for the types allowed"
    );
    let granted = alice
        .call::<GrantAccess>(&grant(
            EntityType::User,
            "bob",
            TargetType::Document,
            &doc,
            &["read"],
        ))
        .await
        .unwrap();
    assert_eq!(granted.entry_ids.len(), 1);

    // The rules stand, readable by alice.
    let got = alice
        .call::<GetDocumentAccessRules>(&doc_id(&doc))
        .await
        .unwrap();
    assert_eq!(got.rules, sysop_only("manage"));
    let got = alice
        .call::<GetDirectoryAccessRules>(&dir_id(&folder))
        .await
        .unwrap();
    assert_eq!((got.rules, got.inherit), (sysop_only("manage"), true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_inherited_unless_inherit_parent_is_false() {
    let (_server, mut admin, mut alice) = setup().await;
    let parent = dir_with(&mut admin, "parent", None, "read").await;
    let sub = mkdir(&mut admin, "sub", Some(&parent)).await;
    let direct = mkdoc(&mut admin, "doc direct", Some(&parent), b"1").await;
    let deep = mkdoc(&mut admin, "doc deep", Some(&sub), b"2").await;
    let free = mkdoc_req(
        &mut admin,
        CreateDocumentRequest {
            inherit_parent: Some(false),
            ..new_doc("doc free", Some(&parent))
        },
        b"3",
    )
    .await;
    let own = mkdir_with(&mut admin, "own", Some(&parent), None, Some(false))
        .await
        .id;
    let in_own = mkdoc(&mut admin, "doc in own", Some(&own), b"4").await;

    denied(alice.call::<GetDocumentInfo>(&doc_id(&direct)).await);
    denied(alice.call::<GetDocumentInfo>(&doc_id(&deep)).await);
    denied(
        alice
            .call::<ListDirectory>(&ListDirectoryRequest {
                folder_id: Some(sub.clone()),
            })
            .await,
    );
    assert_eq!(content_of(&mut alice, &free).await, b"3");
    assert_eq!(names_in(&mut alice, Some(&own)).await.1, vec!["doc in own"]);
    assert_eq!(content_of(&mut alice, &in_own).await, b"4");
    assert_eq!(
        search(&mut alice, "doc").await.1,
        vec!["doc free", "doc in own"]
    );

    // Cutting a document loose from its folder opens it; re-attaching closes it again.
    let set = |id: &str, inherit: bool| SetDocumentRulesRequest {
        document_id: id.into(),
        access_rules: rules(json!({})),
        inherit_parent: Some(inherit),
    };
    admin
        .call::<SetDocumentRules>(&set(&direct, false))
        .await
        .unwrap();
    assert_eq!(content_of(&mut alice, &direct).await, b"1");
    assert!(!doc_info(&mut alice, &direct).await.inherit);
    admin
        .call::<SetDocumentRules>(&set(&direct, true))
        .await
        .unwrap();
    denied(alice.call::<GetDocumentInfo>(&doc_id(&direct)).await);

    // The same for a folder: its subtree opens.
    admin
        .call::<SetDirectoryRules>(&SetDirectoryRulesRequest {
            directory_id: sub.clone(),
            access_rules: rules(json!({})),
            inherit_parent: Some(false),
        })
        .await
        .unwrap();
    assert_eq!(names_in(&mut alice, Some(&sub)).await.1, vec!["doc deep"]);
    assert_eq!(content_of(&mut alice, &deep).await, b"2");
    // Moving a document into a closed folder closes it.
    admin
        .call::<MoveDocument>(&move_doc(&deep, Some(&parent)))
        .await
        .unwrap();
    denied(alice.call::<GetDocument>(&doc_id(&deep)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_show_exactly_the_children_each_check_allows() {
    let (_server, mut admin, mut alice) = setup().await;
    // In the top level and in a folder alice reads: children readable by no rule, by a grant
    // to alice, by a grant to her group, by a grant that has ended, and by no grant at all.
    let parent = mkdir(&mut admin, "open", None).await;
    for folder in [None, Some(parent.as_str())] {
        let mut hidden_dirs = Vec::new();
        let mut hidden_docs = Vec::new();
        for (name, grant_to) in [
            ("to-alice", Some((EntityType::User, "alice"))),
            ("to-staff", Some((EntityType::Group, "staff"))),
            ("no-grant", None),
        ] {
            let dir = dir_with(&mut admin, &format!("{name}-dir"), folder, "read").await;
            let doc = mkdoc_req(
                &mut admin,
                doc_with(&format!("{name}.txt"), folder, "read"),
                b"x",
            )
            .await;
            if let Some((entity, who)) = grant_to {
                for (target_type, target) in
                    [(TargetType::Directory, &dir), (TargetType::Document, &doc)]
                {
                    admin
                        .call::<GrantAccess>(&grant(entity, who, target_type, target, &["read"]))
                        .await
                        .unwrap();
                }
            } else {
                hidden_dirs.push(format!("{name}-dir"));
                hidden_docs.push(format!("{name}.txt"));
            }
        }
        let ended = mkdoc_req(&mut admin, doc_with("ended.txt", folder, "read"), b"x").await;
        let mut past = grant(
            EntityType::User,
            "alice",
            TargetType::Document,
            &ended,
            &["read"],
        );
        (past.start_time, past.end_time) = (Some(1.0), Some(2.0));
        admin.call::<GrantAccess>(&past).await.unwrap();
        hidden_docs.push("ended.txt".into());
        mkdoc(&mut admin, "plain.txt", folder, b"x").await;

        let (all_dirs, all_docs) = names_in(&mut admin, folder).await;
        let (dirs, docs) = names_in(&mut alice, folder).await;
        let expect = |all: Vec<String>, hidden: &[String]| -> Vec<String> {
            all.into_iter().filter(|n| !hidden.contains(n)).collect()
        };
        assert_eq!(
            dirs,
            expect(all_dirs, &hidden_dirs),
            "folders in {folder:?}"
        );
        assert_eq!(
            docs,
            expect(all_docs, &hidden_docs),
            "documents in {folder:?}"
        );
        assert!(
            docs.contains(&"to-staff.txt".to_owned()) && docs.contains(&"plain.txt".to_owned())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_larger_than_one_query_slice_are_checked_whole() {
    let (_server, mut admin, mut alice) = setup().await;
    let parent = mkdir(&mut admin, "many", None).await;
    // More children than one query binds (500); every third is readable by sysop only, and
    // the last one, in the second slice, is granted to alice.
    let mut expected = Vec::new();
    let mut last = String::new();
    for i in 0..503 {
        let name = format!("d{i:03}");
        if i % 3 == 0 {
            last = dir_with(&mut admin, &name, Some(&parent), "read").await;
        } else {
            mkdir(&mut admin, &name, Some(&parent)).await;
            expected.push(name);
        }
    }
    admin
        .call::<GrantAccess>(&grant(
            EntityType::User,
            "alice",
            TargetType::Directory,
            &last,
            &["read"],
        ))
        .await
        .unwrap();
    expected.push("d501".into());
    expected.sort();
    let (mut dirs, _) = names_in(&mut alice, Some(&parent)).await;
    dirs.sort();
    assert_eq!(dirs.len(), 336);
    assert_eq!(dirs, expected);
}
