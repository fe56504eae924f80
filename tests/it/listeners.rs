//! `register_listener`: only for authenticated connections, and events reach only
//! listeners of the same tenant that hold the event's audience permission.
//!
//! Absence is shown without sleeping: events travel in publication order, so once a
//! listener received a later event it would already have received an earlier one.
use api_spec::ErrorCode;
use api_spec::actions::{RegisterListener, RegisterListenerRequest};
use api_spec::{Event, events, permissions};
use serde_json::json;
use tests::{Client, TestServer};

use crate::account_support::{assert_fails, create_group, create_user, login_as, tenant_admin};

async fn listen(c: &mut Client, only: Option<&[&str]>) {
    let req = RegisterListenerRequest {
        events: only.map(|names| names.iter().map(|n| (*n).to_owned()).collect()),
    };
    c.call::<RegisterListener>(&req)
        .await
        .expect("register listener");
}

fn user_created(name: &str) -> (String, serde_json::Value) {
    (
        events::USER_CHANGED.to_owned(),
        json!({"username": name, "change": "created"}),
    )
}

fn group_created(name: &str) -> (String, serde_json::Value) {
    (
        events::GROUP_CHANGED.to_owned(),
        json!({"group_name": name, "change": "created"}),
    )
}

async fn next(c: &mut Client) -> (String, serde_json::Value) {
    let Event { event, data, .. } = c.next_event().await;
    (event, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listening_needs_a_valid_session() {
    let server = TestServer::start().await;
    let mut anonymous = server.client().await;
    assert_fails(
        anonymous
            .call::<RegisterListener>(&RegisterListenerRequest { events: None })
            .await,
        401,
        ErrorCode::AuthenticationRequired,
    );
    anonymous.act_as(Some("admin"), "not-a-token");
    assert_fails(
        anonymous
            .call::<RegisterListener>(&RegisterListenerRequest { events: None })
            .await,
        401,
        ErrorCode::InvalidToken,
    );
    let mut admin = server.admin().await;
    let err = assert_fails(
        admin
            .call::<RegisterListener>(&RegisterListenerRequest {
                events: Some(vec!["user_changed".into(), "no_such_event".into()]),
            })
            .await,
        400,
        ErrorCode::InvalidField,
    );
    assert_eq!(err.data["field"], "events");

    // The refused registrations subscribed nothing: the anonymous connection stays quiet
    // while a real listener hears the change.
    let mut listener = server.admin().await;
    listen(&mut listener, None).await;
    create_user(&mut admin, "bob", &[]).await;
    assert_eq!(next(&mut listener).await, user_created("bob"));
    for c in [&mut anonymous, &mut admin] {
        // A reply after the event was published: any event for this connection came first.
        let reply = c.request("server_info", json!({})).await;
        assert_eq!(reply.code, 200);
        assert!(c.take_events().is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stay_in_their_tenant() {
    let server = TestServer::start().await;
    let mut operator = server.admin().await;
    let mut acme = tenant_admin(&server, &mut operator, "acme").await;
    let mut home_listener = server.admin().await;
    let mut acme_listener = server.client().await;
    acme_listener
        .login(
            "admin",
            crate::account_support::TENANT_ADMIN_PASSWORD,
            Some("acme"),
        )
        .await
        .unwrap();
    listen(&mut home_listener, None).await;
    listen(&mut acme_listener, None).await;

    create_user(&mut acme, "x-acme", &[]).await;
    create_user(&mut operator, "y-home", &[]).await;
    create_group(&mut acme, "z-acme", &[]).await;
    create_group(&mut operator, "w-home", &[]).await;

    assert_eq!(next(&mut home_listener).await, user_created("y-home"));
    assert_eq!(next(&mut home_listener).await, group_created("w-home"));
    assert_eq!(next(&mut acme_listener).await, user_created("x-acme"));
    assert_eq!(next(&mut acme_listener).await, group_created("z-acme"));
    // A same-named user in the other tenant is still only its own tenant's event.
    create_user(&mut acme, "y-home", &[]).await;
    create_user(&mut operator, "last-home", &[]).await;
    assert_eq!(next(&mut acme_listener).await, user_created("y-home"));
    assert_eq!(next(&mut home_listener).await, user_created("last-home"));
    assert!(home_listener.take_events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_get_only_events_they_may_see_and_asked_for() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    // Sees group events only: holds list_groups, not list_users.
    create_user(&mut admin, "grouper", &[permissions::LIST_GROUPS]).await;
    let mut grouper = login_as(&server, "grouper", None).await;
    listen(&mut grouper, None).await;
    // May see both, but asks only for user events.
    create_user(
        &mut admin,
        "picky",
        &[permissions::LIST_GROUPS, permissions::LIST_USERS],
    )
    .await;
    let mut picky = login_as(&server, "picky", None).await;
    listen(&mut picky, Some(&[events::USER_CHANGED])).await;

    create_user(&mut admin, "u1", &[]).await;
    create_group(&mut admin, "g1", &[]).await;
    create_user(&mut admin, "u2", &[]).await;
    create_group(&mut admin, "g2", &[]).await;

    assert_eq!(next(&mut grouper).await, group_created("g1"));
    assert_eq!(next(&mut grouper).await, group_created("g2"));
    assert_eq!(next(&mut picky).await, user_created("u1"));
    assert_eq!(next(&mut picky).await, user_created("u2"));

    // Other changes are announced with what happened.
    admin
        .request(
            "change_group_permissions",
            json!({"group_name": "g1", "permissions": ["list_users"]}),
        )
        .await;
    admin
        .request(
            "change_user_groups",
            json!({"username": "u1", "groups": ["g1"]}),
        )
        .await;
    admin
        .request("delete_user", json!({"username": "u2"}))
        .await;
    admin
        .request("delete_group", json!({"group_name": "g2"}))
        .await;
    assert_eq!(
        next(&mut grouper).await,
        (
            events::GROUP_CHANGED.to_owned(),
            json!({"group_name": "g1", "change": "permissions_changed"})
        )
    );
    assert_eq!(
        next(&mut grouper).await,
        (
            events::GROUP_CHANGED.to_owned(),
            json!({"group_name": "g2", "change": "deleted"})
        )
    );
    assert_eq!(
        next(&mut picky).await,
        (
            events::USER_CHANGED.to_owned(),
            json!({"username": "u1", "change": "groups_changed"})
        )
    );
    assert_eq!(
        next(&mut picky).await,
        (
            events::USER_CHANGED.to_owned(),
            json!({"username": "u2", "change": "deleted"})
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_changes_announce_nothing() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let mut listener = server.admin().await;
    listen(&mut listener, None).await;
    create_user(&mut admin, "bob", &[]).await;
    for (action, data) in [
        (
            "create_user",
            json!({"username": "bob", "password": "bob-password-2"}),
        ),
        ("delete_user", json!({"username": "ghost"})),
        ("create_group", json!({"group_name": "bad name"})),
        ("delete_group", json!({"group_name": "sysop"})),
        (
            "change_user_groups",
            json!({"username": "bob", "groups": ["nope"]}),
        ),
        (
            "change_group_permissions",
            json!({"group_name": "sysop", "permissions": []}),
        ),
    ] {
        let reply = admin.request(action, data).await;
        assert_ne!(reply.code, 200, "{action}");
    }
    create_group(&mut admin, "after", &[]).await;
    assert_eq!(next(&mut listener).await, user_created("bob"));
    assert_eq!(next(&mut listener).await, group_created("after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_users_listener_stops() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_user(&mut admin, "bob", &[permissions::LIST_USERS]).await;
    let mut bob = login_as(&server, "bob", None).await;
    listen(&mut bob, None).await;
    let mut witness = server.admin().await;
    listen(&mut witness, None).await;
    create_user(&mut admin, "first", &[]).await;
    assert_eq!(next(&mut bob).await, user_created("first"));

    admin
        .request("delete_user", json!({"username": "bob"}))
        .await;
    create_user(&mut admin, "second", &[]).await;
    assert_eq!(next(&mut witness).await, user_created("first"));
    assert_eq!(
        next(&mut witness).await,
        (
            events::USER_CHANGED.to_owned(),
            json!({"username": "bob", "change": "deleted"})
        )
    );
    assert_eq!(next(&mut witness).await, user_created("second"));
    let reply = bob.request("server_info", json!({})).await;
    assert_eq!(reply.code, 200);
    assert!(bob.take_events().is_empty(), "{:?}", bob.take_events());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_catalogued_event_can_be_asked_for_by_name() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let names: Vec<&str> = events::CATALOGUE.iter().map(|(name, _, _)| *name).collect();
    for name in ["backup_import_progress", "backup_import_completed"] {
        assert!(names.contains(&name), "{name} is not in the catalogue");
    }
    listen(&mut admin, Some(&names)).await;
}
