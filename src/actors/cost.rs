//! CostActor: evaluates the schedules at start, at every minute boundary and after a reload;
//! archives and unarchives service folders; keeps the cost ledger and `cost.log`.
//!
//! Whether a window is open is decided in [`crate::schedule`], and what to move (and the moves
//! themselves) in [`crate::schedule::reconcile`]; this file does the timing and the messages
//! around them. A service is *off* exactly when `archived/service_N/` exists: that is what the
//! supervisor, `status` and the ledger go by.
//!
//! - Entering a window: `SetOff { off: true }` to the supervisor's routing, whose reply means no
//!   delivery to the service is in flight and none will start; then one no-overwrite rename of
//!   `balanceador/service_N` to `archived/service_N` (requests in the inbox go with it, none is
//!   lost); then a line in `cost.log`. A service without a folder gets an empty archive folder,
//!   so that it counts as off.
//! - Leaving it: the rename back, the `cost.log` line, then `SetOff { off: false }`.
//! - Both folders present is a conflict: nothing is moved or overwritten; it is logged and
//!   raised as the `cost_conflict` alarm (shown by `status`) until someone moves one away.
//! - A crash between the steps leaves a state the next evaluation finishes: the comparison is
//!   always between what the schedules want now and which folder exists.
//!
//! [`crate::schedule::reconcile::apply_now`] does the same synchronously, without routing
//! messages, for `run --once` and the supervisor's start (before any routing happens).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use actix::prelude::*;
use chrono::{DateTime, Duration, DurationRound, SubsecRound, Utc};

use super::{catch, Reconfigure, SetOff, Shutdown, StatusEvent};
use crate::clock::Clock;
use crate::config::Config;
use crate::schedule::ledger::{Held, Ledger, LedgerError};
use crate::schedule::off_reason;
use crate::schedule::reconcile::{
    archive, leave_name, plan, present, unarchive, CostError, ScheduleChange,
};
use crate::service_id::ServiceId;
use crate::workspace::Workspace;

/// Alarm kind raised while an archive folder and a live folder both exist.
pub const CONFLICT_ALARM: &str = "cost_conflict";
/// Alarm kind raised when a folder cannot be moved or the ledger cannot be written.
pub const ERROR_ALARM: &str = "cost_error";

/// How long to wait for the supervisor to take a service off routing (it waits up to a minute
/// for deliveries in flight) before trying again at the next minute.
const SET_OFF_TIMEOUT: StdDuration = StdDuration::from_secs(90);

/// Evaluate the schedules now. The timer sends it at every minute boundary; tests send it after
/// moving a `FakeClock`. The reply comes once every change is done.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Tick;

/// Keeps services off or on as the schedules say, and the ledger of what that cost.
pub struct CostActor {
    ws: Workspace,
    cfg: Arc<Config>,
    clock: Arc<dyn Clock>,
    routing: Recipient<SetOff>,
    status: Recipient<StatusEvent>,
    ledger: Option<Ledger>,
    /// How each service billed since the last evaluation.
    held: BTreeMap<ServiceId, Held>,
    /// The alarm details last raised, by kind.
    raised: BTreeMap<&'static str, String>,
    timer: Option<SpawnHandle>,
    last_compact: Option<DateTime<Utc>>,
    stopping: bool,
}

impl CostActor {
    pub fn new(
        ws: Workspace,
        cfg: Arc<Config>,
        clock: Arc<dyn Clock>,
        routing: Recipient<SetOff>,
        status: Recipient<StatusEvent>,
    ) -> Self {
        CostActor {
            ws,
            cfg,
            clock,
            routing,
            status,
            ledger: None,
            held: BTreeMap::new(),
            raised: BTreeMap::new(),
            timer: None,
            last_compact: None,
            stopping: false,
        }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(0)
    }

    /// Opens the ledger (repairing and compacting it) if not open yet.
    ///
    /// # Errors
    /// When the file exists but cannot be read or repaired: accounting waits until it can.
    fn open_ledger(&mut self) -> Result<&mut Ledger, LedgerError> {
        let ledger = match self.ledger.take() {
            Some(l) => l,
            None => {
                let l = Ledger::open(&self.ws.cost_ledger())?;
                self.last_compact = Some(self.now());
                l
            }
        };
        Ok(self.ledger.insert(ledger))
    }

    /// Appends the time since the last record with the states held, and compacts once a day.
    ///
    /// # Errors
    /// When the ledger cannot be opened or written; the next call covers the interval again.
    fn record(&mut self, now: DateTime<Utc>) -> Result<(), CostError> {
        let held = std::mem::take(&mut self.held);
        let res = self
            .open_ledger()
            .and_then(|l| l.record(now, &held).map(|_| ()));
        self.held = held;
        res?;
        if self
            .last_compact
            .is_some_and(|t| now - t >= Duration::days(1))
        {
            self.last_compact = Some(now);
            if let Some(Err(e)) = self.ledger.as_ref().map(Ledger::compact) {
                log::warn!("{e}");
            }
        }
        Ok(())
    }

    /// Re-reads which services are off, for billing from now on.
    fn refresh_held(&mut self, now: DateTime<Utc>) {
        let mut held = BTreeMap::new();
        for n in ServiceId::all(self.cfg.services.count) {
            let off = present(&self.ws.archived_dir(n));
            let schedule = off.then(|| {
                off_reason(&self.cfg.schedules, n, now)
                    .map(str::to_string)
                    .or_else(|| self.held.get(&n).and_then(|h| h.schedule.clone()))
                    .or_else(|| {
                        self.ledger
                            .as_ref()
                            .and_then(|l| l.last_schedule(n))
                            .map(str::to_string)
                    })
            });
            held.insert(
                n,
                Held {
                    off,
                    schedule: schedule.flatten(),
                    hourly_cost: self.cfg.service_settings(n).hourly_cost,
                },
            );
        }
        self.held = held;
    }

    /// Logs a problem and raises its alarm (once per distinct detail).
    fn problem(&mut self, kind: &'static str, detail: String) {
        if self.raised.get(kind) != Some(&detail) {
            log::warn!("{detail}");
            self.status.do_send(StatusEvent::Alarm {
                kind: kind.to_string(),
                detail: detail.clone(),
            });
            self.raised.insert(kind, detail);
        }
    }

    fn clear(&mut self, kind: &'static str) {
        if self.raised.remove(kind).is_some() {
            log::info!("{kind}: resolved");
            self.status.do_send(StatusEvent::ClearAlarm {
                kind: kind.to_string(),
            });
        }
    }

    /// Raises or clears the alarms after an evaluation.
    fn settle_alarms(&mut self, problems: Vec<CostError>) {
        let (conflicts, errors): (Vec<_>, Vec<_>) = problems
            .into_iter()
            .partition(|p| matches!(p, CostError::Conflict { .. }));
        for (kind, list) in [(CONFLICT_ALARM, conflicts), (ERROR_ALARM, errors)] {
            if list.is_empty() {
                self.clear(kind);
            } else {
                let detail = list
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                self.problem(kind, detail);
            }
        }
    }

    /// One evaluation: record the ledger up to now, then make the folders match the schedules.
    /// The returned future finishes once every change is done; run it atomically.
    fn evaluate(&mut self) -> ResponseActFuture<Self, ()> {
        if self.stopping {
            return Box::pin(fut::ready(()));
        }
        let now = self.now();
        let prepared = catch(|| {
            let recorded = self.record(now);
            let cfg = self.cfg.clone();
            let held = self.held.clone();
            let (actions, mut problems) = plan(&self.ws, &cfg, now, |n| {
                let known = held.get(&n).and_then(|h| h.schedule.as_deref());
                leave_name(&cfg, n, now, known)
            });
            problems.extend(recorded.err());
            (actions, problems)
        });
        let (actions, conflicts) = match prepared {
            Ok(p) => p,
            Err(msg) => {
                self.problem(ERROR_ALARM, format!("cost evaluation panicked: {msg}"));
                return Box::pin(fut::ready(()));
            }
        };
        let ws = self.ws.clone();
        let routing = self.routing.clone();
        let work = async move {
            let mut problems = conflicts;
            for a in actions {
                let res = match &a {
                    ScheduleChange::Enter { service, schedule } => {
                        let n = *service;
                        match routing
                            .send(SetOff {
                                service: n,
                                off: true,
                            })
                            .timeout(SET_OFF_TIMEOUT)
                            .await
                        {
                            Ok(()) => archive(&ws, n, schedule, now),
                            Err(e) => Err(CostError::Routing {
                                service: n,
                                reason: e.to_string(),
                            }),
                        }
                    }
                    ScheduleChange::Leave { service, schedule } => {
                        let n = *service;
                        let res = unarchive(&ws, n, schedule, now);
                        if matches!(res, Ok(()) | Err(CostError::Log { .. })) {
                            let back = SetOff {
                                service: n,
                                off: false,
                            };
                            if let Err(e) = routing.send(back).timeout(SET_OFF_TIMEOUT).await {
                                log::warn!("{n}: could not tell the supervisor it is back on: {e}");
                            }
                        }
                        res
                    }
                };
                if let Err(e) = res {
                    problems.push(e);
                }
            }
            problems
        };
        Box::pin(work.into_actor(self).map(move |problems, act, _| {
            act.refresh_held(now);
            act.settle_alarms(problems);
        }))
    }

    /// Arms the timer for the next minute boundary of the clock.
    fn arm(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        let now = self.clock.now();
        let next = now
            .duration_trunc(Duration::minutes(1))
            .map(|t| t + Duration::minutes(1))
            .unwrap_or(now + Duration::minutes(1));
        let wait = (next - now)
            .to_std()
            .unwrap_or_default()
            .clamp(StdDuration::from_millis(20), StdDuration::from_secs(60));
        self.timer = Some(ctx.run_later(wait, |act, ctx| {
            let f = act.evaluate();
            ctx.wait(f);
            act.arm(ctx);
        }));
    }
}

impl Actor for CostActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.stopping = false;
        if let Err(e) = self.open_ledger() {
            // Raised by the evaluation below, retried every minute.
            log::warn!("{e}");
        }
        // Bill from now on with what the folders say, then evaluate.
        self.refresh_held(self.now());
        let f = self.evaluate();
        ctx.wait(f);
        self.arm(ctx);
    }
}

impl Supervised for CostActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // A fresh start re-reads the ledger (continuing where it ends) and the folders.
        self.ledger = None;
        self.timer = None;
    }
}

impl Handler<Tick> for CostActor {
    type Result = AtomicResponse<Self, ()>;
    fn handle(&mut self, _: Tick, _: &mut Context<Self>) -> Self::Result {
        AtomicResponse::new(self.evaluate())
    }
}

impl Handler<Reconfigure> for CostActor {
    type Result = AtomicResponse<Self, ()>;
    fn handle(&mut self, msg: Reconfigure, _: &mut Context<Self>) -> Self::Result {
        // The time so far is recorded at the old costs (held), then the new config applies.
        let now = self.now();
        if let Err(e) = self.record(now) {
            self.problem(ERROR_ALARM, e.to_string());
        }
        self.cfg = msg.0;
        AtomicResponse::new(self.evaluate())
    }
}

impl Handler<Shutdown> for CostActor {
    type Result = ();
    /// Records the ledger up to now and stops evaluating. Folders stay as they are: a service
    /// off stays off while no daemon runs.
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        let now = self.now();
        if let Err(e) = self.record(now) {
            self.problem(ERROR_ALARM, e.to_string());
        }
        self.stopping = true;
        if let Some(t) = self.timer.take() {
            ctx.cancel_future(t);
        }
    }
}
