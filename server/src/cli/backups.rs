//! Remote backup commands: `coffer backup create|list|download|delete|policy|prune` (export,
//! needs `export_backup`) and `coffer backup import|restore|status|cancel` (needs
//! `import_backup`). A job is
//! followed through its events (the connection listens before the job starts), with a
//! progress bar on a terminal; a job whose events stop coming is asked for its status.
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use api_spec::actions::{
    BackupIdRequest, CancelBackupImport, DeleteBackup, GenerateBackup, GenerateBackupRequest,
    GetBackupDownload, GetBackupExportStatus, GetBackupImportStatus, InitiateBackupImport,
    InitiateBackupImportRequest, JobIdRequest, JobStatus, ListBackups, RegisterListener,
    RegisterListenerRequest, StartBackupImport, StartBackupImportRequest,
};
use api_spec::actions::{
    BackupPolicy, GetBackupPolicy, KeyProtection, PruneBackups, PruneBackupsRequest, RestoreBackup,
    RestoreBackupRequest, SetBackupPolicy,
};
use api_spec::envelope::Empty;
use api_spec::events::{
    BACKUP_EXPORT_COMPLETED, BACKUP_EXPORT_PROGRESS, BACKUP_IMPORT_COMPLETED,
    BACKUP_IMPORT_PROGRESS,
};
use api_spec::jobs::JobState;
use serde_json::{Value, json};

pub use super::args::{CreateArgs, ImportArgs, RestoreArgs};
use super::progress::Progress;
use super::remote::{Failure, Outcome, Target, connect, read_first_line};
use crate::client::{Client, ClientError};

/// How long a followed job may stay silent before its status is asked (an event lost on
/// the way costs one request, never a hang).
const EVENT_PATIENCE: Duration = Duration::from_secs(5);

/// Where a downloaded backup goes: the archive into one directory, its key file into the
/// same one or (`--key-output`) another.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'a> {
    pub archive: &'a Path,
    pub key: &'a Path,
}

impl<'a> Destination<'a> {
    pub fn new(archive: &'a Path, key: Option<&'a Path>) -> Self {
        Self {
            archive,
            key: key.unwrap_or(archive),
        }
    }
}

fn to_value(v: impl serde::Serialize) -> Outcome {
    serde_json::to_value(v).map_err(|e| ClientError::Io(e.to_string()).into())
}

fn passphrase(file: Option<&Path>) -> Result<Option<String>, Failure> {
    file.map(read_first_line).transpose()
}

/// An identity file's text (for a write-only backup's key file).
fn identity(file: Option<&Path>) -> Result<Option<String>, Failure> {
    file.map(|f| {
        std::fs::read_to_string(f)
            .map_err(|e| Failure::Client(ClientError::Io(format!("{}: {e}", f.display()))))
    })
    .transpose()
}

/// Which job a status belongs to: an export's or an import's.
#[derive(Clone, Copy)]
enum Kind {
    Export,
    Import,
}

async fn status(client: &Client, kind: Kind, job: &str) -> Result<JobStatus, Failure> {
    let req = JobIdRequest {
        backup_task_id: job.to_owned(),
    };
    Ok(match kind {
        Kind::Export => client.call::<GetBackupExportStatus>(&req).await?,
        Kind::Import => client.call::<GetBackupImportStatus>(&req).await?,
    })
}

/// The events of a job of `kind`: its progress, and its end.
fn job_events(kind: Kind) -> [&'static str; 2] {
    match kind {
        Kind::Export => [BACKUP_EXPORT_PROGRESS, BACKUP_EXPORT_COMPLETED],
        Kind::Import => [BACKUP_IMPORT_PROGRESS, BACKUP_IMPORT_COMPLETED],
    }
}

/// Subscribes the connection to the events of jobs of `kind`: before the job starts, so
/// that none of its events is missed.
async fn listen(client: &Client, kind: Kind) -> Result<(), Failure> {
    let events = job_events(kind).map(str::to_owned).to_vec();
    client
        .call::<RegisterListener>(&RegisterListenerRequest {
            events: Some(events),
        })
        .await?;
    Ok(())
}

/// Follows a job to its end through its events (see [`listen`]), showing its progress; its
/// last status. A job that did not complete is a failure with the job's own error code.
async fn follow(
    client: &mut Client,
    kind: Kind,
    job: &str,
    label: &str,
) -> Result<JobStatus, Failure> {
    let [_, ended] = job_events(kind);
    let mut bar: Option<Progress> = None;
    let mut show = |done: u64, total: u64| {
        if total > 0 {
            bar.get_or_insert_with(|| Progress::new(total, label))
                .set(done);
        }
    };
    // What happened before the events below.
    let mut now = status(client, kind, job).await?;
    while !now.status.is_final() {
        show(now.bytes_done, now.bytes_total);
        match tokio::time::timeout(EVENT_PATIENCE, client.next_event()).await {
            Ok(Some(event)) if event.data["backup_task_id"] == job => {
                if event.event == ended {
                    // The status carries what the event does not: the result, the message.
                    now = status(client, kind, job).await?;
                } else {
                    let number = |field: &str| event.data[field].as_u64();
                    now.bytes_done = number("bytes_done").unwrap_or(now.bytes_done);
                    now.bytes_total = number("bytes_total").unwrap_or(now.bytes_total);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(ClientError::Transport(
                    "the server closed the connection while the job ran".into(),
                )
                .into());
            }
            Err(_) => now = status(client, kind, job).await?,
        }
    }
    show(now.bytes_done, now.bytes_total);
    if let Some(bar) = &bar {
        bar.finish();
    }
    if now.status != JobState::Completed {
        return Err(job_failed(&now));
    }
    Ok(now)
}

fn job_failed(status: &JobStatus) -> Failure {
    let error = status
        .error
        .as_deref()
        .and_then(|e| serde_json::from_value(json!(e)).ok())
        .unwrap_or(api_spec::ErrorCode::Internal);
    Failure::Client(ClientError::Api {
        status: error.status(),
        error,
        message: format!(
            "the job ended {}: {}",
            status.status,
            status.error_message.as_deref().unwrap_or(error.message())
        ),
        data: serde_json::to_value(status).unwrap_or_default(),
    })
}

/// `coffer backup create`.
pub async fn create(target: &Target, args: CreateArgs) -> Outcome {
    let mut client = connect(target).await?;
    let wait = args.wait || args.output.is_some();
    if wait {
        listen(&client, Kind::Export).await?;
    }
    let started = client
        .call::<GenerateBackup>(&GenerateBackupRequest {
            backup_name: args.name.clone(),
            passphrase: passphrase(args.passphrase_file.as_deref())?,
            compression: args.compression,
            incremental: args.incremental,
            base_backup_id: args.base.clone(),
        })
        .await?;
    if args.incremental && !started.incremental {
        eprintln!("no backup to build on: making a full backup");
    }
    if !wait {
        return to_value(started);
    }
    let job = &started.backup_task_id;
    let done = follow(&mut client, Kind::Export, job, "export").await?;
    let mut out = json!({"backup_id": started.backup_id, "job": done});
    if let Some(dir) = &args.output {
        let dirs = Destination::new(dir, args.key_output.as_deref());
        out["files"] = download_chain(&client, &started.backup_id, dirs).await?;
    }
    Ok(out)
}

/// Downloads a backup's archive and key as `<backup_id>.cbk` and `<backup_id>.key.json` (the
/// names the server keeps them under) into `dirs`. The key file holds the key in clear unless
/// a passphrase or recipients wrap it: it is the owner's only (0600) from its creation, and a
/// key directory the command makes is 0700.
async fn download_into(client: &Client, backup_id: &str, dirs: Destination<'_>) -> Outcome {
    let mkdir = |dir: &Path, mode: u32| {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(dir)
            .map_err(|e| ClientError::Io(format!("creating {}: {e}", dir.display())))
    };
    mkdir(dirs.archive, 0o777)?;
    mkdir(dirs.key, 0o700)?;
    let tasks = client
        .call::<GetBackupDownload>(&BackupIdRequest {
            backup_id: backup_id.to_owned(),
        })
        .await?;
    let archive = dirs.archive.join(format!("{backup_id}.cbk"));
    let key = dirs.key.join(format!("{backup_id}.key.json"));
    for (task, path, private) in [(&tasks.archive, &archive, false), (&tasks.key, &key, true)] {
        let label = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("backup");
        let bar = Arc::new(Progress::new(task.size.unwrap_or(0), label));
        let report = Arc::clone(&bar);
        let progress: crate::client::transfer::Progress = Arc::new(move |n| report.set(n));
        if private {
            client
                .download_private(&task.task_id, path, progress)
                .await?;
        } else {
            client.download(&task.task_id, path, progress).await?;
        }
        bar.finish();
    }
    Ok(json!({"archive": archive, "key": key}))
}

/// Downloads backup `backup_id` and every earlier link of its chain (an incremental
/// backup's), each as `<id>.cbk` and `<id>.key.json` into `dirs`: everything a restore from
/// these files needs. Lists the chain, newest first, when there is one.
async fn download_chain(client: &Client, backup_id: &str, dirs: Destination<'_>) -> Outcome {
    let all = client.call::<ListBackups>(&Empty {}).await?.backups;
    let base_of = |id: &str| {
        all.iter()
            .find(|b| b.backup_id == id)
            .and_then(|b| b.base_backup_id.clone())
    };
    let mut chain = vec![backup_id.to_owned()];
    while let Some(base) = base_of(&chain[chain.len() - 1]) {
        if chain.contains(&base) || chain.len() >= crate::archive::chain::MAX_LINKS {
            break;
        }
        chain.push(base);
    }
    let mut out = download_into(client, backup_id, dirs).await?;
    for link in &chain[1..] {
        download_into(client, link, dirs).await?;
    }
    if chain.len() > 1 {
        out["chain"] = json!(chain);
    }
    Ok(out)
}

/// `coffer backup list`.
pub async fn list(target: &Target) -> Outcome {
    let client = connect(target).await?;
    to_value(client.call::<ListBackups>(&Empty {}).await?)
}

/// `coffer backup download ID -o DIR [--key-output DIR2]`.
pub async fn download(target: &Target, backup_id: &str, dirs: Destination<'_>) -> Outcome {
    let client = connect(target).await?;
    download_chain(&client, backup_id, dirs).await
}

/// `coffer backup delete ID`.
pub async fn delete(target: &Target, backup_id: &str) -> Outcome {
    let client = connect(target).await?;
    client
        .call::<DeleteBackup>(&BackupIdRequest {
            backup_id: backup_id.to_owned(),
        })
        .await?;
    Ok(json!({"deleted": backup_id}))
}

/// `coffer backup import`: initiate, upload both files (resuming), start, and with `wait`
/// follow the job to its end.
pub async fn import(target: &Target, args: ImportArgs) -> Outcome {
    // An incremental backup's earlier links, found before anything is uploaded.
    let links = {
        let args = args.clone();
        tokio::task::spawn_blocking(move || {
            let secret = crate::cli::offline::SecretFiles {
                passphrase: args.job.passphrase_file.as_deref(),
                identity: args.job.identity.as_deref(),
            };
            let dir = super::chain_dir(args.chain.as_deref(), &args.archive);
            let limits = crate::config::Config::default().backup_kdf_limits();
            crate::cli::offline::chain_files((&args.archive, &args.key), &dir, secret, limits)
        })
        .await
        .map_err(|e| crate::error::Error::Internal(e.to_string()))??
    };
    let client = connect(target).await?;
    let job = client
        .call::<InitiateBackupImport>(&InitiateBackupImportRequest {
            timeout_seconds: None,
            links: Some(links.len() as u32),
        })
        .await?;
    let mut uploads = vec![
        (job.archive_task_id.clone(), args.archive.clone()),
        (job.key_task_id.clone(), args.key.clone()),
    ];
    for (tasks, (archive, key)) in job.link_tasks.iter().zip(links) {
        uploads.push((tasks.archive_task_id.clone(), archive));
        uploads.push((tasks.key_task_id.clone(), key));
    }
    for (task, path) in &uploads {
        let size = std::fs::metadata(path)
            .map_err(|e| ClientError::Io(format!("{}: {e}", path.display())))?
            .len();
        let label = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("upload");
        let bar = Arc::new(Progress::new(size, label));
        let report = Arc::clone(&bar);
        client
            .upload(task, path, Arc::new(move |n| report.set(n)))
            .await?;
        bar.finish();
    }
    // The uploads went over HTTP; the WebSocket sat idle meanwhile and a long upload
    // outlasts the server's idle timeout: start on a fresh connection.
    drop(client);
    let mut client = connect(target).await?;
    if args.job.wait {
        listen(&client, Kind::Import).await?;
    }
    let started = client
        .call::<StartBackupImport>(&StartBackupImportRequest {
            backup_task_id: job.backup_task_id.clone(),
            passphrase: passphrase(args.job.passphrase_file.as_deref())?,
            identity: identity(args.job.identity.as_deref())?,
            mode: args.job.mode,
            on_conflict: args.job.on_conflict,
            dry_run: args.job.dry_run,
            allow_legacy: args.allow_legacy,
            ..StartBackupImportRequest::default()
        })
        .await?;
    if !args.job.wait {
        return to_value(started);
    }
    let done = follow(&mut client, Kind::Import, &job.backup_task_id, "import").await?;
    Ok(summary(&done))
}

/// `coffer backup restore ID [--path P]... [--into FOLDER_PATH]`: a restore of a stored
/// backup; with `--wait`, followed to its end like an import.
pub async fn restore(target: &Target, args: RestoreArgs) -> Outcome {
    let mut client = connect(target).await?;
    let target_folder_id =
        match &args.into {
            Some(path) => Some(super::remote::folder(&client, path).await?.ok_or_else(|| {
                Failure::Usage("--into names the top level: leave it out".into())
            })?),
            None => None,
        };
    if args.job.wait {
        listen(&client, Kind::Import).await?;
    }
    let queued = client
        .call::<RestoreBackup>(&RestoreBackupRequest {
            backup_id: args.backup_id.clone(),
            passphrase: passphrase(args.job.passphrase_file.as_deref())?,
            identity: identity(args.job.identity.as_deref())?,
            mode: args.job.mode,
            on_conflict: args.job.on_conflict,
            dry_run: args.job.dry_run,
            select: (!args.paths.is_empty()).then(|| args.paths.clone()),
            target_folder_id,
        })
        .await?;
    if !args.job.wait {
        return to_value(queued);
    }
    let done = follow(&mut client, Kind::Import, &queued.backup_task_id, "restore").await?;
    Ok(summary(&done))
}

/// `coffer backup policy get`.
pub async fn policy_get(target: &Target) -> Outcome {
    let client = connect(target).await?;
    to_value(client.call::<GetBackupPolicy>(&Empty {}).await?)
}

/// `coffer backup policy set …`: the whole policy.
pub async fn policy_set(target: &Target, args: &super::PolicyArgs) -> Outcome {
    let client = connect(target).await?;
    let policy = BackupPolicy {
        schedule: args.schedule.clone(),
        time_zone: args.time_zone.clone(),
        compression: args.compression,
        key_protection: (!args.recipients.is_empty()).then_some(KeyProtection::Recipients),
        recipients: (!args.recipients.is_empty()).then(|| args.recipients.clone()),
        keep_last: args.keep_last,
        keep_daily: args.keep_daily,
        keep_weekly: args.keep_weekly,
        keep_monthly: args.keep_monthly,
        keep_within: args.keep_within.clone(),
        verify_after: Some(args.verify_after),
        drill_schedule: args.drill_schedule.clone(),
        full_every: args.full_every,
    };
    to_value(client.call::<SetBackupPolicy>(&policy).await?)
}

/// `coffer backup prune [--dry-run]`.
pub async fn prune(target: &Target, dry_run: bool) -> Outcome {
    let client = connect(target).await?;
    to_value(
        client
            .call::<PruneBackups>(&PruneBackupsRequest { dry_run })
            .await?,
    )
}

/// What a finished import reports: its counts and warnings, and how many ids it mapped (the
/// map itself can be long; `backup status --json` shows it).
fn summary(done: &JobStatus) -> Value {
    let result = done.result.clone().unwrap_or(Value::Null);
    let mapped: usize = result["id_map"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(Value::as_object)
                .map(|o| o.len())
                .sum()
        })
        .unwrap_or(0);
    json!({
        "backup_task_id": done.backup_task_id,
        "status": done.status,
        "counts": done.counts.clone().or_else(|| result.get("counts").cloned()),
        "warnings": result.get("warnings").cloned().unwrap_or(json!([])),
        "dry_run": result.get("dry_run").cloned().unwrap_or(json!(false)),
        "id_map_size": mapped,
    })
}

/// `coffer backup status JOB`: an import job's status, else an export job's.
pub async fn show_status(target: &Target, job: &str) -> Outcome {
    let client = connect(target).await?;
    match status(&client, Kind::Import, job).await {
        Err(Failure::Client(e)) if e.code() == Some(api_spec::ErrorCode::JobNotFound) => {
            to_value(status(&client, Kind::Export, job).await?)
        }
        other => to_value(other?),
    }
}

/// `coffer backup cancel JOB`.
pub async fn cancel(target: &Target, job: &str) -> Outcome {
    let client = connect(target).await?;
    to_value(
        client
            .call::<CancelBackupImport>(&JobIdRequest {
                backup_task_id: job.to_owned(),
            })
            .await?,
    )
}
