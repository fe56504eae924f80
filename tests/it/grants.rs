//! Explicit grants and the limits of rules: a grant allows access until revoked; nobody can
//! set rules that lock themselves out; permissions gate the document actions; a member of
//! more groups than a statement binds is checked like anyone.
use crate::access::*;
use crate::support::{
    content_of, dir_id, doc_id, doc_info, expect_error, group, members_of, mkdir, mkdoc, mkdoc_req,
    names_in, new_doc, new_revision, random_id, rules, sysop_only, user,
};
use api_spec::ErrorCode;
use api_spec::actions::{
    CreateDirectory, CreateDirectoryRequest, CreateDocument, CreateDocumentRequest, EntityType,
    GetDirectoryAccessRules, GetDocumentAccessRules, GetDocumentInfo, GrantAccess,
    GrantAccessRequest, ObjectType, RevokeAccess, RevokeAccessRequest, SetDirectoryRules,
    SetDirectoryRulesRequest, SetDocumentRules, SetDocumentRulesRequest, TargetType,
    UploadDocument, ViewAccessEntries,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_grants_allow_access_until_revoked() {
    let (server, mut admin, mut alice) = setup().await;
    let doc = mkdoc_req(&mut admin, doc_with("d.txt", None, "read"), b"d").await;
    denied(alice.call::<GetDocumentInfo>(&doc_id(&doc)).await);

    // A grant to alice herself.
    let granted = admin
        .call::<GrantAccess>(&grant(
            EntityType::User,
            "alice",
            TargetType::Document,
            &doc,
            &["read"],
        ))
        .await
        .unwrap();
    assert_eq!(granted.entry_ids.len(), 1);
    assert_eq!(content_of(&mut alice, &doc).await, b"d");
    let info = alice.call::<GetDocumentInfo>(&doc_id(&doc)).await.unwrap();
    assert_eq!(info.document_id, doc);
    // It grants read, not write (write needs the read rules too, and has no grant).
    denied(alice.call::<UploadDocument>(&doc_id(&doc)).await);

    let entries = admin
        .call::<ViewAccessEntries>(&entries_of(ObjectType::Document, &doc))
        .await
        .unwrap()
        .result;
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(e.id, granted.entry_ids[0]);
    assert_eq!(
        (e.entity_type, e.entity_identifier.as_str()),
        (EntityType::User, "alice")
    );
    assert_eq!(
        (e.target_type, e.target_identifier.as_str()),
        (TargetType::Document, doc.as_str())
    );
    assert_eq!((e.access_type.as_str(), e.end_time), ("read", None));
    assert!(e.start_time > 0.0);
    let by_user = admin
        .call::<ViewAccessEntries>(&entries_of(ObjectType::User, "alice"))
        .await
        .unwrap()
        .result;
    assert_eq!(by_user, entries);
    assert!(
        admin
            .call::<ViewAccessEntries>(&entries_of(ObjectType::Group, "staff"))
            .await
            .unwrap()
            .result
            .is_empty()
    );

    // Revoked, it is gone; a second revoke is a 404.
    let revoke = RevokeAccessRequest {
        entry_id: granted.entry_ids[0].clone(),
    };
    admin.call::<RevokeAccess>(&revoke).await.unwrap();
    denied(alice.call::<GetDocumentInfo>(&doc_id(&doc)).await);
    expect_error(
        admin.call::<RevokeAccess>(&revoke).await,
        404,
        ErrorCode::EntryNotFound,
    );
    for bad in [random_id(), "nope".to_owned()] {
        expect_error(
            admin
                .call::<RevokeAccess>(&RevokeAccessRequest { entry_id: bad })
                .await,
            404,
            ErrorCode::EntryNotFound,
        );
    }

    // A grant to her group, for read and write.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let group_grant = admin
        .call::<GrantAccess>(&GrantAccessRequest {
            end_time: Some(now + 3600.0),
            ..grant(
                EntityType::Group,
                "staff",
                TargetType::Document,
                &doc,
                &["read", "write"],
            )
        })
        .await
        .unwrap();
    assert_eq!(group_grant.entry_ids.len(), 2);
    new_revision(&mut alice, &doc, b"by alice").await;
    assert_eq!(content_of(&mut admin, &doc).await, b"by alice");
    let by_group = admin
        .call::<ViewAccessEntries>(&entries_of(ObjectType::Group, "staff"))
        .await
        .unwrap()
        .result;
    assert_eq!(by_group.len(), 2);
    assert!(by_group.iter().all(|e| e.entity_type == EntityType::Group
        && e.entity_identifier == "staff"
        && e.end_time.is_some()));
    for id in group_grant.entry_ids {
        admin
            .call::<RevokeAccess>(&RevokeAccessRequest { entry_id: id })
            .await
            .unwrap();
    }
    denied(alice.call::<GetDocumentInfo>(&doc_id(&doc)).await);

    // A grant whose window has passed allows nothing.
    admin
        .call::<GrantAccess>(&GrantAccessRequest {
            start_time: Some(now - 100.0),
            end_time: Some(now - 50.0),
            ..grant(
                EntityType::User,
                "alice",
                TargetType::Document,
                &doc,
                &["read"],
            )
        })
        .await
        .unwrap();
    denied(alice.call::<GetDocumentInfo>(&doc_id(&doc)).await);

    // A grant on a closed folder opens it and what inherits from it.
    let folder = dir_with(&mut admin, "closed", None, "read").await;
    let inside = mkdoc(&mut admin, "inside.txt", Some(&folder), b"in").await;
    denied(alice.call::<GetDocumentInfo>(&doc_id(&inside)).await);
    admin
        .call::<GrantAccess>(&grant(
            EntityType::User,
            "alice",
            TargetType::Directory,
            &folder,
            &["read"],
        ))
        .await
        .unwrap();
    assert_eq!(
        names_in(&mut alice, Some(&folder)).await.1,
        vec!["inside.txt"]
    );
    assert_eq!(content_of(&mut alice, &inside).await, b"in");
    let on_folder = admin
        .call::<ViewAccessEntries>(&entries_of(ObjectType::Directory, &folder))
        .await
        .unwrap()
        .result;
    assert_eq!(on_folder.len(), 1);
    assert_eq!(on_folder[0].target_type, TargetType::Directory);

    // Bad grants are refused and add nothing.
    let before = admin
        .call::<ViewAccessEntries>(&entries_of(ObjectType::User, "alice"))
        .await
        .unwrap()
        .result;
    let cases = [
        (
            grant(
                EntityType::User,
                "nobody",
                TargetType::Document,
                &doc,
                &["read"],
            ),
            404,
            ErrorCode::UserNotFound,
        ),
        (
            grant(
                EntityType::Group,
                "nogroup",
                TargetType::Document,
                &doc,
                &["read"],
            ),
            404,
            ErrorCode::GroupNotFound,
        ),
        (
            grant(
                EntityType::User,
                "alice",
                TargetType::Document,
                &random_id(),
                &["read"],
            ),
            404,
            ErrorCode::DocumentNotFound,
        ),
        (
            grant(
                EntityType::User,
                "alice",
                TargetType::Directory,
                &random_id(),
                &["read"],
            ),
            404,
            ErrorCode::FolderNotFound,
        ),
        (
            grant(
                EntityType::User,
                "alice",
                TargetType::Document,
                &doc,
                &["read", "delete"],
            ),
            400,
            ErrorCode::InvalidRules,
        ),
        (
            GrantAccessRequest {
                start_time: Some(now),
                end_time: Some(now - 1.0),
                ..grant(
                    EntityType::User,
                    "alice",
                    TargetType::Document,
                    &doc,
                    &["read"],
                )
            },
            400,
            ErrorCode::InvalidTimeRange,
        ),
    ];
    for (req, code, error) in cases {
        expect_error(admin.call::<GrantAccess>(&req).await, code, error);
    }
    // alice may not hand out access she lacks.
    denied(
        alice
            .call::<GrantAccess>(&grant(
                EntityType::User,
                "alice",
                TargetType::Document,
                &doc,
                &["read"],
            ))
            .await,
    );
    let after = admin
        .call::<ViewAccessEntries>(&entries_of(ObjectType::User, "alice"))
        .await
        .unwrap()
        .result;
    assert_eq!(after, before);
    assert_eq!(after.len(), 2, "the expired grant and the folder grant");

    // Lookups of unknown principals and objects.
    for (req, error) in [
        (
            entries_of(ObjectType::User, "nobody"),
            ErrorCode::UserNotFound,
        ),
        (
            entries_of(ObjectType::Group, "nogroup"),
            ErrorCode::GroupNotFound,
        ),
        (
            entries_of(ObjectType::Document, &random_id()),
            ErrorCode::DocumentNotFound,
        ),
        (
            entries_of(ObjectType::Directory, &random_id()),
            ErrorCode::FolderNotFound,
        ),
    ] {
        expect_error(admin.call::<ViewAccessEntries>(&req).await, 404, error);
    }

    // Without manage_access / view_access_entries: permission_denied.
    let bob = user(&server, &mut admin, "bob", &[], &[]).await;
    expect_error(
        bob.call::<GrantAccess>(&grant(
            EntityType::User,
            "bob",
            TargetType::Document,
            &doc,
            &["read"],
        ))
        .await,
        403,
        ErrorCode::PermissionDenied,
    );
    expect_error(
        bob.call::<RevokeAccess>(&RevokeAccessRequest {
            entry_id: after[0].id.clone(),
        })
        .await,
        403,
        ErrorCode::PermissionDenied,
    );
    expect_error(
        bob.call::<ViewAccessEntries>(&entries_of(ObjectType::Document, &doc))
            .await,
        403,
        ErrorCode::PermissionDenied,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_can_set_rules_that_lock_themselves_out() {
    let (_server, mut admin, mut alice) = setup().await;
    let lockout = |access: &str| sysop_only(access);
    for access in ["read", "write", "manage", "move"] {
        expect_error(
            alice
                .call::<CreateDirectory>(&CreateDirectoryRequest {
                    access_rules: Some(lockout(access)),
                    ..new_dir("locked", None)
                })
                .await,
            403,
            ErrorCode::WouldLockOut,
        );
        expect_error(
            alice
                .call::<CreateDocument>(&CreateDocumentRequest {
                    access_rules: Some(lockout(access)),
                    ..new_doc("locked", None)
                })
                .await,
            403,
            ErrorCode::WouldLockOut,
        );
    }
    assert_eq!(names_in(&mut admin, None).await, (vec![], vec![]));

    let doc = mkdoc(&mut alice, "mine", None, b"m").await;
    let folder = mkdir(&mut alice, "my folder", None).await;
    for access in ["read", "write", "manage", "move"] {
        expect_error(
            alice
                .call::<SetDocumentRules>(&SetDocumentRulesRequest {
                    document_id: doc.clone(),
                    access_rules: lockout(access),
                    inherit_parent: None,
                })
                .await,
            403,
            ErrorCode::WouldLockOut,
        );
        expect_error(
            alice
                .call::<SetDirectoryRules>(&SetDirectoryRulesRequest {
                    directory_id: folder.clone(),
                    access_rules: lockout(access),
                    inherit_parent: None,
                })
                .await,
            403,
            ErrorCode::WouldLockOut,
        );
    }
    assert!(
        alice
            .call::<GetDocumentAccessRules>(&doc_id(&doc))
            .await
            .unwrap()
            .rules
            .is_empty()
    );
    assert!(
        alice
            .call::<GetDirectoryAccessRules>(&dir_id(&folder))
            .await
            .unwrap()
            .rules
            .is_empty()
    );

    // Rules she still passes are fine, and then bind others.
    let staff = rules(json!({"read": members_of("staff"), "manage": members_of("staff")}));
    alice
        .call::<SetDocumentRules>(&SetDocumentRulesRequest {
            document_id: doc.clone(),
            access_rules: staff.clone(),
            inherit_parent: None,
        })
        .await
        .unwrap();
    assert_eq!(
        alice
            .call::<GetDocumentAccessRules>(&doc_id(&doc))
            .await
            .unwrap()
            .rules,
        staff
    );
    denied(admin.call::<GetDocumentInfo>(&doc_id(&doc)).await);

    // Switching inheritance on cannot lock her out either: the parent's rules count.
    let zone = admin
        .call::<CreateDirectory>(&CreateDirectoryRequest {
            access_rules: Some(sysop_only("manage")),
            ..new_dir("sysop zone", None)
        })
        .await
        .unwrap()
        .id;
    let own = mkdoc_req(
        &mut alice,
        CreateDocumentRequest {
            inherit_parent: Some(false),
            ..new_doc("own rules", Some(&zone))
        },
        b"o",
    )
    .await;
    expect_error(
        alice
            .call::<SetDocumentRules>(&SetDocumentRulesRequest {
                document_id: own.clone(),
                access_rules: rules(json!({})),
                inherit_parent: Some(true),
            })
            .await,
        403,
        ErrorCode::WouldLockOut,
    );
    assert!(!doc_info(&mut alice, &own).await.inherit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_gate_the_document_actions() {
    let (server, mut admin, _alice) = setup().await;
    let folder = mkdir(&mut admin, "open", None).await;
    let doc = mkdoc(&mut admin, "open.txt", None, b"o").await;
    let rev = doc_info(&mut admin, &doc)
        .await
        .current_revision_id
        .unwrap();
    let mut bob = user(&server, &mut admin, "bob", &[], &[]).await;
    // Reading open objects needs no permission ...
    assert_eq!(names_in(&mut bob, None).await.1, vec!["open.txt"]);
    assert_eq!(content_of(&mut bob, &doc).await, b"o");
    // ... but every change, and rules or revisions, do.
    let replies = [
        bob.request("create_directory", json!({"name": "x"})).await,
        bob.request(
            "rename_directory",
            json!({"folder_id": folder, "new_name": "x"}),
        )
        .await,
        bob.request(
            "move_directory",
            json!({"folder_id": folder, "target_folder_id": null}),
        )
        .await,
        bob.request("delete_directory", json!({"folder_id": folder}))
            .await,
        bob.request(
            "get_directory_access_rules",
            json!({"directory_id": folder}),
        )
        .await,
        bob.request(
            "set_directory_rules",
            json!({"directory_id": folder, "access_rules": {}}),
        )
        .await,
        bob.request("create_document", json!({"title": "x"})).await,
        bob.request(
            "rename_document",
            json!({"document_id": doc, "new_title": "x"}),
        )
        .await,
        bob.request(
            "move_document",
            json!({"document_id": doc, "target_folder_id": folder}),
        )
        .await,
        bob.request("delete_document", json!({"document_id": doc}))
            .await,
        bob.request("get_document_access_rules", json!({"document_id": doc}))
            .await,
        bob.request(
            "set_document_rules",
            json!({"document_id": doc, "access_rules": {}}),
        )
        .await,
        bob.request("list_revisions", json!({"document_id": doc}))
            .await,
        bob.request("get_revision", json!({"id": rev})).await,
        bob.request(
            "set_current_revision",
            json!({"document_id": doc, "revision_id": rev}),
        )
        .await,
    ];
    for r in replies {
        assert_eq!(
            (r.code, &r.data["error"]),
            (403, &json!("permission_denied")),
            "{r:?}"
        );
    }
    // Anonymous callers get 401 even for reads.
    let anon = server.client().await;
    let r = anon
        .request("list_directory", json!({"folder_id": null}))
        .await;
    assert_eq!(
        (r.code, &r.data["error"]),
        (401, &json!("authentication_required"))
    );
    assert_eq!(
        names_in(&mut admin, None).await,
        (vec!["open".into()], vec!["open.txt".into()]),
        "nothing changed"
    );
}

/// A user in more groups than one statement binds (33,000; SQLite takes 32,766 values):
/// logging in (permissions and membership windows), an explicit grant to the last of those
/// groups, and a search through it all hold. Each bound every group id in one statement and
/// failed with `internal`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_more_groups_than_a_statement_binds_is_checked_like_anyone() {
    use entity::{group as group_row, membership, tenant, user as user_row};
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
    const GROUPS: usize = 33_000;
    let (server, mut admin, _) = setup().await;
    let doc = mkdoc_req(&mut admin, doc_with("crowd.txt", None, "read"), b"crowd").await;
    group(&mut admin, "last", &[]).await;
    admin
        .call::<GrantAccess>(&grant(
            EntityType::Group,
            "last",
            TargetType::Document,
            &doc,
            &["read"],
        ))
        .await
        .unwrap();
    // alice joins 33,000 groups, then `last`: written straight into the database.
    let db = &server.state().db;
    let tenant = tenant::Entity::find()
        .filter(tenant::Column::Slug.eq("default"))
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let find_user = user_row::Entity::find()
        .filter(user_row::Column::TenantId.eq(tenant))
        .filter(user_row::Column::Username.eq("alice"));
    let alice = find_user.one(db).await.unwrap().unwrap().id;
    let last = group_row::Entity::find()
        .filter(group_row::Column::TenantId.eq(tenant))
        .filter(group_row::Column::Name.eq("last"))
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let ids: Vec<uuid::Uuid> = (0..GROUPS).map(|_| uuid::Uuid::now_v7()).collect();
    for (n, slice) in ids.chunks(1000).enumerate() {
        let groups = slice
            .iter()
            .enumerate()
            .map(|(i, id)| group_row::ActiveModel {
                id: Set(*id),
                tenant_id: Set(tenant),
                name: Set(format!("crowd {}", n * 1000 + i)),
                display_name: Set(None),
                created_at: Set(1),
            });
        group_row::Entity::insert_many(groups)
            .exec_without_returning(db)
            .await
            .unwrap();
    }
    for slice in ids.iter().chain([&last]).collect::<Vec<_>>().chunks(1000) {
        let rows = slice.iter().map(|g| membership::ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            tenant_id: Set(tenant),
            user_id: Set(alice),
            group_id: Set(**g),
            start_time: Set(0),
            end_time: Set(None),
        });
        membership::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await
            .unwrap();
    }
    let mut crowd = server.client().await;
    crowd
        .login("alice", crate::support::USER_PASSWORD, None)
        .await
        .expect("a member of 33,001 groups logs in");
    assert_eq!(content_of(&mut crowd, &doc).await, b"crowd");
    assert_eq!(
        search(&mut crowd, "crowd").await.1,
        ["crowd.txt"],
        "the search checks the grant too"
    );
}
