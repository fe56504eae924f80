//! Users: creation, deletion, listings, the permission each account action needs, who may
//! see whose information, the `sysop` protections, and that a refused request changes
//! nothing; the helpers the group tests (`groups.rs`) share.

use api_spec::ErrorCode;
use api_spec::actions::{
    ChangeGroupPermissionsRequest, ChangeUserGroups, ChangeUserGroupsRequest, CreateGroupRequest,
    CreateUser, CreateUserRequest, DeleteUser, GetUserInfo, GroupNameRequest, ListGroups,
    ListUsers, UsernameRequest,
};
use api_spec::envelope::Empty;
use api_spec::permissions::{self, ALL};
use serde_json::json;
use tests::server::ADMIN_PASSWORD;
use tests::{Client, TestServer};

use crate::account_support::{
    USER_PASSWORD, assert_fails, create_group, create_user, group, groups, login_as,
    login_response, member, member_during, new_user, now, perm, strings, timed, user, user_with,
    usernames,
};

pub(crate) fn named(username: &str) -> UsernameRequest {
    UsernameRequest {
        username: username.into(),
    }
}

pub(crate) fn group_named(name: &str) -> GroupNameRequest {
    GroupNameRequest {
        group_name: name.into(),
    }
}

pub(crate) fn set_groups(username: &str, groups: &[&str]) -> ChangeUserGroupsRequest {
    ChangeUserGroupsRequest {
        username: username.into(),
        groups: strings(groups),
    }
}

pub(crate) fn set_permissions(group: &str, permissions: &[&str]) -> ChangeGroupPermissionsRequest {
    ChangeGroupPermissionsRequest {
        group_name: group.into(),
        permissions: strings(permissions),
    }
}

pub(crate) fn new_group(
    name: &str,
    permissions: Vec<api_spec::actions::TimedPermission>,
) -> CreateGroupRequest {
    CreateGroupRequest {
        group_name: name.into(),
        display_name: None,
        permissions,
    }
}

/// The user's current effective permissions, as `get_user_info` reports them.
pub(crate) async fn permissions_of(admin: &mut Client, username: &str) -> Vec<String> {
    admin
        .call::<GetUserInfo>(&named(username))
        .await
        .expect("user info")
        .permissions
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_user_with_grants_and_memberships() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_group(&mut admin, "editors", &[permissions::LIST_GROUPS]).await;
    let before = now();
    let mut req = new_user(
        "alice",
        vec![perm(permissions::LIST_USERS)],
        vec![member("editors")],
    );
    req.nickname = Some("Alice Ä.".into());
    admin.call::<CreateUser>(&req).await.unwrap();

    let info = admin.call::<GetUserInfo>(&named("alice")).await.unwrap();
    assert_eq!(info.username, "alice");
    assert_eq!(info.nickname.as_deref(), Some("Alice Ä."));
    assert_eq!(info.groups, strings(&["editors"]));
    assert_eq!(
        info.permissions,
        strings(&[permissions::LIST_GROUPS, permissions::LIST_USERS])
    );
    assert!(info.created_time >= before - 1.0 && info.created_time <= now() + 1.0);
    assert_eq!(info.last_login, None);
    assert_eq!(usernames(&mut admin).await, strings(&["admin", "alice"]));
    assert_eq!(
        group(&mut admin, "editors").await.unwrap().members,
        strings(&["alice"])
    );

    // The new user logs in at once and holds exactly what was granted.
    let login = login_response(&server, "alice", USER_PASSWORD, None)
        .await
        .unwrap();
    assert_eq!(login.tenant, "default");
    assert_eq!(login.nickname.as_deref(), Some("Alice Ä."));
    assert_eq!(login.groups, strings(&["editors"]));
    assert_eq!(
        login.permissions,
        strings(&[permissions::LIST_GROUPS, permissions::LIST_USERS])
    );
    let mut alice = login_as(&server, "alice", None).await;
    assert_eq!(usernames(&mut alice).await, strings(&["admin", "alice"]));
    // ... and nothing else.
    assert_fails(
        alice
            .call::<CreateUser>(&new_user("eve", vec![], vec![]))
            .await,
        403,
        ErrorCode::PermissionDenied,
    );
    assert!(
        admin
            .call::<GetUserInfo>(&named("alice"))
            .await
            .unwrap()
            .last_login
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_user_rejects_bad_input_and_changes_nothing() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_group(&mut admin, "editors", &[]).await;
    let t = now();
    let long_name = "a".repeat(65);
    let cases: Vec<(CreateUserRequest, u16, ErrorCode)> = vec![
        (
            new_user("", vec![], vec![]),
            400,
            ErrorCode::InvalidUsername,
        ),
        (
            new_user("has space", vec![], vec![]),
            400,
            ErrorCode::InvalidUsername,
        ),
        (
            new_user("a/b", vec![], vec![]),
            400,
            ErrorCode::InvalidUsername,
        ),
        (
            new_user("tab\tname", vec![], vec![]),
            400,
            ErrorCode::InvalidUsername,
        ),
        (
            new_user(&long_name, vec![], vec![]),
            400,
            ErrorCode::InvalidUsername,
        ),
        (
            CreateUserRequest {
                password: "short".into(),
                ..new_user("bob", vec![], vec![])
            },
            400,
            ErrorCode::WeakPassword,
        ),
        (
            CreateUserRequest {
                password: "bob-the-user".into(),
                ..new_user("bob-the-user", vec![], vec![])
            },
            400,
            ErrorCode::WeakPassword,
        ),
        (
            new_user("bob", vec![perm("fly")], vec![]),
            400,
            ErrorCode::UnknownPermission,
        ),
        (
            new_user(
                "bob",
                vec![perm(permissions::LIST_USERS), perm("List_Users")],
                vec![member("editors")],
            ),
            400,
            ErrorCode::UnknownPermission,
        ),
        (
            new_user(
                "bob",
                vec![timed(permissions::LIST_USERS, Some(t), Some(t - 10.0))],
                vec![],
            ),
            400,
            ErrorCode::InvalidTimeRange,
        ),
        (
            new_user(
                "bob",
                vec![timed(permissions::LIST_USERS, Some(-5.0), None)],
                vec![],
            ),
            400,
            ErrorCode::InvalidTimeRange,
        ),
        (
            new_user(
                "bob",
                vec![timed(permissions::LIST_USERS, None, Some(t - 3600.0))],
                vec![],
            ),
            400,
            ErrorCode::InvalidTimeRange,
        ),
        // A bad membership window is noticed only after the user row is written: the whole
        // creation must roll back.
        (
            new_user(
                "bob",
                vec![perm(permissions::LIST_USERS)],
                vec![member_during("editors", Some(t + 100.0), Some(t))],
            ),
            400,
            ErrorCode::InvalidTimeRange,
        ),
        (
            new_user(
                "bob",
                vec![],
                vec![member_during("editors", Some(1.0e13), None)],
            ),
            400,
            ErrorCode::InvalidTimeRange,
        ),
        (
            new_user("bob", vec![], vec![member("editors"), member("nope")]),
            404,
            ErrorCode::GroupNotFound,
        ),
        (
            new_user("admin", vec![], vec![]),
            409,
            ErrorCode::UserExists,
        ),
    ];
    for (req, code, error) in cases {
        let name = req.username.clone();
        let res = admin.call::<CreateUser>(&req).await;
        let failure = assert_fails(res, code, error);
        assert!(
            !failure.message.is_empty(),
            "{name}: every failure has a sentence"
        );
    }
    assert_eq!(usernames(&mut admin).await, strings(&["admin"]));
    assert!(
        group(&mut admin, "editors")
            .await
            .unwrap()
            .members
            .is_empty()
    );
    let err = login_response(&server, "bob", USER_PASSWORD, None)
        .await
        .unwrap_err();
    assert_eq!(err.error, ErrorCode::InvalidCredentials);
    // The admin, whose name a duplicate tried to take, keeps its password.
    login_response(&server, "admin", ADMIN_PASSWORD, None)
        .await
        .unwrap();

    // A duplicate of a fresh user changes neither its password nor its grants.
    admin
        .call::<CreateUser>(&new_user(
            "carol",
            vec![perm(permissions::LIST_USERS)],
            vec![],
        ))
        .await
        .unwrap();
    let dup = CreateUserRequest {
        password: "another-password".into(),
        ..new_user(
            "carol",
            vec![perm(permissions::CREATE_USER)],
            vec![member("editors")],
        )
    };
    assert_fails(
        admin.call::<CreateUser>(&dup).await,
        409,
        ErrorCode::UserExists,
    );
    let carol = user(&mut admin, "carol").await.unwrap();
    assert_eq!(carol.permissions, strings(&[permissions::LIST_USERS]));
    assert!(carol.groups.is_empty());
    login_response(&server, "carol", USER_PASSWORD, None)
        .await
        .unwrap();
    assert!(
        login_response(&server, "carol", "another-password", None)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_user_naming_a_group_twice_is_a_client_error() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_group(&mut admin, "editors", &[]).await;
    let req = new_user("bob", vec![], vec![member("editors"), member("editors")]);
    assert_fails(
        admin.call::<CreateUser>(&req).await,
        400,
        ErrorCode::InvalidField,
    );
    assert_eq!(usernames(&mut admin).await, strings(&["admin"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unicode_and_punctuated_names_are_accepted() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let max = "u".repeat(64);
    for name in ["jörg", "a.b-c_d@example.org", max.as_str()] {
        create_user(&mut admin, name, &[]).await;
        login_as(&server, name, None).await;
    }
    let max_group = "g".repeat(64);
    for name in ["équipe", "ops.team_2-x", max_group.as_str()] {
        create_group(&mut admin, name, &[]).await;
    }
    assert_eq!(groups(&mut admin).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_users_lose_sessions_memberships_and_grants() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_group(&mut admin, "editors", &[permissions::LIST_GROUPS]).await;
    admin
        .call::<CreateUser>(&new_user(
            "bob",
            vec![perm(permissions::LIST_USERS)],
            vec![member("editors")],
        ))
        .await
        .unwrap();
    let bob = login_as(&server, "bob", None).await;
    assert!(bob.call::<ListUsers>(&Empty {}).await.is_ok());

    admin.call::<DeleteUser>(&named("bob")).await.unwrap();
    assert_fails(
        bob.call::<ListUsers>(&Empty {}).await,
        401,
        ErrorCode::InvalidToken,
    );
    assert_eq!(usernames(&mut admin).await, strings(&["admin"]));
    assert!(
        group(&mut admin, "editors")
            .await
            .unwrap()
            .members
            .is_empty()
    );
    assert_eq!(
        login_response(&server, "bob", USER_PASSWORD, None)
            .await
            .unwrap_err()
            .error,
        ErrorCode::InvalidCredentials
    );
    assert_fails(
        admin.call::<GetUserInfo>(&named("bob")).await,
        404,
        ErrorCode::UserNotFound,
    );
    assert_fails(
        admin.call::<DeleteUser>(&named("bob")).await,
        404,
        ErrorCode::UserNotFound,
    );

    // A new user of the same name inherits nothing from the old one.
    create_user(&mut admin, "bob", &[]).await;
    let info = admin.call::<GetUserInfo>(&named("bob")).await.unwrap();
    assert!(info.permissions.is_empty(), "{info:?}");
    assert!(info.groups.is_empty(), "{info:?}");
    assert_eq!(info.last_login, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_user_refuses_self_and_the_last_sysop() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    assert_fails(
        admin.call::<DeleteUser>(&named("admin")).await,
        400,
        ErrorCode::CannotDeleteSelf,
    );
    assert_fails(
        admin.call::<DeleteUser>(&named("ghost")).await,
        404,
        ErrorCode::UserNotFound,
    );
    let carol = user_with(&server, &mut admin, "carol", &[permissions::DELETE_USER]).await;
    assert_fails(
        carol.call::<DeleteUser>(&named("carol")).await,
        400,
        ErrorCode::CannotDeleteSelf,
    );
    // The sysop group may not lose its last member.
    assert_fails(
        carol.call::<DeleteUser>(&named("admin")).await,
        409,
        ErrorCode::GroupProtected,
    );
    assert_eq!(usernames(&mut admin).await, strings(&["admin", "carol"]));
    assert_eq!(
        group(&mut admin, "sysop").await.unwrap().members,
        strings(&["admin"])
    );
    login_response(&server, "admin", ADMIN_PASSWORD, None)
        .await
        .unwrap();

    // With a second sysop, the first may go.
    create_user(&mut admin, "dave", &[]).await;
    admin
        .call::<ChangeUserGroups>(&set_groups("dave", &["sysop"]))
        .await
        .unwrap();
    carol.call::<DeleteUser>(&named("admin")).await.unwrap();
    assert_fails(
        admin.call::<ListUsers>(&Empty {}).await,
        401,
        ErrorCode::InvalidToken,
    );
    let mut dave = login_as(&server, "dave", None).await;
    assert_eq!(usernames(&mut dave).await, strings(&["carol", "dave"]));
    assert_fails(
        carol.call::<DeleteUser>(&named("dave")).await,
        409,
        ErrorCode::GroupProtected,
    );
}

/// Every account action with the permission it needs and a valid request for a server where
/// user `target` and group `team` exist, in an order in which each still succeeds after the
/// ones before it.
pub(crate) fn account_actions() -> Vec<(&'static str, &'static str, serde_json::Value)> {
    vec![
        (
            "create_user",
            permissions::CREATE_USER,
            json!({"username": "newbie", "password": "newbie-password"}),
        ),
        ("list_users", permissions::LIST_USERS, json!({})),
        (
            "get_user_info",
            permissions::GET_USER_INFO,
            json!({"username": "target"}),
        ),
        (
            "change_user_groups",
            permissions::CHANGE_USER_GROUPS,
            json!({"username": "target", "groups": ["team"]}),
        ),
        (
            "delete_user",
            permissions::DELETE_USER,
            json!({"username": "target"}),
        ),
        (
            "create_group",
            permissions::CREATE_GROUP,
            json!({"group_name": "newteam"}),
        ),
        ("list_groups", permissions::LIST_GROUPS, json!({})),
        (
            "change_group_permissions",
            permissions::SET_GROUP_PERMISSIONS,
            json!({"group_name": "team", "permissions": ["list_users"]}),
        ),
        (
            "delete_group",
            permissions::DELETE_GROUP,
            json!({"group_name": "team"}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_account_action_needs_its_own_permission() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_user(&mut admin, "target", &[]).await;
    create_group(&mut admin, "team", &[]).await;
    let before_users = mod_times(admin.call::<ListUsers>(&Empty {}).await.unwrap().users);
    let before_groups = admin.call::<ListGroups>(&Empty {}).await.unwrap().groups;

    for (i, (action, needed, data)) in account_actions().into_iter().enumerate() {
        // Everything except the one permission the action needs.
        let others: Vec<&str> = ALL.iter().copied().filter(|p| *p != needed).collect();
        let name = format!("lacks{i}");
        let c = user_with(&server, &mut admin, &name, &others).await;
        let reply = c.request(action, data.clone()).await;
        assert_eq!(reply.code, 403, "{action}: {reply:?}");
        assert_eq!(reply.data["error"], "permission_denied", "{action}");
        // The refusal changed nothing.
        let mut after_users = mod_times(admin.call::<ListUsers>(&Empty {}).await.unwrap().users);
        after_users.retain(|u| !u.username.starts_with("lacks"));
        assert_eq!(after_users, before_users, "{action} changed users");
        assert_eq!(
            admin.call::<ListGroups>(&Empty {}).await.unwrap().groups,
            before_groups,
            "{action} changed groups"
        );
    }

    // Holding only the permission is enough.
    for (i, (action, needed, data)) in account_actions().into_iter().enumerate() {
        let name = format!("holds{i}");
        let c = user_with(&server, &mut admin, &name, &[needed]).await;
        let reply = c.request(action, data).await;
        assert_eq!(reply.code, 200, "{action}: {reply:?}");
    }
    let names = usernames(&mut admin).await;
    assert!(names.contains(&"newbie".to_owned()) && !names.contains(&"target".to_owned()));
    let group_names: Vec<String> = groups(&mut admin)
        .await
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(group_names, strings(&["newteam", "sysop"]));
}

/// Users without their login times (which the test's own logins change).
pub(crate) fn mod_times(
    users: Vec<api_spec::actions::UserInfo>,
) -> Vec<api_spec::actions::UserInfo> {
    users
        .into_iter()
        .map(|mut u| {
            u.last_login = None;
            u
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_info_is_for_yourself_unless_permitted() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let frank = user_with(&server, &mut admin, "frank", &[]).await;
    let own = frank.call::<GetUserInfo>(&named("frank")).await.unwrap();
    assert_eq!(own.username, "frank");
    // Someone else and no one are the same refusal: existence is not revealed.
    let other = assert_fails(
        frank.call::<GetUserInfo>(&named("admin")).await,
        403,
        ErrorCode::PermissionDenied,
    );
    let ghost = assert_fails(
        frank.call::<GetUserInfo>(&named("ghost")).await,
        403,
        ErrorCode::PermissionDenied,
    );
    assert_eq!(other, ghost);
    assert_fails(
        frank.call::<ListUsers>(&Empty {}).await,
        403,
        ErrorCode::PermissionDenied,
    );

    let gina = user_with(&server, &mut admin, "gina", &[permissions::GET_USER_INFO]).await;
    let info = gina.call::<GetUserInfo>(&named("admin")).await.unwrap();
    assert_eq!(info.groups, strings(&["sysop"]));
    assert_eq!(info.permissions.len(), ALL.len());
    assert_fails(
        gina.call::<GetUserInfo>(&named("ghost")).await,
        404,
        ErrorCode::UserNotFound,
    );
    // list_users shows the same records get_user_info does.
    let listed = user(&mut admin, "frank").await.unwrap();
    assert_eq!(
        gina.call::<GetUserInfo>(&named("frank")).await.unwrap(),
        listed
    );
}
