//! The `coffer` command line against a running server, run as a subprocess the way a person
//! or a script runs it: `login`, `mkdir`, `put`, `ls`, `get`, `tenant`, `watch`, `logout`;
//! `--json`; exit codes; the stored session's mode.
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tests::TestServer;
use tests::server::ADMIN_PASSWORD;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::shell::{Shell, content, names, write};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_logs_in_files_documents_and_gets_them_back() {
    let server = TestServer::start().await;
    let sh = Shell::new(&server);
    let login = sh.login(None, "admin", ADMIN_PASSWORD).await.ok();
    assert!(login.stdout.contains("admin"), "{login:?}");
    let session = sh.path("config/coffer/session.json");
    let mode = std::fs::metadata(&session).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the session file is the owner's only");

    sh.run(&["mkdir", "reports"]).await.ok();
    // Like mkdir(1): a missing parent is an error unless -p is given.
    let orphan = sh.run(&["mkdir", "reports/2026/q4"]).await;
    assert_eq!(orphan.code, 1, "{orphan:?}");
    assert!(orphan.stderr.contains("[folder_not_found]"), "{orphan:?}");
    sh.run(&["mkdir", "-p", "reports/2026/q4"]).await.ok();
    sh.run(&["mkdir", "-p", "reports/2026/q4"]).await.ok();

    let big = content(5 * 1024 * 1024 + 17, 1);
    let small = content(1000, 2);
    let files = [
        ("big.bin", big.clone(), "reports/2026"),
        ("notes.txt", small.clone(), "reports"),
        ("empty", Vec::new(), "/"),
    ];
    for (name, bytes, folder) in &files {
        let file = write(sh.home.path(), name, bytes);
        let put = sh.run(&["put", &file, folder, "--json"]).await.ok();
        assert_eq!(put.json()["new_revision"], false, "{put:?}");
        assert_eq!(put.json()["size"], bytes.len());
    }
    // The same title again is a new revision of that document.
    let changed = content(2000, 3);
    let file = write(sh.home.path(), "notes.txt", &changed);
    let again = sh.run(&["put", &file, "reports", "--json"]).await.ok();
    assert_eq!(again.json()["new_revision"], true, "{again:?}");

    let top = sh.run(&["ls", "--json"]).await.ok().json();
    assert_eq!(names(&top, "folders", "name"), ["reports"]);
    assert_eq!(names(&top, "documents", "title"), ["empty"]);
    let reports = sh.run(&["ls", "/reports/", "--json"]).await.ok().json();
    assert_eq!(names(&reports, "folders", "name"), ["2026"]);
    assert_eq!(names(&reports, "documents", "title"), ["notes.txt"]);
    let human = sh.run(&["ls", "reports/2026"]).await.ok();
    assert!(
        human.stdout.contains("q4/") && human.stdout.contains("big.bin"),
        "{human:?}"
    );

    for (path, want) in [
        ("reports/2026/big.bin", &big),
        ("reports/notes.txt", &changed),
        ("empty", &Vec::new()),
    ] {
        let out = sh.path("download");
        let got = sh
            .run(&["get", path, "-o", out.to_str().unwrap(), "--json"])
            .await
            .ok();
        assert_eq!(got.json()["size"], want.len(), "{got:?}");
        assert!(
            std::fs::read(&out).unwrap() == *want,
            "{path} came back different"
        );
    }
    // -o naming a directory: the title inside it.
    let into = sh.path("into");
    std::fs::create_dir(&into).unwrap();
    sh.run(&["get", "reports/notes.txt", "-o", into.to_str().unwrap()])
        .await
        .ok();
    assert!(std::fs::read(into.join("notes.txt")).unwrap() == changed);
    // Without -o, the title in the current directory.
    std::fs::remove_file(sh.path("big.bin")).unwrap();
    sh.run(&["get", "reports/2026/big.bin"]).await.ok();
    assert!(std::fs::read(sh.path("big.bin")).unwrap() == big);

    // A failure prints the server's code and message, never a debug dump, and exits 1.
    let missing = sh.run(&["get", "reports/nothing.pdf"]).await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing.stderr.contains("[document_not_found]"),
        "{missing:?}"
    );
    assert!(!missing.stderr.contains("Api {"), "{missing:?}");
    let as_json = sh.run(&["get", "reports/nothing.pdf", "--json"]).await;
    assert_eq!(as_json.code, 1);
    assert_eq!(as_json.json()["error"], "document_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_tenants_usage_errors_and_logout() {
    let server = TestServer::start().await;
    let sh = Shell::new(&server);
    // No server and no session: a usage error, exit 2, as for bad arguments.
    let lost = sh.run(&["ls"]).await;
    assert_eq!(lost.code, 2, "{lost:?}");
    assert_eq!(sh.run(&["ls", "--no-such-flag"]).await.code, 2);
    let wrong = sh.login(None, "admin", "not the password").await;
    assert_eq!(wrong.code, 1);
    assert!(wrong.stderr.contains("[invalid_credentials]"), "{wrong:?}");

    sh.login(None, "admin", ADMIN_PASSWORD).await.ok();
    let created = sh
        .run(&[
            "tenant",
            "create",
            "acme",
            "--admin-password",
            "acme-admin-pass",
            "--server",
            &sh.server,
        ])
        .await
        .ok();
    assert!(created.stdout.contains("acme"), "{created:?}");
    assert!(
        created.stdout.contains(&sh.server),
        "says where: {created:?}"
    );
    let tenants = sh
        .run(&["tenant", "list", "--server", &sh.server, "--json"])
        .await
        .ok()
        .json();
    let slugs: Vec<&str> = tenants["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenant"].as_str().unwrap())
        .collect();
    assert!(
        slugs.contains(&"acme") && slugs.contains(&"default"),
        "{tenants}"
    );
    // With a stored session the tenant commands go to its server; without a password given
    // one is generated and printed.
    let beta = sh
        .run(&["tenant", "create", "beta", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(beta["tenant"], "beta", "{beta}");
    let beta_password = beta["admin_password"]
        .as_str()
        .expect("a generated password");
    let listed = sh.run(&["tenant", "list"]).await.ok();
    assert!(
        listed.stdout.lines().any(|l| l.starts_with("beta\t")),
        "{listed:?}"
    );
    // The password may come from the environment too.
    let third = Shell::new(&server);
    third
        .run_with(
            &[
                "login",
                "--server",
                &third.server,
                "--tenant",
                "beta",
                "--user",
                "admin",
            ],
            &[("COFFER_PASSWORD", beta_password)],
        )
        .await
        .ok();

    // Another person logs in to the new tenant; their session is theirs alone.
    let other = Shell::new(&server);
    other
        .login(Some("acme"), "admin", "acme-admin-pass")
        .await
        .ok();
    other.run(&["mkdir", "acme-only"]).await.ok();
    let mine = sh.run(&["ls", "--json"]).await.ok().json();
    assert!(!names(&mine, "folders", "name").contains(&"acme-only".to_owned()));

    // A token given outright works without a stored session.
    let stored: Value =
        serde_json::from_slice(&std::fs::read(other.path("config/coffer/session.json")).unwrap())
            .unwrap();
    let token = stored["token"].as_str().unwrap();
    let bare = Shell::new(&server);
    let listing = bare
        .run(&["ls", "--server", &bare.server, "--token", token, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(names(&listing, "folders", "name"), ["acme-only"]);
    // So do COFFER_SERVER and COFFER_TOKEN.
    let listing = bare
        .run_with(
            &["ls", "--json"],
            &[("COFFER_SERVER", &bare.server), ("COFFER_TOKEN", token)],
        )
        .await
        .ok()
        .json();
    assert_eq!(names(&listing, "folders", "name"), ["acme-only"]);

    // A logout naming another server leaves this one's stored session alone.
    other
        .run(&["logout", "--server", "http://127.0.0.1:9"])
        .await;
    assert!(other.path("config/coffer/session.json").exists());
    // Logout ends the session on the server and forgets it here.
    other.run(&["logout"]).await.ok();
    assert!(!other.path("config/coffer/session.json").exists());
    assert_eq!(other.run(&["ls"]).await.code, 2);
    let revoked = bare
        .run(&["ls", "--server", &bare.server, "--token", token])
        .await;
    assert_eq!(revoked.code, 1, "{revoked:?}");
    assert!(revoked.stderr.contains("[invalid_token]"), "{revoked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_events_as_they_come() {
    let server = TestServer::start().await;
    let sh = Shell::new(&server);
    sh.login(None, "admin", ADMIN_PASSWORD).await.ok();
    let mut watch = sh
        .command(&["watch", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn watch");
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    // Wait until the listener is registered: a change made before it would not be heard.
    let admin = server.admin().await;
    let event = tokio::time::timeout(Duration::from_secs(20), async {
        let mut n = 0;
        loop {
            n += 1;
            admin
                .request(
                    "create_group",
                    serde_json::json!({"group_name": format!("watched-{n}"), "permissions": []}),
                )
                .await;
            if let Ok(Ok(Some(line))) =
                tokio::time::timeout(Duration::from_millis(300), lines.next_line()).await
            {
                return line;
            }
        }
    })
    .await
    .expect("watch printed an event");
    let event: Value = serde_json::from_str(&event).expect("one JSON event per line");
    assert_eq!(event["event"], "group_changed", "{event}");
    watch.kill().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_made_and_imported_from_the_command_line_comes_back_byte_for_byte() {
    let server = TestServer::start().await;
    let sh = Shell::new(&server);
    sh.login(None, "admin", ADMIN_PASSWORD).await.ok();
    sh.run(&["mkdir", "-p", "archive/2026"]).await.ok();
    let files = [
        ("big.bin", content(3 * 1024 * 1024 + 5, 7), "archive/2026"),
        ("a.txt", content(100, 8), "archive"),
        ("b.txt", content(10, 9), "/"),
    ];
    for (name, bytes, folder) in &files {
        let file = write(sh.home.path(), name, bytes);
        sh.run(&["put", &file, folder]).await.ok();
    }
    let out = sh.path("backups");
    let created = sh
        .run(&[
            "backup",
            "create",
            "--name",
            "nightly",
            "-o",
            out.to_str().unwrap(),
            "--json",
        ])
        .await
        .ok()
        .json();
    let archive = created["files"]["archive"]
        .as_str()
        .expect("archive path")
        .to_owned();
    let key = created["files"]["key"]
        .as_str()
        .expect("key path")
        .to_owned();
    assert_eq!(created["job"]["status"], "completed", "{created}");
    let listed = sh.run(&["backup", "list", "--json"]).await.ok().json();
    assert_eq!(listed["backups"][0]["name"], "nightly", "{listed}");
    // The offline verify accepts what was downloaded.
    let verified = sh
        .run(&["backup", "verify", &archive, "--key", &key, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(verified["verified"], true, "{verified}");
    assert_eq!(verified["tenant"], "default", "{verified}");
    assert!(
        verified["counts"]["documents"].as_u64().unwrap() >= 3,
        "{verified}"
    );
    let said = sh
        .run(&["backup", "verify", &archive, "--key", &key])
        .await
        .ok();
    assert!(said.stdout.starts_with("OK: backup "), "{said:?}");

    // An incremental backup downloads with its chain, and verifies offline with it.
    let file = write(sh.home.path(), "c.txt", &content(500, 10));
    sh.run(&["put", &file, "/"]).await.ok();
    let link_dir = sh.path("links");
    let link_out = link_dir.to_str().unwrap();
    let args = [
        "backup",
        "create",
        "--incremental",
        "-o",
        link_out,
        "--json",
    ];
    let link = sh.run(&args).await.ok().json();
    let chain = link["files"]["chain"].as_array().expect("a chain").clone();
    assert_eq!(chain.len(), 2, "{link}");
    let link_archive = link["files"]["archive"].as_str().unwrap().to_owned();
    let link_key = link["files"]["key"].as_str().unwrap().to_owned();
    let verified = sh
        .run(&[
            "backup",
            "verify",
            &link_archive,
            "--key",
            &link_key,
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(verified["chain"], serde_json::json!(chain), "{verified}");
    // Without its base beside it, the chain is broken there, and the command says so.
    let base = chain[1].as_str().unwrap();
    std::fs::remove_file(link_dir.join(format!("{base}.cbk"))).unwrap();
    let broken = sh
        .run(&["backup", "verify", &link_archive, "--key", &link_key])
        .await;
    assert_eq!(broken.code, 1, "{broken:?}");
    assert!(broken.stderr.contains("backup_chain_broken"), "{broken:?}");
    // … and found where --chain says (the base is the backup made first, downloaded there).
    let elsewhere = sh
        .run(&[
            "backup",
            "verify",
            &link_archive,
            "--key",
            &link_key,
            "--chain",
            out.to_str().unwrap(),
        ])
        .await;
    assert_eq!(
        elsewhere.code, 0,
        "the base is the first backup, in {out:?}: {elsewhere:?}"
    );
    // Imported into a new tenant with its chain: the base is uploaded with it.
    sh.run(&[
        "tenant",
        "create",
        "chained",
        "--admin-password",
        "chained-admin-pass",
        "--server",
        &sh.server,
    ])
    .await
    .ok();
    let chained = Shell::new(&server);
    chained
        .login(Some("chained"), "admin", "chained-admin-pass")
        .await
        .ok();
    let out_dir = out.to_str().unwrap();
    let args = [
        "backup",
        "import",
        &link_archive,
        "--key",
        &link_key,
        "--chain",
        out_dir,
    ];
    let imported = chained
        .run(&[&args[..], &["--wait", "--json"]].concat())
        .await
        .ok()
        .json();
    assert_eq!(imported["status"], "completed", "{imported}");
    let got = chained.path("got-c.txt");
    chained
        .run(&["get", "/c.txt", "-o", got.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(std::fs::read(&got).unwrap(), content(500, 10));
    // Without it, the command names the missing link before uploading anything.
    let alone = [
        "backup",
        "import",
        &link_archive,
        "--key",
        &link_key,
        "--wait",
    ];
    let refused = chained.run(&alone).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("backup_chain_broken"),
        "{refused:?}"
    );

    // Into a new tenant, as its admin.
    sh.run(&[
        "tenant",
        "create",
        "restored",
        "--admin-password",
        "restored-admin-pass",
        "--server",
        &sh.server,
    ])
    .await
    .ok();
    let other = Shell::new(&server);
    other
        .login(Some("restored"), "admin", "restored-admin-pass")
        .await
        .ok();
    let imported = other
        .run(&[
            "backup", "import", &archive, "--key", &key, "--wait", "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(imported["status"], "completed", "{imported}");
    assert!(imported["id_map_size"].as_u64().unwrap() >= 3, "{imported}");
    for (name, bytes, folder) in &files {
        let path = format!("{}/{name}", folder.trim_end_matches('/'));
        let dest = other.path(&format!("got-{name}"));
        other
            .run(&["get", &path, "-o", dest.to_str().unwrap()])
            .await
            .ok();
        assert!(std::fs::read(&dest).unwrap() == *bytes, "{path}");
    }
    // A second restore into the now non-empty tenant fails with the job's own code.
    let again = other
        .run(&["backup", "import", &archive, "--key", &key, "--wait"])
        .await;
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains('['), "{again:?}");
    // Offline, with the server gone: ls shows the tree, extract gives the same bytes under
    // the same paths.
    drop(server);
    let tree = sh
        .run(&["backup", "ls", &archive, "--key", &key])
        .await
        .ok();
    assert!(tree.stdout.contains("archive/2026/big.bin"), "{tree:?}");
    let listed = sh
        .run(&["backup", "ls", &archive, "--key", &key, "--json"])
        .await
        .ok()
        .json();
    assert_eq!(listed["documents"].as_array().unwrap().len(), 3, "{listed}");
    let dir = sh.path("extracted");
    let dir_arg = dir.to_str().unwrap();
    let extracted = sh
        .run(&[
            "backup", "extract", &archive, "--key", &key, "-o", dir_arg, "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(extracted["files_written"], 3, "{extracted}");
    for (name, bytes, folder) in &files {
        let path = dir.join(folder.trim_start_matches('/')).join(name);
        assert!(
            std::fs::read(&path).unwrap() == *bytes,
            "{}",
            path.display()
        );
    }
    let description: Value =
        serde_json::from_slice(&std::fs::read(dir.join("coffer-archive.json")).unwrap()).unwrap();
    assert_eq!(description["documents"].as_array().unwrap().len(), 3);
    assert!(
        description["users"]
            .as_array()
            .is_some_and(|u| !u.is_empty())
    );
    // Into a directory that is not empty: refused, nothing overwritten.
    let again = sh
        .run(&["backup", "extract", &archive, "--key", &key, "-o", dir_arg])
        .await;
    assert_eq!(again.code, 1, "{again:?}");
    // Only a folder, by its path.
    let part = sh.path("part");
    sh.run(&[
        "backup",
        "extract",
        &archive,
        "--key",
        &key,
        "-o",
        part.to_str().unwrap(),
        "--path",
        "archive/2026",
    ])
    .await
    .ok();
    assert!(std::fs::read(part.join("big.bin")).unwrap() == files[0].1);
    assert!(!part.join("a.txt").exists() && !part.join("b.txt").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extracting_a_hostile_archive_writes_only_inside_the_directory() {
    let server = TestServer::start().await;
    let sh = Shell::new(&server);
    sh.login(None, "admin", ADMIN_PASSWORD).await.ok();
    sh.run(&["mkdir", "-p", "outer/inner"]).await.ok();
    let names = ["one", "two", "three", "four", "five"];
    for (i, name) in names.iter().enumerate() {
        let file = write(sh.home.path(), name, &content(100 + i, i as u64));
        sh.run(&["put", &file, "outer/inner"]).await.ok();
    }
    let (archive, key) = sh.create_backup("backups").await;
    // Rename everything to what a hostile archive may say; the key still seals it.
    let hostile_titles = [
        "../../escaped",
        "/etc/passwd-x",
        "a/../../b",
        "nul\\u0000name",
        "..",
    ];
    let bytes = crate::hostile::reseal(
        &std::fs::read(&archive).unwrap(),
        &std::fs::read(&key).unwrap(),
        |members| {
            let rename = |members: &mut Vec<crate::hostile::Member>,
                          member: &str,
                          field: &str,
                          to: &[&str]| {
                let i = crate::hostile::index(members, member);
                let text = String::from_utf8(members[i].data.clone()).unwrap();
                let lines: Vec<String> = text
                    .lines()
                    .zip(to.iter().cycle())
                    .map(|(line, name)| {
                        let mut v: Value = serde_json::from_str(line).unwrap();
                        v[field] = serde_json::from_str(&format!("\"{name}\"")).unwrap();
                        v.to_string()
                    })
                    .collect();
                members[i].data = format!("{}\n", lines.join("\n")).into_bytes();
            };
            rename(members, "folders.jsonl", "name", &["..", "."]);
            rename(members, "documents.jsonl", "title", &hostile_titles);
        },
    );
    let evil = sh.path("evil.cbk");
    std::fs::write(&evil, bytes).unwrap();
    let jail = sh.path("jail/dir");
    std::fs::create_dir_all(&jail).unwrap();
    let before: Vec<PathBuf> = walk(sh.home.path());
    let done = sh
        .run(&[
            "backup",
            "extract",
            evil.to_str().unwrap(),
            "--key",
            &key,
            "-o",
            jail.to_str().unwrap(),
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(done["files_written"], 5, "{done}");
    // Everything new is inside the directory, and nothing there is a link.
    let jail_root = jail.canonicalize().unwrap();
    for path in walk(sh.home.path()) {
        if before.contains(&path) {
            continue;
        }
        let real = path.canonicalize().unwrap();
        assert!(
            real.starts_with(&jail_root),
            "{} was written outside",
            path.display()
        );
        assert!(
            !std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
    // Every document came out, under escaped names, with its bytes.
    let description: Value =
        serde_json::from_slice(&std::fs::read(jail.join("coffer-archive.json")).unwrap()).unwrap();
    let titles: Vec<&str> = description["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"../../escaped") && titles.contains(&"nul\0name"),
        "{titles:?}"
    );
    for doc in description["documents"].as_array().unwrap() {
        let file = doc["revisions"][0]["file"].as_str().unwrap();
        let got = std::fs::read(jail.join(file)).unwrap();
        assert_eq!(
            got.len() as u64,
            doc["revisions"][0]["size"].as_u64().unwrap(),
            "{file}"
        );
    }
}

/// Every path under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

const LEGACY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/cfms-legacy/cfms-legacy-sample"
);

/// The real CFMS archive lists and extracts offline with `--allow-legacy` (and only with it):
/// every folder and document of its expected contents, every revision's bytes under the
/// documented names, their SHA-256 as the fixture records them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_cfms_fixture_lists_and_extracts_offline_with_allow_legacy() {
    use sha2::{Digest, Sha256};
    let sh = Shell {
        home: tempfile::tempdir().unwrap(),
        server: "http://127.0.0.1:9".into(),
        umask: None,
    };
    let (archive, key) = (format!("{LEGACY}.cfms.enc"), format!("{LEGACY}.key"));
    let expected: Value =
        serde_json::from_slice(&std::fs::read(format!("{LEGACY}.expected.json")).unwrap()).unwrap();

    let refused = sh.run(&["backup", "ls", &archive, "--key", &key]).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("import_legacy_not_allowed"),
        "{refused:?}"
    );

    let listed = sh
        .run(&[
            "backup",
            "ls",
            &archive,
            "--key",
            &key,
            "--allow-legacy",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(listed["archive"]["format"], "cfms-legacy", "{listed}");
    assert_eq!(listed["archive"]["authenticated"], false);
    let mut folder_names = names(&listed, "folders", "path");
    folder_names
        .iter_mut()
        .for_each(|p| *p = p.rsplit('/').next().unwrap().to_owned());
    folder_names.sort();
    let mut expected_folders: Vec<String> = expected["folders"]
        .as_object()
        .unwrap()
        .values()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    expected_folders.sort();
    assert_eq!(folder_names, expected_folders);

    let out = sh.path("out");
    let done = sh
        .run(&[
            "backup",
            "extract",
            &archive,
            "--key",
            &key,
            "--allow-legacy",
            "--all-revisions",
            "-o",
            out.to_str().unwrap(),
            "--json",
        ])
        .await
        .ok()
        .json();
    let description: Value =
        serde_json::from_slice(&std::fs::read(out.join("coffer-archive.json")).unwrap()).unwrap();
    let documents = description["documents"].as_array().unwrap();
    assert_eq!(
        documents.len(),
        expected["documents"].as_object().unwrap().len()
    );
    let mut written = 0;
    for want in expected["documents"].as_object().unwrap().values() {
        let title = want["title"].as_str().unwrap();
        let got = documents
            .iter()
            .find(|d| d["title"] == title)
            .unwrap_or_else(|| panic!("{title} was not extracted"));
        let shas: Vec<&str> = got["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let bytes = std::fs::read(out.join(r["file"].as_str().unwrap())).unwrap();
                assert_eq!(hex::encode(Sha256::digest(&bytes)), r["sha256"], "{title}");
                written += 1;
                r["sha256"].as_str().unwrap()
            })
            .collect();
        let want: Vec<&str> = want["revisions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["file_sha256"].as_str().unwrap())
            .collect();
        assert_eq!(shas, want, "{title}: revisions oldest first");
    }
    assert_eq!(done["files_written"], written, "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_prunes_and_restores_from_the_command_line() {
    let server = TestServer::start().await;
    let sh = Shell::new(&server);
    sh.login(None, "admin", ADMIN_PASSWORD).await.ok();
    sh.run(&["mkdir", "-p", "projects/alpha"]).await.ok();
    let file = write(sh.home.path(), "plan.txt", &content(5000, 21));
    sh.run(&["put", &file, "projects/alpha"]).await.ok();

    let set = sh
        .run(&[
            "backup",
            "policy",
            "set",
            "--schedule",
            "0 2 * * *",
            "--time-zone",
            "Europe/Berlin",
            "--keep-last",
            "1",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(set["policy"]["schedule"], "0 2 * * *", "{set}");
    assert_eq!(set["policy"]["keep_last"], 1, "{set}");
    let got = sh
        .run(&["backup", "policy", "get", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(got["policy"]["time_zone"], "Europe/Berlin", "{got}");
    // A bad schedule is the server's error code, exit 1.
    let bad = sh
        .run(&["backup", "policy", "set", "--schedule", "61 * * * *"])
        .await;
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("invalid_field"), "{}", bad.stderr);

    let made = sh
        .run(&["backup", "create", "--name", "first", "--wait", "--json"])
        .await
        .ok()
        .json();
    let backup_id = made["backup_id"].as_str().expect("backup id").to_owned();
    let pruned = sh
        .run(&["backup", "prune", "--dry-run", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(pruned["kept"], serde_json::json!([backup_id]), "{pruned}");

    // The folder goes; the restore brings it back where it was.
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let alpha = entity::folder::Entity::find()
        .filter(entity::folder::Column::Name.eq("alpha"))
        .one(&server.state().db)
        .await
        .unwrap()
        .unwrap();
    let c = server.admin().await;
    c.call::<api_spec::actions::DeleteDirectory>(&api_spec::actions::FolderIdRequest {
        folder_id: alpha.id.to_string(),
    })
    .await
    .unwrap();
    let gone = sh
        .run(&["get", "projects/alpha/plan.txt", "-o", "/dev/null"])
        .await;
    assert_eq!(gone.code, 1, "{gone:?}");
    let restored = sh
        .run(&[
            "backup",
            "restore",
            &backup_id,
            "--path",
            "projects/alpha",
            "--wait",
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(restored["status"], "completed", "{restored}");
    let dest = sh.path("plan-again.txt");
    sh.run(&[
        "get",
        "projects/alpha/plan.txt",
        "-o",
        dest.to_str().unwrap(),
    ])
    .await
    .ok();
    assert_eq!(std::fs::read(dest).unwrap(), content(5000, 21));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keygen_makes_an_identity_that_policies_and_offline_commands_take() {
    let server = TestServer::start().await;
    let sh = Shell::new(&server);
    let identity = sh.path("me.age");
    let made = sh
        .run(&[
            "backup",
            "keygen",
            "-o",
            identity.to_str().unwrap(),
            "--json",
        ])
        .await
        .ok()
        .json();
    let recipient = made["recipient"].as_str().expect("recipient").to_owned();
    assert!(recipient.starts_with("age1"), "{made}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&identity).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = sh
        .run(&["backup", "keygen", "-o", identity.to_str().unwrap()])
        .await;
    assert_eq!(again.code, 1, "an identity is never overwritten: {again:?}");

    sh.login(None, "admin", ADMIN_PASSWORD).await.ok();
    let file = write(sh.home.path(), "secret.txt", &content(1000, 31));
    sh.run(&["put", &file, "/"]).await.ok();
    sh.run(&["backup", "policy", "set", "--recipient", &recipient])
        .await
        .ok();
    let (archive, key) = sh.create_backup("sealed").await;
    let refused = sh.run(&["backup", "ls", &archive, "--key", &key]).await;
    assert_eq!(refused.code, 1);
    assert!(
        refused.stderr.contains("backup_identity_required"),
        "{refused:?}"
    );
    let listed = sh
        .run(&[
            "backup",
            "ls",
            &archive,
            "--key",
            &key,
            "--identity",
            identity.to_str().unwrap(),
            "--json",
        ])
        .await
        .ok();
    assert!(listed.stdout.contains("secret.txt"), "{listed:?}");
}

/// A tree whose paths below the target directory pass Linux's PATH_MAX (4,096 bytes: here
/// 24 levels of 200-byte names) extracts whole: every file is made relative to directory
/// handles, never through its whole path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extract_writes_trees_deeper_than_path_max() {
    use rustix::fs::{Mode, OFlags};

    let server = TestServer::start().await;
    let sh = Shell::new(&server);
    sh.login(None, "admin", ADMIN_PASSWORD).await.ok();
    let levels: Vec<String> = (0..24)
        .map(|i| format!("{i:02}{}", "d".repeat(198)))
        .collect();
    let deep = levels.join("/");
    assert!(deep.len() > 4096);
    sh.run(&["mkdir", "-p", &deep]).await.ok();
    let bytes = content(5000, 11);
    let file = write(sh.home.path(), "bottom.txt", &bytes);
    sh.run(&["put", &file, &deep]).await.ok();
    let (archive, key) = sh.create_backup("backups").await;
    let target = sh.path("extracted");
    let done = sh
        .run(&[
            "backup",
            "extract",
            &archive,
            "--key",
            &key,
            "-o",
            target.to_str().unwrap(),
            "--json",
        ])
        .await
        .ok()
        .json();
    assert_eq!(done["files_written"], 1, "{done}");
    // Read it back the same way: one component at a time.
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir = rustix::fs::open(&target, flags, Mode::empty()).unwrap();
    for level in &levels {
        dir = rustix::fs::openat(&dir, level.as_str(), flags, Mode::empty())
            .unwrap_or_else(|e| panic!("{level}: {e}"));
    }
    let fd = rustix::fs::openat(&dir, "bottom.txt", OFlags::RDONLY, Mode::empty()).unwrap();
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut got).unwrap();
    assert!(got == bytes, "the deep file's bytes differ");
}
