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
    let cli = command_line_vars(a, std::env::args_os().skip(1));
    match drift::detect_and_record_cli(&ctx.ws, &ctx.config, &cli) {
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

/// `--var` and `--var-file` in the order given on the command line (Terraform applies them in
/// that order, the later winning). `args` is the process's arguments: the parsed values are
/// put in their order there; if that order cannot be recovered (arguments not from this
/// process), files come first, then values. Relative files resolve in the current folder.
fn command_line_vars(
    a: &super::DriftArgs,
    args: impl Iterator<Item = std::ffi::OsString>,
) -> Vec<drift::vars::CliArg> {
    use drift::vars::CliArg;
    let cwd = std::env::current_dir().unwrap_or_default();
    let file = |p: &Path| CliArg::VarFile(cwd.join(p));
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    let mut ordered = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let x = args[i].as_str();
        if x == "--" {
            break;
        }
        let (flag, inline) = match x.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (x, None),
        };
        if flag == "--var" || flag == "--var-file" {
            let value = match inline {
                Some(v) => v,
                None => {
                    i += 1;
                    args.get(i).cloned().unwrap_or_default()
                }
            };
            ordered.push(if flag == "--var" {
                CliArg::Var(value)
            } else {
                file(Path::new(&value))
            });
        }
        i += 1;
    }
    let expected: Vec<CliArg> = a.var_file.iter().map(|p| file(p)).collect();
    let same = |kind_file: bool| -> Vec<CliArg> {
        ordered
            .iter()
            .filter(|c| matches!(c, CliArg::VarFile(_)) == kind_file)
            .cloned()
            .collect()
    };
    let vars: Vec<CliArg> = a.var.iter().cloned().map(CliArg::Var).collect();
    if same(true) == expected && same(false) == vars {
        ordered
    } else {
        expected.into_iter().chain(vars).collect()
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
