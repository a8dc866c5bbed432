//! The command line: argument definitions and dispatch, one file per command.
//!
//! This is the edge: errors become one sentence on stderr that says what to do next (exit 1),
//! `--json` output is one document on stdout.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, ConfigError};
use crate::workspace::{ConfiguredWorkspace, Workspace};

pub mod config_check;
pub mod cost;
pub mod demo;
pub mod drift;
pub mod errors;
pub mod init;
pub mod logging;
pub mod prune;
pub mod requests;
pub mod run;
pub mod scenario;
pub mod shell;
pub mod state;
pub mod status;

/// Local operations and disaster recovery for a Terraform working directory.
///
/// tfops routes request files from balanceador/incoming_requests/ to healthy service_N/
/// inboxes, switches services off on cost schedules, snapshots and restores
/// iac/terraform.tfstate, and detects drift between iac/*.tf and the state — offline.
#[derive(Debug, Parser)]
#[command(
    name = "tfops",
    version,
    propagate_version = true,
    after_long_help = "Examples:
  tfops demo                          see everything work on a throw-away copy
  tfops run                           supervise the workspace in the current directory
  tfops --root ~/lab requests generate 100
  tfops status --json
  tfops restore --latest --dry-run    what a restore would change
  tfops drift --detailed-exitcode     0 in sync, 2 drift, 1 error
  tfops prune --dry-run               what retention keeps and drops, and why
  tfops init ~/new-lab                a new workspace (commands refuse other folders)

Reference: `tfops man`, and docs/reference.md in the repository (every command, flag,
config key with its default, file, JSON shape).

Exit codes (as Terraform's): 0 success; 1 any error, usage errors included (one sentence on
stderr says what to do next; with --json also {\"error\": {...}} on stdout); 2 only for drift
found under `drift --detailed-exitcode`; 3 a broken scenario (`scenario run`)."
)]
pub struct Cli {
    /// Workspace root (holds iac/, balanceador/, config/) [default: the current directory]
    #[arg(long, global = true, env = "TFOPS_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Configuration file [default: ROOT/config/tfops.hcl; missing = built-in defaults]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// More log output on stderr (one-shot commands log only with -v; -vv debug, -vvv trace);
    /// RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Terraform workspace [default: TF_WORKSPACE, then iac/.terraform/environment, then default]
    #[arg(long, global = true, value_name = "NAME")]
    pub workspace: Option<String>,
    /// Only errors: no results, progress or logs (a `--json` document is still printed)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the supervisor in the foreground (SIGHUP reloads, SIGTERM stops, SIGUSR1 snapshots)
    #[command(
        long_about = "Run the supervisor in the foreground: route requests from \
balanceador/incoming_requests/ to healthy service_N/ inboxes, check health, apply cost \
schedules, snapshot the state on change, detect drift.

One per workspace (.tfops/run.lock; the pid is in .tfops/run.pid). A start first finishes what \
a previous run left after a crash. Signals: SIGHUP reloads config/tfops.hcl (a broken one is \
refused and the old one kept; see `tfops status`), SIGTERM/SIGINT stop gracefully (exit 0, \
nothing half-moved), SIGUSR1 snapshots the state.

Simulate a failure by removing a marker: rm balanceador/service_2/service_2.txt; put it back \
to bring the service up again."
    )]
    Run(RunArgs),
    /// Work with request files
    #[command(subcommand)]
    Requests(RequestsCmd),
    /// Services, intake, errors, alarms, last snapshot and drift; with or without a supervisor
    Status(JsonArg),
    /// Snapshot the state now
    Backup,
    /// List snapshots with validity and flags, oldest first
    Backups(BackupsArgs),
    /// Put a snapshot back as the live state (preview, confirmation, atomic write)
    Restore(RestoreArgs),
    /// Recheck every snapshot against its sha256; exit 1 naming each bad one
    Verify(VerifyArgs),
    /// Detect drift between the configuration (*.tf) and the state, offline
    Drift(DriftArgs),
    /// Scripted drift scenarios
    #[command(subcommand)]
    Scenario(ScenarioCmd),
    /// Simulated cost accounting
    #[command(subcommand)]
    Cost(CostCmd),
    /// Configuration commands
    #[command(subcommand)]
    Config(ConfigCmd),
    /// A guided tour of everything on a throw-away copy of the workspace
    Demo,
    /// Create a new workspace in DIR (the bundled layout and a commented config)
    Init(InitArgs),
    /// Apply snapshot retention now, printing each snapshot kept or dropped and why
    Prune(PruneArgs),
    /// Print shell completions (bash, zsh or fish) on stdout
    #[command(after_long_help = "Install, e.g.:
  tfops completions bash > ~/.local/share/bash-completion/completions/tfops
  tfops completions zsh  > \"${fpath[1]}/_tfops\"
  tfops completions fish > ~/.config/fish/completions/tfops.fish")]
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout: tfops man > tfops.1; man ./tfops.1
    Man,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder of the new workspace (created if missing) [default: --root, TFOPS_ROOT or the current directory]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Print what would be kept and dropped, remove nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: shell::Shell,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Recover, evaluate schedules, apply `active`, one health check, route what has settled,
    /// flush logs, print `routed R, rejected E, waiting W`, exit
    #[arg(long)]
    pub once: bool,
    /// Serve the status page, /metrics and /api on ADDR (e.g. 127.0.0.1:9180); overrides
    /// `http.listen`. A non-loopback address needs a token (http.token or TFOPS_HTTP_TOKEN)
    #[arg(long, value_name = "ADDR", conflicts_with = "once")]
    pub listen: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct JsonArg {
    /// One JSON document on stdout
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BackupsArgs {
    /// One JSON document on stdout
    #[arg(long)]
    pub json: bool,
    /// List the snapshots in the replicas (state.replicate) instead
    #[arg(long)]
    pub remote: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Recheck the snapshots in the replicas (state.replicate) instead
    #[arg(long)]
    pub remote: bool,
}

#[derive(Debug, Subcommand)]
pub enum RequestsCmd {
    /// Write N requests into the intake atomically, named `PREFIX_<ts>_<i>.txt`, never overwriting
    Generate {
        /// How many requests
        n: u64,
        /// Name prefix
        #[arg(long, default_value = "req")]
        prefix: String,
    },
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Snapshot id (a folder name from `tfops backups`, never a path), or `latest`
    pub id: Option<String>,
    /// The newest valid snapshot by taken_at
    #[arg(long, conflicts_with = "id")]
    pub latest: bool,
    /// Do not ask for confirmation
    #[arg(long)]
    pub yes: bool,
    /// Restore across lineages or while Terraform holds the state
    #[arg(long)]
    pub force: bool,
    /// Show what would change and stop
    #[arg(long)]
    pub dry_run: bool,
    /// Take the snapshot from a replica (s3://bucket/prefix or file:///dir); ID is then a
    /// replica snapshot id from `tfops backups --remote`; without ID, the newest
    #[arg(long, value_name = "URL")]
    pub from: Option<String>,
}

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// One JSON document on stdout
    #[arg(long)]
    pub json: bool,
    /// Exit 0 no drift, 2 drift, 1 error (as `terraform plan -detailed-exitcode`)
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// No colour in the table (also when NO_COLOR is set or stdout is not a terminal)
    #[arg(long)]
    pub no_color: bool,
    /// With --detailed-exitcode, addresses that cannot be decided offline count as drift (2)
    #[arg(long)]
    pub unknown_is_drift: bool,
    /// Set an input variable, NAME=VALUE (repeatable; like `terraform -var`)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub var: Vec<String>,
    /// Read input variables from a .tfvars or .tfvars.json file (repeatable)
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_file: Vec<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ScenarioCmd {
    /// Apply a scenario's steps, detect drift, check its expectations (exit 0 held, 1 not, 3 broken)
    Run {
        /// Scenario file (HCL), e.g. config/scenarios/rename_service_1.hcl
        file: PathBuf,
        /// Run on the live workspace as a drill; every touched file is put back at the end
        #[arg(long)]
        in_place: bool,
        /// Leave the result in place (implies --in-place), originals kept as `FILE.orig`
        #[arg(long)]
        keep: bool,
    },
    /// Put back the originals left by `scenario run --keep`
    Revert,
}

#[derive(Debug, Subcommand)]
pub enum CostCmd {
    /// Hours up and off, cost and savings per service
    Report {
        /// One JSON document on stdout
        #[arg(long)]
        json: bool,
        /// Say which services the schedules would have off at TIME (RFC 3339 or "YYYY-MM-DD HH:MM")
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Validate the configuration; print every problem as file:line:column
    Check,
}

/// The root folder named by --root, TFOPS_ROOT or the current directory, canonicalized.
fn root_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    let root = match &cli.root {
        Some(r) => r.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    std::fs::canonicalize(&root).with_context(|| {
        format!(
            "workspace root {} does not exist; pass --root DIR or set TFOPS_ROOT (`tfops init DIR` creates a workspace)",
            root.display()
        )
    })
}

/// Resolves ROOT and the config file path; refuses a folder that is not a workspace.
fn locate(cli: &Cli) -> anyhow::Result<(Workspace, PathBuf)> {
    let root = root_dir(cli)?;
    if !init::is_workspace(&root) {
        anyhow::bail!(
            "{} is not a tfops workspace (it has neither iac/ nor config/); run tfops in a workspace, pass --root DIR or set TFOPS_ROOT, or create one with `tfops init {}`",
            root.display(),
            root.display()
        );
    }
    let ws = Workspace::new(root);
    let cfg = cli.config.clone().unwrap_or_else(|| ws.config_file());
    Ok((ws, cfg))
}

/// Loads the configuration for a command.
///
/// # Errors
/// When the config does not validate: every problem, then what to do.
pub fn load_context(
    ws: &Workspace,
    config_path: &std::path::Path,
) -> anyhow::Result<ConfiguredWorkspace> {
    let display = ws.rel(config_path).into_owned();
    match Config::load(config_path, &display, &ws.root) {
        Ok(config) => Ok(ConfiguredWorkspace {
            ws: ws.clone(),
            config,
            config_path: config_path.to_path_buf(),
        }),
        Err(e @ ConfigError::Invalid(_)) => Err(anyhow::anyhow!(
            "{e}\nthe configuration is invalid; fix the lines above (`tfops config check` rechecks)"
        )),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

/// Runs a parsed command line; returns the exit code.
///
/// # Errors
/// Any failure of the command, to be printed once by [`start`].
pub fn main(cli: Cli) -> anyhow::Result<i32> {
    // Commands that need no workspace.
    match &cli.command {
        Command::Init(a) => {
            let dir = match &a.dir {
                Some(d) => d.clone(),
                None => match &cli.root {
                    Some(r) => r.clone(),
                    None => std::env::current_dir().context("cannot read the current directory")?,
                },
            };
            return init::run(&dir);
        }
        Command::Completions(a) => return shell::completions(a.shell),
        Command::Man => return shell::man(),
        _ => {}
    }
    let (ws, config_path) = locate(&cli)?;
    // Test-only fault hook: a panic in a one-shot command (what a user would see of a bug).
    #[cfg(feature = "fault-injection")]
    if std::env::var_os("TFOPS_FAULT_PANIC_COMMAND").is_some() {
        panic!("injected fault (TFOPS_FAULT_PANIC_COMMAND)");
    }
    if let Command::Config(ConfigCmd::Check) = cli.command {
        // Like every command, first heal a scenario run in place that was killed mid-way.
        crate::drift::journal::heal(&ws)?;
        return config_check::run(&ws, &config_path);
    }
    let mut ctx = match (load_context(&ws, &config_path), &cli.command) {
        (Ok(ctx), _) => ctx,
        // `status` must work while someone is fixing the config (the daemon keeps the old one).
        (Err(e), Command::Status(_)) => {
            eprintln!(
                "warning: {e:#}
showing status with the built-in defaults"
            );
            ConfiguredWorkspace {
                config: Config::defaults(&ws.root),
                ws: ws.clone(),
                config_path: config_path.clone(),
            }
        }
        (Err(e), _) => return Err(e),
    };
    // #12: the Terraform workspace, pinned for the process; `run` resolves its paths itself.
    let adjust = !matches!(cli.command, Command::Run(_) | Command::Demo);
    if let Err(e) = state::select_workspace(&mut ctx, cli.workspace.as_deref(), adjust) {
        // Only the commands that read or write the state stop on a backend they cannot use;
        // `status` says so and goes on (the daemon's alarm shows the same), the rest go on.
        match cli.command {
            Command::Backup
            | Command::Backups(_)
            | Command::Restore(_)
            | Command::Verify(_)
            | Command::Drift(_)
            | Command::Scenario(_)
            | Command::Prune(_)
            | Command::Run(_)
            | Command::Demo => return Err(e),
            Command::Status(_) => eprintln!("warning: {e:#}"),
            _ => log::warn!("{e:#}"),
        }
    }
    if let Command::Drift(_) = cli.command {
        state::materialize_remote(&mut ctx)?;
    }
    // A scenario killed mid-way is healed by the next tfops command.
    crate::drift::heal_interrupted(&ctx)?;
    match cli.command {
        Command::Run(a) => run::run(&ctx, a.once, a.listen),
        Command::Requests(RequestsCmd::Generate { n, prefix }) => {
            requests::generate(&ctx, n, &prefix)
        }
        Command::Status(a) => status::run(&ctx, a.json),
        Command::Backup => state::backup(&ctx),
        Command::Backups(a) => state::backups(&ctx, a.json, a.remote),
        Command::Restore(mut a) => {
            // restic's habit: `restore latest` is `--latest` (no snapshot is named "latest").
            if a.id.as_deref() == Some("latest") {
                a.id = None;
                a.latest = true;
            }
            state::restore(&ctx, &a)
        }
        Command::Verify(a) => state::verify(&ctx, a.remote),
        Command::Drift(a) => drift::drift(&ctx, &a),
        Command::Scenario(ScenarioCmd::Run {
            file,
            in_place,
            keep,
        }) => drift::scenario_run(&ctx, &file, in_place || keep, keep),
        Command::Scenario(ScenarioCmd::Revert) => drift::scenario_revert(&ctx),
        Command::Cost(CostCmd::Report { json, at }) => cost::report(&ctx, json, at.as_deref()),
        Command::Config(ConfigCmd::Check) => unreachable!("handled above"),
        Command::Demo => demo::run(&ctx),
        Command::Prune(a) => prune::run(&ctx, a.dry_run),
        Command::Init(_) | Command::Completions(_) | Command::Man => {
            unreachable!("handled above")
        }
    }
}

/// Whether the command line asks for JSON output (also when it does not parse).
fn wants_json(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .take_while(|a| *a != "--")
        .any(|a| a == "--json")
}

/// The whole program: parse `args`, set up logging, run, report. Returns the exit code.
///
/// Exit codes are Terraform's: 0 success, 1 any error (usage errors too), 2 only for drift
/// under `drift --detailed-exitcode`, 3 a broken scenario. A closed stdout ends quietly.
pub fn start(args: Vec<std::ffi::OsString>) -> i32 {
    crate::panic::install_user_facing();
    let json = wants_json(&args);
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => return errors::usage(&e, json),
    };
    logging::init(&cli);
    let quiet_stdout =
        cli.quiet && !json && !matches!(cli.command, Command::Completions(_) | Command::Man);
    if quiet_stdout {
        logging::silence_stdout();
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| main(cli))) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => errors::report(&e, json),
        // The hook has said it in one sentence.
        Err(_) => {
            if json {
                let doc = errors::ErrorDoc {
                    message: "tfops hit an internal error (a bug)".into(),
                    hint: Some("please report it with the command you ran".into()),
                    file: None,
                    line: None,
                    column: None,
                };
                println!("{}", doc.to_json());
            }
            1
        }
    }
}
