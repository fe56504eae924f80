//! One access rule (CFMS `rule_data`) of a folder or a document (exactly one is set).
use api_spec::actions::AccessType;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "access_rules")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub folder_id: Option<Uuid>,
    pub document_id: Option<Uuid>,
    pub access_type: AccessType,
    pub rule_data: Json,
    /// Order within the object's rules of this type.
    pub position: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
