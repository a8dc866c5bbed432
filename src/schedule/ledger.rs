//! The cost ledger, `balanceador/logs/cost_ledger.jsonl`: how long each service was billing
//! (not off: up or down, a broken server still bills) and how long it was off, at which
//! `hourly_cost`. It is what `tfops cost report` sums; it is not a log of changes (that is
//! `cost.log`) and it decides nothing.
//!
//! # Format
//!
//! One JSON object a line, one line per service per covered interval `[from, to)`:
//!
//! ```json
//! {"service":"service_3","from":"2026-01-01T03:00:00+00:00","to":"2026-01-01T03:01:00+00:00","seconds":60,"off":true,"hourly_cost":0.1,"schedule":"night"}
//! ```
//!
//! The running daemon appends a line per service at every minute boundary (and at reload and
//! shutdown), covering the time since its previous line. Lines are only appended, and each
//! batch is fsynced: after kill -9 at most the last minute is missing, and a torn last line is
//! cut off at the next start ([`Ledger::open`]). Times are whole seconds.
//!
//! # Restarts
//!
//! A daemon that starts continues each service from `max(now, last recorded to)`: intervals
//! never overlap, even when the clock went back. The time no daemon ran is **not billed**
//! (nothing observed it: a service may have been on or off), and the report says which span it
//! covers. Readers still clip any overlap they find ([`summarize`]), so a hand-edited ledger is
//! never counted twice either.
//!
//! # Size
//!
//! A line per service per minute grows by about half a megabyte a day for three services;
//! [`compact`] merges contiguous lines with the same state and cost, so the file holds about a
//! line per change (the daemon compacts at start and once a day).

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::service_id::ServiceId;

/// What can go wrong with the ledger file.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot read the cost ledger {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("cannot write the cost ledger {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

/// How a service bills during an interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    /// Off (archived by a schedule): not billing.
    pub off: bool,
    /// The schedule holding it off, when known.
    pub schedule: Option<String>,
    /// Currency units per hour not off.
    pub hourly_cost: f64,
}

/// One ledger line: service `service` (1-based) was `held` during `[from, to)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerEntry {
    pub service: ServiceId,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub held: Held,
}

/// The line as written.
#[derive(Debug, Serialize, Deserialize)]
struct Line {
    service: String,
    from: String,
    to: String,
    #[serde(default)]
    seconds: i64,
    off: bool,
    hourly_cost: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    schedule: Option<String>,
}

impl LedgerEntry {
    /// The JSON line (no newline). Times are RFC 3339 with the local offset.
    pub fn to_line(&self) -> String {
        let line = Line {
            service: self.service.to_string(),
            from: fsutil::json_ts(self.from.with_timezone(&chrono::Local)),
            to: fsutil::json_ts(self.to.with_timezone(&chrono::Local)),
            seconds: (self.to - self.from).num_seconds(),
            off: self.held.off,
            hourly_cost: self.held.hourly_cost,
            schedule: self.held.schedule.clone(),
        };
        // A struct of strings, numbers and bools always serializes.
        serde_json::to_string(&line).unwrap_or_default()
    }

    /// Parses one line; `None` when it is not a ledger line (torn, hand-edited).
    pub fn parse_line(text: &str) -> Option<LedgerEntry> {
        let l: Line = serde_json::from_str(text).ok()?;
        let service = l.service.parse::<ServiceId>().ok()?;
        let from = DateTime::parse_from_rfc3339(&l.from)
            .ok()?
            .with_timezone(&Utc);
        let to = DateTime::parse_from_rfc3339(&l.to)
            .ok()?
            .with_timezone(&Utc);
        if to < from || !l.hourly_cost.is_finite() {
            return None;
        }
        Some(LedgerEntry {
            service,
            from,
            to,
            held: Held {
                off: l.off,
                schedule: l.schedule,
                hourly_cost: l.hourly_cost,
            },
        })
    }

    /// Length in whole seconds.
    pub fn seconds(&self) -> i64 {
        (self.to - self.from).num_seconds()
    }
}

/// Reads ledger lines from `reader`, calling `each` for every good one; returns how many lines
/// were not ledger lines (skipped).
///
/// # Errors
/// When reading fails.
pub fn parse_ledger(reader: impl Read, mut each: impl FnMut(LedgerEntry)) -> io::Result<usize> {
    let mut bad = 0;
    for line in BufReader::new(reader).lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                bad += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        if line.trim().is_empty() {
            continue;
        }
        match LedgerEntry::parse_line(&line) {
            Some(e) => each(e),
            None => bad += 1,
        }
    }
    Ok(bad)
}

/// Reads the ledger at `path` (a missing file is an empty ledger).
///
/// # Errors
/// [`LedgerError::Read`] when the file exists but cannot be read.
pub fn load_ledger(path: &Path, each: impl FnMut(LedgerEntry)) -> Result<usize, LedgerError> {
    let err = |source| LedgerError::Read {
        path: path.to_path_buf(),
        source,
    };
    match crate::fsutil::open_read_regular(path, false) {
        Ok(f) => parse_ledger(f, each).map_err(err),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(err(e)),
    }
}

/// Totals of one service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceTotals {
    /// Seconds billing (not off).
    pub seconds_up: i64,
    /// Seconds off.
    pub seconds_off: i64,
    /// What the billing seconds cost.
    pub cost: f64,
    /// What the off seconds would have cost.
    pub saved: f64,
}

/// Totals per service and the span the ledger covers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// By 1-based service index.
    pub services: BTreeMap<ServiceId, ServiceTotals>,
    /// Earliest `from` and latest `to` seen.
    pub span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// Lines that were not ledger lines.
    pub bad_lines: usize,
}

/// Adds entries up. Per service, time already counted (up to the latest `to` seen so far) is
/// never counted again: an overlapping line only counts its part after it. Seconds are summed
/// per hourly cost and priced at the end, so the totals do not depend on how the time was cut
/// into lines.
#[derive(Debug, Default)]
pub struct Summer {
    span: Option<(DateTime<Utc>, DateTime<Utc>)>,
    high: BTreeMap<ServiceId, DateTime<Utc>>,
    /// (service, off, hourly cost bits) → seconds.
    seconds: BTreeMap<(ServiceId, bool, u64), i64>,
}

impl Summer {
    pub fn add(&mut self, e: LedgerEntry) {
        let hw = self.high.entry(e.service).or_insert(e.from);
        let from = e.from.max(*hw);
        *hw = (*hw).max(e.to);
        let span = self.span.get_or_insert((e.from, e.to));
        span.0 = span.0.min(e.from);
        span.1 = span.1.max(e.to);
        let secs = (e.to - from).num_seconds();
        if secs > 0 {
            *self
                .seconds
                .entry((e.service, e.held.off, e.held.hourly_cost.to_bits()))
                .or_default() += secs;
        }
    }

    pub fn finish(self, bad_lines: usize) -> Summary {
        let mut services: BTreeMap<ServiceId, ServiceTotals> = BTreeMap::new();
        for ((n, off, bits), secs) in self.seconds {
            let t = services.entry(n).or_default();
            let money = secs as f64 / 3600.0 * f64::from_bits(bits);
            if off {
                t.seconds_off += secs;
                t.saved += money;
            } else {
                t.seconds_up += secs;
                t.cost += money;
            }
        }
        Summary {
            services,
            span: self.span,
            bad_lines,
        }
    }
}

/// Sums entries (see [`Summer`]).
pub fn summarize(entries: impl IntoIterator<Item = LedgerEntry>) -> Summary {
    let mut s = Summer::default();
    entries.into_iter().for_each(|e| s.add(e));
    s.finish(0)
}

/// Sums the ledger at `path`, streaming.
///
/// # Errors
/// [`LedgerError::Read`] when the file exists but cannot be read.
pub fn summarize_file(path: &Path) -> Result<Summary, LedgerError> {
    let mut s = Summer::default();
    let bad = load_ledger(path, |e| s.add(e))?;
    Ok(s.finish(bad))
}

/// Merges, per service, contiguous entries with the same state, schedule and cost; drops empty
/// ones. The result is ordered by `from`, then service.
pub fn merge(entries: Vec<LedgerEntry>) -> Vec<LedgerEntry> {
    let mut per: BTreeMap<ServiceId, Vec<LedgerEntry>> = BTreeMap::new();
    for e in entries {
        if e.to <= e.from {
            continue;
        }
        let v = per.entry(e.service).or_default();
        match v.last_mut() {
            Some(last) if last.to == e.from && last.held == e.held => last.to = e.to,
            _ => v.push(e),
        }
    }
    let mut out: Vec<LedgerEntry> = per.into_values().flatten().collect();
    out.sort_by_key(|a| (a.from, a.service));
    out
}

/// Rewrites the ledger at `path` with contiguous lines merged ([`merge`]), atomically, when that
/// makes it shorter. Lines that do not parse are dropped (and counted). Only the daemon, the one
/// writer, may call this. Returns the number of lines before and after.
///
/// # Errors
/// When the file cannot be read or the new one cannot be written (the old one is then intact).
pub fn compact(path: &Path) -> Result<(usize, usize), LedgerError> {
    let mut entries = Vec::new();
    let bad = load_ledger(path, |e| entries.push(e))?;
    let before = entries.len() + bad;
    let merged = merge(entries);
    if merged.len() >= before {
        return Ok((before, before));
    }
    if bad > 0 {
        log::warn!(
            "cost ledger {}: dropped {bad} line(s) that were not ledger lines",
            path.display()
        );
    }
    let mut text = String::new();
    for e in &merged {
        text.push_str(&e.to_line());
        text.push('\n');
    }
    fsutil::write_atomic(path, text.as_bytes(), 0o644, true).map_err(|source| {
        LedgerError::Write {
            path: path.to_path_buf(),
            source,
        }
    })?;
    Ok((before, merged.len()))
}

/// Cuts a torn last line (no newline: a write interrupted by kill -9) so that the next append
/// starts on a line of its own. Returns the bytes cut.
///
/// # Errors
/// When the file exists but cannot be read or truncated.
pub fn repair_tail(path: &Path) -> Result<u64, LedgerError> {
    let err = |source| LedgerError::Write {
        path: path.to_path_buf(),
        source,
    };
    fsutil::cut_torn_tail(path).map_err(err)
}

/// The daemon's writer: where each service's record ends, and appending.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    /// Latest `to` recorded per service (from the file, then from our appends).
    last_to: BTreeMap<ServiceId, DateTime<Utc>>,
    /// The schedule of each service's last off line.
    last_schedule: BTreeMap<ServiceId, String>,
    /// Services this writer has started billing, and where their next line starts.
    cursor: BTreeMap<ServiceId, DateTime<Utc>>,
}

impl Ledger {
    /// Opens the ledger at `path` for appending: cuts a torn last line, compacts, reads where
    /// each service's record ends. A missing file is fine (created at the first append).
    ///
    /// # Errors
    /// When the file exists but cannot be read or repaired.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let cut = repair_tail(path)?;
        if cut > 0 {
            log::warn!(
                "cost ledger {}: cut a torn last line ({cut} bytes, an interrupted write)",
                path.display()
            );
        }
        if let Err(e) = compact(path) {
            log::warn!("{e}; continuing without compaction");
        }
        let mut last_to: BTreeMap<ServiceId, DateTime<Utc>> = BTreeMap::new();
        let mut last_schedule = BTreeMap::new();
        load_ledger(path, |e| {
            let t = last_to.entry(e.service).or_insert(e.to);
            *t = (*t).max(e.to);
            if let (true, Some(s)) = (e.held.off, e.held.schedule) {
                last_schedule.insert(e.service, s);
            }
        })?;
        Ok(Ledger {
            path: path.to_path_buf(),
            last_to,
            last_schedule,
            cursor: BTreeMap::new(),
        })
    }

    /// Where the record of service `n` ends, if it has one.
    pub fn last_to(&self, n: ServiceId) -> Option<DateTime<Utc>> {
        self.last_to.get(&n).copied()
    }

    /// The schedule named on the last off line of service `n`.
    pub fn last_schedule(&self, n: ServiceId) -> Option<&str> {
        self.last_schedule.get(&n).map(String::as_str)
    }

    /// Records, for each service in `held`, the interval from its cursor to `now` with the
    /// state it held. A service not billed yet by this writer starts at `max(now, last
    /// recorded to)` and gets no line this time; services missing from `held` stop being
    /// billed. Appends one batch and fsyncs it. Returns the lines written.
    ///
    /// # Errors
    /// When the file cannot be opened or written; the cursors then stay put, so the next call
    /// covers the interval again.
    pub fn record(
        &mut self,
        now: DateTime<Utc>,
        held: &BTreeMap<ServiceId, Held>,
    ) -> Result<usize, LedgerError> {
        let now = now.trunc_subsecs(0);
        self.cursor.retain(|n, _| held.contains_key(n));
        let mut lines = Vec::new();
        for (&n, h) in held {
            let Some(&from) = self.cursor.get(&n) else {
                let start = self.last_to(n).map_or(now, |t| t.max(now));
                self.cursor.insert(n, start);
                continue;
            };
            if now <= from {
                continue;
            }
            let e = LedgerEntry {
                service: n,
                from,
                to: now,
                held: h.clone(),
            };
            lines.push(e);
        }
        if lines.is_empty() {
            return Ok(0);
        }
        let mut text = String::new();
        for e in &lines {
            text.push_str(&e.to_line());
            text.push('\n');
        }
        self.append(text.as_bytes())?;
        for e in lines.iter() {
            self.cursor.insert(e.service, e.to);
            self.last_to.insert(e.service, e.to);
            if let (true, Some(s)) = (e.held.off, &e.held.schedule) {
                self.last_schedule.insert(e.service, s.clone());
            }
        }
        Ok(lines.len())
    }

    fn append(&self, bytes: &[u8]) -> Result<(), LedgerError> {
        let err = |source| LedgerError::Write {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut f = crate::fsutil::open_append_nofollow(&self.path, 0o644).map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        f.sync_data().map_err(err)
    }

    /// Compacts the file (see [`compact`]); the cursors are unaffected.
    ///
    /// # Errors
    /// As [`compact`].
    pub fn compact(&self) -> Result<(usize, usize), LedgerError> {
        compact(&self.path)
    }
}

#[cfg(test)]
mod tests;
