//! `tfops backup`, `backups`, `restore`, `verify`: the state protection commands.
//!
//! The edge of `crate::state`: prints for people (tables, previews, progress), asks (menu,
//! confirmation) only on a terminal, and turns library errors into one sentence that says what
//! to do next.

use std::cell::Cell;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cli::RestoreArgs;
use crate::state::restore::{self, Current, RestoreError, RestorePlan, Target};
use crate::state::snapshot::{self, Snapshot, SnapshotError, TakeOptions};
use crate::state::tflock;
use crate::workspace::{Context, Workspace};

/// Progress on stderr for copies that take more than a second.
struct ProgressLine {
    label: &'static str,
    start: Instant,
    last: Cell<Option<Instant>>,
    tty: bool,
}

impl ProgressLine {
    fn new(label: &'static str) -> ProgressLine {
        ProgressLine {
            label,
            start: Instant::now(),
            last: Cell::new(None),
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn update(&self, done: u64, total: u64) {
        if crate::cli::logging::quiet() {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.start) < Duration::from_secs(1) {
            return;
        }
        let every = if self.tty {
            Duration::from_millis(100)
        } else {
            Duration::from_secs(1)
        };
        if self
            .last
            .get()
            .is_some_and(|l| now.duration_since(l) < every)
            && done < total
        {
            return;
        }
        self.last.set(Some(now));
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        if self.tty {
            eprint!(
                "\r{}: {} of {} ({pct}%)   ",
                self.label,
                size(done),
                size(total)
            );
        } else {
            eprintln!("{}: {} of {} ({pct}%)", self.label, size(done), size(total));
        }
    }

    fn finish(&self) {
        if self.tty && self.last.get().is_some() {
            eprintln!();
        }
    }
}

/// A size in binary units, as labelled: 1,573 bytes is "1.5 KiB", 68,719,110 is "65.5 MiB".
pub fn size(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn rel(ws: &Workspace, p: &Path) -> String {
    ws.rel(p).into_owned()
}

fn snapshot_error(ws: &Workspace, e: SnapshotError) -> anyhow::Error {
    let msg = match e {
        SnapshotError::StateMissing { path } => format!(
            "the state {} does not exist, so there is nothing to snapshot; `tfops restore --latest` puts the newest valid snapshot back",
            rel(ws, &path)
        ),
        SnapshotError::StateInvalid { path, reason } => format!(
            "the state {} is not valid ({reason}), so it was not snapshotted; `tfops restore --latest` puts the newest valid snapshot back",
            rel(ws, &path)
        ),
        SnapshotError::StateChanged { path } => format!(
            "the state {} changed while it was read (Terraform may be writing it); run the command again",
            rel(ws, &path)
        ),
        SnapshotError::BadId { id } => format!(
            "{id:?} is not a snapshot name (a folder name like tfstate_2026-11-28_15-00-00.backup, never a path); `tfops backups` lists them"
        ),
        SnapshotError::NotFound { id } => {
            format!("no snapshot named {id}; `tfops backups` lists them")
        }
        SnapshotError::Bad { id, reason } => format!(
            "snapshot {id} is not valid ({reason}); pick another one from `tfops backups` (`tfops verify` checks them all)"
        ),
        SnapshotError::Io { path, source } => format!(
            "{}: {source}; check that path's permissions and free space",
            rel(ws, &path)
        ),
    };
    anyhow::anyhow!(msg)
}

fn restore_error(ws: &Workspace, e: RestoreError) -> anyhow::Error {
    let msg = match e {
        RestoreError::Snapshot(e) => return snapshot_error(ws, e),
        RestoreError::NoValidSnapshot { dir } => format!(
            "there is no valid snapshot in {} to restore; `tfops backups` lists what is there",
            rel(ws, &dir)
        ),
        RestoreError::LineageMismatch {
            id,
            snapshot,
            current,
            path,
        } => format!(
            "snapshot {id} belongs to another state (lineage {snapshot}, while {} has lineage {current}); pass --force to restore it anyway",
            rel(ws, &path)
        ),
        RestoreError::TerraformHolds { path, lock } => format!(
            "Terraform holds the state {} ({}); wait for it to finish (or remove a stale lock with `terraform force-unlock`), or pass --force",
            rel(ws, &path),
            lock.describe()
        ),
        RestoreError::ChangedSincePreview { path } => format!(
            "the state {} changed since the preview, so nothing was restored; run `tfops restore` again",
            rel(ws, &path)
        ),
        RestoreError::Io { path, source } => format!(
            "{}: {source}; check that path's permissions and free space",
            rel(ws, &path)
        ),
    };
    anyhow::anyhow!(msg)
}

/// `tfops backup`: snapshot the state now.
///
/// # Errors
/// When there is no valid state to keep or a write fails.
pub fn backup(ctx: &Context) -> anyhow::Result<i32> {
    let cfg = &ctx.config;
    if let Ok(Some(l)) = tflock::terraform_lock(&cfg.state.path) {
        log::warn!(
            "Terraform holds the state ({}); snapshotting what is on disk now",
            l.describe()
        );
    }
    let line = ProgressLine::new("snapshot");
    let progress = |d, t| line.update(d, t);
    let opts = TakeOptions {
        only_if_changed: false,
        progress: Some(&progress),
    };
    let taken = snapshot::take_with(cfg, "manual", &opts);
    line.finish();
    let taken = match taken {
        Ok(Some(t)) => t,
        Ok(None) => anyhow::bail!("internal: snapshot skipped"),
        Err(e) => return Err(snapshot_error(&ctx.ws, e)),
    };
    let m = &taken.meta;
    match &m.linked_to {
        Some(t) => println!(
            "snapshot {}: serial {}, {} resources, identical to {t} (hard link, no new bytes)",
            taken.id, m.serial, m.resources
        ),
        None => println!(
            "snapshot {}: serial {}, {} resources, {}",
            taken.id,
            m.serial,
            m.resources,
            size(m.bytes)
        ),
    }
    if !m.flags.is_empty() {
        println!("flags: {}", m.flags.join(", "));
    }
    for p in &taken.pruned {
        println!("pruned {p} (retention)");
    }
    Ok(0)
}

/// One snapshot in `backups --json`.
#[derive(serde::Serialize)]
struct JsonSnapshot<'a> {
    id: &'a str,
    taken_at: String,
    serial: Option<u64>,
    lineage: Option<&'a str>,
    resources: Option<u64>,
    bytes: Option<u64>,
    sha256: Option<&'a str>,
    valid: bool,
    flags: Vec<&'a str>,
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<&'a str>,
}

fn json_snapshot(s: &Snapshot) -> JsonSnapshot<'_> {
    let m = s.meta.as_ref();
    JsonSnapshot {
        id: &s.id,
        taken_at: m
            .map(|m| m.taken_at.clone())
            .unwrap_or_else(|| crate::fsutil::json_ts(s.taken_at)),
        serial: m.map(|m| m.serial),
        lineage: m.map(|m| m.lineage.as_str()),
        resources: m.map(|m| m.resources),
        bytes: m.map(|m| m.bytes),
        sha256: m.map(|m| m.sha256.as_str()),
        valid: s.valid(),
        flags: m
            .map(|m| m.flags.iter().map(String::as_str).collect())
            .unwrap_or_default(),
        reason: m.map(|m| m.reason.as_str()),
        problem: s.problem.as_deref(),
    }
}

/// `tfops backups [--json]`: the snapshots, oldest first.
///
/// # Errors
/// When the backups folder cannot be read.
pub fn backups(ctx: &Context, json: bool) -> anyhow::Result<i32> {
    let list = snapshot::list(&ctx.config.state.backups).map_err(|e| snapshot_error(&ctx.ws, e))?;
    if json {
        let doc = serde_json::json!({
            "snapshots": list.iter().map(json_snapshot).collect::<Vec<_>>()
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    if list.is_empty() {
        println!(
            "no snapshots in {}; `tfops backup` takes one",
            rel(&ctx.ws, &ctx.config.state.backups)
        );
        return Ok(0);
    }
    let mut rows = vec![[
        "ID".to_string(),
        "TAKEN".into(),
        "SERIAL".into(),
        "LINEAGE".into(),
        "RESOURCES".into(),
        "SIZE".into(),
        "VALID".into(),
        "FLAGS".into(),
    ]];
    for s in &list {
        let m = s.meta.as_ref();
        rows.push([
            s.id.clone(),
            s.taken_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            m.map(|m| m.serial.to_string()).unwrap_or("-".into()),
            m.map(|m| m.lineage.chars().take(8).collect())
                .unwrap_or("-".into()),
            m.map(|m| m.resources.to_string()).unwrap_or("-".into()),
            m.map(|m| size(m.bytes)).unwrap_or("-".into()),
            if s.valid() { "yes".into() } else { "NO".into() },
            m.map(|m| m.flags.join(",")).unwrap_or_default(),
        ]);
    }
    let mut widths = [0usize; 8];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
    for s in list.iter().filter(|s| !s.valid()) {
        println!("{}: {}", s.id, s.problem.as_deref().unwrap_or("not valid"));
    }
    Ok(0)
}

fn terminal() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// The arrow-key menu of valid snapshots, newest first; `None` when cancelled.
fn menu(ctx: &Context) -> anyhow::Result<Option<String>> {
    let list = snapshot::list(&ctx.config.state.backups).map_err(|e| snapshot_error(&ctx.ws, e))?;
    let valid: Vec<&Snapshot> = list.iter().rev().filter(|s| s.valid()).collect();
    if valid.is_empty() {
        anyhow::bail!(
            "there is no valid snapshot in {} to restore; `tfops backups` lists what is there",
            rel(&ctx.ws, &ctx.config.state.backups)
        );
    }
    let items: Vec<String> = valid
        .iter()
        .map(|s| {
            let m = s.meta.as_ref();
            format!(
                "{}  {}  serial {}  {} resources  lineage {}{}",
                s.id,
                s.taken_at.format("%Y-%m-%d %H:%M:%S"),
                m.map(|m| m.serial).unwrap_or(0),
                m.map(|m| m.resources).unwrap_or(0),
                m.map(|m| m.lineage.chars().take(8).collect::<String>())
                    .unwrap_or_default(),
                m.filter(|m| !m.flags.is_empty())
                    .map(|m| format!("  [{}]", m.flags.join(",")))
                    .unwrap_or_default()
            )
        })
        .collect();
    let pick = dialoguer::Select::new()
        .with_prompt("Snapshot to restore (arrows, Enter; Esc cancels)")
        .items(&items)
        .default(0)
        .interact_opt()?;
    Ok(pick.map(|i| valid[i].id.clone()))
}

fn print_plan(ctx: &Context, plan: &RestorePlan) {
    let ws = &ctx.ws;
    let state = rel(ws, &ctx.config.state.path);
    let s = &plan.snapshot;
    println!(
        "restore {} (taken {}, serial {}, {} resources, lineage {})",
        s.id,
        s.taken_at.format("%Y-%m-%d %H:%M:%S"),
        plan.info.serial,
        plan.info.resources,
        plan.info.lineage
    );
    match &plan.current {
        Current::Missing => {
            println!("  over {state}: missing (nothing to compare, it will be created)")
        }
        Current::Invalid { reason, .. } => {
            println!("  over {state}: {reason} (kept beside as {state}.corrupt-<ts>)")
        }
        Current::Valid { info, .. } => {
            println!(
                "  over {state}: serial {}, {} resources",
                info.serial, info.resources
            );
            println!("  serial: {} -> {}", info.serial, plan.info.serial);
            if info.lineage == plan.info.lineage {
                println!("  lineage: {} (same)", info.lineage);
            } else {
                println!(
                    "  lineage: {} -> {} (another state; --force)",
                    info.lineage, plan.info.lineage
                );
            }
        }
    }
    if let Some(l) = &plan.tf_lock {
        println!(
            "  warning: Terraform holds the state ({}); restoring anyway (--force)",
            l.describe()
        );
    }
    let c = &plan.preview.changes;
    if c.added.is_empty() && c.removed.is_empty() && c.changed.is_empty() {
        println!("resources: no change by address");
    } else {
        println!("resources:");
        for a in &c.added {
            println!("  + {a}  (back from the snapshot)");
        }
        for a in &c.removed {
            println!("  - {a}  (not in the snapshot)");
        }
        for a in &c.changed {
            println!("  ~ {a}  (different values)");
        }
    }
    if let Some(n) = &plan.preview.note {
        println!("{n}");
    }
    if let Some(d) = &plan.preview.diff {
        if d.is_empty() {
            println!("no difference in content");
        } else {
            print!("{d}");
        }
    }
}

/// `tfops restore [ID | --latest] [--yes] [--force] [--dry-run]`.
///
/// # Errors
/// Every refusal and failure, as one sentence saying what to do next.
pub fn restore(ctx: &Context, args: &RestoreArgs) -> anyhow::Result<i32> {
    let cfg = &ctx.config;
    let target = match (&args.id, args.latest) {
        (Some(id), _) => Target::Id(id.clone()),
        (None, true) => Target::Latest,
        (None, false) => {
            if !terminal() {
                anyhow::bail!(
                    "no snapshot given and no terminal for the menu; pass a snapshot id from `tfops backups`, or --latest"
                );
            }
            match menu(ctx)? {
                Some(id) => Target::Id(id),
                None => {
                    eprintln!("cancelled; nothing changed");
                    return Ok(1);
                }
            }
        }
    };
    let plan = restore::prepare(cfg, &target, args.force).map_err(|e| restore_error(&ctx.ws, e))?;
    print_plan(ctx, &plan);
    if args.dry_run {
        println!("dry run: nothing changed");
        return Ok(0);
    }
    if !args.yes {
        if !terminal() {
            anyhow::bail!(
                "a restore asks for confirmation and there is no terminal; pass --yes (check first with --dry-run)"
            );
        }
        let ok = dialoguer::Confirm::new()
            .with_prompt(format!(
                "Put {} back as {}?",
                plan.snapshot.id,
                rel(&ctx.ws, &cfg.state.path)
            ))
            .default(false)
            .interact_opt()?;
        if ok != Some(true) {
            eprintln!("cancelled; nothing changed");
            return Ok(1);
        }
    }
    let line = ProgressLine::new("restore");
    let progress = |d, t| line.update(d, t);
    let done = restore::apply(cfg, &plan, Some(&progress));
    line.finish();
    let done = done.map_err(|e| restore_error(&ctx.ws, e))?;
    println!(
        "restored {} to {} (serial {})",
        done.id,
        rel(&ctx.ws, &done.state),
        done.serial
    );
    if let Some(p) = &done.pre_snapshot {
        println!("the previous state is kept as snapshot {p}");
    }
    if let Some(p) = &done.corrupt_kept {
        println!("the bad state is kept as {}", rel(&ctx.ws, p));
    }
    Ok(0)
}

/// `tfops verify`: every snapshot against its sha256; exit 1 naming each bad one.
///
/// # Errors
/// When a snapshot fails (naming each) or the folder cannot be read.
pub fn verify(ctx: &Context) -> anyhow::Result<i32> {
    let results =
        snapshot::verify(&ctx.config.state.backups).map_err(|e| snapshot_error(&ctx.ws, e))?;
    if results.is_empty() {
        println!(
            "no snapshots in {}; `tfops backup` takes one",
            rel(&ctx.ws, &ctx.config.state.backups)
        );
        return Ok(0);
    }
    let mut bad = Vec::new();
    for r in &results {
        match &r.problem {
            None => println!("ok   {}", r.id),
            Some(p) => {
                println!("BAD  {}: {p}", r.id);
                bad.push(format!("{} ({p})", r.id));
            }
        }
    }
    if bad.is_empty() {
        println!("{} snapshots verified", results.len());
        return Ok(0);
    }
    anyhow::bail!(
        "{} of {} snapshots failed verification: {}; restore from another one (`tfops backups` lists them)",
        bad.len(),
        results.len(),
        bad.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::size;

    #[test]
    fn sizes_are_labelled_in_binary_units() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1_573), "1.5 KiB");
        assert_eq!(size(68_719_110), "65.5 MiB");
        assert_eq!(size(3 << 30), "3.0 GiB");
    }
}
