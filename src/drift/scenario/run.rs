//! Running a scenario: the plan's changes written to a private temporary copy of the module
//! and the state ([`run_on_copy`]) or in place under a journal ([`run_in_place`]), drift
//! detected, the expectations checked ([`check`]). SIGINT/SIGTERM during a run set a flag: the
//! files are put back (or the copy removed) before the run returns `interrupted`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "fault-injection")]
use std::time::Duration;

use super::{broken, load, plan, Change, Expectation, Plan, Scenario, ScenarioError, Want};
use crate::drift::journal::{Journal, JournalError};
use crate::drift::{detect_with, load_driftignore, DriftError, Options, Report, Target};
use crate::workspace::Workspace;

/// Writes the changes of a plan (mapping each path through `map`).
fn apply(changes: &[Change], map: impl Fn(&Path) -> PathBuf) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for c in changes {
        let p = map(&c.path);
        match &c.new {
            Some(bytes) => {
                let mode = std::fs::metadata(&p)
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(if c.state { 0o600 } else { 0o644 });
                crate::fsutil::write_atomic(&p, bytes, mode, false)?;
            }
            None => match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            },
        }
    }
    Ok(())
}

/// The result of one expectation.
#[derive(Debug, Clone)]
pub struct Checked {
    pub expectation: Expectation,
    pub held: bool,
    /// What was found, when it did not hold.
    pub got: String,
}

/// The outcome of a scenario run.
#[derive(Debug)]
pub struct Outcome {
    pub plan: Plan,
    /// The detection: a report, or why there is none.
    pub detection: Result<Report, DriftError>,
    pub checks: Vec<Checked>,
    /// True when SIGINT/SIGTERM arrived (in place: the files were put back).
    pub interrupted: bool,
    /// `.orig` files left by `--keep`.
    pub kept: Vec<PathBuf>,
}

impl Outcome {
    /// 0 every expectation held, 1 one did not.
    pub fn exit_code(&self) -> i32 {
        if self.checks.iter().all(|c| c.held) {
            0
        } else {
            1
        }
    }
}

/// Checks expectations against a detection.
pub fn check(expect: &[Expectation], detection: &Result<Report, DriftError>) -> Vec<Checked> {
    expect
        .iter()
        .map(|e| {
            let exit = match detection {
                Ok(r) => r.exit_code(),
                Err(_) => 1,
            };
            let got: Option<Vec<String>> = match (e.key.as_str(), detection) {
                ("exit_code", _) => None,
                (_, Err(_)) => Some(Vec::new()),
                ("create", Ok(r)) => Some(r.create.clone()),
                ("destroy", Ok(r)) => Some(r.destroy.clone()),
                ("update", Ok(r)) => Some(r.update.iter().map(|u| u.address.clone()).collect()),
                ("renamed", Ok(r)) => Some(
                    r.renamed
                        .iter()
                        .map(|x| format!("{} -> {}", x.from, x.to))
                        .collect(),
                ),
                ("unknown", Ok(r)) => Some(r.unknown.iter().map(|u| u.address.clone()).collect()),
                ("ignored", Ok(r)) => Some(r.ignored.iter().map(|i| i.address.clone()).collect()),
                (_, Ok(r)) => Some(vec![String::new(); r.summary.in_sync]),
            };
            let (held, found) = match (&e.want, got) {
                (Want::Count(n), None) => (exit as usize == *n, exit.to_string()),
                (Want::List(_), None) => (false, exit.to_string()),
                (_, Some(_)) if detection.is_err() => (
                    false,
                    format!(
                        "no report ({})",
                        detection
                            .as_ref()
                            .err()
                            .map(|e| e.to_string())
                            .unwrap_or_default()
                    ),
                ),
                (Want::Count(n), Some(g)) => (g.len() == *n, g.len().to_string()),
                (Want::List(l), Some(g)) => {
                    let want: BTreeSet<&String> = l.iter().collect();
                    let have: BTreeSet<&String> = g.iter().collect();
                    (want == have && l.len() == g.len(), format!("{g:?}"))
                }
            };
            Checked {
                expectation: e.clone(),
                held,
                got: found,
            }
        })
        .collect()
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT/SIGTERM set a flag while an in-place run is on (the files are put back, then exit).
struct SignalGuard;

impl SignalGuard {
    fn install() -> SignalGuard {
        INTERRUPTED.store(false, Ordering::SeqCst);
        let h = on_signal as extern "C" fn(libc::c_int);
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, h as libc::sighandler_t);
            libc::signal(libc::SIGTERM, h as libc::sighandler_t);
        }
        SignalGuard
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        // SAFETY: restoring the default disposition.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
        }
    }
}

/// Test hook (feature `fault-injection`, on in `cargo test` only):
/// `TFOPS_TEST_SCENARIO_PAUSE_MS` pauses after the files are written (interruptible).
#[cfg(not(feature = "fault-injection"))]
fn test_pause() {}

/// Test hook (feature `fault-injection`, on in `cargo test` only):
/// `TFOPS_TEST_SCENARIO_PAUSE_MS` pauses after the files are written (interruptible).
#[cfg(feature = "fault-injection")]
fn test_pause() {
    let Some(ms) = std::env::var("TFOPS_TEST_SCENARIO_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    log::debug!("pausing {ms} ms (TFOPS_TEST_SCENARIO_PAUSE_MS)");
    let end = std::time::Instant::now() + Duration::from_millis(ms);
    while std::time::Instant::now() < end && !INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A private temp folder removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!("tfops-scenario-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&p)?;
        crate::fsutil::create_dir_mode(&p, 0o700)?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a scenario on a temporary copy of `t` (module `*.tf` and state): nothing of `t` is
/// touched. Child modules, variables files and files the configuration reads are read where
/// they are (the steps change only the copied files). Detection uses `o` as `tfops drift` does: its rules, then the module's own
/// `.driftignore`, read where it is (a link is judged against `o.root`, as for a drift).
///
/// # Errors
/// [`ScenarioError::Broken`] when a step cannot apply; I/O errors making the copy.
pub fn run_on_copy(s: &Scenario, t: &Target, o: &Options<'_>) -> Result<Outcome, ScenarioError> {
    let plan = plan(s, t)?;
    // Steps never touch `.driftignore`: its rules are read from the workspace, so that the
    // copy (which does not hold it) is judged by the same rules as a drift of the original.
    let rules =
        load_driftignore(&t.dir, &t.dir_display, o.root.as_deref().unwrap_or(&t.dir)).map(|own| {
            let mut rules = o.ignore.clone();
            rules.extend(own);
            rules
        });
    // Ctrl-C stops the run but still removes the temporary copy.
    let _guard = SignalGuard::install();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScenarioError::Io { path, source }
    };
    let tmp = TempDir::new().map_err(io(&std::env::temp_dir()))?;
    let dir = tmp.0.join(
        t.dir
            .file_name()
            .unwrap_or_else(|| std::ffi::OsStr::new("module")),
    );
    std::fs::create_dir(&dir).map_err(io(&dir))?;
    for f in crate::drift::module_files(&t.dir)
        .map_err(|e| broken(t.dir_display.clone(), e.to_string()))?
    {
        if let Some(n) = f.file_name() {
            std::fs::copy(&f, dir.join(n)).map_err(io(&f))?;
        }
    }
    let state = tmp.0.join("state").join(
        t.state
            .file_name()
            .unwrap_or_else(|| std::ffi::OsStr::new("terraform.tfstate")),
    );
    std::fs::create_dir(tmp.0.join("state")).map_err(io(&tmp.0))?;
    match std::fs::copy(&t.state, &state) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&t.state)(e)),
        _ => {}
    }
    let map = |p: &Path| {
        if p == t.state {
            state.clone()
        } else {
            dir.join(p.file_name().unwrap_or_default())
        }
    };
    apply(&plan.changes, map).map_err(io(&tmp.0))?;
    test_pause();
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Ok(Outcome {
            plan,
            detection: Err(DriftError::StateInvalid {
                state: t.state_display.clone(),
                reason: "not detected: the run was interrupted".into(),
            }),
            checks: Vec::new(),
            interrupted: true,
            kept: Vec::new(),
        });
    }
    let copy = Target {
        dir: dir.clone(),
        state: state.clone(),
        dir_display: t.dir_display.clone(),
        state_display: t.state_display.clone(),
        vars: t.vars.clone(),
    };
    let detection = rules.and_then(|ignore| {
        detect_with(
            &copy,
            &Options {
                env: o.env.clone(),
                ignore,
                root: Some(tmp.0.clone()),
                progress: None,
                // Child modules and files the configuration reads are where they are: the
                // steps change only the module folder's own files.
                origin: Some(t.dir.clone()),
            },
        )
    });
    let checks = check(&s.expect, &detection);
    Ok(Outcome {
        plan,
        detection,
        checks,
        interrupted: false,
        kept: Vec::new(),
    })
}

/// Runs a scenario on the live workspace: journals every touched file, writes the steps'
/// result, detects, checks, then puts every file back byte for byte — pass, fail, error or
/// SIGINT/SIGTERM — unless `keep`, which leaves the result with `<file>.orig` beside each.
/// Detection uses `o` (ignore rules, environment) as `tfops drift` does.
///
/// # Errors
/// [`ScenarioError::Broken`] (nothing touched), a journal that refuses (another run, a kept
/// scenario) or fails.
pub fn run_in_place(
    ws: &Workspace,
    s: &Scenario,
    t: &Target,
    keep: bool,
    o: &Options<'_>,
) -> Result<Outcome, ScenarioError> {
    crate::drift::journal::ensure_free(ws)?;
    let plan = plan(s, t)?;
    if plan.changes.is_empty() {
        // Nothing to touch, nothing to journal: just detect.
        let detection = detect_with(t, o);
        let checks = check(&s.expect, &detection);
        return Ok(Outcome {
            plan,
            detection,
            checks,
            interrupted: false,
            kept: Vec::new(),
        });
    }
    let files: Vec<(PathBuf, bool)> = plan
        .changes
        .iter()
        .map(|c| (c.path.clone(), c.state))
        .collect();
    if keep {
        crate::drift::journal::ensure_no_orig(&files)?;
    }
    let guard = SignalGuard::install();
    let mut journal = Journal::begin(ws, &s.display, &files)?;
    let applied = apply(&plan.changes, Path::to_path_buf);
    if applied.is_ok() {
        test_pause();
    }
    let interrupted = INTERRUPTED.load(Ordering::SeqCst);
    let detection = match (&applied, interrupted) {
        (Ok(()), false) => detect_with(t, o),
        _ => Err(DriftError::StateInvalid {
            state: t.state_display.clone(),
            reason: "not detected: the run was interrupted or a file could not be written".into(),
        }),
    };
    let checks = check(&s.expect, &detection);
    let interrupted = interrupted || INTERRUPTED.load(Ordering::SeqCst);
    let mut kept = Vec::new();
    if keep && applied.is_ok() && !interrupted {
        kept = journal.keep(ws)?;
    } else {
        journal.restore(ws)?;
    }
    drop(guard);
    if let Err(e) = applied {
        return Err(ScenarioError::Io {
            path: t.dir.clone(),
            source: e,
        });
    }
    Ok(Outcome {
        plan,
        detection,
        checks,
        interrupted,
        kept,
    })
}

/// Runs a scenario file (for the CLI and the demo): on a copy, or in place (`keep` leaves the
/// result), with the ignore rules of `drift.ignore` and the module's `.driftignore`, as
/// `tfops drift` applies them. Returns the parsed scenario and its outcome.
///
/// # Errors
/// As [`run_on_copy`] and [`run_in_place`], and [`load`].
pub fn run(
    ws: &Workspace,
    cfg: &crate::config::Config,
    file: &Path,
    in_place: bool,
    keep: bool,
) -> Result<(Scenario, Outcome), ScenarioError> {
    let s = load(ws, file)?;
    let t = Target::of(ws, cfg);
    let opts = Options::of(ws, cfg);
    let o = if in_place || keep {
        run_in_place(ws, &s, &t, keep, &opts)?
    } else {
        run_on_copy(&s, &t, &opts)?
    };
    Ok((s, o))
}

/// Puts back the originals left by `scenario run --keep` (for the CLI and the demo). Returns
/// the kept journal that was undone, `None` when nothing was kept.
///
/// # Errors
/// [`JournalError::Busy`] while a run is in place; when an original cannot be put back.
pub fn revert(ws: &Workspace) -> Result<Option<crate::drift::journal::Journal>, JournalError> {
    match crate::drift::journal::read(ws)? {
        Some(j) if j.phase == crate::drift::journal::Phase::Kept => {
            j.restore(ws)?;
            Ok(Some(j))
        }
        Some(j) => Err(JournalError::Busy {
            pid: j.pid,
            scenario: j.scenario,
        }),
        None => Ok(None),
    }
}
