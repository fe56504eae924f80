//! A backup's key file as the server holds it: sealed with the server's master key
//! (`sealing`), kept in the database and never in a store beside the archives.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "backup_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub backup_id: Uuid,
    pub tenant_id: Uuid,
    /// Names the master key that sealed it.
    pub master_key_id: String,
    pub sealed: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
