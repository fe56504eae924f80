//! Booting a server per test.
use std::net::SocketAddr;

use coffer::{Config, RunningServer, Signals};
use sea_orm::{ConnectionTrait, Database};
use tempfile::TempDir;

use crate::client::Client;
use crate::raw::RawSocket;

/// Password of the bootstrap `admin` in every test server.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

/// The environment variable naming a PostgreSQL server for the tests.
pub const PG_URL_VAR: &str = "COFFER_TEST_DATABASE_URL";
/// Set to `s3` to run every test server's blob store on a real S3 server (s3s-fs).
pub const STORAGE_VAR: &str = "COFFER_TEST_STORAGE";

/// A fresh PostgreSQL database, dropped (with its connections) when this is dropped.
pub struct TestDb {
    admin_url: String,
    name: String,
    pub url: String,
}

impl TestDb {
    /// Creates a database on the server `admin_url` points at. Panics if it cannot: a test
    /// given a database URL must never silently skip.
    pub async fn create(admin_url: &str) -> Self {
        let name = format!("coffer_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(admin_url)
            .await
            .unwrap_or_else(|e| panic!("{PG_URL_VAR}={admin_url} is unreachable: {e}"));
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        Self {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs outside async; a private runtime on a scoped thread does the cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let admin = Database::connect(&url).await.ok()?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok()?;
                admin.close().await.ok()
            })
        })
        .join();
    }
}

/// Configuration for a test server: port 0, light argon2, one HTTP worker.
pub fn test_config(data_dir: &std::path::Path, database_url: Option<String>) -> Config {
    // OWASP-strength argon2 would make each login slow in a debug build; tests check
    // behaviour, not hash strength.
    Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.to_path_buf(),
        database_url: database_url.map(coffer::secret::SecretString::new),
        admin_password: Some(coffer::secret::SecretString::new(ADMIN_PASSWORD.to_owned())),
        argon2_memory_kib: 256,
        argon2_iterations: 1,
        workers: 1,
        db_max_connections: 5,
        backup_kdf_memory_kib: 8 * 1024,
        backup_kdf_iterations: 1,
        // Far longer than any test: a change this instance makes must reach every cached
        // session at once, never by the entry ageing out.
        auth_cache_ms: 600_000,
        ..Config::default()
    }
}

pub struct TestServer {
    server: Option<RunningServer>,
    /// The clock of the server's time-driven work (schedules, retention).
    pub clock: std::sync::Arc<dyn coffer::time::Clock>,
    pub addr: SocketAddr,
    pub dir: TempDir,
    db: Option<TestDb>,
    s3: Option<crate::s3::S3Server>,
}

impl TestServer {
    /// A server on a fresh database.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server on a fresh database, with `adjust` applied to its configuration.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_clock(adjust, std::sync::Arc::new(coffer::time::SystemClock)).await
    }

    /// A server whose time-driven work (schedules, retention) reads `clock` — a
    /// `coffer::time::ManualClock` the test moves.
    pub async fn start_with_clock(
        adjust: impl FnOnce(&mut Config),
        clock: std::sync::Arc<dyn coffer::time::Clock>,
    ) -> Self {
        // The servers' warnings and errors, shown with a failing test's output.
        coffer::telemetry::init_for_tests();
        let dir = tempfile::tempdir().expect("temp dir");
        let db = match std::env::var(PG_URL_VAR) {
            Ok(url) if !url.is_empty() => Some(TestDb::create(&url).await),
            _ => None,
        };
        let mut config = test_config(dir.path(), db.as_ref().map(|d| d.url.clone()));
        let s3 = match std::env::var(STORAGE_VAR).as_deref() {
            Ok("s3") => Some(crate::s3::S3Server::start().await),
            _ => None,
        };
        if let Some(s3) = &s3 {
            s3.configure(&mut config);
        }
        adjust(&mut config);
        let server = coffer::start_with_clock(config, Signals::Ignore, clock.clone())
            .await
            .expect("server starts");
        let addr = server.addr();
        Self {
            server: Some(server),
            clock,
            addr,
            dir,
            db,
            s3,
        }
    }

    /// Stops this server and starts it again on the same database, data directory and blob
    /// store, with `adjust` applied to its configuration.
    pub async fn restart_with(&mut self, adjust: impl FnOnce(&mut Config)) {
        self.stop().await;
        let mut config = self.config_for_another_instance();
        adjust(&mut config);
        let server = coffer::start_with_clock(config, Signals::Ignore, self.clock.clone())
            .await
            .expect("server restarts");
        self.addr = server.addr();
        self.server = Some(server);
    }

    /// Stores `bytes` as object `key` where the server keeps it (replacing it): a backup's
    /// archive in the backup store, its key file (`layout::key_object`) sealed in the
    /// database, anything else in the data's store.
    pub async fn store_object(&self, key: &str, bytes: &[u8]) {
        let state = self.state();
        if let Some((tenant, backup)) = coffer::layout::stored_key(key) {
            coffer::services::sealed_keys::keep_key_bytes(state, &state.db, tenant, backup, bytes)
                .await
                .unwrap();
            return;
        }
        let temp = self
            .dir
            .path()
            .join(format!(".{}.object", uuid::Uuid::new_v4().simple()));
        std::fs::write(&temp, bytes).unwrap();
        state.store_of(key).put_file(key, &temp).await.unwrap();
    }

    /// Whether object `key` is kept where the server keeps it (as [`Self::store_object`]).
    pub async fn has_object(&self, key: &str) -> bool {
        let state = self.state();
        if let Some((tenant, backup)) = coffer::layout::stored_key(key) {
            return coffer::services::sealed_keys::find_key_file(state, tenant, backup)
                .await
                .unwrap()
                .is_some();
        }
        state.store_of(key).exists(key).await.unwrap()
    }

    /// The configuration of a second server instance on this server's database, data
    /// directory and blob store (to test several instances, or a crashed one).
    pub fn config_for_another_instance(&self) -> Config {
        let mut config = test_config(self.dir.path(), self.db.as_ref().map(|d| d.url.clone()));
        if let Some(s3) = &self.s3 {
            s3.configure(&mut config);
        }
        // Every instance has the one master key, whatever data_dir it is given.
        config.master_key_file = Some(self.dir.path().join("master.key"));
        config
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A connected, not yet logged-in client.
    pub async fn client(&self) -> Client {
        Client::connect(&self.http_url("")).await
    }

    /// A bare WebSocket, not logged in, for tests of the wire itself.
    pub async fn raw(&self) -> RawSocket {
        RawSocket::connect(&self.ws_url()).await
    }

    /// A bare WebSocket logged in as `admin` of tenant `default`.
    pub async fn raw_admin(&self) -> RawSocket {
        let mut c = self.raw().await;
        c.login("admin", ADMIN_PASSWORD, None)
            .await
            .expect("admin login");
        c
    }

    /// A client logged in as `admin` of tenant `default`.
    pub async fn admin(&self) -> Client {
        let mut c = self.client().await;
        c.login("admin", ADMIN_PASSWORD, None)
            .await
            .expect("admin login");
        c
    }

    /// The running server's shared state.
    pub fn state(&self) -> &std::sync::Arc<coffer::app::AppState> {
        self.server.as_ref().expect("running").state()
    }

    /// Stops the server gracefully; the database stays until `self` drops.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await.expect("clean stop");
        }
    }

    pub fn uses_postgres(&self) -> bool {
        self.db.is_some()
    }

    pub fn uses_s3(&self) -> bool {
        self.s3.is_some()
    }

    /// Paths of the stored blobs, wherever the server keeps them (the local blob directory,
    /// or the s3s-fs directory behind the S3 bucket).
    pub fn blob_files(&self) -> Vec<std::path::PathBuf> {
        let root = self.data_store_root();
        // Backup archives and key files and import uploads share the store, under prefixes of
        // their own.
        let kept = ["backups", "backup-keys", "imports", "import-keys"].map(|p| root.join(p));
        files_below(root, &kept)
    }

    /// The import uploads the object store keeps (archives and key files).
    pub fn import_uploads(&self) -> Vec<std::path::PathBuf> {
        let root = self.data_store_root();
        let mut found = files_below(root.join("imports"), &[]);
        found.extend(files_below(root.join("import-keys"), &[]));
        found
    }

    /// Files named as key files of the server's own backups in any store (versions before
    /// the master key kept them under `backup-keys/`; now they are sealed in the database).
    pub fn backup_key_files(&self) -> Vec<std::path::PathBuf> {
        let mut found = files_below(self.data_store_root().join("backup-keys"), &[]);
        found.extend(files_below(
            self.backup_store_root().join("backup-keys"),
            &[],
        ));
        found
    }

    /// The archives the backup store keeps, as files.
    pub fn backup_archive_files(&self) -> Vec<std::path::PathBuf> {
        files_below(self.backup_store_root().join("backups"), &[])
    }

    /// Where the backup store keeps its objects as files: `<data_dir>/backup-store` beside
    /// a local data store, the data's own bucket beside S3 (the defaults).
    pub fn backup_store_root(&self) -> std::path::PathBuf {
        match &self.s3 {
            Some(_) => self.data_store_root(),
            None => self.dir.path().join("backup-store"),
        }
    }

    /// The in-process S3 server's directory, when the server keeps its objects there.
    pub fn s3_root(&self) -> Option<std::path::PathBuf> {
        self.s3.as_ref().map(|s3| s3.root.path().to_path_buf())
    }

    /// Where the data's store keeps its objects as files (the local store's directory, or
    /// the in-process S3 server's bucket).
    pub fn data_store_root(&self) -> std::path::PathBuf {
        match &self.s3 {
            Some(s3) => s3.root.path().join(crate::s3::BUCKET).join("blobs"),
            None => self.dir.path().join("blobs"),
        }
    }
}

/// The files below `root` (hidden ones left out), not descending into `skip`.
fn files_below(root: std::path::PathBuf, skip: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        if skip.contains(&dir) {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if path.is_dir() {
                stack.push(path);
            } else if !hidden {
                found.push(path);
            }
        }
    }
    found
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Drop cannot await: send the stop command so the worker thread and its database
        // connections go; the PostgreSQL database is then dropped WITH (FORCE).
        if let Some(server) = self.server.take() {
            server.request_stop();
        }
    }
}
