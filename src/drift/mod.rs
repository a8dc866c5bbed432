//! Drift: the configuration of one module (`drift.dir/*.tf`) against the Terraform state
//! (`state.path`), offline and without Terraform — like `terraform plan -refresh=false`.
//!
//! **Scope, plainly:** this is configuration against state, *not* state against the real
//! cloud. Nothing here asks a provider what exists; a resource deleted by hand in the cloud
//! but still in the state is not drift to tfops (it is to `terraform plan` with refresh).
//!
//! # What is compared
//!
//! The user's reference is `docs/drift.md`. In short:
//! - Desired ([`model`]): `*.tf` and `*.tf.json`, override files merged, variables ([`vars`]:
//!   defaults, `TF_VAR_*`, tfvars, `drift { var_files, vars }`, `--var-file` / `--var`,
//!   types), locals, templates, functions and nested / `dynamic` blocks evaluated ([`eval`]);
//!   child modules (local sources, or installed by `terraform init`) expanded with their
//!   `count` / `for_each`; `moved`, `removed`, `ignore_changes`, `replace_triggered_by` read.
//!   What cannot be evaluated offline is `unknown` with its reason, never in sync.
//! - Recorded ([`state`]): the current objects of the state (formats 1-4) through the one
//!   reader, `crate::state::model`; deposed objects are never compared.
//! - The diff ([`diff`]): create, destroy, update, replace, moved (blocks and implicit count
//!   moves), forget, root outputs, renamed pairs; typed comparison for `terraform_data` and
//!   `null_resource`.
//! - The report ([`report`]): a plan-like table or the versioned JSON; every run of
//!   [`detect_and_record`] writes `logs/drift_<ts>.json` and `.log`.
//!
//! [`detect`] parses the `.tf` files one per thread (one thread fewer than there are cores, at
//! least one: the calling thread is one of them) and streams the state on a thread beside them.
//!
//! # Scenarios
//!
//! [`scenario`] runs a scenario file (`config/scenarios/*.hcl`): steps `rename`, `set`,
//! `remove`, `add` (configuration, rewritten with hcl-edit, format kept) and `delete_state`,
//! `corrupt_state { truncate_to = N }`; then detection; then the `expect` block (`create`,
//! `destroy`, `update`, `unknown`, `ignored`: a list of addresses or a count; `renamed`: a count
//! or a list of `{ from, to }`; `in_sync`, `exit_code`: numbers), with the ignore rules of
//! `drift.ignore` and `.driftignore` applied as `tfops drift` applies them. On a temporary copy by default; in
//! place with a journal ([`journal`]) that puts every file back byte for byte, also after
//! Ctrl-C, and after kill -9 at the next tfops command ([`heal_interrupted`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::config::Config;
use crate::workspace::{ConfiguredWorkspace, Workspace};

pub mod diff;
pub mod error;
pub mod eval;
pub mod functions;
pub mod ignore;
pub mod ignore_changes;
pub mod journal;
pub mod known;
pub mod model;
pub mod modules;
pub mod report;
pub mod scenario;
pub mod state;
pub mod value;
pub mod vars;

pub use error::DriftError;
pub use report::Report;

/// Where to look, and how to name it in messages and reports.
#[derive(Debug, Clone)]
pub struct Target {
    /// The module folder holding `*.tf`.
    pub dir: PathBuf,
    /// The state file (may be missing).
    pub state: PathBuf,
    /// `dir` as shown (relative to the workspace root).
    pub dir_display: String,
    /// `state` as shown.
    pub state_display: String,
    /// Variable values beyond the module's own files: the `drift {}` block's `var_files` and
    /// `vars`, then `--var-file` / `--var`, in order.
    pub vars: Vec<vars::CliArg>,
}

impl Target {
    /// The workspace's own module folder and state, from the config.
    pub fn of(ws: &Workspace, cfg: &Config) -> Target {
        Target {
            dir: cfg.drift.dir.clone(),
            state: cfg.state.path.clone(),
            dir_display: ws.rel(&cfg.drift.dir).into_owned(),
            state_display: ws.rel(&cfg.state.path).into_owned(),
            vars: cfg
                .drift
                .var_files
                .iter()
                .map(|f| vars::CliArg::VarFile(f.clone()))
                .chain(
                    cfg.drift
                        .vars
                        .iter()
                        .map(|(n, v)| vars::CliArg::Var(format!("{n}={v}"))),
                )
                .collect(),
        }
    }
}

/// Detects drift in the workspace: `drift.dir/*.tf` against `state.path`, with the ignore
/// rules of `drift.ignore` and `drift.dir/.driftignore`. Writes nothing.
///
/// # Errors
/// Broken HCL ([`DriftError::Hcl`], with `file:line:column`), a duplicate resource, an empty or
/// invalid state, a bad ignore rule, or a file that cannot be read.
pub fn detect(ws: &Workspace, cfg: &Config) -> Result<Report, DriftError> {
    detect_with(&Target::of(ws, cfg), &Options::of(ws, cfg))
}

/// The name of the ignore file in a module folder.
pub const DRIFTIGNORE: &str = ".driftignore";

/// The largest `.driftignore` read (1 MiB); a bigger one is refused.
pub const MAX_DRIFTIGNORE: u64 = 1 << 20;

/// A stage of a detection, for progress on a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading and parsing this many configuration files (and the state beside them).
    Parsing { files: usize },
    /// Evaluating the configuration (variables, locals, expansion).
    Evaluating,
    /// Comparing this many addresses (desired and recorded).
    Comparing { addresses: usize },
}

/// What a detection is given beside its [`Target`].
#[derive(Default)]
pub struct Options<'a> {
    /// `TF_VAR_*` values by variable name; `None`: this process's environment.
    pub env: Option<std::collections::BTreeMap<String, String>>,
    /// Rules from the configuration (`drift.ignore`); the module's `.driftignore` comes after
    /// them (and so decides when both match).
    pub ignore: ignore::IgnoreRules,
    /// The workspace root: a `.driftignore` that is a link must resolve inside it. `None`:
    /// inside the module folder.
    pub root: Option<PathBuf>,
    /// Told when each stage starts.
    pub progress: Option<&'a (dyn Fn(Stage) + Sync)>,
    /// The module folder that `Target::dir` is a copy of, holding only its `.tf` and
    /// variables files (a scenario's): child module sources, variables files and the file
    /// functions are read there. `None`: `Target::dir` itself.
    pub origin: Option<PathBuf>,
}

impl Options<'_> {
    /// The configuration's rules and the workspace's root.
    pub fn of(ws: &Workspace, cfg: &Config) -> Options<'static> {
        Options {
            env: None,
            ignore: cfg.drift.ignore.clone(),
            root: Some(ws.root.clone()),
            progress: None,
            origin: None,
        }
    }

    fn stage(&self, s: Stage) {
        if let Some(p) = self.progress {
            p(s);
        }
    }
}

/// Reads `dir/.driftignore` (absent: no rules). Refused, like other files tfops reads from a
/// workspace: anything but a regular file (a fifo never blocks), a link that leads outside
/// both `root` and `dir`, more than [`MAX_DRIFTIGNORE`] bytes, text that is not UTF-8 (named by line and
/// column), and rules that cannot be understood (named by line).
///
/// # Errors
/// As above; [`DriftError::Io`] or [`DriftError::Ignore`].
pub fn load_driftignore(
    dir: &Path,
    dir_display: &str,
    root: &Path,
) -> Result<ignore::IgnoreRules, DriftError> {
    use std::io::Read as _;
    let path = dir.join(DRIFTIGNORE);
    let display = format!("{dir_display}/{DRIFTIGNORE}");
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ignore::IgnoreRules::default())
        }
        Err(e) => return Err(DriftError::io(&path, e)),
    };
    // What is opened is what was checked: the link's resolved target, or the file itself,
    // either way without following a link swapped in meanwhile.
    let mut open_path = path.clone();
    if meta.file_type().is_symlink() {
        let refused = |why: &str| {
            DriftError::io(
                &path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_string()),
            )
        };
        let target = std::fs::canonicalize(&path)
            .map_err(|_| refused("a link that leads nowhere; tfops does not follow it"))?;
        let root = std::fs::canonicalize(root).map_err(|e| DriftError::io(root, e))?;
        // The module folder may itself live elsewhere (drift.dir is the user's choice).
        let module = std::fs::canonicalize(dir).map_err(|e| DriftError::io(dir, e))?;
        if !target.starts_with(&root) && !target.starts_with(&module) {
            return Err(refused(
                "a link that leads outside the workspace; tfops does not follow it",
            ));
        }
        open_path = target;
    }
    let f = crate::fsutil::open_read_regular(&open_path, false)
        .map_err(|e| DriftError::io(&path, e))?;
    let mut bytes = Vec::new();
    f.take(MAX_DRIFTIGNORE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| DriftError::io(&path, e))?;
    if bytes.len() as u64 > MAX_DRIFTIGNORE {
        return Err(DriftError::io(
            &path,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "larger than {} KiB; tfops reads ignore files up to that size",
                    MAX_DRIFTIGNORE >> 10
                ),
            ),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let (line, column) = crate::text::utf8_error_position(&e);
        DriftError::Hcl {
            file: display.clone(),
            line,
            column,
            message: "the file is not valid UTF-8".into(),
        }
    })?;
    Ok(ignore::IgnoreRules::parse(&text, &display)?)
}

/// The `*.tf` and `*.tf.json` files of a module folder, sorted by name.
///
/// # Errors
/// When the folder cannot be listed.
pub fn tf_files(dir: &Path) -> Result<Vec<PathBuf>, DriftError> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| DriftError::io(dir, e))? {
        let e = e.map_err(|e| DriftError::io(dir, e))?;
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let is_tf = (name.ends_with(".tf") || name.ends_with(".tf.json")) && !name.starts_with('.');
        if is_tf && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// True for the name of a variables file drift reads by itself in the module folder:
/// `terraform.tfvars(.json)` and `*.auto.tfvars(.json)`.
pub fn is_variables_file(name: &str) -> bool {
    name == "terraform.tfvars"
        || name == "terraform.tfvars.json"
        || name.ends_with(".auto.tfvars")
        || name.ends_with(".auto.tfvars.json")
}

/// The files of a module folder that drift reads beside its `.driftignore`: `*.tf`,
/// `terraform.tfvars(.json)` and `*.auto.tfvars(.json)` (what a scenario's temporary copy
/// needs; the ignore rules are read from the module folder itself, see [`load_driftignore`]).
///
/// # Errors
/// When the folder cannot be listed.
pub fn module_files(dir: &Path) -> Result<Vec<PathBuf>, DriftError> {
    let mut files = tf_files(dir)?;
    for e in std::fs::read_dir(dir).map_err(|e| DriftError::io(dir, e))? {
        let e = e.map_err(|e| DriftError::io(dir, e))?;
        let n = e.file_name().to_string_lossy().into_owned();
        if is_variables_file(&n) && e.path().is_file() {
            files.push(e.path());
        }
    }
    Ok(files)
}

/// Detects drift for an explicit target (a scenario's temp copy, a bench).
///
/// # Errors
/// As [`detect`].
pub fn detect_target(t: &Target) -> Result<Report, DriftError> {
    detect_with(t, &Options::default())
}

/// As [`detect_target`], with the `TF_VAR_*` values given (by variable name) instead of read
/// from this process's environment.
///
/// # Errors
/// As [`detect`].
pub fn detect_target_env(
    t: &Target,
    env: std::collections::BTreeMap<String, String>,
) -> Result<Report, DriftError> {
    detect_with(
        t,
        &Options {
            env: Some(env),
            ..Options::default()
        },
    )
}

/// Detects drift for `t` with `o`: its environment, ignore rules (then the module's
/// `.driftignore`), and a progress callback.
///
/// # Errors
/// As [`detect`].
pub fn detect_with(t: &Target, o: &Options<'_>) -> Result<Report, DriftError> {
    let t0 = std::time::Instant::now();
    let mut rules = o.ignore.clone();
    rules.extend(load_driftignore(
        &t.dir,
        &t.dir_display,
        o.root.as_deref().unwrap_or(&t.dir),
    )?);
    let env = o.env.clone().unwrap_or_else(model::Inputs::env_vars);
    let files = tf_files(&t.dir)?;
    o.stage(Stage::Parsing { files: files.len() });
    // One core is the state parser's: another HCL worker would only add a syntax tree in
    // flight (peak memory) without more CPU to parse it. This thread is one of the workers:
    // what it allocates for the parsed files is in its own malloc arena, where the expansion
    // after it (on this thread too) reuses what each parsed block gives back as it is
    // consumed, instead of growing another arena beside one whose memory it cannot reuse.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get().saturating_sub(1))
        .unwrap_or(1)
        .clamp(1, files.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<model::FileModel, DriftError>)>> =
        Mutex::new(Vec::with_capacity(files.len()));
    // One file at a time per worker, until none is left.
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(p) = files.get(i) else { break };
        let r = parse_one(p, t);
        if let Ok(mut v) = results.lock() {
            v.push((i, r));
        }
    };
    let load_state = || {
        let r = state::load_state(&t.state, &t.state_display);
        log::debug!("state parsed at {:?} ({})", t0.elapsed(), memory());
        r
    };
    let recorded = std::thread::scope(|s| {
        // The state is parsed beside the HCL; if no thread can be started, all runs here.
        let st = std::thread::Builder::new()
            .name("drift-state".into())
            .spawn_scoped(s, load_state)
            .ok();
        let workers: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .name("drift-hcl".into())
                    .spawn_scoped(s, work)
                    .ok()
            })
            .collect();
        work();
        for w in workers {
            if w.join().is_err() {
                log::warn!("a drift parser thread panicked");
            }
        }
        let recorded = match st {
            Some(h) => h.join().unwrap_or_else(|_| {
                Err(DriftError::StateInvalid {
                    state: t.state_display.clone(),
                    reason: "the state parser panicked".into(),
                })
            }),
            None => load_state(),
        };
        log::debug!(
            "parsed {} .tf files on {threads} threads and the state at {:?} ({})",
            files.len(),
            t0.elapsed(),
            memory()
        );
        recorded
    });
    let mut parsed = results.into_inner().unwrap_or_default();
    if parsed.len() != files.len() {
        return Err(DriftError::Hcl {
            file: t.dir_display.clone(),
            line: 1,
            column: 1,
            message: "a .tf file could not be parsed (parser thread failed)".into(),
        });
    }
    parsed.sort_by_key(|(i, _)| *i);
    let mut models = Vec::with_capacity(parsed.len());
    for (_, r) in parsed {
        models.push(r?);
    }
    o.stage(Stage::Evaluating);
    // The parsers' syntax trees are gone: give their memory back before the expansion.
    release_freed_memory();
    let inputs = model::Inputs {
        env,
        dir: Some(o.origin.clone().unwrap_or_else(|| t.dir.clone())),
        display: t.dir_display.clone(),
        cli: t.vars.clone(),
        known: known::Known::new(),
    };
    let mut desired = model::expand_inputs(models, inputs.clone())?;
    let recorded = recorded?;
    release_freed_memory();
    log::debug!("expanded at {:?} ({})", t0.elapsed(), memory());
    o.stage(Stage::Comparing {
        addresses: desired.instances.len().max(recorded.instances.len()),
    });
    let mut d = diff::diff(&desired, &recorded);
    // References to resources the plan leaves as they are: known from the state. Each pass
    // gives the resources found in sync so far and detects again, while that adds any.
    let mut known = known::Known::new();
    for pass in 2..=MAX_PASSES {
        if !d
            .unknown
            .iter()
            .any(|u| u.reason.contains(known::AFTER_APPLY_MARK))
        {
            break;
        }
        let next = known::in_sync_resources(&desired, &recorded, &d);
        if next.len() <= known.len() {
            break;
        }
        known = next;
        log::debug!(
            "drift pass {pass}: {} resource(s) in sync give their references",
            known.len()
        );
        // The files parsed again, one after the other.
        let models = files
            .iter()
            .map(|p| parse_one(p, t))
            .collect::<Result<Vec<_>, _>>()?;
        drop(desired);
        desired = model::expand_inputs(
            models,
            model::Inputs {
                known: known.clone(),
                ..inputs.clone()
            },
        )?;
        d = diff::diff(&desired, &recorded);
    }
    let ignored = ignore::apply(&rules, &mut d, &desired, &recorded);
    log::debug!("compared at {:?} ({})", t0.elapsed(), memory());
    let missing = recorded.missing;
    let module_dirs = std::mem::take(&mut desired.module_dirs);
    // Freeing two large trees is pure malloc work: let it happen off the caller's path.
    let _ = std::thread::Builder::new()
        .name("drift-free".into())
        .spawn(move || drop((desired, recorded)));
    let mut report = Report::new(
        d,
        &t.dir_display,
        &t.state_display,
        missing,
        crate::fsutil::json_ts(chrono::Local::now()),
    );
    report.set_ignored(ignored);
    report.module_dirs = module_dirs;
    Ok(report)
}

/// The most detections one run makes to follow references between resources in sync (a
/// chain longer than this leaves its far end unknown).
const MAX_PASSES: usize = 16;

/// Reads and parses one configuration file of `t`'s module folder, named in errors as
/// `<dir>/<file>`.
fn parse_one(p: &Path, t: &Target) -> Result<model::FileModel, DriftError> {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let display = format!("{}/{name}", t.dir_display);
    read_tf(p, &display).and_then(|text| model::parse_any(&text, &display))
}

/// `resident N MiB, peak M MiB` of this process (Linux), for the debug log of each stage.
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    format!(
        "resident {} MiB, peak {} MiB",
        kib("VmRSS:") >> 10,
        kib("VmHWM:") >> 10
    )
}

/// Returns memory freed by earlier stages to the system. Each parser thread allocates in its
/// own malloc arena (glibc), and what it frees there stays resident and unusable by the next
/// stage's thread: at 100,000 resources that was about as much again as the live data.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the allocator's arenas to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

pub(crate) fn read_tf(p: &Path, display: &str) -> Result<String, DriftError> {
    let bytes = crate::fsutil::read_regular(p, true).map_err(|e| DriftError::io(p, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let (line, column) = crate::text::utf8_error_position(&e);
        DriftError::Hcl {
            file: display.to_string(),
            line,
            column,
            message: "the file is not valid UTF-8".into(),
        }
    })
}

/// Detects drift in the workspace and writes `logs/drift_<ts>.json` and `.log`, bounded by
/// `drift.keep_reports`. A failed run writes nothing.
///
/// # Errors
/// The detection error, or an I/O error writing the report.
pub fn detect_and_record(ws: &Workspace, cfg: &Config) -> Result<(Report, PathBuf), DriftError> {
    detect_and_record_with(ws, cfg, &[], None)
}

/// As [`detect_and_record`], with command-line variables (`--var-file` / `--var`, in order,
/// after the configuration's), telling `progress` of each stage.
///
/// # Errors
/// As [`detect_and_record`].
pub fn detect_and_record_with(
    ws: &Workspace,
    cfg: &Config,
    cli: &[vars::CliArg],
    progress: Option<&(dyn Fn(Stage) + Sync)>,
) -> Result<(Report, PathBuf), DriftError> {
    let now = chrono::Local::now();
    let ts = crate::fsutil::name_ts(now);
    let opts = Options {
        progress,
        ..Options::of(ws, cfg)
    };
    let mut target = Target::of(ws, cfg);
    target.vars.extend(cli.iter().cloned());
    match detect_with(&target, &opts) {
        Ok(r) => {
            let path = report::write_files(
                &ws.logs(),
                &ts,
                &r.to_json(),
                &r.table(),
                cfg.drift.keep_reports,
            )
            .map_err(|e| DriftError::io(ws.logs(), e))?;
            log::debug!("drift report {}", ws.rel(&path));
            Ok((r, path))
        }
        // A failed run (broken HCL, an empty or invalid state) writes no report: the error
        // goes to the caller (stderr, the daemon's log), never into logs/ as a fake result.
        Err(e) => Err(e),
    }
}

/// `{"detected_at", "summary"}` of the newest `logs/drift_*.json` (for `status`); `None` when
/// drift never ran. Cheap: reads one small file.
pub fn last_drift(ws: &Workspace) -> Option<serde_json::Value> {
    report::last(&ws.logs())
}

/// A scenario run killed mid-way whose files cannot be put back.
#[derive(Debug, thiserror::Error)]
#[error("{0}; cannot put back the files of an interrupted scenario")]
pub struct HealError(#[from] pub journal::JournalError);

/// Heals a scenario run that was killed mid-way (puts journaled originals back).
///
/// # Errors
/// When an original cannot be put back.
pub fn heal_interrupted(ctx: &ConfiguredWorkspace) -> Result<(), HealError> {
    journal::heal(&ctx.ws).map(|_| ()).map_err(HealError)
}
