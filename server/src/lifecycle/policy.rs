//! Backup policies (BACKUP_IMPORT.md §2.1): a tenant's schedule — a cron expression in an
//! IANA time zone — how its backups are made, and the retention rules `prune` applies after
//! every good backup. The scheduler of every instance looks at the policies whose next slot
//! has come, on the server's clock (`AppState::clock`); the instance that moves a slot on
//! (one conditional update) queues that slot's export, so a slot runs once however many
//! instances look. The next slot always counts from now: a server that was down for many
//! slots runs one backup when it is back, not one per slot it missed.
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use api_spec::ErrorCode;
use api_spec::actions::{BackupPolicy, BackupPolicyInfo, Compression, KeyProtection};
use api_spec::jobs::VerifyCause;
use chrono::TimeZone;
use chrono_tz::Tz;
use croner::Cron;
use entity::backup_policy;
use uuid::Uuid;

use super::retention::Rules;
use crate::app::AppState;
use crate::auth::TenantScope;
use crate::backup::check;
use crate::backup::export::{self, ExportRequest};
use crate::error::{Result, fail, field_error};
use crate::storage::policies::Slot;
use crate::storage::{backups, policies};
use crate::time::to_secs;

/// How often the scheduler looks for slots that have come.
const TICK: Duration = Duration::from_secs(15);

/// The longest `full_every`: a chain of a thousand links.
const FULL_EVERY_MAX: u32 = 1000;

/// Recipients a policy may name at most.
const RECIPIENTS_MAX: usize = 16;

fn invalid(field: &'static str) -> crate::error::Error {
    field_error(ErrorCode::InvalidField, field)
}

/// A time zone by its IANA name.
pub fn zone(name: &str) -> Result<Tz> {
    Tz::from_str(name).map_err(|_| invalid("time_zone"))
}

/// Slots closer together than this are refused: a backup or a drill every few seconds would
/// only fill the queue.
const MIN_INTERVAL_MS: i64 = 60_000;

fn cron(expr: &str) -> Result<Cron> {
    // At most a few hundred characters: a schedule, not a document.
    if expr.len() > 256 {
        return Err(invalid("schedule"));
    }
    Cron::from_str(expr).map_err(|_| invalid("schedule"))
}

/// A schedule's next slot after `now`, refused (as `field`) if it has none or its slots
/// come less than [`MIN_INTERVAL_MS`] apart.
fn first_slot(expr: &str, tz: Tz, now: i64, field: &'static str) -> Result<i64> {
    cron(expr).map_err(|_| invalid(field))?;
    let first = next_slot(expr, tz, now).ok_or_else(|| invalid(field))?;
    // A few slots in a row: the closest two decide.
    let mut at = first;
    for _ in 0..4 {
        let Some(next) = next_slot(expr, tz, at) else {
            break;
        };
        if next - at < MIN_INTERVAL_MS {
            return Err(invalid(field));
        }
        at = next;
    }
    Ok(first)
}

/// The first slot of `expr` in `zone` strictly after `after_ms`; none if it has no more.
pub fn next_slot(expr: &str, zone: Tz, after_ms: i64) -> Option<i64> {
    let cron = cron(expr).ok()?;
    let after = zone.timestamp_millis_opt(after_ms).single()?;
    cron.find_next_occurrence(&after, false)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// `1w3d`, `36h`: a number and a unit (`h`, `d`, `w`), possibly several, as milliseconds.
fn duration_ms(text: &str) -> Option<i64> {
    const HOUR: i64 = 3_600_000;
    let mut total: i64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'h' => HOUR,
            'd' => 24 * HOUR,
            'w' => 7 * 24 * HOUR,
            _ => return None,
        };
        let n: i64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    (number.is_empty() && !text.is_empty()).then_some(total)
}

/// `duration_ms`'s inverse, in the largest units that divide it.
fn duration_text(ms: i64) -> String {
    const HOUR: i64 = 3_600_000;
    let hours = ms / HOUR;
    match hours {
        h if h % (7 * 24) == 0 && h > 0 => format!("{}w", h / (7 * 24)),
        h if h % 24 == 0 && h > 0 => format!("{}d", h / 24),
        h => format!("{h}h"),
    }
}

/// Checks `req` and makes it the policy row of the caller's tenant, with its next slot
/// counted from `now`.
pub fn from_request(req: &BackupPolicy, owner: Uuid, now: i64) -> Result<backup_policy::Model> {
    let time_zone = req.time_zone.clone().unwrap_or_else(|| "UTC".to_owned());
    let tz = zone(&time_zone)?;
    let schedule = req.schedule.clone().filter(|s| !s.trim().is_empty());
    let next_run_at = match &schedule {
        Some(expr) => Some(first_slot(expr, tz, now, "schedule")?),
        None => None,
    };
    let compress = req.compression.unwrap_or_default() == Compression::Zstd;
    let key_protection = req.key_protection.unwrap_or(KeyProtection::Server);
    let recipients = req.recipients.clone().unwrap_or_default();
    match key_protection {
        KeyProtection::Server if recipients.is_empty() => {}
        KeyProtection::Server => return Err(invalid("recipients")),
        KeyProtection::Recipients => {
            if recipients.is_empty() || recipients.len() > RECIPIENTS_MAX {
                return Err(invalid("recipients"));
            }
            crate::archive::keys::parse_recipients(&recipients)
                .map_err(|_| invalid("recipients"))?;
        }
    }
    // 0 would keep only the newest backup, not "no rule": refused, so nobody loses their
    // backups by writing 0 for "off".
    let count = |n: Option<u32>, field: &'static str| -> Result<Option<i32>> {
        n.map(|n| {
            i32::try_from(n)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(field))
        })
        .transpose()
    };
    let drill_schedule = req.drill_schedule.clone().filter(|s| !s.trim().is_empty());
    let next_drill_at = match &drill_schedule {
        Some(expr) => Some(first_slot(expr, tz, now, "drill_schedule")?),
        None => None,
    };
    let keep_within_ms = match &req.keep_within {
        Some(text) => Some(
            duration_ms(text)
                .filter(|ms| *ms > 0)
                .ok_or_else(|| invalid("keep_within"))?,
        ),
        None => None,
    };
    Ok(backup_policy::Model {
        tenant_id: Uuid::nil(),
        owner_id: owner,
        schedule,
        time_zone,
        compress,
        key_protection,
        keep_last: count(req.keep_last, "keep_last")?,
        keep_daily: count(req.keep_daily, "keep_daily")?,
        keep_weekly: count(req.keep_weekly, "keep_weekly")?,
        keep_monthly: count(req.keep_monthly, "keep_monthly")?,
        keep_within_ms,
        next_run_at,
        updated_at: now,
        verify_after: req.verify_after.unwrap_or(false),
        drill_schedule,
        next_drill_at,
        full_every: match req.full_every.unwrap_or(1) {
            n @ 1..=FULL_EVERY_MAX => n as i32,
            _ => return Err(invalid("full_every")),
        },
        recipients: (!recipients.is_empty())
            .then(|| serde_json::to_string(&recipients))
            .transpose()?,
    })
}

/// Gives the new tenant of `scope` the operator's default policy (`default_backup_policy`),
/// owned by its `admin`; nothing without one. Run it in the transaction that creates the
/// tenant.
pub async fn apply_default(
    config: &crate::config::Config,
    db: &impl sea_orm::ConnectionTrait,
    scope: &TenantScope,
    now: i64,
) -> Result<()> {
    let Some(default) = &config.default_backup_policy else {
        return Ok(());
    };
    let admin =
        crate::storage::users::find_by_name(scope, db, crate::services::tenants::ADMIN_USER)
            .await?
            .ok_or_else(|| {
                crate::error::Error::Internal("a new tenant without its admin".into())
            })?;
    let row = from_request(default, admin.id, now)?;
    policies::put(scope, db, row).await
}

/// `Err` naming the field unless the operator's default policy is a valid one.
pub fn check_default(config: &crate::config::Config) -> Result<()> {
    match &config.default_backup_policy {
        Some(p) => from_request(p, Uuid::nil(), crate::time::now_ms()).map(|_| ()),
        None => Ok(()),
    }
}

/// The policy as `get_backup_policy` shows it.
pub fn info(p: backup_policy::Model) -> BackupPolicyInfo {
    let count = |n: Option<i32>| n.map(|n| n.max(0) as u32);
    let recipients = recipients_of(&p).unwrap_or_default();
    BackupPolicyInfo {
        schedule: p.schedule,
        time_zone: p.time_zone,
        compression: if p.compress {
            Compression::Zstd
        } else {
            Compression::None
        },
        key_protection: p.key_protection,
        recipients,
        keep_last: count(p.keep_last),
        keep_daily: count(p.keep_daily),
        keep_weekly: count(p.keep_weekly),
        keep_monthly: count(p.keep_monthly),
        keep_within: p.keep_within_ms.map(duration_text),
        verify_after: p.verify_after,
        drill_schedule: p.drill_schedule,
        full_every: p.full_every.max(1) as u32,
        next_run_time: p.next_run_at.map(to_secs),
        next_drill_time: p.next_drill_at.map(to_secs),
        updated_time: to_secs(p.updated_at),
    }
}

/// The recipients a policy wraps backup keys to (none: the server keeps them). A
/// write-only policy whose recipients cannot be read is an error, never a fallback to keys
/// the server keeps.
pub fn recipients_of(p: &backup_policy::Model) -> Result<Vec<String>> {
    if p.key_protection != KeyProtection::Recipients {
        return Ok(Vec::new());
    }
    let recipients: Vec<String> = p
        .recipients
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or_default();
    if recipients.is_empty() {
        return Err(fail(ErrorCode::BackupKeyInvalid));
    }
    Ok(recipients)
}

/// A policy's retention rules and the zone they read days in.
pub fn rules(p: &backup_policy::Model) -> (Rules, Tz) {
    let count = |n: Option<i32>| n.map(|n| n.max(0) as u32);
    let rules = Rules {
        keep_last: count(p.keep_last),
        keep_daily: count(p.keep_daily),
        keep_weekly: count(p.keep_weekly),
        keep_monthly: count(p.keep_monthly),
        keep_within_ms: p.keep_within_ms,
    };
    (rules, zone(&p.time_zone).unwrap_or(Tz::UTC))
}

/// Queues the export of every policy whose slot has come, and the verifications of every
/// policy whose drill slot has come (each slot once across instances), and moves each slot
/// on. Returns how many jobs it queued.
pub async fn tick(state: &Arc<AppState>) -> Result<usize> {
    let now = state.clock.now_ms();
    let mut queued = 0;
    for policy in policies::due(&state.db, now).await? {
        let tz = zone(&policy.time_zone).unwrap_or(Tz::UTC);
        if let (Some(slot), Some(expr)) = (policy.next_run_at, policy.schedule.as_deref())
            && slot <= now
        {
            let next = next_slot(expr, tz, now);
            // Only the instance that moves the slot on runs it.
            if policies::claim_slot(&state.db, policy.tenant_id, Slot::Backup, slot, next).await? {
                queued += scheduled_backup(state, &policy, tz, slot).await;
            }
        }
        if let (Some(slot), Some(expr)) = (policy.next_drill_at, policy.drill_schedule.as_deref())
            && slot <= now
        {
            let next = next_slot(expr, tz, now);
            if policies::claim_slot(&state.db, policy.tenant_id, Slot::Drill, slot, next).await? {
                queued += drill(state, &policy).await?;
            }
        }
    }
    Ok(queued)
}

/// Queues the export of a slot; 1 if it did.
async fn scheduled_backup(
    state: &Arc<AppState>,
    policy: &backup_policy::Model,
    tz: Tz,
    slot: i64,
) -> usize {
    let label = tz
        .timestamp_millis_opt(slot)
        .single()
        .map(|t| t.format("%Y-%m-%d %H.%M").to_string())
        .unwrap_or_default();
    let recipients = match recipients_of(policy) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(tenant = %policy.tenant_id, error = %e,
                "a write-only policy without readable recipients: no scheduled backup");
            return 0;
        }
    };
    let request = ExportRequest {
        scope: TenantScope::system(policy.tenant_id),
        owner: policy.owner_id,
        name: format!("scheduled {label}"),
        passphrase: None,
        compress: policy.compress,
        origin: backups::BackupOrigin::Scheduled,
        recipients,
        // Incremental on the newest usable backup while its chain is short enough.
        base: (policy.full_every > 1).then_some(None),
        max_base_links: (policy.full_every.max(1) - 1) as usize,
    };
    match export::start(state, request).await {
        Ok(_) => 1,
        Err(e) => {
            tracing::warn!(tenant = %policy.tenant_id, error = %e,
                "could not queue a scheduled backup");
            0
        }
    }
}

/// Queues a verification of every stored backup of the policy's tenant that none is queued
/// or running for; how many.
async fn drill(state: &Arc<AppState>, policy: &backup_policy::Model) -> Result<usize> {
    use crate::storage::jobs::{self, JobKind};
    let scope = TenantScope::system(policy.tenant_id);
    let pending: std::collections::HashSet<String> =
        jobs::live_of_kind(&scope, &state.db, JobKind::Verify)
            .await?
            .iter()
            .filter_map(|j| match jobs::params_of(j) {
                Some(api_spec::jobs::JobParams::Verify(p)) => Some(p.backup_id),
                _ => None,
            })
            .collect();
    let mut queued = 0;
    for b in backups::list(&scope, &state.db).await? {
        if b.status == backups::BackupStatus::Completed && !pending.contains(&b.id.to_string()) {
            check::queue(state, &scope, policy.owner_id, b.id, VerifyCause::Drill).await?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// Runs [`tick`] every few seconds until the server stops.
pub async fn scheduler(state: Arc<AppState>) {
    let mut every = tokio::time::interval(TICK);
    loop {
        every.tick().await;
        match tick(&state).await {
            Ok(n) if n > 0 => tracing::info!(backups = n, "scheduled backups queued"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "backup scheduler failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_and_print() {
        assert_eq!(duration_ms("36h"), Some(36 * 3_600_000));
        assert_eq!(duration_ms("1w3d"), Some(10 * 24 * 3_600_000));
        for bad in ["", "3", "h", "3x", "-1d", "99999999999999999999d"] {
            assert_eq!(duration_ms(bad), None, "{bad:?}");
        }
        assert_eq!(duration_text(14 * 24 * 3_600_000), "2w");
        assert_eq!(duration_text(10 * 24 * 3_600_000), "10d");
        assert_eq!(duration_text(36 * 3_600_000), "36h");
    }

    #[test]
    fn slots_follow_the_zone() {
        // 2026-01-01T00:00:00Z.
        let jan_1 = 1_767_225_600_000;
        let utc = next_slot("0 2 * * *", Tz::UTC, jan_1).unwrap();
        assert_eq!(utc, jan_1 + 2 * 3_600_000);
        // 02:00 in Berlin (UTC+1 in winter) is 01:00 UTC.
        let berlin = next_slot("0 2 * * *", zone("Europe/Berlin").unwrap(), jan_1).unwrap();
        assert_eq!(berlin, jan_1 + 3_600_000);
        // Strictly after: a slot at `after` itself is not next.
        assert_eq!(
            next_slot("0 * * * *", Tz::UTC, jan_1),
            Some(jan_1 + 3_600_000)
        );
        assert!(cron("61 * * * *").is_err());
        assert!(zone("Mars/Olympus").is_err());
    }
}
