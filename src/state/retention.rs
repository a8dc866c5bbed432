//! Retention: which snapshots `keep_last` and `keep_daily` keep. Pure: takes the listing,
//! returns what to remove; the caller deletes and logs.
//!
//! - `keep_last` N: the N newest snapshots.
//! - `keep_daily` N: the newest snapshot of each of the N most recent days that have one (as
//!   restic's `--keep-daily`), the day being the local date the snapshot was taken.
//! - The newest valid snapshot is never removed, whatever the settings.

use chrono::{DateTime, FixedOffset, NaiveDate};

/// What retention needs to know about one snapshot.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub taken_at: DateTime<FixedOffset>,
    pub valid: bool,
}

/// Ids to remove. `items` must be ordered oldest first (as listings are).
pub fn to_prune(items: &[Item], keep_last: usize, keep_daily: usize) -> Vec<String> {
    let n = items.len();
    let mut keep = vec![false; n];
    for k in keep.iter_mut().skip(n.saturating_sub(keep_last)) {
        *k = true;
    }
    let mut days: Vec<NaiveDate> = Vec::new();
    for (i, it) in items.iter().enumerate().rev() {
        let day = it.taken_at.date_naive();
        if days.contains(&day) {
            continue;
        }
        if days.len() >= keep_daily {
            break;
        }
        days.push(day);
        keep[i] = true;
    }
    if let Some(i) = items.iter().rposition(|it| it.valid) {
        keep[i] = true;
    }
    items
        .iter()
        .zip(keep)
        .filter(|(_, k)| !k)
        .map(|(it, _)| it.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, at: &str, valid: bool) -> Item {
        Item {
            id: id.into(),
            taken_at: DateTime::parse_from_rfc3339(at).unwrap(),
            valid,
        }
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
        assert!(to_prune(&[], 0, 0).is_empty());
    }

    mod props {
        //! Property tests: retention against a plain model of the rules, over random
        //! listings (several snapshots a day, gaps between days, invalid ones anywhere).
        use super::*;
        use chrono::{Duration, TimeZone};
        use proptest::prelude::{prop_assert, prop_assert_eq, proptest};
        use std::collections::BTreeSet;

        /// A listing oldest first: each step is (minutes after the previous one, valid).
        fn listing(steps: &[(u32, bool)]) -> Vec<Item> {
            let mut t = FixedOffset::east_opt(0)
                .unwrap()
                .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
                .unwrap();
            steps
                .iter()
                .enumerate()
                .map(|(i, (gap, valid))| {
                    t += Duration::minutes(i64::from(*gap));
                    Item {
                        id: format!("s{i:03}"),
                        taken_at: t,
                        valid: *valid,
                    }
                })
                .collect()
        }

        proptest! {
            #[test]
            fn retention_keeps_what_the_rules_say_and_nothing_else(
                steps in proptest::collection::vec((0u32..3000, proptest::bool::weighted(0.8)), 0..60),
                keep_last in 0usize..8,
                keep_daily in 0usize..6,
            ) {
                let items = listing(&steps);
                let pruned = to_prune(&items, keep_last, keep_daily);
                let pruned_set: BTreeSet<&str> = pruned.iter().map(String::as_str).collect();
                let kept: Vec<&Item> =
                    items.iter().filter(|it| !pruned_set.contains(it.id.as_str())).collect();
                // Ids are ours, each once, in listing order.
                prop_assert_eq!(pruned_set.len(), pruned.len());
                let order: Vec<&str> = items
                    .iter()
                    .map(|it| it.id.as_str())
                    .filter(|id| pruned_set.contains(id))
                    .collect();
                prop_assert_eq!(order, pruned.iter().map(String::as_str).collect::<Vec<_>>());
                // The newest valid snapshot is never pruned.
                if let Some(newest_valid) = items.iter().rev().find(|it| it.valid) {
                    prop_assert!(!pruned_set.contains(newest_valid.id.as_str()),
                        "newest valid {} pruned", newest_valid.id);
                }
                // keep_last: the N newest are kept.
                for it in items.iter().rev().take(keep_last) {
                    prop_assert!(!pruned_set.contains(it.id.as_str()), "{} is among the {keep_last} newest", it.id);
                }
                // keep_daily: the newest of each of the N most recent days with a snapshot.
                let mut days: Vec<NaiveDate> = items.iter().rev().map(|it| it.taken_at.date_naive()).collect();
                days.dedup();
                let mut model: BTreeSet<&str> = items.iter().rev().take(keep_last).map(|it| it.id.as_str()).collect();
                for day in days.iter().take(keep_daily) {
                    let newest = items.iter().rev().find(|it| it.taken_at.date_naive() == *day).unwrap();
                    prop_assert!(!pruned_set.contains(newest.id.as_str()), "{} is the newest of {day}", newest.id);
                    model.insert(newest.id.as_str());
                }
                if let Some(it) = items.iter().rev().find(|it| it.valid) {
                    model.insert(it.id.as_str());
                }
                // Nothing else is kept: retention frees what the rules do not protect.
                let kept_ids: BTreeSet<&str> = kept.iter().map(|it| it.id.as_str()).collect();
                prop_assert_eq!(kept_ids, model);
            }

            #[test]
            fn pruning_is_stable_once_applied(
                steps in proptest::collection::vec((0u32..3000, proptest::bool::weighted(0.8)), 0..40),
                keep_last in 0usize..6,
                keep_daily in 0usize..4,
            ) {
                // Applying retention to what it kept removes nothing more, so a restart or a
                // second prune never eats into what the first one kept.
                let items = listing(&steps);
                let pruned: BTreeSet<String> = to_prune(&items, keep_last, keep_daily).into_iter().collect();
                let kept: Vec<Item> = items.into_iter().filter(|it| !pruned.contains(&it.id)).collect();
                prop_assert!(to_prune(&kept, keep_last, keep_daily).is_empty());
            }
        }
    }
}
