//! Cost schedules: a [`Schedule`] (a name, its services, an `off` [`Window`], the [`Days`] it
//! starts on, its [`Timezone`]); which services the schedules hold off at an instant
//! ([`off_at`], [`schedule_is_off`]); what to move when that changes ([`reconcile`]); and the
//! cost ledger ([`ledger`]).
//!
//! The configuration parses into these types; this module does not know the configuration
//! file. Window arithmetic (DST gaps and repeats) is in [`window`], a leaf. [`reconcile`] is
//! the one part that touches folders (archive and unarchive a service, `cost.log`); the rest is
//! values in, values out. The CostActor owns the clock and the timing; `tfops cost report`
//! reads the ledger through [`ledger`].

pub mod ledger;
pub mod reconcile;
pub mod window;

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::service_id::ServiceId;

pub use window::{in_window, parse_instant, resolve_local, Days, TimeError, Timezone, Window};

/// `schedule "name" { }`: the services it holds off while its window is open.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    pub name: String,
    pub services: Vec<ServiceId>,
    pub off: Window,
    pub days: Days,
    pub timezone: Timezone,
}

/// Whether schedule `s` has its services off at instant `t`.
pub fn schedule_is_off(s: &Schedule, t: DateTime<Utc>) -> bool {
    match s.timezone {
        Timezone::Local => in_window(&chrono::Local, s.off, s.days, t),
        Timezone::Named(tz) => in_window(&tz, s.off, s.days, t),
    }
}

/// The schedule holding service `n` off at `t`: the first one, in file order, that
/// names the service and whose window is open. `None` when the service should be on.
pub fn off_reason(schedules: &[Schedule], n: ServiceId, t: DateTime<Utc>) -> Option<&str> {
    schedules
        .iter()
        .find(|s| s.services.contains(&n) && schedule_is_off(s, t))
        .map(|s| s.name.as_str())
}

/// Every service `service_1 … service_{count}` the schedules hold off at `t`, with the
/// schedule that does.
pub fn off_at(
    schedules: &[Schedule],
    count: usize,
    t: DateTime<Utc>,
) -> BTreeMap<ServiceId, String> {
    ServiceId::all(count)
        .filter_map(|n| off_reason(schedules, n, t).map(|s| (n, s.to_string())))
        .collect()
}

/// The schedule naming service `n` whose window most recently ended at or before `t` (within a
/// week), for saying which schedule a service comes back from when nobody saw it go off.
pub fn last_ended(schedules: &[Schedule], n: ServiceId, t: DateTime<Utc>) -> Option<&str> {
    fn last_end<Tz: TimeZone>(tz: &Tz, s: &Schedule, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let today = t.with_timezone(tz).date_naive();
        (-8..=0)
            .filter_map(|k| today.checked_add_signed(Duration::days(k)))
            .filter(|d| s.days.contains(chrono::Datelike::weekday(d)))
            .filter_map(|d| s.off.interval_on(tz, d))
            .map(|(_, end)| end)
            .filter(|end| *end <= t)
            .max()
    }
    schedules
        .iter()
        .filter(|s| s.services.contains(&n))
        .filter_map(|s| {
            let end = match s.timezone {
                Timezone::Local => last_end(&chrono::Local, s, t),
                Timezone::Named(tz) => last_end(&tz, s, t),
            }?;
            Some((end, s.name.as_str()))
        })
        .max_by_key(|(end, _)| *end)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests;
