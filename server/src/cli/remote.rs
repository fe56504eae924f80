//! Commands that talk to a running server through [`crate::client`]: `login`, `logout`,
//! `ls`, `mkdir`, `put`, `get`, `watch`, and `tenant list|create` with `--server`.
//!
//! Paths are `/`-separated folder names from the tenant's top level, the last part of a
//! document path being its title. The server and token come from `--server`/`COFFER_SERVER`
//! and `--token`/`COFFER_TOKEN`, else from the session `coffer login` stored.
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use api_spec::ErrorCode;
use api_spec::actions::{
    CreateDirectory, CreateDirectoryRequest, CreateDocument, CreateDocumentRequest, CreateTenant,
    CreateTenantRequest, DocumentEntry, DocumentIdRequest, GetDocument, ListDirectory,
    ListDirectoryRequest, ListDirectoryResponse, ListTenants, Logout, LogoutRequest,
    RegisterListener, RegisterListenerRequest, UploadDocument,
};
use api_spec::envelope::Empty;
use serde_json::{Value, json};

use super::progress::Progress;
use crate::client::session::{self, Session};
use crate::client::{Client, ClientError, Credentials};

/// How a remote command failed: the server's or the transport's error (exit 1), or a usage
/// error the parser could not catch (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{0}")]
    Usage(String),
    /// A local command's error.
    #[error(transparent)]
    Local(#[from] crate::error::Error),
}

pub type Outcome = Result<Value, Failure>;

/// What every remote command may be told.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub server: Option<String>,
    pub token: Option<String>,
}

/// Connects as `target` says, or as the stored session says where it is silent.
pub(super) async fn connect(target: &Target) -> Result<Client, Failure> {
    let stored = session::load()?;
    let server = target
        .server
        .clone()
        .or_else(|| stored.as_ref().map(|s| s.server.clone()))
        .ok_or_else(|| {
            Failure::Usage(
                "no server: give --server URL (or COFFER_SERVER), or run `coffer login`".into(),
            )
        })?;
    let mut client = Client::connect(&server).await?;
    let credentials = match (&target.token, stored) {
        // A token given outright names its session; the server knows whose it is.
        (Some(token), _) => Some(Credentials {
            username: None,
            token: token.clone(),
        }),
        (None, Some(s))
            if target
                .server
                .as_ref()
                .is_none_or(|t| same_server(t, &s.server)) =>
        {
            Some(Credentials {
                username: Some(s.username),
                token: s.token,
            })
        }
        _ => None,
    };
    match credentials {
        Some(c) => client.set_credentials(c),
        None => {
            return Err(Failure::Usage(
                "not logged in: run `coffer login` or give --token".into(),
            ));
        }
    }
    Ok(client)
}

fn same_server(a: &str, b: &str) -> bool {
    crate::client::Endpoint::parse(a).ok() == crate::client::Endpoint::parse(b).ok()
}

/// `coffer login`: logs in and stores the session.
pub async fn login(
    server: Option<String>,
    tenant: Option<String>,
    user: &str,
    password_file: Option<&Path>,
) -> Outcome {
    let server =
        server.ok_or_else(|| Failure::Usage("give --server URL (or COFFER_SERVER)".into()))?;
    let password = read_password(password_file)?;
    let mut client = Client::connect(&server).await?;
    let res = client.login(tenant.as_deref(), user, &password).await?;
    let stored = Session {
        server: client.endpoint().http.clone(),
        tenant: tenant.clone(),
        username: user.to_owned(),
        token: res.token,
    };
    let path = session::save(&stored)?;
    client.close().await;
    Ok(json!({
        "server": stored.server,
        "tenant": tenant.unwrap_or_else(|| "default".into()),
        "username": user,
        "expires": res.exp,
        "session_file": path,
    }))
}

/// The password: from the file's first line, `COFFER_PASSWORD`, or a prompt on a terminal.
fn read_password(file: Option<&Path>) -> Result<String, Failure> {
    if let Some(file) = file {
        return read_first_line(file);
    }
    if let Ok(password) = std::env::var("COFFER_PASSWORD") {
        return Ok(password);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(
            "no password: give --password-file F, set COFFER_PASSWORD, or run on a terminal".into(),
        ));
    }
    prompt_hidden("Password: ")
}

/// A secret kept in a file: its first line.
pub(crate) fn read_first_line(file: &Path) -> Result<String, Failure> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ClientError::Io(format!("reading {}: {e}", file.display())))?;
    Ok(text.lines().next().unwrap_or("").to_owned())
}

/// Reads a line from the terminal with echo off.
fn prompt_hidden(prompt: &str) -> Result<String, Failure> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    eprint!("{prompt}");
    let saved = tcgetattr(&stdin).ok();
    if let Some(saved) = &saved {
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
    }
    let mut line = String::new();
    let read = stdin.read_line(&mut line);
    if let Some(saved) = &saved {
        let _ = tcsetattr(&stdin, OptionalActions::Now, saved);
    }
    eprintln!();
    read.map_err(|e| ClientError::Io(format!("reading the password: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// `coffer logout`: ends the session on the server (when it answers) and forgets it here.
pub async fn logout(target: &Target) -> Outcome {
    let ended = match connect(target).await {
        Ok(client) => client
            .call::<Logout>(&LogoutRequest::default())
            .await
            .is_ok(),
        Err(_) => false,
    };
    // The stored session goes only if it is the one that was ended: not when `--server`
    // named another server, nor when `--token` named another session.
    let stored = session::load()?;
    let ours = stored.is_some_and(|s| {
        target
            .server
            .as_ref()
            .is_none_or(|t| same_server(t, &s.server))
            && target.token.as_ref().is_none_or(|t| *t == s.token)
    });
    let forgotten = ours && session::remove()?;
    Ok(json!({"logged_out": ended, "session_removed": forgotten}))
}

/// The parts of a `/`-separated path.
fn parts(path: &str) -> Vec<&str> {
    path.split('/').filter(|p| !p.is_empty()).collect()
}

async fn list(
    client: &Client,
    folder_id: Option<String>,
) -> Result<ListDirectoryResponse, Failure> {
    Ok(client
        .call::<ListDirectory>(&ListDirectoryRequest { folder_id })
        .await?)
}

/// The folder a path names (`None`: the top level).
pub(super) async fn folder(client: &Client, path: &str) -> Result<Option<String>, Failure> {
    let mut current = None;
    for name in parts(path) {
        let listing = list(client, current.clone()).await?;
        let found = listing.folders.into_iter().find(|f| f.name == name);
        current = Some(
            found
                .map(|f| f.id)
                .ok_or_else(|| not_found(ErrorCode::FolderNotFound, path))?,
        );
    }
    Ok(current)
}

fn not_found(code: ErrorCode, path: &str) -> Failure {
    Failure::Client(ClientError::Api {
        status: code.status(),
        error: code,
        message: format!("{}: {path}", code.message()),
        data: json!({"error": code, "path": path}),
    })
}

/// A document path split into its folder and title.
fn split_document(path: &str) -> Result<(String, &str), Failure> {
    let mut all = parts(path);
    let title = all
        .pop()
        .ok_or_else(|| Failure::Usage(format!("`{path}` names no document")))?;
    Ok((all.join("/"), title))
}

async fn document(client: &Client, path: &str) -> Result<DocumentEntry, Failure> {
    let (folder_path, title) = split_document(path)?;
    let folder_id = folder(client, &folder_path).await?;
    list(client, folder_id)
        .await?
        .documents
        .into_iter()
        .find(|d| d.title == title)
        .ok_or_else(|| not_found(ErrorCode::DocumentNotFound, path))
}

/// `coffer ls [FOLDER_PATH]`.
pub async fn ls(target: &Target, path: &str) -> Outcome {
    let client = connect(target).await?;
    let folder_id = folder(&client, path).await?;
    let listing = list(&client, folder_id).await?;
    serde_json::to_value(listing).map_err(|e| ClientError::Io(e.to_string()).into())
}

/// `coffer mkdir [-p] PATH`: like mkdir(1), the parent must exist unless `-p` is given, and
/// with `-p` an existing folder is fine.
pub async fn mkdir(target: &Target, path: &str, parents: bool) -> Outcome {
    let client = connect(target).await?;
    let names = parts(path);
    if names.is_empty() {
        return Err(Failure::Usage("give the folder's path".into()));
    }
    let mut parent = None;
    let mut created = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let last = i + 1 == names.len();
        if !last && !parents {
            let listing = list(&client, parent.clone()).await?;
            let found = listing.folders.into_iter().find(|f| f.name == *name);
            parent = Some(
                found
                    .map(|f| f.id)
                    .ok_or_else(|| not_found(ErrorCode::FolderNotFound, &names[..=i].join("/")))?,
            );
            continue;
        }
        let res = client
            .call::<CreateDirectory>(&CreateDirectoryRequest {
                name: (*name).to_owned(),
                parent_id: parent.clone(),
                access_rules: None,
                exists_ok: parents,
                inherit_parent: None,
            })
            .await?;
        if !res.existed {
            created.push(names[..=i].join("/"));
        }
        parent = Some(res.id);
    }
    Ok(json!({"folder_id": parent, "created": created}))
}

/// `coffer put FILE [FOLDER_PATH]`: a new document titled after the file, or a new revision
/// of the document of that title.
pub async fn put(target: &Target, file: &Path, folder_path: &str) -> Outcome {
    let title = file
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| Failure::Usage(format!("{} has no usable file name", file.display())))?
        .to_owned();
    let size = std::fs::metadata(file)
        .map_err(|e| ClientError::Io(format!("{}: {e}", file.display())))?
        .len();
    let client = connect(target).await?;
    let folder_id = folder(&client, folder_path).await?;
    let existing = list(&client, folder_id.clone())
        .await?
        .documents
        .into_iter()
        .find(|d| d.title == title);
    let (document_id, task, revision) = match existing {
        Some(doc) => {
            let res = client
                .call::<UploadDocument>(&DocumentIdRequest {
                    document_id: doc.id.clone(),
                })
                .await?;
            (doc.id, res.task_data, true)
        }
        None => {
            let res = client
                .call::<CreateDocument>(&CreateDocumentRequest {
                    title: title.clone(),
                    folder_id,
                    access_rules: None,
                    inherit_parent: None,
                })
                .await?;
            (res.document_id, res.task_data, false)
        }
    };
    let bar = Arc::new(Progress::new(size, &title));
    let report = Arc::clone(&bar);
    let done = client
        .upload(&task.task_id, file, Arc::new(move |n| report.set(n)))
        .await?;
    bar.finish();
    Ok(json!({
        "document_id": document_id,
        "title": title,
        "new_revision": revision,
        "size": size,
        "upload": done,
    }))
}

/// `coffer get DOC_PATH [-o FILE]`.
pub async fn get(target: &Target, path: &str, output: Option<PathBuf>) -> Outcome {
    let client = connect(target).await?;
    let entry = document(&client, path).await?;
    let res = client
        .call::<GetDocument>(&DocumentIdRequest {
            document_id: entry.id.clone(),
        })
        .await?;
    // Into a directory (or the current one), under the document's title — escaped as
    // `backup extract` escapes names, so no server can make it a path elsewhere.
    let name = crate::cli::extract::escape(&entry.title);
    let dest = match output {
        Some(dir) if dir.is_dir() => dir.join(name),
        Some(file) => file,
        None => PathBuf::from(name),
    };
    let bar = Arc::new(Progress::new(
        res.task_data.size.unwrap_or(entry.size),
        &entry.title,
    ));
    let report = Arc::clone(&bar);
    let size = client
        .download(
            &res.task_data.task_id,
            &dest,
            Arc::new(move |n| report.set(n)),
        )
        .await?;
    bar.finish();
    Ok(json!({"document_id": entry.id, "file": dest, "size": size, "sha256": res.task_data.sha256}))
}

/// `coffer watch`: prints the caller's events until the connection ends.
pub async fn watch(target: &Target, as_json: bool) -> Outcome {
    let mut client = connect(target).await?;
    client
        .call::<RegisterListener>(&RegisterListenerRequest { events: None })
        .await?;
    let mut seen = 0u64;
    while let Some(event) = client.next_event().await {
        seen += 1;
        if as_json {
            println!("{}", serde_json::to_string(&event).unwrap_or_default());
        } else {
            println!("{} {}", event.event, event.data);
        }
    }
    Ok(json!({"events": seen}))
}

/// `coffer tenant list --server …`.
pub async fn tenant_list(target: &Target) -> Outcome {
    let client = connect(target).await?;
    let res = client.call::<ListTenants>(&Empty {}).await?;
    serde_json::to_value(res).map_err(|e| ClientError::Io(e.to_string()).into())
}

/// `coffer tenant create SLUG` on a server; without `--admin-password` one is generated
/// and printed, as the offline command does.
pub async fn tenant_create(
    target: &Target,
    slug: &str,
    display_name: Option<String>,
    admin_password: Option<String>,
) -> Outcome {
    let client = connect(target).await?;
    let generated = admin_password.is_none();
    let password = admin_password.unwrap_or_else(crate::auth::token::generate);
    let res = client
        .call::<CreateTenant>(&CreateTenantRequest {
            tenant: slug.to_owned(),
            display_name,
            admin_password: password.clone(),
        })
        .await;
    let res = match res {
        Err(e @ ClientError::Transport(_)) if generated => {
            // The server may have made the tenant before the answer was lost: its password
            // must not be lost with it.
            eprintln!(
                "coffer: the answer was lost; if tenant `{slug}` was made, its admin password is {password}"
            );
            return Err(e.into());
        }
        other => other?,
    };
    let mut created = serde_json::to_value(res).map_err(|e| ClientError::Io(e.to_string()))?;
    created["server"] = serde_json::json!(client.endpoint().http);
    if generated {
        created["admin_password"] = serde_json::json!(password);
    }
    Ok(created)
}
