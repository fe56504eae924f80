//! The key files of the tenant's backups, sealed (`sealing`): one row per backup, inserted
//! with it and going with it (the foreign key cascades).
use entity::backup_key;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use uuid::Uuid;

use crate::error::Result;
use crate::storage::TenantScope;

/// Keeps backup `backup`'s sealed key file (replacing one kept before).
pub async fn put(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    backup: Uuid,
    master_key_id: &str,
    sealed: Vec<u8>,
) -> Result<()> {
    use sea_orm::sea_query::OnConflict;
    let row = backup_key::ActiveModel {
        backup_id: Set(backup),
        tenant_id: Set(scope.tenant_id()),
        master_key_id: Set(master_key_id.to_owned()),
        sealed: Set(sealed),
    };
    backup_key::Entity::insert(row)
        .on_conflict(
            OnConflict::column(backup_key::Column::BackupId)
                .update_columns([backup_key::Column::MasterKeyId, backup_key::Column::Sealed])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Backup `backup`'s sealed key file, if the tenant has it.
pub async fn find(
    scope: &TenantScope,
    db: &impl ConnectionTrait,
    backup: Uuid,
) -> Result<Option<backup_key::Model>> {
    Ok(backup_key::Entity::find_by_id(backup)
        .filter(backup_key::Column::TenantId.eq(scope.tenant_id()))
        .one(db)
        .await?)
}

/// Of every tenant: how many sealed key files each master key sealed (start-up checks that
/// this server holds the key of them all).
pub async fn count_by_master_key(db: &impl ConnectionTrait) -> Result<Vec<(String, i64)>> {
    use sea_orm::sea_query::Expr;
    Ok(backup_key::Entity::find()
        .select_only()
        .column(backup_key::Column::MasterKeyId)
        .column_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), "n")
        .group_by(backup_key::Column::MasterKeyId)
        .into_tuple()
        .all(db)
        .await?)
}

/// Removes backup `backup`'s key file (a backup that failed keeps its row, not its key).
pub async fn delete(scope: &TenantScope, db: &impl ConnectionTrait, backup: Uuid) -> Result<()> {
    backup_key::Entity::delete_many()
        .filter(backup_key::Column::TenantId.eq(scope.tenant_id()))
        .filter(backup_key::Column::BackupId.eq(backup))
        .exec(db)
        .await?;
    Ok(())
}
