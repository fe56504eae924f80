//! The closed set of error codes a client can receive.
//!
//! Rules: every non-200 reply carries `data.error` with one of these codes; a code's meaning
//! and status never change once released (add a new code instead); a code names what went
//! wrong from the client's point of view, never an internal cause; a 500 carries `internal`
//! and a `log_id` to quote to an operator. Another tenant's object is always a plain
//! `*_not_found`, so a code never reveals what exists elsewhere.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = $status:literal, $message:literal; )*) => {
        /// A stable, machine-readable error code (snake_case on the wire).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];

            /// The reply `code` this error is sent with.
            pub fn status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }

            /// The default human sentence for the reply's `message`.
            pub fn message(self) -> &'static str {
                match self { $(ErrorCode::$variant => $message,)* }
            }
        }
    };
}

error_codes! {
    /// The message is not valid JSON.
    MalformedJson = 400, "The request is not valid JSON";
    /// The message is JSON but not an object.
    NotAnObject = 400, "The request must be a JSON object";
    /// An envelope field has the wrong type, or the envelope has an unknown field.
    InvalidEnvelope = 400, "The request envelope is invalid";
    /// The envelope has no `action`.
    MissingAction = 400, "No action specified in request";
    /// No action has that name.
    UnknownAction = 400, "Unknown action";
    /// `data` has a field the action does not take.
    UnknownField = 400, "The request data has an unknown field";
    /// `data` lacks a required field.
    MissingField = 400, "The request data lacks a required field";
    /// A `data` field has the wrong type or an out-of-range value (an integer above
    /// 2^63−1, the most a database column holds, included); `field` is the path to it,
    /// e.g. `offset` or `permissions[0].start_time`.
    InvalidField = 400, "A request data field is invalid";
    /// The action needs `username` and `token` in the envelope.
    AuthenticationRequired = 401, "Authentication required";
    /// The token is unknown, expired, revoked, or not the named user's.
    InvalidToken = 401, "Invalid user or token";
    /// Wrong tenant, username or password at login (deliberately not told apart).
    InvalidCredentials = 401, "Invalid credentials";
    /// Too many failed logins; retry after `data.retry_after` seconds.
    TooManyAttempts = 429, "Too many failed attempts; try again later";
    /// The client's address holds as many WebSocket connections as the server allows one
    /// address (`max_connections_per_address`); the upgrade is refused with HTTP 429.
    TooManyConnections = 429, "Too many connections from this address";
    /// A browser asked for a WebSocket from a page of another origin than the server's own
    /// (or one of `allowed_origins`); the upgrade is refused with HTTP 403.
    OriginNotAllowed = 403, "A page of another site may not open a session here";
    /// The caller lacks the permission the action needs.
    PermissionDenied = 403, "Access denied";
    /// The old password given to `set_passwd` is wrong.
    WrongPassword = 403, "The old password is wrong";
    /// A username must be 1–64 characters of letters, digits, `.`, `_`, `-` or `@`.
    InvalidUsername = 400, "Invalid username";
    /// A password must be 8–256 characters and differ from the username.
    WeakPassword = 400, "The password does not meet the password policy";
    /// The new password equals the old one.
    PasswordUnchanged = 400, "The new password must differ from the old one";
    /// A tenant slug must be 2–63 characters of `a-z`, `0-9` and `-`, starting alphanumeric.
    InvalidTenantSlug = 400, "Invalid tenant name";
    /// A group name must be 1–64 characters of letters, digits, `.`, `_` or `-`.
    InvalidGroupName = 400, "Invalid group name";
    /// A permission name is not one the server knows.
    UnknownPermission = 400, "Unknown permission";
    /// An `end_time` is before its `start_time`, or a time is negative.
    InvalidTimeRange = 400, "Invalid time range";
    /// A user cannot delete their own account.
    CannotDeleteSelf = 400, "You cannot delete yourself";
    /// No such user in the caller's tenant.
    UserNotFound = 404, "User not found";
    /// No such group in the caller's tenant.
    GroupNotFound = 404, "Group not found";
    /// A user with that name already exists in the tenant.
    UserExists = 409, "A user with that name already exists";
    /// A group with that name already exists in the tenant.
    GroupExists = 409, "A group with that name already exists";
    /// A tenant with that name already exists.
    TenantExists = 409, "A tenant with that name already exists";
    /// The `sysop` group cannot be deleted, lose a permission it needs, or lose its last member.
    GroupProtected = 409, "The sysop group must keep its permissions and at least one member";
    /// No such folder in the caller's tenant.
    FolderNotFound = 404, "Directory not found";
    /// No such document in the caller's tenant.
    DocumentNotFound = 404, "Document not found";
    /// No such revision of that document.
    RevisionNotFound = 404, "Revision not found";
    /// The document has no content yet (its first upload has not completed).
    NoRevision = 404, "No active revisions found for this document";
    /// No such transfer task for this user in this tenant.
    TaskNotFound = 404, "Transfer task not found";
    /// No such access entry in the caller's tenant.
    EntryNotFound = 404, "Access entry not found";
    /// The object's access rules do not allow this to the caller.
    AccessDenied = 403, "Access denied by the object's access rules";
    /// The new rules would deny the caller an access type they set; nothing was changed.
    WouldLockOut = 403, "These rules would lock you out";
    /// A folder or document of that name already exists there (`data.id`, `data.object_type`).
    NameConflict = 409, "An object with that name already exists in the directory";
    /// Names are 1–255 characters without slashes, backslashes or control characters, and not `.` or `..`.
    InvalidName = 400, "Invalid name";
    /// Access rules that do not follow the rule format.
    InvalidRules = 400, "Invalid access rules";
    /// A folder cannot move into itself or below itself.
    MoveCycle = 400, "A directory cannot move into its own subtree";
    /// Folders nest at most `data.max_depth` deep (a top-level folder is at depth 1): a
    /// folder created, moved or imported deeper is refused and nothing changes; so is
    /// anything placed in, or whose access check must walk above, a folder already lying
    /// deeper (only data made before the limit can).
    DepthLimitExceeded = 400, "The folder tree would be deeper than the server allows";
    /// The task's deadline has passed.
    TaskExpired = 408, "The transfer task has expired";
    /// The task is of the other kind (upload vs download), or already completed.
    TaskNotUsable = 400, "The transfer task cannot be used for this";
    /// The upload's byte count differs from the declared size; the partial data was removed.
    SizeMismatch = 400, "File size mismatch";
    /// The upload's SHA-256 differs from the declared one; the partial data was removed.
    HashMismatch = 400, "SHA-256 mismatch";
    /// A resume offset beyond the bytes received so far, or a malformed range.
    InvalidOffset = 400, "Invalid offset or range";
    /// HTTP download: the `Range` starts at or beyond the end of the file (HTTP 416, with
    /// `Content-Range: bytes */SIZE`).
    RangeNotSatisfiable = 416, "The requested range is not satisfiable";
    /// A declared size beyond the server's upload limit.
    TooLarge = 413, "The file is larger than the server accepts";
    /// The client stopped sending in the middle of a transfer.
    TransferTimeout = 408, "The transfer stalled";
    /// No such backup in the caller's tenant.
    BackupNotFound = 404, "Backup not found";
    /// The backup's export has not completed (or failed).
    BackupNotReady = 409, "The backup is not ready";
    /// No such job (export or import) in the caller's tenant.
    JobNotFound = 404, "Job not found";
    /// Export: a file's blob is missing from the store (`data.id` names the file).
    BackupBlobMissing = 500, "A file's stored bytes are missing; the backup was not written";
    /// The data is not a Coffer backup archive (no `COFFERBK` magic).
    BackupNotAnArchive = 400, "Not a Coffer backup archive";
    /// The archive needs a newer reader.
    BackupUnsupportedVersion = 400, "The archive needs a newer Coffer";
    /// A link of an incremental backup's chain is missing, is another archive than the
    /// link after it names, or was altered (`data.backup_id`: that link).
    BackupChainBroken = 400, "A backup this incremental backup builds on is missing or damaged";
    /// An incremental backup builds on this one, so it cannot go before that one does
    /// (`data.backup_id`: that backup).
    BackupNeeded = 409, "Another backup builds on this one; delete that one first";
    /// A copy job's append-only destination already holds other bytes under the backup's
    /// name, which Coffer may not overwrite.
    BackupCopyRefused = 409, "An append-only destination holds other bytes under this backup's name";
    /// The server keeps this backup's key file sealed with a master key it does not have:
    /// `master_key_file` is not the key the server had when it made the backup.
    BackupKeyUnavailable = 503, "The server lacks the master key that sealed this backup's key";
    /// The archive header fails its MAC or has a field out of range.
    BackupHeaderInvalid = 400, "The archive header is invalid";
    /// The key is not this archive's key.
    BackupWrongKey = 400, "The key does not belong to this archive";
    /// The key file is malformed.
    BackupKeyInvalid = 400, "The key file is invalid";
    /// The key file is passphrase-protected and no passphrase was given.
    BackupPassphraseRequired = 400, "The key file needs its passphrase";
    /// The passphrase does not unlock the key file.
    BackupWrongPassphrase = 400, "Wrong passphrase for the key file";
    /// The key file is wrapped to recipients (a write-only backup): give an identity.
    BackupIdentityRequired = 400, "The key file needs an identity of one of its recipients";
    /// The identity given is none of the key file's recipients'.
    BackupWrongIdentity = 400, "The identity does not open the key file";
    /// The key file's passphrase wrapping asks argon2id for more memory or iterations than
    /// the server pays for one unlock (`data.max_memory_kib`, `data.max_iterations`);
    /// refused before any of that work, and the job stays pending.
    KeyCostTooHigh = 400, "The key file asks for more key-derivation work than the server allows";
    /// A segment fails its MAC: the archive was altered or corrupted.
    BackupMacMismatch = 400, "The archive was altered or corrupted";
    /// A segment authenticates only at another position: segments were swapped or duplicated.
    BackupSegmentOutOfOrder = 400, "The archive's segments are out of order";
    /// The archive ends before its final segment.
    BackupTruncated = 400, "The archive is truncated";
    /// There are bytes after the final segment.
    BackupTrailingData = 400, "The archive has data after its end";
    /// A tar member or manifest line that breaks the format.
    BackupManifestInvalid = 400, "The archive's contents break the format";
    /// The manifest counts differ from the archive's members.
    BackupManifestMismatch = 400, "The archive's contents do not match its manifest";
    /// A blob's bytes do not match its SHA-256 name or recorded size.
    BackupBlobMismatch = 400, "A file in the archive does not match its checksum";
    /// The job is not in a state that allows this (e.g. starting an import twice).
    JobStateConflict = 409, "The job is not in a state that allows this";
    /// The job's server stopped while it ran; nothing of it was kept.
    JobInterrupted = 500, "The server stopped while the job ran; nothing of it was kept";
    /// `start_backup_import` after the import's deadline: the job has timed out.
    ImportDeadlinePassed = 408, "The import's deadline has passed";
    /// `start_backup_import` before both uploads (archive and key) completed.
    ImportUploadsIncomplete = 409, "Upload the archive and the key first";
    /// `restore` needs a tenant without folders or documents.
    ImportTargetNotEmpty = 409, "The tenant is not empty; use mode merge";
    /// `merge` with `on_conflict: fail` met a name already taken at the top level.
    ImportNameConflict = 409, "An imported name is already taken";
    /// A legacy CFMS archive (unauthenticated) without `allow_legacy: true`.
    ImportLegacyNotAllowed = 400, "Legacy CFMS archives need allow_legacy";
    /// The archive refers to something it does not contain (a folder, file or revision).
    ImportReferenceInvalid = 400, "The archive refers to something it does not contain";
    /// A path in an import's `select` names no folder or document of the archive (the
    /// path is in `data.id`).
    ImportSelectionNotFound = 404, "A selected path is not in the backup";
    /// A database lock the request needed was not free in time (another write held it);
    /// nothing changed. Retry after `data.retry_after` seconds.
    Busy = 503, "The server is busy; try again shortly";
    /// Something failed inside the server; quote `data.log_id` to an operator.
    Internal = 500, "Internal server error";
}

/// The `data` of every non-200 reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorData {
    /// What went wrong.
    pub error: ErrorCode,
    /// The request field the error is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// On `internal` errors: an id to find the server-side log entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_id: Option<String>,
    /// On `too_many_attempts` and `busy`: seconds until a new attempt may succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// On `name_conflict`: the id of the object already holding the name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// On `name_conflict`: `folder` or `document`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_type: Option<String>,
    /// On upload errors: the bytes the server holds for the task, to resume from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<u64>,
    /// On `depth_limit_exceeded`: how deep folders may nest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<u32>,
    /// On `key_cost_too_high`: the most argon2id memory (KiB) the server spends on one unlock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory_kib: Option<u32>,
    /// On `key_cost_too_high`: the most argon2id iterations the server runs for one unlock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u32>,
    /// On `backup_chain_broken`: the link of the chain at fault; on `backup_needed`: the
    /// backup that builds on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_id: Option<String>,
}

impl ErrorData {
    /// Error data carrying only a code.
    pub fn new(error: ErrorCode) -> Self {
        Self {
            error,
            field: None,
            log_id: None,
            retry_after: None,
            id: None,
            object_type: None,
            received: None,
            max_depth: None,
            max_memory_kib: None,
            max_iterations: None,
            backup_id: None,
        }
    }
}
