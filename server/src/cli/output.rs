//! How a command's outcome is printed: for people (a printer per command; `--json` prints
//! the outcome's JSON as it is), and a failure with its code, never a debug dump.
use std::process::ExitCode;

use api_spec::actions::{DocumentEntry, FolderEntry};
use serde_json::{Value, json};

use super::remote;
use super::{BackupCommand, Command, TenantCommand};

/// How a command's outcome prints without `--json`.
pub(super) fn human_printer(command: &Command) -> fn(&Value) {
    match command {
        Command::Ls { .. } => print_listing,
        Command::Backup {
            command: BackupCommand::Ls { .. },
        } => print_archive_tree,
        Command::Backup {
            command: BackupCommand::Verify(_),
        } => print_verified,
        Command::Tenant {
            command: TenantCommand::List,
        } => print_tenants,
        Command::Tenant {
            command: TenantCommand::Create { .. },
        } => print_tenant_created,
        Command::Admin { .. } => print_password_set,
        _ => print_human,
    }
}

/// `tenant list`: one line per tenant, its slug and display name.
fn print_tenants(value: &Value) {
    for t in value["tenants"].as_array().into_iter().flatten() {
        println!(
            "{}\t{}",
            t["tenant"].as_str().unwrap_or_default(),
            t["display_name"].as_str().unwrap_or_default()
        );
    }
}

/// `tenant create`: the tenant, and the admin password when it was generated.
fn print_tenant_created(value: &Value) {
    let on = value["server"]
        .as_str()
        .map(|s| format!(" on {s}"))
        .unwrap_or_default();
    println!(
        "Created tenant `{}`{on} with user `admin`.",
        value["tenant"].as_str().unwrap_or_default()
    );
    if let Some(password) = value["admin_password"].as_str() {
        println!("Its generated admin password is {password}");
    }
}

/// `admin reset-password`: done, and the new password when it was generated.
fn print_password_set(value: &Value) {
    println!(
        "The password of `{}` in tenant `{}` is set; their sessions ended.",
        value["username"].as_str().unwrap_or_default(),
        value["tenant"].as_str().unwrap_or_default()
    );
    if let Some(password) = value["password"].as_str() {
        println!("The new password is {password}");
    }
}

fn print_human(value: &Value) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) => println!("{k}: {s}"),
                    other => println!("{k}: {other}"),
                }
            }
        }
        other => println!("{other}"),
    }
}

/// How `backup ls` prints for people: each folder with a slash, each document with its
/// current size and its revision count.
fn print_archive_tree(value: &Value) {
    let mut folder_paths = std::collections::HashMap::new();
    let mut lines = Vec::new();
    for f in value["folders"].as_array().into_iter().flatten() {
        let path = f["path"].as_str().unwrap_or_default().to_owned();
        folder_paths.insert(
            f["id"].as_str().unwrap_or_default().to_owned(),
            path.clone(),
        );
        lines.push((path, "/".to_owned()));
    }
    for d in value["documents"].as_array().into_iter().flatten() {
        let folder = d["folder_id"]
            .as_str()
            .and_then(|id| folder_paths.get(id))
            .map(|p| format!("{p}/"))
            .unwrap_or_default();
        let revisions = d["revisions"].as_array().map_or(0, Vec::len);
        let current = d["revisions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["current"] == true);
        let size = current.and_then(|r| r["size"].as_u64()).unwrap_or(0);
        let title = d["title"].as_str().unwrap_or_default();
        lines.push((
            format!("{folder}{title}"),
            format!("  {size} bytes, {revisions} revision(s)"),
        ));
    }
    lines.sort();
    for (path, what) in lines {
        println!("{path}{what}");
    }
    let archive = &value["archive"];
    println!(
        "OK: backup {} of tenant `{}`, every MAC checked",
        archive["backup_id"].as_str().unwrap_or_default(),
        archive["tenant"].as_str().unwrap_or_default()
    );
}

/// Prints a failure (the server's message and code, never a debug dump); exit 1, or 2 for
/// a usage error.
pub(super) fn report(failure: &remote::Failure, as_json: bool) -> ExitCode {
    let (code, message, exit) = match failure {
        remote::Failure::Usage(m) => ("usage".to_owned(), m.clone(), 2),
        remote::Failure::Client(e) => (
            e.code()
                .map_or_else(|| "transport".to_owned(), |c| crate::client::code_name(&c)),
            match e {
                crate::client::ClientError::Api { message, .. } => message.clone(),
                other => other.to_string(),
            },
            1,
        ),
        remote::Failure::Local(e) => {
            let code = e.code();
            let message = match code {
                api_spec::ErrorCode::Internal => e.to_string(),
                _ => code.message().to_owned(),
            };
            (crate::client::code_name(&code), message, 1)
        }
    };
    if as_json {
        println!("{}", json!({"error": code, "message": message}));
    }
    eprintln!("coffer: {message} [{code}]");
    ExitCode::from(exit)
}

/// How `ls` prints for people: folders first, with a slash; documents with their size.
fn print_listing(value: &Value) {
    let folders: Vec<FolderEntry> =
        serde_json::from_value(value["folders"].clone()).unwrap_or_default();
    let documents: Vec<DocumentEntry> =
        serde_json::from_value(value["documents"].clone()).unwrap_or_default();
    for f in folders {
        println!("{}/", f.name);
    }
    for d in documents {
        println!("{:>12}  {}", d.size, d.title);
    }
}

/// How `backup verify` prints for people.
fn print_verified(value: &Value) {
    let c = &value["counts"];
    println!(
        "OK: backup {} of tenant `{}` — {} folders, {} documents, {} revisions, {} files ({} bytes), {} users, {} groups{}",
        value["backup_id"].as_str().unwrap_or_default(),
        value["tenant"].as_str().unwrap_or_default(),
        c["folders"],
        c["documents"],
        c["revisions"],
        c["files"],
        c["bytes"],
        c["users"],
        c["groups"],
        if value["compressed"] == true {
            ", zstd"
        } else {
            ""
        }
    );
}
