//! The key files of the server's backups: sealed with the master key (`sealing`) into the
//! database when a backup is recorded, unsealed when a job or a download reads one. Never
//! in a store beside the archives.
use api_spec::ErrorCode;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::app::AppState;
use crate::archive::keys::KeyFile;
use crate::auth::TenantScope;
use crate::error::{Error, Result, fail};
use crate::storage::backup_keys;

/// Keeps backup `backup`'s key file, sealed, in the database (`db`: the transaction that
/// records the backup).
pub async fn keep_key_file(
    state: &AppState,
    db: &impl sea_orm::ConnectionTrait,
    scope: &TenantScope,
    backup: Uuid,
    key_file: &KeyFile,
) -> Result<()> {
    let plain = Zeroizing::new(serde_json::to_vec_pretty(key_file)?);
    keep_key_bytes(state, db, scope.tenant_id(), backup, &plain).await
}

/// Keeps the bytes of tenant `tenant`'s backup `backup`'s key file, sealed, in the database.
pub async fn keep_key_bytes(
    state: &AppState,
    db: &impl sea_orm::ConnectionTrait,
    tenant: Uuid,
    backup: Uuid,
    plain: &[u8],
) -> Result<()> {
    let sealed = state.master.seal(tenant, backup, plain)?;
    let scope = TenantScope::system(tenant);
    backup_keys::put(&scope, db, backup, state.master.id(), sealed).await
}

/// A stored backup's key file: unsealed from the database. `backup_key_unavailable` when
/// this server lacks the master key that sealed it.
pub async fn read_key_file(
    state: &AppState,
    tenant: Uuid,
    backup: Uuid,
) -> Result<Zeroizing<Vec<u8>>> {
    find_key_file(state, tenant, backup)
        .await?
        .ok_or_else(|| Error::Internal(format!("the key file of backup {backup} is missing")))
}

/// [`read_key_file`], `None` when the tenant has no such backup (any more).
pub async fn find_key_file(
    state: &AppState,
    tenant: Uuid,
    backup: Uuid,
) -> Result<Option<Zeroizing<Vec<u8>>>> {
    let scope = TenantScope::system(tenant);
    let Some(row) = backup_keys::find(&scope, &state.db, backup).await? else {
        return Ok(None);
    };
    let opened = state.master.open(tenant, backup, &row.sealed).ok_or_else(|| {
        if row.master_key_id != state.master.id() {
            tracing::error!(%backup, sealed_with = %row.master_key_id, have = %state.master.id(),
                "a backup key was sealed with another master key than master_key_file's");
        }
        fail(ErrorCode::BackupKeyUnavailable)
    })?;
    Ok(Some(opened))
}
