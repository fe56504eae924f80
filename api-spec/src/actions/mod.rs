//! Per-action request and response types, grouped by area, with one marker type per action
//! implementing [`crate::ActionSpec`].

/// Declares an action's marker type and its [`crate::ActionSpec`].
macro_rules! action {
    (
        $(#[doc = $doc:literal])*
        $marker:ident {
            name: $name:literal,
            access: $access:expr,
            $(note: $note:literal,)?
            audited: $audited:literal,
            success: $success:literal,
            errors: [$($err:ident),* $(,)?],
            request: $req:ty,
            response: $resp:ty $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $marker;

        impl $crate::ActionSpec for $marker {
            const NAME: &'static str = $name;
            const ACCESS: $crate::Access = $access;
            $(const NOTE: &'static str = $note;)?
            const AUDITED: bool = $audited;
            const SUCCESS: &'static str = $success;
            const ERRORS: &'static [$crate::ErrorCode] = &[$($crate::ErrorCode::$err),*];
            type Request = $req;
            type Response = $resp;
        }
    };
}

mod access;
mod audit;
mod auth;
mod backups;
mod directories;
mod documents;
mod groups;
mod imports;
mod meta;
mod revisions;
mod tenants;
mod transfers;
mod users;

pub use access::*;
pub use audit::*;
pub use auth::*;
pub use backups::*;
pub use directories::*;
pub use documents::*;
pub use groups::*;
pub use imports::*;
pub use meta::*;
pub use revisions::*;
pub use tenants::*;
pub use transfers::*;
pub use users::*;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Access rules by type (`read`, `write`, `move`, `manage`), each a list of CFMS rules
/// (`{match, match_groups: [{match?, rights?: {match, require}, groups?: {match, require}}]}`).
pub type AccessRules = BTreeMap<String, Vec<Value>>;

/// An object's rules and whether its parent's rules apply too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ObjectRulesResponse {
    #[schema(value_type = Object)]
    pub rules: AccessRules,
    pub inherit: bool,
}

/// A transfer task, as actions hand it out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskData {
    pub task_id: String,
    /// Seconds since the epoch.
    pub start_time: f64,
    /// Deadline, in seconds since the epoch.
    pub end_time: f64,
    /// For downloads: the file's size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// For downloads: the file's SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// A permission or membership with an optional validity window (seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimedPermission {
    /// Permission name.
    pub permission: String,
    /// Valid from; defaults to now.
    #[serde(default)]
    pub start_time: Option<f64>,
    /// Valid until; open-ended when absent.
    #[serde(default)]
    pub end_time: Option<f64>,
}
