//! An explicit grant of one access type on one folder or document to a user or a group, which bypasses the rules while valid.
use api_spec::actions::AccessType;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_entries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    pub folder_id: Option<Uuid>,
    pub document_id: Option<Uuid>,
    pub access_type: AccessType,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
