//! One audited action: who did what to which target, and how it ended (the reply code).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_entries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Kept as a name (not a foreign key) so the trail outlives deleted users.
    pub username: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub data: Option<Json>,
    pub result: i32,
    pub remote_address: Option<String>,
    pub logged_time: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
