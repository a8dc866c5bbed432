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

use super::diff::{Diff, Renamed, Update};
use super::model::{Moved, Unknown};
use crate::fsutil;

/// Counts of each kind of result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub destroy: usize,
    pub update: usize,
    pub renamed: usize,
    pub unknown: usize,
    pub in_sync: usize,
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
    pub renamed: Vec<Renamed>,
    pub unknown: Vec<Unknown>,
    /// `moved` blocks that applied to addresses in the state (those are in sync).
    pub moved: Vec<Moved>,
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
                renamed: diff.renamed.len(),
                unknown: diff.unknown.len(),
                in_sync: diff.in_sync,
            },
            create: diff.create,
            destroy: diff.destroy,
            update: diff.update,
            renamed: diff.renamed,
            unknown: diff.unknown,
            moved: diff.moved,
        }
    }

    /// True when something is to create, destroy or update.
    pub fn has_drift(&self) -> bool {
        self.summary.create + self.summary.destroy + self.summary.update > 0
    }

    /// What `drift --detailed-exitcode` returns: 2 drift, 0 none.
    pub fn exit_code(&self) -> i32 {
        if self.has_drift() {
            2
        } else {
            0
        }
    }

    /// The JSON document, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// The human form: a table, then suggestions for renames, then a summary line.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Drift of {}/*.tf against {}{} — configuration against state, offline \
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
        let mut rows: Vec<(&str, String, String)> = Vec::new();
        for a in &self.create {
            let note = if renamed_to.contains(&a.as_str()) {
                "renamed, see below".into()
            } else {
                String::new()
            };
            rows.push(("+ create", a.clone(), note));
        }
        for a in &self.destroy {
            let note = if renamed_from.contains(&a.as_str()) {
                "renamed, see below".into()
            } else {
                String::new()
            };
            rows.push(("- destroy", a.clone(), note));
        }
        for u in &self.update {
            let names: Vec<String> = u
                .attributes
                .iter()
                .map(|a| {
                    if u.sensitive.contains(a) {
                        format!("{a} (sensitive)")
                    } else {
                        a.clone()
                    }
                })
                .collect();
            rows.push(("~ update", u.address.clone(), names.join(", ")));
        }
        for u in &self.unknown {
            rows.push((
                "? unknown",
                u.address.clone(),
                format!("{} ({})", u.reason, u.at),
            ));
        }
        for m in &self.moved {
            rows.push((
                "= moved",
                format!("{} -> {}", m.from, m.to),
                "moved block".into(),
            ));
        }
        if !rows.is_empty() {
            let w = rows.iter().map(|r| r.1.chars().count()).max().unwrap_or(0);
            let _ = writeln!(s);
            for (kind, addr, note) in rows {
                let line = format!("  {kind:<10} {addr:<w$}  {note}");
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
        let sm = &self.summary;
        let _ =
            writeln!(
            s,
            "\n{}: {} to create, {} to destroy, {} to update, {} renamed, {} unknown, {} in sync.",
            if self.has_drift() { "Drift" } else { "No drift" },
            sm.create,
            sm.destroy,
            sm.update,
            sm.renamed,
            sm.unknown,
            sm.in_sync
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
