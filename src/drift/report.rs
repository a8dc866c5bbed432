//! The drift report: the versioned JSON document (`format_version` "1"), its human table, and
//! the files `logs/drift_<ts>.json` and `.log` that every run leaves, bounded by
//! `drift.keep_reports`.
//!
//! A report holds addresses and attribute names only, never values: sensitive values cannot
//! reach stdout, the logs or the report files through it.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::diff::{Diff, Import, OutputChange, Renamed, Update};
use super::ignore::Ignored;
use super::model::{Moved, Unknown};
use crate::fsutil;

/// Counts of each kind of result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub destroy: usize,
    pub update: usize,
    pub replace: usize,
    pub moved: usize,
    pub forget: usize,
    pub outputs: usize,
    pub renamed: usize,
    pub unknown: usize,
    pub ignored: usize,
    pub in_sync: usize,
    /// Objects `import` blocks bring in (absent from the JSON when none, as in reports of
    /// earlier versions).
    #[serde(skip_serializing_if = "is_zero")]
    pub import: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// One drift detection: the configuration (`dir`) against the state, offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub format_version: String,
    pub detected_at: String,
    /// The module folder, relative to the workspace root.
    pub dir: String,
    /// The state file, relative to the workspace root.
    pub state: String,
    pub state_missing: bool,
    pub summary: Summary,
    pub create: Vec<String>,
    pub destroy: Vec<String>,
    pub update: Vec<Update>,
    /// Destroyed and created again (`terraform_data.triggers_replace`, `null_resource.triggers`,
    /// `replace_triggered_by`).
    pub replace: Vec<Update>,
    /// Moves (from `moved` blocks, or implicit between `a` and `a[0]`) applied to addresses in
    /// the state.
    pub moved: Vec<Moved>,
    /// Dropped from the state without destroying (`removed` with `destroy = false`).
    pub forget: Vec<String>,
    /// Root outputs that change.
    pub outputs: Vec<OutputChange>,
    /// Objects `import` blocks bring into the state, with the ID given (their own changes,
    /// if any, are under `update` / `replace`). Absent from the JSON when none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub import: Vec<Import>,
    pub renamed: Vec<Renamed>,
    pub unknown: Vec<Unknown>,
    /// What ignore rules (`.driftignore`, `drift.ignore`) took out of the lists above, each
    /// with the rules that matched; counted in `summary.ignored`. Absent from the JSON when
    /// nothing was ignored (reports of earlier versions keep their exact shape).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<Ignored>,
    /// True when an update was decided for a type whose provider schema tfops does not know
    /// (it may be a replacement for Terraform).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub schemaless_update: bool,
    /// The child module folders the configuration was read from (for the daemon's watcher);
    /// not part of the report's JSON.
    #[serde(skip)]
    pub module_dirs: Vec<std::path::PathBuf>,
}

impl Report {
    /// Builds the report of a diff.
    pub fn new(
        diff: Diff,
        dir: &str,
        state: &str,
        state_missing: bool,
        detected_at: String,
    ) -> Report {
        Report {
            format_version: "1".into(),
            detected_at,
            dir: dir.into(),
            state: state.into(),
            state_missing,
            summary: Summary {
                create: diff.create.len(),
                destroy: diff.destroy.len(),
                update: diff.update.len(),
                replace: diff.replace.len(),
                moved: diff.moved.len(),
                forget: diff.forget.len(),
                outputs: diff.outputs.len(),
                renamed: diff.renamed.len(),
                unknown: diff.unknown.len(),
                ignored: 0,
                in_sync: diff.in_sync,
                import: diff.import.len(),
            },
            create: diff.create,
            destroy: diff.destroy,
            update: diff.update,
            replace: diff.replace,
            moved: diff.moved,
            forget: diff.forget,
            outputs: diff.outputs,
            import: diff.import,
            renamed: diff.renamed,
            unknown: diff.unknown,
            ignored: Vec::new(),
            schemaless_update: diff.schemaless_update,
            module_dirs: Vec::new(),
        }
    }

    /// Records what ignore rules took out of the diff (see [`super::ignore::apply`]).
    pub fn set_ignored(&mut self, ignored: Vec<Ignored>) {
        self.summary.ignored = ignored.len();
        self.ignored = ignored;
    }

    /// `N ignored (K by `rule` at source, …)`, or nothing when no finding was ignored.
    fn ignored_note(&self) -> String {
        if self.ignored.is_empty() {
            return String::new();
        }
        let mut by: Vec<(&super::ignore::RuleRef, usize)> = Vec::new();
        for i in &self.ignored {
            for r in &i.rules {
                match by.iter_mut().find(|(x, _)| *x == r) {
                    Some((_, n)) => *n += 1,
                    None => by.push((r, 1)),
                }
            }
        }
        by.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        const SHOWN: usize = 5;
        let mut parts: Vec<String> = by
            .iter()
            .take(SHOWN)
            .map(|(r, n)| format!("{n} by `{}` ({})", r.rule, r.source))
            .collect();
        if by.len() > SHOWN {
            parts.push(format!("and {} more rules", by.len() - SHOWN));
        }
        format!(", {} ignored ({})", self.ignored.len(), parts.join(", "))
    }

    /// True when the plan would change something: resources, moves, forgets or root outputs
    /// (as `terraform plan -detailed-exitcode` counts it).
    pub fn has_drift(&self) -> bool {
        let s = &self.summary;
        s.create + s.destroy + s.update + s.replace + s.moved + s.forget + s.outputs + s.import > 0
    }

    /// What `drift --detailed-exitcode` returns: 2 drift, 0 none. Unknown addresses alone
    /// are not drift unless `unknown_is_drift`.
    pub fn exit_code_with(&self, unknown_is_drift: bool) -> i32 {
        if self.has_drift() || (unknown_is_drift && self.summary.unknown > 0) {
            2
        } else {
            0
        }
    }

    /// [`Report::exit_code_with`] without `--unknown-is-drift`.
    pub fn exit_code(&self) -> i32 {
        self.exit_code_with(false)
    }

    /// The JSON document, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// The human form, without colour.
    pub fn table(&self) -> String {
        self.render(false)
    }

    /// The human form, read like a plan: `+` create, `-` destroy, `~` update, `-/+` replace,
    /// moves, forgets and outputs, then the unknowns, rename suggestions and a summary line.
    /// `color` adds ANSI colours (on a terminal, unless `--no-color` or `NO_COLOR`).
    pub fn render(&self, color: bool) -> String {
        let paint = |code: &str, t: &str| {
            if color {
                format!("\x1b[{code}m{t}\x1b[0m")
            } else {
                t.to_string()
            }
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Drift of {} against {}{} — configuration against state, offline \
             (like `terraform plan -refresh=false`), not against the real cloud.",
            self.dir,
            self.state,
            if self.state_missing {
                " (missing: counted as empty)"
            } else {
                ""
            }
        );
        let renamed_to: Vec<&str> = self.renamed.iter().map(|r| r.to.as_str()).collect();
        let renamed_from: Vec<&str> = self.renamed.iter().map(|r| r.from.as_str()).collect();
        // (sign, colour, address, note)
        let mut rows: Vec<(&str, &str, String, String)> = Vec::new();
        let names = |u: &Update| -> String {
            u.attributes
                .iter()
                .map(|a| {
                    if u.sensitive.contains(a) {
                        format!("{a} (sensitive)")
                    } else {
                        a.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        for a in &self.create {
            let note = if renamed_to.contains(&a.as_str()) {
                "will be created (renamed, see below)".to_string()
            } else {
                "will be created".to_string()
            };
            rows.push(("  +", "32", a.clone(), note));
        }
        for a in &self.destroy {
            let note = if renamed_from.contains(&a.as_str()) {
                "will be destroyed (renamed, see below)".to_string()
            } else {
                "will be destroyed".to_string()
            };
            rows.push(("  -", "31", a.clone(), note));
        }
        for u in &self.update {
            rows.push((
                "  ~",
                "33",
                u.address.clone(),
                format!("will be updated in-place: {}", names(u)),
            ));
        }
        for u in &self.replace {
            rows.push((
                "-/+",
                "35",
                u.address.clone(),
                format!("must be replaced: {}", names(u)),
            ));
        }
        for m in &self.moved {
            rows.push((
                "  >",
                "36",
                m.to.clone(),
                format!("has moved from {}", m.from),
            ));
        }
        for i in &self.import {
            rows.push((
                "  <=",
                "36",
                i.address.clone(),
                format!("will be imported (id {})", super::state::quote(&i.id)),
            ));
        }
        for a in &self.forget {
            rows.push((
                "  .",
                "36",
                a.clone(),
                "will be removed from the state, not destroyed".into(),
            ));
        }
        for o in &self.outputs {
            let sign = match o.action.as_str() {
                "create" => "  +",
                "delete" => "  -",
                _ => "  ~",
            };
            rows.push((
                sign,
                "33",
                format!("output.{}", o.name),
                format!(
                    "output will {}",
                    match o.action.as_str() {
                        "create" => "be added",
                        "delete" => "be removed",
                        _ => "change",
                    }
                ),
            ));
        }
        for u in &self.unknown {
            rows.push((
                "  ?",
                "2",
                u.address.clone(),
                format!("unknown: {} ({})", u.reason, u.at),
            ));
        }
        if !rows.is_empty() {
            let w = rows.iter().map(|r| r.2.chars().count()).max().unwrap_or(0);
            let _ = writeln!(s);
            for (sign, code, addr, note) in rows {
                let line = format!("{} {addr:<w$}  {note}", paint(code, sign));
                let _ = writeln!(s, "{}", line.trim_end());
            }
        }
        for r in &self.renamed {
            let _ = writeln!(
                s,
                "\n{} looks renamed to {}. To keep the resource instead of replacing it, add to the configuration:\n{}\nor, with Terraform older than 1.1 (such as 1.0.3):\n  {}",
                r.from,
                r.to,
                indent(&r.moved_block),
                r.state_mv
            );
        }
        if self.schemaless_update {
            let _ = writeln!(
                s,
                "\nNote: without the provider's schema tfops cannot tell an in-place update from a replacement; Terraform may replace what is listed as updated."
            );
        }
        let sm = &self.summary;
        let head = if self.has_drift() {
            paint("1", "Drift")
        } else {
            "No drift".to_string()
        };
        let _ = writeln!(
            s,
            "\n{head}: {} to create, {} to update, {} to replace, {} to destroy, {} moved, {} to forget, {} output changes, {} renamed, {} unknown (not decided offline){}, {} in sync{}.",
            sm.create,
            sm.update,
            sm.replace,
            sm.destroy,
            sm.moved,
            sm.forget,
            sm.outputs,
            sm.renamed,
            sm.unknown,
            self.ignored_note(),
            sm.in_sync,
            // Only when there are imports: the line of earlier versions is unchanged.
            if sm.import > 0 {
                format!(", {} to import", sm.import)
            } else {
                String::new()
            }
        );
        s
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes `logs/drift_<ts>.json` (`json`) and `.log` (`log`) under `logs`, never replacing an
/// earlier report (`_2`, `_3`… in the same second), then removes the oldest beyond `keep`.
/// Returns the JSON file's path.
///
/// # Errors
/// When the folder cannot be created or a file cannot be written.
pub fn write_files(
    logs: &Path,
    ts: &str,
    json: &str,
    log: &str,
    keep: usize,
) -> io::Result<PathBuf> {
    std::fs::create_dir_all(logs)?;
    let tmp = logs.join(format!(".drift.{}.tmp", std::process::id()));
    // A fresh file, never written through a link planted at the temp name.
    let _ = std::fs::remove_file(&tmp);
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?
            .write_all(json.as_bytes())?;
    }
    // After the newest report of this same second, so that names keep their order.
    let mut k = stems(logs)?
        .iter()
        .filter_map(|s| {
            let rest = s.strip_prefix(&format!("drift_{ts}"))?;
            if rest.is_empty() {
                Some(1)
            } else {
                rest.strip_prefix('_')?.parse::<u32>().ok()
            }
        })
        .max()
        .map_or(1, |m| m + 1);
    let stem = loop {
        let stem = if k == 1 {
            format!("drift_{ts}")
        } else {
            format!("drift_{ts}_{k}")
        };
        match fsutil::rename_noreplace(&tmp, &logs.join(format!("{stem}.json"))) {
            Ok(()) => break stem,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && k < 1000 => k += 1,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        }
    };
    fsutil::write_atomic(
        &logs.join(format!("{stem}.log")),
        log.as_bytes(),
        0o644,
        false,
    )?;
    prune(logs, keep)?;
    Ok(logs.join(format!("{stem}.json")))
}

/// The report stems (`drift_<ts>[_k]`) under `logs`, oldest first.
fn stems(logs: &Path) -> io::Result<Vec<String>> {
    let mut v: Vec<String> = Vec::new();
    for e in std::fs::read_dir(logs)? {
        let name = e?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(stem) = name
            .strip_prefix("drift_")
            .and_then(|_| name.strip_suffix(".json"))
        {
            v.push(stem.to_string());
        }
    }
    // Same-second suffixes sort after their base: compare (timestamp, k).
    v.sort_by_key(|s| {
        let rest = &s["drift_".len()..];
        let (ts, k) = match rest.get(19..) {
            Some(suf) if suf.starts_with('_') => {
                (&rest[..19], suf[1..].parse::<u32>().unwrap_or(0))
            }
            _ => (rest, 1),
        };
        (ts.to_string(), k)
    });
    Ok(v)
}

fn prune(logs: &Path, keep: usize) -> io::Result<()> {
    let stems = stems(logs)?;
    if stems.len() > keep {
        for s in &stems[..stems.len() - keep] {
            for ext in ["json", "log"] {
                match std::fs::remove_file(logs.join(format!("{s}.{ext}"))) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}

/// `{"detected_at", "summary"}` of the newest readable report under `logs` (`summary` is null
/// and `error` says why when that run failed); `None` when there is none.
pub fn last(logs: &Path) -> Option<serde_json::Value> {
    let stems = stems(logs).ok()?;
    for s in stems.iter().rev().take(3) {
        let Ok(bytes) = std::fs::read(logs.join(format!("{s}.json"))) else {
            continue;
        };
        #[derive(serde::Deserialize)]
        struct Head {
            detected_at: serde_json::Value,
            #[serde(default)]
            summary: serde_json::Value,
            #[serde(default)]
            error: Option<String>,
        }
        let Ok(h) = serde_json::from_slice::<Head>(&bytes) else {
            continue;
        };
        let mut v = serde_json::json!({"detected_at": h.detected_at, "summary": h.summary});
        if let Some(e) = h.error {
            v["error"] = serde_json::Value::String(e);
        }
        return Some(v);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_bounded_and_never_replaced() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..5 {
            let json = format!("{{\"detected_at\":\"t{i}\",\"summary\":{{\"create\":{i}}}}}");
            write_files(d.path(), "2026-11-28_15-00-00", &json, "log", 3).unwrap();
        }
        let mut names: Vec<_> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 6, "{names:?}");
        assert!(names.contains(&"drift_2026-11-28_15-00-00_5.json".to_string()));
        assert!(!names.contains(&"drift_2026-11-28_15-00-00.json".to_string()));
        let l = last(d.path()).unwrap();
        assert_eq!(l["detected_at"], "t4");
        assert_eq!(l["summary"]["create"], 4);
    }
}
