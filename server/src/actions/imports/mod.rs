pub mod cancel_backup_import;
pub mod get_backup_import_status;
pub mod initiate_backup_import;
pub mod restore_backup;
pub mod start_backup_import;

use api_spec::ErrorCode;
use api_spec::permissions::IMPORT_BACKUP;
use entity::job;
use sea_orm::ConnectionTrait;

use crate::auth::AuthContext;
use crate::error::{Result, fail};
use crate::services::names::parse_id;
use crate::storage::jobs;

/// The caller's tenant's import job, if the caller owns it or holds `import_backup`;
/// otherwise — like another tenant's job or a missing one — `job_not_found`.
async fn find(auth: &AuthContext, db: &impl ConnectionTrait, raw: &str) -> Result<job::Model> {
    let id = parse_id(raw, ErrorCode::JobNotFound)?;
    jobs::find(auth.scope(), db, id)
        .await?
        .filter(|j| j.kind == jobs::JobKind::Import)
        .filter(|j| j.owner_id == auth.user_id() || auth.has(IMPORT_BACKUP))
        .ok_or_else(|| fail(ErrorCode::JobNotFound))
}
