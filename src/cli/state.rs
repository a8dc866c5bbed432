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
use crate::workspace::{ConfiguredWorkspace, Workspace};

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
pub fn backup(ctx: &ConfiguredWorkspace) -> anyhow::Result<i32> {
    if let Some(r) = remote_state(ctx)? {
        let rc = backup_remote(ctx, &r)?;
        replicate_now(ctx);
        return Ok(rc);
    }
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
        origin: None,
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
    replicate_now(ctx);
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
pub fn backups(ctx: &ConfiguredWorkspace, json: bool, remote: bool) -> anyhow::Result<i32> {
    if remote {
        return backups_remote(ctx, json);
    }
    let list = snapshot::list_checked(&ctx.config.state.backups)
        .map_err(|e| snapshot_error(&ctx.ws, e))?;
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
fn menu(ctx: &ConfiguredWorkspace) -> anyhow::Result<Option<String>> {
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

fn print_plan(ctx: &ConfiguredWorkspace, plan: &RestorePlan) {
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
            print_lineage(&info.lineage, &plan.info.lineage);
        }
    }
    if let Some(l) = &plan.tf_lock {
        println!(
            "  warning: Terraform holds the state ({}); restoring anyway (--force)",
            l.describe()
        );
    }
    print_preview(&plan.preview);
}

/// `tfops restore [ID | --latest] [--yes] [--force] [--dry-run]`.
///
/// # Errors
/// Every refusal and failure, as one sentence saying what to do next.
pub fn restore(ctx: &ConfiguredWorkspace, args: &RestoreArgs) -> anyhow::Result<i32> {
    let cfg = &ctx.config;
    let remote = remote_state(ctx)?;
    let target = match (&args.id, args.latest, &args.from) {
        (_, _, Some(url)) => import_from(ctx, url, args)?,
        (id, latest, None) => match (id, latest) {
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
        },
    };
    if let Some(r) = &remote {
        return restore_remote(ctx, r, &target, args);
    }
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
pub fn verify(ctx: &ConfiguredWorkspace, remote: bool) -> anyhow::Result<i32> {
    if remote {
        return verify_remote(ctx);
    }
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
    let bad_ids: Vec<String> = results
        .iter()
        .filter(|r| r.problem.is_some())
        .map(|r| r.id.clone())
        .collect();
    for g in shared_file_groups(&ctx.config.state.backups, &bad_ids) {
        println!(
            "note: {} snapshots share ONE damaged file (hard links of identical content): {}; that is one bad copy, not {}{}",
            g.len(),
            g.join(", "),
            g.len(),
            if ctx.config.state.replicate.is_empty() {
                "; a replica (state.replicate) keeps a second copy elsewhere".to_string()
            } else {
                "; the replicas keep a second copy: `tfops verify --remote`, then `tfops restore --from URL`".to_string()
            }
        );
    }
    anyhow::bail!(
        "{} of {} snapshots failed verification: {}; restore from another one (`tfops backups` lists them)",
        bad.len(),
        results.len(),
        bad.join(", ")
    )
}

// ---------------------------------------------------------------------------------------------
// Remote state, workspaces and replicas (#12)

use crate::state::backend::{self, Backend};
use crate::state::remote::{self, RemoteError, RemotePlan, RemoteState};
use crate::state::replica_store::{self, Pick, Replica, ReplicaError};

/// Resolves the Terraform workspace (`--workspace`, `TF_WORKSPACE`, `.terraform/environment`,
/// `default`), pins it for the whole process, and, when `adjust`, points the context's
/// `state.path` / `state.backups` at it (`terraform.tfstate.d/<ws>/`, `backups/<ws>/`).
///
/// # Errors
/// A workspace name that is not a safe folder name.
pub fn select_workspace(
    ctx: &mut ConfiguredWorkspace,
    flag: Option<&str>,
    adjust: bool,
) -> anyhow::Result<()> {
    let env = std::env::var("TF_WORKSPACE").ok();
    let name = backend::resolve_workspace(flag, env.as_deref(), &ctx.config.drift.dir)
        .map_err(|e| anyhow::anyhow!("{e}; pass --workspace NAME with a valid name"))?;
    backend::pin_workspace(&name);
    if !adjust {
        return Ok(());
    }
    let b = backend::discover(&ctx.config.drift.dir).unwrap_or(Backend::local());
    let local_set = matches!(&b, Backend::Local(l) if l.is_set());
    if name != backend::DEFAULT_WORKSPACE || local_set {
        let t = backend::Target {
            workspace: name,
            backend: b,
        };
        ctx.config = t
            .apply_in(&ctx.config, &ctx.ws.root)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

fn workspace() -> &'static str {
    backend::pinned_workspace().unwrap_or(backend::DEFAULT_WORKSPACE)
}

/// The remote state of the selected workspace, when the root module uses `backend "s3"`.
fn remote_state(ctx: &ConfiguredWorkspace) -> anyhow::Result<Option<RemoteState>> {
    match backend::discover(&ctx.config.drift.dir) {
        Ok(Backend::Local(_)) => Ok(None),
        Ok(Backend::S3(b)) => Ok(Some(
            RemoteState::new(&b, workspace()).map_err(|e| remote_error(&ctx.ws, e))?,
        )),
        Err(e) => Err(anyhow::anyhow!(
            "{e}; fix the backend settings (or run `terraform init`) and try again"
        )),
    }
}

fn remote_error(ws: &Workspace, e: RemoteError) -> anyhow::Error {
    let msg = match e {
        RemoteError::Snapshot(e) => return snapshot_error(ws, e),
        RemoteError::Store { url, source } => format!(
            "{url}: {source}; check the endpoint, the bucket and the AWS credentials (the AWS_* variables, or the profile files)"
        ),
        RemoteError::Missing { url } => format!(
            "the state {url} does not exist, so there is nothing to snapshot; `tfops restore --latest` puts the newest valid snapshot back"
        ),
        RemoteError::Invalid { url, reason } => format!(
            "the state {url} is not valid ({reason}), so it was not snapshotted; `tfops restore --latest` puts the newest valid snapshot back"
        ),
        RemoteError::NoValidSnapshot { dir } => format!(
            "there is no valid snapshot in {} to restore; `tfops backups` lists what is there (or `tfops restore --from URL --latest` takes one from a replica)",
            rel(ws, &dir)
        ),
        RemoteError::LineageMismatch { id, snapshot, current, url } => format!(
            "snapshot {id} belongs to another state (lineage {snapshot}, while {url} has lineage {current}); pass --force to restore it anyway"
        ),
        RemoteError::Locked { url, lock_url, holder } => format!(
            "Terraform holds the state {url}: its lock object {lock_url} is {holder}; wait for it to finish (or remove a stale lock with `terraform force-unlock`), or pass --force"
        ),
        RemoteError::LockInvisible { url, table } => format!(
            "the state {url} is locked through the DynamoDB table {table:?}, which tfops cannot see, so it cannot tell whether Terraform is writing; make sure no Terraform run is active and pass --force (or set use_lockfile = true in the backend)"
        ),
        e @ RemoteError::Profile(_) => format!(
            "{e}; fix that profile file (or choose another profile with AWS_PROFILE or the backend's `profile`), or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        ),
        RemoteError::ChangedSincePreview { url } => format!(
            "the state {url} changed since the preview (someone wrote it), so nothing was restored and nothing was overwritten; run `tfops restore` again to see the new state"
        ),
        other => format!("{other}"),
    };
    anyhow::anyhow!(msg)
}

fn replica_error(ws: &Workspace, e: ReplicaError) -> anyhow::Error {
    match e {
        ReplicaError::Snapshot(e) => snapshot_error(ws, e),
        ReplicaError::Remote(e) => remote_error(ws, e),
        ReplicaError::NotFound { url, id, .. } => anyhow::anyhow!(
            "{url}: no snapshot {id} in workspace {}; `tfops backups --remote` lists the snapshots in {url}",
            workspace()
        ),
        e @ (ReplicaError::Store { .. } | ReplicaError::Request { .. }) => anyhow::anyhow!(
            "{e}; check the replica URL, the endpoint (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL) and the credentials"
        ),
        e => anyhow::anyhow!("{e}; `tfops verify --remote` checks the replicas"),
    }
}

/// One-shot replication after `tfops backup`: every pending snapshot goes to every replica;
/// a replica that fails is reported, the local snapshot stays.
fn replicate_now(ctx: &ConfiguredWorkspace) {
    let cfg = &ctx.config;
    if cfg.state.replicate.is_empty() {
        return;
    }
    let ledger = replica_store::ledger_path(&ctx.ws.dot_tfops(), workspace());
    let (c, w, l) = (cfg.clone(), workspace().to_string(), ledger.clone());
    let host = crate::state::replica::host_name();
    match remote::block_on(async move { replica_store::sync_all(&c, &w, &l, &host).await }) {
        Ok(n) => {
            let led = replica_store::read_ledger(&ledger);
            for r in &led.replicas {
                match &r.last_error {
                    Some(e) => eprintln!(
                        "warning: replica {} not updated ({} pending): {e}; `tfops run` (or the next `tfops backup`) retries",
                        r.url,
                        r.pending.len()
                    ),
                    None => println!("replica {}: up to date", r.url),
                }
            }
            log::debug!("replicated {n} snapshots");
        }
        Err(e) => eprintln!("warning: replication did not run: {e}"),
    }
}

fn backup_remote(ctx: &ConfiguredWorkspace, r: &RemoteState) -> anyhow::Result<i32> {
    let t = remote::backup(&ctx.config, r, "manual").map_err(|e| remote_error(&ctx.ws, e))?;
    let m = &t.meta;
    println!(
        "snapshot {} of {}: serial {}, {} resources, {}{}",
        t.id,
        r.url(),
        m.serial,
        m.resources,
        size(m.bytes),
        m.version_id
            .as_ref()
            .map(|v| format!(", version {v}"))
            .unwrap_or_default()
    );
    if !m.flags.is_empty() {
        println!("flags: {}", m.flags.join(", "));
    }
    for p in &t.pruned {
        println!("pruned {p} (retention)");
    }
    Ok(0)
}

/// `tfops backups --remote`: the snapshots in each replica of the selected workspace.
///
/// # Errors
/// When no replica is configured or one cannot be listed.
pub fn backups_remote(ctx: &ConfiguredWorkspace, json: bool) -> anyhow::Result<i32> {
    let urls = &ctx.config.state.replicate;
    if urls.is_empty() {
        anyhow::bail!("no replica is configured; add state {{ replicate = [\"s3://bucket/prefix\"] }} to the config");
    }
    let mut out = Vec::new();
    for url in urls {
        let rep = Replica::open(url).map_err(|e| replica_error(&ctx.ws, e))?;
        let w = workspace().to_string();
        let (docs, bad) = replica_store::run(&rep, move |r| async move { r.list(&w).await })
            .map_err(|e| replica_error(&ctx.ws, e))?;
        out.push((url.clone(), docs, bad));
    }
    if json {
        let doc = serde_json::json!({
            "workspace": workspace(),
            "replicas": out.iter().map(|(url, docs, bad)| serde_json::json!({
                "url": url,
                "snapshots": docs.iter().map(|d| serde_json::json!({
                    "id": d.id, "local_id": d.local_id, "host": d.host,
                    "taken_at": d.meta.taken_at, "serial": d.meta.serial,
                    "lineage": d.meta.lineage, "resources": d.meta.resources,
                    "bytes": d.meta.bytes, "sha256": d.meta.sha256, "flags": d.meta.flags,
                })).collect::<Vec<_>>(),
                "unreadable": bad.iter().map(|(k, r)| serde_json::json!({"key": k, "reason": r})).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    for (url, docs, bad) in &out {
        println!(
            "{url} (workspace {}): {} snapshots",
            workspace(),
            docs.len()
        );
        for d in docs {
            println!(
                "  {}  {}  serial {}  {} resources  {}  host {}",
                d.id,
                d.meta.taken_at,
                d.meta.serial,
                d.meta.resources,
                size(d.meta.bytes),
                d.host
            );
        }
        for (k, r) in bad {
            println!("  unreadable {k}: {r}");
        }
    }
    Ok(0)
}

/// `tfops verify --remote`: every snapshot in every replica against its sha256: by the
/// SHA-256 checksum the store keeps for the blob when it keeps one, else (also when the store
/// cannot give it) by reading the blob. Each line says which, or that the blob is missing or
/// could not be checked (`ERR`); one blob's or one replica's failure does not stop the others'
/// check.
///
/// # Errors
/// When a snapshot is bad, missing or could not be checked (naming each), or a replica cannot
/// be read.
pub fn verify_remote(ctx: &ConfiguredWorkspace) -> anyhow::Result<i32> {
    use replica_store::Checked;
    let urls = &ctx.config.state.replicate;
    if urls.is_empty() {
        anyhow::bail!("no replica is configured; add state {{ replicate = [\"s3://bucket/prefix\"] }} to the config");
    }
    let mut bad = Vec::new();
    let mut unchecked = Vec::new();
    let mut total = 0;
    let mut by_checksum = std::collections::BTreeSet::new();
    let mut by_reading = std::collections::BTreeSet::new();
    let mut not_checked = std::collections::BTreeSet::new();
    let mut missing = std::collections::BTreeSet::new();
    let mut lost = Vec::new();
    // Replicas that could not be opened or listed: (url, why). With several replicas, the
    // others are still checked.
    let mut unread: Vec<(String, String)> = Vec::new();
    for url in urls {
        let w = workspace().to_string();
        let res = Replica::open(url).and_then(|rep| {
            let local = rep.is_local();
            replica_store::run(&rep, move |r| async move { r.verify(&w).await })
                .map(|res| (local, res))
        });
        let (local, res) = match res {
            Ok(r) => r,
            Err(e) if urls.len() == 1 => return Err(replica_error(&ctx.ws, e)),
            Err(e) => {
                let e = e.to_string();
                let why = e.strip_prefix(&format!("{url}: ")).unwrap_or(&e);
                println!("ERR  {url}: {why}");
                unread.push((url.clone(), why.to_string()));
                continue;
            }
        };
        let read_word = if local {
            "read and hashed"
        } else {
            "downloaded and hashed"
        };
        for v in res {
            total += 1;
            let how = match (&v.sha256, v.checked) {
                (Some(sha), Some(c)) => {
                    let key = (url.clone(), sha.clone());
                    let word = match c {
                        Checked::StoredChecksum => {
                            by_checksum.insert(key);
                            "by the store's SHA-256 checksum"
                        }
                        Checked::Read => {
                            by_reading.insert(key);
                            read_word
                        }
                        Checked::NotChecked => {
                            not_checked.insert(key);
                            "not checked"
                        }
                        Checked::Missing => {
                            missing.insert(key);
                            "missing from the replica"
                        }
                    };
                    let why = v
                        .no_checksum
                        .as_ref()
                        .map(|e| format!("store gave no checksum ({e}): "))
                        .unwrap_or_default();
                    format!(" (blob {}: {why}{word})", sha.get(..12).unwrap_or(sha))
                }
                _ => String::new(),
            };
            match (v.problem, v.checked) {
                (None, _) => println!("ok   {url} {}{how}", v.id),
                (Some(p), Some(Checked::NotChecked)) => {
                    println!("ERR  {url} {}{how}: {p}", v.id);
                    unchecked.push(format!("{} in {url} ({p})", v.id));
                }
                (Some(p), Some(Checked::Missing)) => {
                    println!("BAD  {url} {}{how}: {p}", v.id);
                    lost.push(format!("{} in {url}", v.id));
                }
                (Some(p), _) => {
                    println!("BAD  {url} {}{how}: {p}", v.id);
                    bad.push(format!("{} in {url} ({p})", v.id));
                }
            }
        }
    }
    println!(
        "blobs: {} checked by the store's SHA-256 checksum, {} read and hashed, {} missing, {} could not be checked",
        by_checksum.len(),
        by_reading.len(),
        missing.len(),
        not_checked.len()
    );
    if bad.is_empty() && lost.is_empty() && unchecked.is_empty() && unread.is_empty() {
        println!("{total} replica snapshots verified");
        return Ok(0);
    }
    let mut parts = Vec::new();
    for (url, e) in &unread {
        parts.push(format!("the replica {url} could not be read ({e})"));
    }
    if !bad.is_empty() {
        parts.push(format!(
            "{} of {total} replica snapshots failed verification: {}",
            bad.len(),
            bad.join(", ")
        ));
    }
    if !lost.is_empty() {
        parts.push(format!(
            "{} of {total} replica snapshots have lost their blob: {}",
            lost.len(),
            lost.join(", ")
        ));
    }
    if !unchecked.is_empty() {
        parts.push(format!(
            "{} of {total} replica snapshots could not be checked: {}",
            unchecked.len(),
            unchecked.join(", ")
        ));
    }
    let mut advice = Vec::new();
    if !bad.is_empty() || !lost.is_empty() {
        advice.push("restore from another one (`tfops backups --remote` lists them)");
    }
    if !unchecked.is_empty() || !unread.is_empty() {
        advice.push("check the replica URL, the endpoint (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL) and the credentials for what could not be checked");
    }
    anyhow::bail!("{}; {}", parts.join("; "), advice.join(", and "))
}

/// For `tfops verify`: bad snapshots that share one file through hard links, as groups of ids
/// (only groups of two or more).
fn shared_file_groups(backups: &Path, bad: &[String]) -> Vec<Vec<String>> {
    use std::os::unix::fs::MetadataExt;
    let mut groups: std::collections::BTreeMap<(u64, u64), Vec<String>> = Default::default();
    for id in bad {
        if let Ok(m) = std::fs::metadata(backups.join(id).join(snapshot::STATE_FILE)) {
            if m.nlink() > 1 {
                groups
                    .entry((m.dev(), m.ino()))
                    .or_default()
                    .push(id.clone());
            }
        }
    }
    groups.into_values().filter(|g| g.len() > 1).collect()
}

/// The lineage line of a restore plan: the same state, or another one (refused without --force).
fn print_lineage(current: &str, snapshot: &str) {
    if current == snapshot {
        println!("  lineage: {current} (same)");
    } else {
        println!("  lineage: {current} -> {snapshot} (another state; --force)");
    }
}

/// The preview part of a restore plan, local or remote: resources by address (or why they
/// cannot be compared), a note, and the masked line diff.
fn print_preview(preview: &crate::state::preview::Preview) {
    let c = &preview.changes;
    if let Some(why) = &preview.failed {
        println!(
            "preview: cannot be computed: {why}; the restore replaces the whole file with the snapshot"
        );
    } else if c.added.is_empty() && c.removed.is_empty() && c.changed.is_empty() {
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
    if let Some(n) = &preview.note {
        println!("{n}");
    }
    if let Some(d) = &preview.diff {
        if d.is_empty() {
            println!("no difference in content");
        } else {
            print!("{d}");
        }
    }
}

fn print_remote_plan(plan: &RemotePlan) {
    let s = &plan.snapshot;
    println!(
        "restore {} (taken {}, serial {}, {} resources, lineage {})",
        s.id,
        s.taken_at.format("%Y-%m-%d %H:%M:%S"),
        plan.info.serial,
        plan.info.resources,
        plan.info.lineage
    );
    let state = &plan.url;
    match &plan.current {
        Current::Missing => println!(
            "  over {state}: missing (it will be created only if still absent: If-None-Match)"
        ),
        Current::Invalid { reason, .. } => println!(
            "  over {state}: {reason} (its bytes are kept locally as terraform.tfstate.corrupt-<ts>)"
        ),
        Current::Valid { info, .. } => {
            println!(
                "  over {state}: serial {}, {} resources (replaced only if unchanged: If-Match)",
                info.serial, info.resources
            );
            print_lineage(&info.lineage, &plan.info.lineage);
        }
    }
    if let Some(h) = &plan.lock_forced {
        println!("  warning: Terraform's lock is {h}; restoring anyway (--force)");
    }
    print_preview(&plan.preview);
}

fn restore_remote(
    ctx: &ConfiguredWorkspace,
    r: &RemoteState,
    target: &Target,
    args: &RestoreArgs,
) -> anyhow::Result<i32> {
    let cfg = &ctx.config;
    let plan = remote::prepare_restore(cfg, r, target, args.force)
        .map_err(|e| remote_error(&ctx.ws, e))?;
    print_remote_plan(&plan);
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
            .with_prompt(format!("Put {} back as {}?", plan.snapshot.id, r.url()))
            .default(false)
            .interact_opt()?;
        if ok != Some(true) {
            eprintln!("cancelled; nothing changed");
            return Ok(1);
        }
    }
    let done =
        remote::apply_restore(cfg, r, &plan, args.force).map_err(|e| remote_error(&ctx.ws, e))?;
    println!(
        "restored {} to {} (serial {})",
        done.id, done.url, done.serial
    );
    if let Some(p) = &done.pre_snapshot {
        println!("the previous state is kept as snapshot {p}");
    }
    if let Some(p) = &done.corrupt_kept {
        println!("the bad state is kept as {}", rel(&ctx.ws, p));
    }
    Ok(0)
}

/// `restore --from URL [ID | --latest]`: copies the replica snapshot into the local backups
/// folder and returns the local target to restore.
fn import_from(ctx: &ConfiguredWorkspace, url: &str, args: &RestoreArgs) -> anyhow::Result<Target> {
    let pick = match (&args.id, args.latest) {
        (Some(id), _) => Pick::Id(id.clone()),
        (None, _) => Pick::Latest,
    };
    let id = replica_store::import(&ctx.config, url, workspace(), &pick)
        .map_err(|e| replica_error(&ctx.ws, e))?;
    println!("copied from {url} into local snapshot {id}");
    Ok(Target::Id(id))
}

/// `tfops drift` on remote state: the object is read into `.tfops/remote-<ws>.tfstate`
/// (0600) and drift reads that.
///
/// # Errors
/// When the object cannot be read or does not exist.
pub fn materialize_remote(ctx: &mut ConfiguredWorkspace) -> anyhow::Result<()> {
    let Some(r) = remote_state(ctx)? else {
        return Ok(());
    };
    let p = crate::state::remote::materialize(&r, &ctx.ws.dot_tfops(), workspace()).map_err(
        |e| match e {
            RemoteError::Missing { url } => anyhow::anyhow!(
                "the state {url} does not exist; `tfops restore --latest` puts the newest valid snapshot back"
            ),
            e => remote_error(&ctx.ws, e),
        },
    )?;
    ctx.config.state.path = p;
    Ok(())
}

/// Which state the commands work on, for `status` (see [`backend::protected_state`]).
pub fn protected_state(ctx: &ConfiguredWorkspace) -> serde_json::Value {
    // The context's state.path is already the selected workspace's file (select_workspace).
    backend::protected_state(&ctx.config, &ctx.ws.root, workspace(), true)
}

/// The replication ledger for `status`: per replica, what is not replicated yet and the last
/// error.
pub fn replication_status(ctx: &ConfiguredWorkspace) -> serde_json::Value {
    replica_store::status(&ctx.config, &ctx.ws.dot_tfops(), workspace())
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
