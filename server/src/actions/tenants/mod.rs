pub mod create_tenant;
pub mod list_tenants;

use api_spec::ErrorCode;

use crate::auth::AuthContext;
use crate::error::{Result, fail};

/// Tenants are managed only from the operator tenant `default`; elsewhere the permission
/// alone is not enough.
fn require_operator(auth: &AuthContext) -> Result<()> {
    if auth.is_operator_tenant() {
        Ok(())
    } else {
        Err(fail(ErrorCode::PermissionDenied))
    }
}
