//! `tfops scenario run` and `scenario revert`: the command line around
//! [`crate::drift::scenario`] — where the run happens, the steps, the drift table, each
//! expectation with its result, and the exit codes (0 all held, 1 one did not, 3 the scenario
//! is broken, 130 interrupted).

use std::path::Path;

use crate::drift::journal::JournalError;
use crate::drift::scenario::{revert, run, Outcome, Scenario, ScenarioError};
use crate::drift::Target;
use crate::workspace::ConfiguredWorkspace;

/// Human form of an outcome.
pub fn render(s: &Scenario, o: &Outcome, where_: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Scenario {}{}",
        s.display,
        s.description
            .as_ref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "{where_}");
    for (i, l) in o.plan.log.iter().enumerate() {
        let _ = writeln!(out, "  step {}: {l}", i + 1);
    }
    let _ = writeln!(out);
    match &o.detection {
        Ok(r) => out.push_str(&r.table()),
        Err(e) => {
            let _ = writeln!(out, "Drift detection failed (exit code 1): {e}");
        }
    }
    if !o.checks.is_empty() {
        let _ = writeln!(out, "\nExpectations:");
        for c in &o.checks {
            let e = &c.expectation;
            let res = if c.held {
                "held".to_string()
            } else {
                format!("DID NOT HOLD (got {})", c.got)
            };
            let _ = writeln!(out, "  {} = {}  {res}", e.key, e.written);
        }
        let failed = o.checks.iter().filter(|c| !c.held).count();
        if failed == 0 {
            let _ = writeln!(out, "All {} expectations held.", o.checks.len());
        } else {
            let _ = writeln!(
                out,
                "{failed} of {} expectations did not hold.",
                o.checks.len()
            );
        }
    } else {
        let _ = writeln!(out, "\nNo expectations to check.");
    }
    out
}

/// `tfops scenario run`: prints the steps, the drift table and each expectation with its
/// result; returns 0 all held, 1 one did not, 3 the scenario is broken, 130 interrupted.
///
/// # Errors
/// Failures outside the scenario (unreadable file, journal refused or failing).
pub fn run_cli(
    ctx: &ConfiguredWorkspace,
    file: &Path,
    in_place: bool,
    keep: bool,
) -> anyhow::Result<i32> {
    let t = Target::of(&ctx.ws, &ctx.config);
    let where_ = if keep {
        format!("In place, kept: {} and {} keep the result, originals beside them as <file>.orig (`tfops scenario revert` puts them back).", t.dir_display, t.state_display)
    } else if in_place {
        format!(
            "In place (a drill): {} and {} are journaled in .tfops/ and put back at the end.",
            t.dir_display, t.state_display
        )
    } else {
        format!(
            "On a temporary copy of {} and {}: the workspace is not touched.",
            t.dir_display, t.state_display
        )
    };
    match run(&ctx.ws, &ctx.config, file, in_place, keep) {
        Ok((s, o)) => {
            if !o.interrupted {
                print!("{}", render(&s, &o, &where_));
            }
            if o.interrupted {
                if in_place {
                    eprintln!("interrupted: every touched file was put back");
                } else {
                    eprintln!("interrupted: the temporary copy was removed; the workspace was never touched");
                }
                return Ok(130);
            }
            if !o.kept.is_empty() || (keep && !o.plan.changes.is_empty()) {
                println!(
                    "Kept. Originals: {}",
                    o.kept
                        .iter()
                        .map(|p| ctx.ws.rel(p).into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            } else if in_place {
                println!("Every touched file was put back.");
            }
            Ok(o.exit_code())
        }
        Err(ScenarioError::Broken { at, message }) => {
            eprintln!("the scenario is broken: {at}: {message}; fix the scenario file (nothing was changed)");
            Ok(3)
        }
        Err(ScenarioError::Io { path, source }) if !path.exists() => Err(anyhow::anyhow!(
            "no scenario file {} ({source}); the shipped ones are in config/scenarios/",
            path.display()
        )),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

/// `tfops scenario revert`: puts back the originals left by `scenario run --keep`.
///
/// # Errors
/// When the journal cannot be read or an original cannot be put back.
pub fn revert_cli(ctx: &ConfiguredWorkspace) -> anyhow::Result<i32> {
    match revert(&ctx.ws) {
        Ok(Some(j)) => {
            println!("Reverted {}: {} file(s) put back.", j.scenario, j.entries.len());
            Ok(0)
        }
        Ok(None) => {
            println!("Nothing to revert: no scenario was kept.");
            Ok(0)
        }
        Err(JournalError::Busy { pid, scenario }) => Err(anyhow::anyhow!(
            "a scenario ({scenario}, pid {pid}) is running in place; it puts its files back when it ends"
        )),
        Err(e) => Err(anyhow::anyhow!("{e}; the journal in .tfops/ is kept, run `tfops scenario revert` again once fixed")),
    }
}
