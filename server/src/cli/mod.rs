//! The `coffer` command line: the server (`serve`), offline tools on the local database and
//! on archives, and remote commands through [`crate::client`] ([`remote`]).
//!
//! Exit codes: 0 on success; 1 on a failure, with the server's error code printed; 2 on a
//! usage error. `--json` prints one JSON document on stdout (an error too, as
//! `{"error": CODE, "message": …}`).
pub mod backups;
pub mod remote;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use crate::auth::password::PasswordHasherPool;
use crate::auth::token;
use crate::backup::keys::KdfLimits;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::server::{Signals, start};
use crate::services::tenants::{NewTenant, create_tenant};

#[derive(Debug, Clone, Parser)]
#[command(
    name = "coffer",
    version,
    about = "Multi-tenant document server with encrypted backups"
)]
pub struct Cli {
    /// TOML configuration file; `COFFER_*` environment variables override it.
    #[arg(long, global = true, env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
    /// Server of a remote command, e.g. `http://127.0.0.1:5104` (default: the stored
    /// session's).
    #[arg(long, global = true, env = "COFFER_SERVER")]
    pub server: Option<String>,
    /// Session token of a remote command (default: the stored session's).
    #[arg(long, global = true, env = "COFFER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print machine-readable JSON on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Run the server (SQLite and ./coffer-data unless configured otherwise).
    Serve,
    /// Manage tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Offline tools for backup archives (no server needed).
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Log in to a server and store the session (mode 0600) for the other remote commands.
    Login {
        /// Tenant to log in to (`default` when absent).
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long)]
        user: String,
        /// File whose first line is the password; else `COFFER_PASSWORD`, else a prompt.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// End the stored session on the server and forget it.
    Logout,
    /// List a folder (the top level by default).
    Ls {
        #[arg(default_value = "/")]
        path: String,
    },
    /// Create a folder; its parent must exist unless `-p` is given.
    Mkdir {
        path: String,
        /// Create missing parents too; an existing folder is not an error.
        #[arg(short, long)]
        parents: bool,
    },
    /// Upload a file as a document titled after it (a new revision if one exists there).
    Put {
        file: PathBuf,
        /// Folder to put it in (the top level by default).
        #[arg(default_value = "/")]
        folder: String,
    },
    /// Download a document's current revision.
    Get {
        path: String,
        /// Where to write it (default: its title, in the current directory).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Print the caller's events as they come, until interrupted.
    Watch,
}

#[derive(Debug, Clone, Subcommand)]
pub enum BackupCommand {
    /// Verify an archive with its key file, offline: every segment, manifest and blob.
    Verify {
        archive: PathBuf,
        #[arg(long)]
        key: PathBuf,
        /// File holding the key file's passphrase (first line).
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// Unwrap a passphrase-protected key asking argon2id for up to this much memory, in
        /// KiB (default: what a server pays by default, 262144; the format allows 4194304).
        #[arg(long)]
        max_kdf_memory_kib: Option<u32>,
        /// Unwrap a passphrase-protected key asking argon2id for up to this many iterations
        /// (default: what a server pays by default, 8; the format allows 64).
        #[arg(long)]
        max_kdf_iterations: Option<u32>,
    },
    /// Export the tenant on the server; with `-o`, wait and download archive and key.
    Create {
        #[arg(long)]
        name: Option<String>,
        /// Wrap the key file with the passphrase in this file's first line.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(long, value_parser = ["zstd", "none"])]
        compression: Option<String>,
        /// Wait for the export to end.
        #[arg(long)]
        wait: bool,
        /// Wait, then download `<id>.coffer` and `<id>.key` into this directory.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// List the tenant's backups on the server.
    List,
    /// Download a backup's archive and key into a directory.
    Download {
        backup_id: String,
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Delete a backup on the server.
    Delete { backup_id: String },
    /// Import an archive into the tenant on the server: upload both files, start, and with
    /// `--wait` follow the job to its end.
    Import {
        archive: PathBuf,
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        #[arg(long, value_parser = ["restore", "merge"])]
        mode: Option<String>,
        #[arg(long, value_parser = ["rename", "skip", "fail"])]
        on_conflict: Option<String>,
        /// Plan only: report what would happen, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Accept an unauthenticated legacy CFMS archive.
        #[arg(long)]
        allow_legacy: bool,
        #[arg(long)]
        wait: bool,
    },
    /// A backup job's status (an import's or an export's).
    Status { job: String },
    /// Cancel an import job.
    Cancel { job: String },
}

/// Tenant commands use the local database (`--config`) unless `--server` is given.
#[derive(Debug, Clone, Subcommand)]
pub enum TenantCommand {
    /// List tenants (on a server: needs `manage_tenants` in tenant `default`).
    List,
    /// Create a tenant with its own `sysop` group and `admin` user.
    Create {
        /// The tenant's slug (what users give as `tenant` at login).
        slug: String,
        #[arg(long)]
        display_name: Option<String>,
        /// Password for the tenant's `admin`; generated and printed when absent.
        #[arg(long, env = "COFFER_TENANT_ADMIN_PASSWORD", hide_env_values = true)]
        admin_password: Option<String>,
    },
}

/// The `coffer` binary: logging, the arguments, the command; its exit code.
pub fn entry() -> ExitCode {
    crate::telemetry::init();
    let cli = Cli::parse();
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(main(cli)),
        Err(e) => {
            eprintln!("coffer: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the parsed command and reports its outcome; the process's exit code.
pub async fn main(cli: Cli) -> ExitCode {
    let as_json = cli.json;
    let printer = match &cli.command {
        Command::Ls { .. } => remote::print_listing,
        _ => print_human,
    };
    let outcome = match remote_command(&cli) {
        Some(future) => future.await,
        None => local(cli.clone()).await.map(|()| Value::Null),
    };
    match outcome {
        Ok(Value::Null) => ExitCode::SUCCESS,
        Ok(value) if as_json => {
            println!("{value}");
            ExitCode::SUCCESS
        }
        Ok(value) => {
            printer(&value);
            ExitCode::SUCCESS
        }
        Err(failure) => report(&failure, as_json),
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

/// Prints a failure (the server's message and code, never a debug dump); exit 1, or 2 for
/// a usage error.
fn report(failure: &remote::Failure, as_json: bool) -> ExitCode {
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

type Remote<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = remote::Outcome> + 'a>>;

/// The remote command `cli` asks for, if it is one.
fn remote_command(cli: &Cli) -> Option<Remote<'_>> {
    let target = remote::Target {
        server: cli.server.clone(),
        token: cli.token.clone(),
    };
    Some(match &cli.command {
        Command::Login {
            tenant,
            user,
            password_file,
        } => Box::pin(remote::login(
            cli.server.clone(),
            tenant.clone(),
            user,
            password_file.as_deref(),
        )),
        Command::Logout => Box::pin(async move { remote::logout(&target).await }),
        Command::Ls { path } => Box::pin(async move { remote::ls(&target, path).await }),
        Command::Mkdir { path, parents } => {
            Box::pin(async move { remote::mkdir(&target, path, *parents).await })
        }
        Command::Put { file, folder } => {
            Box::pin(async move { remote::put(&target, file, folder).await })
        }
        Command::Get { path, output } => {
            Box::pin(async move { remote::get(&target, path, output.clone()).await })
        }
        Command::Watch => {
            let as_json = cli.json;
            Box::pin(async move { remote::watch(&target, as_json).await })
        }
        Command::Backup { command } => match command {
            BackupCommand::Verify { .. } => return None,
            BackupCommand::Create {
                name,
                passphrase_file,
                compression,
                wait,
                output,
            } => {
                let args = backups::CreateArgs {
                    name: name.clone(),
                    passphrase_file: passphrase_file.clone(),
                    compression: compression.clone(),
                    wait: *wait,
                    output: output.clone(),
                };
                Box::pin(async move { backups::create(&target, args).await })
            }
            BackupCommand::List => Box::pin(async move { backups::list(&target).await }),
            BackupCommand::Download { backup_id, output } => {
                Box::pin(async move { backups::download(&target, backup_id, output).await })
            }
            BackupCommand::Delete { backup_id } => {
                Box::pin(async move { backups::delete(&target, backup_id).await })
            }
            BackupCommand::Import {
                archive,
                key,
                passphrase_file,
                mode,
                on_conflict,
                dry_run,
                allow_legacy,
                wait,
            } => {
                let args = backups::ImportArgs {
                    archive: archive.clone(),
                    key: key.clone(),
                    passphrase_file: passphrase_file.clone(),
                    mode: mode.clone(),
                    on_conflict: on_conflict.clone(),
                    dry_run: *dry_run,
                    allow_legacy: *allow_legacy,
                    wait: *wait,
                };
                Box::pin(async move { backups::import(&target, args).await })
            }
            BackupCommand::Status { job } => {
                Box::pin(async move { backups::show_status(&target, job).await })
            }
            BackupCommand::Cancel { job } => {
                Box::pin(async move { backups::cancel(&target, job).await })
            }
        },
        Command::Tenant { command } if cli.server.is_some() => match command {
            TenantCommand::List => Box::pin(async move { remote::tenant_list(&target).await }),
            TenantCommand::Create {
                slug,
                display_name,
                admin_password,
            } => {
                let Some(password) = admin_password.clone() else {
                    return Some(Box::pin(async {
                        Err(remote::Failure::Usage(
                            "give --admin-password (or COFFER_TENANT_ADMIN_PASSWORD) for a tenant made on a server".into(),
                        ))
                    }));
                };
                let display_name = display_name.clone();
                Box::pin(async move {
                    remote::tenant_create(&target, slug, display_name, &password).await
                })
            }
        },
        _ => return None,
    })
}

/// Runs a command on this machine: the server, or an offline tool.
async fn local(cli: Cli) -> Result<(), remote::Failure> {
    run(cli).await.map_err(remote::Failure::Local)
}

/// Runs a local command; the process exit code is 0 on `Ok`.
pub async fn run(cli: Cli) -> Result<()> {
    if let Command::Backup {
        command:
            BackupCommand::Verify {
                archive,
                key,
                passphrase_file,
                max_kdf_memory_kib,
                max_kdf_iterations,
            },
    } = cli.command
    {
        let defaults = Config::default().backup_kdf_limits();
        let limits = KdfLimits {
            max_memory_kib: max_kdf_memory_kib.unwrap_or(defaults.max_memory_kib),
            max_iterations: max_kdf_iterations.unwrap_or(defaults.max_iterations),
        };
        return tokio::task::spawn_blocking(move || {
            crate::backup::cli::verify(&archive, &key, passphrase_file.as_deref(), limits)
        })
        .await?;
    }
    let config = Config::load(cli.config.as_deref())
        .map_err(|e| Error::Internal(format!("configuration: {e}")))?;
    match cli.command {
        Command::Serve => start(config, Signals::Handle).await?.wait().await,
        Command::Tenant {
            command: TenantCommand::List,
        } => {
            let db = crate::db::connect(&config).await?;
            for tenant in crate::storage::tenants::list(&db).await? {
                println!("{}\t{}", tenant.slug, tenant.display_name);
            }
            Ok(())
        }
        Command::Tenant {
            command:
                TenantCommand::Create {
                    slug,
                    display_name,
                    admin_password,
                },
        } => {
            let db = crate::db::connect(&config).await?;
            let hasher = PasswordHasherPool::new(
                config.argon2_memory_kib,
                config.argon2_iterations,
                crate::kdf::KdfPool::new(config.kdf_threads)?,
            )?;
            crate::services::bootstrap::ensure_default_tenant(&db, &hasher, &config).await?;
            let generated = admin_password.is_none();
            let password = admin_password.unwrap_or_else(token::generate);
            let new = NewTenant {
                slug: &slug,
                display_name: display_name.as_deref(),
                admin_password: &password,
                sysop_permissions: api_spec::permissions::tenant_sysop().collect(),
            };
            let txn = crate::db::begin_write(&db).await?;
            let tenant = create_tenant(&txn, &hasher, new).await?;
            txn.commit().await?;
            println!("Created tenant `{}` with user `admin`.", tenant.slug);
            if generated {
                println!("Its generated admin password is {password}");
            }
            Ok(())
        }
        // Handled before the configuration is read.
        Command::Backup { .. }
        | Command::Login { .. }
        | Command::Logout
        | Command::Ls { .. }
        | Command::Mkdir { .. }
        | Command::Put { .. }
        | Command::Get { .. }
        | Command::Watch => Ok(()),
    }
}
