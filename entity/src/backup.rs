//! A stored backup of a tenant: its archive and key file live in the object store, apart.
use api_spec::actions::{BackupOrigin, BackupStatus, Verification};
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "backups")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub job_id: Uuid,
    pub name: String,
    pub status: BackupStatus,
    pub compressed: bool,
    /// Whether the key file is wrapped by a passphrase.
    pub wrapped: bool,
    pub key_id: String,
    pub archive_size: Option<i64>,
    pub archive_sha256: Option<String>,
    pub created_at: i64,
    pub completed_at: Option<i64>,
    pub origin: BackupOrigin,
    pub verify_state: Verification,
    pub verified_at: Option<i64>,
    /// The error code of the last failed verification.
    pub verify_error: Option<String>,
    /// The backup an incremental one builds on; none for a full backup.
    pub base_backup_id: Option<Uuid>,
    /// Whether `backup_blobs` lists the blobs its archive holds (every backup made since
    /// they are recorded): only such a backup can be an incremental one's base.
    pub blobs_recorded: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
