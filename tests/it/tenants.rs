//! Tenants: who may create and list them, slug rules, a new tenant's first admin, names
//! unique per tenant, and that another tenant's users and groups look like missing ones.
use api_spec::ErrorCode;
use api_spec::actions::{
    ChangeGroupPermissions, ChangeGroupPermissionsRequest, ChangeUserGroups,
    ChangeUserGroupsRequest, CreateTenant, CreateTenantRequest, CreateUser, DeleteGroup,
    DeleteUser, GetUserInfo, GroupNameRequest, ListTenants, SetPasswd, SetPasswdRequest,
    UsernameRequest,
};
use api_spec::envelope::Empty;
use api_spec::permissions;
use tests::{ApiFailure, Client, TestServer};

use crate::account_support::{
    TENANT_ADMIN_PASSWORD, USER_PASSWORD, assert_fails, create_group, create_user, group, groups,
    login_as, login_response, member, new_user, now, strings, tenant_admin, user, user_with,
    usernames,
};

fn tenant_req(slug: &str, password: &str) -> CreateTenantRequest {
    CreateTenantRequest {
        tenant: slug.into(),
        display_name: None,
        admin_password: password.into(),
    }
}

async fn tenant_slugs(operator: &mut Client) -> Vec<String> {
    operator
        .call::<ListTenants>(&Empty {})
        .await
        .expect("list tenants")
        .tenants
        .into_iter()
        .map(|t| t.tenant)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_creates_a_tenant_whose_admin_works_at_once() {
    let server = TestServer::start().await;
    let mut operator = server.admin().await;
    let before = now();
    let info = operator
        .call::<CreateTenant>(&CreateTenantRequest {
            display_name: Some("ACME Corp.".into()),
            ..tenant_req("acme", TENANT_ADMIN_PASSWORD)
        })
        .await
        .unwrap();
    assert_eq!(info.tenant, "acme");
    assert_eq!(info.display_name, "ACME Corp.");
    assert!(info.created_time >= before - 1.0 && info.created_time <= now() + 1.0);
    let listed = operator
        .call::<ListTenants>(&Empty {})
        .await
        .unwrap()
        .tenants;
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&info), "{listed:?}");
    assert!(listed.iter().any(|t| t.tenant == "default"));
    // Without a display name, the slug is it.
    let plain = operator
        .call::<CreateTenant>(&tenant_req("plain-2", TENANT_ADMIN_PASSWORD))
        .await
        .unwrap();
    assert_eq!(plain.display_name, "plain-2");

    // The new admin logs in with `tenant` and holds everything but `manage_tenants`.
    let login = login_response(&server, "admin", TENANT_ADMIN_PASSWORD, Some("acme"))
        .await
        .unwrap();
    assert_eq!(login.tenant, "acme");
    assert_eq!(login.groups, strings(&["sysop"]));
    let mut expected: Vec<String> = permissions::tenant_sysop().map(str::to_owned).collect();
    expected.sort();
    assert_eq!(login.permissions, expected);
    assert!(
        !login
            .permissions
            .iter()
            .any(|p| p == permissions::MANAGE_TENANTS)
    );
    // Not in tenant `default`, where `admin` has another password.
    assert_eq!(
        login_response(&server, "admin", TENANT_ADMIN_PASSWORD, None)
            .await
            .unwrap_err()
            .error,
        ErrorCode::InvalidCredentials
    );

    let mut acme = tenant_admin_login(&server, "acme").await;
    assert_eq!(usernames(&mut acme).await, strings(&["admin"]));
    let names: Vec<String> = groups(&mut acme)
        .await
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, strings(&["sysop"]));
    create_group(&mut acme, "staff", &[permissions::LIST_USERS]).await;
    acme.call::<CreateUser>(&new_user("worker", vec![], vec![member("staff")]))
        .await
        .unwrap();
    assert_eq!(usernames(&mut acme).await, strings(&["admin", "worker"]));
    let mut worker = login_as(&server, "worker", Some("acme")).await;
    assert_eq!(usernames(&mut worker).await, strings(&["admin", "worker"]));
    // The operator tenant does not see acme's users.
    assert_eq!(usernames(&mut operator).await, strings(&["admin"]));
}

async fn tenant_admin_login(server: &TestServer, slug: &str) -> Client {
    let mut c = server.client().await;
    c.login("admin", TENANT_ADMIN_PASSWORD, Some(slug))
        .await
        .unwrap();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_tenant_validates_and_refuses_duplicates() {
    let server = TestServer::start().await;
    let mut operator = server.admin().await;
    operator
        .call::<CreateTenant>(&tenant_req("acme", TENANT_ADMIN_PASSWORD))
        .await
        .unwrap();
    let long = "a".repeat(64);
    for slug in [
        "", "a", "Acme", "-acme", "ac_me", "ac me", "acme.io", "ümlaut", "ac/me", &long,
    ] {
        assert_fails(
            operator
                .call::<CreateTenant>(&tenant_req(slug, TENANT_ADMIN_PASSWORD))
                .await,
            400,
            ErrorCode::InvalidTenantSlug,
        );
    }
    assert_fails(
        operator
            .call::<CreateTenant>(&tenant_req("beta", "short"))
            .await,
        400,
        ErrorCode::WeakPassword,
    );
    assert_fails(
        operator
            .call::<CreateTenant>(&CreateTenantRequest {
                display_name: Some("line\nbreak".into()),
                ..tenant_req("beta", TENANT_ADMIN_PASSWORD)
            })
            .await,
        400,
        ErrorCode::InvalidField,
    );
    for slug in ["acme", "default"] {
        assert_fails(
            operator
                .call::<CreateTenant>(&tenant_req(slug, "another-password-9"))
                .await,
            409,
            ErrorCode::TenantExists,
        );
    }
    assert_eq!(
        tenant_slugs(&mut operator).await,
        strings(&["acme", "default"])
    );
    // The duplicates replaced neither admin's password.
    login_response(&server, "admin", TENANT_ADMIN_PASSWORD, Some("acme"))
        .await
        .unwrap();
    for tenant in [Some("acme"), None] {
        assert!(
            login_response(&server, "admin", "another-password-9", tenant)
                .await
                .is_err()
        );
    }
    // The longest and shortest valid slugs.
    let max = format!("9{}", "z".repeat(62));
    for slug in ["b2", max.as_str()] {
        operator
            .call::<CreateTenant>(&tenant_req(slug, TENANT_ADMIN_PASSWORD))
            .await
            .unwrap();
    }
    assert_eq!(tenant_slugs(&mut operator).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_operator_users_with_manage_tenants_manage_tenants() {
    let server = TestServer::start().await;
    let mut operator = server.admin().await;
    let acme = tenant_admin(&server, &mut operator, "acme").await;

    // A default-tenant user without the permission.
    let others: Vec<&str> = permissions::ALL
        .iter()
        .copied()
        .filter(|p| *p != permissions::MANAGE_TENANTS)
        .collect();
    let plain = user_with(&server, &mut operator, "plain", &others).await;
    assert_fails(
        plain
            .call::<CreateTenant>(&tenant_req("beta", TENANT_ADMIN_PASSWORD))
            .await,
        403,
        ErrorCode::PermissionDenied,
    );
    assert_fails(
        plain.call::<ListTenants>(&Empty {}).await,
        403,
        ErrorCode::PermissionDenied,
    );

    // Another tenant's sysop admin, even after granting itself `manage_tenants`.
    for _ in 0..2 {
        assert_fails(
            acme.call::<CreateTenant>(&tenant_req("beta", TENANT_ADMIN_PASSWORD))
                .await,
            403,
            ErrorCode::PermissionDenied,
        );
        assert_fails(
            acme.call::<ListTenants>(&Empty {}).await,
            403,
            ErrorCode::PermissionDenied,
        );
        let all: Vec<String> = permissions::ALL.iter().map(|p| (*p).to_owned()).collect();
        acme.call::<ChangeGroupPermissions>(&ChangeGroupPermissionsRequest {
            group_name: "sysop".into(),
            permissions: all,
        })
        .await
        .unwrap();
    }
    assert_eq!(
        tenant_slugs(&mut operator).await,
        strings(&["acme", "default"])
    );
    assert_eq!(
        login_response(&server, "admin", TENANT_ADMIN_PASSWORD, Some("beta"))
            .await
            .unwrap_err()
            .error,
        ErrorCode::InvalidCredentials
    );

    // In tenant `default`, the permission alone is enough.
    let mut manager = user_with(
        &server,
        &mut operator,
        "manager",
        &[permissions::MANAGE_TENANTS],
    )
    .await;
    manager
        .call::<CreateTenant>(&tenant_req("beta", TENANT_ADMIN_PASSWORD))
        .await
        .unwrap();
    assert_eq!(
        tenant_slugs(&mut manager).await,
        strings(&["acme", "beta", "default"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_unique_per_tenant_only() {
    let server = TestServer::start().await;
    let mut operator = server.admin().await;
    let mut acme = tenant_admin(&server, &mut operator, "acme").await;
    create_group(&mut operator, "editors", &[permissions::LIST_USERS]).await;
    operator
        .call::<CreateUser>(&new_user("alice", vec![], vec![member("editors")]))
        .await
        .unwrap();
    // The same names in acme, with a different password and different grants.
    create_group(&mut acme, "editors", &[permissions::LIST_GROUPS]).await;
    acme.call::<CreateUser>(&api_spec::actions::CreateUserRequest {
        password: "acme-alice-password".into(),
        ..new_user("alice", vec![], vec![member("editors")])
    })
    .await
    .unwrap();
    assert_fails(
        acme.call::<CreateUser>(&new_user("alice", vec![], vec![]))
            .await,
        409,
        ErrorCode::UserExists,
    );

    let home = login_response(&server, "alice", USER_PASSWORD, None)
        .await
        .unwrap();
    assert_eq!(home.permissions, strings(&[permissions::LIST_USERS]));
    let away = login_response(&server, "alice", "acme-alice-password", Some("acme"))
        .await
        .unwrap();
    assert_eq!(away.permissions, strings(&[permissions::LIST_GROUPS]));
    assert!(
        login_response(&server, "alice", USER_PASSWORD, Some("acme"))
            .await
            .is_err()
    );
    assert!(
        login_response(&server, "alice", "acme-alice-password", None)
            .await
            .is_err()
    );

    // Deleting one tenant's alice and editors leaves the other's alone.
    acme.call::<DeleteUser>(&UsernameRequest {
        username: "alice".into(),
    })
    .await
    .unwrap();
    acme.call::<DeleteGroup>(&GroupNameRequest {
        group_name: "editors".into(),
    })
    .await
    .unwrap();
    let alice = user(&mut operator, "alice").await.unwrap();
    assert_eq!(alice.groups, strings(&["editors"]));
    assert_eq!(
        group(&mut operator, "editors").await.unwrap().members,
        strings(&["alice"])
    );
    login_as(&server, "alice", None).await;
}

/// Asserts that `other` (about another tenant's object) and `missing` (about no object)
/// are the same failure, with `error`.
#[track_caller]
fn same_as_missing<T: std::fmt::Debug>(
    what: &str,
    other: Result<T, ApiFailure>,
    missing: Result<T, ApiFailure>,
    error: ErrorCode,
) {
    let other = other.expect_err(what);
    let missing = missing.expect_err(what);
    assert_eq!(other.error, error, "{what}: {other:?}");
    assert_eq!(other, missing, "{what}");
}

/// Tries every user and group action on `foreign` names (which exist only in the other
/// tenant) and on names that exist nowhere; each pair must answer alike.
async fn probe(c: &mut Client, foreign_user: &str, foreign_group: &str) {
    let uname = |n: &str| UsernameRequest { username: n.into() };
    let gname = |n: &str| GroupNameRequest {
        group_name: n.into(),
    };
    let regroup = |u: &str, g: &[&str]| ChangeUserGroupsRequest {
        username: u.into(),
        groups: strings(g),
    };
    let regrant = |g: &str| ChangeGroupPermissionsRequest {
        group_name: g.into(),
        permissions: strings(&[permissions::LIST_USERS]),
    };
    let reset = |u: &str| SetPasswdRequest {
        username: u.into(),
        old_passwd: None,
        new_passwd: "hijacked-password".into(),
    };
    let (fu, fg) = (foreign_user, foreign_group);
    same_as_missing(
        "get_user_info",
        c.call::<GetUserInfo>(&uname(fu)).await,
        c.call::<GetUserInfo>(&uname("ghost")).await,
        ErrorCode::UserNotFound,
    );
    same_as_missing(
        "delete_user",
        c.call::<DeleteUser>(&uname(fu)).await,
        c.call::<DeleteUser>(&uname("ghost")).await,
        ErrorCode::UserNotFound,
    );
    same_as_missing(
        "change_user_groups (user)",
        c.call::<ChangeUserGroups>(&regroup(fu, &[])).await,
        c.call::<ChangeUserGroups>(&regroup("ghost", &[])).await,
        ErrorCode::UserNotFound,
    );
    same_as_missing(
        "change_user_groups (group)",
        c.call::<ChangeUserGroups>(&regroup("local", &[fg])).await,
        c.call::<ChangeUserGroups>(&regroup("local", &["nogroup"]))
            .await,
        ErrorCode::GroupNotFound,
    );
    same_as_missing(
        "create_user (group)",
        c.call::<CreateUser>(&new_user("newcomer", vec![], vec![member(fg)]))
            .await,
        c.call::<CreateUser>(&new_user("newcomer", vec![], vec![member("nogroup")]))
            .await,
        ErrorCode::GroupNotFound,
    );
    same_as_missing(
        "delete_group",
        c.call::<DeleteGroup>(&gname(fg)).await,
        c.call::<DeleteGroup>(&gname("nogroup")).await,
        ErrorCode::GroupNotFound,
    );
    same_as_missing(
        "change_group_permissions",
        c.call::<ChangeGroupPermissions>(&regrant(fg)).await,
        c.call::<ChangeGroupPermissions>(&regrant("nogroup")).await,
        ErrorCode::GroupNotFound,
    );
    same_as_missing(
        "set_passwd",
        c.call::<SetPasswd>(&reset(fu)).await,
        c.call::<SetPasswd>(&reset("ghost")).await,
        ErrorCode::UserNotFound,
    );
    // Listings show only the caller's tenant.
    let names = usernames(c).await;
    assert!(!names.iter().any(|n| n == fu), "{names:?}");
    assert!(names.iter().any(|n| n == "local"), "{names:?}");
    let group_names: Vec<String> = groups(c).await.into_iter().map(|g| g.name).collect();
    assert!(!group_names.iter().any(|n| n == fg), "{group_names:?}");
    assert!(
        groups(c)
            .await
            .iter()
            .all(|g| !g.members.iter().any(|m| m == fu))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_users_and_groups_look_like_missing_ones() {
    let server = TestServer::start().await;
    let mut operator = server.admin().await;
    let mut acme = tenant_admin(&server, &mut operator, "acme").await;
    // Tenant default: dora in finance; acme: rhea in research. Each has a user `local`.
    create_group(&mut operator, "finance", &[permissions::LIST_GROUPS]).await;
    operator
        .call::<CreateUser>(&new_user("dora", vec![], vec![member("finance")]))
        .await
        .unwrap();
    create_user(&mut operator, "local", &[]).await;
    create_group(&mut acme, "research", &[permissions::LIST_USERS]).await;
    acme.call::<CreateUser>(&new_user("rhea", vec![], vec![member("research")]))
        .await
        .unwrap();
    create_user(&mut acme, "local", &[]).await;
    let dora_before = user(&mut operator, "dora").await.unwrap();
    let finance_before = group(&mut operator, "finance").await.unwrap();
    let rhea_before = user(&mut acme, "rhea").await.unwrap();
    let research_before = group(&mut acme, "research").await.unwrap();

    probe(&mut acme, "dora", "finance").await;
    probe(&mut operator, "rhea", "research").await;

    // Nothing of the other tenant changed, and the probes' own side effects stayed home.
    assert_eq!(user(&mut operator, "dora").await.unwrap(), dora_before);
    assert_eq!(
        group(&mut operator, "finance").await.unwrap(),
        finance_before
    );
    assert_eq!(user(&mut acme, "rhea").await.unwrap(), rhea_before);
    assert_eq!(group(&mut acme, "research").await.unwrap(), research_before);
    login_as(&server, "dora", None).await;
    login_as(&server, "rhea", Some("acme")).await;
    for tenant in [None, Some("acme")] {
        assert!(
            login_response(
                &server,
                if tenant.is_some() { "rhea" } else { "dora" },
                "hijacked-password",
                tenant
            )
            .await
            .is_err()
        );
    }
}
