//! The `coffer` command line, run in-process with a configuration file.
use api_spec::actions::{ListUsers, ServerInfo};
use api_spec::envelope::Empty;
use clap::Parser;
use coffer::cli::{Cli, run};
use tests::TestServer;
use tests::server::{PG_URL_VAR, TestDb};

/// Writes a config file for a fresh database and returns (dir, config path, database guard).
async fn config_file() -> (tempfile::TempDir, std::path::PathBuf, Option<TestDb>) {
    let dir = tempfile::tempdir().unwrap();
    let pg = match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(TestDb::create(&url).await),
        _ => None,
    };
    let mut toml = format!(
        "data_dir = {:?}\nadmin_password = \"operator-password\"\nargon2_memory_kib = 256\nargon2_iterations = 1\n",
        dir.path().display().to_string()
    );
    if let Some(db) = &pg {
        toml.push_str(&format!("database_url = {:?}\n", db.url));
    }
    let path = dir.path().join("coffer.toml");
    std::fs::write(&path, toml).unwrap();
    (dir, path, pg)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_create_makes_a_tenant_whose_admin_can_log_in() {
    let (_dir, path, pg) = config_file().await;
    let path = path.to_str().unwrap();
    let cli = Cli::parse_from([
        "coffer",
        "--config",
        path,
        "tenant",
        "create",
        "acme",
        "--admin-password",
        "acme-admin-pass",
    ]);
    run(cli).await.expect("tenant create");
    // Doing it again is a coded conflict, not a crash.
    let again = Cli::parse_from([
        "coffer",
        "--config",
        path,
        "tenant",
        "create",
        "acme",
        "--admin-password",
        "acme-admin-pass",
    ]);
    let err = run(again).await.unwrap_err();
    assert_eq!(err.code(), api_spec::ErrorCode::TenantExists);
    let bad = Cli::parse_from([
        "coffer",
        "--config",
        path,
        "tenant",
        "create",
        "Bad Slug",
        "--admin-password",
        "acme-admin-pass",
    ]);
    assert_eq!(
        run(bad).await.unwrap_err().code(),
        api_spec::ErrorCode::InvalidTenantSlug
    );

    // A server on the same data sees the tenant.
    let server = TestServer::start_with(|c| {
        c.data_dir = _dir.path().to_path_buf();
        c.database_url = pg
            .as_ref()
            .map(|db| coffer::secret::SecretString::new(db.url.clone()));
    })
    .await;
    let mut c = server.client().await;
    c.login("admin", "acme-admin-pass", Some("acme"))
        .await
        .expect("acme admin logs in");
    let users = c.call::<ListUsers>(&Empty {}).await.unwrap();
    assert_eq!(users.users.len(), 1);
    assert!(c.call::<ServerInfo>(&Empty {}).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generated_admin_password_is_written_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(|c| {
        c.data_dir = dir.path().to_path_buf();
        c.admin_password = None;
    })
    .await;
    let file = dir
        .path()
        .join(coffer::services::bootstrap::ADMIN_PASSWORD_FILE);
    let password = std::fs::read_to_string(&file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let mut c = server.client().await;
    c.login("admin", password.trim(), None)
        .await
        .expect("generated password works");
}

#[test]
fn unknown_config_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coffer.toml");
    std::fs::write(&path, "bnid = \"127.0.0.1:1\"\n").unwrap();
    assert!(coffer::Config::load(Some(&path)).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_resets_a_lost_admin_password_offline() {
    let (dir, path, pg) = config_file().await;
    let path = path.to_str().unwrap();
    let new_password = dir.path().join("new-password");
    std::fs::write(&new_password, "a-fresh-password-1\n").unwrap();
    let reset = |user: &str| {
        Cli::parse_from([
            "coffer",
            "--config",
            path,
            "admin",
            "reset-password",
            "--user",
            user,
            "--password-file",
            new_password.to_str().unwrap(),
        ])
    };
    run(reset("admin")).await.expect("reset");
    assert_eq!(
        run(reset("nobody")).await.unwrap_err().code(),
        api_spec::ErrorCode::UserNotFound
    );
    let server = TestServer::start_with(|c| {
        c.data_dir = dir.path().to_path_buf();
        c.admin_password = None;
        c.database_url = pg
            .as_ref()
            .map(|db| coffer::secret::SecretString::new(db.url.clone()));
    })
    .await;
    let mut c = server.client().await;
    c.login("admin", "operator-password", None)
        .await
        .expect_err("the old password is gone");
    c.login("admin", "a-fresh-password-1", None)
        .await
        .expect("the new one works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_commands_print_no_log_noise_and_no_colour_when_piped() {
    let (_dir, path, _pg) = config_file().await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_coffer-cli"))
        .args(["--config", path.to_str().unwrap(), "tenant", "list"])
        .env_remove("COFFER_LOG")
        .output()
        .await
        .expect("run coffer");
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes on a pipe: {stderr}"
    );
    assert!(
        !stderr.contains("INFO"),
        "start-up lines in a command's output: {stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("default\t"));
    // Asked for, the lines come, still without colour.
    let loud = tokio::process::Command::new(env!("CARGO_BIN_EXE_coffer-cli"))
        .args(["--config", path.to_str().unwrap(), "tenant", "list"])
        .env("COFFER_LOG", "info")
        .output()
        .await
        .expect("run coffer");
    let stderr = String::from_utf8_lossy(&loud.stderr);
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

/// `--json` on the offline commands: one JSON document each, secrets that were generated
/// included (and nothing else on stdout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_commands_print_json_when_asked() {
    let (_dir, path, _pg) = config_file().await;
    let coffer = |args: &[&str]| {
        let mut all = vec!["--config", path.to_str().unwrap(), "--json"];
        all.extend_from_slice(args);
        let all: Vec<String> = all.into_iter().map(str::to_owned).collect();
        async move {
            let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_coffer-cli"))
                .args(&all)
                .env_remove("COFFER_LOG")
                .env_remove("COFFER_SERVER")
                .env_remove("COFFER_TOKEN")
                .env_remove("COFFER_PASSWORD")
                .env_remove("COFFER_TENANT_ADMIN_PASSWORD")
                .output()
                .await
                .expect("run coffer");
            assert!(out.status.success(), "{all:?}: {out:?}");
            serde_json::from_slice::<serde_json::Value>(&out.stdout)
                .unwrap_or_else(|e| panic!("{all:?} printed no JSON ({e}): {out:?}"))
        }
    };
    let created = coffer(&["tenant", "create", "gamma"]).await;
    assert_eq!(created["tenant"], "gamma");
    assert!(
        created["admin_password"]
            .as_str()
            .is_some_and(|p| p.len() >= 20),
        "{created}"
    );
    let listed = coffer(&["tenant", "list"]).await;
    let slugs: Vec<&str> = listed["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["default", "gamma"], "{listed}");
    let reset = coffer(&[
        "admin",
        "reset-password",
        "--tenant",
        "gamma",
        "--user",
        "admin",
    ])
    .await;
    assert_eq!(
        (&reset["tenant"], &reset["username"]),
        (&"gamma".into(), &"admin".into())
    );
    assert_ne!(reset["password"], created["admin_password"], "{reset}");
}
