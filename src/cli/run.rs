//! `tfops run [--once]`: the supervisor in the foreground, or one pass.
//!
//! Both start the same way: take `.tfops/run.lock` (one supervisor per workspace), finish what
//! the last run left (temp files, delivery journals), evaluate the cost schedules, apply
//! `services.active`. Then `--once` checks health, routes what has settled and exits; `run`
//! starts the actor system and serves until SIGTERM/SIGINT.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::Local;

use crate::actors::supervisor::{Reload, Start, Stop, SupervisorActor, Usr1};
use crate::clock::SystemClock;
use crate::health::{self, ServiceState};
use crate::lock::FileLock;
use crate::router::{Candidate, Router};
use crate::service_id::ServiceId;
use crate::spool::desk::{Desk, Limits};
use crate::spool::dispatch::{Dispatch, Open, Round};
use crate::spool::intake;
use crate::workspace::{ConfiguredWorkspace, Workspace};

/// # Errors
/// Another supervisor holds the workspace, or the workspace cannot be prepared.
pub fn run(
    ctx: &ConfiguredWorkspace,
    once: bool,
    listen: Option<std::net::SocketAddr>,
) -> anyhow::Result<i32> {
    // Before anything is bound or taken: a non-loopback address without a token is refused.
    let http = if once {
        None
    } else {
        crate::http::plan(
            listen.or(ctx.config.http.listen),
            ctx.config.http.token.as_ref(),
            std::env::var(crate::http::TOKEN_ENV).ok(),
        )?
    };
    let _lock = take_run_lock(&ctx.ws)?;
    // The soft open-file limit up to the hard one, then: do the services fit under it?
    let (soft, _) = crate::rlimit::raise_nofile();
    crate::rlimit::fits(ctx.config.services.count, soft).map_err(anyhow::Error::msg)?;
    let limits = Limits {
        max_request_bytes: ctx.config.balancer.max_request_bytes,
        recent_in_log: ctx.config.balancer.recent_in_log,
    };
    let desks = recover(&ctx.ws, ctx.config.services.count, limits)?;
    let off = crate::schedule::reconcile::apply_now(&ctx.ws, &ctx.config, &SystemClock);
    health::apply_active(&ctx.ws, &ctx.config, &off).with_context(|| {
        format!(
            "cannot create the service folders and markers under {}; check its permissions",
            ctx.ws.balanceador().display()
        )
    })?;
    if once {
        return run_once(ctx, desks);
    }
    drop(desks);
    let _pid = PidFile::write(&ctx.ws)?;
    serve(ctx, off, http)
}

/// Takes `.tfops/run.lock`, or says who holds it.
fn take_run_lock(ws: &Workspace) -> anyhow::Result<FileLock> {
    ws.ensure_runtime_dirs().with_context(|| {
        format!(
            "cannot create the runtime folders under {}; check that the workspace is writable",
            ws.root.display()
        )
    })?;
    match FileLock::try_acquire(&ws.run_lock())
        .with_context(|| format!("cannot open {}", ws.run_lock().display()))?
    {
        Some(l) => {
            // The holder's pid goes in the lock file itself, at once: a loser reads it there,
            // never from a run.pid a killed run may have left.
            use std::os::unix::fs::FileExt;
            let pid = format!("{}\n", std::process::id());
            l.file()
                .set_len(0)
                .and_then(|()| l.file().write_all_at(pid.as_bytes(), 0))
                .with_context(|| format!("cannot write {}", ws.run_lock().display()))?;
            Ok(l)
        }
        None => {
            let holder = crate::fsutil::read_regular(&ws.run_lock(), false)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .and_then(|s| s.trim().parse::<i32>().ok())
                .filter(|p| pid_alive(*p));
            match holder {
                Some(pid) => anyhow::bail!(
                    "another tfops run (pid {pid}) holds {}; stop it first (kill -TERM {pid}) or use `tfops status`",
                    ws.run_lock().display()
                ),
                None => anyhow::bail!(
                    "another tfops run is starting and holds {} (its pid is not written yet); use `tfops status` in a moment",
                    ws.run_lock().display()
                ),
            }
        }
    }
}

/// `.tfops/run.pid`, removed when dropped.
struct PidFile(std::path::PathBuf);

impl PidFile {
    fn write(ws: &Workspace) -> anyhow::Result<PidFile> {
        let p = ws.run_pid();
        // Replaced atomically, never written through a link.
        crate::fsutil::write_atomic(
            &p,
            format!("{}\n", std::process::id()).as_bytes(),
            0o644,
            false,
        )
        .with_context(|| format!("cannot write {}", p.display()))?;
        Ok(PidFile(p))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn pid_alive(pid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    pid > 0 && unsafe { libc::kill(pid, 0) } == 0
}

/// Finishes what a previous run left: our temp files, and every delivery journal (including
/// those of services a reload removed). Returns the open desks of services 1 to `count`.
///
/// # Errors
/// When a service's logs or journal cannot be opened.
pub fn recover(ws: &Workspace, count: usize, limits: Limits) -> anyhow::Result<Vec<Desk>> {
    // Temp files of atomic writes (`.<name>.tfops-<pid>.tmp`) and health probes.
    let mut dirs = vec![ws.bal_logs(), ws.errors(), ws.dot_tfops()];
    dirs.extend(ServiceId::all(count).map(|n| ws.service_dir(n)));
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name();
            let b = name.as_bytes();
            let ours = (b.starts_with(b".") && b.ends_with(b".tmp") && contains(b, b".tfops-"))
                || b.starts_with(b".tfops-probe-");
            if ours {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    // Half-written requests of a killed `requests generate` (never visible as requests).
    if let Ok(rd) = std::fs::read_dir(ws.intake()) {
        for e in rd.flatten() {
            let name = e.file_name();
            let s = String::from_utf8_lossy(name.as_bytes()).into_owned();
            if let Some(rest) = s.strip_prefix(".tfops-gen-") {
                let pid: i32 = rest
                    .split('-')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                if !pid_alive(pid) {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
    // Journals of services beyond `count` (removed by a reload) are healed, then closed.
    if let Ok(rd) = std::fs::read_dir(ws.dot_tfops()) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let n = name
                .strip_prefix("deliver_")
                .and_then(|r| r.strip_suffix(".journal"))
                .and_then(|n| n.parse::<usize>().ok())
                .map(ServiceId);
            if let Some(n) = n.filter(|n| n.get() > count) {
                if e.metadata().map(|m| m.len() > 0).unwrap_or(false) {
                    Desk::open(ws, n, limits)
                        .map_err(|e| anyhow::anyhow!("cannot recover {n}: {e}"))?;
                }
            }
        }
    }
    ServiceId::all(count)
        .map(|n| {
            Desk::open(ws, n, limits).map_err(|e| {
                anyhow::anyhow!("cannot open the logs of {n}: {e}; check the permissions of balanceador/logs and .tfops")
            })
        })
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// One pass: health check, route what has settled, flush, report.
fn run_once(ctx: &ConfiguredWorkspace, mut desks: Vec<Desk>) -> anyhow::Result<i32> {
    let ws = &ctx.ws;
    let cfg = &ctx.config;
    let now = Local::now();
    let mut up = BTreeSet::new();
    let logged = health::last_logged(ws);
    for n in ServiceId::all(cfg.services.count) {
        let v = health::check(ws, n, true);
        if logged.get(&n) != Some(&v.state) {
            if let Err(e) = health::log_transition(ws, n, &v, now) {
                log::warn!("cannot write health.log: {e}");
            }
        }
        if v.state == ServiceState::Up {
            up.insert(n);
        }
    }
    // Settled: unchanged across `settle`.
    let dir = ws.intake();
    let first = intake::scan(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut settled: Vec<OsString> = Vec::new();
    if !first.is_empty() {
        std::thread::sleep(cfg.balancer.settle);
        let second = intake::scan(&dir)?;
        let before: std::collections::HashMap<_, _> =
            first.into_iter().map(|e| (e.name.clone(), e)).collect();
        for e in second {
            if before.get(&e.name) == Some(&e) {
                settled.push(e.name);
            }
        }
    }
    settled.sort();
    let mut router = Router::new(cfg.balancer.strategy);
    let mut backlog: std::collections::BTreeMap<ServiceId, u64> =
        up.iter().map(|n| (*n, health::backlog(ws, *n))).collect();
    let (mut routed, mut rejected) = (0u64, 0u64);
    let mut dispatch = Dispatch::new();
    dispatch.enqueue(settled);
    // Assign a chunk, deliver it per service, retry what a failing service could not take.
    let round = Round {
        batch: usize::MAX,
        max: 1024,
    };
    while dispatch.waiting() > 0 && !up.is_empty() {
        let open: Vec<Open> = up
            .iter()
            .map(|n| Open {
                candidate: Candidate {
                    service: *n,
                    weight: cfg.service_settings(*n).weight,
                    backlog: backlog[n],
                },
                room: usize::MAX,
            })
            .collect();
        for b in dispatch.assign(&mut router, &open, round) {
            let n = b.service;
            *backlog.entry(n).or_default() += b.names.len() as u64;
            let out = desks[n.get() - 1].deliver_batch(&b.names, Local::now());
            let settled = dispatch.settle(b.names, out);
            routed += settled.delivered;
            rejected += settled.rejected;
            if let Some(error) = settled.suspect {
                if up.remove(&n) {
                    log::warn!("{n} failed a delivery ({error}); not routing to it");
                }
            }
            for d in settled.deferred {
                log::warn!("{}: {}", d.name.to_string_lossy(), d.error);
            }
        }
    }
    for d in &mut desks {
        d.flush()
            .with_context(|| format!("cannot write load_{}.json", d.service().get()))?;
    }
    let waiting = intake::scan(&dir).map(|v| v.len()).unwrap_or(0);
    println!("routed {routed}, rejected {rejected}, waiting {waiting}");
    Ok(0)
}

/// The actor system until a signal stops it.
fn serve(
    ctx: &ConfiguredWorkspace,
    off: BTreeSet<ServiceId>,
    http: Option<crate::http::Plan>,
) -> anyhow::Result<i32> {
    crate::panic::install_policy(true);
    let sys = actix::System::new();
    let start = Start {
        ws: ctx.ws.clone(),
        cfg: Arc::new(ctx.config.clone()),
        config_path: ctx.config_path.clone(),
        off,
    };
    let (ws, cfg) = (start.ws.clone(), start.cfg.clone());
    sys.block_on(async move {
        // Handlers first: a SIGHUP that arrives while starting must not kill the process.
        let sigs = Signals::install();
        // The HTTP address is bound before the supervisor starts: a port in use stops here.
        use actix::AsyncContext as _;
        let sup = actix::Context::<SupervisorActor>::new();
        let addr = sup.address();
        if let Some(plan) = http {
            crate::http::start(plan, addr.clone(), ws, cfg)?;
        }
        sup.run(SupervisorActor::new(start));
        match sigs {
            Ok(s) => {
                actix_rt::spawn(s.forward(addr));
            }
            Err(e) => log::error!("cannot install signal handlers ({e}); stop with SIGKILL only"),
        }
        Ok::<_, crate::http::HttpError>(())
    })?;
    let code = sys.run_with_code().context("the actor system failed")?;
    Ok(code)
}

/// Tells systemd (`NOTIFY_SOCKET`, `Type=notify`) about a state change; logs a failure.
fn sd_notify(state: &str) {
    match crate::notify::notify(state) {
        Ok(true) => log::debug!("sd_notify: {}", state.replace('\n', " ")),
        Ok(false) => {}
        Err(e) => log::warn!("{e}"),
    }
}

struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            usr1: signal(SignalKind::user_defined1())?,
        })
    }

    async fn forward(mut self, addr: actix::Addr<SupervisorActor>) {
        // The supervisor was started before this task (same arbiter): it is up.
        sd_notify("READY=1");
        loop {
            tokio::select! {
                _ = self.hup.recv() => {
                    log::info!("SIGHUP: reloading the configuration");
                    sd_notify(&crate::notify::reloading_message(crate::notify::monotonic_usec()));
                    // Handed over; the file is validated off the actor thread (an invalid one
                    // is refused and the old configuration keeps serving): ready again.
                    let _ = addr.send(Reload).await;
                    sd_notify("READY=1");
                }
                _ = self.term.recv() => { log::info!("SIGTERM"); sd_notify("STOPPING=1"); addr.do_send(Stop) }
                _ = self.int.recv() => { log::info!("SIGINT"); sd_notify("STOPPING=1"); addr.do_send(Stop) }
                _ = self.usr1.recv() => { log::info!("SIGUSR1: snapshot"); addr.do_send(Usr1) }
            }
        }
    }
}
