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
}
