//! `tfops drift`, `scenario run`, `scenario revert`.
//!
//! Drift is configuration against state, offline (like `terraform plan -refresh=false`), not
//! state against the real cloud.

use std::path::Path;

use crate::drift;
use crate::workspace::ConfiguredWorkspace;

/// Detects drift now, prints the plan-like table (or the JSON report), writes
/// `logs/drift_<ts>.*`. Returns 0, or with `--detailed-exitcode` 0 no drift / 2 drift (as
/// `terraform plan -detailed-exitcode`; unknown addresses only with `--unknown-is-drift`).
///
/// # Errors
/// Broken HCL (naming `file:line:column`), an empty or invalid state, unreadable files: exit 1.
pub fn drift(ctx: &ConfiguredWorkspace, a: &super::DriftArgs) -> anyhow::Result<i32> {
    use std::io::IsTerminal;
    match drift::detect_and_record(&ctx.ws, &ctx.config) {
        Ok((report, _path)) => {
            if a.json {
                println!("{}", report.to_json());
            } else {
                let color = !a.no_color
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal();
                print!("{}", report.render(color));
            }
            Ok(if a.detailed_exitcode {
                report.exit_code_with(a.unknown_is_drift)
            } else {
                0
            })
        }
        Err(e) => Err(anyhow::anyhow!("{e}; {}", e.hint())),
    }
}

/// Runs a scenario file: on a temp copy, or in place (`in_place`, journaled, put back at the
/// end unless `keep`). Returns 0 every expectation held, 1 one did not, 3 the scenario is broken.
///
/// # Errors
/// Only for failures outside the scenario (e.g. the journal cannot be written).
pub fn scenario_run(
    ctx: &ConfiguredWorkspace,
    file: &Path,
    in_place: bool,
    keep: bool,
) -> anyhow::Result<i32> {
    super::scenario::run_cli(ctx, file, in_place, keep)
}

/// Puts back the originals left by `scenario run --keep`.
///
/// # Errors
/// When an original cannot be put back.
pub fn scenario_revert(ctx: &ConfiguredWorkspace) -> anyhow::Result<i32> {
    super::scenario::revert_cli(ctx)
}
