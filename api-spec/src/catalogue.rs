//! The action catalogue: for every action, its request and response schema, who may call it,
//! and the error codes it can answer with (beyond the protocol-level ones every action can
//! return, [`PROTOCOL_ERRORS`] and [`AUTH_ERRORS`]).
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

use crate::ErrorCode;

/// Who may call an action. The server's dispatcher enforces this before the action runs;
/// actions with finer rules (e.g. "yourself, or with a permission") say so in `NOTE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// Any user with a valid token.
    Authenticated,
    /// A user with a valid token holding this permission.
    Permission(&'static str),
}

impl Access {
    /// The permission this access level needs, if any.
    pub fn permission(self) -> Option<&'static str> {
        match self {
            Access::Permission(p) => Some(p),
            Access::Public | Access::Authenticated => None,
        }
    }
}

/// Errors any request can get before its action runs.
pub const PROTOCOL_ERRORS: &[ErrorCode] = &[
    ErrorCode::MalformedJson,
    ErrorCode::NotAnObject,
    ErrorCode::InvalidEnvelope,
    ErrorCode::MissingAction,
    ErrorCode::UnknownAction,
    ErrorCode::UnknownField,
    ErrorCode::MissingField,
    ErrorCode::InvalidField,
    ErrorCode::Busy,
    ErrorCode::Internal,
];

/// Errors any non-public action can get from the dispatcher's access check.
pub const AUTH_ERRORS: &[ErrorCode] = &[
    ErrorCode::AuthenticationRequired,
    ErrorCode::InvalidToken,
    ErrorCode::PermissionDenied,
];

/// The static description of one action; implemented on a marker type per action.
pub trait ActionSpec: 'static {
    /// Wire name, e.g. `list_users`.
    const NAME: &'static str;
    /// Who may call it.
    const ACCESS: Access;
    /// Extra access rules beyond `ACCESS`, for the catalogue; empty when none.
    const NOTE: &'static str = "";
    /// Whether calls are written to the tenant's audit log.
    const AUDITED: bool;
    /// The reply `message` on success.
    const SUCCESS: &'static str;
    /// Action-specific error codes it can answer with.
    const ERRORS: &'static [ErrorCode];
    /// The typed `data` of the request.
    type Request: DeserializeOwned + Serialize + ToSchema;
    /// The typed `data` of a 200 reply.
    type Response: DeserializeOwned + Serialize + ToSchema;
}

/// One catalogue row, as data.
#[derive(Debug, Clone)]
pub struct ActionInfo {
    pub name: &'static str,
    pub access: Access,
    pub note: &'static str,
    pub audited: bool,
    pub request: String,
    pub response: String,
    pub errors: &'static [ErrorCode],
}

impl ActionInfo {
    /// The row for action `A`.
    pub fn of<A: ActionSpec>() -> Self {
        Self {
            name: A::NAME,
            access: A::ACCESS,
            note: A::NOTE,
            audited: A::AUDITED,
            request: <A::Request as ToSchema>::name().into_owned(),
            response: <A::Response as ToSchema>::name().into_owned(),
            errors: A::ERRORS,
        }
    }
}

/// Something that wants to see every action's spec type (generic closures do not exist).
pub trait ActionVisitor {
    fn visit<A: ActionSpec>(&mut self);
}

/// Shows `visitor` every action of the protocol, in protocol order. This is the one list of
/// actions: the catalogue, the OpenAPI components and the server's registry test all walk it.
pub fn visit_actions(visitor: &mut impl ActionVisitor) {
    use crate::actions::*;
    visitor.visit::<ServerInfo>();
    visitor.visit::<Login>();
    visitor.visit::<RefreshToken>();
    visitor.visit::<Logout>();
    visitor.visit::<SetPasswd>();
    visitor.visit::<RegisterListener>();
    visitor.visit::<CreateTenant>();
    visitor.visit::<ListTenants>();
    visitor.visit::<CreateUser>();
    visitor.visit::<DeleteUser>();
    visitor.visit::<ListUsers>();
    visitor.visit::<GetUserInfo>();
    visitor.visit::<ChangeUserGroups>();
    visitor.visit::<CreateGroup>();
    visitor.visit::<DeleteGroup>();
    visitor.visit::<ListGroups>();
    visitor.visit::<ChangeGroupPermissions>();
    visitor.visit::<ViewAuditLogs>();
    visitor.visit::<ListDirectory>();
    visitor.visit::<GetDirectoryInfo>();
    visitor.visit::<CreateDirectory>();
    visitor.visit::<RenameDirectory>();
    visitor.visit::<MoveDirectory>();
    visitor.visit::<DeleteDirectory>();
    visitor.visit::<GetDirectoryAccessRules>();
    visitor.visit::<SetDirectoryRules>();
    visitor.visit::<CreateDocument>();
    visitor.visit::<GetDocumentInfo>();
    visitor.visit::<GetDocument>();
    visitor.visit::<UploadDocument>();
    visitor.visit::<RenameDocument>();
    visitor.visit::<MoveDocument>();
    visitor.visit::<DeleteDocument>();
    visitor.visit::<GetDocumentAccessRules>();
    visitor.visit::<SetDocumentRules>();
    visitor.visit::<ListRevisions>();
    visitor.visit::<GetRevision>();
    visitor.visit::<SetCurrentRevision>();
    visitor.visit::<GrantAccess>();
    visitor.visit::<RevokeAccess>();
    visitor.visit::<ViewAccessEntries>();
    visitor.visit::<Search>();
    visitor.visit::<UploadFile>();
    visitor.visit::<DownloadFile>();
    visitor.visit::<GenerateBackup>();
    visitor.visit::<GetBackupExportStatus>();
    visitor.visit::<ListBackups>();
    visitor.visit::<GetBackupDownload>();
    visitor.visit::<DeleteBackup>();
    visitor.visit::<VerifyBackup>();
    visitor.visit::<GetBackupPolicy>();
    visitor.visit::<SetBackupPolicy>();
    visitor.visit::<PruneBackups>();
    visitor.visit::<InitiateBackupImport>();
    visitor.visit::<StartBackupImport>();
    visitor.visit::<RestoreBackup>();
    visitor.visit::<GetBackupImportStatus>();
    visitor.visit::<CancelBackupImport>();
}

/// Every action's catalogue row, in protocol order.
pub fn catalogue() -> Vec<ActionInfo> {
    struct Rows(Vec<ActionInfo>);
    impl ActionVisitor for Rows {
        fn visit<A: ActionSpec>(&mut self) {
            self.0.push(ActionInfo::of::<A>());
        }
    }
    let mut rows = Rows(Vec::new());
    visit_actions(&mut rows);
    rows.0
}
