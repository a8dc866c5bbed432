//! The ledger across restarts, kill -9 (a torn line, a lost last minute), a clock that went
//! back, compaction and overlap clipping.

use super::*;
use crate::service_id::ServiceId;
use chrono::{Duration, TimeZone};
use std::fs::OpenOptions;

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, h, m, 0).unwrap()
}

fn on(cost: f64) -> Held {
    Held {
        off: false,
        schedule: None,
        hourly_cost: cost,
    }
}

fn off(cost: f64) -> Held {
    Held {
        off: true,
        schedule: Some("night".into()),
        hourly_cost: cost,
    }
}

fn held(states: &[(usize, Held)]) -> BTreeMap<ServiceId, Held> {
    states
        .iter()
        .map(|(n, h)| (ServiceId(*n), h.clone()))
        .collect()
}

fn entries(path: &Path) -> Vec<LedgerEntry> {
    let mut v = Vec::new();
    let bad = load_ledger(path, |e| v.push(e)).unwrap();
    assert_eq!(
        bad,
        0,
        "bad lines in {}",
        std::fs::read_to_string(path).unwrap()
    );
    v
}

/// Checks that, per service, the entries are contiguous from `from` to `to` with no overlap.
fn assert_contiguous(
    es: &[LedgerEntry],
    service: ServiceId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) {
    let mut at = from;
    for e in es.iter().filter(|e| e.service == service) {
        assert_eq!(e.from, at, "gap or overlap before {e:?}");
        at = e.to;
    }
    assert_eq!(at, to);
}

#[test]
fn line_round_trips() {
    let e = LedgerEntry {
        service: ServiceId(3),
        from: t(3, 0),
        to: t(3, 1),
        held: off(0.25),
    };
    let line = e.to_line();
    assert!(line.contains("\"service\":\"service_3\""), "{line}");
    assert!(line.contains("\"seconds\":60"), "{line}");
    assert!(!line.contains('\n'));
    assert_eq!(LedgerEntry::parse_line(&line), Some(e));
    assert_eq!(LedgerEntry::parse_line("{\"service\":\"service_3\""), None);
    assert_eq!(LedgerEntry::parse_line("not json"), None);
}

#[test]
fn first_record_starts_billing_then_minutes_follow() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("logs/cost_ledger.jsonl");
    let mut l = Ledger::open(&p).unwrap();
    let s = held(&[(1, on(0.1)), (3, on(0.1))]);
    assert_eq!(
        l.record(t(2, 58), &s).unwrap(),
        0,
        "start: nothing to cover yet"
    );
    assert_eq!(l.record(t(2, 59), &s).unwrap(), 2);
    let s = held(&[(1, on(0.1)), (3, off(0.1))]);
    // 03:00: the minute before was still on.
    assert_eq!(
        l.record(t(3, 0), &held(&[(1, on(0.1)), (3, on(0.1))]))
            .unwrap(),
        2
    );
    for m in 1..=60 {
        assert_eq!(l.record(t(3, 0) + Duration::minutes(m), &s).unwrap(), 2);
    }
    let es = entries(&p);
    assert_contiguous(&es, ServiceId(1), t(2, 58), t(4, 0));
    assert_contiguous(&es, ServiceId(3), t(2, 58), t(4, 0));
    let sum = summarize_file(&p).unwrap();
    let s3 = &sum.services[&ServiceId(3)];
    assert_eq!(s3.seconds_up, 120);
    assert_eq!(s3.seconds_off, 3600);
    assert!((s3.saved - 0.1).abs() < 1e-9);
    assert!((s3.cost - 0.1 / 30.0).abs() < 1e-9);
    assert_eq!(sum.services[&ServiceId(1)].seconds_up, 3720);
    assert_eq!(sum.span, Some((t(2, 58), t(4, 0))));
}

#[test]
fn restart_continues_without_gap_or_double_count() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("cost_ledger.jsonl");
    let s = held(&[(3, on(0.1))]);
    let mut a = Ledger::open(&p).unwrap();
    a.record(t(1, 0), &s).unwrap();
    a.record(t(1, 1), &s).unwrap();
    a.record(t(1, 2), &s).unwrap();
    drop(a); // a clean stop records up to its stop instant, here 01:02
             // A restart at the same instant continues exactly where the record ends.
    let mut b = Ledger::open(&p).unwrap();
    assert_eq!(b.last_to(ServiceId(3)), Some(t(1, 2)));
    b.record(t(1, 2), &s).unwrap();
    b.record(t(1, 3), &s).unwrap();
    assert_contiguous(&entries(&p), ServiceId(3), t(1, 0), t(1, 3));
    assert_eq!(
        summarize_file(&p).unwrap().services[&ServiceId(3)].seconds_up,
        180
    );
}

#[test]
fn time_without_a_daemon_is_not_billed() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("cost_ledger.jsonl");
    let s = held(&[(3, on(0.1))]);
    let mut a = Ledger::open(&p).unwrap();
    a.record(t(1, 0), &s).unwrap();
    a.record(t(1, 1), &s).unwrap();
    drop(a);
    let mut b = Ledger::open(&p).unwrap();
    b.record(t(5, 0), &s).unwrap();
    b.record(t(5, 1), &s).unwrap();
    let sum = summarize_file(&p).unwrap();
    assert_eq!(
        sum.services[&ServiceId(3)].seconds_up,
        120,
        "01:00-01:01 and 05:00-05:01"
    );
    assert_eq!(sum.span, Some((t(1, 0), t(5, 1))));
}

#[test]
fn kill_9_loses_at_most_the_last_minute_and_a_torn_line_is_cut() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("cost_ledger.jsonl");
    let s = held(&[(1, on(0.1)), (2, on(0.1))]);
    let mut a = Ledger::open(&p).unwrap();
    a.record(t(1, 0), &s).unwrap();
    a.record(t(1, 1), &s).unwrap();
    // Killed while writing the 01:02 batch: half a line made it to the disk.
    let torn = LedgerEntry {
        service: ServiceId(1),
        from: t(1, 1),
        to: t(1, 2),
        held: on(0.1),
    }
    .to_line();
    let mut f = OpenOptions::new().append(true).open(&p).unwrap();
    f.write_all(&torn.as_bytes()[..torn.len() / 2]).unwrap();
    drop(f);
    drop(a);
    // Restarted 30 s later.
    let restart = t(1, 2) + Duration::seconds(30);
    let mut b = Ledger::open(&p).unwrap();
    assert!(std::fs::read_to_string(&p).unwrap().ends_with('\n'));
    b.record(restart, &s).unwrap();
    b.record(t(1, 3), &s).unwrap();
    let spans: Vec<_> = entries(&p)
        .into_iter()
        .filter(|e| e.service == ServiceId(1))
        .map(|e| (e.from, e.to))
        .collect();
    assert_eq!(spans, vec![(t(1, 0), t(1, 1)), (restart, t(1, 3))]);
    let sum = summarize_file(&p).unwrap();
    assert_eq!(sum.bad_lines, 0);
    // 01:00-01:01 plus 01:02:30-01:03: only the minute being written when killed is missing.
    assert_eq!(sum.services[&ServiceId(1)].seconds_up, 60 + 30);
    assert_eq!(sum.services[&ServiceId(2)].seconds_up, 60 + 30);
}

#[test]
fn a_clock_that_went_back_never_double_counts() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("cost_ledger.jsonl");
    let s = held(&[(1, on(0.1))]);
    let mut a = Ledger::open(&p).unwrap();
    a.record(t(3, 0), &s).unwrap();
    a.record(t(3, 10), &s).unwrap();
    drop(a);
    let mut b = Ledger::open(&p).unwrap();
    assert_eq!(b.record(t(2, 0), &s).unwrap(), 0);
    assert_eq!(
        b.record(t(2, 30), &s).unwrap(),
        0,
        "still before the record's end"
    );
    assert_eq!(b.record(t(3, 15), &s).unwrap(), 1);
    assert_contiguous(&entries(&p), ServiceId(1), t(3, 0), t(3, 15));
    assert_eq!(
        summarize_file(&p).unwrap().services[&ServiceId(1)].seconds_up,
        15 * 60
    );
}

#[test]
fn services_join_and_leave() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("cost_ledger.jsonl");
    let mut l = Ledger::open(&p).unwrap();
    l.record(t(1, 0), &held(&[(1, on(0.1))])).unwrap();
    l.record(t(1, 1), &held(&[(1, on(0.1)), (4, on(1.0))]))
        .unwrap();
    l.record(t(1, 2), &held(&[(1, on(0.1)), (4, on(1.0))]))
        .unwrap();
    l.record(t(1, 3), &held(&[(1, on(0.1))])).unwrap();
    let sum = summarize_file(&p).unwrap();
    assert_eq!(sum.services[&ServiceId(1)].seconds_up, 180);
    assert_eq!(
        sum.services[&ServiceId(4)].seconds_up,
        60,
        "01:01-01:02 only"
    );
}

#[test]
fn compaction_merges_runs_and_keeps_the_totals() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("cost_ledger.jsonl");
    let mut l = Ledger::open(&p).unwrap();
    for m in 0..=120 {
        let h3 = if (30..90).contains(&m) {
            off(0.1)
        } else {
            on(0.1)
        };
        l.record(
            t(1, 0) + Duration::minutes(m),
            &held(&[(1, on(0.2)), (3, h3)]),
        )
        .unwrap();
    }
    let before = summarize_file(&p).unwrap();
    let (n0, n1) = l.compact().unwrap();
    assert_eq!(n0, 240);
    // service_1: one run; service_3: on, off, on (the state is recorded for the minute
    // after it was held, so the boundaries move by one line but runs stay three).
    assert_eq!(n1, 4);
    let after = summarize_file(&p).unwrap();
    assert_eq!(before, after);
    // Appending after compaction continues the same record.
    l.record(t(3, 1), &held(&[(1, on(0.2)), (3, on(0.1))]))
        .unwrap();
    assert_contiguous(&entries(&p), ServiceId(1), t(1, 0), t(3, 1));
    assert_eq!(compact(&p).unwrap(), (6, 4));
    // Nothing to merge: the file is left alone.
    assert_eq!(compact(&p).unwrap(), (4, 4));
}

#[test]
fn reopening_compacts() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("cost_ledger.jsonl");
    let s = held(&[(1, on(0.1))]);
    let mut l = Ledger::open(&p).unwrap();
    for m in 0..10 {
        l.record(t(1, m), &s).unwrap();
    }
    drop(l);
    let l = Ledger::open(&p).unwrap();
    assert_eq!(entries(&p).len(), 1);
    assert_eq!(l.last_to(ServiceId(1)), Some(t(1, 9)));
}

#[test]
fn summary_clips_overlaps_and_skips_bad_lines() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("cost_ledger.jsonl");
    let lines = [
        LedgerEntry {
            service: ServiceId(1),
            from: t(1, 0),
            to: t(2, 0),
            held: on(1.0),
        }
        .to_line(),
        "garbage".to_string(),
        // Overlaps the first by half an hour: only 02:00-02:30 counts.
        LedgerEntry {
            service: ServiceId(1),
            from: t(1, 30),
            to: t(2, 30),
            held: on(1.0),
        }
        .to_line(),
        // Wholly inside what was counted.
        LedgerEntry {
            service: ServiceId(1),
            from: t(1, 40),
            to: t(1, 50),
            held: off(1.0),
        }
        .to_line(),
    ];
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    let sum = summarize_file(&p).unwrap();
    assert_eq!(sum.bad_lines, 1);
    assert_eq!(sum.services[&ServiceId(1)].seconds_up, 90 * 60);
    assert_eq!(sum.services[&ServiceId(1)].seconds_off, 0);
    assert!((sum.services[&ServiceId(1)].cost - 1.5).abs() < 1e-9);
}

#[test]
fn missing_ledger_is_empty() {
    let d = tempfile::tempdir().unwrap();
    let sum = summarize_file(&d.path().join("nope.jsonl")).unwrap();
    assert!(sum.services.is_empty());
    assert_eq!(sum.span, None);
}

#[test]
fn repair_tail_cases() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("l");
    assert_eq!(repair_tail(&p).unwrap(), 0, "missing");
    std::fs::write(&p, "").unwrap();
    assert_eq!(repair_tail(&p).unwrap(), 0, "empty");
    std::fs::write(&p, "abc").unwrap();
    assert_eq!(repair_tail(&p).unwrap(), 3, "one torn line");
    assert_eq!(std::fs::read(&p).unwrap(), b"");
    let long = "x".repeat(10_000);
    std::fs::write(&p, format!("ok\n{long}")).unwrap();
    assert_eq!(
        repair_tail(&p).unwrap(),
        10_000,
        "torn line longer than a block"
    );
    assert_eq!(std::fs::read(&p).unwrap(), b"ok\n");
    assert_eq!(repair_tail(&p).unwrap(), 0, "whole lines");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// The clock moves on by this many seconds; the writer records.
        Record(i64),
        /// Service 1 flips between on and off.
        Flip,
        /// The daemon stops (after recording) or is killed (maybe mid-write); a new one starts
        /// this many seconds later (negative: the clock went back).
        Restart { gap: i64, killed: bool, torn: bool },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (1i64..180).prop_map(Op::Record),
            2 => Just(Op::Flip),
            1 => (-600i64..3600, any::<bool>(), any::<bool>())
                .prop_map(|(gap, killed, torn)| Op::Restart { gap, killed, torn }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Whatever the sequence of records, restarts, kills and clock jumps: lines never
        /// overlap, nothing is double counted, and the totals are exactly the recorded time.
        #[test]
        fn restarts_and_kills_never_double_count(ops in proptest::collection::vec(op(), 1..60)) {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join("cost_ledger.jsonl");
            let mut now = t(0, 0);
            let mut off1 = false;
            let state = |off1: bool| held(&[(1, if off1 { off(0.5) } else { on(0.5) }), (2, on(0.1))]);
            let mut l = Ledger::open(&p).unwrap();
            l.record(now, &state(off1)).unwrap();
            // The model: where each writer's record of service 1 stands, and the totals.
            let mut cursor = now;
            let mut floor: Option<DateTime<Utc>> = None; // the latest `to` written so far
            let (mut up1, mut off1_s, mut up2) = (0i64, 0i64, 0i64);
            for o in ops {
                match o {
                    Op::Record(s) => {
                        now += Duration::seconds(s);
                        l.record(now, &state(off1)).unwrap();
                        if now > cursor {
                            let secs = (now - cursor).num_seconds();
                            if off1 { off1_s += secs } else { up1 += secs }
                            up2 += secs;
                            cursor = now;
                            floor = Some(floor.map_or(now, |f| f.max(now)));
                        }
                    }
                    Op::Flip => off1 = !off1,
                    Op::Restart { gap, killed, torn } => {
                        // A clean stop records up to its stop instant (already `now` here); a
                        // kill loses what was not recorded, maybe with half a line written.
                        if killed && torn {
                            let mut f = OpenOptions::new().create(true).append(true).open(&p).unwrap();
                            f.write_all(b"{\"service\":\"service_1\",\"fr").unwrap();
                        }
                        drop(l);
                        now += Duration::seconds(gap);
                        l = Ledger::open(&p).unwrap();
                        l.record(now, &state(off1)).unwrap();
                        cursor = floor.map_or(now, |f| f.max(now));
                    }
                }
            }
            let es = entries(&p);
            let mut last: BTreeMap<ServiceId, DateTime<Utc>> = BTreeMap::new();
            for e in &es {
                prop_assert!(e.from < e.to);
                if let Some(prev) = last.get(&e.service) {
                    prop_assert!(*prev <= e.from, "overlap at {e:?}");
                }
                last.insert(e.service, e.to);
            }
            let sum = summarize_file(&p).unwrap();
            prop_assert_eq!(sum.bad_lines, 0);
            let s1 = sum.services.get(&ServiceId(1)).cloned().unwrap_or_default();
            let s2 = sum.services.get(&ServiceId(2)).cloned().unwrap_or_default();
            prop_assert_eq!(s1.seconds_up, up1);
            prop_assert_eq!(s1.seconds_off, off1_s);
            prop_assert_eq!(s2.seconds_up, up2);
            // Compaction changes nothing in the totals.
            let before = sum;
            compact(&p).unwrap();
            prop_assert_eq!(summarize_file(&p).unwrap(), before);
        }
    }
}
