//! `tfops drift`, `scenario run`, `scenario revert`.
//!
//! Drift is configuration against state, offline (like `terraform plan -refresh=false`), not
//! state against the real cloud.

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::drift::{self, Stage};
use crate::workspace::ConfiguredWorkspace;

/// How long a drift runs before its progress is shown.
const PROGRESS_AFTER: Duration = Duration::from_secs(1);

/// The progress line for `stage`, `elapsed` into the run.
pub fn progress_line(stage: Stage, elapsed: Duration) -> String {
    let what = match stage {
        Stage::Parsing { files } => format!(
            "parsing {files} configuration file{} and the state",
            if files == 1 { "" } else { "s" }
        ),
        Stage::Evaluating => "evaluating the configuration".to_string(),
        Stage::Comparing { addresses } => format!(
            "comparing {addresses} address{}",
            if addresses == 1 { "" } else { "es" }
        ),
    };
    format!("drift: {what}… {:.1} s", elapsed.as_secs_f64())
}

#[derive(Default)]
struct Shown {
    stage: Option<Stage>,
    drawn: bool,
    done: bool,
}

/// Progress of a drift on stderr, for a person at a terminal: once the run has taken
/// [`PROGRESS_AFTER`], one line rewritten in place with the stage and the time so far, wiped
/// at the end so that the result starts on a clean line.
struct Progress {
    start: Instant,
    after: Duration,
    shared: Arc<(Mutex<Shown>, Condvar)>,
    ticker: Option<std::thread::JoinHandle<()>>,
}

impl Progress {
    fn start() -> Progress {
        let after = progress_after();
        let shared: Arc<(Mutex<Shown>, Condvar)> = Arc::default();
        let start = Instant::now();
        let s2 = Arc::clone(&shared);
        // Redraws the time every 100 ms while a stage lasts.
        let ticker = std::thread::Builder::new()
            .name("drift-progress".into())
            .spawn(move || {
                let (m, cv) = &*s2;
                let Ok(mut g) = m.lock() else { return };
                while !g.done {
                    let wait = if start.elapsed() < after {
                        after - start.elapsed()
                    } else {
                        Duration::from_millis(100)
                    };
                    g = match cv.wait_timeout(g, wait) {
                        Ok((g, _)) => g,
                        Err(_) => return,
                    };
                    if !g.done && start.elapsed() >= after {
                        if let Some(st) = g.stage {
                            draw(st, start.elapsed());
                            g.drawn = true;
                        }
                    }
                }
            })
            .ok();
        Progress {
            start,
            after,
            shared,
            ticker,
        }
    }

    fn stage(&self, st: Stage) {
        let Ok(mut g) = self.shared.0.lock() else {
            return;
        };
        g.stage = Some(st);
        if self.start.elapsed() >= self.after {
            draw(st, self.start.elapsed());
            g.drawn = true;
        }
    }

    fn finish(mut self) {
        if let Ok(mut g) = self.shared.0.lock() {
            g.done = true;
            if g.drawn {
                let mut e = std::io::stderr().lock();
                let _ = write!(e, "\r\x1b[K");
                let _ = e.flush();
            }
        }
        self.shared.1.notify_all();
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

fn draw(st: Stage, elapsed: Duration) {
    let mut e = std::io::stderr().lock();
    let _ = write!(e, "\r\x1b[K{}", progress_line(st, elapsed));
    let _ = e.flush();
}

/// One malloc arena per core, not per thread, for the rest of this one-shot command (glibc):
/// with an arena per thread, what the parser threads free stays resident and cannot serve the
/// next stage's allocations. On a generated 100,000-resource workspace, on two cores, the
/// median peak went from about 850 to about 600 MiB with two arenas at the same speed, while a
/// single arena saved a little more memory but cost 40% more time in lock contention
/// (`scripts/bench-drift-scale.sh`).
fn arenas_per_core() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = i32::try_from(cores.clamp(2, 64)).unwrap_or(2);
        // SAFETY: mallopt only tunes the allocator; M_ARENA_MAX bounds the arenas created
        // from now on.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// [`PROGRESS_AFTER`]; in tests (feature `fault-injection`) `TFOPS_TEST_PROGRESS_AFTER_MS`
/// may set it, so that a test sees the line without a slow workspace.
fn progress_after() -> Duration {
    #[cfg(feature = "fault-injection")]
    if let Some(ms) = std::env::var("TFOPS_TEST_PROGRESS_AFTER_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        return Duration::from_millis(ms);
    }
    PROGRESS_AFTER
}

/// Detects drift now, prints the plan-like table (or the JSON report), writes
/// `logs/drift_<ts>.*`. Returns 0, or with `--detailed-exitcode` 0 no drift / 2 drift (as
/// `terraform plan -detailed-exitcode`; unknown addresses only with `--unknown-is-drift`).
///
/// # Errors
/// Broken HCL (naming `file:line:column`), an empty or invalid state, unreadable files: exit 1.
pub fn drift(ctx: &ConfiguredWorkspace, a: &super::DriftArgs) -> anyhow::Result<i32> {
    use std::io::IsTerminal;
    let cli = command_line_vars(a, std::env::args_os().skip(1));
    arenas_per_core();
    // For a person at a terminal only: never with --json, -q, or stderr piped or in a file.
    let progress = (std::io::stderr().is_terminal() && !a.json && !super::logging::quiet())
        .then(Progress::start);
    let cb = |st: Stage| {
        if let Some(p) = &progress {
            p.stage(st);
        }
    };
    let result = drift::detect_and_record_with(&ctx.ws, &ctx.config, &cli, Some(&cb));
    if let Some(p) = progress {
        p.finish();
    }
    match result {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_lines_say_the_stage_and_the_time() {
        let t = Duration::from_millis(1250);
        assert_eq!(
            progress_line(Stage::Parsing { files: 3 }, t),
            "drift: parsing 3 configuration files and the state… 1.2 s"
        );
        assert_eq!(
            progress_line(Stage::Evaluating, Duration::from_secs(2)),
            "drift: evaluating the configuration… 2.0 s"
        );
        assert_eq!(
            progress_line(Stage::Comparing { addresses: 100_000 }, t),
            "drift: comparing 100000 addresses… 1.2 s"
        );
    }
}
