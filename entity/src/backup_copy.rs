//! A backup's copy at one destination of `backup_copies`: whether it is made and checked,
//! and what its attempts met. Rows go with their backup.
use api_spec::actions::CopyState;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "backup_copies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub backup_id: Uuid,
    /// The destination, as the configuration names it.
    #[sea_orm(primary_key, auto_increment = false)]
    pub destination: String,
    pub tenant_id: Uuid,
    pub state: CopyState,
    pub attempts: i32,
    pub copied_at: Option<i64>,
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
