//! The supervisor's decisions, pure, each testable without actix:
//!
//! - [`RestartBudget`]: how many child restarts are allowed in a time window (Erlang/OTP's
//!   intensity and period).
//! - [`plan_reload`]: what a configuration reload changes (services to start and to remove,
//!   whether `services.active` must be applied again, whether the rescan timer must be
//!   re-armed), and [`ReloadGate`]: a SIGHUP during a reload runs one more afterwards.
//! - [`RoutingTable`]: what the supervisor knows of each service (state, reason, in flight,
//!   backlog, routed, held off by a schedule, removed by a reload): which services may be handed
//!   requests now, and what a health report, a schedule switch or a batch's outcome changes.
//! - [`Alarms`]: the alarms `status` shows, one per kind.
//! - [`RescanPacer`]: deferring periodic rescans while a long queue drains.
//!
//! The `SupervisorActor` owns the children, the timers and the files; it asks these and acts
//! on their answers. Dispatch decisions (the queue, requeue and retry rules) live in
//! [`crate::spool::dispatch`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::health::{HealthVerdict, ServiceState};
use crate::router::Candidate;
use crate::service_id::ServiceId;
use crate::spool::dispatch::{Open, Settled};
use crate::status::{Alarm, ServiceStatus};

/// Child restarts within the last `period`; more than `max` of them means giving up.
#[derive(Debug, Clone)]
pub struct RestartBudget {
    max: usize,
    period: Duration,
    restarts: VecDeque<Instant>,
}

/// What a restart at a given instant means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Within the cap: `count` restarts in the current period, this one included.
    Allowed { count: usize },
    /// Past the cap: stop the whole process.
    GiveUp { count: usize },
}

impl RestartBudget {
    pub fn new(max: usize, period: Duration) -> RestartBudget {
        RestartBudget {
            max,
            period,
            restarts: VecDeque::new(),
        }
    }

    /// Records a restart at `now` (instants come in order), forgetting those older than the
    /// period, and says whether it stays within the cap.
    pub fn record(&mut self, now: Instant) -> Restart {
        self.restarts.push_back(now);
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.period)
        {
            self.restarts.pop_front();
        }
        let count = self.restarts.len();
        if count > self.max {
            Restart::GiveUp { count }
        } else {
            Restart::Allowed { count }
        }
    }
}

/// What a reload from `old` to `new` asks of the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadPlan {
    /// Services that must run (started, or kept if already running): `service_1` to
    /// `service_{services.count}`.
    pub run: Vec<ServiceId>,
    /// Running services the new configuration no longer has.
    pub remove: Vec<ServiceId>,
    /// `services.active` or `services.count` changed: markers and folders are applied again.
    pub reapply_active: bool,
    /// `balancer.rescan` changed: the rescan timer is re-armed.
    pub rearm_rescan: bool,
}

/// Diffs two configurations. `running` lists the services that have a slot and are not
/// already removed.
pub fn plan_reload(
    old: &Config,
    new: &Config,
    running: impl IntoIterator<Item = ServiceId>,
) -> ReloadPlan {
    ReloadPlan {
        run: ServiceId::all(new.services.count).collect(),
        remove: running
            .into_iter()
            .filter(|n| n.get() > new.services.count)
            .collect(),
        reapply_active: old.services.active != new.services.active
            || old.services.count != new.services.count,
        rearm_rescan: old.balancer.rescan != new.balancer.rescan,
    }
}

/// Whether a reload is running, and whether another was asked for meanwhile (SIGHUPs that
/// arrive during a reload are coalesced into one more, so the file's latest content wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadGate {
    running: bool,
    again: bool,
}

impl ReloadGate {
    /// A reload is asked for: `true` when it should start now, `false` when one is running
    /// (it is then remembered for afterwards).
    pub fn request(&mut self) -> bool {
        if self.running {
            self.again = true;
            false
        } else {
            self.running = true;
            true
        }
    }

    /// The running reload finished: `true` when another was asked for meanwhile.
    pub fn finished(&mut self) -> bool {
        self.running = false;
        std::mem::take(&mut self.again)
    }
}

/// One service as the supervisor's routing sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// What the last health check (or a failed delivery) said.
    pub state: ServiceState,
    pub reason: String,
    /// Requests handed to it and not yet answered.
    pub in_flight: usize,
    /// Requests in its inbox, as last counted or raised by deliveries.
    pub backlog: u64,
    /// Requests routed to it ever (`load_N.json`'s total at start, then counted).
    pub routed: u64,
    /// Held off by a cost schedule; wins over health reports.
    pub off: bool,
    /// No longer in `services.count` after a reload.
    pub removed: bool,
}

impl Slot {
    /// A new slot from a health verdict; `off` when a schedule holds it or the check says so.
    pub fn new(verdict: HealthVerdict, backlog: u64, routed: u64, off: bool) -> Slot {
        Slot {
            off: off || verdict.state == ServiceState::Off,
            state: verdict.state,
            reason: verdict.reason,
            in_flight: 0,
            backlog,
            routed,
            removed: false,
        }
    }

    /// The state `status` shows: off when a schedule holds it, else its health.
    pub fn shown_state(&self) -> ServiceState {
        if self.off {
            ServiceState::Off
        } else {
            self.state
        }
    }
}

/// A health transition for the event bus: service, from, to, reason.
pub type Transition = (ServiceId, ServiceState, ServiceState, String);

/// The routing table: every service the supervisor has started, removed ones included (their
/// actor may still be finishing).
#[derive(Debug, Clone, Default)]
pub struct RoutingTable {
    slots: BTreeMap<ServiceId, Slot>,
}

impl RoutingTable {
    pub fn get(&self, id: ServiceId) -> Option<&Slot> {
        self.slots.get(&id)
    }

    /// Adds a slot, or, when the service already has one (a reload brings back a service it
    /// had removed), marks it as no longer removed. `true` when a slot was added: the caller
    /// then starts its actor.
    pub fn add(&mut self, id: ServiceId, slot: impl FnOnce() -> Slot) -> bool {
        if let Some(s) = self.slots.get_mut(&id) {
            s.removed = false;
            return false;
        }
        self.slots.insert(id, slot());
        true
    }

    /// Marks a service removed (a reload dropped it). `true` when it was running.
    pub fn remove(&mut self, id: ServiceId) -> bool {
        match self.slots.get_mut(&id) {
            Some(s) if !s.removed => {
                s.removed = true;
                true
            }
            Some(_) | None => false,
        }
    }

    /// Services with a slot that a reload has not removed.
    pub fn running(&self) -> Vec<ServiceId> {
        self.slots
            .iter()
            .filter(|(_, s)| !s.removed)
            .map(|(n, _)| *n)
            .collect()
    }

    /// Services a schedule holds off now.
    pub fn held_off(&self) -> BTreeSet<ServiceId> {
        self.slots
            .iter()
            .filter(|(_, s)| s.off)
            .map(|(n, _)| *n)
            .collect()
    }

    /// The services that may be handed requests now — up, not held off, not removed, below
    /// `max_in_flight` — each with its weight, its backlog counting what is in flight, and its
    /// room before the cap.
    pub fn open(&self, max_in_flight: usize, weight: impl Fn(ServiceId) -> u32) -> Vec<Open> {
        self.slots
            .iter()
            .filter(|(_, s)| {
                s.state == ServiceState::Up && !s.off && !s.removed && s.in_flight < max_in_flight
            })
            .map(|(n, s)| Open {
                candidate: Candidate {
                    service: *n,
                    weight: weight(*n),
                    backlog: s.backlog + s.in_flight as u64,
                },
                room: max_in_flight - s.in_flight,
            })
            .collect()
    }

    /// `count` requests were handed to `id`.
    pub fn handed(&mut self, id: ServiceId, count: usize) {
        if let Some(s) = self.slots.get_mut(&id) {
            s.in_flight += count;
        }
    }

    /// `id` answered a batch of `count` requests (`settled` is what its outcomes meant): they
    /// are no longer in flight, the delivered ones count as routed and in its backlog, and a
    /// failed delivery into its inbox takes an up service down until a health check passes.
    /// Returns that transition, if any.
    pub fn answered(
        &mut self,
        id: ServiceId,
        count: usize,
        settled: &Settled,
    ) -> Option<Transition> {
        let s = self.slots.get_mut(&id)?;
        s.in_flight = s.in_flight.saturating_sub(count);
        s.routed += settled.delivered;
        s.backlog += settled.delivered;
        let err = settled.suspect.as_ref()?;
        if s.state != ServiceState::Up {
            return None;
        }
        s.state = ServiceState::Down;
        s.reason = err.clone();
        Some((id, ServiceState::Up, ServiceState::Down, err.clone()))
    }

    /// A health check's verdict (and inbox count, when counted) for `id`. Returns whether what
    /// `status` shows changed, and the transition to publish — none while a schedule holds the
    /// service off (the schedule's switch published it).
    pub fn report(
        &mut self,
        id: ServiceId,
        verdict: HealthVerdict,
        backlog: Option<u64>,
    ) -> (bool, Option<Transition>) {
        let Some(s) = self.slots.get_mut(&id) else {
            return (false, None);
        };
        let changed = s.state != verdict.state || s.reason != verdict.reason;
        let transition = (!s.off).then(|| (id, s.state, verdict.state, verdict.reason.clone()));
        s.state = verdict.state;
        s.reason = verdict.reason;
        if let Some(b) = backlog {
            s.backlog = b;
        }
        (changed, transition)
    }

    /// A schedule holds `id` off (or lets it go): the shown state before and after.
    pub fn set_off(&mut self, id: ServiceId, off: bool) -> Option<(ServiceState, ServiceState)> {
        let s = self.slots.get_mut(&id)?;
        let was = s.shown_state();
        s.off = off;
        Some((was, s.shown_state()))
    }

    /// Requests in flight to `id`.
    pub fn in_flight_to(&self, id: ServiceId) -> usize {
        self.slots.get(&id).map_or(0, |s| s.in_flight)
    }

    /// Requests in flight to any service.
    pub fn in_flight(&self) -> usize {
        self.slots.values().map(|s| s.in_flight).sum()
    }

    /// The services `status` lists (removed ones are not).
    pub fn statuses(&self) -> Vec<ServiceStatus> {
        self.slots
            .iter()
            .filter(|(_, s)| !s.removed)
            .map(|(n, s)| ServiceStatus {
                name: n.to_string(),
                state: s.shown_state(),
                routed: s.routed,
                backlog: s.backlog,
                reason: s.reason.clone(),
            })
            .collect()
    }
}

/// The alarms `status` shows: at most one per kind, the latest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Alarms(Vec<Alarm>);

impl Alarms {
    /// Raises (or refreshes) the alarm of `kind`.
    pub fn raise(&mut self, kind: &str, detail: String, at: String) {
        self.0.retain(|a| a.kind != kind);
        self.0.push(Alarm {
            at,
            kind: kind.to_string(),
            detail,
        });
    }

    /// Clears the alarm of `kind`; `true` when there was one.
    pub fn clear(&mut self, kind: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|a| a.kind != kind);
        self.0.len() != before
    }

    pub fn list(&self) -> &[Alarm] {
        &self.0
    }
}

/// Periodic rescans list the whole intake; while a queue longer than `busy_queue` drains they
/// find nothing events did not report, and cost time in proportion to the backlog. They are
/// deferred then, at most `max_deferred` intervals in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RescanPacer {
    busy_queue: usize,
    max_deferred: u32,
    deferred: u32,
}

impl RescanPacer {
    pub fn new(busy_queue: usize, max_deferred: u32) -> RescanPacer {
        RescanPacer {
            busy_queue,
            max_deferred,
            deferred: 0,
        }
    }

    /// A rescan interval elapsed with `waiting` names queued: `true` to rescan now.
    pub fn due(&mut self, waiting: usize) -> bool {
        if waiting > self.busy_queue && self.deferred < self.max_deferred {
            self.deferred += 1;
            return false;
        }
        self.deferred = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_past_the_cap_within_the_period_give_up() {
        let mut b = RestartBudget::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(b.record(t0), Restart::Allowed { count: 1 });
        assert_eq!(
            b.record(t0 + Duration::from_secs(1)),
            Restart::Allowed { count: 2 }
        );
        assert_eq!(
            b.record(t0 + Duration::from_secs(2)),
            Restart::GiveUp { count: 3 }
        );
    }

    #[test]
    fn restarts_older_than_the_period_are_forgotten() {
        let mut b = RestartBudget::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        b.record(t0);
        b.record(t0 + Duration::from_secs(30));
        // 61 s after the first: it no longer counts (the one at 30 s still does).
        assert_eq!(
            b.record(t0 + Duration::from_secs(61)),
            Restart::Allowed { count: 2 }
        );
        // Exactly one period after the one at 30 s still counts.
        assert_eq!(
            b.record(t0 + Duration::from_secs(90)),
            Restart::GiveUp { count: 3 }
        );
    }

    fn ids(ns: &[usize]) -> Vec<ServiceId> {
        ns.iter().copied().map(ServiceId).collect()
    }

    fn cfg(count: usize, active: usize, rescan_ms: u64) -> Config {
        let mut c = Config::defaults(std::path::Path::new("/ws"));
        c.services.count = count;
        c.services.active = ServiceId::all(active).collect();
        c.balancer.rescan = Duration::from_millis(rescan_ms);
        c
    }

    #[test]
    fn reload_that_shrinks_removes_the_extra_running_services() {
        let p = plan_reload(&cfg(4, 4, 1000), &cfg(2, 2, 1000), ids(&[1, 2, 3, 4]));
        assert_eq!(p.run, ids(&[1, 2]));
        assert_eq!(p.remove, ids(&[3, 4]));
        assert!(p.reapply_active);
        assert!(!p.rearm_rescan);
    }

    #[test]
    fn reload_that_grows_runs_the_new_ones_and_removes_none() {
        let p = plan_reload(&cfg(2, 2, 1000), &cfg(3, 2, 500), ids(&[1, 2]));
        assert_eq!(p.run, ids(&[1, 2, 3]));
        assert!(p.remove.is_empty());
        assert!(p.reapply_active);
        assert!(p.rearm_rescan);
    }

    #[test]
    fn reload_with_the_same_services_changes_nothing_about_them() {
        let p = plan_reload(&cfg(3, 2, 1000), &cfg(3, 2, 1000), ids(&[1, 2, 3]));
        assert_eq!(p.run, ids(&[1, 2, 3]));
        assert!(p.remove.is_empty());
        assert!(!p.reapply_active);
        assert!(!p.rearm_rescan);
    }

    #[test]
    fn sighups_during_a_reload_run_one_more_afterwards() {
        let mut g = ReloadGate::default();
        assert!(g.request(), "the first starts at once");
        assert!(!g.request(), "a second waits");
        assert!(!g.request(), "a third is the same one more");
        assert!(g.finished(), "one more after the first");
        assert!(g.request());
        assert!(!g.finished(), "nothing asked meanwhile");
        assert!(g.request());
    }

    fn verdict(state: ServiceState, reason: &str) -> HealthVerdict {
        HealthVerdict {
            state,
            reason: reason.to_string(),
        }
    }

    fn up() -> Slot {
        Slot::new(verdict(ServiceState::Up, "ok"), 0, 0, false)
    }

    fn table(slots: Vec<Slot>) -> RoutingTable {
        let mut t = RoutingTable::default();
        for (i, s) in slots.into_iter().enumerate() {
            assert!(t.add(ServiceId(i + 1), || s));
        }
        t
    }

    fn open_ids(t: &RoutingTable, max: usize) -> Vec<(usize, u64, usize)> {
        t.open(max, |_| 1)
            .iter()
            .map(|o| (o.candidate.service.get(), o.candidate.backlog, o.room))
            .collect()
    }

    #[test]
    fn only_up_services_not_off_not_removed_and_below_the_cap_are_open() {
        let mut t = table(vec![
            up(),
            Slot::new(verdict(ServiceState::Down, "marker missing"), 0, 0, false),
            Slot::new(verdict(ServiceState::Up, "ok"), 0, 0, true),
            up(),
            Slot { backlog: 7, ..up() },
        ]);
        assert!(t.remove(ServiceId(4)));
        t.handed(ServiceId(1), 3);
        // 1 has 3 in flight: its backlog counts them and its room shrinks; 5 keeps its backlog.
        assert_eq!(open_ids(&t, 4), vec![(1, 3, 1), (5, 7, 4)]);
        t.handed(ServiceId(1), 1);
        assert_eq!(open_ids(&t, 4), vec![(5, 7, 4)], "1 is at the cap");
        let weights = t.open(4, |n| n.get() as u32 * 10);
        assert_eq!(weights[0].candidate.weight, 50);
    }

    #[test]
    fn an_answered_batch_counts_deliveries_and_a_failed_inbox_takes_the_service_down() {
        let mut t = table(vec![up()]);
        let s1 = ServiceId(1);
        t.handed(s1, 5);
        let ok = Settled {
            delivered: 4,
            rejected: 1,
            ..Settled::default()
        };
        assert_eq!(t.answered(s1, 5, &ok), None);
        let slot = t.get(s1).unwrap();
        assert_eq!((slot.in_flight, slot.routed, slot.backlog), (0, 4, 4));
        assert_eq!(slot.state, ServiceState::Up);

        t.handed(s1, 2);
        let failed = Settled {
            requeued: 2,
            suspect: Some("inbox gone".into()),
            ..Settled::default()
        };
        assert_eq!(
            t.answered(s1, 2, &failed),
            Some((
                s1,
                ServiceState::Up,
                ServiceState::Down,
                "inbox gone".into()
            ))
        );
        let slot = t.get(s1).unwrap();
        assert_eq!(
            (slot.state, slot.reason.as_str()),
            (ServiceState::Down, "inbox gone")
        );
        assert_eq!(slot.in_flight, 0);
        // Already down: no second transition. More answers than in flight never underflow.
        assert_eq!(t.answered(s1, 9, &failed), None);
        assert_eq!(t.get(s1).unwrap().in_flight, 0);
        assert_eq!(t.answered(ServiceId(2), 1, &ok), None, "unknown service");
    }

    #[test]
    fn health_reports_update_the_slot_but_a_schedule_hold_wins() {
        let mut t = table(vec![up(), up()]);
        let (s1, s2) = (ServiceId(1), ServiceId(2));
        let (changed, tr) = t.report(s1, verdict(ServiceState::Up, "ok"), Some(9));
        assert!(!changed, "same state and reason");
        assert_eq!(
            tr,
            Some((s1, ServiceState::Up, ServiceState::Up, "ok".into()))
        );
        assert_eq!(t.get(s1).unwrap().backlog, 9);
        let (changed, _) = t.report(s1, verdict(ServiceState::Down, "folder missing"), None);
        assert!(changed);
        assert_eq!(t.get(s1).unwrap().backlog, 9, "not counted this time: kept");

        assert_eq!(
            t.set_off(s2, true),
            Some((ServiceState::Up, ServiceState::Off))
        );
        assert_eq!(t.held_off(), BTreeSet::from([s2]));
        let (changed, tr) = t.report(s2, verdict(ServiceState::Down, "marker missing"), None);
        assert!(changed);
        assert_eq!(tr, None, "held off: the schedule published the transition");
        assert!(open_ids(&t, 10).is_empty());
        // Let go: what shows is its health now.
        assert_eq!(
            t.set_off(s2, false),
            Some((ServiceState::Off, ServiceState::Down))
        );
        assert_eq!(t.set_off(ServiceId(3), true), None);
        assert_eq!(
            t.report(ServiceId(3), verdict(ServiceState::Up, ""), None),
            (false, None)
        );
    }

    #[test]
    fn removed_services_leave_status_and_come_back_on_the_same_slot() {
        let mut t = table(vec![up(), up()]);
        let s2 = ServiceId(2);
        t.handed(s2, 1);
        assert!(t.remove(s2));
        assert!(!t.remove(s2), "already removed");
        assert_eq!(t.running(), ids(&[1]));
        assert_eq!(t.statuses().len(), 1);
        assert_eq!(
            t.in_flight(),
            1,
            "its batch is still counted until answered"
        );
        // Back in the configuration: the slot (and what it counted) is reused, no new actor.
        assert!(!t.add(s2, || panic!("not built again")));
        assert_eq!(t.running(), ids(&[1, 2]));
        assert_eq!(t.in_flight_to(s2), 1);
        t.set_off(ServiceId(1), true);
        let st = t.statuses();
        assert_eq!(st[0].name, "service_1");
        assert_eq!(st[0].state, ServiceState::Off);
        assert_eq!(st[1].state, ServiceState::Up);
    }

    #[test]
    fn a_new_slot_from_an_off_verdict_or_a_schedule_is_off() {
        assert!(Slot::new(verdict(ServiceState::Off, "archived"), 0, 0, false).off);
        assert!(Slot::new(verdict(ServiceState::Up, "ok"), 0, 0, true).off);
        assert!(!up().off);
    }

    #[test]
    fn one_alarm_per_kind_the_latest() {
        let mut a = Alarms::default();
        a.raise("state", "missing".into(), "t1".into());
        a.raise("panic", "x".into(), "t2".into());
        a.raise("state", "empty".into(), "t3".into());
        let kinds: Vec<_> = a
            .list()
            .iter()
            .map(|x| (x.kind.as_str(), x.detail.as_str()))
            .collect();
        assert_eq!(kinds, vec![("panic", "x"), ("state", "empty")]);
        assert!(a.clear("state"));
        assert!(!a.clear("state"));
        assert_eq!(a.list().len(), 1);
    }

    #[test]
    fn rescans_wait_while_a_long_queue_drains_but_not_forever() {
        let mut p = RescanPacer::new(100, 2);
        assert!(p.due(100), "not longer than the bound");
        assert!(!p.due(101));
        assert!(!p.due(5000));
        assert!(p.due(5000), "deferred twice in a row: scan");
        assert!(!p.due(5000), "and the count starts again");
        assert!(p.due(0));
        assert!(!p.due(101));
    }
}
