//! The command line's arguments: every command and its flags, as `coffer --help` shows them.
use std::path::PathBuf;

use api_spec::actions::Compression;
use api_spec::jobs::{ImportMode, OnConflict};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

/// Parses a flag that takes one of a wire enum's names (`all`, named by `name`).
fn wire<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(|v| name(*v))).try_map(move |text| {
        all.iter()
            .copied()
            .find(|v| name(*v) == text)
            .ok_or("not one of the possible values")
    })
}

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
    /// Session token of a remote command (default: the stored session's). Tokens are
    /// base64url, so one in 32 begins with `-`: it is taken as the value all the same.
    #[arg(
        long,
        global = true,
        env = "COFFER_TOKEN",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
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
    /// Manage tenants, on a server or in the local database.
    ///
    /// With `--config`, the local database that configuration names. Otherwise a server:
    /// the one `--server` or `--token` (or COFFER_SERVER, COFFER_TOKEN) name, or the stored
    /// session's (`coffer login`). With neither, the local database of the default
    /// configuration (./coffer-data).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Offline tools for backup archives (no server needed).
    Backup {
        #[command(subcommand)]
        command: BackupCommand,
    },
    /// Operator tools on the local database (`--config`).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
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
    Verify(VerifyArgs),
    /// Print an archive's tree (folders, documents, revisions, sizes) after checking every
    /// MAC, offline.
    Ls {
        #[command(flatten)]
        archive: ArchiveArgs,
    },
    /// Write an archive's folder tree out as plain files, offline, into an empty directory,
    /// with `coffer-archive.json` describing rules, revisions and principals.
    Extract {
        #[command(flatten)]
        archive: ArchiveArgs,
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Only this folder (a `/`-separated path) and what is below it.
        #[arg(long)]
        path: Option<String>,
        /// Write older revisions too, beside the current one as `<title>.rev<k>`.
        #[arg(long)]
        all_revisions: bool,
    },
    /// Export the tenant on the server; with `-o`, wait and download archive and key.
    Create(CreateArgs),
    /// List the tenant's backups on the server.
    List,
    /// Download a backup's archive and key into a directory (the key file with mode 0600);
    /// for an incremental backup, every earlier link of its chain too.
    Download {
        backup_id: String,
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
        /// Put the key file in this directory instead (made 0700 if missing): keep the key
        /// away from the archive it opens.
        #[arg(long)]
        key_output: Option<PathBuf>,
    },
    /// Delete a backup on the server.
    Delete { backup_id: String },
    /// Import an archive into the tenant on the server: upload both files, start, and with
    /// `--wait` follow the job to its end.
    Import(ImportArgs),
    /// A backup job's status (an import's or an export's).
    Status { job: String },
    /// Cancel an import job.
    Cancel { job: String },
    /// Make an identity for write-only backups: its file holds the secret (keep it away from
    /// the server); its public key (`age1…`) goes into a policy's `--recipient`.
    Keygen {
        /// Write the identity here (mode 0600) instead of printing it.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// The tenant's backup policy on the server: schedule, retention, verification.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Apply the policy's retention now; `--dry-run` only says what would go.
    Prune {
        #[arg(long)]
        dry_run: bool,
    },
    /// Restore a stored backup on the server: whole (into an empty tenant), or the folders
    /// and documents `--path` names, back where they were or into `--into`.
    Restore(RestoreArgs),
}

/// `coffer backup policy …`.
#[derive(Debug, Clone, Subcommand)]
pub enum PolicyCommand {
    /// Show the policy.
    Get,
    /// Set the policy, replacing it whole (what is not given is unset).
    Set(PolicyArgs),
}

/// A backup policy as `coffer backup policy set` takes it (BACKUP_IMPORT.md §2.1).
#[derive(Debug, Clone, Default, Args)]
pub struct PolicyArgs {
    /// A cron expression (`0 2 * * *`: daily at 02:00).
    #[arg(long)]
    pub schedule: Option<String>,
    /// An IANA time zone (`Europe/Berlin`); UTC when absent.
    #[arg(long)]
    pub time_zone: Option<String>,
    #[arg(long, value_parser = wire(Compression::ALL, Compression::as_str))]
    pub compression: Option<Compression>,
    #[arg(long)]
    pub keep_last: Option<u32>,
    #[arg(long)]
    pub keep_daily: Option<u32>,
    #[arg(long)]
    pub keep_weekly: Option<u32>,
    #[arg(long)]
    pub keep_monthly: Option<u32>,
    /// `36h`, `10d`, `2w`, `1w3d`.
    #[arg(long)]
    pub keep_within: Option<String>,
    /// Verify every new backup as stored; it counts as good once verified.
    #[arg(long)]
    pub verify_after: bool,
    /// A cron expression: when every stored backup is verified again.
    #[arg(long)]
    pub drill_schedule: Option<String>,
    /// Every n-th scheduled backup is full, the others incremental (1, the default: all
    /// full).
    #[arg(long)]
    pub full_every: Option<u32>,
    /// Write-only backups: wrap every backup's key to this public key (`age1…`, from
    /// `coffer backup keygen`); may be given several times. The server keeps no key it can
    /// use; restoring needs an identity.
    #[arg(long = "recipient")]
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Set a user's password directly in the database (for an operator who lost the admin
    /// password); every session of the user ends.
    ResetPassword {
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long)]
        user: String,
        /// File whose first line is the new password; else `COFFER_PASSWORD`; else one is
        /// generated and printed.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

/// Tenant commands: where they go is said on [`Command::Tenant`].
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

/// An archive and its key file, as `backup ls` and `backup extract` open them.
#[derive(Debug, Clone, clap::Args)]
pub struct ArchiveArgs {
    pub archive: PathBuf,
    #[arg(long)]
    pub key: PathBuf,
    /// File holding the key file's passphrase (first line).
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// Identity file (`coffer backup keygen`) that opens a write-only backup's key file.
    #[arg(long)]
    pub identity: Option<PathBuf>,
    /// Accept a legacy CFMS archive and key (not authenticated: its files are hashed, but
    /// nothing proves who wrote them).
    #[arg(long)]
    pub allow_legacy: bool,
    /// Where an incremental backup's earlier links are, as `<backup_id>.cbk` and
    /// `<backup_id>.key.json` (default: the archive's directory).
    #[arg(long)]
    pub chain: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn a_token_that_begins_with_a_hyphen_is_a_token() {
        let cli = Cli::try_parse_from(["coffer", "ls", "--token", "-gAbC_d", "/docs"]).unwrap();
        assert_eq!(cli.token.as_deref(), Some("-gAbC_d"));
        assert!(matches!(cli.command, Command::Ls { path } if path == "/docs"));
    }
}

/// What `coffer backup create` takes.
#[derive(Debug, Clone, Default, Args)]
pub struct CreateArgs {
    #[arg(long)]
    pub name: Option<String>,
    /// Wrap the key file with the passphrase in this file's first line.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    #[arg(long, value_parser = wire(Compression::ALL, Compression::as_str))]
    pub compression: Option<Compression>,
    /// An incremental backup: only what changed since its base (the newest usable backup,
    /// or `--base`); a full one when there is none. With `-o`, every link of its chain is
    /// downloaded.
    #[arg(long)]
    pub incremental: bool,
    /// The backup an incremental one builds on.
    #[arg(long, requires = "incremental")]
    pub base: Option<String>,
    /// Wait for the export to end.
    #[arg(long)]
    pub wait: bool,
    /// Wait, then download `<id>.cbk` and `<id>.key.json` into this directory (the key
    /// file with mode 0600).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Put the key file in this directory instead (made 0700 if missing): keep the key
    /// away from the archive it opens.
    #[arg(long, requires = "output")]
    pub key_output: Option<PathBuf>,
}

/// What `coffer backup import` takes.
#[derive(Debug, Clone, Default, Args)]
pub struct ImportArgs {
    pub archive: PathBuf,
    #[arg(long)]
    pub key: PathBuf,
    /// Where an incremental backup's earlier links are, as `<backup_id>.cbk` and
    /// `<backup_id>.key.json` (default: the archive's directory); they are uploaded with it.
    #[arg(long)]
    pub chain: Option<PathBuf>,
    #[command(flatten)]
    pub job: JobArgs,
    /// Accept an unauthenticated legacy CFMS archive.
    #[arg(long)]
    pub allow_legacy: bool,
}

/// What `coffer backup restore` takes.
#[derive(Debug, Clone, Default, Args)]
pub struct RestoreArgs {
    pub backup_id: String,
    /// A folder (with everything below it) or document of the backup, by path; may be
    /// given several times.
    #[arg(long = "path")]
    pub paths: Vec<String>,
    /// Put what is restored into this folder (a path in the tenant) instead.
    #[arg(long)]
    pub into: Option<String>,
    #[command(flatten)]
    pub job: JobArgs,
}

/// What `coffer backup verify` takes.
#[derive(Debug, Clone, Default, Args)]
pub struct VerifyArgs {
    pub archive: PathBuf,
    #[arg(long)]
    pub key: PathBuf,
    /// Where an incremental backup's earlier links are, as `<backup_id>.cbk` and
    /// `<backup_id>.key.json` (default: the archive's directory).
    #[arg(long)]
    pub chain: Option<PathBuf>,
    /// File holding the key file's passphrase (first line).
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// Identity file (`coffer backup keygen`) that opens a write-only backup's key file.
    #[arg(long)]
    pub identity: Option<PathBuf>,
    /// Unwrap a passphrase-protected key asking argon2id for up to this much memory, in
    /// KiB (default: what a server pays by default, 262144; the format allows 4194304).
    #[arg(long)]
    pub max_kdf_memory_kib: Option<u32>,
    /// Unwrap a passphrase-protected key asking argon2id for up to this many iterations
    /// (default: what a server pays by default, 8; the format allows 64).
    #[arg(long)]
    pub max_kdf_iterations: Option<u32>,
}

/// How an import or a restore runs: the secret that opens its key file, what it does with
/// the tenant, and whether the command follows it to its end.
#[derive(Debug, Clone, Default, Args)]
pub struct JobArgs {
    /// File whose first line is the key file's passphrase.
    #[arg(long)]
    pub passphrase_file: Option<PathBuf>,
    /// Identity file that opens a write-only backup's key file (sent to the server for
    /// this job only).
    #[arg(long)]
    pub identity: Option<PathBuf>,
    #[arg(long, value_parser = wire(ImportMode::ALL, ImportMode::as_str))]
    pub mode: Option<ImportMode>,
    #[arg(long, value_parser = wire(OnConflict::ALL, OnConflict::as_str))]
    pub on_conflict: Option<OnConflict>,
    /// Plan only: report what would happen, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Follow the job to its end.
    #[arg(long)]
    pub wait: bool,
}
