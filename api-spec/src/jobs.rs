//! Background jobs as the protocol names them: their kinds, states and steps. Each travels as
//! a snake_case string; [`JobState::as_str`] and friends give that string, and comparing with
//! a `&str` compares it.
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

stored_enum! {
    /// What a job does.
    pub enum JobKind {
        /// A backup export (`generate_backup`).
        Export => "export",
        /// A backup import (`initiate_backup_import`).
        Import => "import",
        /// A verification of a stored backup (after it was made, or by a drill).
        Verify => "verify",
        /// A copy of a completed backup's archive to one of `backup_copies`.
        Copy => "copy",
    }
}

stored_enum! {
    /// Where a job is in its life. `pending` (an import waiting for its uploads) → `queued` →
    /// `running` → one of `completed`, `failed`, `timeout` (an import whose uploads never
    /// finished) or `cancelled`; the last four are final.
    pub enum JobState {
        Pending => "pending",
        Queued => "queued",
        Running => "running",
        Completed => "completed",
        Failed => "failed",
        Timeout => "timeout",
        Cancelled => "cancelled",
    }
}

impl JobState {
    /// The states a job can still leave.
    pub const LIVE: [JobState; 3] = [JobState::Pending, JobState::Queued, JobState::Running];

    /// Whether a job in this state has ended.
    pub fn is_final(self) -> bool {
        !Self::LIVE.contains(&self)
    }
}

stored_enum! {
    /// What a running job is doing.
    pub enum JobStep {
        /// An import reads its archive once, checking every MAC and hash, into its staging.
        Verifying => "verifying",
        /// An import writes its rows (out of sight until its last transaction).
        Importing => "importing",
        /// An export writes its archive.
        Writing => "writing",
        /// The job completed.
        Completed => "completed",
    }
}

/// What an import does with the tenant: `restore` needs it empty, `merge` adds to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    Restore,
    Merge,
}

wire_names!(ImportMode { Restore => "restore", Merge => "merge" });

/// What a `merge` does with a top-level name the tenant already uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnConflict {
    /// Import it under a free name (`name (2)`).
    Rename,
    /// Leave it out.
    Skip,
    /// Fail the import (`import_name_conflict`).
    Fail,
}

wire_names!(OnConflict { Rename => "rename", Skip => "skip", Fail => "fail" });

/// One top-level name of a `merge` that was already taken where it goes, and what the
/// import did about it (an import's `conflicts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportConflict {
    pub object_type: ConflictObject,
    /// The item's id in the archive.
    pub old_id: String,
    pub name: String,
    /// The id of what holds the name: a tenant item, or (`existing_type: archive`) the
    /// archive's item that took it first.
    pub existing_id: String,
    pub existing_type: ConflictHolder,
    pub resolution: ConflictResolution,
    /// The name it was imported under (`renamed`).
    pub new_name: Option<String>,
}

/// What a conflicting item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictObject {
    Folder,
    Document,
}

/// What holds a name an import's item wanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictHolder {
    /// A folder of the tenant.
    Folder,
    /// A document of the tenant.
    Document,
    /// An earlier item of the same archive, going to the same place.
    Archive,
}

/// What an import did with a conflicting item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConflictResolution {
    /// Left out, with everything below it (`on_conflict: skip`).
    Skipped,
    /// Imported under `new_name` (`on_conflict: rename`).
    Renamed,
}

/// Where the instance that runs a job finds the backup key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// In the key file the job keeps (not wrapped by a passphrase): any instance runs the
    /// job, and runs it again if the instance running it stops.
    KeyFile,
    /// Only in the memory of the instance that accepted the job (the key file is wrapped by
    /// a passphrase the server never stores): that instance runs it, and if it stops the
    /// job fails with `job_interrupted`.
    Memory,
}

/// The parameters of an export job, as its row keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExportParams {
    pub backup_id: String,
    /// The time the archive and its key file record (ms since the epoch).
    pub created_at: i64,
    pub compress: bool,
    pub key: KeySource,
    /// An incremental backup's base (its row names it too).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_backup_id: Option<String>,
}

/// The parameters of an import job, as its row keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportParams {
    pub mode: ImportMode,
    pub on_conflict: OnConflict,
    pub dry_run: bool,
    pub allow_legacy: bool,
    pub key: KeySource,
    /// The uploads `start_backup_import` checked, as the object store keeps them: what the
    /// job imports, whatever is uploaded to its tasks afterwards. (Absent in a job queued
    /// by a version that kept uploads on one instance's disk: such a job cannot run.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uploads: Option<ImportUploads>,
    /// Only these archive paths (folders with their subtrees, documents); empty: all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub select: Vec<String>,
    /// The tenant's folder the import goes into; none: the top level (or, with `select`,
    /// the selected items' own paths).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_folder_id: Option<uuid::Uuid>,
}

/// The object-store keys of an import's uploaded archive and key file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImportUploads {
    pub archive: String,
    pub key_file: String,
    /// The earlier links of a chain uploaded with it: archives and key files, in no order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_archives: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_keys: Vec<String>,
}

/// Why a stored backup is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerifyCause {
    /// The policy's `verify_after`: the backup counts as good only once verified.
    AfterBackup,
    /// The policy's drill schedule: every stored backup again.
    Drill,
    /// `verify_backup`: a user asked, and waited for the answer (no job).
    Request,
}

/// The parameters of a verify job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerifyParams {
    pub backup_id: String,
    pub cause: VerifyCause,
}

/// What a copy job copies: a backup's archive, to one destination (as `backup_copies`
/// names it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CopyParams {
    pub backup_id: String,
    pub destination: String,
}

/// A job's parameters, by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobParams {
    Export(ExportParams),
    Import(ImportParams),
    Verify(VerifyParams),
    Copy(CopyParams),
}

impl JobParams {
    /// Where the job's key is.
    pub fn key(&self) -> KeySource {
        match self {
            JobParams::Export(p) => p.key,
            JobParams::Import(p) => p.key,
            // A verify job reads the backup's key file, or checks the archive's hash when a
            // passphrase wraps the key: any instance can.
            JobParams::Verify(_) => KeySource::KeyFile,
            // A copy moves bytes it never opens.
            JobParams::Copy(_) => KeySource::KeyFile,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_what_serde_writes() {
        for state in JobState::ALL {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
            assert_eq!(JobState::parse(state.as_str()), Some(*state));
        }
        for kind in JobKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        for step in JobStep::ALL {
            assert_eq!(serde_json::to_value(step).unwrap(), step.as_str());
        }
        assert!(JobState::Cancelled.is_final() && !JobState::Pending.is_final());
        assert_eq!(JobState::Running, "running");
        let params = JobParams::Import(ImportParams {
            mode: ImportMode::Merge,
            on_conflict: OnConflict::Skip,
            dry_run: false,
            allow_legacy: true,
            key: KeySource::KeyFile,
            uploads: Some(ImportUploads {
                archive: "imports/a".into(),
                key_file: "import-keys/k".into(),
                ..ImportUploads::default()
            }),
            select: vec!["a/b".into()],
            target_folder_id: None,
        });
        let json = serde_json::to_value(&params).unwrap();
        assert_eq!(json["kind"], "import");
        assert_eq!(json["mode"], "merge");
        assert_eq!(json["key"], "key_file");
        assert_eq!(json["uploads"]["key_file"], "import-keys/k");
        assert_eq!(serde_json::from_value::<JobParams>(json).unwrap(), params);
        // A job queued before uploads were kept in the object store still reads.
        let older = serde_json::json!({"kind": "import", "mode": "restore",
            "on_conflict": "rename", "dry_run": false, "allow_legacy": false, "key": "key_file"});
        let Ok(JobParams::Import(older)) = serde_json::from_value::<JobParams>(older) else {
            panic!("an older import's parameters no longer read");
        };
        assert_eq!(older.uploads, None);
    }
}
