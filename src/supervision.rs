//! The supervisor's decisions, pure: how many child restarts are allowed in a time window
//! (Erlang/OTP's intensity and period), and what a configuration reload changes (services to
//! start and to remove, whether `services.active` must be applied again, whether the rescan
//! timer must be re-armed).
//!
//! The `SupervisorActor` owns the children, the timers and the files; it asks these functions
//! and acts on their answers. Dispatch decisions live in [`crate::spool::dispatch`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::service_id::ServiceId;

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
}
