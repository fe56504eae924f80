//! A person's shell for the command-line tests: the `coffer` binary run as a subprocess,
//! with a home of its own (where the session is stored), as a person or a script runs it.
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tests::TestServer;

pub(crate) const CLI: &str = env!("CARGO_BIN_EXE_coffer-cli");

/// One person's shell: a home of their own (where the session is stored) and a work
/// directory.
pub(crate) struct Shell {
    pub(crate) home: tempfile::TempDir,
    pub(crate) server: String,
    /// The umask commands run under (the test process's own when None).
    pub(crate) umask: Option<u32>,
}

/// What a command did.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:?}"))
    }

    pub(crate) fn ok(self) -> Self {
        assert_eq!(self.code, 0, "{self:?}");
        self
    }
}

impl Shell {
    pub(crate) fn new(server: &TestServer) -> Self {
        Self {
            home: tempfile::tempdir().unwrap(),
            server: server.http_url(""),
            umask: None,
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    pub(crate) fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = match self.umask {
            None => tokio::process::Command::new(CLI),
            Some(mask) => {
                let mut sh = tokio::process::Command::new("/bin/sh");
                sh.arg("-c")
                    .arg(format!("umask {mask:03o} && exec \"$0\" \"$@\""))
                    .arg(CLI);
                sh
            }
        };
        cmd.args(args)
            .current_dir(self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("HOME", self.home.path())
            .env_remove("COFFER_SERVER")
            .env_remove("COFFER_TOKEN")
            .env_remove("COFFER_PASSWORD")
            .env_remove("COFFER_CONFIG")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    pub(crate) async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[]).await
    }

    /// [`Shell::run`] with environment variables set.
    pub(crate) async fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        let out = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .unwrap_or_else(|_| panic!("coffer {args:?} took over a minute"))
            .expect("run coffer");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub(crate) async fn login(&self, tenant: Option<&str>, user: &str, password: &str) -> Run {
        let file = self.path("password");
        std::fs::write(&file, format!("{password}\n")).unwrap();
        let file = file.to_str().unwrap().to_owned();
        let mut args = vec!["login", "--server", &self.server, "--user", user];
        args.extend(["--password-file", &file]);
        if let Some(t) = tenant {
            args.extend(["--tenant", t]);
        }
        self.run(&args).await
    }

    /// `backup create -o DIR` into `home/<dir>`: the archive's and the key file's paths.
    pub(crate) async fn create_backup(&self, dir: &str) -> (String, String) {
        let out = self.path(dir);
        let created = self
            .run(&["backup", "create", "-o", out.to_str().unwrap(), "--json"])
            .await
            .ok()
            .json();
        let path = |which: &str| created["files"][which].as_str().unwrap().to_owned();
        (path("archive"), path("key"))
    }
}

/// Deterministic bytes that do not compress.
pub(crate) fn content(len: usize, seed: u64) -> Vec<u8> {
    tests::bench::tenant::content(len, seed, false)
}

pub(crate) fn names(listing: &Value, kind: &str, key: &str) -> Vec<String> {
    let mut names: Vec<String> = listing[kind]
        .as_array()
        .unwrap_or_else(|| panic!("no {kind} in {listing}"))
        .iter()
        .map(|e| e[key].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

pub(crate) fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_str().unwrap().to_owned()
}
