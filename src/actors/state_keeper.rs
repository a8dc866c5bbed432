//! StateKeeperActor: snapshots the Terraform state on change (notify, debounced), on
//! [`SnapshotNow`] (SIGUSR1) and at start when it differs from the newest snapshot; detects a
//! lost state (missing, empty, invalid for longer than `state.grace` while Terraform does not
//! hold it), raises the `state` alarm and, with `auto_restore`, puts the newest valid snapshot
//! back.
//!
//! Thin by design: decisions are in `crate::state` (`guard` for the disaster state machine,
//! `scan` for the look at the state and the jobs, `snapshot` and `restore` for the work). Reading, hashing and writing run on tokio's blocking
//! pool, one job at a time; triggers that arrive meanwhile are coalesced into one pending job.
//! File events are hints: a periodic check (a quarter of `grace`, at most a second) is the
//! truth, and costs a `stat` while nothing changes.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use notify::{EventKind, RecursiveMode, Watcher};

use super::{Reconfigure, Shutdown, SnapshotNow, StatusEvent};
use crate::config::Config;
use crate::state::guard::{Action, Guard, Seen};
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
}

impl StateKeeperActor {
    pub fn new(ws: Workspace, cfg: Arc<Config>, status: Recipient<StatusEvent>) -> Self {
        StateKeeperActor {
            ws,
            cfg,
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
        }
    }

    fn tick_period(&self) -> Duration {
        (self.cfg.state.grace / 4).clamp(Duration::from_millis(100), Duration::from_secs(1))
    }

    /// Watches the state's folder (the state itself may be deleted and recreated).
    fn watch(&mut self, ctx: &mut Context<Self>) {
        self.watcher = None;
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
                act.request(
                    Job::Scan {
                        reason: "change".into(),
                        force: false,
                        startup: false,
                    },
                    ctx,
                );
            }
        }));
    }

    /// Starts `job`, or coalesces it with the pending one while another runs.
    fn request(&mut self, job: Job, ctx: &mut Context<Self>) {
        if self.stopping {
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
        let handle = tokio::task::spawn_blocking(move || {
            let j = job.clone();
            match super::catch(|| run_job(&cfg, j, cache)) {
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
                }
                if let Some(e) = error {
                    log::error!("state: {e}");
                }
                if let Some(seen) = seen {
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
                    self.pending.get_or_insert(Job::Scan {
                        reason: "change".into(),
                        force: false,
                        startup: false,
                    });
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
            self.start_job(next, ctx);
        }
    }

    fn react(&mut self, seen: &Seen, ctx: &mut Context<Self>) {
        let st = &self.cfg.state;
        match self
            .guard
            .observe(seen, Instant::now(), st.grace, st.auto_restore)
        {
            Action::Nothing => {}
            Action::Alarm(d) => {
                log::error!("{d}; `tfops restore --latest` puts the newest valid snapshot back");
                self.alarm(ALARM_STATE, d);
            }
            Action::AlarmAndRestore(d) => {
                log::error!("{d}; restoring the newest valid snapshot (auto_restore)");
                self.alarm(ALARM_STATE, d.clone());
                self.request(Job::Restore { why: d }, ctx);
            }
            Action::Clear => {
                log::info!("the state is valid again");
                let _ = self.status.try_send(StatusEvent::ClearAlarm {
                    kind: ALARM_STATE.into(),
                });
            }
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
        self.watch(ctx);
        self.arm_tick(ctx);
        self.request(
            Job::Scan {
                reason: "start".into(),
                force: false,
                startup: true,
            },
            ctx,
        );
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
            act.request(
                Job::Scan {
                    reason: "change".into(),
                    force: false,
                    startup: false,
                },
                ctx,
            );
        }));
    }
}

impl Handler<Reconfigure> for StateKeeperActor {
    type Result = ();
    fn handle(&mut self, msg: Reconfigure, ctx: &mut Context<Self>) {
        let moved = msg.0.state.path != self.cfg.state.path
            || msg.0.state.backups != self.cfg.state.backups;
        let regrace = msg.0.state.grace != self.cfg.state.grace;
        self.cfg = msg.0;
        if self.stopping {
            return;
        }
        if moved {
            self.cache = None;
            if self.guard.alarmed() {
                let _ = self.status.try_send(StatusEvent::ClearAlarm {
                    kind: ALARM_STATE.into(),
                });
            }
            self.guard.reset();
            self.watch(ctx);
            self.request(
                Job::Scan {
                    reason: "start".into(),
                    force: false,
                    startup: true,
                },
                ctx,
            );
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
