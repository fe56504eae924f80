//! Helpers shared by the document-core tests (folders, documents, access, search, events):
//! building trees, making users, and reading state back.
use api_spec::ErrorCode;
use api_spec::actions::{
    AccessRules, CreateDirectory, CreateDirectoryRequest, CreateDocument, CreateDocumentRequest,
    CreateGroup, CreateGroupRequest, CreateTenant, CreateTenantRequest, CreateUser,
    CreateUserRequest, DirectoryIdRequest, DocumentIdRequest, DocumentInfo, GetDirectoryInfo,
    GetDocument, GetDocumentInfo, ListDirectory, ListDirectoryRequest, ListDirectoryResponse,
    TimedMembership, TimedPermission,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tests::{ApiFailure, Client, TestServer};

/// Password of every user these tests create.
pub const USER_PASSWORD: &str = "user-password-1";

/// Every document and folder permission except `super_list_directory`, so rules decide.
pub const EDITOR_PERMISSIONS: &[&str] = &[
    "create_document",
    "delete_document",
    "rename_document",
    "create_directory",
    "delete_directory",
    "rename_directory",
    "move",
    "view_access_rules",
    "set_access_rules",
    "manage_access",
    "view_access_entries",
    "list_revisions",
    "view_revision",
    "set_current_revision",
];

pub fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A well-formed id that names nothing.
pub fn random_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Rules from JSON (`{"read": [...], ...}`).
pub fn rules(value: Value) -> AccessRules {
    serde_json::from_value(value).expect("rules shape")
}

/// One rule that passes only for members of `group`.
pub fn members_of(group: &str) -> Value {
    json!([{"match": "all", "match_groups": [{"groups": {"match": "all", "require": [group]}}]}])
}

/// Rules giving `access` (read, write, move or manage) only to members of `sysop`.
pub fn sysop_only(access: &str) -> AccessRules {
    let mut r = AccessRules::new();
    r.insert(
        access.to_owned(),
        serde_json::from_value(members_of("sysop")).expect("rule list"),
    );
    r
}

pub async fn mkdir(c: &mut Client, name: &str, parent: Option<&str>) -> String {
    mkdir_with(c, name, parent, None, None).await.id
}

pub async fn mkdir_with(
    c: &mut Client,
    name: &str,
    parent: Option<&str>,
    access_rules: Option<AccessRules>,
    inherit_parent: Option<bool>,
) -> api_spec::actions::CreateDirectoryResponse {
    c.call::<CreateDirectory>(&CreateDirectoryRequest {
        name: name.into(),
        parent_id: parent.map(Into::into),
        access_rules,
        exists_ok: false,
        inherit_parent,
    })
    .await
    .unwrap_or_else(|e| panic!("create_directory {name}: {e:?}"))
}

pub fn new_doc(title: &str, folder: Option<&str>) -> CreateDocumentRequest {
    CreateDocumentRequest {
        title: title.into(),
        folder_id: folder.map(Into::into),
        access_rules: None,
        inherit_parent: None,
    }
}

/// Creates a document holding `bytes`; returns its id.
pub async fn mkdoc(c: &mut Client, title: &str, folder: Option<&str>, bytes: &[u8]) -> String {
    mkdoc_req(c, new_doc(title, folder), bytes).await
}

pub async fn mkdoc_req(c: &mut Client, req: CreateDocumentRequest, bytes: &[u8]) -> String {
    let created = c
        .call::<CreateDocument>(&req)
        .await
        .unwrap_or_else(|e| panic!("create_document {}: {e:?}", req.title));
    c.upload(&created.task_data.task_id, bytes)
        .await
        .expect("upload the first revision");
    created.document_id
}

/// Uploads a new revision of `document_id`; returns the revision id.
pub async fn new_revision(c: &mut Client, document_id: &str, bytes: &[u8]) -> String {
    let task = c
        .call::<api_spec::actions::UploadDocument>(&doc_id(document_id))
        .await
        .expect("upload_document")
        .task_data;
    c.upload(&task.task_id, bytes)
        .await
        .expect("upload a revision")
        .revision_id
        .expect("a revision id")
}

/// The current content of a document.
pub async fn content_of(c: &mut Client, document_id: &str) -> Vec<u8> {
    let task = c
        .call::<GetDocument>(&doc_id(document_id))
        .await
        .expect("get_document")
        .task_data;
    c.download(&task.task_id).await.expect("download")
}

pub fn doc_id(id: &str) -> DocumentIdRequest {
    DocumentIdRequest {
        document_id: id.into(),
    }
}

pub fn dir_id(id: &str) -> DirectoryIdRequest {
    DirectoryIdRequest {
        directory_id: id.into(),
    }
}

pub async fn doc_info(c: &mut Client, id: &str) -> DocumentInfo {
    c.call::<GetDocumentInfo>(&doc_id(id))
        .await
        .expect("get_document_info")
}

pub async fn dir_info(c: &mut Client, id: &str) -> api_spec::actions::DirectoryInfo {
    c.call::<GetDirectoryInfo>(&dir_id(id))
        .await
        .expect("get_directory_info")
}

pub async fn list(c: &mut Client, folder: Option<&str>) -> ListDirectoryResponse {
    c.call::<ListDirectory>(&ListDirectoryRequest {
        folder_id: folder.map(Into::into),
    })
    .await
    .expect("list_directory")
}

/// Folder names and document titles in a listing.
pub async fn names_in(c: &mut Client, folder: Option<&str>) -> (Vec<String>, Vec<String>) {
    let l = list(c, folder).await;
    (
        l.folders.into_iter().map(|f| f.name).collect(),
        l.documents.into_iter().map(|d| d.title).collect(),
    )
}

/// Creates a group with `permissions`.
pub async fn group(admin: &mut Client, name: &str, permissions: &[&str]) {
    admin
        .call::<CreateGroup>(&CreateGroupRequest {
            group_name: name.into(),
            display_name: None,
            permissions: timed(permissions),
        })
        .await
        .expect("create_group");
}

fn timed(permissions: &[&str]) -> Vec<TimedPermission> {
    permissions
        .iter()
        .map(|p| TimedPermission {
            permission: (*p).into(),
            start_time: None,
            end_time: None,
        })
        .collect()
}

/// Creates a user with direct `permissions` in `groups` and returns a client logged in as
/// them.
pub async fn user(
    server: &TestServer,
    admin: &mut Client,
    name: &str,
    permissions: &[&str],
    groups: &[&str],
) -> Client {
    admin
        .call::<CreateUser>(&CreateUserRequest {
            username: name.into(),
            password: USER_PASSWORD.into(),
            nickname: None,
            permissions: timed(permissions),
            groups: groups
                .iter()
                .map(|g| TimedMembership {
                    group_name: (*g).into(),
                    start_time: None,
                    end_time: None,
                })
                .collect(),
        })
        .await
        .expect("create_user");
    let mut c = server.client().await;
    c.login(name, USER_PASSWORD, None).await.expect("login");
    c
}

/// Creates tenant `slug` and returns its logged-in admin.
pub async fn other_tenant(server: &TestServer, admin: &mut Client, slug: &str) -> Client {
    let password = format!("{slug}-admin-password");
    admin
        .call::<CreateTenant>(&CreateTenantRequest {
            tenant: slug.into(),
            display_name: None,
            admin_password: password.clone(),
        })
        .await
        .expect("create_tenant");
    let mut c = server.client().await;
    c.login("admin", &password, Some(slug))
        .await
        .expect("login to the new tenant");
    c
}

/// Calls `A` and expects it to fail with `code`/`error`.
#[track_caller]
pub fn expect_error<T: std::fmt::Debug>(
    result: Result<T, ApiFailure>,
    code: u16,
    error: ErrorCode,
) -> ApiFailure {
    let e = result.expect_err("the call must fail");
    assert_eq!((e.code, e.error), (code, error), "{e:?}");
    e
}

/// Sends `data` to `action` as it stands (a value no typed request can hold) and expects
/// `invalid_field` naming `field`.
pub async fn refused_field(c: &Client, action: &str, data: Value, field: &str) {
    let reply = c.request(action, data).await;
    assert_eq!(reply.code, 400, "{reply:?}");
    assert_eq!(reply.data["error"], "invalid_field", "{reply:?}");
    assert_eq!(reply.data["field"], field, "{reply:?}");
}

/// Every file below `dir` (none if it does not exist).
pub fn files_below(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p)
            } else {
                found.push(p)
            }
        }
    }
    found
}

/// Every file below `root` that holds `needle`.
pub fn files_holding(root: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    files_below(root)
        .into_iter()
        .filter(|path| {
            std::fs::read(path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
        })
        .collect()
}

/// Deletes everything at the top of the caller's tenant, then restores backup `id` whole.
pub async fn empty_and_restore(c: &mut Client, id: &str) -> api_spec::actions::JobStatus {
    let top = list(c, None).await;
    for f in top.folders {
        c.call::<api_spec::actions::DeleteDirectory>(&api_spec::actions::FolderIdRequest {
            folder_id: f.id,
        })
        .await
        .unwrap();
    }
    for d in top.documents {
        c.call::<api_spec::actions::DeleteDocument>(&doc_id(&d.id))
            .await
            .unwrap();
    }
    let queued = c
        .call::<api_spec::actions::RestoreBackup>(&api_spec::actions::RestoreBackupRequest {
            backup_id: id.to_owned(),
            ..Default::default()
        })
        .await
        .unwrap();
    crate::lifecycle::import_ended(c, &queued.backup_task_id).await
}
