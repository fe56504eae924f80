//! Groups: created, listed and validated; deleted with their memberships and grants (never
//! sysop, never its last member); memberships and permissions replaced; permission windows
//! that open and close with time and reach members on their next login.
use crate::account_support::{
    USER_PASSWORD, assert_fails, create_group, create_user, group, groups, login_as,
    login_response, member, member_during, new_user, now, perm, strings, timed, user_with,
    usernames,
};
use crate::users_groups::*;
use api_spec::ErrorCode;
use api_spec::actions::{
    ChangeGroupPermissions, ChangeUserGroups, CreateGroup, CreateGroupRequest, CreateUser,
    DeleteGroup, DeleteUser, GetUserInfo, ListGroups, ListUsers,
};
use api_spec::envelope::Empty;
use api_spec::permissions::{self, ALL};
use serde_json::json;
use std::time::Duration;
use tests::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_are_created_listed_and_validated() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let req = CreateGroupRequest {
        group_name: "editors".into(),
        display_name: Some("The Editors".into()),
        permissions: vec![
            perm(permissions::LIST_USERS),
            perm(permissions::CREATE_GROUP),
        ],
    };
    admin.call::<CreateGroup>(&req).await.unwrap();
    let editors = group(&mut admin, "editors").await.unwrap();
    assert_eq!(editors.display_name.as_deref(), Some("The Editors"));
    let mut perms = editors.permissions.clone();
    perms.sort();
    assert_eq!(
        perms,
        strings(&[permissions::CREATE_GROUP, permissions::LIST_USERS])
    );
    assert!(editors.members.is_empty());
    let sysop = group(&mut admin, "sysop").await.unwrap();
    assert_eq!(sysop.members, strings(&["admin"]));
    assert_eq!(sysop.permissions.len(), ALL.len());

    let t = now();
    let long = "g".repeat(65);
    let cases: Vec<(CreateGroupRequest, u16, ErrorCode)> = vec![
        (new_group("", vec![]), 400, ErrorCode::InvalidGroupName),
        (
            new_group("with space", vec![]),
            400,
            ErrorCode::InvalidGroupName,
        ),
        (
            new_group("at@sign", vec![]),
            400,
            ErrorCode::InvalidGroupName,
        ),
        (
            new_group("sl/ash", vec![]),
            400,
            ErrorCode::InvalidGroupName,
        ),
        (new_group(&long, vec![]), 400, ErrorCode::InvalidGroupName),
        (
            new_group(
                "writers",
                vec![perm(permissions::LIST_USERS), perm("teleport")],
            ),
            400,
            ErrorCode::UnknownPermission,
        ),
        (
            new_group(
                "writers",
                vec![timed(permissions::LIST_USERS, Some(t + 10.0), Some(t))],
            ),
            400,
            ErrorCode::InvalidTimeRange,
        ),
        (
            new_group(
                "writers",
                vec![timed(permissions::LIST_USERS, Some(-1.0), None)],
            ),
            400,
            ErrorCode::InvalidTimeRange,
        ),
        (
            CreateGroupRequest {
                display_name: Some("bad\u{7}bell".into()),
                ..new_group("writers", vec![])
            },
            400,
            ErrorCode::InvalidField,
        ),
        (
            new_group("editors", vec![perm(permissions::DELETE_USER)]),
            409,
            ErrorCode::GroupExists,
        ),
        (new_group("sysop", vec![]), 409, ErrorCode::GroupExists),
    ];
    for (req, code, error) in cases {
        assert_fails(admin.call::<CreateGroup>(&req).await, code, error);
    }
    let names: Vec<String> = groups(&mut admin)
        .await
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, strings(&["editors", "sysop"]));
    // The duplicate did not touch the existing group.
    assert_eq!(group(&mut admin, "editors").await.unwrap(), editors);
    assert_eq!(group(&mut admin, "sysop").await.unwrap(), sysop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_group_removes_its_memberships_and_grants() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_group(&mut admin, "editors", &[permissions::LIST_USERS]).await;
    admin
        .call::<CreateUser>(&new_user("bob", vec![], vec![member("editors")]))
        .await
        .unwrap();
    let bob = login_as(&server, "bob", None).await;
    assert!(bob.call::<ListUsers>(&Empty {}).await.is_ok());

    admin
        .call::<DeleteGroup>(&group_named("editors"))
        .await
        .unwrap();
    assert!(group(&mut admin, "editors").await.is_none());
    // Bob's current session loses the group's permission at once.
    assert_fails(
        bob.call::<ListUsers>(&Empty {}).await,
        403,
        ErrorCode::PermissionDenied,
    );
    let info = admin.call::<GetUserInfo>(&named("bob")).await.unwrap();
    assert!(
        info.groups.is_empty() && info.permissions.is_empty(),
        "{info:?}"
    );
    assert_fails(
        admin.call::<DeleteGroup>(&group_named("editors")).await,
        404,
        ErrorCode::GroupNotFound,
    );
    // A new group of the same name starts empty.
    create_group(&mut admin, "editors", &[]).await;
    let editors = group(&mut admin, "editors").await.unwrap();
    assert!(editors.members.is_empty() && editors.permissions.is_empty());
    assert!(permissions_of(&mut admin, "bob").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sysop_group_cannot_be_deleted() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let before = group(&mut admin, "sysop").await.unwrap();
    assert_fails(
        admin.call::<DeleteGroup>(&group_named("sysop")).await,
        409,
        ErrorCode::GroupProtected,
    );
    let deleter = user_with(&server, &mut admin, "deleter", &[permissions::DELETE_GROUP]).await;
    assert_fails(
        deleter.call::<DeleteGroup>(&group_named("sysop")).await,
        409,
        ErrorCode::GroupProtected,
    );
    assert_fails(
        deleter.call::<DeleteGroup>(&group_named("nope")).await,
        404,
        ErrorCode::GroupNotFound,
    );
    assert_eq!(group(&mut admin, "sysop").await.unwrap(), before);
    assert_eq!(permissions_of(&mut admin, "admin").await.len(), ALL.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_user_groups_replaces_memberships() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_group(&mut admin, "a", &[permissions::LIST_USERS]).await;
    create_group(&mut admin, "b", &[permissions::LIST_GROUPS]).await;
    create_group(&mut admin, "c", &[]).await;
    admin
        .call::<CreateUser>(&new_user("bob", vec![], vec![member("a")]))
        .await
        .unwrap();
    let groups_of = |info: api_spec::actions::UserInfo| info.groups;

    admin
        .call::<ChangeUserGroups>(&set_groups("bob", &["c", "b"]))
        .await
        .unwrap();
    let info = admin.call::<GetUserInfo>(&named("bob")).await.unwrap();
    assert_eq!(info.groups, strings(&["b", "c"]));
    assert_eq!(info.permissions, strings(&[permissions::LIST_GROUPS]));
    assert!(group(&mut admin, "a").await.unwrap().members.is_empty());
    assert_eq!(
        group(&mut admin, "b").await.unwrap().members,
        strings(&["bob"])
    );

    // Duplicates are harmless.
    admin
        .call::<ChangeUserGroups>(&set_groups("bob", &["b", "b"]))
        .await
        .unwrap();
    assert_eq!(
        groups_of(admin.call::<GetUserInfo>(&named("bob")).await.unwrap()),
        strings(&["b"])
    );

    // Refusals change nothing.
    assert_fails(
        admin
            .call::<ChangeUserGroups>(&set_groups("bob", &["a", "nope"]))
            .await,
        404,
        ErrorCode::GroupNotFound,
    );
    assert_fails(
        admin
            .call::<ChangeUserGroups>(&set_groups("ghost", &["a"]))
            .await,
        404,
        ErrorCode::UserNotFound,
    );
    assert_eq!(
        groups_of(admin.call::<GetUserInfo>(&named("bob")).await.unwrap()),
        strings(&["b"])
    );

    admin
        .call::<ChangeUserGroups>(&set_groups("bob", &[]))
        .await
        .unwrap();
    let info = admin.call::<GetUserInfo>(&named("bob")).await.unwrap();
    assert!(
        info.groups.is_empty() && info.permissions.is_empty(),
        "{info:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_sysop_cannot_leave_sysop() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_group(&mut admin, "a", &[]).await;
    for groups in [&[][..], &["a"][..]] {
        assert_fails(
            admin
                .call::<ChangeUserGroups>(&set_groups("admin", groups))
                .await,
            409,
            ErrorCode::GroupProtected,
        );
    }
    let mut changer = user_with(
        &server,
        &mut admin,
        "changer",
        &[permissions::CHANGE_USER_GROUPS],
    )
    .await;
    assert_fails(
        changer
            .call::<ChangeUserGroups>(&set_groups("admin", &["a"]))
            .await,
        409,
        ErrorCode::GroupProtected,
    );
    assert_eq!(
        group(&mut admin, "sysop").await.unwrap().members,
        strings(&["admin"])
    );
    // Keeping sysop while joining more is fine.
    admin
        .call::<ChangeUserGroups>(&set_groups("admin", &["a", "sysop"]))
        .await
        .unwrap();
    assert_eq!(
        admin
            .call::<GetUserInfo>(&named("admin"))
            .await
            .unwrap()
            .groups,
        strings(&["a", "sysop"])
    );
    // Once someone else is a sysop, the admin may leave.
    changer
        .call::<ChangeUserGroups>(&set_groups("changer", &["sysop"]))
        .await
        .unwrap();
    admin
        .call::<ChangeUserGroups>(&set_groups("admin", &[]))
        .await
        .unwrap();
    assert_fails(
        admin.call::<ListUsers>(&Empty {}).await,
        403,
        ErrorCode::PermissionDenied,
    );
    assert_eq!(
        group(&mut changer, "sysop").await.unwrap().members,
        strings(&["changer"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_group_permissions_replaces_grants() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_group(&mut admin, "editors", &[permissions::LIST_USERS]).await;
    admin
        .call::<CreateUser>(&new_user("bob", vec![], vec![member("editors")]))
        .await
        .unwrap();
    let bob = login_as(&server, "bob", None).await;
    assert!(bob.call::<ListUsers>(&Empty {}).await.is_ok());

    admin
        .call::<ChangeGroupPermissions>(&set_permissions(
            "editors",
            &[
                permissions::LIST_GROUPS,
                permissions::CREATE_GROUP,
                permissions::LIST_GROUPS,
            ],
        ))
        .await
        .unwrap();
    let editors = group(&mut admin, "editors").await.unwrap();
    let mut perms = editors.permissions.clone();
    perms.sort();
    assert_eq!(
        perms,
        strings(&[permissions::CREATE_GROUP, permissions::LIST_GROUPS])
    );
    // The member's live session follows at once.
    assert_fails(
        bob.call::<ListUsers>(&Empty {}).await,
        403,
        ErrorCode::PermissionDenied,
    );
    assert!(bob.call::<ListGroups>(&Empty {}).await.is_ok());

    // Refusals change nothing.
    assert_fails(
        admin
            .call::<ChangeGroupPermissions>(&set_permissions(
                "editors",
                &[permissions::LIST_USERS, "levitate"],
            ))
            .await,
        400,
        ErrorCode::UnknownPermission,
    );
    assert_fails(
        admin
            .call::<ChangeGroupPermissions>(&set_permissions("nope", &[permissions::LIST_USERS]))
            .await,
        404,
        ErrorCode::GroupNotFound,
    );
    assert_eq!(group(&mut admin, "editors").await.unwrap(), editors);

    admin
        .call::<ChangeGroupPermissions>(&set_permissions("editors", &[]))
        .await
        .unwrap();
    assert!(
        group(&mut admin, "editors")
            .await
            .unwrap()
            .permissions
            .is_empty()
    );
    assert!(permissions_of(&mut admin, "bob").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sysop_keeps_the_permissions_to_administer_itself() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let before = group(&mut admin, "sysop").await.unwrap();
    let all_but = |p: &str| -> Vec<&str> { ALL.iter().copied().filter(|q| *q != p).collect() };
    for missing in [
        permissions::SET_GROUP_PERMISSIONS,
        permissions::CHANGE_USER_GROUPS,
    ] {
        assert_fails(
            admin
                .call::<ChangeGroupPermissions>(&set_permissions("sysop", &all_but(missing)))
                .await,
            409,
            ErrorCode::GroupProtected,
        );
    }
    assert_fails(
        admin
            .call::<ChangeGroupPermissions>(&set_permissions("sysop", &[]))
            .await,
        409,
        ErrorCode::GroupProtected,
    );
    assert_eq!(group(&mut admin, "sysop").await.unwrap(), before);

    // Reduced to the minimum, sysop can still restore itself.
    let minimum = [
        permissions::SET_GROUP_PERMISSIONS,
        permissions::CHANGE_USER_GROUPS,
    ];
    admin
        .call::<ChangeGroupPermissions>(&set_permissions("sysop", &minimum))
        .await
        .unwrap();
    assert_fails(
        admin.call::<ListUsers>(&Empty {}).await,
        403,
        ErrorCode::PermissionDenied,
    );
    admin
        .call::<ChangeGroupPermissions>(&set_permissions("sysop", ALL))
        .await
        .unwrap();
    assert!(admin.call::<ListUsers>(&Empty {}).await.is_ok());
    assert_eq!(permissions_of(&mut admin, "admin").await.len(), ALL.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_windows_decide_what_counts_now() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let t = now();
    create_group(&mut admin, "live", &[permissions::CREATE_GROUP]).await;
    create_group(&mut admin, "later", &[permissions::DELETE_GROUP]).await;
    create_group(&mut admin, "over", &[permissions::DELETE_USER]).await;
    admin
        .call::<CreateGroup>(&new_group(
            "windows",
            vec![
                timed(
                    permissions::VIEW_AUDIT_LOGS,
                    Some(t - 60.0),
                    Some(t + 3600.0),
                ),
                timed(permissions::SUPER_SET_PASSWD, Some(t + 3600.0), None),
            ],
        ))
        .await
        .unwrap();
    let req = new_user(
        "wendy",
        vec![
            timed(permissions::LIST_USERS, Some(t - 100.0), Some(t + 3600.0)),
            timed(permissions::LIST_GROUPS, Some(t + 3600.0), None),
            timed(permissions::GET_USER_INFO, Some(t - 100.0), Some(t - 50.0)),
        ],
        vec![
            member("windows"),
            member_during("live", Some(t - 100.0), None),
            member_during("later", Some(t + 3600.0), Some(t + 7200.0)),
            member_during("over", Some(t - 100.0), Some(t - 1.0)),
        ],
    );
    admin.call::<CreateUser>(&req).await.unwrap();

    let info = admin.call::<GetUserInfo>(&named("wendy")).await.unwrap();
    assert_eq!(info.groups, strings(&["live", "windows"]));
    let mut expected = strings(&[
        permissions::CREATE_GROUP,
        permissions::LIST_USERS,
        permissions::VIEW_AUDIT_LOGS,
    ]);
    expected.sort();
    assert_eq!(info.permissions, expected);
    for g in ["later", "over"] {
        assert!(
            group(&mut admin, g).await.unwrap().members.is_empty(),
            "{g}"
        );
    }
    let windows = group(&mut admin, "windows").await.unwrap();
    assert_eq!(
        windows.permissions,
        strings(&[permissions::VIEW_AUDIT_LOGS])
    );

    // The windows are enforced, not just reported.
    let login = login_response(&server, "wendy", USER_PASSWORD, None)
        .await
        .unwrap();
    assert_eq!(login.permissions, expected);
    let wendy = login_as(&server, "wendy", None).await;
    assert!(wendy.call::<ListUsers>(&Empty {}).await.is_ok());
    for (action, data) in [
        ("list_groups", json!({})),
        ("get_user_info", json!({"username": "admin"})),
        ("delete_group", json!({"group_name": "live"})),
        ("delete_user", json!({"username": "admin"})),
    ] {
        let reply = wendy.request(action, data).await;
        assert_eq!(
            (reply.code, reply.data["error"].as_str()),
            (403, Some("permission_denied")),
            "{action}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn windows_open_and_close_with_time() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_group(&mut admin, "soon", &[permissions::LIST_GROUPS]).await;
    let t = now();
    let req = new_user(
        "tim",
        vec![
            timed(permissions::LIST_USERS, Some(t + 1.0), None),
            timed(permissions::GET_USER_INFO, Some(t - 10.0), Some(t + 1.0)),
        ],
        vec![member_during("soon", Some(t + 1.0), Some(t + 3600.0))],
    );
    admin.call::<CreateUser>(&req).await.unwrap();
    let tim = login_as(&server, "tim", None).await;
    assert!(tim.call::<GetUserInfo>(&named("admin")).await.is_ok());
    assert_fails(
        tim.call::<ListUsers>(&Empty {}).await,
        403,
        ErrorCode::PermissionDenied,
    );
    assert_fails(
        tim.call::<ListGroups>(&Empty {}).await,
        403,
        ErrorCode::PermissionDenied,
    );
    // The windows turn one second after `t`.
    let wait = (t + 1.1 - now()).clamp(0.0, 1.1);
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    // The same session, no new login: the windows are evaluated per request.
    assert!(tim.call::<ListUsers>(&Empty {}).await.is_ok());
    assert!(tim.call::<ListGroups>(&Empty {}).await.is_ok());
    assert_fails(
        tim.call::<GetUserInfo>(&named("admin")).await,
        403,
        ErrorCode::PermissionDenied,
    );
    let info = admin.call::<GetUserInfo>(&named("tim")).await.unwrap();
    assert_eq!(info.groups, strings(&["soon"]));
    assert_eq!(
        info.permissions,
        strings(&[permissions::LIST_GROUPS, permissions::LIST_USERS])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_permissions_reach_members_on_their_next_login() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    create_group(&mut admin, "editors", &[]).await;
    admin
        .call::<CreateUser>(&new_user("bob", vec![], vec![member("editors")]))
        .await
        .unwrap();
    let first = login_response(&server, "bob", USER_PASSWORD, None)
        .await
        .unwrap();
    assert_eq!(first.groups, strings(&["editors"]));
    assert!(first.permissions.is_empty());
    let bob = login_as(&server, "bob", None).await;
    assert_fails(
        bob.call::<ListUsers>(&Empty {}).await,
        403,
        ErrorCode::PermissionDenied,
    );

    admin
        .call::<ChangeGroupPermissions>(&set_permissions(
            "editors",
            &[permissions::LIST_USERS, permissions::LIST_GROUPS],
        ))
        .await
        .unwrap();
    let next = login_response(&server, "bob", USER_PASSWORD, None)
        .await
        .unwrap();
    assert_eq!(
        next.permissions,
        strings(&[permissions::LIST_GROUPS, permissions::LIST_USERS])
    );
    // An existing session holds them too: permissions are read per request.
    assert!(bob.call::<ListUsers>(&Empty {}).await.is_ok());

    // A new member receives the group's permissions on their first login.
    create_user(&mut admin, "nina", &[]).await;
    admin
        .call::<ChangeUserGroups>(&set_groups("nina", &["editors"]))
        .await
        .unwrap();
    let nina = login_response(&server, "nina", USER_PASSWORD, None)
        .await
        .unwrap();
    assert_eq!(nina.groups, strings(&["editors"]));
    assert_eq!(nina.permissions, next.permissions);

    // Leaving the group takes them away again.
    admin
        .call::<ChangeUserGroups>(&set_groups("bob", &[]))
        .await
        .unwrap();
    let last = login_response(&server, "bob", USER_PASSWORD, None)
        .await
        .unwrap();
    assert!(
        last.groups.is_empty() && last.permissions.is_empty(),
        "{last:?}"
    );
    assert_fails(
        bob.call::<ListUsers>(&Empty {}).await,
        403,
        ErrorCode::PermissionDenied,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sysop_membership_that_will_end_does_not_count_as_the_last_member() {
    let server = TestServer::start().await;
    let mut admin = server.admin().await;
    let t = now();
    admin
        .call::<CreateUser>(&new_user(
            "temp",
            vec![],
            vec![member_during("sysop", Some(t - 10.0), Some(t + 3600.0))],
        ))
        .await
        .unwrap();
    assert_eq!(
        group(&mut admin, "sysop").await.unwrap().members,
        strings(&["admin", "temp"])
    );
    // Once temp's membership ends, sysop would be empty: the admin must stay.
    assert_fails(
        admin
            .call::<ChangeUserGroups>(&set_groups("admin", &[]))
            .await,
        409,
        ErrorCode::GroupProtected,
    );
    let mut temp = login_as(&server, "temp", None).await;
    assert_fails(
        temp.call::<DeleteUser>(&named("admin")).await,
        409,
        ErrorCode::GroupProtected,
    );
    assert_eq!(
        group(&mut admin, "sysop").await.unwrap().members,
        strings(&["admin", "temp"])
    );
    // A permanent second member lets the admin go.
    admin
        .call::<ChangeUserGroups>(&set_groups("temp", &["sysop"]))
        .await
        .unwrap();
    temp.call::<DeleteUser>(&named("admin")).await.unwrap();
    assert_eq!(usernames(&mut temp).await, strings(&["temp"]));
}
