//! A document in a folder (or at top level); its content is its current revision's file.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "documents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub folder_id: Option<Uuid>,
    pub title: String,
    pub inherit: bool,
    /// Null until the first upload completes.
    pub current_revision_id: Option<Uuid>,
    pub created_at: i64,
    pub last_modified: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
