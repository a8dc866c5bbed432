//! Retention: which snapshots `keep_last`, `keep_daily`, `keep_weekly` and `keep_monthly` keep,
//! and why. Pure: takes the listing, returns a [`Plan`] saying for every snapshot whether it is
//! kept or dropped and the reason; the caller (the daemon after a snapshot, `tfops prune`)
//! deletes and prints. It does not read or delete anything itself.
//!
//! Rules count *distinct states* (by sha256), so an unchanged state snapshotted again and again
//! (SIGUSR1, `tfops backup` in cron) never evicts an older, different one:
//!
//! - Each distinct state is represented by its newest snapshot. A snapshot that is not valid, or
//!   whose sha256 is unknown, is a state of its own.
//! - `keep_last` N: the newest snapshot of each of the N newest distinct states. Older snapshots
//!   of those same states (identical content, hard links) are kept too while the total stays
//!   within N, newest first: room under `keep_last` is never wasted, and never exceeded by them.
//! - `keep_daily` / `keep_weekly` / `keep_monthly` N: the newest state representative of each
//!   of the N most recent days / ISO weeks / months that have one (as restic's `--keep-daily`…),
//!   in the snapshot's own local date.
//! - The newest valid snapshot is never dropped, whatever the settings.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Datelike, FixedOffset};

/// What retention needs to know about one snapshot.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub taken_at: DateTime<FixedOffset>,
    pub valid: bool,
    /// The sha256 of the state it holds, when known (from meta.json).
    pub sha256: Option<String>,
}

/// The retention settings (`state { keep_* }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    pub keep_last: usize,
    pub keep_daily: usize,
    pub keep_weekly: usize,
    pub keep_monthly: usize,
}

/// Why a snapshot is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeepReason {
    /// The newest valid snapshot (never dropped).
    NewestValid,
    /// The newest snapshot of the k-th newest distinct state (1-based), k <= keep_last.
    Last { rank: usize, of: usize },
    /// Identical to the newer `twin`, kept because the total is still within keep_last.
    LastRoom { twin: String, of: usize },
    /// The newest state of this day (`YYYY-MM-DD`).
    Daily(String),
    /// The newest state of this ISO week (`YYYY-Www`).
    Weekly(String),
    /// The newest state of this month (`YYYY-MM`).
    Monthly(String),
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepReason::NewestValid => write!(f, "the newest valid snapshot"),
            KeepReason::Last { rank, of } => {
                write!(f, "keep_last {of}: distinct state {rank} of {of}")
            }
            KeepReason::LastRoom { twin, of } => {
                write!(f, "keep_last {of}: identical to {twin}, room left")
            }
            KeepReason::Daily(d) => write!(f, "keep_daily: newest of {d}"),
            KeepReason::Weekly(w) => write!(f, "keep_weekly: newest of week {w}"),
            KeepReason::Monthly(m) => write!(f, "keep_monthly: newest of {m}"),
        }
    }
}

/// Why a snapshot is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// Identical to the newer `twin`, and keep_last has no room left for it.
    Duplicate { twin: String, keep_last: usize },
    /// Its state is older than what the rules keep.
    Expired(Policy),
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Duplicate { twin, keep_last } => write!(
                f,
                "identical to the newer {twin}, no room left under keep_last {keep_last}"
            ),
            DropReason::Expired(p) => write!(
                f,
                "older than what keep_last {} / keep_daily {} / keep_weekly {} / keep_monthly {} keep",
                p.keep_last, p.keep_daily, p.keep_weekly, p.keep_monthly
            ),
        }
    }
}

/// The decision for one snapshot: kept (with every rule that keeps it) or dropped (with why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub id: String,
    pub verdict: Result<Vec<KeepReason>, DropReason>,
}

impl Decision {
    pub fn kept(&self) -> bool {
        self.verdict.is_ok()
    }
    /// The reasons as one phrase ("keep_last 50: distinct state 1 of 50; keep_daily: …").
    pub fn why(&self) -> String {
        match &self.verdict {
            Ok(r) => r
                .iter()
                .map(|r| r.to_string())
                .collect::<Vec<_>>()
                .join("; "),
            Err(d) => d.to_string(),
        }
    }
}

/// Every snapshot of a listing with its decision, in listing order (oldest first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    pub decisions: Vec<Decision>,
}

impl Plan {
    /// Ids to drop, oldest first.
    pub fn dropped(&self) -> Vec<String> {
        self.decisions
            .iter()
            .filter(|d| !d.kept())
            .map(|d| d.id.clone())
            .collect()
    }
}

/// Decides what to keep. `items` must be ordered oldest first (as listings are).
pub fn plan(items: &[Item], policy: Policy) -> Plan {
    let n = items.len();
    // The state of each snapshot: its sha256 when valid and known, else itself alone.
    let key = |i: usize| -> String {
        match (&items[i].sha256, items[i].valid) {
            (Some(s), true) => format!("sha256:{s}"),
            _ => format!("id:{}", items[i].id),
        }
    };
    // Newest first: the representative of each state is the first one seen.
    let mut rep_of: BTreeMap<String, usize> = BTreeMap::new();
    let mut reps: Vec<usize> = Vec::new(); // newest state first
    let mut twin: Vec<Option<usize>> = vec![None; n];
    for i in (0..n).rev() {
        let k = key(i);
        match rep_of.get(&k) {
            Some(&r) => twin[i] = Some(r),
            None => {
                rep_of.insert(k, i);
                reps.push(i);
            }
        }
    }
    let mut keep: Vec<Vec<KeepReason>> = vec![Vec::new(); n];
    if let Some(i) = items.iter().rposition(|it| it.valid) {
        keep[i].push(KeepReason::NewestValid);
    }
    let last = policy.keep_last;
    for (rank, &i) in reps.iter().take(last).enumerate() {
        keep[i].push(KeepReason::Last {
            rank: rank + 1,
            of: last,
        });
    }
    // Period rules on state representatives, newest first.
    let mut period = |count: usize,
                      label: &dyn Fn(&DateTime<FixedOffset>) -> String,
                      mk: fn(String) -> KeepReason| {
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for &i in &reps {
            if seen.len() >= count {
                break;
            }
            let l = label(&items[i].taken_at);
            if seen.insert(l.clone()) {
                keep[i].push(mk(l));
            }
        }
    };
    period(
        policy.keep_daily,
        &|t| t.format("%Y-%m-%d").to_string(),
        KeepReason::Daily,
    );
    period(
        policy.keep_weekly,
        &|t| {
            let w = t.iso_week();
            format!("{}-W{:02}", w.year(), w.week())
        },
        KeepReason::Weekly,
    );
    period(
        policy.keep_monthly,
        &|t| t.format("%Y-%m").to_string(),
        KeepReason::Monthly,
    );
    // Room left under keep_last: older identical snapshots of the kept newest states.
    let newest_states: BTreeSet<usize> = reps.iter().take(last).copied().collect();
    let mut room = last.saturating_sub(newest_states.len());
    for i in (0..n).rev() {
        if room == 0 {
            break;
        }
        if let Some(r) = twin[i] {
            if newest_states.contains(&r) {
                keep[i].push(KeepReason::LastRoom {
                    twin: items[r].id.clone(),
                    of: last,
                });
                room -= 1;
            }
        }
    }
    let decisions = items
        .iter()
        .enumerate()
        .zip(keep)
        .map(|((i, it), reasons)| Decision {
            id: it.id.clone(),
            verdict: if !reasons.is_empty() {
                Ok(reasons)
            } else if let Some(r) = twin[i] {
                Err(DropReason::Duplicate {
                    twin: items[r].id.clone(),
                    keep_last: last,
                })
            } else {
                Err(DropReason::Expired(policy))
            },
        })
        .collect();
    Plan { decisions }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, at: &str, valid: bool) -> Item {
        Item {
            id: id.into(),
            taken_at: DateTime::parse_from_rfc3339(at).unwrap(),
            valid,
            sha256: Some(format!("sha-{id}")),
        }
    }

    fn policy(keep_last: usize, keep_daily: usize) -> Policy {
        Policy {
            keep_last,
            keep_daily,
            ..Policy::default()
        }
    }

    fn to_prune(items: &[Item], keep_last: usize, keep_daily: usize) -> Vec<String> {
        plan(items, policy(keep_last, keep_daily)).dropped()
    }

    fn series() -> Vec<Item> {
        vec![
            item("a", "2026-11-25T10:00:00+00:00", true),
            item("b", "2026-11-25T12:00:00+00:00", true),
            item("c", "2026-11-26T09:00:00+00:00", true),
            item("d", "2026-11-27T09:00:00+00:00", true),
            item("e", "2026-11-27T18:00:00+00:00", true),
        ]
    }

    #[test]
    fn keep_last_keeps_the_newest() {
        assert_eq!(to_prune(&series(), 2, 0), vec!["a", "b", "c"]);
        assert!(to_prune(&series(), 50, 0).is_empty());
    }

    #[test]
    fn keep_daily_keeps_newest_of_each_day() {
        // days 27 (e), 26 (c), 25 (b)
        assert_eq!(to_prune(&series(), 0, 3), vec!["a", "d"]);
        assert_eq!(to_prune(&series(), 1, 2), vec!["a", "b", "d"]);
    }

    #[test]
    fn newest_valid_is_never_pruned() {
        let mut s = series();
        s[3].valid = true;
        s[4].valid = false;
        // keep_last 1 keeps e (invalid); d is the newest valid and stays too.
        assert_eq!(to_prune(&s, 1, 0), vec!["a", "b", "c"]);
        assert_eq!(to_prune(&s, 0, 0), vec!["a", "b", "c", "e"]);
    }

    #[test]
    fn empty_listing() {
        assert!(plan(&[], policy(0, 0)).decisions.is_empty());
    }

    /// Regression (#10): 200 snapshots of an unchanged state (SIGUSR1, `backup` in cron) pruned
    /// every older, different state under keep_last. Counting distinct states keeps them.
    #[test]
    fn an_unchanged_state_snapshotted_200_times_never_evicts_older_states() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-01T00:00:00+00:00").unwrap();
        let mut items = Vec::new();
        for (i, sha) in ["A", "B", "C"].iter().enumerate() {
            items.push(Item {
                id: format!("old{i}"),
                taken_at: t0 + chrono::Duration::minutes(i as i64),
                valid: true,
                sha256: Some(sha.to_string()),
            });
        }
        for i in 0..200 {
            items.push(Item {
                id: format!("same{i:03}"),
                taken_at: t0 + chrono::Duration::minutes(10 + i),
                valid: true,
                sha256: Some("D".into()),
            });
        }
        let p = plan(&items, policy(4, 0));
        let kept: Vec<&str> = p
            .decisions
            .iter()
            .filter(|d| d.kept())
            .map(|d| d.id.as_str())
            .collect();
        assert_eq!(kept, vec!["old0", "old1", "old2", "same199"]);
        let d = &p.decisions[3];
        assert_eq!(
            d.verdict,
            Err(DropReason::Duplicate {
                twin: "same199".into(),
                keep_last: 4
            })
        );
        // Room under keep_last is used by the newest identical snapshots, never beyond it.
        let p = plan(&items, policy(6, 0));
        let kept: Vec<&str> = p
            .decisions
            .iter()
            .filter(|d| d.kept())
            .map(|d| d.id.as_str())
            .collect();
        assert_eq!(
            kept,
            vec!["old0", "old1", "old2", "same197", "same198", "same199"]
        );
    }

    #[test]
    fn weekly_and_monthly_keep_the_newest_state_of_each_period() {
        let mk = |id: &str, at: &str| item(id, at, true);
        let items = vec![
            mk("jan", "2026-01-10T10:00:00+00:00"),
            mk("feb1", "2026-02-02T10:00:00+00:00"),
            mk("feb2", "2026-02-20T10:00:00+00:00"),
            mk("mar_w10a", "2026-03-02T10:00:00+00:00"), // Monday, ISO week 10
            mk("mar_w10b", "2026-03-05T10:00:00+00:00"),
            mk("mar_w11", "2026-03-09T10:00:00+00:00"),
        ];
        let p = plan(
            &items,
            Policy {
                keep_weekly: 2,
                ..Policy::default()
            },
        );
        assert_eq!(p.dropped(), vec!["jan", "feb1", "feb2", "mar_w10a"]);
        assert_eq!(
            p.decisions[4].verdict,
            Ok(vec![KeepReason::Weekly("2026-W10".into())])
        );
        let p = plan(
            &items,
            Policy {
                keep_monthly: 2,
                ..Policy::default()
            },
        );
        assert_eq!(p.dropped(), vec!["jan", "feb1", "mar_w10a", "mar_w10b"]);
        assert_eq!(
            p.decisions[2].verdict,
            Ok(vec![KeepReason::Monthly("2026-02".into())])
        );
        assert!(p.decisions[5].why().contains("the newest valid snapshot"));
    }

    #[test]
    fn every_decision_has_a_reason() {
        let p = plan(&series(), policy(2, 1));
        assert_eq!(p.decisions.len(), 5);
        assert_eq!(
            p.decisions[0].why(),
            "older than what keep_last 2 / keep_daily 1 / keep_weekly 0 / keep_monthly 0 keep"
        );
        assert_eq!(
            p.decisions[4].why(),
            "the newest valid snapshot; keep_last 2: distinct state 1 of 2; keep_daily: newest of 2026-11-27"
        );
        assert_eq!(p.decisions[3].why(), "keep_last 2: distinct state 2 of 2");
    }

    mod props {
        //! Property tests: retention against a plain model of the rules, over random
        //! listings (several snapshots a day, repeated states, gaps, invalid ones anywhere).
        use super::*;
        use chrono::{Duration, NaiveDate, TimeZone};
        use proptest::prelude::{prop_assert, prop_assert_eq, proptest};

        /// A listing oldest first: each step is (minutes after the previous one, valid, state).
        fn listing(steps: &[(u32, bool, u8)]) -> Vec<Item> {
            let mut t = FixedOffset::east_opt(0)
                .unwrap()
                .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
                .unwrap();
            steps
                .iter()
                .enumerate()
                .map(|(i, (gap, valid, state))| {
                    t += Duration::minutes(i64::from(*gap));
                    Item {
                        id: format!("s{i:03}"),
                        taken_at: t,
                        valid: *valid,
                        sha256: Some(format!("state{state}")),
                    }
                })
                .collect()
        }

        fn key(it: &Item) -> String {
            if it.valid {
                it.sha256.clone().unwrap()
            } else {
                it.id.clone()
            }
        }

        proptest! {
            #[test]
            fn retention_keeps_what_the_rules_say_and_nothing_else(
                steps in proptest::collection::vec((0u32..3000, proptest::bool::weighted(0.8), 0u8..6), 0..60),
                keep_last in 0usize..8,
                keep_daily in 0usize..6,
            ) {
                let items = listing(&steps);
                let p = plan(&items, policy(keep_last, keep_daily));
                prop_assert_eq!(p.decisions.len(), items.len());
                let kept: BTreeSet<&str> =
                    p.decisions.iter().filter(|d| d.kept()).map(|d| d.id.as_str()).collect();
                // A plain model: representatives (newest of each state), newest first.
                let mut seen = BTreeSet::new();
                let reps: Vec<&Item> = items.iter().rev().filter(|it| seen.insert(key(it))).collect();
                let mut model: BTreeSet<&str> = BTreeSet::new();
                if let Some(it) = items.iter().rev().find(|it| it.valid) {
                    model.insert(it.id.as_str());
                }
                for it in reps.iter().take(keep_last) {
                    model.insert(it.id.as_str());
                }
                let mut days: Vec<NaiveDate> = reps.iter().map(|it| it.taken_at.date_naive()).collect();
                days.dedup();
                let mut uniq = Vec::new();
                for d in days { if !uniq.contains(&d) { uniq.push(d); } }
                for day in uniq.iter().take(keep_daily) {
                    let newest = reps.iter().find(|it| it.taken_at.date_naive() == *day).unwrap();
                    model.insert(newest.id.as_str());
                }
                let newest_states: BTreeSet<String> = reps.iter().take(keep_last).map(|it| key(it)).collect();
                let mut room = keep_last.saturating_sub(newest_states.len());
                let rep_ids: BTreeSet<&str> = reps.iter().map(|it| it.id.as_str()).collect();
                for it in items.iter().rev() {
                    if room == 0 { break; }
                    if !rep_ids.contains(it.id.as_str()) && newest_states.contains(&key(it)) {
                        model.insert(it.id.as_str());
                        room -= 1;
                    }
                }
                prop_assert_eq!(&kept, &model);
                // Never more distinct states kept by keep_last than it says, and a kept older
                // state is never evicted by repeats of a newer one.
                let kept_by_last = p.decisions.iter().filter(|d| matches!(&d.verdict, Ok(r) if r.iter().any(|r| matches!(r, KeepReason::Last{..}|KeepReason::LastRoom{..})))).count();
                prop_assert!(kept_by_last <= keep_last);
            }

            #[test]
            fn pruning_is_stable_once_applied(
                steps in proptest::collection::vec((0u32..3000, proptest::bool::weighted(0.8), 0u8..5), 0..40),
                keep_last in 0usize..6,
                keep_daily in 0usize..4,
                keep_weekly in 0usize..3,
                keep_monthly in 0usize..3,
            ) {
                // Applying retention to what it kept removes nothing more, so a restart or a
                // second prune never eats into what the first one kept.
                let items = listing(&steps);
                let pol = Policy { keep_last, keep_daily, keep_weekly, keep_monthly };
                let dropped: BTreeSet<String> = plan(&items, pol).dropped().into_iter().collect();
                let kept: Vec<Item> = items.into_iter().filter(|it| !dropped.contains(&it.id)).collect();
                prop_assert!(plan(&kept, pol).dropped().is_empty());
            }
        }
    }
}
