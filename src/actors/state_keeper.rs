//! StateKeeperActor: snapshots the Terraform state on change (notify, debounced), on
//! [`SnapshotNow`] (SIGUSR1) and at start when it differs from the newest snapshot; detects a
//! lost state (missing, empty, invalid for longer than `state.grace` while Terraform does not
//! hold it), raises the `state` alarm and, with `auto_restore`, puts the newest valid snapshot
//! back.
//!
//! Thin by design: decisions are in `crate::state` (`guard` for the disaster state machine,
//! `scan` for the look at the state and the jobs, `snapshot` and `restore` for the work, and
//! `remote` for an S3 state). Reading, hashing and writing run on tokio's blocking pool, one
//! job at a time; triggers that arrive meanwhile are coalesced into one pending job.
//! File events are hints: a periodic check (a quarter of `grace`, at most a second) is the
//! truth, and costs a `stat` while nothing changes.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use notify::{EventKind, RecursiveMode, Watcher};

use super::{Reconfigure, Shutdown, SnapshotNow, StatusEvent};
use crate::config::Config;
use crate::state::guard::{Guard, GuardAction, Seen};
use crate::state::remote::{self as remote_state, RemoteState};
use crate::state::replica_store::{self, Replicator};
use crate::state::restore::{self, Restored};
use crate::state::scan::{merge, scan, Cache, Job, Scanned};
use crate::state::tflock;
use crate::workspace::Workspace;

/// Alarm kind for a lost state.
pub const ALARM_STATE: &str = "state";
/// Alarm kind left after an automatic restore, so that `status` shows it happened.
pub const ALARM_RESTORED: &str = "state_restored";

const DEBOUNCE: Duration = Duration::from_millis(300);

/// A file event about the state or Terraform's lock info file (or a watcher overflow).
#[derive(Message)]
#[rtype(result = "()")]
struct FsHint;

#[derive(Debug)]
enum JobOutcome {
    Scanned(Scanned),
    Restored {
        why: String,
        result: Result<Option<Restored>, String>,
    },
}

/// The remote state (#12) and replication of the workspace this process protects.
#[derive(Default)]
struct RemoteParts {
    state: Option<Arc<RemoteState>>,
    workspace: String,
    replicator: Option<Replicator>,
    /// The ETag and verdict of the last poll (the remote counterpart of [`Cache`]).
    last: Arc<std::sync::Mutex<Option<(String, Seen)>>>,
    /// Why the configuration's S3 backend cannot be used (a missing AWS profile…): then
    /// nothing is protected, never the local file Terraform does not use, until a reload.
    broken: Option<String>,
}

/// The resolved remote state, or why the configured backend cannot be used.
fn split_remote(
    r: Result<Option<RemoteState>, String>,
) -> (Option<Arc<RemoteState>>, Option<String>) {
    match r {
        Ok(r) => (r.map(Arc::new), None),
        Err(why) => (None, Some(why)),
    }
}

/// The actor. Create with [`StateKeeperActor::new`], then `.start()`.
pub struct StateKeeperActor {
    #[allow(dead_code)]
    ws: Workspace,
    cfg: Arc<Config>,
    status: Recipient<StatusEvent>,
    watcher: Option<notify::RecommendedWatcher>,
    debounce: Option<SpawnHandle>,
    tick: Option<SpawnHandle>,
    busy: bool,
    pending: Option<Job>,
    waiters: Vec<tokio::sync::oneshot::Sender<()>>,
    stopping: bool,
    guard: Guard,
    cache: Option<Cache>,
    remote: RemoteParts,
    /// Reloads received: each resolves its backend on the blocking pool, and only the
    /// newest one's result is applied (an older one finishing last is dropped).
    reloads: u64,
}

/// What [`remote_state::resolve`] gives: the effective config, the remote state (or why the
/// backend cannot be used), the workspace.
type Resolved = (Config, Result<Option<RemoteState>, String>, String);

impl StateKeeperActor {
    pub fn new(ws: Workspace, cfg: Arc<Config>, status: Recipient<StatusEvent>) -> Self {
        // #12: the workspace's files and backups, and the S3 object when the backend is S3.
        let (eff, remote, workspace) = remote_state::resolve(&cfg, &ws.root);
        let (state, broken) = split_remote(remote);
        StateKeeperActor {
            ws,
            cfg: Arc::new(eff),
            remote: RemoteParts {
                state,
                broken,
                workspace,
                ..RemoteParts::default()
            },
            status,
            watcher: None,
            debounce: None,
            tick: None,
            busy: false,
            pending: None,
            waiters: Vec::new(),
            stopping: false,
            guard: Guard::default(),
            cache: None,
            reloads: 0,
        }
    }

    fn tick_period(&self) -> Duration {
        if self.remote.state.is_some() {
            return self.cfg.state.poll;
        }
        (self.cfg.state.grace / 4).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }

    /// Watches the state's folder (the state itself may be deleted and recreated).
    fn watch(&mut self, ctx: &mut Context<Self>) {
        self.watcher = None;
        if self.remote.state.is_some() || self.remote.broken.is_some() {
            return; // polled every state.poll (or nothing to protect): no file to watch
        }
        let state = self.cfg.state.path.clone();
        let info = tflock::lock_info_path(&state);
        let Some(dir) = state.parent().map(Path::to_path_buf) else {
            return;
        };
        let addr = ctx.address();
        let handler = move |res: notify::Result<notify::Event>| match res {
            Ok(ev) => {
                if ev.need_rescan()
                    || (relevant(&ev.kind) && ev.paths.iter().any(|p| *p == state || *p == info))
                {
                    addr.do_send(FsHint);
                }
            }
            Err(e) => {
                log::warn!("state watcher: {e}");
                addr.do_send(FsHint);
            }
        };
        match notify::recommended_watcher(handler) {
            Ok(mut w) => match w.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => self.watcher = Some(w),
                Err(e) => log::warn!(
                    "cannot watch {} ({e}); checking every {:?} instead",
                    dir.display(),
                    self.tick_period()
                ),
            },
            Err(e) => log::warn!("cannot start the state watcher ({e})"),
        }
    }

    fn arm_tick(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.tick.take() {
            ctx.cancel_future(h);
        }
        let period = self.tick_period();
        self.tick = Some(ctx.run_interval(period, |act, ctx| {
            if !act.busy && act.pending.is_none() {
                act.request(Job::on_change(), ctx);
            }
        }));
    }

    /// Starts `job`, or coalesces it with the pending one while another runs.
    fn request(&mut self, job: Job, ctx: &mut Context<Self>) {
        if self.stopping || self.remote.broken.is_some() {
            return;
        }
        if self.busy {
            self.pending = Some(match self.pending.take() {
                None => job,
                Some(p) => merge(p, job),
            });
            return;
        }
        self.start_job(job, ctx);
    }

    fn start_job(&mut self, job: Job, ctx: &mut Context<Self>) {
        self.busy = true;
        let cfg = self.cfg.clone();
        let cache = self.cache.take();
        let remote = self
            .remote
            .state
            .clone()
            .map(|r| (r, self.remote.last.clone()));
        let handle = tokio::task::spawn_blocking(move || {
            let j = job.clone();
            match super::catch(|| match &remote {
                Some((r, last)) => run_remote_job(&cfg, r, last, j),
                None => run_job(&cfg, j, cache),
            }) {
                Ok(o) => o,
                Err(panic) => failed(&job, format!("panic: {panic}")),
            }
        });
        let fut = actix::fut::wrap_future::<_, Self>(handle).map(|res, act, ctx| {
            let outcome = res.unwrap_or_else(|e| {
                JobOutcome::Scanned(Scanned {
                    seen: None,
                    taken: None,
                    error: Some(format!("state job failed: {e}")),
                    cache: None,
                })
            });
            act.job_done(outcome, ctx);
        });
        ctx.spawn(fut);
    }

    fn job_done(&mut self, outcome: JobOutcome, ctx: &mut Context<Self>) {
        self.busy = false;
        match outcome {
            JobOutcome::Scanned(Scanned {
                seen,
                taken,
                error,
                cache,
            }) => {
                self.cache = cache;
                if let Some(t) = taken {
                    log::debug!("state keeper: snapshot {} done", t.id);
                    crate::events::emit(crate::events::Event::Snapshot { id: t.id.clone() });
                    if let Some(r) = &self.remote.replicator {
                        r.kick();
                    }
                }
                if let Some(e) = error {
                    log::error!("state: {e}");
                }
                // A job begun before a reload found the backend unusable saw the old target:
                // nothing to react to (the alarm says why nothing is protected).
                if let Some(seen) = seen.filter(|_| self.remote.broken.is_none()) {
                    self.react(&seen, ctx);
                }
            }
            JobOutcome::Restored { why, result } => match result {
                Ok(Some(r)) => {
                    let detail = format!(
                        "{why}; restored snapshot {} (serial {}){}",
                        r.id,
                        r.serial,
                        r.corrupt_kept
                            .as_ref()
                            .map(|p| format!(", the bad file kept as {}", p.display()))
                            .unwrap_or_default()
                    );
                    log::warn!("state auto-restore: {detail}");
                    self.alarm(ALARM_RESTORED, detail);
                    self.cache = None;
                    self.pending.get_or_insert(Job::on_change());
                }
                Ok(None) => log::info!("state auto-restore: nothing to do any more"),
                Err(e) => {
                    log::error!("state auto-restore failed: {e}");
                    self.alarm(ALARM_STATE, format!("{why}; automatic restore failed: {e}"));
                }
            },
        }
        if self.stopping {
            for w in self.waiters.drain(..) {
                let _ = w.send(());
            }
            return;
        }
        if let Some(next) = self.pending.take() {
            // Through `request`: nothing starts while the backend cannot be used.
            self.request(next, ctx);
        }
    }

    fn react(&mut self, seen: &Seen, ctx: &mut Context<Self>) {
        let st = &self.cfg.state;
        match self
            .guard
            .observe(seen, Instant::now(), st.grace, st.auto_restore)
        {
            GuardAction::Nothing => {}
            GuardAction::Alarm(d) => {
                log::error!("{d}; `tfops restore --latest` puts the newest valid snapshot back");
                self.alarm(ALARM_STATE, d);
            }
            GuardAction::AlarmAndRestore(d) => {
                log::error!("{d}; restoring the newest valid snapshot (auto_restore)");
                self.alarm(ALARM_STATE, d.clone());
                self.request(Job::Restore { why: d }, ctx);
            }
            GuardAction::Clear => {
                log::info!("the state is valid again");
                let _ = self.status.try_send(StatusEvent::ClearAlarm {
                    kind: ALARM_STATE.into(),
                });
            }
        }
    }

    /// Says (log and alarm) that the configured S3 backend cannot be used.
    fn report_broken(&self) {
        if let Some(why) = &self.remote.broken {
            log::error!(
                "{why}; protecting nothing until it is fixed and the configuration reloaded (SIGHUP)"
            );
            self.alarm(
                ALARM_STATE,
                format!("{why}; fix it, then reload (SIGHUP) or restart"),
            );
        }
    }

    fn alarm(&self, kind: &str, detail: String) {
        let _ = self.status.try_send(StatusEvent::Alarm {
            kind: kind.into(),
            detail,
        });
    }
}

fn relevant(kind: &EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

fn failed(job: &Job, e: String) -> JobOutcome {
    match job {
        Job::Scan { .. } => JobOutcome::Scanned(Scanned {
            seen: None,
            taken: None,
            error: Some(e),
            cache: None,
        }),
        Job::Restore { why } => JobOutcome::Restored {
            why: why.clone(),
            result: Err(e),
        },
    }
}

/// The remote counterpart of [`run_job`] (#12): a poll of the object's ETag (the object is
/// read only when it changed), or the disaster path on the object. Runs on the blocking pool;
/// the store's async I/O runs on the helper runtime (`state::remote::block_on`).
fn run_remote_job(
    cfg: &Config,
    r: &RemoteState,
    last: &std::sync::Mutex<Option<(String, Seen)>>,
    job: Job,
) -> JobOutcome {
    match job {
        Job::Scan {
            reason,
            force,
            startup,
        } => {
            if startup {
                if let Ok(_lock) = crate::state::snapshot::lock_backups(&cfg.state.backups) {
                    let _ = crate::state::snapshot::clean_leftovers(&cfg.state.backups);
                }
            }
            let prev = last.lock().map(|g| g.clone()).unwrap_or(None);
            let reason = if startup && !force { "start" } else { &reason };
            let s = remote_state::scan(
                cfg,
                r,
                prev.as_ref().map(|(e, seen)| (e.as_str(), seen)),
                reason,
                force,
            );
            if s.seen.is_some() {
                if let Ok(mut g) = last.lock() {
                    *g = s.etag.clone().zip(s.seen.clone());
                }
            }
            JobOutcome::Scanned(Scanned {
                seen: s.seen,
                taken: s.taken.map(Box::new),
                error: s.error,
                cache: None,
            })
        }
        Job::Restore { why } => JobOutcome::Restored {
            why,
            result: remote_state::auto_restore(cfg, r)
                .map(|o| {
                    o.map(|d| Restored {
                        id: d.id,
                        state: std::path::PathBuf::from(d.url),
                        pre_snapshot: d.pre_snapshot,
                        corrupt_kept: d.corrupt_kept,
                        serial: d.serial,
                    })
                })
                .map_err(|e| e.to_string()),
        },
    }
}

/// Runs on the blocking pool.
fn run_job(cfg: &Config, job: Job, cache: Option<Cache>) -> JobOutcome {
    match job {
        Job::Scan {
            reason,
            force,
            startup,
        } => JobOutcome::Scanned(scan(cfg, &reason, force, startup, cache)),
        Job::Restore { why } => JobOutcome::Restored {
            why,
            result: restore::auto_restore(cfg).map_err(|e| e.to_string()),
        },
    }
}

impl Actor for StateKeeperActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.busy = false;
        self.stopping = false;
        self.start_replicator();
        self.report_broken();
        self.watch(ctx);
        self.arm_tick(ctx);
        self.request(Job::at_start(), ctx);
    }
}

impl StateKeeperActor {
    /// Starts the background replicator when replicas are configured (#12).
    fn start_replicator(&mut self) {
        if self.cfg.state.replicate.is_empty() || self.remote.replicator.is_some() {
            return;
        }
        let ledger = replica_store::ledger_path(&self.ws.dot_tfops(), &self.remote.workspace);
        match Replicator::start((*self.cfg).clone(), self.remote.workspace.clone(), ledger) {
            Ok(r) => {
                r.kick();
                self.remote.replicator = Some(r);
            }
            Err(e) => log::error!("cannot start replication: {e}"),
        }
    }
}

impl Supervised for StateKeeperActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.watcher = None;
        self.tick = None;
        self.debounce = None;
        self.pending = None;
        self.cache = None;
    }
}

impl Handler<FsHint> for StateKeeperActor {
    type Result = ();
    fn handle(&mut self, _: FsHint, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        if let Some(h) = self.debounce.take() {
            ctx.cancel_future(h);
        }
        self.debounce = Some(ctx.run_later(DEBOUNCE, |act, ctx| {
            act.debounce = None;
            act.request(Job::on_change(), ctx);
        }));
    }
}

impl Handler<Reconfigure> for StateKeeperActor {
    type Result = ();
    fn handle(&mut self, msg: Reconfigure, ctx: &mut Context<Self>) {
        // #12: resolving the backend reads the .tf files, Terraform's init record and the AWS
        // profile files: that runs on tokio's blocking pool, like the jobs, never on this
        // thread. Until it is done the previous settings stay in effect.
        self.reloads += 1;
        let generation = self.reloads;
        let cfg = msg.0;
        let root = self.ws.root.clone();
        let handle = tokio::task::spawn_blocking(move || {
            super::catch(|| remote_state::resolve(&cfg, &root))
        });
        let fut = actix::fut::wrap_future::<_, Self>(handle).map(move |res, act, ctx| {
            match res.map_err(|e| e.to_string()).and_then(|r| r) {
                Ok(resolved) => act.reconfigured(generation, resolved, ctx),
                Err(e) => log::error!(
                    "state keeper: the new configuration's state could not be resolved ({e}); keeping the previous one"
                ),
            }
        });
        ctx.spawn(fut);
    }
}

impl StateKeeperActor {
    /// Applies the settings of reload number `generation`, resolved off the actor thread,
    /// unless a newer reload came in meanwhile or the actor is stopping.
    fn reconfigured(&mut self, generation: u64, resolved: Resolved, ctx: &mut Context<Self>) {
        if generation != self.reloads {
            log::debug!("state keeper: reload {generation} superseded by a newer one");
            return;
        }
        if self.stopping {
            return;
        }
        // #12: the workspace stays the one pinned at start; the backend may have changed.
        let (eff, remote, _) = resolved;
        let msg = Reconfigure(Arc::new(eff));
        let (remote, broken) = split_remote(remote);
        let was_broken = self.remote.broken.is_some();
        let remote_moved = was_broken
            || broken.is_some()
            || remote.as_ref().map(|r| r.url().to_string())
                != self.remote.state.as_ref().map(|r| r.url().to_string());
        self.remote.state = remote;
        self.remote.broken = broken;
        self.report_broken();
        if let Some(r) = &self.remote.replicator {
            r.reconfigure((*msg.0).clone());
        }
        if remote_moved {
            if let Ok(mut g) = self.remote.last.lock() {
                *g = None;
            }
        }
        let moved = remote_moved
            || msg.0.state.path != self.cfg.state.path
            || msg.0.state.backups != self.cfg.state.backups;
        let regrace =
            msg.0.state.grace != self.cfg.state.grace || msg.0.state.poll != self.cfg.state.poll;
        self.cfg = msg.0;
        self.start_replicator();
        if moved {
            self.cache = None;
            if (self.guard.alarmed() || was_broken) && self.remote.broken.is_none() {
                let _ = self.status.try_send(StatusEvent::ClearAlarm {
                    kind: ALARM_STATE.into(),
                });
            }
            self.guard.reset();
            self.watch(ctx);
            self.request(Job::at_start(), ctx);
        }
        if moved || regrace {
            self.arm_tick(ctx);
        }
    }
}

impl Handler<Shutdown> for StateKeeperActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        self.pending = None;
        self.watcher = None;
        if let Some(r) = self.remote.replicator.take() {
            r.stop();
        }
        for h in [self.tick.take(), self.debounce.take()]
            .into_iter()
            .flatten()
        {
            ctx.cancel_future(h);
        }
        if !self.busy {
            return Box::pin(actix::fut::ready(()));
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.waiters.push(tx);
        Box::pin(actix::fut::wrap_future(async move {
            let _ = rx.await;
        }))
    }
}

impl Handler<SnapshotNow> for StateKeeperActor {
    type Result = ();
    fn handle(&mut self, msg: SnapshotNow, ctx: &mut Context<Self>) {
        if let Some(why) = &self.remote.broken {
            log::error!("no snapshot ({}): {why}", msg.reason);
            return;
        }
        self.request(
            Job::Scan {
                reason: msg.reason,
                force: true,
                startup: false,
            },
            ctx,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use crate::actors::testkit::Collect;

    /// Reloads resolve their backend off the actor thread and may finish out of order: the
    /// result of an older reload that arrives after a newer one's is dropped, never applied
    /// over it.
    #[actix_rt::test]
    async fn an_older_reload_finishing_last_is_not_applied() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_path_buf();
        std::fs::create_dir_all(root.join("iac")).unwrap();
        let cfg = Config::defaults(&root);
        let events = Arc::new(Mutex::new(Vec::new()));
        let status = Collect(Arc::clone(&events)).start().recipient();
        let ws = Workspace::new(&root);
        let with_backups = |dir: &str| {
            let mut c = Config::defaults(&root);
            c.state.backups = root.join(dir);
            (c, Ok(None), "default".to_string())
        };
        let (older, newer) = (with_backups("older"), with_backups("newer"));
        let applied = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&applied);
        let _addr = StateKeeperActor::create(move |ctx| {
            let mut act = StateKeeperActor::new(ws, Arc::new(cfg), status);
            act.reloads = 2;
            act.busy = true; // as if a job ran: the rescan a move asks for is queued
            act.reconfigured(2, newer, ctx);
            seen.lock().unwrap().push(act.cfg.state.backups.clone());
            act.reconfigured(1, older, ctx);
            seen.lock().unwrap().push(act.cfg.state.backups.clone());
            act
        });
        let got = applied.lock().unwrap().clone();
        assert_eq!(got, vec![root.join("newer"), root.join("newer")]);
    }

    /// A job begun before a reload found the S3 backend unusable ends after it: what it saw
    /// (the old target) raises no alarm, and the job that was waiting does not start (it would
    /// look at the local file Terraform does not use).
    #[actix_rt::test]
    async fn a_job_ending_after_the_backend_broke_starts_nothing_and_alarms_nothing() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_path_buf();
        std::fs::create_dir_all(root.join("iac")).unwrap();
        let none = root.join("no-such-file").display().to_string();
        std::fs::write(
            root.join("iac/main.tf"),
            format!(
                "terraform {{\n  backend \"s3\" {{\n    bucket = \"b\"\n    key = \"k\"\n    profile = \"nope\"\n    shared_credentials_files = [\"{none}\"]\n    shared_config_files = [\"{none}\"]\n  }}\n}}\n"
            ),
        )
        .unwrap();
        let mut cfg = Config::defaults(&root);
        cfg.state.grace = Duration::ZERO;
        let events = Arc::new(Mutex::new(Vec::new()));
        let status = Collect(Arc::clone(&events)).start().recipient();
        let ws = Workspace::new(&root);
        let started = Arc::new(Mutex::new(None));
        let seen_started = Arc::clone(&started);
        let _addr = StateKeeperActor::create(move |ctx| {
            let mut act = StateKeeperActor::new(ws, Arc::new(cfg), status);
            assert!(act.remote.broken.is_some(), "the profile is missing");
            act.busy = true;
            act.pending = Some(Job::on_change());
            act.job_done(
                JobOutcome::Scanned(Scanned {
                    seen: Some(Seen::Bad("missing".into())),
                    taken: None,
                    error: None,
                    cache: None,
                }),
                ctx,
            );
            *seen_started.lock().unwrap() = Some(act.busy);
            act
        });
        assert_eq!(*started.lock().unwrap(), Some(false), "no job started");
        // The broken backend's alarm is sent when the actor starts, after the job ended: once
        // it has arrived, an alarm from the job's outcome would have arrived before it.
        let alarms = || -> Vec<String> {
            events
                .lock()
                .unwrap()
                .iter()
                .filter_map(|e| match e {
                    StatusEvent::Alarm { detail, .. } => Some(detail.clone()),
                    StatusEvent::ClearAlarm { .. } => None,
                })
                .collect()
        };
        for _ in 0..400 {
            if alarms().iter().any(|d| d.contains("cannot be used")) {
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(25)).await;
        }
        let details = alarms();
        assert!(
            details.iter().any(|d| d.contains("cannot be used")),
            "the broken backend is an alarm: {details:?}"
        );
        assert!(
            details.iter().all(|d| d.contains("cannot be used")),
            "{details:?}"
        );
    }
}
