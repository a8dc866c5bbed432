//! Window logic: unit tests at the boundaries, across midnight, on chosen days and over DST
//! changes; property tests against a brute-force oracle and for contiguity.

use super::*;
use crate::config::Config;
use crate::service_id::ServiceId;
use chrono::{Datelike, Timelike};
use chrono::{NaiveDate, Weekday};
use chrono_tz::Tz;
use proptest::prelude::*;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

fn sched(name: &str, services: &[usize], off: &str, days: &[&str], tz: &str) -> Schedule {
    let mut d = Days::none();
    for x in days {
        assert!(d.add_name(x));
    }
    Schedule {
        name: name.into(),
        services: services.iter().copied().map(ServiceId).collect(),
        off: Window::parse(off).unwrap(),
        days: d,
        timezone: Timezone::parse(tz).unwrap(),
    }
}

const ALL: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

#[test]
fn window_parse() {
    assert_eq!(
        Window::parse("00:00-06:00").unwrap(),
        Window { start: 0, end: 360 }
    );
    assert_eq!(
        Window::parse("22:30-02:15").unwrap(),
        Window {
            start: 1350,
            end: 135
        }
    );
    assert!(Window::parse("25:00-06:00").is_err());
    assert!(Window::parse("00:60-06:00").is_err());
    assert!(Window::parse("0:00-06:00").is_err());
    assert!(Window::parse("00:00").is_err());
    assert_eq!(
        Window::parse("22:30-02:15").unwrap().to_string(),
        "22:30-02:15"
    );
}

#[test]
fn window_lengths() {
    assert_eq!(Window::parse("00:00-06:00").unwrap().minutes(), 360);
    assert_eq!(Window::parse("22:00-02:00").unwrap().minutes(), 240);
    assert_eq!(Window::parse("06:00-06:00").unwrap().minutes(), 1440);
    assert!(Window::parse("06:00-06:00").unwrap().wraps());
    assert!(!Window::parse("00:00-06:00").unwrap().wraps());
}

#[test]
fn start_inclusive_end_exclusive() {
    let s = sched("night", &[3], "00:00-06:00", ALL, "UTC");
    assert!(!schedule_is_off(
        &s,
        utc(2026, 1, 1, 0, 0) - Duration::seconds(1)
    ));
    assert!(schedule_is_off(&s, utc(2026, 1, 1, 0, 0)));
    assert!(schedule_is_off(&s, utc(2026, 1, 1, 3, 0)));
    assert!(schedule_is_off(&s, utc(2026, 1, 1, 5, 59)));
    assert!(!schedule_is_off(&s, utc(2026, 1, 1, 6, 0)));
    assert!(!schedule_is_off(&s, utc(2026, 1, 1, 12, 0)));
}

#[test]
fn wraps_midnight() {
    let s = sched("late", &[1], "22:00-02:00", ALL, "UTC");
    assert!(!schedule_is_off(&s, utc(2026, 1, 1, 21, 59)));
    assert!(schedule_is_off(&s, utc(2026, 1, 1, 22, 0)));
    assert!(schedule_is_off(&s, utc(2026, 1, 1, 23, 59)));
    assert!(schedule_is_off(&s, utc(2026, 1, 2, 0, 0)));
    assert!(schedule_is_off(&s, utc(2026, 1, 2, 1, 59)));
    assert!(!schedule_is_off(&s, utc(2026, 1, 2, 2, 0)));
}

#[test]
fn days_are_the_day_the_window_starts() {
    // 2026-01-02 is a Friday.
    assert_eq!(utc(2026, 1, 2, 0, 0).weekday(), Weekday::Fri);
    let s = sched("fri", &[1], "22:00-02:00", &["fri"], "UTC");
    assert!(schedule_is_off(&s, utc(2026, 1, 2, 23, 0)), "Friday night");
    assert!(
        schedule_is_off(&s, utc(2026, 1, 3, 1, 0)),
        "Saturday early: Friday's window"
    );
    assert!(
        !schedule_is_off(&s, utc(2026, 1, 2, 1, 0)),
        "Friday early: Thursday's window"
    );
    assert!(
        !schedule_is_off(&s, utc(2026, 1, 3, 23, 0)),
        "Saturday night"
    );
}

#[test]
fn equal_ends_is_a_whole_day() {
    // 2026-01-05 is a Monday.
    let s = sched("monday", &[1], "06:00-06:00", &["mon"], "UTC");
    assert!(!schedule_is_off(&s, utc(2026, 1, 5, 5, 59)));
    assert!(schedule_is_off(&s, utc(2026, 1, 5, 6, 0)));
    assert!(schedule_is_off(&s, utc(2026, 1, 6, 5, 59)));
    assert!(!schedule_is_off(&s, utc(2026, 1, 6, 6, 0)));
}

#[test]
fn no_days_never_off() {
    let s = sched("never", &[1], "00:00-00:00", &[], "UTC");
    assert!(!schedule_is_off(&s, utc(2026, 1, 5, 12, 0)));
}

#[test]
fn named_timezone_shifts_the_window() {
    // Lima is UTC-5 all year: 00:00-06:00 Lima is 05:00-11:00 UTC.
    let s = sched("lima", &[1], "00:00-06:00", ALL, "America/Lima");
    assert!(!schedule_is_off(&s, utc(2026, 1, 1, 4, 59)));
    assert!(schedule_is_off(&s, utc(2026, 1, 1, 5, 0)));
    assert!(schedule_is_off(&s, utc(2026, 1, 1, 10, 59)));
    assert!(!schedule_is_off(&s, utc(2026, 1, 1, 11, 0)));
}

#[test]
fn spring_forward_gap_starts_when_the_gap_ends() {
    // New York, 2026-03-08: 02:00 EST becomes 03:00 EDT (07:00 UTC).
    let s = sched("ny", &[1], "02:30-04:00", ALL, "America/New_York");
    assert!(!schedule_is_off(&s, utc(2026, 3, 8, 6, 59)), "01:59 EST");
    assert!(schedule_is_off(&s, utc(2026, 3, 8, 7, 0)), "03:00 EDT");
    assert!(schedule_is_off(&s, utc(2026, 3, 8, 7, 59)), "03:59 EDT");
    assert!(!schedule_is_off(&s, utc(2026, 3, 8, 8, 0)), "04:00 EDT");
    // The day before and after: the full 90 minutes.
    assert!(schedule_is_off(&s, utc(2026, 3, 7, 7, 30)), "02:30 EST");
    assert!(schedule_is_off(&s, utc(2026, 3, 9, 6, 30)), "02:30 EDT");
}

#[test]
fn window_inside_the_gap_does_not_happen() {
    let s = sched("gap", &[1], "02:00-02:30", ALL, "America/New_York");
    let day = utc(2026, 3, 8, 4, 0);
    assert!((0..6 * 60).all(|m| !schedule_is_off(&s, day + Duration::minutes(m))));
    // The next day it does: 02:00 EDT is 06:00 UTC.
    assert!(schedule_is_off(&s, utc(2026, 3, 9, 6, 0)));
}

#[test]
fn fall_back_uses_the_first_occurrence() {
    // New York, 2026-11-01: 02:00 EDT becomes 01:00 EST (06:00 UTC); 01:00-02:00 happens twice.
    let s = sched("ny", &[1], "01:30-03:00", ALL, "America/New_York");
    assert!(!schedule_is_off(&s, utc(2026, 11, 1, 5, 29)), "01:29 EDT");
    assert!(schedule_is_off(&s, utc(2026, 11, 1, 5, 30)), "first 01:30");
    assert!(
        schedule_is_off(&s, utc(2026, 11, 1, 6, 0)),
        "second 01:00: still off"
    );
    assert!(schedule_is_off(&s, utc(2026, 11, 1, 6, 45)), "second 01:45");
    assert!(schedule_is_off(&s, utc(2026, 11, 1, 7, 59)), "02:59 EST");
    assert!(!schedule_is_off(&s, utc(2026, 11, 1, 8, 0)), "03:00 EST");

    let s = sched("ny", &[1], "00:00-01:30", ALL, "America/New_York");
    assert!(schedule_is_off(&s, utc(2026, 11, 1, 5, 29)), "01:29 EDT");
    assert!(
        !schedule_is_off(&s, utc(2026, 11, 1, 5, 30)),
        "first 01:30 ends it"
    );
    assert!(
        !schedule_is_off(&s, utc(2026, 11, 1, 6, 15)),
        "second 01:15: not again"
    );
}

#[test]
fn off_at_takes_the_first_schedule_in_file_order() {
    let mut cfg = Config::defaults(std::path::Path::new("/nonexistent"));
    cfg.schedules = vec![
        sched("night", &[3], "00:00-06:00", ALL, "UTC"),
        sched("early", &[2, 3], "05:00-07:00", ALL, "UTC"),
    ];
    let at = |h| off_at(&cfg.schedules, cfg.services.count, utc(2026, 1, 1, h, 0));
    assert_eq!(at(3), BTreeMap::from([(ServiceId(3), "night".to_string())]));
    assert_eq!(
        at(5),
        BTreeMap::from([
            (ServiceId(2), "early".to_string()),
            (ServiceId(3), "night".to_string())
        ])
    );
    assert_eq!(
        at(6),
        BTreeMap::from([
            (ServiceId(2), "early".to_string()),
            (ServiceId(3), "early".to_string())
        ])
    );
    assert!(at(7).is_empty());
    assert_eq!(
        off_reason(&cfg.schedules, ServiceId(1), utc(2026, 1, 1, 3, 0)),
        None
    );
}

#[test]
fn off_at_ignores_services_beyond_count() {
    let mut cfg = Config::defaults(std::path::Path::new("/nonexistent"));
    cfg.services.count = 2;
    cfg.schedules = vec![sched("night", &[3], "00:00-06:00", ALL, "UTC")];
    assert!(off_at(&cfg.schedules, cfg.services.count, utc(2026, 1, 1, 3, 0)).is_empty());
}

#[test]
fn last_ended_names_the_window_just_over() {
    let mut cfg = Config::defaults(std::path::Path::new("/nonexistent"));
    cfg.schedules = vec![
        sched("night", &[3], "00:00-06:00", ALL, "UTC"),
        sched("lunch", &[3], "12:00-13:00", ALL, "UTC"),
        sched("other", &[1], "06:00-07:00", ALL, "UTC"),
    ];
    assert_eq!(
        last_ended(&cfg.schedules, ServiceId(3), utc(2026, 1, 1, 6, 0)),
        Some("night")
    );
    assert_eq!(
        last_ended(&cfg.schedules, ServiceId(3), utc(2026, 1, 1, 11, 0)),
        Some("night")
    );
    assert_eq!(
        last_ended(&cfg.schedules, ServiceId(3), utc(2026, 1, 1, 13, 0)),
        Some("lunch")
    );
    assert_eq!(
        last_ended(&cfg.schedules, ServiceId(2), utc(2026, 1, 1, 13, 0)),
        None
    );
}

#[test]
fn parse_instant_forms() {
    let ny: Tz = "America/New_York".parse().unwrap();
    assert_eq!(
        parse_instant("2026-01-01T03:00:00Z", &ny).unwrap(),
        utc(2026, 1, 1, 3, 0)
    );
    assert_eq!(
        parse_instant("2026-01-01T03:00:00+01:00", &ny).unwrap(),
        utc(2026, 1, 1, 2, 0)
    );
    assert_eq!(
        parse_instant("2026-01-01 03:00", &ny).unwrap(),
        utc(2026, 1, 1, 8, 0)
    );
    assert_eq!(
        parse_instant(" 2026-01-01T03:00:30 ", &Tz::UTC).unwrap(),
        utc(2026, 1, 1, 3, 0) + Duration::seconds(30)
    );
    // Fall-back: the first 01:30 (EDT).
    assert_eq!(
        parse_instant("2026-11-01 01:30", &ny).unwrap(),
        utc(2026, 11, 1, 5, 30)
    );
    assert!(matches!(
        parse_instant("2026-03-08 02:30", &ny),
        Err(TimeError::Skipped { .. })
    ));
    assert!(matches!(
        parse_instant("tomorrow", &ny),
        Err(TimeError::Unparsable { .. })
    ));
    assert!(parse_instant("2026-01-01 25:00", &ny).is_err());
}

#[test]
fn days_names_round_trip() {
    let mut d = Days::none();
    d.add_name("sun");
    d.add_name("Mon");
    assert_eq!(d.names(), vec!["mon", "sun"]);
    assert_eq!(Days::all().names().len(), 7);
}

/// The definition, minute by minute, for a timezone without DST.
fn oracle(w: Window, days: Days, t: DateTime<Utc>) -> bool {
    let m = (t.hour() * 60 + t.minute()) as u16;
    let d = t.date_naive();
    let yesterday = d.pred_opt().unwrap();
    if w.wraps() {
        (days.contains(d.weekday()) && m >= w.start)
            || (days.contains(yesterday.weekday()) && m < w.end)
    } else {
        days.contains(d.weekday()) && w.start <= m && m < w.end
    }
}

fn days_from_bits(bits: u8) -> Days {
    let mut d = Days::none();
    for (i, name) in ALL.iter().enumerate() {
        if bits & (1 << i) != 0 {
            d.add_name(name);
        }
    }
    d
}

const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe", // 30-minute DST shift
    "America/Santiago",    // DST changes at midnight
    "Pacific/Apia",        // skipped 2011-12-30 entirely
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// In UTC, the instant logic matches the wall-clock definition, for any window and days.
    #[test]
    fn matches_the_oracle_in_utc(
        start in 0u16..1440, end in 0u16..1440, bits in 0u8..128,
        secs in 1_767_225_600i64..1_798_761_600, // 2026
    ) {
        let w = Window { start, end };
        let days = days_from_bits(bits);
        let t = DateTime::from_timestamp(secs, 0).unwrap();
        prop_assert_eq!(in_window(&Tz::UTC, w, days, t), oracle(w, days, t));
    }

    /// Every day, A-B and B-A tile time: exactly one is open at any instant, in any zone,
    /// DST changes included.
    #[test]
    fn complementary_windows_tile_time(
        a in 0u16..1440, b in 0u16..1440, zone in 0usize..ZONES.len(),
        secs in 1_293_840_000i64..1_798_761_600, // 2011 to 2026
    ) {
        prop_assume!(a != b);
        let tz: Tz = ZONES[zone].parse().unwrap();
        let t = DateTime::from_timestamp(secs, 0).unwrap();
        let one = in_window(&tz, Window { start: a, end: b }, Days::all(), t);
        let other = in_window(&tz, Window { start: b, end: a }, Days::all(), t);
        prop_assert!(one != other, "{} at {}: {} vs {}", ZONES[zone], t, one, other);
    }

    /// Around a DST change, one day's window is one contiguous run of instants, as long as its
    /// wall-clock length give or take the shift: a service never flaps inside a window.
    #[test]
    fn dst_day_window_is_one_contiguous_run(
        start in 0u16..96, end in 0u16..96, zone in 1usize..4, change in 0usize..2,
    ) {
        let (start, end) = (start * 15, end * 15);
        let tz: Tz = ZONES[zone].parse().unwrap();
        // The local dates of the 2026 changes in each zone (spring, autumn).
        let dates = match ZONES[zone] {
            "America/New_York" => [(3, 8), (11, 1)],
            "Europe/London" => [(3, 29), (10, 25)],
            _ => [(4, 5), (10, 4)], // Lord Howe
        };
        let (mo, d) = dates[change];
        let day = NaiveDate::from_ymd_opt(2026, mo, d).unwrap();
        let w = Window { start, end };
        let mut days = Days::none();
        days.insert(day.weekday());
        // Scan from a day before to two days after, every 15 minutes.
        let from = resolve_local(&tz, day.pred_opt().unwrap().and_hms_opt(0, 0, 0).unwrap()).unwrap();
        let mut runs = 0;
        let mut len = 0i64;
        let mut was = false;
        for k in 0..(4 * 24 * 4) {
            let t = from + Duration::minutes(15 * k);
            let now = in_window(&tz, w, days, t);
            if now && !was {
                runs += 1;
            }
            if now {
                len += 15;
            }
            was = now;
        }
        prop_assert!(runs <= 1, "{runs} runs");
        let shift = (len - i64::from(w.minutes())).abs();
        prop_assert!(shift <= 60, "length {len} for a window of {} minutes", w.minutes());
    }
}
