//! `login`, `refresh_token`, `logout`, `set_passwd`.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Access;
use crate::envelope::Empty;

/// Arguments of `login`.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// Tenant slug; `default` when absent.
    #[serde(default)]
    pub tenant: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("tenant", &self.tenant)
            .finish()
    }
}

/// What a successful `login` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Opaque bearer token for the envelope's `token` field and `Authorization: Bearer`.
    pub token: String,
    /// Expiry, in seconds since the epoch.
    pub exp: f64,
    pub nickname: Option<String>,
    /// Effective permissions now.
    pub permissions: Vec<String>,
    /// Groups the user is a member of now.
    pub groups: Vec<String>,
    /// The tenant's slug.
    pub tenant: String,
}

/// What `refresh_token` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefreshTokenResponse {
    /// The new token; the old one stops working.
    pub token: String,
    /// Expiry of the new token, in seconds since the epoch.
    pub exp: f64,
}

/// Arguments of `logout`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// Revoke every session of the user, not just this one.
    #[serde(default)]
    pub all: bool,
}

/// Arguments of `set_passwd`.
#[derive(Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswdRequest {
    /// Whose password to set.
    pub username: String,
    /// The current password; required when changing your own.
    #[serde(default)]
    pub old_passwd: Option<String>,
    pub new_passwd: String,
}

impl std::fmt::Debug for SetPasswdRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetPasswdRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

action! {
    /// Exchanges tenant, username and password for a session token.
    Login {
        name: "login",
        access: Access::Public,
        audited: true,
        success: "Login successful",
        errors: [InvalidCredentials, TooManyAttempts],
        request: LoginRequest,
        response: LoginResponse,
    }
}

action! {
    /// Replaces the caller's token with a new one with a fresh lifetime.
    RefreshToken {
        name: "refresh_token",
        access: Access::Authenticated,
        audited: false,
        success: "Token refreshed",
        errors: [],
        request: Empty,
        response: RefreshTokenResponse,
    }
}

action! {
    /// Revokes the caller's token (or, with `all`, every token of the user).
    Logout {
        name: "logout",
        access: Access::Authenticated,
        audited: true,
        success: "Logged out",
        errors: [],
        request: LogoutRequest,
        response: Empty,
    }
}

action! {
    /// Sets a password and revokes every token of that user.
    SetPasswd {
        name: "set_passwd",
        access: Access::Authenticated,
        note: "your own password with `old_passwd`; another user's with `super_set_passwd`",
        audited: true,
        success: "Password set successfully",
        errors: [WrongPassword, WeakPassword, PasswordUnchanged, UserNotFound],
        request: SetPasswdRequest,
        response: Empty,
    }
}
