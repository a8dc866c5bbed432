//! Cost schedules: `off` windows, the days they start on, their timezone; and (later in this
//! module) whether a window is open at an instant and the cost ledger.
//!
//! Pure logic: values in, values out. The CostActor owns the clock, the folders and the files.

use chrono::Weekday;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_parse() {
        assert_eq!(Window::parse("00:00-06:00").unwrap(), Window { start: 0, end: 360 });
        assert_eq!(Window::parse("22:30-02:15").unwrap(), Window { start: 1350, end: 135 });
        assert!(Window::parse("25:00-06:00").is_err());
        assert!(Window::parse("00:60-06:00").is_err());
        assert!(Window::parse("0:00-06:00").is_err());
        assert!(Window::parse("00:00").is_err());
        assert_eq!(Window::parse("22:30-02:15").unwrap().to_string(), "22:30-02:15");
    }
}
