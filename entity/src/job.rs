//! A background job (a backup export or import) and its progress.
use api_spec::jobs::{JobKind, JobState, JobStep};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub kind: JobKind,
    pub owner_id: Uuid,
    pub status: JobState,
    pub current_step: Option<JobStep>,
    pub progress_percent: i32,
    pub bytes_done: i64,
    pub bytes_total: i64,
    pub counts: Option<Json>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub result: Option<Json>,
    pub deadline: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub worker_id: Option<String>,
    pub heartbeat_at: Option<i64>,
    /// The options the job was started with (`api_spec::jobs::JobParams`).
    pub params: Option<Json>,
    /// How many times a runner claimed the job.
    pub attempts: i32,
    /// A queued job is not claimed before this time (a copy waiting for its destination).
    pub run_after: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
