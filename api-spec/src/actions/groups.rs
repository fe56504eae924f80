//! `create_group`, `delete_group`, `list_groups`, `change_group_permissions`.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::TimedPermission;
use crate::envelope::Empty;
use crate::{Access, permissions};

/// Arguments of `create_group`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    pub group_name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub permissions: Vec<TimedPermission>,
}

/// Names one group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupNameRequest {
    pub group_name: String,
}

/// A group as `list_groups` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupInfo {
    pub name: String,
    pub display_name: Option<String>,
    /// Permissions the group grants now.
    pub permissions: Vec<String>,
    /// Usernames of its current members.
    pub members: Vec<String>,
}

/// What `list_groups` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListGroupsResponse {
    pub groups: Vec<GroupInfo>,
}

/// Arguments of `change_group_permissions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeGroupPermissionsRequest {
    pub group_name: String,
    /// The group's complete new permission list (replaces the old one).
    pub permissions: Vec<String>,
}

action! {
    /// Creates a group in the caller's tenant.
    CreateGroup {
        name: "create_group",
        access: Access::Permission(permissions::CREATE_GROUP),
        audited: true,
        success: "Group created",
        errors: [InvalidGroupName, UnknownPermission, InvalidTimeRange, GroupExists],
        request: CreateGroupRequest,
        response: Empty,
    }
}

action! {
    /// Deletes a group with its memberships and grants.
    DeleteGroup {
        name: "delete_group",
        access: Access::Permission(permissions::DELETE_GROUP),
        audited: true,
        success: "Group deleted",
        errors: [GroupNotFound, GroupProtected],
        request: GroupNameRequest,
        response: Empty,
    }
}

action! {
    /// Lists the tenant's groups with permissions and members.
    ListGroups {
        name: "list_groups",
        access: Access::Permission(permissions::LIST_GROUPS),
        audited: false,
        success: "Group listing successful",
        errors: [],
        request: Empty,
        response: ListGroupsResponse,
    }
}

action! {
    /// Replaces a group's permissions.
    ChangeGroupPermissions {
        name: "change_group_permissions",
        access: Access::Permission(permissions::SET_GROUP_PERMISSIONS),
        audited: true,
        success: "Group permissions changed",
        errors: [GroupNotFound, UnknownPermission, GroupProtected],
        request: ChangeGroupPermissionsRequest,
        response: Empty,
    }
}
