//! Folder and document events: a listener of the tenant sees every change it may read, in
//! order; listeners of other tenants and users who cannot read the object see nothing.
//!
//! "Sees nothing" is shown without sleeping: events reach a listener in publication order,
//! so when a later marker event arrives first, the earlier ones were filtered out.
use api_spec::actions::{
    CreateDocument, DeleteDirectory, DeleteDocument, FolderIdRequest, MoveDirectory,
    MoveDirectoryRequest, MoveDocument, MoveDocumentRequest, RegisterListener,
    RegisterListenerRequest, RenameDirectory, RenameDirectoryRequest, RenameDocument,
    RenameDocumentRequest, SetCurrentRevision, SetCurrentRevisionRequest, SetDocumentRules,
    SetDocumentRulesRequest,
};
use api_spec::{ErrorCode, Event};
use serde_json::{Value, json};
use tests::{Client, TestServer};

use crate::support::{
    EDITOR_PERMISSIONS, doc_id, doc_info, expect_error, group, members_of, mkdir, mkdir_with,
    mkdoc, mkdoc_req, new_doc, new_revision, other_tenant, rules, sysop_only, user,
};

async fn listen(c: &mut Client, events: Option<&[&str]>) {
    c.call::<RegisterListener>(&RegisterListenerRequest {
        events: events.map(|e| e.iter().map(|n| (*n).to_owned()).collect()),
    })
    .await
    .expect("register_listener");
}

/// The next event, which must be `name` with `data`.
#[track_caller]
fn check(event: Event, name: &str, data: Value) {
    assert_eq!(
        (event.event.as_str(), &event.data),
        (name, &data),
        "{event:?}"
    );
    assert!(event.timestamp > 0.0);
}

fn dir_event(id: &str, parent: Option<&str>, change: &str) -> Value {
    json!({"folder_id": id, "parent_id": parent, "change": change})
}

fn doc_event(id: &str, folder: Option<&str>, change: &str) -> Value {
    json!({"document_id": id, "folder_id": folder, "change": change})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_receives_every_folder_and_document_change() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let mut l = server.admin().await;
    listen(&mut l, None).await;

    let a = mkdir(&mut c, "a", None).await;
    check(
        l.next_event().await,
        "directory_changed",
        dir_event(&a, None, "created"),
    );
    let b = mkdir(&mut c, "b", Some(&a)).await;
    check(
        l.next_event().await,
        "directory_changed",
        dir_event(&b, Some(&a), "created"),
    );

    // create_document, then its first upload.
    let d = mkdoc(&mut c, "d.txt", Some(&a), b"one").await;
    check(
        l.next_event().await,
        "document_changed",
        doc_event(&d, Some(&a), "created"),
    );
    check(
        l.next_event().await,
        "document_changed",
        doc_event(&d, Some(&a), "content_changed"),
    );
    let first = doc_info(&mut c, &d).await.current_revision_id.unwrap();
    new_revision(&mut c, &d, b"two").await;
    check(
        l.next_event().await,
        "document_changed",
        doc_event(&d, Some(&a), "content_changed"),
    );
    c.call::<SetCurrentRevision>(&SetCurrentRevisionRequest {
        document_id: d.clone(),
        revision_id: first,
    })
    .await
    .unwrap();
    check(
        l.next_event().await,
        "document_changed",
        doc_event(&d, Some(&a), "content_changed"),
    );
    c.call::<RenameDocument>(&RenameDocumentRequest {
        document_id: d.clone(),
        new_title: "e.txt".into(),
    })
    .await
    .unwrap();
    check(
        l.next_event().await,
        "document_changed",
        doc_event(&d, Some(&a), "renamed"),
    );
    c.call::<MoveDocument>(&MoveDocumentRequest {
        document_id: d.clone(),
        target_folder_id: Some(b.clone()),
    })
    .await
    .unwrap();
    check(
        l.next_event().await,
        "document_changed",
        doc_event(&d, Some(&b), "moved"),
    );
    c.call::<SetDocumentRules>(&SetDocumentRulesRequest {
        document_id: d.clone(),
        access_rules: rules(json!({"write": members_of("sysop")})),
        inherit_parent: None,
    })
    .await
    .unwrap();
    check(
        l.next_event().await,
        "document_changed",
        doc_event(&d, Some(&b), "rules_changed"),
    );
    c.call::<DeleteDocument>(&doc_id(&d)).await.unwrap();
    check(
        l.next_event().await,
        "document_changed",
        doc_event(&d, Some(&b), "deleted"),
    );

    c.call::<RenameDirectory>(&RenameDirectoryRequest {
        folder_id: b.clone(),
        new_name: "bee".into(),
    })
    .await
    .unwrap();
    check(
        l.next_event().await,
        "directory_changed",
        dir_event(&b, Some(&a), "renamed"),
    );
    c.call::<MoveDirectory>(&MoveDirectoryRequest {
        folder_id: b.clone(),
        target_folder_id: None,
    })
    .await
    .unwrap();
    check(
        l.next_event().await,
        "directory_changed",
        dir_event(&b, None, "moved"),
    );
    c.call::<api_spec::actions::SetDirectoryRules>(&api_spec::actions::SetDirectoryRulesRequest {
        directory_id: b.clone(),
        access_rules: rules(json!({})),
        inherit_parent: Some(false),
    })
    .await
    .unwrap();
    check(
        l.next_event().await,
        "directory_changed",
        dir_event(&b, None, "rules_changed"),
    );
    c.call::<DeleteDirectory>(&FolderIdRequest {
        folder_id: b.clone(),
    })
    .await
    .unwrap();
    check(
        l.next_event().await,
        "directory_changed",
        dir_event(&b, None, "deleted"),
    );
    // A failed action announces nothing: the next event is the marker's.
    expect_error(
        c.call::<CreateDocument>(&new_doc("x", Some(&b))).await,
        404,
        ErrorCode::FolderNotFound,
    );
    // create_directory with exists_ok answering an existing folder changes nothing either.
    let again = mkdir_with_exists_ok(&mut c, "a").await;
    assert_eq!(again, a);
    let marker = mkdir(&mut c, "marker", None).await;
    check(
        l.next_event().await,
        "directory_changed",
        dir_event(&marker, None, "created"),
    );
    assert!(l.take_events().is_empty());
}

async fn mkdir_with_exists_ok(c: &mut Client, name: &str) -> String {
    let res = c
        .call::<api_spec::actions::CreateDirectory>(&api_spec::actions::CreateDirectoryRequest {
            name: name.into(),
            parent_id: None,
            access_rules: None,
            exists_ok: true,
            inherit_parent: None,
        })
        .await
        .unwrap();
    assert!(res.existed);
    res.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_tenants_and_users_who_cannot_read_receive_nothing() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    group(&mut admin, "staff", &[]).await;
    let mut alice = user(&server, &mut admin, "alice", EDITOR_PERMISSIONS, &["staff"]).await;
    let mut other = other_tenant(&server, &mut admin, "other").await;
    let mut admin_l = server.admin().await;
    listen(&mut admin_l, None).await;
    listen(&mut alice, None).await;
    let mut other_l = server.client().await;
    other_l.share_session(&other);
    listen(&mut other_l, None).await;

    // Changes to objects alice cannot read: a closed folder and everything in it, and a
    // closed document at the top.
    let secret = mkdir_with(&mut admin, "secret", None, Some(sysop_only("read")), None)
        .await
        .id;
    let inside = mkdoc(&mut admin, "inside.txt", Some(&secret), b"i").await;
    admin
        .call::<RenameDocument>(&RenameDocumentRequest {
            document_id: inside.clone(),
            new_title: "renamed.txt".into(),
        })
        .await
        .unwrap();
    admin
        .call::<DeleteDocument>(&doc_id(&inside))
        .await
        .unwrap();
    mkdir(&mut admin, "sub", Some(&secret)).await;
    let closed = mkdoc_req(
        &mut admin,
        api_spec::actions::CreateDocumentRequest {
            access_rules: Some(sysop_only("read")),
            ..new_doc("closed.txt", None)
        },
        b"c",
    )
    .await;
    new_revision(&mut admin, &closed, b"c2").await;
    // The admin listener saw all of it (9 events) ...
    let seen: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..9 {
            let e = admin_l.next_event().await;
            v.push(format!(
                "{} {}",
                e.event,
                e.data["change"].as_str().unwrap()
            ));
        }
        v
    };
    assert_eq!(
        seen,
        [
            "directory_changed created",
            "document_changed created",
            "document_changed content_changed",
            "document_changed renamed",
            "document_changed deleted",
            "directory_changed created",
            "document_changed created",
            "document_changed content_changed",
            "document_changed content_changed",
        ]
    );

    // ... then a public marker: it is the first thing alice hears of.
    let marker = mkdir(&mut admin, "marker", None).await;
    check(
        admin_l.next_event().await,
        "directory_changed",
        dir_event(&marker, None, "created"),
    );
    check(
        alice.next_event().await,
        "directory_changed",
        dir_event(&marker, None, "created"),
    );
    // An object alice may read: she hears of it.
    let open = mkdoc(&mut admin, "open.txt", Some(&marker), b"o").await;
    check(
        alice.next_event().await,
        "document_changed",
        doc_event(&open, Some(&marker), "created"),
    );
    check(
        alice.next_event().await,
        "document_changed",
        doc_event(&open, Some(&marker), "content_changed"),
    );
    // Closing it: the rules change is for readers *after* the change, so not for her.
    admin
        .call::<SetDocumentRules>(&SetDocumentRulesRequest {
            document_id: open.clone(),
            access_rules: sysop_only("read"),
            inherit_parent: None,
        })
        .await
        .unwrap();
    for change in ["created", "content_changed", "rules_changed"] {
        check(
            admin_l.next_event().await,
            "document_changed",
            doc_event(&open, Some(&marker), change),
        );
    }

    // The other tenant's listener heard none of tenant default; its own marker comes first.
    let theirs = mkdir(&mut other, "their marker", None).await;
    check(
        other_l.next_event().await,
        "directory_changed",
        dir_event(&theirs, None, "created"),
    );
    // And tenant default's listeners hear nothing of tenant other.
    let marker2 = mkdir(&mut admin, "marker2", None).await;
    for l in [&mut alice, &mut admin_l] {
        check(
            l.next_event().await,
            "directory_changed",
            dir_event(&marker2, None, "created"),
        );
    }
    assert!(alice.take_events().is_empty());
    assert!(other_l.take_events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_can_filter_by_event_name() {
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    let mut l = server.admin().await;
    let e = expect_error(
        l.call::<RegisterListener>(&RegisterListenerRequest {
            events: Some(vec!["directory_changed".into(), "no_such_event".into()]),
        })
        .await,
        400,
        ErrorCode::InvalidField,
    );
    assert_eq!(e.data["field"], "events");
    listen(&mut l, Some(&["directory_changed"])).await;
    let d = mkdoc(&mut c, "ignored.txt", None, b"x").await;
    c.call::<DeleteDocument>(&doc_id(&d)).await.unwrap();
    let f = mkdir(&mut c, "heard", None).await;
    check(
        l.next_event().await,
        "directory_changed",
        dir_event(&f, None, "created"),
    );
}

/// A write's events are said only when it commits: dropping the write (an action that
/// failed) says nothing, and before `commit` nothing is said either; then its events and
/// revoked sessions come in the order they were added.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_announces_only_once_it_commits() {
    use coffer::events::{Audience, BusMessage};
    let server = TestServer::start().await;
    let state = server.state();
    let mut heard = state.events.subscribe();
    let tenant = uuid::Uuid::new_v4();
    let user = uuid::Uuid::new_v4();
    let audience = Audience::Permission("list_users");

    let mut dropped = state.write().await.unwrap();
    dropped.publish(tenant, audience, "user_changed", &json!({"n": 0}));
    dropped.sessions_revoked(user, None);
    drop(dropped);
    assert!(heard.try_recv().is_err(), "a dropped write said something");

    let mut w = state.write().await.unwrap();
    w.publish(tenant, audience, "user_changed", &json!({"n": 1}));
    w.sessions_revoked(user, None);
    w.publish(tenant, audience, "user_changed", &json!({"n": 2}));
    assert!(heard.try_recv().is_err(), "said before the commit");
    w.commit().await.unwrap();
    let mut said = Vec::new();
    while let Ok(message) = heard.try_recv() {
        said.push(match message {
            BusMessage::Event { name, data, .. } => format!("{name} {}", data["n"]),
            BusMessage::SessionsRevoked { user_id, .. } => format!("revoked {}", user_id == user),
        });
    }
    assert_eq!(said, ["user_changed 1", "revoked true", "user_changed 2"]);
}
