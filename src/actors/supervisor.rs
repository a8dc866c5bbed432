//! SupervisorActor: owns the routing table (who is up, down, off), the intake, reload and
//! shutdown, and supervises the other actors.
//!
//! Intake: notify events are hints (a close-write or a moved-in name is taken at once), full
//! rescans are the truth (at start, on a queue overflow, every `balancer.rescan`, deferred
//! while a long queue drains); a name found by a rescan is taken once it has settled
//! ([`crate::spool::intake`]). The queue, the routing of names in batches and what a batch's
//! outcomes mean (requeue at the front, retry at the next rescan, suspect service) are
//! [`crate::spool::dispatch`]'s; each name is handed to exactly one ServiceActor at a time.
//!
//! Its state is grouped by concern: the routing table, the intake, the children, the reload
//! gate, the status board. The routing table, alarms, reload coalescing, rescan pacing,
//! restart caps and reload diffing are [`crate::supervision`]'s, tested there without actix;
//! this file owns the actors, timers, watchers, messages and files around them.
//!
//! Supervision: a child that panics is restarted by actix's `Supervisor`; restarts are capped
//! per time window as Erlang/OTP does (`MAX_RESTARTS` in `RESTART_PERIOD`), and past the cap
//! the whole process exits with [`EXIT_RESTART_CAP`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use chrono::Local;

use super::cost::CostActor;
use super::drift::DriftActor;
use super::health::{CheckNow, HealthActor, HealthReport};
use super::service::{DeliverBatch, ServiceActor};
use super::state_keeper::StateKeeperActor;
use super::{ChildPanicked, Reconfigure, SetOff, Shutdown, SnapshotNow, StatusEvent};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::fsutil::{json_ts, write_atomic};
use crate::health;
use crate::router::Router;
use crate::service_id::ServiceId;
use crate::spool::desk::{DeliveryOutcome, Limits};
use crate::spool::dispatch::{Dispatch, Round};
use crate::spool::intake::{self, Settler};
use crate::status::{DaemonInfo, DaemonStatus};
use crate::supervision::{
    plan_reload, Alarms, ReloadGate, RescanPacer, Restart, RestartBudget, RoutingTable, Slot,
};
use crate::watch::{Hint, MaskedWatcher, INTAKE_MASK};
use crate::workspace::Workspace;

/// Exit code when a child keeps panicking past the restart cap.
pub const EXIT_RESTART_CAP: i32 = 70;
const MAX_RESTARTS: usize = 5;
const RESTART_PERIOD: Duration = Duration::from_secs(60);
/// Requests in flight per service; more wait in the supervisor's queue.
const MAX_IN_FLIGHT: usize = 512;
/// Requests per message to a ServiceActor.
const BATCH: usize = 64;
/// A queue longer than this defers periodic rescans ...
const RESCAN_BUSY_QUEUE: usize = 4096;
/// ... for at most this many rescan intervals in a row.
const RESCAN_DEFER_MAX: u32 = 10;

/// SIGHUP: reload the configuration.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Reload;

/// SIGTERM / SIGINT: stop gracefully.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Stop;

/// SIGUSR1: snapshot the state.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Usr1;

/// The live status (for `/api/status` and `/metrics`).
#[derive(Message)]
#[rtype(result = "Live")]
pub struct LiveStatus;

/// The supervisor's view now: what `status.json` would say, the requests it knows in the
/// intake (queued, in flight or settling), and whether it is ready (intake watched).
#[derive(Debug, Clone)]
pub struct Live {
    pub status: DaemonStatus,
    pub intake: u64,
    pub ready: bool,
}

/// New names in the intake (from the watcher thread; coalesced).
#[derive(Message)]
#[rtype(result = "()")]
struct IntakeWake;

#[derive(Default)]
struct IntakeHints {
    names: Vec<OsString>,
    rescan: bool,
}

/// The intake side: the dispatch queue, names waiting to settle, the watcher's hints and the
/// rescan timers.
struct Intake {
    dispatch: Dispatch,
    settler: Settler,
    hints: Arc<Mutex<IntakeHints>>,
    watcher: Option<MaskedWatcher>,
    rescan_timer: Option<SpawnHandle>,
    pacer: RescanPacer,
    /// A settle check is armed.
    settle_timer: bool,
}

impl Intake {
    /// Names the supervisor knows in the intake: queued, in flight (`in_flight`) or settling.
    fn known(&self, in_flight: usize) -> u64 {
        (self.dispatch.waiting() + in_flight + self.settler.waiting().count()) as u64
    }
}

/// The other actors the supervisor starts, and the service actors by service.
#[derive(Default)]
struct Children {
    services: BTreeMap<ServiceId, Addr<ServiceActor>>,
    health: Option<Addr<HealthActor>>,
    cost: Option<Addr<CostActor>>,
    state_keeper: Option<Addr<StateKeeperActor>>,
    drift: Option<Addr<DriftActor>>,
}

/// What `status.json` says beside the routing table, and whether it must be written again.
struct Board {
    started_at: String,
    config_loaded_at: String,
    last_reload_error: Option<String>,
    alarms: Alarms,
    dirty: bool,
}

/// What `run` hands the supervisor at start.
pub struct Start {
    pub ws: Workspace,
    pub cfg: Arc<Config>,
    pub config_path: PathBuf,
    /// Services a cost schedule holds off at start.
    pub off: BTreeSet<ServiceId>,
}

pub struct SupervisorActor {
    ws: Workspace,
    cfg: Arc<Config>,
    config_path: PathBuf,
    /// Routing: the policy and what is known of each service.
    router: Router,
    table: RoutingTable,
    /// Services a cost schedule held off at start.
    off_at_start: BTreeSet<ServiceId>,
    intake: Intake,
    children: Children,
    reload: ReloadGate,
    board: Board,
    restarts: RestartBudget,
    stopping: bool,
}

impl SupervisorActor {
    pub fn new(s: Start) -> Self {
        let now = json_ts(Local::now());
        SupervisorActor {
            router: Router::new(s.cfg.balancer.strategy),
            ws: s.ws,
            cfg: s.cfg,
            config_path: s.config_path,
            table: RoutingTable::default(),
            off_at_start: s.off,
            intake: Intake {
                dispatch: Dispatch::new(),
                settler: Settler::default(),
                hints: Arc::new(Mutex::new(IntakeHints::default())),
                watcher: None,
                rescan_timer: None,
                pacer: RescanPacer::new(RESCAN_BUSY_QUEUE, RESCAN_DEFER_MAX),
                settle_timer: false,
            },
            children: Children::default(),
            reload: ReloadGate::default(),
            board: Board {
                started_at: now.clone(),
                config_loaded_at: now,
                last_reload_error: None,
                alarms: Alarms::default(),
                dirty: true,
            },
            restarts: RestartBudget::new(MAX_RESTARTS, RESTART_PERIOD),
            stopping: false,
        }
    }

    fn limits(&self) -> Limits {
        Limits {
            max_request_bytes: self.cfg.balancer.max_request_bytes,
            recent_in_log: self.cfg.balancer.recent_in_log,
        }
    }

    fn start_service(&mut self, n: ServiceId, ctx: &mut Context<Self>) {
        let ws = &self.ws;
        let added = self.table.add(n, || {
            Slot::new(
                health::check(ws, n, false),
                health::backlog(ws, n),
                // Requests routed to it ever (load_N.json), as `status` shows without a daemon.
                std::fs::read(ws.load_json(n))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                    .and_then(|j| j["total"].as_u64())
                    .unwrap_or(0),
                self.off_at_start.contains(&n),
            )
        });
        if !added {
            return;
        }
        let (ws, limits, parent) = (self.ws.clone(), self.limits(), ctx.address().recipient());
        let arbiter = Arbiter::new();
        let addr = actix::Supervisor::start_in_arbiter(&arbiter.handle(), move |_| {
            ServiceActor::new(ws, n, limits, parent)
        });
        self.children.services.insert(n, addr);
    }

    fn watch_intake(&mut self, ctx: &mut Context<Self>) {
        let hints = self.intake.hints.clone();
        let me = ctx.address();
        let w = MaskedWatcher::spawn("tfops-intake", move |hint| {
            let mut h = hints.lock().unwrap_or_else(|e| e.into_inner());
            let was_empty = h.names.is_empty() && !h.rescan;
            match hint {
                Hint::Overflow => h.rescan = true,
                Hint::Name {
                    name: Some(name), ..
                } => {
                    if crate::spool::request::is_in_progress(&name) {
                        return;
                    }
                    h.names.push(name);
                }
                Hint::Name { name: None, .. } => return,
            }
            if was_empty {
                me.do_send(IntakeWake);
            }
        });
        match w.and_then(|mut w| w.add(&self.ws.intake(), INTAKE_MASK).map(|_| w)) {
            Ok(w) => self.intake.watcher = Some(w),
            Err(e) => log::warn!("no intake events ({e}); relying on rescans"),
        }
    }

    fn schedule_rescan(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.intake.rescan_timer.take() {
            ctx.cancel_future(h);
        }
        self.intake.rescan_timer = Some(ctx.run_interval(self.cfg.balancer.rescan, |act, ctx| {
            if act.intake.pacer.due(act.intake.dispatch.waiting()) {
                act.full_scan(ctx);
            }
        }));
    }

    /// Lists the intake; names not already queued go through the settler.
    fn full_scan(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let dispatch = &self.intake.dispatch;
        let entries = match intake::scan_except(&self.ws.intake(), |n| dispatch.is_queued(n)) {
            Ok(e) => e,
            Err(e) => {
                log::error!("cannot read {}: {e}", self.ws.intake().display());
                let _ = std::fs::create_dir_all(self.ws.intake());
                return;
            }
        };
        if !self.intake.settler.is_empty() {
            let present: HashSet<OsString> = entries.iter().map(|e| e.name.clone()).collect();
            self.intake.settler.retain_present(&present);
        }
        let ready = self
            .intake
            .settler
            .observe(entries, Instant::now(), self.cfg.balancer.settle);
        self.enqueue(ready);
        self.arm_settle_check(ctx);
        self.pump(ctx);
    }

    /// Re-stats names waiting to settle after `settle`, without a full listing.
    fn arm_settle_check(&mut self, ctx: &mut Context<Self>) {
        if self.intake.settler.is_empty() || self.intake.settle_timer {
            return;
        }
        self.intake.settle_timer = true;
        let wait = self.cfg.balancer.settle + Duration::from_millis(5);
        ctx.run_later(wait, |act, ctx| {
            act.intake.settle_timer = false;
            let dir = act.ws.intake();
            let names: Vec<OsString> = act.intake.settler.waiting().cloned().collect();
            let mut seen = Vec::with_capacity(names.len());
            for n in names {
                match intake::stat(&dir, &n) {
                    Some(e) => seen.push(e),
                    None => act.intake.settler.forget(&n),
                }
            }
            let ready = act
                .intake
                .settler
                .observe(seen, Instant::now(), act.cfg.balancer.settle);
            act.enqueue(ready);
            act.arm_settle_check(ctx);
            act.pump(ctx);
        });
    }

    fn enqueue(&mut self, names: Vec<OsString>) {
        self.intake.dispatch.enqueue(names);
    }

    /// Hands queued names to services that can take them, in batches.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let cfg = &self.cfg;
        let open = self
            .table
            .open(MAX_IN_FLIGHT, |n| cfg.service_settings(n).weight);
        let round = Round {
            batch: BATCH,
            max: usize::MAX,
        };
        for b in self.intake.dispatch.assign(&mut self.router, &open, round) {
            self.table.handed(b.service, b.names.len());
            self.send_batch(b.service, b.names, ctx);
        }
    }

    fn send_batch(&mut self, n: ServiceId, names: Vec<OsString>, ctx: &mut Context<Self>) {
        let Some(addr) = self.children.services.get(&n) else {
            return;
        };
        let fut = addr.send(DeliverBatch(names.clone()));
        ctx.spawn(fut.into_actor(self).map(move |res, act, ctx| {
            act.batch_done(n, names, res, ctx);
        }));
    }

    fn batch_done(
        &mut self,
        n: ServiceId,
        names: Vec<OsString>,
        res: Result<Vec<DeliveryOutcome>, MailboxError>,
        ctx: &mut Context<Self>,
    ) {
        self.board.dirty = true;
        let count = names.len();
        let outcomes = match res {
            Ok(o) => o,
            Err(e) => {
                log::warn!("{n} did not answer ({e}); its requests stay in the intake");
                names
                    .iter()
                    .map(|_| DeliveryOutcome::Failed {
                        error: e.to_string(),
                        service_fault: false,
                    })
                    .collect()
            }
        };
        let settled = self.intake.dispatch.settle(names, outcomes);
        let down = self.table.answered(n, count, &settled);
        // One warning per batch: a full disk fails every request the same way.
        if let Some(first) = settled.deferred.first() {
            log::warn!(
                "{} request(s) stay in the intake, retried at the next rescan; the first, {}: {}",
                settled.deferred.len(),
                first.name.to_string_lossy(),
                first.error
            );
        }
        if let Some((n, from, to, err)) = down {
            log::warn!(
                "{n} failed a delivery ({err}); not routing to it until a health check passes"
            );
            crate::events::health(n, from, to, &err);
        }
        if settled.suspect.is_some() {
            if let Some(h) = &self.children.health {
                h.do_send(CheckNow);
            }
        }
        if self.stopping {
            self.maybe_finish(ctx);
        } else {
            self.pump(ctx);
        }
    }

    fn write_status(&mut self) {
        if !self.board.dirty {
            return;
        }
        self.board.dirty = false;
        let st = self.live_status();
        match serde_json::to_vec_pretty(&st) {
            Ok(b) => {
                if let Err(e) = write_atomic(&self.ws.status_json(), &b, 0o644, false) {
                    log::warn!("cannot write status.json: {e}");
                }
            }
            Err(e) => log::warn!("cannot encode status: {e}"),
        }
    }

    /// What `status.json` says, as of now.
    fn live_status(&self) -> DaemonStatus {
        DaemonStatus {
            daemon: DaemonInfo {
                pid: std::process::id(),
                started_at: self.board.started_at.clone(),
                config_loaded_at: self.board.config_loaded_at.clone(),
                last_reload_error: self.board.last_reload_error.clone(),
            },
            services: self.table.statuses(),
            alarms: self.board.alarms.list().to_vec(),
            strategy: self.router.strategy().as_str().to_string(),
            updated_at: json_ts(Local::now()),
        }
    }

    fn alarm(&mut self, kind: &str, detail: String) {
        self.board.alarms.raise(kind, detail, json_ts(Local::now()));
        self.board.dirty = true;
    }

    /// Reads and validates the config off the actor thread (a hostile file can take hcl-edit
    /// seconds to parse; routing must not wait), then applies it. A SIGHUP that arrives
    /// meanwhile triggers one more reload afterwards, so the file's latest content wins.
    fn start_reload(&mut self, ctx: &mut Context<Self>) {
        if !self.reload.request() {
            return;
        }
        let path = self.config_path.clone();
        let display = self.ws.rel(&self.config_path).into_owned();
        let root = self.ws.root.clone();
        let load = actix_rt::task::spawn_blocking(move || Config::load(&path, &display, &root));
        ctx.spawn(load.into_actor(self).map(|res, act, ctx| {
            let again = act.reload.finished();
            match res {
                Ok(r) => act.apply_reload(r, ctx),
                Err(e) => log::error!("reload failed to run: {e}; the old configuration stays"),
            }
            if again && !act.stopping {
                act.start_reload(ctx);
            }
        }));
    }

    fn apply_reload(
        &mut self,
        loaded: Result<Config, crate::config::ConfigError>,
        ctx: &mut Context<Self>,
    ) {
        // Services must fit under the open-file limit (raised at start): a count that does not
        // is refused like an invalid file, the old configuration kept.
        let loaded = loaded
            .map_err(|e| e.to_string())
            .and_then(|c| crate::rlimit::check_services(c.services.count).map(|()| c));
        let new = match loaded {
            Ok(c) => c,
            Err(e) => {
                let msg = e;
                log::error!("reload refused, the old configuration stays in force:\n{msg}");
                crate::events::reload(Some(&msg));
                self.board.last_reload_error = Some(msg.clone());
                self.alarm("config", format!("reload refused: {msg}"));
                return;
            }
        };
        let old = self.cfg.clone();
        let new = Arc::new(new);
        self.cfg = new.clone();
        self.board.config_loaded_at = json_ts(Local::now());
        self.board.last_reload_error = None;
        self.board.alarms.clear("config");
        self.board.dirty = true;
        self.router.set_strategy(new.balancer.strategy);
        let plan = plan_reload(&old, &new, self.table.running());
        // Services added and removed.
        for n in plan.run {
            self.start_service(n, ctx);
        }
        for n in plan.remove {
            if self.table.remove(n) {
                if let Some(a) = self.children.services.get(&n) {
                    a.do_send(Shutdown);
                }
                log::info!("{n} removed by the new configuration");
            }
        }
        if plan.reapply_active {
            // Schedules first: a service the new schedules hold off gets no marker;
            // the CostActor archives it when it handles the Reconfigure below.
            let mut off = self.table.held_off();
            off.extend(
                crate::schedule::off_at(&new.schedules, new.services.count, chrono::Utc::now())
                    .into_keys(),
            );
            if let Err(e) = health::apply_active(&self.ws, &new, &off) {
                log::error!("cannot apply services.active: {e}");
            }
        }
        if plan.rearm_rescan {
            self.schedule_rescan(ctx);
        }
        let msg = Reconfigure(new);
        let c = &self.children;
        for a in c.services.values() {
            a.do_send(msg.clone());
        }
        if let Some(h) = &c.health {
            h.do_send(msg.clone());
        }
        if let Some(a) = &c.cost {
            a.do_send(msg.clone());
        }
        if let Some(a) = &c.state_keeper {
            a.do_send(msg.clone());
        }
        if let Some(a) = &c.drift {
            a.do_send(msg);
        }
        crate::events::reload(None);
        log::info!(
            "configuration reloaded: {} services, strategy {}",
            self.cfg.services.count,
            self.cfg.balancer.strategy.as_str()
        );
        self.full_scan(ctx);
    }

    /// Once nothing is in flight: flush every actor, write the last status, stop the system.
    fn maybe_finish(&mut self, ctx: &mut Context<Self>) {
        if self.table.in_flight() > 0 {
            return;
        }
        if !self.stopping {
            return;
        }
        let services: Vec<_> = self.children.services.values().cloned().collect();
        let cost = self.children.cost.clone();
        let state = self.children.state_keeper.clone();
        let drift = self.children.drift.clone();
        let fut = async move {
            for s in services {
                let _ = s.send(Shutdown).await;
            }
            if let Some(a) = cost {
                let _ = a.send(Shutdown).await;
            }
            if let Some(a) = state {
                let _ = a.send(Shutdown).await;
            }
            if let Some(a) = drift {
                let _ = a.send(Shutdown).await;
            }
        };
        ctx.wait(fut.into_actor(self).map(|_, act, _| {
            act.board.dirty = true;
            act.write_status();
            let _ = std::fs::remove_file(act.ws.run_pid());
            log::info!("stopped: nothing in flight, logs flushed");
            System::current().stop_with_code(0);
        }));
    }
}

impl Actor for SupervisorActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        for n in ServiceId::all(self.cfg.services.count) {
            self.start_service(n, ctx);
        }
        let me = ctx.address();
        let health = HealthActor::new(
            self.ws.clone(),
            self.cfg.clone(),
            me.clone().recipient(),
            me.clone().recipient(),
        );
        self.children.health = Some(actix::Supervisor::start(move |_| health));
        let cost = CostActor::new(
            self.ws.clone(),
            self.cfg.clone(),
            Arc::new(SystemClock),
            me.clone().recipient(),
            me.clone().recipient(),
        );
        self.children.cost = Some(actix::Supervisor::start(move |_| cost));
        self.children.state_keeper = Some(
            StateKeeperActor::new(self.ws.clone(), self.cfg.clone(), me.clone().recipient())
                .start(),
        );
        self.children.drift = Some(
            DriftActor::new(self.ws.clone(), self.cfg.clone(), me.clone().recipient()).start(),
        );
        self.watch_intake(ctx);
        self.schedule_rescan(ctx);
        ctx.run_interval(Duration::from_secs(1), |act, _| act.write_status());
        self.full_scan(ctx);
        self.write_status();
        log::info!(
            "supervising {} services in {} (pid {})",
            self.cfg.services.count,
            self.ws.root.display(),
            std::process::id()
        );
    }
}

impl Handler<IntakeWake> for SupervisorActor {
    type Result = ();
    fn handle(&mut self, _: IntakeWake, ctx: &mut Context<Self>) {
        let (names, rescan) = {
            let mut h = self.intake.hints.lock().unwrap_or_else(|e| e.into_inner());
            (std::mem::take(&mut h.names), std::mem::take(&mut h.rescan))
        };
        if rescan {
            log::debug!("intake event queue overflowed: full rescan");
            self.full_scan(ctx);
        }
        for n in &names {
            self.intake.settler.forget(n);
        }
        self.enqueue(names);
        self.pump(ctx);
    }
}

impl Handler<LiveStatus> for SupervisorActor {
    type Result = MessageResult<LiveStatus>;
    fn handle(&mut self, _: LiveStatus, _: &mut Context<Self>) -> Self::Result {
        MessageResult(Live {
            status: self.live_status(),
            intake: self.intake.known(self.table.in_flight()),
            ready: self.intake.watcher.is_some() && !self.stopping,
        })
    }
}

impl Handler<HealthReport> for SupervisorActor {
    type Result = ();
    fn handle(&mut self, msg: HealthReport, ctx: &mut Context<Self>) {
        for (n, v, backlog) in msg.0 {
            let (changed, transition) = self.table.report(n, v, backlog);
            self.board.dirty |= changed;
            if let Some((n, from, to, reason)) = transition {
                crate::events::health(n, from, to, &reason);
            }
        }
        self.pump(ctx);
    }
}

impl Handler<SetOff> for SupervisorActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, msg: SetOff, ctx: &mut Context<Self>) -> Self::Result {
        let n = msg.service;
        if let Some((was, now)) = self.table.set_off(n, msg.off) {
            self.board.dirty = true;
            crate::events::schedule(n, was, now);
        }
        if !msg.off {
            if let Some(h) = &self.children.health {
                h.do_send(CheckNow);
            }
            self.pump(ctx);
            return Box::pin(actix::fut::ready(()));
        }
        // Reply once nothing is in flight to that service, so its folder can move.
        WaitIdle { n }.run(self)
    }
}

/// Waits (polling every 10 ms) until service `n` has nothing in flight. Every batch future
/// ends (with outcomes or a mailbox error), so this always ends too.
struct WaitIdle {
    n: ServiceId,
}

impl WaitIdle {
    fn run(self, act: &mut SupervisorActor) -> ResponseActFuture<SupervisorActor, ()> {
        let busy = act.table.in_flight_to(self.n) > 0;
        if !busy {
            return Box::pin(actix::fut::ready(()));
        }
        let next = WaitIdle { n: self.n };
        Box::pin(
            actix_rt::time::sleep(Duration::from_millis(10))
                .into_actor(act)
                .then(move |_, act, _| next.run(act)),
        )
    }
}

impl Handler<StatusEvent> for SupervisorActor {
    type Result = ();
    fn handle(&mut self, msg: StatusEvent, _: &mut Context<Self>) {
        match msg {
            StatusEvent::Alarm { kind, detail } => {
                log::warn!("alarm {kind}: {detail}");
                crate::events::alarm(&kind, &detail);
                self.alarm(&kind, detail);
            }
            StatusEvent::ClearAlarm { kind } => {
                crate::events::alarm_cleared(&kind, self.board.alarms.list());
                self.board.alarms.clear(&kind);
                self.board.dirty = true;
            }
        }
    }
}

impl Handler<ChildPanicked> for SupervisorActor {
    type Result = ();
    fn handle(&mut self, msg: ChildPanicked, _: &mut Context<Self>) {
        let verdict = self.restarts.record(Instant::now());
        self.alarm("panic", format!("{} panicked: {}", msg.who, msg.message));
        crate::events::emit(crate::events::Event::Restart {
            actor: msg.who.clone(),
        });
        match verdict {
            Restart::GiveUp { count } => {
                log::error!(
                    "{} restarts in {} s (last: {} panicked: {}); giving up",
                    count,
                    RESTART_PERIOD.as_secs(),
                    msg.who,
                    msg.message
                );
                self.write_status();
                let _ = std::fs::remove_file(self.ws.run_pid());
                System::current().stop_with_code(EXIT_RESTART_CAP);
            }
            Restart::Allowed { count } => {
                log::warn!(
                    "{} restarted ({} of at most {MAX_RESTARTS} in {} s)",
                    msg.who,
                    count,
                    RESTART_PERIOD.as_secs()
                );
            }
        }
    }
}

impl Handler<Reload> for SupervisorActor {
    type Result = ();
    fn handle(&mut self, _: Reload, ctx: &mut Context<Self>) {
        if !self.stopping {
            self.start_reload(ctx);
        }
    }
}

impl Handler<Usr1> for SupervisorActor {
    type Result = ();
    fn handle(&mut self, _: Usr1, _: &mut Context<Self>) {
        if let Some(a) = &self.children.state_keeper {
            a.do_send(SnapshotNow {
                reason: "SIGUSR1".into(),
            });
        }
    }
}

impl Handler<Stop> for SupervisorActor {
    type Result = ();
    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        log::info!(
            "stopping: intake closed, finishing {} move(s) in flight",
            self.table.in_flight()
        );
        self.stopping = true;
        self.intake.watcher = None;
        self.maybe_finish(ctx);
    }
}
