//! The `coffer` command line.
use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::auth::password::PasswordHasherPool;
use crate::auth::token;
use crate::backup::keys::KdfLimits;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::server::{Signals, start};
use crate::services::tenants::{NewTenant, create_tenant};

#[derive(Debug, Parser)]
#[command(
    name = "coffer",
    version,
    about = "Multi-tenant document server with encrypted backups"
)]
pub struct Cli {
    /// TOML configuration file; `COFFER_*` environment variables override it.
    #[arg(long, global = true, env = "COFFER_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
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
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Verify an archive with its key file: every segment, manifest and blob.
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
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
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

/// Runs the parsed command; the process exit code is 0 on `Ok`.
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
        Command::Backup { .. } => Ok(()),
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
    }
}
