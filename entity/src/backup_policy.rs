//! A tenant's backup policy: when backups run, how they are made, which retention keeps.
use api_spec::actions::KeyProtection;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "backup_policies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    /// Who set it: the owner of the jobs it queues.
    pub owner_id: Uuid,
    /// A cron expression (5 fields, or 6 with seconds); none: no scheduled backups.
    pub schedule: Option<String>,
    /// An IANA time zone name (`UTC`, `Europe/Berlin`) the schedule and the retention's
    /// days, weeks and months are read in.
    pub time_zone: String,
    pub compress: bool,
    pub key_protection: KeyProtection,
    pub keep_last: Option<i32>,
    pub keep_daily: Option<i32>,
    pub keep_weekly: Option<i32>,
    pub keep_monthly: Option<i32>,
    pub keep_within_ms: Option<i64>,
    /// The next slot of the schedule, epoch milliseconds.
    pub next_run_at: Option<i64>,
    pub updated_at: i64,
    /// A backup counts as good only once its bytes as stored were verified.
    pub verify_after: bool,
    /// A cron expression: when every stored backup is verified again.
    pub drill_schedule: Option<String>,
    /// Every n-th scheduled backup is full, the others incremental (1: all full).
    pub full_every: i32,
    /// The next slot of the drill schedule.
    pub next_drill_at: Option<i64>,
    /// With `key_protection` `recipients`: the `age1…` public keys (a JSON list) every
    /// backup key is wrapped to.
    pub recipients: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
