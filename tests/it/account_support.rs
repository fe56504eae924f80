//! Helpers shared by the account, tenant, audit and listener tests.
use std::fmt::Debug;

use api_spec::ErrorCode;
use api_spec::actions::{
    CreateGroup, CreateGroupRequest, CreateTenant, CreateTenantRequest, CreateUser,
    CreateUserRequest, GroupInfo, ListGroups, ListUsers, Login, LoginRequest, LoginResponse,
    TimedMembership, TimedPermission, UserInfo,
};
use api_spec::envelope::Empty;
use tests::{ApiFailure, Client, TestServer};

pub use crate::support::USER_PASSWORD;
/// Password of the `admin` of every tenant the helpers create.
pub const TENANT_ADMIN_PASSWORD: &str = "tenant-admin-password-1";

/// Now, in wire seconds.
pub fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// An open-ended grant of `permission`, from now on.
pub fn perm(permission: &str) -> TimedPermission {
    timed(permission, None, None)
}

/// A grant of `permission` valid from `start` until `end` (wire seconds).
pub fn timed(permission: &str, start: Option<f64>, end: Option<f64>) -> TimedPermission {
    TimedPermission {
        permission: permission.into(),
        start_time: start,
        end_time: end,
    }
}

/// An open-ended membership of `group`, from now on.
pub fn member(group: &str) -> TimedMembership {
    member_during(group, None, None)
}

/// A membership of `group` valid from `start` until `end`.
pub fn member_during(group: &str, start: Option<f64>, end: Option<f64>) -> TimedMembership {
    TimedMembership {
        group_name: group.into(),
        start_time: start,
        end_time: end,
    }
}

/// A `create_user` request with the helpers' password.
pub fn new_user(
    username: &str,
    permissions: Vec<TimedPermission>,
    groups: Vec<TimedMembership>,
) -> CreateUserRequest {
    CreateUserRequest {
        username: username.into(),
        password: USER_PASSWORD.into(),
        nickname: None,
        permissions,
        groups,
    }
}

/// Creates a user holding `permissions` (open-ended) and no groups.
pub async fn create_user(admin: &mut Client, username: &str, permissions: &[&str]) {
    let permissions = permissions.iter().map(|p| perm(p)).collect();
    admin
        .call::<CreateUser>(&new_user(username, permissions, vec![]))
        .await
        .unwrap_or_else(|e| panic!("create user {username}: {e:?}"));
}

/// Creates a group holding `permissions` (open-ended).
pub async fn create_group(admin: &mut Client, name: &str, permissions: &[&str]) {
    let req = CreateGroupRequest {
        group_name: name.into(),
        display_name: None,
        permissions: permissions.iter().map(|p| perm(p)).collect(),
    };
    admin
        .call::<CreateGroup>(&req)
        .await
        .unwrap_or_else(|e| panic!("create group {name}: {e:?}"));
}

/// A client logged in as `username` (helpers' password) in `tenant`.
pub async fn login_as(server: &TestServer, username: &str, tenant: Option<&str>) -> Client {
    let mut c = server.client().await;
    c.login(username, USER_PASSWORD, tenant)
        .await
        .unwrap_or_else(|e| panic!("login {username}: {e:?}"));
    c
}

/// Creates a user holding `permissions` and returns a client logged in as them.
pub async fn user_with(
    server: &TestServer,
    admin: &mut Client,
    username: &str,
    permissions: &[&str],
) -> Client {
    create_user(admin, username, permissions).await;
    login_as(server, username, None).await
}

/// The raw `login` response for `username` in `tenant`.
pub async fn login_response(
    server: &TestServer,
    username: &str,
    password: &str,
    tenant: Option<&str>,
) -> Result<LoginResponse, ApiFailure> {
    let c = server.client().await;
    c.call::<Login>(&LoginRequest {
        username: username.into(),
        password: password.into(),
        tenant: tenant.map(Into::into),
    })
    .await
}

/// Creates tenant `slug` (as an operator) and returns a client logged in as its `admin`.
pub async fn tenant_admin(server: &TestServer, operator: &mut Client, slug: &str) -> Client {
    operator
        .call::<CreateTenant>(&CreateTenantRequest {
            tenant: slug.into(),
            display_name: None,
            admin_password: TENANT_ADMIN_PASSWORD.into(),
        })
        .await
        .unwrap_or_else(|e| panic!("create tenant {slug}: {e:?}"));
    let mut c = server.client().await;
    c.login("admin", TENANT_ADMIN_PASSWORD, Some(slug))
        .await
        .unwrap_or_else(|e| panic!("login as admin of {slug}: {e:?}"));
    c
}

/// Asserts that `result` failed with exactly this status and error code.
#[track_caller]
pub fn assert_fails<T: Debug>(
    result: Result<T, ApiFailure>,
    code: u16,
    error: ErrorCode,
) -> ApiFailure {
    match result {
        Ok(v) => panic!("expected {code} {error:?}, got success: {v:?}"),
        Err(e) => {
            assert_eq!(
                (e.code, e.error),
                (code, error),
                "unexpected failure: {e:?}"
            );
            e
        }
    }
}

/// Every user of the caller's tenant.
pub async fn users(c: &mut Client) -> Vec<UserInfo> {
    c.call::<ListUsers>(&Empty {})
        .await
        .expect("list users")
        .users
}

/// Usernames of the caller's tenant, sorted.
pub async fn usernames(c: &mut Client) -> Vec<String> {
    let mut names: Vec<String> = users(c).await.into_iter().map(|u| u.username).collect();
    names.sort();
    names
}

/// Every group of the caller's tenant.
pub async fn groups(c: &mut Client) -> Vec<GroupInfo> {
    c.call::<ListGroups>(&Empty {})
        .await
        .expect("list groups")
        .groups
}

/// One group of the caller's tenant, if it exists.
pub async fn group(c: &mut Client, name: &str) -> Option<GroupInfo> {
    groups(c).await.into_iter().find(|g| g.name == name)
}

/// One user of the caller's tenant, if it exists.
pub async fn user(c: &mut Client, name: &str) -> Option<UserInfo> {
    users(c).await.into_iter().find(|u| u.username == name)
}

/// Strings, for comparing with `Vec<String>` fields.
pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}
