//! Authentication: passwords, session tokens, login throttling, and the tenant-scoped
//! [`AuthContext`] that only authentication can mint.
pub mod cache;
pub mod context;
pub mod password;
pub mod throttle;
pub mod token;

pub use context::{AuthContext, TenantScope};
