//! The backup lifecycle (issue 13): backup policies, schedules run on the server's clock
//! (a `ManualClock` the tests move; nothing here sleeps for a schedule), retention after
//! every good backup and through `prune_backups`.
use crate::support::refused_field;
use api_spec::actions::KeyProtection;
use api_spec::jobs::ImportMode;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

use api_spec::ErrorCode;
use api_spec::actions::{
    BackupIdRequest, BackupInfo, BackupPolicy, GenerateBackup, GetBackupDownload, GetBackupPolicy,
    ListBackups, PruneBackups, PruneBackupsRequest, SetBackupPolicy,
};
use api_spec::envelope::Empty;
use coffer::time::ManualClock;
use entity::{audit_entry, job};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use tests::{Client, TestServer};

use crate::backups::{plain, populate};

pub(crate) const HOUR: i64 = 3_600_000;
/// 2026-01-01T00:00:00Z.
pub(crate) const JAN_1: i64 = 1_767_225_600_000;

pub(crate) async fn tick(server: &TestServer) -> usize {
    coffer::lifecycle::policy::tick(server.state())
        .await
        .unwrap()
}

pub(crate) async fn backups(c: &mut Client) -> Vec<BackupInfo> {
    c.call::<ListBackups>(&Empty {}).await.unwrap().backups
}

/// Waits (at most 60 s) until no backup of the caller's tenant is running and `done` holds
/// for the listing (retention runs just after a backup completes).
pub(crate) async fn settle(
    c: &mut Client,
    done: impl Fn(&[BackupInfo]) -> bool,
) -> Vec<BackupInfo> {
    for _ in 0..600 {
        let list = backups(c).await;
        if list.iter().all(|b| b.status != "running") && done(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("backups did not settle: {:?}", backups(c).await);
}

/// Flips one bit in the middle of backup `backup_id`'s archive as tenant `default`'s store
/// keeps it.
async fn flip_a_stored_byte(server: &TestServer, c: &mut Client, backup_id: &str) {
    let tenant = crate::imports::tenant_id(server, "default").await;
    let (mut archive, _) = crate::backups::download(c, backup_id).await;
    let middle = archive.len() / 2;
    archive[middle] ^= 0x01;
    let id = uuid::Uuid::parse_str(backup_id).unwrap();
    server
        .store_object(&coffer::layout::archive_object(tenant, id), &archive)
        .await;
}

async fn audited_removals(server: &TestServer) -> Vec<audit_entry::Model> {
    audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq("retention_remove_backup"))
        .all(&server.state().db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hourly_policy_over_a_simulated_day_makes_24_backups_and_keeps_what_retention_says() {
    // 11:59 on Jan 1: the first slot is noon.
    let clock = Arc::new(ManualClock::at(JAN_1 + 12 * HOUR - 60_000));
    let server = TestServer::start_with_clock(|_| {}, clock.clone()).await;
    let mut c = server.admin().await;
    populate(&mut c).await;
    let set = c
        .call::<SetBackupPolicy>(&BackupPolicy {
            schedule: Some("0 * * * *".into()),
            keep_last: Some(2),
            keep_daily: Some(2),
            ..BackupPolicy::default()
        })
        .await
        .unwrap()
        .policy
        .unwrap();
    assert_eq!(set.next_run_time, Some((JAN_1 + 12 * HOUR) as f64 / 1000.0));
    assert_eq!(set.time_zone, "UTC");
    assert_eq!(tick(&server).await, 0, "nothing is due before noon");

    // One minute past each hour from Jan 1 12:00 to Jan 2 11:00.
    for hour in 0..24 {
        clock.set(JAN_1 + (12 + hour) * HOUR + 60_000);
        assert_eq!(tick(&server).await, 1, "hour {hour}");
        assert_eq!(tick(&server).await, 0, "a slot runs once");
        settle(&mut c, |l| l.len() <= 3).await;
    }
    let exports = job::Entity::find()
        .filter(job::Column::Kind.eq("export"))
        .count(&server.state().db)
        .await
        .unwrap();
    assert_eq!(exports, 24, "24 backups were made");
    // keep_last 2: Jan 2 10:01 and 11:01; keep_daily 2: those days' newest, Jan 2 11:01
    // and Jan 1 23:01.
    let list = settle(&mut c, |l| l.len() == 3).await;
    let mut hours: Vec<i64> = list
        .iter()
        .map(|b| ((b.created_time * 1000.0) as i64 - JAN_1) / 60_000)
        .collect();
    hours.sort();
    assert_eq!(hours, [23 * 60 + 1, 34 * 60 + 1, 35 * 60 + 1]);
    assert!(list.iter().all(|b| b.origin == "scheduled" && b.retained));
    assert!(
        list.iter()
            .all(|b| b.name.starts_with("scheduled 2026-01-0"))
    );
    let removals = audited_removals(&server).await;
    assert_eq!(removals.len(), 21, "every removal is audited");
    assert!(
        removals
            .iter()
            .all(|e| e.username.is_none() && e.result == 200)
    );

    // The server was down for five slots: one backup when it is back, not five.
    clock.advance(5 * HOUR);
    assert_eq!(tick(&server).await, 1);
    assert_eq!(tick(&server).await, 0);
    settle(&mut c, |l| l.len() == 3).await;
    let policy = c
        .call::<GetBackupPolicy>(&Empty {})
        .await
        .unwrap()
        .policy
        .unwrap();
    assert_eq!(
        policy.next_run_time,
        Some((JAN_1 + 41 * HOUR) as f64 / 1000.0),
        "the next slot counts from now"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_checked_whole_and_prune_shows_and_applies_retention() {
    let clock = Arc::new(ManualClock::at(JAN_1));
    let server = TestServer::start_with_clock(|_| {}, clock.clone()).await;
    let mut c = server.admin().await;
    let with = |set: fn(&mut BackupPolicy)| {
        let mut policy = BackupPolicy::default();
        set(&mut policy);
        policy
    };
    for (bad, field) in [
        (with(|p| p.schedule = Some("61 * * * *".into())), "schedule"),
        (
            with(|p| p.time_zone = Some("Mars/Olympus".into())),
            "time_zone",
        ),
        (
            with(|p| p.keep_within = Some("3 fortnights".into())),
            "keep_within",
        ),
        (
            with(|p| p.drill_schedule = Some("every day".into())),
            "drill_schedule",
        ),
        // Every second: slots less than a minute apart.
        (
            with(|p| p.schedule = Some("* * * * * *".into())),
            "schedule",
        ),
        // 0 is not "off": it would keep only the newest backup.
        (with(|p| p.keep_last = Some(0)), "keep_last"),
        (with(|p| p.keep_within = Some("0h".into())), "keep_within"),
    ] {
        let e = c.call::<SetBackupPolicy>(&bad).await.unwrap_err();
        assert_eq!(e.error, ErrorCode::InvalidField, "{field}");
        assert_eq!(e.data["field"], field);
    }
    let unknown = json!({"key_protection": "passphrase"});
    refused_field(&c, "set_backup_policy", unknown, "key_protection").await;
    let unknown = json!({"compression": "lz4"});
    refused_field(&c, "set_backup_policy", unknown, "compression").await;
    let none = c.call::<GetBackupPolicy>(&Empty {}).await.unwrap();
    assert_eq!(none.policy, None, "a refused policy changes nothing");

    // Four manual backups, a day apart; without a policy every one is kept.
    for day in 0..4 {
        clock.set(JAN_1 + day * 24 * HOUR);
        c.call::<GenerateBackup>(&plain(&format!("day {day}")))
            .await
            .unwrap();
        settle(&mut c, |_| true).await;
    }
    let list = backups(&mut c).await;
    assert!(list.iter().all(|b| b.retained && b.origin == "manual"));
    let nothing = c
        .call::<PruneBackups>(&PruneBackupsRequest { dry_run: false })
        .await
        .unwrap();
    assert!(nothing.removed.is_empty() && nothing.kept.len() == 4);

    let policy = c
        .call::<SetBackupPolicy>(&BackupPolicy {
            keep_last: Some(1),
            keep_within: Some("36h".into()),
            ..BackupPolicy::default()
        })
        .await
        .unwrap()
        .policy
        .unwrap();
    assert_eq!(
        (
            policy.keep_within.as_deref(),
            policy.schedule,
            policy.next_run_time
        ),
        (Some("36h"), None, None)
    );
    // The listing says what retention keeps: days 3 and 2 (within 36 h of the newest).
    let by_name =
        |list: &[BackupInfo], name: &str| list.iter().find(|b| b.name == name).unwrap().clone();
    let list = backups(&mut c).await;
    for (name, kept) in [
        ("day 0", false),
        ("day 1", false),
        ("day 2", true),
        ("day 3", true),
    ] {
        assert_eq!(by_name(&list, name).retained, kept, "{name}");
    }
    // A download of day 1 is under way: it is left for the next run.
    let day_1 = by_name(&list, "day 1").backup_id;
    c.call::<GetBackupDownload>(&BackupIdRequest {
        backup_id: day_1.clone(),
    })
    .await
    .unwrap();
    let dry = c
        .call::<PruneBackups>(&PruneBackupsRequest { dry_run: true })
        .await
        .unwrap();
    assert_eq!(dry.removed, [by_name(&list, "day 0").backup_id]);
    assert_eq!(dry.in_use, [day_1]);
    assert_eq!(dry.kept.len(), 2);
    assert_eq!(backups(&mut c).await.len(), 4, "a dry run removes nothing");
    assert!(audited_removals(&server).await.is_empty());
    let done = c
        .call::<PruneBackups>(&PruneBackupsRequest { dry_run: false })
        .await
        .unwrap();
    assert_eq!((done.removed, done.in_use), (dry.removed, dry.in_use));
    let names: Vec<String> = backups(&mut c).await.into_iter().map(|b| b.name).collect();
    assert_eq!(names.len(), 3);
    assert!(!names.contains(&"day 0".to_owned()));
    let removals = audited_removals(&server).await;
    assert_eq!(removals.len(), 1);
    assert_eq!(removals[0].username.as_deref(), Some("admin"));
}

/// `/metrics`, parsed as Prometheus reads it; every sample line must parse.
pub(crate) async fn metrics(server: &TestServer) -> prometheus_parse::Scrape {
    let reply = reqwest::get(server.http_url("/metrics")).await.unwrap();
    assert_eq!(reply.status(), 200);
    let text = reply.text().await.unwrap();
    let samples = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .count();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let parsed: usize = scrape
        .samples
        .iter()
        .map(|s| match &s.value {
            // One entry per `_bucket`, `_sum` and `_count` line.
            prometheus_parse::Value::Histogram(buckets) => buckets.len(),
            _ => 1,
        })
        .sum();
    assert_eq!(parsed, samples, "every line parses:\n{text}");
    scrape
}

/// The value of sample `name` whose labels include `labels`.
pub(crate) fn sample(
    scrape: &prometheus_parse::Scrape,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => f64::NAN,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_byte_flipped_in_a_stored_archive_fails_the_next_drill_with_event_audit_and_metric() {
    use api_spec::actions::{GenerateBackupRequest, RegisterListener, RegisterListenerRequest};
    let clock = Arc::new(ManualClock::at(JAN_1));
    let server = TestServer::start_with_clock(|_| {}, clock.clone()).await;
    let mut c = server.admin().await;
    let mut l = server.admin().await;
    l.call::<RegisterListener>(&RegisterListenerRequest { events: None })
        .await
        .unwrap();
    populate(&mut c).await;
    c.call::<SetBackupPolicy>(&BackupPolicy {
        verify_after: Some(true),
        drill_schedule: Some("0 3 * * *".into()),
        ..BackupPolicy::default()
    })
    .await
    .unwrap();
    let before = metrics(&server).await;
    assert_eq!(
        sample(&before, "coffer_backups", &[("tenant", "default")]),
        None,
        "no backup yet"
    );

    // One backup whose key the server holds (a full verify), one a passphrase wraps (the
    // archive's SHA-256 is checked): each verified after it is made.
    c.call::<GenerateBackup>(&plain("held")).await.unwrap();
    c.call::<GenerateBackup>(&GenerateBackupRequest {
        passphrase: Some("correct horse battery".into()),
        ..plain("wrapped")
    })
    .await
    .unwrap();
    let list = settle(&mut c, |l| {
        l.len() == 2 && l.iter().all(|b| b.verification == "good")
    })
    .await;
    assert!(list.iter().all(|b| b.verified_time.is_some() && b.retained));
    let good = metrics(&server).await;
    let labels = [("tenant", "default"), ("verification", "good")];
    assert_eq!(sample(&good, "coffer_backups", &labels), Some(2.0));
    assert!(
        sample(
            &good,
            "coffer_backup_last_success_timestamp_seconds",
            &[("tenant", "default")]
        )
        .is_some()
    );
    assert!(sample(&good, "coffer_bytes_total", &[("flow", "verified")]).unwrap_or(0.0) > 0.0);

    // A byte flipped in the middle of each stored archive.
    for b in &list {
        flip_a_stored_byte(&server, &mut c, &b.backup_id).await;
    }
    // The drill at 03:00 verifies both again.
    clock.set(JAN_1 + 3 * HOUR + 60_000);
    assert_eq!(tick(&server).await, 2);
    let mut errors = std::collections::BTreeMap::new();
    while errors.len() < 2 {
        let e = l.next_event().await;
        if e.event == "backup_verify_failed" {
            assert_eq!(e.data["cause"], "drill");
            let id = e.data["backup_id"].as_str().unwrap().to_owned();
            // Announced once audited: the entry is there when the event arrives.
            let entry = audit_entry::Entity::find()
                .filter(audit_entry::Column::Action.eq("backup_verify_failed"))
                .filter(audit_entry::Column::Target.eq(id.as_str()))
                .one(&server.state().db)
                .await
                .unwrap();
            assert!(entry.is_some(), "no audit entry yet for {id}");
            errors.insert(id, e.data["error"].as_str().unwrap().to_owned());
        }
    }
    let by_name = |name: &str| {
        list.iter()
            .find(|b| b.name == name)
            .unwrap()
            .backup_id
            .clone()
    };
    assert_eq!(errors[&by_name("held")], "backup_mac_mismatch");
    assert_eq!(errors[&by_name("wrapped")], "hash_mismatch");
    let after = settle(&mut c, |l| l.iter().all(|b| b.verification == "failed")).await;
    for b in &after {
        assert_eq!(
            b.verify_error.as_deref(),
            Some(errors[&b.backup_id].as_str())
        );
    }
    let audited = audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq("backup_verify_failed"))
        .all(&server.state().db)
        .await
        .unwrap();
    assert_eq!(audited.len(), 2, "every failure is audited");
    let failed = metrics(&server).await;
    let tenant_label = [("tenant", "default")];
    assert_eq!(
        sample(
            &failed,
            "coffer_backup_verify_failures_total",
            &tenant_label
        ),
        Some(2.0)
    );
    let labels = [("tenant", "default"), ("verification", "failed")];
    assert_eq!(sample(&failed, "coffer_backups", &labels), Some(2.0));
    assert!(
        sample(
            &failed,
            "coffer_backup_last_failure_timestamp_seconds",
            &tenant_label
        )
        .is_some()
    );
    assert_eq!(
        sample(
            &failed,
            "coffer_backup_last_success_timestamp_seconds",
            &tenant_label
        ),
        None,
        "a corrupted stored archive is never reported good"
    );
    // The jobs are counted by kind and outcome.
    let verify_failed = [("kind", "verify"), ("status", "failed")];
    assert_eq!(sample(&failed, "coffer_jobs", &verify_failed), Some(2.0));
    let verify_done = [("kind", "verify"), ("status", "completed")];
    assert_eq!(sample(&failed, "coffer_jobs", &verify_done), Some(2.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_verify_after_only_verified_backups_count_for_retention() {
    let clock = Arc::new(ManualClock::at(JAN_1));
    let server = TestServer::start_with_clock(|_| {}, clock.clone()).await;
    let mut c = server.admin().await;
    c.call::<SetBackupPolicy>(&BackupPolicy {
        verify_after: Some(true),
        keep_last: Some(1),
        ..BackupPolicy::default()
    })
    .await
    .unwrap();
    c.call::<GenerateBackup>(&plain("older")).await.unwrap();
    settle(&mut c, |l| l.len() == 1 && l[0].verification == "good").await;
    clock.advance(HOUR);
    c.call::<GenerateBackup>(&plain("newer")).await.unwrap();
    // Verified, the newer one is good: retention keeps only it.
    let list = settle(&mut c, |l| l.len() == 1 && l[0].name == "newer").await;
    assert_eq!(list[0].verification, "good");
    // A newer backup not (or not yet) verified is not good: it removes nothing, and is not
    // retention's to remove. (Made while the policy had no rules and no verification, so
    // that nothing verifies it; then the policy is back.)
    c.call::<SetBackupPolicy>(&BackupPolicy::default())
        .await
        .unwrap();
    clock.advance(HOUR);
    c.call::<GenerateBackup>(&plain("unverified"))
        .await
        .unwrap();
    settle(&mut c, |l| l.len() == 2).await;
    c.call::<SetBackupPolicy>(&BackupPolicy {
        verify_after: Some(true),
        keep_last: Some(1),
        ..BackupPolicy::default()
    })
    .await
    .unwrap();
    let dry = c
        .call::<PruneBackups>(&PruneBackupsRequest { dry_run: true })
        .await
        .unwrap();
    let names: Vec<String> = backups(&mut c).await.into_iter().map(|b| b.name).collect();
    assert_eq!(dry.removed.len(), 0, "{names:?}");
    let listed = backups(&mut c).await;
    let newer = listed.iter().find(|b| b.name == "newer").unwrap();
    assert!(newer.retained, "the newest good backup stays");
    let unverified = listed.iter().find(|b| b.name == "unverified").unwrap();
    assert_eq!(unverified.verification, "unverified");
    assert!(
        unverified.retained,
        "not good, so not retention's to remove"
    );
    // The metrics agree: the last good backup is the newer, verified one.
    let scrape = metrics(&server).await;
    let last = sample(
        &scrape,
        "coffer_backup_last_success_timestamp_seconds",
        &[("tenant", "default")],
    );
    assert_eq!(last, newer.completed_time, "{last:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_ask_for_the_token_when_one_is_configured() {
    let server = TestServer::start_with(|c| {
        c.metrics_token = Some(coffer::secret::SecretString::new("scrape-me".to_owned()));
    })
    .await;
    let http = reqwest::Client::new();
    let url = server.http_url("/metrics");
    let scrape = |token: Option<&'static str>| {
        let request = http.get(&url);
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        async move { request.send().await.unwrap() }
    };
    assert_eq!(scrape(None).await.status(), 401);
    assert_eq!(scrape(Some("scrape-you")).await.status(), 401);
    let right = scrape(Some("scrape-me")).await;
    assert_eq!(right.status(), 200);
    let text = right.text().await.unwrap();
    assert!(text.contains("coffer_websocket_connections"), "{text}");
}

/// Waits for the import job `job` to end (at most 60 s); its status.
pub(crate) async fn import_ended(c: &mut Client, job: &str) -> api_spec::actions::JobStatus {
    use api_spec::actions::{GetBackupImportStatus, JobIdRequest};
    let id = JobIdRequest {
        backup_task_id: job.into(),
    };
    for _ in 0..600 {
        let status = c.call::<GetBackupImportStatus>(&id).await.unwrap();
        if !["queued", "running"].contains(&status.status.as_str()) {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("import {job} did not end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_deleted_after_a_backup_comes_back_as_it_was_and_nothing_else_changes() {
    use api_spec::actions::{
        DeleteDirectory, FolderIdRequest, RestoreBackup, RestoreBackupRequest,
    };
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    populate(&mut c).await;
    // A folder with rules of its own below the one that will be deleted.
    let inner = crate::support::mkdir(&mut c, "plans", None).await;
    let ruled = crate::support::mkdir(&mut c, "ruled", Some(&inner)).await;
    // A namesake of the folder that will be deleted, elsewhere.
    crate::support::mkdir(&mut c, "报告", Some(&inner)).await;
    let rule = serde_json::json!([{"match": "any", "match_groups": [
        {"groups": {"match": "any", "require": ["sysop"]}}]}]);
    let reply = c
        .request(
            "set_directory_rules",
            serde_json::json!({"directory_id": ruled, "access_rules": {"read": rule},
                "inherit_parent": false}),
        )
        .await;
    assert_eq!(reply.code, 200, "{reply:?}");
    c.call::<GenerateBackup>(&plain("before")).await.unwrap();
    let backup = settle(&mut c, |l| l.len() == 1).await.remove(0);
    let as_it_was = crate::imports::snapshot(&server, "default").await;

    // The folder "Отчёты 2026/报告" (40 documents) is deleted; meanwhile the rest changes.
    assert!(as_it_was.contains_key("/Отчёты 2026/报告"));
    let doomed = entity::folder::Entity::find()
        .filter(entity::folder::Column::Name.eq("报告"))
        .filter(entity::folder::Column::ParentId.ne(uuid::Uuid::parse_str(&inner).unwrap()))
        .one(&server.state().db)
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    c.call::<DeleteDirectory>(&FolderIdRequest { folder_id: doomed })
        .await
        .unwrap();
    let new_folder = crate::support::mkdir(&mut c, "made after the backup", None).await;
    let after_delete = crate::imports::snapshot(&server, "default").await;

    // Unknown paths and a restore into a non-empty tenant are refused, leaving no job.
    let restore = |select: Option<Vec<String>>| RestoreBackupRequest {
        backup_id: backup.backup_id.clone(),
        select,
        ..RestoreBackupRequest::default()
    };
    let e = c
        .call::<RestoreBackup>(&restore(Some(vec!["Отчёты 2026/nowhere".into()])))
        .await;
    // The path is checked when the job reads the archive: the job fails, naming it.
    if let Ok(queued) = e {
        let ended = import_ended(&mut c, &queued.backup_task_id).await;
        assert_eq!(ended.error.as_deref(), Some("import_selection_not_found"));
    }
    let whole = c.call::<RestoreBackup>(&restore(None)).await.unwrap_err();
    assert_eq!(whole.error, ErrorCode::ImportTargetNotEmpty);
    let with_restore_mode = RestoreBackupRequest {
        mode: Some(ImportMode::Restore),
        ..restore(Some(vec!["Отчёты 2026/报告".into()]))
    };
    let e = c
        .call::<RestoreBackup>(&with_restore_mode)
        .await
        .unwrap_err();
    assert_eq!(e.error, ErrorCode::InvalidField);
    assert_eq!(
        crate::imports::snapshot(&server, "default").await,
        after_delete
    );

    // The deleted folder comes back at its path, as it was; nothing else changes.
    let queued = c
        .call::<RestoreBackup>(&restore(Some(vec!["Отчёты 2026/报告".into()])))
        .await
        .unwrap();
    let ended = import_ended(&mut c, &queued.backup_task_id).await;
    assert_eq!(ended.status, "completed", "{ended:?}");
    let now = crate::imports::snapshot(&server, "default").await;
    let mut expected = as_it_was.clone();
    for (k, v) in &after_delete {
        expected.entry(k.clone()).or_insert_with(|| v.clone());
    }
    assert_eq!(
        now, expected,
        "the folder is back as it was, the rest as it is now"
    );
    let _ = new_folder;

    // The same folder again, into a chosen folder: it lands there, renamed nowhere.
    let into = crate::support::mkdir(&mut c, "restored here", None).await;
    let req = RestoreBackupRequest {
        target_folder_id: Some(into.clone()),
        ..restore(Some(vec!["Отчёты 2026/报告".into(), "plans/ruled".into()]))
    };
    let queued = c.call::<RestoreBackup>(&req).await.unwrap();
    let ended = import_ended(&mut c, &queued.backup_task_id).await;
    assert_eq!(ended.status, "completed", "{ended:?}");
    let now = crate::imports::snapshot(&server, "default").await;
    let under = |prefix: &str| -> Vec<String> {
        now.keys()
            .filter_map(|k| k.strip_prefix(prefix).map(str::to_owned))
            .collect()
    };
    // Each selected item directly in the chosen folder, with what was below it and its
    // rules, as in the backup.
    for (restored, original) in [
        ("/restored here/报告", "/Отчёты 2026/报告"),
        ("/restored here/ruled", "/plans/ruled"),
    ] {
        let copy = under(restored);
        let source: Vec<String> = as_it_was
            .keys()
            .filter_map(|k| k.strip_prefix(original).map(str::to_owned))
            .collect();
        assert_eq!(copy, source, "{restored}");
        assert_eq!(now[restored], as_it_was[original], "{restored}");
    }

    // Two namesakes from different folders into one: the second is renamed, not merged.
    let twins = crate::support::mkdir(&mut c, "twins", None).await;
    let req = RestoreBackupRequest {
        target_folder_id: Some(twins),
        ..restore(Some(vec!["Отчёты 2026/报告".into(), "plans/报告".into()]))
    };
    let queued = c.call::<RestoreBackup>(&req).await.unwrap();
    let ended = import_ended(&mut c, &queued.backup_task_id).await;
    assert_eq!(ended.status, "completed", "{ended:?}");
    let now = crate::imports::snapshot(&server, "default").await;
    assert!(
        now.contains_key("/twins/报告"),
        "{:?}",
        now.keys().collect::<Vec<_>>()
    );
    assert!(
        now.contains_key("/twins/报告 (imported)"),
        "{:?}",
        now.keys().collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_tenants_start_with_the_operators_default_policy() {
    use api_spec::actions::{CreateTenant, CreateTenantRequest};
    let default_policy = BackupPolicy {
        schedule: Some("30 3 * * *".into()),
        keep_daily: Some(7),
        verify_after: Some(true),
        ..BackupPolicy::default()
    };
    let server =
        TestServer::start_with(|c| c.default_backup_policy = Some(default_policy.clone())).await;
    let root = server.admin().await;
    root.call::<CreateTenant>(&CreateTenantRequest {
        tenant: "fresh".into(),
        display_name: None,
        admin_password: "fresh-admin-pw".into(),
    })
    .await
    .unwrap();
    let mut admin = server.client().await;
    admin
        .login("admin", "fresh-admin-pw", Some("fresh"))
        .await
        .unwrap();
    let policy = admin
        .call::<GetBackupPolicy>(&Empty {})
        .await
        .unwrap()
        .policy
        .expect("the default policy");
    assert_eq!(policy.schedule.as_deref(), Some("30 3 * * *"));
    assert_eq!((policy.keep_daily, policy.verify_after), (Some(7), true));
    // The default tenant existed before: it keeps having none.
    let none = root.call::<GetBackupPolicy>(&Empty {}).await.unwrap();
    assert_eq!(none.policy, None);

    // A default that is no valid policy stops the server from starting, naming the field.
    let mut config = server.config_for_another_instance();
    config.default_backup_policy = Some(BackupPolicy {
        schedule: Some("not cron".into()),
        ..BackupPolicy::default()
    });
    let refused = coffer::start(config, coffer::server::Signals::Ignore).await;
    let message = refused.err().expect("refused").to_string();
    assert!(
        message.contains("default_backup_policy") && message.contains("schedule"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_only_backup_opens_only_with_an_identity_the_server_never_had() {
    use api_spec::actions::{
        RestoreBackup, RestoreBackupRequest, VerifyBackup, VerifyBackupRequest,
    };
    let server = TestServer::start().await;
    let mut c = server.admin().await;
    populate(&mut c).await;
    let keys = tempfile::tempdir().unwrap();
    let identity_file = keys.path().join("identity.txt");
    let made = coffer::cli::offline::keygen(Some(&identity_file)).unwrap();
    let recipient = made["recipient"].as_str().unwrap().to_owned();
    assert!(recipient.starts_with("age1"), "{made}");
    let identity = std::fs::read_to_string(&identity_file).unwrap();
    // A recipient that is none is refused; then the tenant's backups become write-only.
    let e = c
        .call::<SetBackupPolicy>(&BackupPolicy {
            key_protection: Some(KeyProtection::Recipients),
            recipients: Some(vec!["age1nonsense".into()]),
            ..BackupPolicy::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.data["field"], "recipients");
    c.call::<SetBackupPolicy>(&BackupPolicy {
        key_protection: Some(KeyProtection::Recipients),
        recipients: Some(vec![recipient.clone()]),
        verify_after: Some(true),
        ..BackupPolicy::default()
    })
    .await
    .unwrap();
    c.call::<GenerateBackup>(&plain("sealed")).await.unwrap();
    let backup = settle(&mut c, |l| {
        l.len() == 1 && l[0].verification != "unverified"
    })
    .await
    .remove(0);
    assert_eq!(backup.status, "completed");
    // Verified as stored without the key: by the SHA-256 it was written with.
    assert_eq!(backup.verification, "good");
    let (archive, key_file) = crate::backups::download(&mut c, &backup.backup_id).await;
    let parsed: serde_json::Value = serde_json::from_slice(&key_file).unwrap();
    assert_eq!(parsed["version"], 2);
    assert!(
        parsed.get("key").is_none() && parsed.get("wrapped").is_none(),
        "{parsed}"
    );

    // The key, as only the identity reveals it, is nowhere the server keeps anything.
    let bound = coffer::archive::keys::KeyFile::parse(&key_file)
        .unwrap()
        .unlock(Some(&identity), coffer::archive::keys::KdfLimits::FORMAT)
        .unwrap();
    let raw = bound.key().expose_secret().to_vec();
    let hex_key = hex::encode(&raw);
    let mut places = vec![server.dir.path().to_path_buf()];
    places.extend(server.s3_root());
    for place in &places {
        assert!(
            crate::support::files_holding(place, &raw).is_empty(),
            "raw key in {place:?}"
        );
        assert!(
            crate::support::files_holding(place, hex_key.as_bytes()).is_empty(),
            "hex key in {place:?}"
        );
    }

    // Without the identity nothing opens it; with it, it restores and verifies.
    let restore = |identity: Option<String>| RestoreBackupRequest {
        backup_id: backup.backup_id.clone(),
        identity,
        select: Some(vec!["Отчёты 2026/报告".into()]),
        ..RestoreBackupRequest::default()
    };
    let e = c.call::<RestoreBackup>(&restore(None)).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::BackupIdentityRequired);
    let other = coffer::cli::offline::keygen(None).unwrap();
    let e = c
        .call::<RestoreBackup>(&restore(Some(other["identity"].as_str().unwrap().into())))
        .await
        .unwrap_err();
    assert_eq!(e.error, ErrorCode::BackupWrongIdentity);
    let queued = c
        .call::<RestoreBackup>(&restore(Some(identity.clone())))
        .await
        .unwrap();
    let ended = import_ended(&mut c, &queued.backup_task_id).await;
    assert_eq!(ended.status, "completed", "{ended:?}");
    let verified = c
        .call::<VerifyBackup>(&VerifyBackupRequest {
            backup_id: backup.backup_id.clone(),
            passphrase: None,
            identity: Some(identity.clone()),
        })
        .await
        .unwrap();
    assert_eq!(verified.backup_id, backup.backup_id);

    // Offline too: with the identity file, and not without it.
    let archive_file = keys.path().join("sealed.cbk");
    let key_path = keys.path().join("sealed.key.json");
    std::fs::write(&archive_file, &archive).unwrap();
    std::fs::write(&key_path, &key_file).unwrap();
    let limits = coffer::archive::keys::KdfLimits::FORMAT;
    let with = coffer::cli::offline::SecretFiles {
        passphrase: None,
        identity: Some(&identity_file),
    };
    coffer::cli::offline::verify(
        (&archive_file, &key_path),
        archive_file.parent().unwrap(),
        with,
        limits,
    )
    .unwrap();
    let without = coffer::cli::offline::verify(
        (&archive_file, &key_path),
        archive_file.parent().unwrap(),
        Default::default(),
        limits,
    )
    .unwrap_err();
    assert_eq!(without.code(), ErrorCode::BackupIdentityRequired);
    // keygen never overwrites an identity.
    assert!(coffer::cli::offline::keygen(Some(&identity_file)).is_err());
}

/// `verify_backup` records what it found on the backup, as a verify job does: good with the
/// time (the server's clock), then — once a stored byte is changed — failed with the code,
/// audited, counted and announced (`backup_verify_failed`, cause `request`, no job).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verification_asked_for_is_recorded_on_the_backup() {
    use api_spec::actions::{VerifyBackup, VerifyBackupRequest};
    let clock = Arc::new(ManualClock::at(JAN_1));
    let server = TestServer::start_with_clock(|_| {}, clock.clone()).await;
    let mut c = server.admin().await;
    let mut l = crate::backups::listener(&server).await;
    populate(&mut c).await;
    c.call::<GenerateBackup>(&plain("asked")).await.unwrap();
    let list = settle(&mut c, |l| l.len() == 1).await;
    let b = &list[0];
    assert_eq!(b.verification, "unverified");
    let verify = VerifyBackupRequest {
        backup_id: b.backup_id.clone(),
        passphrase: None,
        identity: None,
    };
    clock.set(JAN_1 + HOUR);
    c.call::<VerifyBackup>(&verify).await.unwrap();
    let after = backups(&mut c).await;
    assert_eq!(after[0].verification, "good");
    assert_eq!(after[0].verified_time, Some((JAN_1 + HOUR) as f64 / 1000.0));
    assert_eq!(after[0].verify_error, None);

    flip_a_stored_byte(&server, &mut c, &b.backup_id).await;
    clock.set(JAN_1 + 2 * HOUR);
    let e = c.call::<VerifyBackup>(&verify).await.unwrap_err();
    assert_eq!(e.error, ErrorCode::BackupMacMismatch);
    let damaged = backups(&mut c).await;
    assert_eq!(damaged[0].verification, "failed");
    assert_eq!(
        damaged[0].verified_time,
        Some((JAN_1 + 2 * HOUR) as f64 / 1000.0)
    );
    assert_eq!(
        damaged[0].verify_error.as_deref(),
        Some("backup_mac_mismatch")
    );
    let event = loop {
        let e = l.next_event().await;
        if e.event == "backup_verify_failed" {
            break e.data;
        }
    };
    assert_eq!(event["backup_id"], b.backup_id.as_str(), "{event}");
    assert_eq!(event["cause"], "request", "{event}");
    assert_eq!(event["backup_task_id"], serde_json::Value::Null, "{event}");
    assert_eq!(event["error"], "backup_mac_mismatch", "{event}");
    let audited = audit_entry::Entity::find()
        .filter(audit_entry::Column::Action.eq("backup_verify_failed"))
        .filter(audit_entry::Column::Target.eq(b.backup_id.as_str()))
        .count(&server.state().db)
        .await
        .unwrap();
    assert_eq!(audited, 1, "the failure is audited");
    let scraped = metrics(&server).await;
    let failures = [("tenant", "default")];
    let counted = sample(&scraped, "coffer_backup_verify_failures_total", &failures);
    assert_eq!(counted, Some(1.0), "the failure is counted");
}
