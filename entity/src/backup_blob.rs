//! A blob a backup's archive holds (under `files/`): the record an incremental backup is
//! planned from, without reading any archive.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "backup_blobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub backup_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub sha256: String,
    pub tenant_id: Uuid,
    pub size: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
