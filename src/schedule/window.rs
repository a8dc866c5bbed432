//! Daily windows, pure and a leaf (it imports nothing from the crate): a window `HH:MM-HH:MM`,
//! the weekdays it starts on, the timezone its clock reads, whether an instant falls inside,
//! and the instants typed on the command line. [`super`] applies them to schedules.
//!
//! # Windows as intervals of instants
//!
//! A window `HH:MM-HH:MM` starting on local date D (a day listed in `days`) is the interval of
//! instants `[start, end)` where `start` is the instant the local clock of the schedule's
//! timezone first reads D HH:MM, and `end` the instant it first reads the end time (on D, or on
//! D+1 when the window wraps midnight; `start == end` is a whole day, ending on D+1). Daylight
//! saving time, in a named timezone or in `local`:
//!
//! - a local time that does not exist (spring-forward gap, e.g. 02:30 in New York on the second
//!   Sunday of March) resolves to the first instant after the gap (03:00 there): a window
//!   02:30-04:00 is off from 03:00 to 04:00, and a window lying wholly inside the gap does not
//!   happen that day;
//! - a local time that happens twice (fall-back, e.g. 01:30 in New York on the first Sunday of
//!   November) means its first occurrence: a window 01:30-03:00 lasts two and a half hours, a
//!   window 00:00-01:30 ends at the first 01:30.
//!
//! So a window is always one contiguous interval: a service never flaps off and on inside it,
//! and a window lasts its wall-clock length, give or take the DST shift.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday};

/// A daily window `HH:MM-HH:MM`, start inclusive, end exclusive, minutes since midnight.
/// `start > end` wraps midnight; `start == end` is the whole day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: u16,
    pub end: u16,
}

impl Window {
    /// Parses `"00:00-06:00"`.
    ///
    /// # Errors
    /// A message saying what is wrong with the text.
    pub fn parse(s: &str) -> Result<Window, String> {
        let bad = || format!("{s:?} is not a window like \"00:00-06:00\" (HH:MM-HH:MM, 24-hour)");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let hm = |t: &str| -> Option<u16> {
            let (h, m) = t.trim().split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let h: u16 = h.parse().ok()?;
            let m: u16 = m.parse().ok()?;
            (h < 24 && m < 60).then_some(h * 60 + m)
        };
        Ok(Window {
            start: hm(a).ok_or_else(bad)?,
            end: hm(b).ok_or_else(bad)?,
        })
    }
    /// Whether the window wraps past midnight (or is a whole day: `start == end`).
    pub fn wraps(self) -> bool {
        self.end <= self.start
    }

    /// Length in minutes of wall-clock time (a whole day when `start == end`).
    pub fn minutes(self) -> u32 {
        if self.wraps() {
            24 * 60 - u32::from(self.start) + u32::from(self.end)
        } else {
            u32::from(self.end) - u32::from(self.start)
        }
    }

    /// The instants `[start, end)` of this window when it starts on local date `date` in `tz`
    /// (see the module docs for DST). `None` when that day's window is empty (wholly inside a
    /// spring-forward gap).
    pub fn interval_on<Tz: TimeZone>(
        self,
        tz: &Tz,
        date: NaiveDate,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let start = resolve_local(tz, at_minute(date, self.start)?)?;
        let end_date = if self.wraps() { date.succ_opt()? } else { date };
        let end = resolve_local(tz, at_minute(end_date, self.end)?)?;
        (start < end).then_some((start, end))
    }
}

/// `date` at `minute` minutes past midnight.
fn at_minute(date: NaiveDate, minute: u16) -> Option<NaiveDateTime> {
    let t = NaiveTime::from_hms_opt(u32::from(minute / 60), u32::from(minute % 60), 0)?;
    Some(date.and_time(t))
}

/// The instant a local clock in `tz` first reads `local`; a time inside a gap resolves to the
/// first instant after the gap. `None` only for dates at the edge of chrono's range.
pub fn resolve_local<Tz: TimeZone>(tz: &Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    use chrono::LocalResult;
    let mut t = local;
    // Gaps are at most a few hours (a whole day when a zone skipped one, as Samoa did).
    for _ in 0..=(26 * 60) {
        match tz.from_local_datetime(&t) {
            LocalResult::Single(x) => return Some(x.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => {
                let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
                return Some(a.min(b));
            }
            LocalResult::None => t = t.checked_add_signed(Duration::minutes(1))?,
        }
    }
    None
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.start / 60,
            self.start % 60,
            self.end / 60,
            self.end % 60
        )
    }
}

/// A set of weekdays (the day a window starts on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Days(u8);

impl Days {
    pub fn all() -> Days {
        Days(0x7f)
    }
    pub fn none() -> Days {
        Days(0)
    }
    pub fn contains(self, d: Weekday) -> bool {
        self.0 & (1 << d.num_days_from_monday()) != 0
    }
    pub fn insert(&mut self, d: Weekday) {
        self.0 |= 1 << d.num_days_from_monday();
    }
    /// Adds a day by its three-letter name; false if the name is not a day.
    pub fn add_name(&mut self, s: &str) -> bool {
        let d = match s.to_ascii_lowercase().as_str() {
            "mon" => Weekday::Mon,
            "tue" => Weekday::Tue,
            "wed" => Weekday::Wed,
            "thu" => Weekday::Thu,
            "fri" => Weekday::Fri,
            "sat" => Weekday::Sat,
            "sun" => Weekday::Sun,
            _ => return false,
        };
        self.insert(d);
        true
    }
}

/// `local` or an IANA name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timezone {
    Local,
    Named(chrono_tz::Tz),
}

impl Timezone {
    /// # Errors
    /// A message when the name is not `local` nor a known IANA timezone.
    pub fn parse(s: &str) -> Result<Timezone, String> {
        if s == "local" {
            return Ok(Timezone::Local);
        }
        s.parse::<chrono_tz::Tz>()
            .map(Timezone::Named)
            .map_err(|_| format!("unknown timezone {s:?}: use \"local\" or an IANA name such as \"America/Lima\""))
    }
}

impl Days {
    /// Days as their three-letter names, Monday first.
    pub fn names(self) -> Vec<&'static str> {
        const ALL: [(Weekday, &str); 7] = [
            (Weekday::Mon, "mon"),
            (Weekday::Tue, "tue"),
            (Weekday::Wed, "wed"),
            (Weekday::Thu, "thu"),
            (Weekday::Fri, "fri"),
            (Weekday::Sat, "sat"),
            (Weekday::Sun, "sun"),
        ];
        ALL.iter()
            .filter(|(d, _)| self.contains(*d))
            .map(|(_, n)| *n)
            .collect()
    }
}

/// Whether an instant falls in a window that starts on one of `days`, local time in `tz`.
/// Generic over the timezone so that `local` and IANA names share one code path.
pub fn in_window<Tz: TimeZone>(tz: &Tz, window: Window, days: Days, t: DateTime<Utc>) -> bool {
    let today = t.with_timezone(tz).date_naive();
    // A window lasts at most a day (plus a DST shift): it starts on today or the day before.
    // Two days either side keeps this right for zones that skipped or repeated a day.
    (-2..=1).any(|k| {
        let Some(d) = today.checked_add_signed(Duration::days(k)) else {
            return false;
        };
        days.contains(chrono::Datelike::weekday(&d))
            && window
                .interval_on(tz, d)
                .is_some_and(|(a, b)| a <= t && t < b)
    })
}

/// What can be wrong with a time given on the command line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("{text:?} is not a time: give RFC 3339 (2026-01-01T03:00:00+00:00) or local \"YYYY-MM-DD HH:MM\"")]
    Unparsable { text: String },
    #[error("{text:?} does not exist in local time (the clocks skip it for daylight saving time)")]
    Skipped { text: String },
}

/// Parses an instant: RFC 3339 with an offset, or a local time `YYYY-MM-DD HH:MM` (also with
/// seconds, or a `T` between date and time) in `tz`. A local time that happens twice (DST
/// fall-back) means its first occurrence, as for windows.
///
/// # Errors
/// [`TimeError::Unparsable`] for other text, [`TimeError::Skipped`] for a local time inside a
/// DST gap.
pub fn parse_instant<Tz: TimeZone>(text: &str, tz: &Tz) -> Result<DateTime<Utc>, TimeError> {
    let t = text.trim();
    if let Ok(x) = DateTime::parse_from_rfc3339(t) {
        return Ok(x.with_timezone(&Utc));
    }
    let formats = [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
    ];
    let naive = formats
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .ok_or_else(|| TimeError::Unparsable {
            text: text.to_string(),
        })?;
    match tz.from_local_datetime(&naive) {
        chrono::LocalResult::Single(x) => Ok(x.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(a, b) => {
            Ok(a.with_timezone(&Utc).min(b.with_timezone(&Utc)))
        }
        chrono::LocalResult::None => Err(TimeError::Skipped {
            text: text.to_string(),
        }),
    }
}
