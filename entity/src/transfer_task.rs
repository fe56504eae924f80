//! A transfer capability bound to its tenant and user: an upload (new document or revision) or a download (one file), until it expires.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "transfer_tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    /// `upload` or `download`.
    pub mode: String,
    /// `document` (first content of a new document), `revision` or `download`.
    pub purpose: String,
    pub document_id: Option<Uuid>,
    /// The file a download serves.
    pub file_id: Option<Uuid>,
    /// `pending`, `completed` or `expired`.
    pub status: String,
    pub declared_size: Option<i64>,
    pub declared_sha256: Option<String>,
    pub bytes_received: i64,
    pub created_at: i64,
    pub expires_at: i64,
    /// For backup downloads: the backup, and which part (`archive` or `key`).
    pub backup_id: Option<Uuid>,
    pub backup_part: Option<String>,
    /// For backup-import uploads: the import job.
    pub job_id: Option<Uuid>,
    /// For a completed document upload: the revision it published.
    pub revision_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
