//! Configuration: one struct with one set of defaults, read from an optional TOML file and
//! then overridden by `COFFER_*` environment variables (`COFFER_BIND`, `COFFER_DATA_DIR`,
//! `COFFER_DATABASE_URL`, `COFFER_ADMIN_PASSWORD`, …: the upper-cased field name).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::archive::keys::{KdfLimits, WrapParams};
use crate::secret::SecretString;

/// Server configuration. `Debug` redacts secrets.
#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Directory for the embedded database, blobs, backups and the generated admin password.
    pub data_dir: PathBuf,
    /// Database URL; SQLite in `data_dir` when absent. `postgres://…` for PostgreSQL.
    pub database_url: Option<SecretString>,
    /// Password for the bootstrap `admin` user; generated (and written to
    /// `<data_dir>/admin_password.txt`) when absent on first start.
    pub admin_password: Option<SecretString>,
    /// Name reported by `server_info`.
    pub server_name: String,
    /// Lifetime of a session token, in seconds.
    pub token_ttl_secs: u64,
    /// Largest WebSocket message accepted, in bytes; larger ones close the connection (1009).
    pub max_frame_bytes: usize,
    /// Requests one connection may have in flight at once; further ones wait.
    pub max_in_flight: usize,
    /// Outgoing messages queued per connection before events are dropped for it.
    pub outgoing_queue: usize,
    /// Seconds between server pings.
    pub heartbeat_secs: u64,
    /// Seconds without a request before the connection is closed. Pings and pongs do not
    /// count; a request in flight or a registered listener keeps the connection open.
    pub idle_timeout_secs: u64,
    /// WebSocket connections one client address may hold at once; 0: no limit. Behind a
    /// reverse proxy every client has the proxy's address: raise it or set 0 there.
    pub max_connections_per_address: u32,
    /// Origins (`https://docs.example.com`) besides the server's own whose pages may open a
    /// WebSocket (browsers send `Origin`; an upgrade from any other origin is refused with
    /// 403 `origin_not_allowed`). The server's own origin is the one its `Host` header
    /// names; list the public one here when a reverse proxy rewrites `Host`.
    pub allowed_origins: Vec<String>,
    /// Failed logins per (tenant, username) within `login_window_secs` before 429.
    pub login_max_failures: u32,
    /// Window and lock-out length for login throttling, in seconds.
    pub login_window_secs: u64,
    /// argon2id memory cost in KiB (OWASP minimum: 19456).
    pub argon2_memory_kib: u32,
    /// argon2id iterations.
    pub argon2_iterations: u32,
    /// Threads that run argon2id (logins, password changes); 0: one per core. At most this
    /// many hashes, each taking `argon2_memory_kib`, run at once; the rest queue.
    pub kdf_threads: usize,
    /// Database connection pool size.
    pub db_max_connections: u32,
    /// How long a write waits for a lock (SQLite's database write lock, PostgreSQL's row and
    /// table locks) before it answers `busy`, in milliseconds.
    pub db_lock_timeout_ms: u64,
    /// How long, in milliseconds, an authenticated session may be reused without asking the
    /// database. Changes made through this server take effect at once whatever the value;
    /// this bounds only how long one made through another instance goes unseen. 0: off.
    pub auth_cache_ms: u64,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Where blobs live: absent for `<data_dir>/blobs`, or `s3://bucket[/prefix]`.
    pub storage: Option<String>,
    /// S3 endpoint URL (e.g. `http://127.0.0.1:9000` for MinIO or s3s-fs); AWS when absent.
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    pub s3_access_key_id: Option<String>,
    pub s3_secret_access_key: Option<SecretString>,
    /// Where backup archives live, apart from the data: a directory (relative to `data_dir`
    /// if not absolute) or `s3://bucket[/prefix]`. Absent: `<data_dir>/backup-store` beside
    /// a local blob store (put it on another disk), the data's own bucket beside an S3 one.
    pub backup_storage: Option<String>,
    /// The file holding the master key that seals the backup keys the server keeps (made,
    /// mode 0600, on first start). Absent: `<data_dir>/master.key`. Lose it and those keys
    /// are gone: keep a copy apart from the server.
    pub master_key_file: Option<PathBuf>,
    /// Further destinations every completed backup is copied to: directories or
    /// `s3://bucket[/prefix]` URLs (README, *Where backups live*).
    pub backup_copies: Vec<String>,
    /// Settings of a destination (`backup_storage`, `backup_copies`), by its URL as written:
    /// an S3 bucket's own endpoint, region and credentials, and `append_only`. An S3
    /// destination without an entry here uses the `s3_*` settings.
    pub destination: std::collections::BTreeMap<String, DestinationSettings>,
    /// Lifetime of a transfer task, in seconds.
    pub task_ttl_secs: u64,
    /// Largest file accepted for upload, in bytes.
    pub max_upload_bytes: u64,
    /// Seconds a transfer may wait for the client's next bytes before it fails.
    pub transfer_stall_secs: u64,
    /// Least rate, in bytes per second averaged over each `transfer_rate_window_secs`, an
    /// upload (HTTP or WebSocket) must keep; slower ones fail with `transfer_timeout` and
    /// free their task for a resume. 0: no rate is required.
    pub min_transfer_bytes_per_sec: u64,
    pub transfer_rate_window_secs: u64,
    /// argon2id memory (KiB) and iterations for passphrase-wrapped backup keys.
    pub backup_kdf_memory_kib: u32,
    pub backup_kdf_iterations: u32,
    /// The most argon2id memory (KiB) and iterations the server spends unlocking one
    /// passphrase-wrapped key file it is given (an uploaded one names its own cost); a key
    /// asking for more is refused with `key_cost_too_high`. Never below the two above.
    pub backup_kdf_max_memory_kib: u32,
    pub backup_kdf_max_iterations: u32,
    /// Plaintext bytes per archive segment (64 KiB – 16 MiB).
    pub backup_segment_bytes: u32,
    /// Threads sealing segments during an export; 0 means one per core.
    pub backup_workers: usize,
    /// How often a queued or running job records that it is alive, and checks whether it
    /// was cancelled from elsewhere.
    pub job_heartbeat_secs: u64,
    /// A queued or running job of another server instance silent this long is failed with
    /// `job_interrupted` (its server is gone).
    pub job_stale_secs: u64,
    /// How often the reaper times out pending imports past their deadline.
    pub job_reap_secs: u64,
    /// Jobs (exports and imports) this instance runs at once. 0: it takes no job from the
    /// shared queue (an instance that only serves requests), and runs only the jobs no other
    /// instance can (a passphrase-wrapped key it holds), one at a time.
    pub job_workers: usize,
    /// When set, `GET /metrics` asks for `Authorization: Bearer <this>`; when not, it is
    /// open to whoever reaches the port (it names tenants by slug and their backups' health,
    /// never documents).
    pub metrics_token: Option<SecretString>,
    /// The backup policy every tenant created from now on starts with (BACKUP_IMPORT.md
    /// §2.1; a TOML table with `set_backup_policy`'s fields), owned by its `admin`. None:
    /// new tenants start without one. Checked when the server starts.
    pub default_backup_policy: Option<api_spec::actions::BackupPolicy>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 5104)),
            data_dir: PathBuf::from("./coffer-data"),
            database_url: None,
            admin_password: None,
            server_name: "Coffer".to_owned(),
            token_ttl_secs: 3600,
            max_frame_bytes: 1024 * 1024,
            max_in_flight: 16,
            outgoing_queue: 256,
            heartbeat_secs: 15,
            idle_timeout_secs: 60,
            max_connections_per_address: 256,
            allowed_origins: Vec::new(),
            login_max_failures: 5,
            login_window_secs: 900,
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            kdf_threads: 0,
            db_max_connections: 16,
            db_lock_timeout_ms: 10_000,
            auth_cache_ms: 1000,
            workers: 0,
            storage: None,
            s3_endpoint: None,
            s3_region: "us-east-1".to_owned(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
            backup_storage: None,
            master_key_file: None,
            backup_copies: Vec::new(),
            destination: std::collections::BTreeMap::new(),
            task_ttl_secs: 3600,
            max_upload_bytes: 64 * 1024 * 1024 * 1024,
            transfer_stall_secs: 60,
            min_transfer_bytes_per_sec: 4096,
            transfer_rate_window_secs: 10,
            backup_kdf_memory_kib: 64 * 1024,
            backup_kdf_iterations: 3,
            backup_kdf_max_memory_kib: 256 * 1024,
            backup_kdf_max_iterations: 8,
            backup_segment_bytes: 1024 * 1024,
            backup_workers: 0,
            job_heartbeat_secs: 5,
            job_stale_secs: 60,
            job_reap_secs: 10,
            job_workers: 2,
            metrics_token: None,
            default_backup_policy: None,
        }
    }
}

/// A destination's own settings (`[destination."s3://bucket/prefix"]`): used whole, so that
/// the data's credentials never go to another endpoint.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DestinationSettings {
    /// The S3 endpoint URL; AWS when absent.
    pub endpoint: Option<String>,
    /// The S3 region; `s3_region` when absent.
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    /// Coffer never deletes or overwrites anything there (retention there is the bucket's
    /// own lifecycle rule): a server taken over cannot remove what it copied.
    pub append_only: bool,
}

/// How to reach an S3 bucket.
pub struct S3Settings<'a> {
    pub endpoint: Option<&'a str>,
    pub region: &'a str,
    pub access_key_id: Option<&'a str>,
    pub secret_access_key: Option<&'a str>,
    /// Whether what these leave out may come from the `AWS_*` variables (the data's own
    /// settings), or not at all (a destination's own entry, used whole).
    pub from_env: bool,
}

impl Config {
    /// How to reach the bucket of destination `url`: its own `destination` entry, else the
    /// `s3_*` settings.
    pub fn s3_settings(&self, url: &str) -> S3Settings<'_> {
        match self.destination.get(url) {
            Some(own) => S3Settings {
                endpoint: own.endpoint.as_deref(),
                region: own.region.as_deref().unwrap_or(&self.s3_region),
                access_key_id: own.access_key_id.as_deref(),
                secret_access_key: own.secret_access_key.as_ref().map(|s| s.expose_secret()),
                from_env: false,
            },
            None => S3Settings {
                endpoint: self.s3_endpoint.as_deref(),
                region: &self.s3_region,
                access_key_id: self.s3_access_key_id.as_deref(),
                secret_access_key: self
                    .s3_secret_access_key
                    .as_ref()
                    .map(|s| s.expose_secret()),
                from_env: true,
            },
        }
    }

    /// The master key file in effect.
    pub fn effective_master_key_file(&self) -> PathBuf {
        self.master_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("master.key"))
    }

    /// Defaults, then `file` (if given), then `COFFER_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        // Only variables naming a field are configuration; others (`COFFER_LOG`,
        // `COFFER_CONFIG`, `COFFER_TEST_DATABASE_URL`, …) belong to other parts.
        let known: Vec<String> = match serde_json::to_value(Config::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let env =
            Env::prefixed("COFFER_").filter(move |key| known.iter().any(|k| key == k.as_str()));
        figment.merge(env).extract().map_err(Box::new)
    }

    /// The database URL in effect: the configured one, or SQLite under `data_dir`.
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("coffer.db").display()
            ),
        }
    }

    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }

    /// The argon2id cost of the key files this server wraps.
    pub fn backup_wrap_params(&self) -> WrapParams {
        WrapParams {
            memory_kib: self.backup_kdf_memory_kib,
            iterations: self.backup_kdf_iterations,
        }
    }

    /// The most the server pays to unlock a key file (never less than its own wrapping).
    pub fn backup_kdf_limits(&self) -> KdfLimits {
        KdfLimits::server(
            self.backup_kdf_max_memory_kib,
            self.backup_kdf_max_iterations,
            self.backup_wrap_params(),
        )
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's own closure signature
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_and_file_overrides_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "coffer.toml",
                "bind = \"127.0.0.1:7000\"\nserver_name = \"file\"\n",
            )?;
            jail.set_env("COFFER_SERVER_NAME", "env");
            jail.set_env("COFFER_ADMIN_PASSWORD", "from-env-123");
            jail.set_env("COFFER_TEST_DATABASE_URL", "not configuration");
            let config = Config::load(Some(Path::new("coffer.toml"))).map_err(|e| *e)?;
            assert_eq!(config.bind.port(), 7000);
            assert_eq!(config.server_name, "env");
            assert_eq!(config.token_ttl_secs, 3600);
            assert!(
                !format!("{config:?}").contains("from-env-123"),
                "Debug must redact secrets"
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("coffer.toml", "bnd = \"127.0.0.1:7000\"\n")?;
            assert!(Config::load(Some(Path::new("coffer.toml"))).is_err());
            Ok(())
        });
    }
}
