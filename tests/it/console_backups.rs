//! The console's backup pages in a real browser: a backup made and imported through the page
//! on two instances behind one origin (with a cut upload resumed), a wrong key file, a user
//! without export_backup, every page on a phone, cancelling an import, and the policy,
//! pruning and verification.
use crate::console::*;
use api_spec::ErrorCode;
use api_spec::actions::{
    BackupIdRequest, CreateTenant, CreateTenantRequest, CreateUser, CreateUserRequest,
    DocumentIdRequest, GenerateBackup, GenerateBackupRequest, GetBackupDownload,
    GetBackupExportStatus, GetBackupImportStatus, GetDocument, JobIdRequest, ListDirectory,
    ListDirectoryRequest,
};
use coffer::client::Client;
use fantoccini::Locator;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tests::TestServer;
use tests::browser::{
    Browser, click_button, downloaded, element, fill, js, page_text, until, until_text,
};
use tests::server::ADMIN_PASSWORD;

/// The path through the console, on two instances behind one origin: log in, upload
/// two files (the bigger one's connection is cut and the upload resumes), generate a backup
/// and watch it complete, download archive and key, log out (the session ends on the
/// server), log in to a second tenant, import them through the page, watch the progress to
/// the end, and find both files with their bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_made_and_imported_through_the_console_on_two_instances() {
    // Instances share the database and the object store (an S3 server of the test's own,
    // whatever the run uses), never a disk: on SQLite the second opens the first's
    // database file. The default session cache: instances sharing a SQLite file have no
    // bus, and learn of a logout on the other within `auth_cache_ms`.
    let s3 = tests::s3::S3Server::start().await;
    let server = TestServer::start_with(|c| {
        c.auth_cache_ms = coffer::Config::default().auth_cache_ms;
        s3.configure(c);
    })
    .await;
    let mut config = server.config_for_another_instance();
    config.auth_cache_ms = coffer::Config::default().auth_cache_ms;
    s3.configure(&mut config);
    if config.database_url.is_none() {
        let file = server.dir.path().join("coffer.db");
        config.database_url = Some(coffer::secret::SecretString::new(format!(
            "sqlite://{}?mode=rwc",
            file.display()
        )));
    }
    let own_disk = tempfile::tempdir().unwrap();
    config.data_dir = own_disk.path().to_path_buf();
    let second = coffer::start(config, coffer::server::Signals::Ignore)
        .await
        .unwrap();
    let (base, seen) = balancer(vec![server.addr, second.addr()], Network::CutFirstUpload).await;
    let admin = api(&base, None, "admin", ADMIN_PASSWORD).await;
    admin
        .call::<CreateTenant>(&CreateTenantRequest {
            tenant: "second".into(),
            display_name: Some("Second".into()),
            admin_password: SECOND_PASSWORD.into(),
        })
        .await
        .unwrap();
    let files = tempfile::tempdir().unwrap();
    let small = b"a small note, uploaded through the console\n".repeat(40);
    let big = tests::bench::tenant::content(3 * 1024 * 1024 + 17, 7, false);
    std::fs::write(files.path().join("note.txt"), &small).unwrap();
    std::fs::write(files.path().join("big.bin"), &big).unwrap();
    let files_dir = files.path().to_path_buf();

    let Some(browser) = Browser::open(1280, 900).await else {
        return;
    };
    let scenario_base = base.clone();
    browser
        .run("console_round_trip", move |c, downloads| async move {
            let base = scenario_base;
            log_in(&c, &base, "default", "admin", ADMIN_PASSWORD).await;
            open_page(&c, &base, "documents", "Documents").await;
            screenshot_if_asked(&c, "page-documents-empty").await;

            let input = element(&c, "input[name=files]").await;
            let paths = format!(
                "{}\n{}",
                files_dir.join("note.txt").display(),
                files_dir.join("big.bin").display()
            );
            input.send_keys(&paths).await.unwrap();
            click_button(&c, "Upload").await;
            until_text(&c, "2 files uploaded.").await;
            assert_eq!(listed(&c).await, json!(["big.bin", "note.txt"]));
            accessible_and_fitting(&c, "documents").await;
            screenshot_if_asked(&c, "page-documents").await;

            open_page(&c, &base, "backups", "Backups").await;
            fill(&c, "input[name=backup_name]", "console backup").await;
            click_button(&c, "Generate backup").await;
            until_text(&c, "Backup console backup is ready.").await;
            accessible_and_fitting(&c, "backups").await;
            screenshot_if_asked(&c, "page-backups").await;
            let backup_id = until(
                &c,
                "the backup's row",
                "const r = document.querySelector('tr[data-backup]'); return r && r.dataset.backup",
            )
            .await;
            let backup_id = backup_id.as_str().unwrap().to_owned();
            click_button(&c, "Download archive").await;
            let archive = downloaded(&downloads, &format!("{backup_id}.cbk")).await;
            click_button(&c, "Download key").await;
            let key = downloaded(&downloads, &format!("{backup_id}.key.json")).await;

            // Logging out ends the session on the server too.
            let token = js(
                &c,
                "return JSON.parse(sessionStorage.getItem('coffer.session')).token",
                vec![],
            )
            .await;
            click_button(&c, "Log out").await;
            until_text(&c, "Log in to Coffer").await;
            let header = js(
                &c,
                "return document.querySelector('header').innerText",
                vec![],
            )
            .await;
            assert_eq!(header, json!("Coffer"), "the header still names the user");
            let stored = js(
                &c,
                "return sessionStorage.getItem('coffer.session')",
                vec![],
            )
            .await;
            assert_eq!(stored, json!(null));
            assert!(
                !c.current_url()
                    .await
                    .unwrap()
                    .as_str()
                    .contains(token.as_str().unwrap())
            );
            // Through either instance: on SQLite the other instance may have the session
            // cached for `auth_cache_ms` (1 s by default); on PostgreSQL the bus tells it
            // at once.
            let mut old = Client::connect(&base).await.unwrap();
            old.set_credentials(coffer::client::Credentials {
                username: None,
                token: token.as_str().unwrap().to_owned(),
            });
            let ended = std::time::Instant::now();
            let refused = loop {
                match old
                    .call::<ListDirectory>(&ListDirectoryRequest { folder_id: None })
                    .await
                {
                    Err(e) => break e,
                    Ok(_) if ended.elapsed() < std::time::Duration::from_secs(3) => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    Ok(_) => panic!("the token still works 3 s after logging out"),
                }
            };
            assert_eq!(refused.code(), Some(ErrorCode::InvalidToken));
            accessible_and_fitting(&c, "login").await;
            screenshot_if_asked(&c, "page-login").await;

            log_in(&c, &base, "second", "admin", SECOND_PASSWORD).await;
            open_page(&c, &base, "import", "Import a backup").await;
            element(&c, "input[name=archive]")
                .await
                .send_keys(&archive.display().to_string())
                .await
                .unwrap();
            element(&c, "input[name=key]")
                .await
                .send_keys(&key.display().to_string())
                .await
                .unwrap();
            click_button(&c, "Upload and import").await;
            until_text(&c, "Import finished.").await;
            let end = js(
                &c,
                "return [...document.querySelectorAll('.bars progress')].map(p => p.value)",
                vec![],
            )
            .await;
            assert_eq!(
                end,
                json!([100, 100, 100]),
                "both uploads and the import end full"
            );
            let text = page_text(&c).await;
            assert!(text.contains("Completed"), "{text}");
            assert!(
                text.contains("documents\t2") || text.contains("documents 2"),
                "{text}"
            );
            accessible_and_fitting(&c, "import").await;
            screenshot_if_asked(&c, "page-import").await;

            open_page(&c, &base, "documents", "Documents").await;
            assert_eq!(listed(&c).await, json!(["big.bin", "note.txt"]));
            // The revisions of a document.
            element(&c, "button[aria-label='Revisions of big.bin']")
                .await
                .click()
                .await
                .unwrap();
            until_text(&c, "(current)").await;
            screenshot_if_asked(&c, "page-documents-imported").await;
        })
        .await;
    assert!(
        seen.cut.load(Ordering::SeqCst),
        "the proxy cut an upload short"
    );
    assert!(
        seen.ranged_put.load(Ordering::SeqCst),
        "the page asked the server what it held (a ranged PUT)"
    );

    // Both files are in the second tenant, byte for byte.
    let reader = api(&base, Some("second"), "admin", SECOND_PASSWORD).await;
    let top = reader
        .call::<ListDirectory>(&ListDirectoryRequest { folder_id: None })
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut found = 0;
    for doc in &top.documents {
        let got = reader
            .call::<GetDocument>(&DocumentIdRequest {
                document_id: doc.id.clone(),
            })
            .await
            .unwrap();
        let dest = out.path().join(&doc.title);
        reader
            .download(&got.task_data.task_id, &dest, Arc::new(|_| {}))
            .await
            .unwrap();
        let bytes = std::fs::read(&dest).unwrap();
        match doc.title.as_str() {
            "note.txt" => assert_eq!(bytes, small),
            "big.bin" => assert!(bytes == big, "big.bin differs"),
            other => panic!("unexpected document {other}"),
        }
        found += 1;
    }
    assert_eq!(found, 2);
}

/// Writes a backup's archive or key file into `dir` as `name`.
async fn fetch(client: &Client, task_id: &str, dir: &Path, name: &str) -> std::path::PathBuf {
    let dest = dir.join(name);
    client
        .download(task_id, &dest, Arc::new(|_| {}))
        .await
        .unwrap();
    dest
}

/// Generates a backup named `name` and waits for it; answers its id.
async fn make_backup(client: &Client, name: &str) -> String {
    make_backup_of(client, name, false).await
}

/// Generates a backup named `name` (an incremental one on the newest when `incremental`)
/// and waits for it; answers its id.
async fn make_backup_of(client: &Client, name: &str, incremental: bool) -> String {
    let started = client
        .call::<GenerateBackup>(&GenerateBackupRequest {
            backup_name: Some(name.into()),
            passphrase: None,
            compression: None,
            incremental,
            base_backup_id: None,
        })
        .await
        .unwrap();
    for _ in 0..600 {
        let status = client
            .call::<GetBackupExportStatus>(&JobIdRequest {
                backup_task_id: started.backup_task_id.clone(),
            })
            .await
            .unwrap();
        if status.status == api_spec::jobs::JobState::Completed {
            return started.backup_id;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the backup {name} did not complete");
}

/// A new backup's archive and key file, downloaded into `dir` as `<name>.cbk` and
/// `<name>.key.json`.
async fn backup_files(
    client: &Client,
    dir: &Path,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let backup_id = make_backup(client, name).await;
    let tasks = client
        .call::<GetBackupDownload>(&BackupIdRequest { backup_id })
        .await
        .unwrap();
    (
        fetch(client, &tasks.archive.task_id, dir, &format!("{name}.cbk")).await,
        fetch(client, &tasks.key.task_id, dir, &format!("{name}.key.json")).await,
    )
}

/// An archive with another backup's key file: the page says what is wrong, as a sentence
/// with its code, and the tenant stays as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_file_shows_the_error_sentence() {
    let server = TestServer::start().await;
    let base = format!("http://{}", server.addr);
    let admin = api(&base, None, "admin", ADMIN_PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    // Something to import, were the key accepted.
    let doc = admin
        .call::<api_spec::actions::CreateDocument>(&api_spec::actions::CreateDocumentRequest {
            title: "kept.txt".into(),
            folder_id: None,
            access_rules: None,
            inherit_parent: None,
        })
        .await
        .unwrap();
    let content = dir.path().join("kept.txt");
    std::fs::write(&content, b"content the wrong key must not bring").unwrap();
    admin
        .upload(&doc.task_data.task_id, &content, Arc::new(|_| {}))
        .await
        .unwrap();
    let (archive, _) = backup_files(&admin, dir.path(), "first").await;
    let (_, other_key) = backup_files(&admin, dir.path(), "second").await;
    admin
        .call::<CreateTenant>(&CreateTenantRequest {
            tenant: "second".into(),
            display_name: None,
            admin_password: SECOND_PASSWORD.into(),
        })
        .await
        .unwrap();

    let Some(browser) = Browser::open(1280, 900).await else {
        return;
    };
    let scenario_base = base.clone();
    let job = browser
        .run("console_wrong_key", move |c, _| async move {
            let base = scenario_base;
            log_in(&c, &base, "second", "admin", SECOND_PASSWORD).await;
            open_page(&c, &base, "import", "Import a backup").await;
            element(&c, "input[name=archive]").await.send_keys(&archive.display().to_string()).await.unwrap();
            element(&c, "input[name=key]").await.send_keys(&other_key.display().to_string()).await.unwrap();
            click_button(&c, "Upload and import").await;
            let alert = until(
                &c,
                "an error",
                "const a = document.querySelector('.outcome.error[role=alert]'); return a && a.textContent",
            )
            .await;
            assert_eq!(
                alert,
                json!("The key does not belong to this archive. [backup_wrong_key]"),
            );
            let job = js(&c, "return document.querySelector('[data-job]').dataset.job", vec![]).await;
            job.as_str().unwrap().to_owned()
        })
        .await;
    // The job that never started is let go at once, not left to its deadline.
    let second = api(&base, Some("second"), "admin", SECOND_PASSWORD).await;
    let started = std::time::Instant::now();
    loop {
        let status = second
            .call::<GetBackupImportStatus>(&JobIdRequest {
                backup_task_id: job.clone(),
            })
            .await
            .unwrap();
        if status.status == api_spec::jobs::JobState::Cancelled {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{status:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let top = second
        .call::<ListDirectory>(&ListDirectoryRequest { folder_id: None })
        .await
        .unwrap();
    assert!(top.documents.is_empty() && top.folders.is_empty());
}

/// An incremental backup imports through the page with the earlier links of its chain
/// chosen beside it: a link without its key file is refused before anything is uploaded,
/// and the whole chain brings the tenant as it was at the newest link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incremental_backup_imports_through_the_page_with_its_chain() {
    let server = TestServer::start().await;
    let base = format!("http://{}", server.addr);
    let admin = api(&base, None, "admin", ADMIN_PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let mut contents = Vec::new();
    let mut links = Vec::new();
    for (i, title) in ["first.txt", "second.txt"].into_iter().enumerate() {
        let doc = admin
            .call::<api_spec::actions::CreateDocument>(&api_spec::actions::CreateDocumentRequest {
                title: title.into(),
                folder_id: None,
                access_rules: None,
                inherit_parent: None,
            })
            .await
            .unwrap();
        let content = tests::bench::tenant::content(200_000 + i, i as u64, false);
        let path = dir.path().join(title);
        std::fs::write(&path, &content).unwrap();
        admin
            .upload(&doc.task_data.task_id, &path, Arc::new(|_| {}))
            .await
            .unwrap();
        contents.push((title, content));
        // A full backup of the first document, then a link that adds the second.
        let id = make_backup_of(&admin, title, i == 1).await;
        let tasks = admin
            .call::<GetBackupDownload>(&BackupIdRequest {
                backup_id: id.clone(),
            })
            .await
            .unwrap();
        let archive = fetch(
            &admin,
            &tasks.archive.task_id,
            dir.path(),
            &format!("{id}.cbk"),
        )
        .await;
        let key = fetch(
            &admin,
            &tasks.key.task_id,
            dir.path(),
            &format!("{id}.key.json"),
        )
        .await;
        links.push((archive, key));
    }
    let [(full_archive, full_key), (link_archive, link_key)] = <[_; 2]>::try_from(links).unwrap();
    admin
        .call::<CreateTenant>(&CreateTenantRequest {
            tenant: "second".into(),
            display_name: None,
            admin_password: SECOND_PASSWORD.into(),
        })
        .await
        .unwrap();

    let Some(browser) = Browser::open(1280, 900).await else {
        return;
    };
    let scenario_base = base.clone();
    browser
        .run("console_chain_import", move |c, _| async move {
            let base = scenario_base;
            log_in(&c, &base, "second", "admin", SECOND_PASSWORD).await;
            open_page(&c, &base, "import", "Import a backup").await;
            element(&c, "input[name=archive]").await.send_keys(&link_archive.display().to_string()).await.unwrap();
            element(&c, "input[name=key]").await.send_keys(&link_key.display().to_string()).await.unwrap();
            // The earlier link's archive without its key file.
            let chain = element(&c, "input[name=links]").await;
            chain.send_keys(&full_archive.display().to_string()).await.unwrap();
            click_button(&c, "Upload and import").await;
            let alert = until(
                &c,
                "an error",
                "const a = document.querySelector('.outcome.error[role=alert]'); return a && a.textContent",
            )
            .await;
            let alert = alert.as_str().unwrap();
            assert!(alert.contains("has no key file beside it") && alert.ends_with("[invalid_field]"), "{alert}");
            let job = js(&c, "return document.querySelector('[data-job]')", vec![]).await;
            assert_eq!(job, json!(null), "a job was made for a chain refused on the page");

            js(&c, "document.querySelector('input[name=links]').value = ''", vec![]).await;
            let both = format!("{}\n{}", full_archive.display(), full_key.display());
            element(&c, "input[name=links]").await.send_keys(&both).await.unwrap();
            click_button(&c, "Upload and import").await;
            until_text(&c, "Import finished.").await;
            let end = js(&c, "return [...document.querySelectorAll('.bars progress')].map(p => p.value)", vec![]).await;
            assert_eq!(end, json!([100, 100, 100, 100]), "archive, key, the earlier link and the import end full");
        })
        .await;

    let reader = api(&base, Some("second"), "admin", SECOND_PASSWORD).await;
    let top = reader
        .call::<ListDirectory>(&ListDirectoryRequest { folder_id: None })
        .await
        .unwrap();
    assert_eq!(top.documents.len(), 2, "{top:?}");
    for doc in &top.documents {
        let got = reader
            .call::<GetDocument>(&DocumentIdRequest {
                document_id: doc.id.clone(),
            })
            .await
            .unwrap();
        let dest = dir.path().join(format!("got-{}", doc.title));
        reader
            .download(&got.task_data.task_id, &dest, Arc::new(|_| {}))
            .await
            .unwrap();
        let want = &contents.iter().find(|(t, _)| *t == doc.title).unwrap().1;
        assert!(
            std::fs::read(&dest).unwrap() == *want,
            "{} differs",
            doc.title
        );
    }
}

/// A user without `export_backup` sees no backup actions (and no import, no tenants);
/// wrong credentials read as a sentence; the pages fit a phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_export_backup_sees_no_backup_actions() {
    let server = TestServer::start().await;
    let base = format!("http://{}", server.addr);
    let admin = api(&base, None, "admin", ADMIN_PASSWORD).await;
    admin
        .call::<CreateUser>(&CreateUserRequest {
            username: "reader".into(),
            password: "reader-password".into(),
            nickname: None,
            permissions: vec![],
            groups: vec![],
        })
        .await
        .unwrap();
    // A folder only sysop may read.
    let mut rules = api_spec::actions::AccessRules::new();
    rules.insert(
        "read".to_owned(),
        serde_json::from_value(
            json!([{"match": "all", "match_groups": [{"groups": {"match": "all", "require": ["sysop"]}}]}]),
        )
        .unwrap(),
    );
    let closed = admin
        .call::<api_spec::actions::CreateDirectory>(&api_spec::actions::CreateDirectoryRequest {
            name: "sysop only".into(),
            parent_id: None,
            access_rules: Some(rules),
            inherit_parent: None,
            exists_ok: false,
        })
        .await
        .unwrap()
        .id;

    let Some(browser) = Browser::open(390, 844).await else {
        return;
    };
    let scenario_base = base.clone();
    browser
        .run("console_no_export", move |c, _| async move {
            let base = scenario_base;
            c.goto(&format!("{base}/")).await.unwrap();
            fill(&c, "input[name=username]", "reader").await;
            fill(&c, "input[name=password]", "not-the-password\u{E007}").await;
            let alert = until(
                &c,
                "the refusal",
                "const a = document.querySelector('.outcome.error[role=alert]'); return a && a.textContent",
            )
            .await;
            assert_eq!(alert, json!("Invalid credentials. [invalid_credentials]"));
            accessible_and_fitting(&c, "login on a phone").await;

            log_in(&c, &base, "default", "reader", "reader-password").await;
            let links = js(&c, "return [...document.querySelectorAll('nav a')].map(a => a.textContent)", vec![]).await;
            assert_eq!(links, json!(["Documents"]));
            // Asked for by address (the page loaded anew), the backups page is not there
            // either: the documents page stands in.
            c.goto(&format!("{base}/#/backups")).await.unwrap();
            c.refresh().await.unwrap();
            ready(&c, "documents").await;
            let text = page_text(&c).await;
            for absent in ["Generate backup", "Backups", "Import", "Tenants"] {
                assert!(!text.contains(absent), "{absent:?} shown to a user without the permission:\n{text}");
            }
            let buttons = c.find_all(Locator::Css("button")).await.unwrap();
            for b in buttons {
                let label = b.text().await.unwrap();
                assert!(!label.contains("Backup") && !label.contains("Generate"), "{label}");
            }
            accessible_and_fitting(&c, "documents on a phone").await;

            // The closed folder is not listed; opened by its address, the page says why.
            assert!(!page_text(&c).await.contains("sysop only"));
            c.goto(&format!("{base}/#/documents/{closed}")).await.unwrap();
            c.refresh().await.unwrap();
            ready(&c, "documents").await;
            let alert = js(
                &c,
                "return document.querySelector('.outcome.error[role=alert]').textContent",
                vec![],
            )
            .await;
            assert_eq!(
                alert,
                json!("You may not open this folder: access denied by the object's access rules. [access_denied]")
            );
        })
        .await;
}

/// Every page of an admin of tenant `default`, on a phone: labelled controls, nothing wider
/// than the screen; the tenants page lists and creates tenants.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone_and_tenants_are_managed() {
    let server = TestServer::start().await;
    let base = format!("http://{}", server.addr);
    let Some(browser) = Browser::open(390, 844).await else {
        return;
    };
    let scenario_base = base.clone();
    browser
        .run("console_phone", move |c, _| async move {
            let base = scenario_base;
            log_in(&c, &base, "default", "admin", ADMIN_PASSWORD).await;
            for (page, heading) in [
                ("documents", "Documents"),
                ("backups", "Backups"),
                ("import", "Import a backup"),
                ("tenants", "Tenants"),
            ] {
                open_page(&c, &base, page, heading).await;
                until_text(&c, "Log out").await;
                accessible_and_fitting(&c, page).await;
                screenshot_if_asked(&c, &format!("phone-{page}")).await;
            }
            fill(&c, "input[name=tenant]", "made-in-browser").await;
            fill(&c, "input[name=admin_password]", "made-in-browser-pw").await;
            click_button(&c, "Create tenant").await;
            until_text(&c, "Tenant made-in-browser created").await;
            until(
                &c,
                "the new tenant in the list",
                "return [...document.querySelectorAll('td')].some(td => td.textContent === 'made-in-browser')",
            )
            .await;
            // A bad slug reads as a sentence.
            fill(&c, "input[name=tenant]", "x").await;
            js(&c, "document.querySelector('input[name=tenant]').removeAttribute('pattern')", vec![]).await;
            fill(&c, "input[name=admin_password]", "made-in-browser-pw").await;
            click_button(&c, "Create tenant").await;
            until_text(&c, "[invalid_tenant_slug]").await;
        })
        .await;
    let admin = api(
        &base,
        Some("made-in-browser"),
        "admin",
        "made-in-browser-pw",
    )
    .await;
    drop(admin);
}

/// Cancel, pressed while the archive uploads (over a slow line), stops the upload and the
/// job: the page says nothing was kept, and no upload is left in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_an_import_stops_its_uploads() {
    let server = TestServer::start().await;
    let (base, seen) = balancer(vec![server.addr], Network::SlowUploads).await;
    let files = tempfile::tempdir().unwrap();
    let archive = files.path().join("big.cbk");
    let key = files.path().join("big.key.json");
    std::fs::write(
        &archive,
        tests::bench::tenant::content(32 * 1024 * 1024, 3, false),
    )
    .unwrap();
    std::fs::write(&key, b"{}").unwrap();

    let Some(browser) = Browser::open(1280, 900).await else {
        return;
    };
    let scenario_base = base.clone();
    let job = browser
        .run("console_cancel", move |c, _| async move {
            let base = scenario_base;
            log_in(&c, &base, "default", "admin", ADMIN_PASSWORD).await;
            open_page(&c, &base, "import", "Import a backup").await;
            element(&c, "input[name=archive]").await.send_keys(&archive.display().to_string()).await.unwrap();
            element(&c, "input[name=key]").await.send_keys(&key.display().to_string()).await.unwrap();
            click_button(&c, "Upload and import").await;
            // Some of the archive has gone, not all of it.
            until(
                &c,
                "the archive upload under way",
                "const p = document.querySelector('.bars progress'); \
                 const t = document.querySelector('.bars .progress-text'); \
                 return p && t && !t.textContent.startsWith('Checking') && p.value > 0 && p.value < 90",
            )
            .await;
            click_button(&c, "Cancel import").await;
            until_text(&c, "The import was cancelled; nothing of it was kept.").await;
            let bar = js(&c, "return document.querySelector('.bars progress').value", vec![]).await;
            assert!(bar.as_f64().unwrap() < 100.0, "the upload went on: {bar}");
            let job = js(&c, "return document.querySelector('[data-job]').dataset.job", vec![]).await;
            job.as_str().unwrap().to_owned()
        })
        .await;
    let admin = api(&base, None, "admin", ADMIN_PASSWORD).await;
    let status = admin
        .call::<GetBackupImportStatus>(&JobIdRequest {
            backup_task_id: job,
        })
        .await
        .unwrap();
    assert_eq!(status.status, api_spec::jobs::JobState::Cancelled);
    // The browser dropped the upload's connection (what it had sent before still drains
    // through the slow line), long before all of it had gone.
    let started = std::time::Instant::now();
    while !seen.upload_abandoned.load(Ordering::SeqCst) {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the upload's connection stayed open"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let sent = seen.uploaded.load(Ordering::SeqCst);
    assert!(sent < 32 * 1024 * 1024, "all of it had gone: {sent}");
}

/// The backups page's lifecycle parts: a policy saved through the form is the tenant's
/// policy (and a bad one reads as a sentence), pruning previews what retention would remove
/// (and removes nothing), and Verify checks a stored backup's bytes and shows it verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_pruning_and_verification_through_the_backups_page() {
    // Every backup is copied to a directory of its own: the page shows where.
    let copies = tempfile::tempdir().unwrap();
    let destination = copies.path().join("copies").display().to_string();
    let configured = destination.clone();
    let server = TestServer::start_with(|c| c.backup_copies = vec![configured]).await;
    let base = format!("http://{}", server.addr);
    let admin = api(&base, None, "admin", ADMIN_PASSWORD).await;
    // Made, not downloaded: a backup being downloaded is in use, which retention spares.
    make_backup(&admin, "older").await;
    make_backup(&admin, "newer").await;

    let Some(browser) = Browser::open(1280, 900).await else {
        return;
    };
    let scenario_base = base.clone();
    browser
        .run("console_policy", move |c, _| async move {
            let base = scenario_base;
            log_in(&c, &base, "default", "admin", ADMIN_PASSWORD).await;
            open_page(&c, &base, "backups", "Backups").await;
            until_text(&c, "No policy yet").await;
            // The default backup store shares the data's disk (or bucket), and the page
            // says so.
            until_text(
                &c,
                "kept on the same disk or bucket as the data they protect",
            )
            .await;
            // Each backup's copy, once made (the page shows the list as it loads).
            let copied = format!("Copied to {destination}");
            for _ in 0..50 {
                if page_text(&c).await.matches(&copied).count() == 2 {
                    break;
                }
                open_page(&c, &base, "backups", "Backups").await;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            assert_eq!(
                page_text(&c).await.matches(&copied).count(),
                2,
                "{}",
                page_text(&c).await
            );

            // A schedule that is not cron is refused with the server's sentence.
            fill(&c, "input[name=schedule]", "every day").await;
            click_button(&c, "Save policy").await;
            until_text(&c, "[invalid_field]").await;

            fill(&c, "input[name=schedule]", "0 3 * * *").await;
            fill(&c, "input[name=time_zone]", "Europe/Berlin").await;
            fill(&c, "input[name=keep_last]", "1").await;
            fill(&c, "input[name=full_every]", "4").await;
            click_button(&c, "Save policy").await;
            until_text(&c, "Policy saved.").await;
            until_text(&c, "Next scheduled backup:").await;

            click_button(&c, "Preview pruning").await;
            until_text(&c, "Retention keeps 1, would remove 1.").await;

            // From now on only verified backups count as good.
            element(&c, "input[name=verify_after]")
                .await
                .click()
                .await
                .unwrap();
            js(
                &c,
                "document.querySelector('form.grid .outcome.ok')?.replaceChildren()",
                vec![],
            )
            .await;
            click_button(&c, "Save policy").await;
            until_text(&c, "Policy saved.").await;

            // Verify the newest backup (the first row).
            element(&c, "button[aria-label='Verify backup newer']")
                .await
                .click()
                .await
                .unwrap();
            until_text(&c, "Backup newer is intact: 0 documents, 0 files checked.").await;
            // The list, drawn again, shows the backup verified.
            let state = js(
                &c,
                "return [...document.querySelectorAll('tr[data-backup]')][0].cells[4].textContent",
                vec![],
            )
            .await;
            assert!(state.as_str().unwrap().starts_with("Verified "), "{state}");

            // An incremental backup, on the newest: the list says so, and what it adds.
            fill(&c, "input[name=backup_name]", "link").await;
            element(&c, "input[name=incremental]")
                .await
                .click()
                .await
                .unwrap();
            click_button(&c, "Generate backup").await;
            until_text(&c, "Backup link is ready.").await;
            until_text(&c, "incremental on “newer”").await;
            let size = js(
                &c,
                "return [...document.querySelectorAll('tr[data-backup]')][0].cells[2].textContent",
                vec![],
            )
            .await;
            assert!(size.as_str().unwrap().contains("restore reads"), "{size}");
        })
        .await;
    let policy = admin
        .call::<api_spec::actions::GetBackupPolicy>(&api_spec::envelope::Empty {})
        .await
        .unwrap()
        .policy
        .expect("a policy");
    assert_eq!(policy.schedule.as_deref(), Some("0 3 * * *"));
    assert_eq!(policy.time_zone, "Europe/Berlin");
    assert_eq!(policy.keep_last, Some(1));
    assert!(policy.verify_after);
    assert_eq!(policy.full_every, 4);
    // The preview removed nothing; the link builds on the newer backup.
    let listed = admin
        .call::<api_spec::actions::ListBackups>(&api_spec::envelope::Empty {})
        .await
        .unwrap();
    assert_eq!(listed.backups.len(), 3);
    assert_eq!(listed.backups[0].name, "link");
    assert_eq!(
        listed.backups[0].base_backup_id.as_deref(),
        Some(listed.backups[1].backup_id.as_str())
    );
}
