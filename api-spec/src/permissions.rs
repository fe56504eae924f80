//! Permission names. Grants name these strings; a grant of an unknown name is refused with
//! `unknown_permission`, so a typo cannot silently grant nothing.

/// Create, list and inspect tenants (only for users of tenant `default`).
pub const MANAGE_TENANTS: &str = "manage_tenants";
/// Export the tenant to an encrypted backup and manage stored backups.
pub const EXPORT_BACKUP: &str = "export_backup";
/// Import an encrypted backup into the tenant.
pub const IMPORT_BACKUP: &str = "import_backup";
/// Create users.
pub const CREATE_USER: &str = "create_user";
/// Delete users.
pub const DELETE_USER: &str = "delete_user";
/// List the tenant's users.
pub const LIST_USERS: &str = "list_users";
/// See another user's details.
pub const GET_USER_INFO: &str = "get_user_info";
/// Change any user's password without knowing the old one.
pub const SUPER_SET_PASSWD: &str = "super_set_passwd";
/// Replace a user's group memberships.
pub const CHANGE_USER_GROUPS: &str = "change_user_groups";
/// Create groups.
pub const CREATE_GROUP: &str = "create_group";
/// Delete groups.
pub const DELETE_GROUP: &str = "delete_group";
/// List groups with their permissions and members.
pub const LIST_GROUPS: &str = "list_groups";
/// Replace a group's permissions.
pub const SET_GROUP_PERMISSIONS: &str = "set_group_permissions";
/// Read the tenant's audit log.
pub const VIEW_AUDIT_LOGS: &str = "view_audit_logs";

/// Create documents.
pub const CREATE_DOCUMENT: &str = "create_document";
/// Delete documents (with write access).
pub const DELETE_DOCUMENT: &str = "delete_document";
/// Rename documents (with write access).
pub const RENAME_DOCUMENT: &str = "rename_document";
/// Create folders.
pub const CREATE_DIRECTORY: &str = "create_directory";
/// Delete folders (with write access), recursively.
pub const DELETE_DIRECTORY: &str = "delete_directory";
/// Rename folders (with write access).
pub const RENAME_DIRECTORY: &str = "rename_directory";
/// Move documents and folders (with move access, and write access on the target).
pub const MOVE: &str = "move";
/// List any folder regardless of its rules.
pub const SUPER_LIST_DIRECTORY: &str = "super_list_directory";
/// See objects' access rules.
pub const VIEW_ACCESS_RULES: &str = "view_access_rules";
/// Change objects' access rules (with manage access).
pub const SET_ACCESS_RULES: &str = "set_access_rules";
/// Grant and revoke explicit access entries.
pub const MANAGE_ACCESS: &str = "manage_access";
/// List explicit access entries.
pub const VIEW_ACCESS_ENTRIES: &str = "view_access_entries";
/// List a document's revisions.
pub const LIST_REVISIONS: &str = "list_revisions";
/// Download a past revision.
pub const VIEW_REVISION: &str = "view_revision";
/// Make a past revision current.
pub const SET_CURRENT_REVISION: &str = "set_current_revision";

/// Every permission the server knows; the bootstrap `sysop` group holds all of them.
pub const ALL: &[&str] = &[
    MANAGE_TENANTS,
    EXPORT_BACKUP,
    IMPORT_BACKUP,
    CREATE_USER,
    DELETE_USER,
    LIST_USERS,
    GET_USER_INFO,
    SUPER_SET_PASSWD,
    CHANGE_USER_GROUPS,
    CREATE_GROUP,
    DELETE_GROUP,
    LIST_GROUPS,
    SET_GROUP_PERMISSIONS,
    VIEW_AUDIT_LOGS,
    CREATE_DOCUMENT,
    DELETE_DOCUMENT,
    RENAME_DOCUMENT,
    CREATE_DIRECTORY,
    DELETE_DIRECTORY,
    RENAME_DIRECTORY,
    MOVE,
    SUPER_LIST_DIRECTORY,
    VIEW_ACCESS_RULES,
    SET_ACCESS_RULES,
    MANAGE_ACCESS,
    VIEW_ACCESS_ENTRIES,
    LIST_REVISIONS,
    VIEW_REVISION,
    SET_CURRENT_REVISION,
];

/// Permissions the `sysop` group of a tenant other than `default` holds: everything except
/// managing other tenants, which only the operator tenant may do.
pub fn tenant_sysop() -> impl Iterator<Item = &'static str> {
    ALL.iter().copied().filter(|p| *p != MANAGE_TENANTS)
}

/// Whether `name` is a known permission.
pub fn is_known(name: &str) -> bool {
    ALL.contains(&name)
}
