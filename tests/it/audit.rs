//! The audit log: what is written for audited actions, paging and filters, the permission
//! it needs, and that each tenant sees only its own entries.
use api_spec::ErrorCode;
use api_spec::actions::{
    AuditEntry, CreateUser, DeleteGroup, GroupNameRequest, ListUsers, ViewAuditLogs,
    ViewAuditLogsRequest,
};
use api_spec::envelope::Empty;
use api_spec::permissions;
use tests::Client;
use tests::TestServer;

use crate::account_support::{
    USER_PASSWORD, assert_fails, create_group, create_user, login_response, new_user, now,
    tenant_admin, user_with,
};

async fn all_entries(c: &mut Client) -> Vec<AuditEntry> {
    logs(
        c,
        ViewAuditLogsRequest {
            count: Some(100),
            ..Default::default()
        },
    )
    .await
    .entries
}

async fn logs(
    c: &mut Client,
    req: ViewAuditLogsRequest,
) -> api_spec::actions::ViewAuditLogsResponse {
    c.call::<ViewAuditLogs>(&req)
        .await
        .expect("view audit logs")
}

/// (action, username, target, result) of each entry, newest first.
fn summary(entries: &[AuditEntry]) -> Vec<(String, Option<String>, Option<String>, i32)> {
    entries
        .iter()
        .map(|e| {
            (
                e.action.clone(),
                e.username.clone(),
                e.target.clone(),
                e.result,
            )
        })
        .collect()
}

fn row(
    action: &str,
    username: &str,
    target: Option<&str>,
    result: i32,
) -> (String, Option<String>, Option<String>, i32) {
    (
        action.to_owned(),
        Some(username.to_owned()),
        target.map(str::to_owned),
        result,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audited_actions_are_logged_with_who_what_and_outcome() {
    let server = TestServer::start().await;
    let started = now();
    let mut admin = server.admin().await;
    create_group(&mut admin, "editors", &[]).await;
    create_user(&mut admin, "bob", &[]).await;
    assert_fails(
        admin
            .call::<CreateUser>(&new_user("bob", vec![], vec![]))
            .await,
        409,
        ErrorCode::UserExists,
    );
    // Not audited: listings.
    admin.call::<ListUsers>(&Empty {}).await.unwrap();
    admin
        .call::<DeleteGroup>(&GroupNameRequest {
            group_name: "editors".into(),
        })
        .await
        .unwrap();
    login_response(&server, "bob", USER_PASSWORD, None)
        .await
        .unwrap();
    login_response(&server, "bob", "wrong-password", None)
        .await
        .unwrap_err();
    let mut bob = server.client().await;
    bob.login("bob", USER_PASSWORD, None).await.unwrap();
    // A refused audited action is logged as refused.
    assert_fails(
        bob.call::<CreateUser>(&new_user("mallory", vec![], vec![]))
            .await,
        403,
        ErrorCode::PermissionDenied,
    );

    let entries = all_entries(&mut admin).await;
    assert_eq!(
        summary(&entries),
        vec![
            row("create_user", "bob", Some("mallory"), 403),
            row("login", "bob", None, 200),
            row("login", "bob", None, 401),
            row("login", "bob", None, 200),
            row("delete_group", "admin", Some("editors"), 200),
            row("create_user", "admin", Some("bob"), 409),
            row("create_user", "admin", Some("bob"), 200),
            row("create_group", "admin", Some("editors"), 200),
            row("login", "admin", None, 200),
        ]
    );
    for e in &entries {
        assert!(
            e.remote_address
                .as_deref()
                .is_some_and(|a| a.starts_with("127.0.0.1")),
            "{e:?}"
        );
        assert!(e.logged_time >= started - 0.01 && e.logged_time <= now() + 1.0);
    }
    // Newest first; ids are unique; request data (passwords) is never stored.
    assert!(
        entries
            .windows(2)
            .all(|w| w[0].logged_time >= w[1].logged_time)
    );
    let mut ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), entries.len());
    let text = serde_json::to_string(&entries).unwrap();
    assert!(!text.contains(USER_PASSWORD) && !text.contains("wrong-password"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_log_pages_and_filters() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    for name in ["u1", "u2", "u3"] {
        create_user(&mut admin, name, &[]).await;
    }
    create_group(&mut admin, "g1", &[]).await;

    let all = logs(&mut admin, ViewAuditLogsRequest::default()).await;
    assert_eq!(all.total, 5, "{:?}", summary(&all.entries));
    assert_eq!(all.entries.len(), 5);

    let only_users = logs(
        &mut admin,
        ViewAuditLogsRequest {
            filters: Some(vec!["create_user".into()]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(only_users.total, 3);
    let targets: Vec<Option<&str>> = only_users
        .entries
        .iter()
        .map(|e| e.target.as_deref())
        .collect();
    assert_eq!(targets, vec![Some("u3"), Some("u2"), Some("u1")]);

    let page = logs(
        &mut admin,
        ViewAuditLogsRequest {
            offset: 1,
            count: Some(2),
            filters: Some(vec!["create_user".into(), "create_group".into()]),
        },
    )
    .await;
    assert_eq!(page.total, 4);
    assert_eq!(
        summary(&page.entries),
        vec![
            row("create_user", "admin", Some("u3"), 200),
            row("create_user", "admin", Some("u2"), 200),
        ]
    );
    let past_end = logs(
        &mut admin,
        ViewAuditLogsRequest {
            offset: 50,
            ..Default::default()
        },
    )
    .await;
    assert_eq!((past_end.total, past_end.entries.len()), (5, 0));
    let none = logs(
        &mut admin,
        ViewAuditLogsRequest {
            count: Some(0),
            ..Default::default()
        },
    )
    .await;
    assert_eq!((none.total, none.entries.len()), (5, 0));

    let err = assert_fails(
        admin
            .call::<ViewAuditLogs>(&ViewAuditLogsRequest {
                count: Some(101),
                ..Default::default()
            })
            .await,
        400,
        ErrorCode::InvalidField,
    );
    assert_eq!(err.data["field"], "count");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reading_the_audit_log_needs_its_permission() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let others: Vec<&str> = permissions::ALL
        .iter()
        .copied()
        .filter(|p| *p != permissions::VIEW_AUDIT_LOGS)
        .collect();
    let nosy = user_with(&server, &mut admin, "nosy", &others).await;
    assert_fails(
        nosy.call::<ViewAuditLogs>(&ViewAuditLogsRequest::default())
            .await,
        403,
        ErrorCode::PermissionDenied,
    );
    let mut auditor = user_with(
        &server,
        &mut admin,
        "auditor",
        &[permissions::VIEW_AUDIT_LOGS],
    )
    .await;
    let seen = logs(&mut auditor, ViewAuditLogsRequest::default()).await;
    assert!(
        seen.entries
            .iter()
            .any(|e| e.action == "create_user" && e.target.as_deref() == Some("nosy"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_sees_only_its_own_audit_entries() {
    let server = TestServer::start().await;
    let mut operator = server.admin().await;
    let mut acme = tenant_admin(&server, &mut operator, "acme").await;
    create_user(&mut operator, "home-user", &[]).await;
    create_user(&mut acme, "acme-user", &[]).await;
    create_group(&mut acme, "acme-group", &[]).await;

    let home = all_entries(&mut operator).await;
    let away = all_entries(&mut acme).await;
    let targets = |entries: &[AuditEntry]| -> Vec<String> {
        entries.iter().filter_map(|e| e.target.clone()).collect()
    };
    assert_eq!(
        summary(&home),
        vec![
            row("create_user", "admin", Some("home-user"), 200),
            row("create_tenant", "admin", Some("acme"), 200),
            row("login", "admin", None, 200),
        ]
    );
    assert_eq!(
        summary(&away),
        vec![
            row("create_group", "admin", Some("acme-group"), 200),
            row("create_user", "admin", Some("acme-user"), 200),
            row("login", "admin", None, 200),
        ]
    );
    assert!(!targets(&away).iter().any(|t| t == "home-user"));
    // A filter cannot reach across either.
    let filtered = logs(
        &mut acme,
        ViewAuditLogsRequest {
            filters: Some(vec!["create_tenant".into()]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!((filtered.total, filtered.entries.len()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_with_absurd_usernames_are_still_plain_failures() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let long = "x".repeat(300);
    let wide = "ü".repeat(65);
    for name in [long.as_str(), wide.as_str()] {
        let err = login_response(&server, name, "some-password", None)
            .await
            .unwrap_err();
        assert_eq!((err.code, err.error), (401, ErrorCode::InvalidCredentials));
    }
    // Both attempts are on record, under a bounded form of the name they gave.
    let failed: Vec<AuditEntry> = all_entries(&mut admin)
        .await
        .into_iter()
        .filter(|e| e.action == "login" && e.result == 401)
        .collect();
    assert_eq!(failed.len(), 2, "{failed:?}");
    let wide_prefix = "ü".repeat(64);
    assert_eq!(failed[0].username.as_deref(), Some(wide_prefix.as_str()));
    assert_eq!(failed[1].username.as_deref(), Some(&long[..64]));
}
