//! The action registry: wire names to typed handlers (see `actions/`), and [`dispatch`],
//! which runs one request end to end.
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use api_spec::{Access, ActionSpec, ErrorCode};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::{Result, field_error};

mod dispatch;
pub mod envelope;

use crate::actions::{
    Call, access, audit, auth, backups, directories, documents, groups, imports, lookup, meta,
    revisions, tenants, transfers, users,
};
pub use dispatch::{dispatch, error_reply};

type BoxFuture = Pin<Box<dyn Future<Output = Result<Value>> + Send>>;
/// Reads the action's typed request from the raw `data` text (`None`: absent or `null`)
/// and returns the action's future.
type Handler = Box<dyn Fn(Call, Option<&RawValue>) -> BoxFuture + Send + Sync>;

/// One registered action.
pub struct Entry {
    pub name: &'static str,
    pub access: Access,
    pub audited: bool,
    pub success: &'static str,
    handler: Handler,
}

/// The table of actions, by wire name.
pub struct Registry {
    entries: HashMap<&'static str, Entry>,
}

/// The server's table of actions, built once for the process (it holds no state: every
/// server in the process shares it).
pub fn table() -> &'static Registry {
    static TABLE: std::sync::LazyLock<Registry> = std::sync::LazyLock::new(Registry::build);
    &TABLE
}

/// Maps a serde error on `data` to the distinct protocol codes clients rely on, naming the
/// field: the one serde names for unknown and missing fields, otherwise the path to the
/// value that did not fit (`offset`, `access_rules.read[0].match`).
fn data_error(err: &serde_path_to_error::Error<serde_json::Error>) -> crate::error::Error {
    // serde's messages are stable: "unknown field `x`, expected …" (or "…`, there are no
    // fields"), "missing field `x`". The name may itself hold backticks: it runs to the last
    // of those endings, which only ever follow it.
    let full = err.inner().to_string();
    // Read from text, serde_json appends the position (" at line 1 column 17").
    let text = match full.rfind(" at line ") {
        Some(at) if err.inner().line() != 0 => &full[..at],
        _ => full.as_str(),
    };
    let named = |prefix: &str| {
        let rest = text.strip_prefix(prefix)?;
        let name = ["`, expected", "`, there are no fields"]
            .iter()
            .find_map(|end| rest.rsplit_once(end).map(|(name, _)| name));
        Some(
            name.or_else(|| rest.strip_suffix('`'))
                .unwrap_or(rest)
                .to_owned(),
        )
    };
    if let Some(field) = named("unknown field `") {
        field_error(ErrorCode::UnknownField, &field)
    } else if let Some(field) = named("missing field `") {
        field_error(ErrorCode::MissingField, &field)
    } else {
        let path = err.path().to_string();
        crate::error::Error::Api {
            code: ErrorCode::InvalidField,
            field: (path != ".").then_some(path),
            retry_after: None,
        }
    }
}

impl Registry {
    fn add<A, F, Fut>(&mut self, handler: F)
    where
        A: ActionSpec,
        A::Request: Send,
        F: Fn(Call, A::Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<A::Response>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let boxed: Handler = Box::new(move |call, data| {
            // CFMS clients send `"data": null` for "no arguments". The typed request is read
            // straight from the text: no JSON tree is built on the way.
            let text = data.map_or("{}", RawValue::get);
            let request: Result<A::Request> = match envelope::field_with_nul(text) {
                Some(field) => Err(field_error(ErrorCode::InvalidField, &field)),
                None => {
                    let mut reader = serde_json::Deserializer::from_str(text);
                    serde_path_to_error::deserialize(&mut reader).map_err(|e| data_error(&e))
                }
            };
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let response = handler(call, request?).await?;
                serde_json::to_value(response)
                    .map_err(|e| crate::error::Error::Internal(e.to_string()))
            })
        });
        let entry = Entry {
            name: A::NAME,
            access: A::ACCESS,
            audited: A::AUDITED,
            success: A::SUCCESS,
            handler: boxed,
        };
        self.entries.insert(A::NAME, entry);
    }

    /// Every action the server implements.
    pub fn build() -> Self {
        let mut r = Registry {
            entries: HashMap::new(),
        };
        use api_spec::actions as a;
        r.add::<a::ServerInfo, _, _>(meta::server_info::run);
        r.add::<a::RegisterListener, _, _>(meta::register_listener::run);
        r.add::<a::Login, _, _>(auth::login::run);
        r.add::<a::RefreshToken, _, _>(auth::refresh_token::run);
        r.add::<a::Logout, _, _>(auth::logout::run);
        r.add::<a::SetPasswd, _, _>(auth::set_passwd::run);
        r.add::<a::CreateTenant, _, _>(tenants::create_tenant::run);
        r.add::<a::ListTenants, _, _>(tenants::list_tenants::run);
        r.add::<a::CreateUser, _, _>(users::create_user::run);
        r.add::<a::DeleteUser, _, _>(users::delete_user::run);
        r.add::<a::ListUsers, _, _>(users::list_users::run);
        r.add::<a::GetUserInfo, _, _>(users::get_user_info::run);
        r.add::<a::ChangeUserGroups, _, _>(users::change_user_groups::run);
        r.add::<a::CreateGroup, _, _>(groups::create_group::run);
        r.add::<a::DeleteGroup, _, _>(groups::delete_group::run);
        r.add::<a::ListGroups, _, _>(groups::list_groups::run);
        r.add::<a::ChangeGroupPermissions, _, _>(groups::change_group_permissions::run);
        r.add::<a::ViewAuditLogs, _, _>(audit::view_audit_logs::run);
        r.add::<a::ListDirectory, _, _>(directories::list_directory::run);
        r.add::<a::GetDirectoryInfo, _, _>(directories::get_directory_info::run);
        r.add::<a::CreateDirectory, _, _>(directories::create_directory::run);
        r.add::<a::RenameDirectory, _, _>(directories::rename_directory::run);
        r.add::<a::MoveDirectory, _, _>(directories::move_directory::run);
        r.add::<a::DeleteDirectory, _, _>(directories::delete_directory::run);
        r.add::<a::GetDirectoryAccessRules, _, _>(directories::get_directory_access_rules::run);
        r.add::<a::SetDirectoryRules, _, _>(directories::set_directory_rules::run);
        r.add::<a::CreateDocument, _, _>(documents::create_document::run);
        r.add::<a::GetDocumentInfo, _, _>(documents::get_document_info::run);
        r.add::<a::GetDocument, _, _>(documents::get_document::run);
        r.add::<a::UploadDocument, _, _>(documents::upload_document::run);
        r.add::<a::RenameDocument, _, _>(documents::rename_document::run);
        r.add::<a::MoveDocument, _, _>(documents::move_document::run);
        r.add::<a::DeleteDocument, _, _>(documents::delete_document::run);
        r.add::<a::GetDocumentAccessRules, _, _>(documents::get_document_access_rules::run);
        r.add::<a::SetDocumentRules, _, _>(documents::set_document_rules::run);
        r.add::<a::ListRevisions, _, _>(revisions::list_revisions::run);
        r.add::<a::GetRevision, _, _>(revisions::get_revision::run);
        r.add::<a::SetCurrentRevision, _, _>(revisions::set_current_revision::run);
        r.add::<a::GrantAccess, _, _>(access::grant_access::run);
        r.add::<a::RevokeAccess, _, _>(access::revoke_access::run);
        r.add::<a::ViewAccessEntries, _, _>(access::view_access_entries::run);
        r.add::<a::Search, _, _>(lookup::search::run);
        r.add::<a::UploadFile, _, _>(transfers::upload_file::run);
        r.add::<a::DownloadFile, _, _>(transfers::download_file::run);
        r.add::<a::GenerateBackup, _, _>(backups::generate_backup::run);
        r.add::<a::GetBackupExportStatus, _, _>(backups::get_backup_export_status::run);
        r.add::<a::ListBackups, _, _>(backups::list_backups::run);
        r.add::<a::GetBackupDownload, _, _>(backups::get_backup_download::run);
        r.add::<a::DeleteBackup, _, _>(backups::delete_backup::run);
        r.add::<a::VerifyBackup, _, _>(backups::verify_backup::run);
        r.add::<a::GetBackupPolicy, _, _>(backups::get_backup_policy::run);
        r.add::<a::SetBackupPolicy, _, _>(backups::set_backup_policy::run);
        r.add::<a::PruneBackups, _, _>(backups::prune_backups::run);
        r.add::<a::InitiateBackupImport, _, _>(imports::initiate_backup_import::run);
        r.add::<a::StartBackupImport, _, _>(imports::start_backup_import::run);
        r.add::<a::RestoreBackup, _, _>(imports::restore_backup::run);
        r.add::<a::GetBackupImportStatus, _, _>(imports::get_backup_import_status::run);
        r.add::<a::CancelBackupImport, _, _>(imports::cancel_backup_import::run);
        r
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    /// Wire names of every registered action.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn registry_matches_the_catalogue_exactly() {
        let registered: BTreeSet<&str> = Registry::build().names().collect();
        let catalogued: BTreeSet<&str> = api_spec::catalogue::catalogue()
            .iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(registered, catalogued);
    }

    #[test]
    fn every_error_code_is_used_by_the_server() {
        // lemmy's test_errors_used: a code nobody returns is dead protocol surface.
        let mut source = String::new();
        // The server and the archive format it is built on (its own crate).
        let mut stack = vec![
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../archive/src")),
        ];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    source.push_str(&std::fs::read_to_string(path).unwrap());
                }
            }
        }
        for code in ErrorCode::ALL {
            let variant = format!("ErrorCode::{code:?}");
            // This test names every variant through `{code:?}`, never literally.
            assert!(
                source.contains(&variant),
                "{variant} is never used by the server"
            );
        }
    }
}
