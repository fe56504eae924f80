//! `create_user`, `delete_user`, `list_users`, `get_user_info`, `change_user_groups`.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::TimedPermission;
use crate::envelope::Empty;
use crate::{Access, permissions};

/// A group membership with an optional validity window (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimedMembership {
    pub group_name: String,
    /// Valid from; defaults to now.
    #[serde(default)]
    pub start_time: Option<f64>,
    /// Valid until; open-ended when absent.
    #[serde(default)]
    pub end_time: Option<f64>,
}

/// Arguments of `create_user`.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub nickname: Option<String>,
    /// Permissions granted to the user directly.
    #[serde(default)]
    pub permissions: Vec<TimedPermission>,
    /// Groups the user joins; each must exist and be named once.
    #[serde(default)]
    pub groups: Vec<TimedMembership>,
}

impl std::fmt::Debug for CreateUserRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUserRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Names one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UsernameRequest {
    pub username: String,
}

/// A user as `list_users` and `get_user_info` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserInfo {
    pub username: String,
    pub nickname: Option<String>,
    /// Seconds since the epoch.
    pub created_time: f64,
    /// Seconds since the epoch; null before the first login.
    pub last_login: Option<f64>,
    /// Effective permissions now (direct and through groups).
    pub permissions: Vec<String>,
    /// Groups the user is a member of now.
    pub groups: Vec<String>,
}

/// What `list_users` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListUsersResponse {
    pub users: Vec<UserInfo>,
}

/// Arguments of `change_user_groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeUserGroupsRequest {
    pub username: String,
    /// The user's complete new set of groups (replaces the old one); each must exist.
    pub groups: Vec<String>,
}

action! {
    /// Creates a user in the caller's tenant.
    CreateUser {
        name: "create_user",
        access: Access::Permission(permissions::CREATE_USER),
        audited: true,
        success: "User created",
        errors: [InvalidUsername, WeakPassword, UnknownPermission, InvalidTimeRange, GroupNotFound, UserExists],
        request: CreateUserRequest,
        response: Empty,
    }
}

action! {
    /// Deletes a user, their memberships, grants and sessions.
    DeleteUser {
        name: "delete_user",
        access: Access::Permission(permissions::DELETE_USER),
        audited: true,
        success: "User deleted",
        errors: [UserNotFound, CannotDeleteSelf, GroupProtected],
        request: UsernameRequest,
        response: Empty,
    }
}

action! {
    /// Lists the tenant's users.
    ListUsers {
        name: "list_users",
        access: Access::Permission(permissions::LIST_USERS),
        audited: false,
        success: "User listing successful",
        errors: [],
        request: Empty,
        response: ListUsersResponse,
    }
}

action! {
    /// One user's details.
    GetUserInfo {
        name: "get_user_info",
        access: Access::Authenticated,
        note: "yourself, or anyone with `get_user_info`",
        audited: false,
        success: "User information",
        errors: [UserNotFound],
        request: UsernameRequest,
        response: UserInfo,
    }
}

action! {
    /// Replaces a user's group memberships.
    ChangeUserGroups {
        name: "change_user_groups",
        access: Access::Permission(permissions::CHANGE_USER_GROUPS),
        audited: true,
        success: "User groups changed",
        errors: [UserNotFound, GroupNotFound, GroupProtected],
        request: ChangeUserGroupsRequest,
        response: Empty,
    }
}
