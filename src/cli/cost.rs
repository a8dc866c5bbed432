//! `tfops cost report [--json] [--at TIME]`: hours billing and off, cost, and what the
//! schedules saved against always-on, per service and in total, summed from the ledger
//! (`balanceador/logs/cost_ledger.jsonl`); with `--at`, which services the schedules would have
//! off at TIME.
//!
//! The ledger covers the time a daemon ran (`tfops run`): time with no daemon is not billed,
//! and the report says which span it covers. It works with or without a running daemon.

use std::collections::BTreeSet;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Config;
use crate::schedule::ledger::{summarize_file, Summary};
use crate::schedule::{off_at, parse_instant};
use crate::service_id::ServiceId;
use crate::workspace::ConfiguredWorkspace;

/// `{"services": [...], "total_cost", "total_saved", ...}` (fields may be added).
#[derive(Debug, Serialize)]
pub struct CostReport {
    pub services: Vec<ServiceLine>,
    pub total_cost: f64,
    pub total_saved: f64,
    pub total_hours_up: f64,
    pub total_hours_off: f64,
    /// The span the ledger covers (RFC 3339), `null` when it is empty.
    pub since: Option<String>,
    pub until: Option<String>,
    /// Ledger lines that could not be read (skipped).
    pub skipped_lines: usize,
    /// The answer to `--at`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<AtAnswer>,
}

#[derive(Debug, Serialize)]
pub struct ServiceLine {
    pub name: String,
    pub hours_up: f64,
    pub hours_off: f64,
    pub cost: f64,
    pub saved: f64,
    /// The configured cost per hour not off.
    pub hourly_cost: f64,
    /// Off right now (its folder is in `archived/`).
    pub off_now: bool,
}

/// Which services the schedules would have off at a time.
#[derive(Debug, Serialize)]
pub struct AtAnswer {
    pub time: String,
    pub off: Vec<OffAt>,
    pub on: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct OffAt {
    pub name: String,
    pub schedule: String,
}

fn round(x: f64, places: i32) -> f64 {
    let k = 10f64.powi(places);
    (x * k).round() / k
}

fn hours(secs: i64) -> f64 {
    round(secs as f64 / 3600.0, 4)
}

fn money(x: f64) -> f64 {
    round(x, 6)
}

/// What the schedules hold off at `t`.
pub fn answer_at(cfg: &Config, t: DateTime<Utc>) -> AtAnswer {
    let off = off_at(&cfg.schedules, cfg.services.count, t);
    AtAnswer {
        time: crate::fsutil::json_ts(t.with_timezone(&chrono::Local)),
        on: ServiceId::all(cfg.services.count)
            .filter(|n| !off.contains_key(n))
            .map(|n| n.to_string())
            .collect(),
        off: off
            .into_iter()
            .map(|(n, schedule)| OffAt {
                name: n.to_string(),
                schedule,
            })
            .collect(),
    }
}

/// Builds the report from a ledger summary: every configured service, plus any other the ledger
/// knows (a service removed by a reload still cost what it cost).
pub fn build_report(
    cfg: &Config,
    sum: &Summary,
    off_now: impl Fn(ServiceId) -> bool,
    at: Option<AtAnswer>,
) -> CostReport {
    let ids: BTreeSet<ServiceId> = ServiceId::all(cfg.services.count)
        .chain(sum.services.keys().copied())
        .collect();
    let mut services = Vec::new();
    let (mut total_cost, mut total_saved, mut up, mut off) = (0.0, 0.0, 0, 0);
    for n in ids {
        let t = sum.services.get(&n).cloned().unwrap_or_default();
        total_cost += t.cost;
        total_saved += t.saved;
        up += t.seconds_up;
        off += t.seconds_off;
        services.push(ServiceLine {
            name: n.to_string(),
            hours_up: hours(t.seconds_up),
            hours_off: hours(t.seconds_off),
            cost: money(t.cost),
            saved: money(t.saved),
            hourly_cost: cfg.service_settings(n).hourly_cost,
            off_now: off_now(n),
        });
    }
    let ts = |t: DateTime<Utc>| crate::fsutil::json_ts(t.with_timezone(&chrono::Local));
    CostReport {
        services,
        total_cost: money(total_cost),
        total_saved: money(total_saved),
        total_hours_up: hours(up),
        total_hours_off: hours(off),
        since: sum.span.map(|s| ts(s.0)),
        until: sum.span.map(|s| ts(s.1)),
        skipped_lines: sum.bad_lines,
        at,
    }
}

/// The human form of the report.
pub fn render(r: &CostReport) -> String {
    let mut out = String::new();
    match (&r.since, &r.until) {
        (Some(a), Some(b)) => out.push_str(&format!(
            "cost ledger from {a} to {b} (time without a running `tfops run` is not billed)\n\n"
        )),
        _ => out.push_str(
            "the cost ledger is empty: it fills while `tfops run` runs (one line per service per minute)\n\n",
        ),
    }
    out.push_str(&format!(
        "{:<12} {:>10} {:>10} {:>11} {:>11}  {}\n",
        "service", "hours up", "hours off", "cost", "saved", "now"
    ));
    for s in &r.services {
        out.push_str(&format!(
            "{:<12} {:>10.2} {:>10.2} {:>11.4} {:>11.4}  {}\n",
            s.name,
            s.hours_up,
            s.hours_off,
            s.cost,
            s.saved,
            if s.off_now { "off" } else { "on" }
        ));
    }
    out.push_str(&format!(
        "{:<12} {:>10.2} {:>10.2} {:>11.4} {:>11.4}\n",
        "total", r.total_hours_up, r.total_hours_off, r.total_cost, r.total_saved
    ));
    if r.skipped_lines > 0 {
        out.push_str(&format!(
            "\n{} ledger line(s) could not be read and were skipped\n",
            r.skipped_lines
        ));
    }
    out
}

/// The human form of an `--at` answer.
pub fn render_at(a: &AtAnswer) -> String {
    let mut out = format!("at {}:\n", a.time);
    for o in &a.off {
        out.push_str(&format!("  {} off (schedule {})\n", o.name, o.schedule));
    }
    for n in &a.on {
        out.push_str(&format!("  {n} on\n"));
    }
    out
}

/// `tfops cost report`.
///
/// # Errors
/// A TIME that does not parse, or a ledger that cannot be read.
pub fn report(ctx: &ConfiguredWorkspace, json: bool, at: Option<&str>) -> anyhow::Result<i32> {
    let at = match at {
        Some(text) => {
            let t = parse_instant(text, &chrono::Local)
                .map_err(|e| anyhow::anyhow!("{e}; e.g. --at \"2026-01-01 03:00\""))?;
            Some(answer_at(&ctx.config, t))
        }
        None => None,
    };
    let path = ctx.ws.cost_ledger();
    let sum = summarize_file(&path)
        .with_context(|| format!("cannot read {}; check its permissions", ctx.ws.rel(&path)))?;
    if sum.bad_lines > 0 {
        log::warn!(
            "{}: skipped {} line(s) that are not ledger lines",
            ctx.ws.rel(&path),
            sum.bad_lines
        );
    }
    let ws = &ctx.ws;
    let report = build_report(
        &ctx.config,
        &sum,
        |n| ws.archived_dir(n).symlink_metadata().is_ok(),
        at,
    );
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if let Some(a) = &report.at {
        print!("{}", render_at(a));
    } else {
        print!("{}", render(&report));
    }
    Ok(0)
}
