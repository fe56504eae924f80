//! Which backups a policy keeps, by the rules of restic's `forget`: `keep_last` keeps the n
//! newest; `keep_daily` (`weekly`, `monthly`) keeps the newest backup of each of the n most
//! recent days (ISO weeks, months) that have one, read in the policy's time zone; `keep_within`
//! keeps every backup made within that long of the newest. A backup any rule keeps stays. A
//! policy with no rule keeps everything, and the newest backup is always kept.
use std::collections::HashSet;

use chrono::{DateTime, Datelike, TimeZone};
use chrono_tz::Tz;
use uuid::Uuid;

/// A policy's retention rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rules {
    pub keep_last: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_within_ms: Option<i64>,
}

impl Rules {
    /// Whether any rule is set (none: everything is kept).
    pub fn any(&self) -> bool {
        self.keep_last.is_some()
            || self.keep_daily.is_some()
            || self.keep_weekly.is_some()
            || self.keep_monthly.is_some()
            || self.keep_within_ms.is_some()
    }
}

/// A good backup and when it was made (epoch milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub id: Uuid,
    pub created_at: i64,
}

/// The ids of `candidates` that `rules` keep, with times read in `zone`.
pub fn kept(candidates: &[Candidate], rules: &Rules, zone: Tz) -> HashSet<Uuid> {
    let mut newest_first = candidates.to_vec();
    newest_first.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    if !rules.any() {
        return newest_first.iter().map(|c| c.id).collect();
    }
    let mut keep: HashSet<Uuid> = newest_first.first().map(|c| c.id).into_iter().collect();
    if let Some(n) = rules.keep_last {
        keep.extend(newest_first.iter().take(n as usize).map(|c| c.id));
    }
    let local = |c: &Candidate| -> Option<DateTime<Tz>> {
        zone.timestamp_millis_opt(c.created_at).single()
    };
    type Bucket = fn(&DateTime<Tz>) -> (i32, u32);
    let buckets: [(Option<u32>, Bucket); 3] = [
        (rules.keep_daily, |t| (t.year(), t.ordinal())),
        (rules.keep_weekly, |t| {
            let w = t.iso_week();
            (w.year(), w.week())
        }),
        (rules.keep_monthly, |t| (t.year(), t.month())),
    ];
    for (n, bucket) in buckets {
        let Some(n) = n else { continue };
        let mut last = None;
        let mut taken = 0;
        for c in &newest_first {
            if taken >= n {
                break;
            }
            let Some(at) = local(c) else { continue };
            let b = bucket(&at);
            if last != Some(b) {
                keep.insert(c.id);
                last = Some(b);
                taken += 1;
            }
        }
    }
    if let (Some(within), Some(newest)) = (rules.keep_within_ms, newest_first.first()) {
        let since = newest.created_at.saturating_sub(within);
        keep.extend(
            newest_first
                .iter()
                .filter(|c| c.created_at >= since)
                .map(|c| c.id),
        );
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 24 * HOUR;
    /// 2026-01-01T00:00:00Z, a Thursday.
    const JAN_1: i64 = 1_767_225_600_000;

    fn hourly(from: i64, count: i64) -> Vec<Candidate> {
        (0..count)
            .map(|i| Candidate {
                id: Uuid::from_u128(i as u128 + 1),
                created_at: from + i * HOUR,
            })
            .collect()
    }

    fn at(candidates: &[Candidate], kept: &HashSet<Uuid>) -> Vec<i64> {
        let mut times: Vec<i64> = candidates
            .iter()
            .filter(|c| kept.contains(&c.id))
            .map(|c| (c.created_at - JAN_1) / HOUR)
            .collect();
        times.sort();
        times
    }

    #[test]
    fn no_rule_keeps_everything_and_the_newest_always_stays() {
        let all = hourly(JAN_1, 5);
        assert_eq!(kept(&all, &Rules::default(), Tz::UTC).len(), 5);
        let rules = Rules {
            keep_within_ms: Some(0),
            ..Rules::default()
        };
        assert_eq!(at(&all, &kept(&all, &rules, Tz::UTC)), [4]);
        assert!(kept(&[], &rules, Tz::UTC).is_empty());
    }

    #[test]
    fn last_and_daily_over_a_day_and_a_half() {
        // Hourly from Jan 1 12:00 to Jan 2 11:00 (UTC).
        let all = hourly(JAN_1 + 12 * HOUR, 24);
        let rules = Rules {
            keep_last: Some(2),
            keep_daily: Some(2),
            ..Rules::default()
        };
        // The two newest (Jan 2 10:00 and 11:00), and Jan 1's newest (23:00).
        assert_eq!(at(&all, &kept(&all, &rules, Tz::UTC)), [23, 34, 35]);
        // In Tokyo (UTC+9) the day changes at 15:00 UTC: Jan 2 there ends at 14:59 UTC.
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        assert_eq!(at(&all, &kept(&all, &rules, tokyo)), [14, 34, 35]);
    }

    #[test]
    fn weekly_monthly_and_within() {
        // Daily at noon for 70 days from Jan 1.
        let all: Vec<Candidate> = (0..70)
            .map(|i| Candidate {
                id: Uuid::from_u128(i + 1),
                created_at: JAN_1 + i as i64 * DAY + 12 * HOUR,
            })
            .collect();
        let days = |rules: Rules| -> Vec<i64> {
            at(&all, &kept(&all, &rules, Tz::UTC))
                .into_iter()
                .map(|h| h / 24)
                .collect()
        };
        // Mar 11 is the newest (day 69); months: Mar, Feb (28th = day 58), Jan (31st = 30).
        let monthly = Rules {
            keep_monthly: Some(3),
            ..Rules::default()
        };
        assert_eq!(days(monthly), [30, 58, 69]);
        // ISO weeks end on Sundays: Mar 8 (day 66) and Mar 1 (day 59) before Mar 11's week.
        let weekly = Rules {
            keep_weekly: Some(3),
            ..Rules::default()
        };
        assert_eq!(days(weekly), [59, 66, 69]);
        let within = Rules {
            keep_within_ms: Some(2 * DAY),
            ..Rules::default()
        };
        assert_eq!(days(within), [67, 68, 69]);
    }
}
