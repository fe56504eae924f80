//! A transfer capability bound to its tenant and user: an upload (new document or revision) or a download (one file), until it expires.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "transfer_tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub mode: TaskMode,
    pub purpose: TaskPurpose,
    pub document_id: Option<Uuid>,
    /// The file a download serves.
    pub file_id: Option<Uuid>,
    pub status: TaskStatus,
    pub declared_size: Option<i64>,
    pub declared_sha256: Option<String>,
    pub bytes_received: i64,
    pub created_at: i64,
    pub expires_at: i64,
    /// For backup downloads: the backup, and which part.
    pub backup_id: Option<Uuid>,
    pub backup_part: Option<BackupPart>,
    /// For backup-import uploads: the import job.
    pub job_id: Option<Uuid>,
    /// For a completed document upload: the revision it published.
    pub revision_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Which way a task's bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum TaskMode {
    Upload,
    Download,
}

/// What a task is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum TaskPurpose {
    /// The first content of a new document.
    Document,
    /// A new revision of a document.
    Revision,
    /// A download of one file.
    Download,
    /// A download of a backup's archive or key.
    Backup,
    /// An import's archive.
    ImportArchive,
    /// An import's key file.
    ImportKey,
    /// An earlier link of an incremental backup's chain, uploaded with its newest link.
    ImportLinkArchive,
    /// The key file of an earlier link.
    ImportLinkKey,
}

impl TaskPurpose {
    /// Whether it is one of an import's uploads.
    pub fn is_import(self) -> bool {
        matches!(
            self,
            Self::ImportArchive | Self::ImportKey | Self::ImportLinkArchive | Self::ImportLinkKey
        )
    }

    /// Whether it uploads a key file (a few hundred bytes).
    pub fn is_key(self) -> bool {
        matches!(self, Self::ImportKey | Self::ImportLinkKey)
    }
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum TaskStatus {
    Pending,
    Completed,
    Expired,
}

/// Which part of a backup a download task serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text", rename_all = "snake_case")]
pub enum BackupPart {
    Archive,
    Key,
}
