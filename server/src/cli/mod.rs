//! The `coffer` command line: the server (`serve`), offline tools on the local database and
//! on archives, and remote commands through [`crate::client`] ([`remote`]).
//!
//! Exit codes: 0 on success; 1 on a failure, with the server's error code printed; 2 on a
//! usage error. On every command but `serve`, `--json` prints one JSON document on stdout
//! (an error too, as `{"error": CODE, "message": …}`); without it, lines for people.
mod args;
pub mod backups;
pub mod extract;
pub mod offline;
mod output;
pub mod progress;
pub mod remote;

use std::process::ExitCode;

use clap::Parser;
use serde_json::{Value, json};

use crate::archive::chain::Links;
use crate::archive::keys::KdfLimits;
use crate::auth::password::PasswordHasherPool;
use crate::auth::token;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::server::{Signals, start};
use crate::services::tenants::{self, NewTenant, create_tenant};
use api_spec::actions::ListTenantsResponse;

pub use args::{
    AdminCommand, ArchiveArgs, BackupCommand, Cli, Command, CreateArgs, ImportArgs, JobArgs,
    PolicyArgs, PolicyCommand, RestoreArgs, TenantCommand, VerifyArgs,
};

/// The `coffer` binary: logging, the arguments, the command; its exit code.
pub fn entry() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init(match cli.command {
        Command::Serve => "info",
        _ => "warn",
    });
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
    let printer = output::human_printer(&cli.command);
    let outcome = match remote_command(&cli) {
        Some(future) => future.await,
        None => local(cli.clone()).await,
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
        Err(failure) => output::report(&failure, as_json),
    }
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
        Command::Backup { command } => return backup_command(target, command),
        Command::Tenant { command } if tenants_on_a_server(cli) => match command {
            TenantCommand::List => Box::pin(async move { remote::tenant_list(&target).await }),
            TenantCommand::Create {
                slug,
                display_name,
                admin_password,
            } => {
                let (display_name, password) = (display_name.clone(), admin_password.clone());
                Box::pin(async move {
                    remote::tenant_create(&target, slug, display_name, password).await
                })
            }
        },
        _ => return None,
    })
}

/// The remote (or offline, run off the reactor) backup command `command` asks for; None for
/// `verify`, which runs before the configuration is read.
fn backup_command(target: remote::Target, command: &BackupCommand) -> Option<Remote<'_>> {
    Some(match command {
        BackupCommand::Verify(_) => return None,
        BackupCommand::Keygen { output } => {
            let output = output.clone();
            Box::pin(offline(move || {
                crate::cli::offline::keygen(output.as_deref())
            }))
        }
        BackupCommand::Ls { archive } => {
            let archive = archive.clone();
            Box::pin(offline(move || {
                let opened = open_archive(&archive, "verifying")?;
                let dir = chain_dir(archive.chain.as_deref(), &archive.archive);
                let mut links = dir_links(&archive, &dir);
                crate::cli::extract::list(opened.reader, &opened.key, &mut links)
            }))
        }
        BackupCommand::Extract {
            archive,
            output,
            path,
            all_revisions,
        } => {
            let archive = archive.clone();
            let (output, path, all) = (output.clone(), path.clone(), *all_revisions);
            Box::pin(offline(move || {
                let opened = open_archive(&archive, "extracting")?;
                let root = path.as_deref().unwrap_or("");
                let dir = chain_dir(archive.chain.as_deref(), &archive.archive);
                let mut links = dir_links(&archive, &dir);
                let source = (opened.reader, &opened.key, &mut links as &mut dyn Links);
                crate::cli::extract::extract(source, &output, root, all)
            }))
        }
        BackupCommand::Create(args) => {
            let args = args.clone();
            Box::pin(async move { backups::create(&target, args).await })
        }
        BackupCommand::List => Box::pin(async move { backups::list(&target).await }),
        BackupCommand::Download {
            backup_id,
            output,
            key_output,
        } => Box::pin(async move {
            let dirs = backups::Destination::new(output, key_output.as_deref());
            backups::download(&target, backup_id, dirs).await
        }),
        BackupCommand::Delete { backup_id } => {
            Box::pin(async move { backups::delete(&target, backup_id).await })
        }
        BackupCommand::Import(args) => {
            let args = args.clone();
            Box::pin(async move { backups::import(&target, args).await })
        }
        BackupCommand::Status { job } => {
            Box::pin(async move { backups::show_status(&target, job).await })
        }
        BackupCommand::Cancel { job } => {
            Box::pin(async move { backups::cancel(&target, job).await })
        }
        BackupCommand::Policy {
            command: PolicyCommand::Get,
        } => Box::pin(async move { backups::policy_get(&target).await }),
        BackupCommand::Policy {
            command: PolicyCommand::Set(args),
        } => Box::pin(async move { backups::policy_set(&target, args).await }),
        BackupCommand::Prune { dry_run } => {
            Box::pin(async move { backups::prune(&target, *dry_run).await })
        }
        BackupCommand::Restore(args) => {
            let args = args.clone();
            Box::pin(async move { backups::restore(&target, args).await })
        }
    })
}

/// Whether `tenant list|create` go to a server: not when `--config` names a local database;
/// else when a server is named (`--server`, `--token` or their environment variables) or a
/// session is stored (`coffer login`).
fn tenants_on_a_server(cli: &Cli) -> bool {
    cli.config.is_none()
        && (cli.server.is_some()
            || cli.token.is_some()
            || crate::client::session::load().is_ok_and(|s| s.is_some()))
}

/// Opens an archive for `backup ls` or `extract`, paying for a wrapped key what a server
/// would by default.
/// The earlier links of an incremental backup, as files in `dir`, opened with the secret
/// files `args` name.
fn dir_links<'a>(
    args: &'a ArchiveArgs,
    dir: &'a std::path::Path,
) -> crate::cli::offline::DirLinks<'a> {
    crate::cli::offline::DirLinks {
        dir,
        secret: crate::cli::offline::SecretFiles {
            passphrase: args.passphrase_file.as_deref(),
            identity: args.identity.as_deref(),
        },
        limits: Config::default().backup_kdf_limits(),
    }
}

fn open_archive(args: &ArchiveArgs, doing: &'static str) -> Result<crate::cli::offline::Opened> {
    crate::cli::offline::open(
        &args.archive,
        &args.key,
        crate::cli::offline::SecretFiles {
            passphrase: args.passphrase_file.as_deref(),
            identity: args.identity.as_deref(),
        },
        Config::default().backup_kdf_limits(),
        doing,
        args.allow_legacy,
    )
}

/// Runs blocking offline work off the runtime; its outcome, printed like a remote one.
async fn offline(work: impl FnOnce() -> Result<Value> + Send + 'static) -> remote::Outcome {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done.map_err(remote::Failure::Local),
        Err(e) => Err(remote::Failure::Local(Error::Internal(format!(
            "offline work: {e}"
        )))),
    }
}

/// Runs a command on this machine: the server, or an offline tool.
async fn local(cli: Cli) -> remote::Outcome {
    run(cli).await.map_err(remote::Failure::Local)
}

/// Runs a local command: what it did, as `--json` prints it (`null` for the server); the
/// process exit code is 0 on `Ok`.
pub async fn run(cli: Cli) -> Result<Value> {
    if let Command::Backup {
        command: BackupCommand::Verify(args),
    } = cli.command
    {
        return verify_offline(args).await;
    }
    let config = Config::load(cli.config.as_deref())
        .map_err(|e| Error::Internal(format!("configuration: {e}")))?;
    match cli.command {
        Command::Serve => {
            start(config, Signals::Handle).await?.wait().await?;
            Ok(Value::Null)
        }
        Command::Tenant {
            command: TenantCommand::List,
        } => {
            let (db, _) = local_database(&config).await?;
            let tenants = crate::storage::tenants::list(&db).await?;
            let tenants = tenants.into_iter().map(tenants::info).collect();
            Ok(serde_json::to_value(ListTenantsResponse { tenants })?)
        }
        Command::Tenant {
            command:
                TenantCommand::Create {
                    slug,
                    display_name,
                    admin_password,
                },
        } => tenant_create(&config, &slug, display_name.as_deref(), admin_password).await,
        Command::Admin {
            command:
                AdminCommand::ResetPassword {
                    tenant,
                    user,
                    password_file,
                },
        } => reset_password(&config, &tenant, &user, password_file.as_deref()).await,
        // Handled before the configuration is read.
        Command::Backup { .. }
        | Command::Login { .. }
        | Command::Logout
        | Command::Ls { .. }
        | Command::Mkdir { .. }
        | Command::Put { .. }
        | Command::Get { .. }
        | Command::Watch => Ok(Value::Null),
    }
}

/// `coffer tenant create` on the local database: the tenant with its `sysop` and admin (a
/// password generated and returned when none is given) and the operator's default policy.
async fn tenant_create(
    config: &Config,
    slug: &str,
    display_name: Option<&str>,
    admin_password: Option<String>,
) -> Result<Value> {
    crate::lifecycle::policy::check_default(config).map_err(|e| {
        let field = e.to_reply_data().field.unwrap_or_default();
        Error::Internal(format!("default_backup_policy: invalid {field}"))
    })?;
    let (db, hasher) = local_database(config).await?;
    let generated = admin_password.is_none();
    let password = admin_password.unwrap_or_else(token::generate);
    let new = NewTenant {
        slug,
        display_name,
        admin_password: &password,
        sysop_permissions: api_spec::permissions::tenant_sysop().collect(),
    };
    let txn = crate::db::begin_write(&db).await?;
    let tenant = create_tenant(&txn, &hasher, new).await?;
    let scope = crate::auth::TenantScope::system(tenant.id);
    let now = crate::time::now_ms();
    crate::lifecycle::policy::apply_default(config, &txn, &scope, now).await?;
    txn.commit().await?;
    let mut created = serde_json::to_value(tenants::info(tenant))?;
    if generated {
        created["admin_password"] = json!(password);
    }
    Ok(created)
}

/// Where an incremental backup's earlier links are: `--chain DIR`, else the archive's own
/// directory (the current one for a bare file name).
pub(crate) fn chain_dir(
    chain: Option<&std::path::Path>,
    archive: &std::path::Path,
) -> std::path::PathBuf {
    let beside = archive.parent().filter(|d| !d.as_os_str().is_empty());
    chain
        .or(beside)
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| ".".into())
}

/// `coffer backup verify`, offline, at the argon2id cost its flags allow.
async fn verify_offline(args: VerifyArgs) -> Result<Value> {
    let defaults = Config::default().backup_kdf_limits();
    let limits = KdfLimits {
        max_memory_kib: args.max_kdf_memory_kib.unwrap_or(defaults.max_memory_kib),
        max_iterations: args.max_kdf_iterations.unwrap_or(defaults.max_iterations),
    };
    tokio::task::spawn_blocking(move || {
        let secret = crate::cli::offline::SecretFiles {
            passphrase: args.passphrase_file.as_deref(),
            identity: args.identity.as_deref(),
        };
        let chain = chain_dir(args.chain.as_deref(), &args.archive);
        crate::cli::offline::verify((&args.archive, &args.key), &chain, secret, limits)
    })
    .await?
}

/// The local database, migrated, with tenant `default` made on first use (as the server
/// would), and a password hasher.
async fn local_database(
    config: &Config,
) -> Result<(sea_orm::DatabaseConnection, PasswordHasherPool)> {
    let db = crate::db::connect(config).await?;
    let hasher = PasswordHasherPool::new(
        config.argon2_memory_kib,
        config.argon2_iterations,
        crate::kdf::KdfPool::new(config.kdf_threads)?,
    )?;
    crate::services::bootstrap::ensure_default_tenant(&db, &hasher, config).await?;
    Ok((db, hasher))
}

/// `coffer admin reset-password`.
async fn reset_password(
    config: &Config,
    tenant: &str,
    username: &str,
    password_file: Option<&std::path::Path>,
) -> Result<Value> {
    let (password, generated) = match password_file {
        Some(file) => (
            remote::read_first_line(file).map_err(|e| Error::Internal(e.to_string()))?,
            false,
        ),
        None => match std::env::var("COFFER_PASSWORD") {
            Ok(p) => (p, false),
            Err(_) => (token::generate(), true),
        },
    };
    let (db, hasher) = local_database(config).await?;
    let tenant_row = crate::storage::tenants::find_by_slug(&db, tenant)
        .await?
        .ok_or_else(|| crate::error::fail(api_spec::ErrorCode::UserNotFound))?;
    let scope = crate::auth::TenantScope::system(tenant_row.id);
    let change = crate::services::accounts::PasswordChange {
        actor_id: uuid::Uuid::nil(),
        actor_may_override: true,
        username,
        old_password: None,
        new_password: &password,
    };
    let txn = crate::db::begin_write(&db).await?;
    let user_id = crate::services::accounts::set_password(&scope, &txn, &hasher, change).await?;
    txn.commit().await?;
    // Servers running on this database end the user's listeners and forget their sessions.
    crate::events::pg::from_outside(
        &db,
        crate::events::pg::Body::SessionsRevoked {
            user_id,
            session_id: None,
        },
    )
    .await?;
    let mut done = json!({"tenant": tenant, "username": username});
    if generated {
        done["password"] = json!(password);
    }
    Ok(done)
}
