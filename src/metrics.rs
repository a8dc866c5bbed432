//! The daemon's Prometheus metrics: one registry of typed families that the actors feed with
//! one-line calls (a delivery batch, a health transition, a reload, a snapshot, a drift run)
//! and that `GET /metrics` encodes in the Prometheus text format.
//!
//! Counters only grow for the life of the process. Gauges that mirror the live routing table
//! (service state, inbox and intake backlogs) are set from the supervisor's live status just
//! before each scrape, so a scrape always agrees with `/api/status`. Updating a family is a few
//! atomic operations under a read lock: cheap enough for every delivery batch.
//!
//! Not here: serving HTTP (`http`), the event stream (`events`), any decision about routing.
//! The one process-wide registry is [`get`]; tests of this module build their own with
//! [`Metrics::new`].

use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::OnceLock;
use std::time::SystemTime;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::health::ServiceState;
use crate::spool::desk::DeliveryOutcome;
use crate::status::DaemonStatus;

/// `service="service_N"`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabel {
    pub service: String,
}

/// `reason="too_large"` (the reasons `errors/*.error.json` give).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

/// A service's state as a label value.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum StateValue {
    up,
    down,
    off,
}

impl From<ServiceState> for StateValue {
    fn from(s: ServiceState) -> Self {
        match s {
            ServiceState::Up => StateValue::up,
            ServiceState::Down => StateValue::down,
            ServiceState::Off => StateValue::off,
        }
    }
}

/// `service="service_N",state="up"`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceStateLabel {
    pub service: String,
    pub state: StateValue,
}

/// `action="create"`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    pub action: String,
}

/// `result="ok"`, `result="refused"` / `result="error"`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: String,
}

/// `actor="service_2"`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActorLabel {
    pub actor: String,
}

type FGauge = Gauge<f64, AtomicU64>;

/// Every family the daemon exports, registered once.
pub struct Metrics {
    registry: Registry,
    pub routed: Family<ServiceLabel, Counter>,
    pub rejected: Family<ReasonLabel, Counter>,
    pub intake_backlog: Gauge,
    pub inbox_backlog: Family<ServiceLabel, Gauge>,
    pub delivery_latency: Histogram,
    pub service_state: Family<ServiceStateLabel, Gauge>,
    pub health_transitions: Family<ServiceStateLabel, Counter>,
    pub cost_accrued: Family<ServiceLabel, FGauge>,
    pub cost_saved: Family<ServiceLabel, FGauge>,
    pub snapshots: Gauge,
    pub snapshot_newest: FGauge,
    pub snapshot_newest_age: FGauge,
    pub snapshot_newest_valid: Gauge,
    pub snapshots_taken: Counter,
    pub replication_lag: FGauge,
    /// When the oldest snapshot some replica still lacks was taken (Unix seconds; 0: none).
    replication_oldest_pending: FGauge,
    pub drift_resources: Family<ActionLabel, Gauge>,
    pub drift_last_check: FGauge,
    pub drift_checks: Family<ResultLabel, Counter>,
    pub reloads: Family<ResultLabel, Counter>,
    pub restarts: Family<ActorLabel, Counter>,
    pub events: Counter,
    pub http_requests: Counter,
    observing: std::sync::Mutex<()>,
}

/// Delivery latency buckets, seconds: settle (200 ms by default) dominates.
const LATENCY_BUCKETS: [f64; 12] = [
    0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0,
];

/// The drift actions, in the order `status` shows them.
pub const DRIFT_ACTIONS: [&str; 6] = [
    "create", "destroy", "update", "renamed", "unknown", "in_sync",
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every family registered (all at zero).
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("tfops");
        let m = Metrics {
            registry: Registry::default(),
            routed: Family::default(),
            rejected: Family::default(),
            intake_backlog: Gauge::default(),
            inbox_backlog: Family::default(),
            delivery_latency: Histogram::new(LATENCY_BUCKETS),
            service_state: Family::default(),
            health_transitions: Family::default(),
            cost_accrued: Family::default(),
            cost_saved: Family::default(),
            snapshots: Gauge::default(),
            snapshot_newest: FGauge::default(),
            snapshot_newest_age: FGauge::default(),
            snapshot_newest_valid: Gauge::default(),
            snapshots_taken: Counter::default(),
            replication_lag: FGauge::default(),
            replication_oldest_pending: FGauge::default(),
            drift_resources: Family::default(),
            drift_last_check: FGauge::default(),
            drift_checks: Family::default(),
            reloads: Family::default(),
            restarts: Family::default(),
            events: Counter::default(),
            http_requests: Counter::default(),
            observing: std::sync::Mutex::new(()),
        };
        r.register(
            "requests_routed",
            "Requests moved into a service's inbox, per service",
            m.routed.clone(),
        );
        r.register(
            "requests_rejected",
            "Requests moved to errors/, per reason",
            m.rejected.clone(),
        );
        r.register(
            "intake_backlog",
            "Requests in the intake not yet delivered (seen by the supervisor)",
            m.intake_backlog.clone(),
        );
        r.register(
            "inbox_backlog",
            "Requests waiting in a service's inbox",
            m.inbox_backlog.clone(),
        );
        r.register_with_unit(
            "delivery_latency",
            "From a request file's last write (its arrival) to its move into an inbox",
            Unit::Seconds,
            m.delivery_latency.clone(),
        );
        r.register(
            "service_state",
            "1 for the state each service is in (up, down or off), 0 for the others",
            m.service_state.clone(),
        );
        r.register(
            "health_transitions",
            "Changes of a service's state, by the state entered",
            m.health_transitions.clone(),
        );
        r.register(
            "cost_accrued",
            "Simulated cost accrued by a service while not off, per the ledger",
            m.cost_accrued.clone(),
        );
        r.register(
            "cost_saved",
            "Simulated cost saved while a schedule held a service off, per the ledger",
            m.cost_saved.clone(),
        );
        r.register(
            "snapshots",
            "State snapshots in the backups folder",
            m.snapshots.clone(),
        );
        r.register_with_unit(
            "snapshot_newest_timestamp",
            "When the newest snapshot was taken (Unix time)",
            Unit::Seconds,
            m.snapshot_newest.clone(),
        );
        r.register_with_unit(
            "snapshot_newest_age",
            "Age of the newest snapshot at scrape time",
            Unit::Seconds,
            m.snapshot_newest_age.clone(),
        );
        r.register(
            "snapshot_newest_valid",
            "1 when the newest snapshot matched its sha256 and the state rules when last checked",
            m.snapshot_newest_valid.clone(),
        );
        r.register(
            "snapshots_taken",
            "Snapshots this daemon took",
            m.snapshots_taken.clone(),
        );
        r.register_with_unit(
            "replication_lag",
            "Age of the oldest valid local snapshot that a replica does not have yet (0 when every replica has every snapshot, or none is configured)",
            Unit::Seconds,
            m.replication_lag.clone(),
        );
        r.register(
            "drift_resources",
            "Resources per action in the last drift check",
            m.drift_resources.clone(),
        );
        r.register_with_unit(
            "drift_last_check_timestamp",
            "When the last drift check finished (Unix time)",
            Unit::Seconds,
            m.drift_last_check.clone(),
        );
        r.register(
            "drift_checks",
            "Drift checks finished, by result (ok or error)",
            m.drift_checks.clone(),
        );
        r.register(
            "config_reloads",
            "Configuration reloads, by result (ok or refused)",
            m.reloads.clone(),
        );
        r.register(
            "actor_restarts",
            "Actors restarted after a panic, per actor",
            m.restarts.clone(),
        );
        r.register(
            "events",
            "Events published to /api/events",
            m.events.clone(),
        );
        r.register(
            "http_requests",
            "HTTP requests served",
            m.http_requests.clone(),
        );
        // Families whose label values are known up front start at 0, so that a scrape shows
        // them (and rate() works) before the first event.
        use crate::spool::request::Reason;
        for reason in [
            Reason::NotRegularFile,
            Reason::Symlink,
            Reason::NotUtf8,
            Reason::TooLarge,
            Reason::Unreadable,
            Reason::BadName,
        ] {
            let _ = m.rejected.get_or_create(&ReasonLabel {
                reason: reason.as_str().to_string(),
            });
        }
        for result in ["ok", "refused"] {
            let _ = m.reloads.get_or_create(&ResultLabel {
                result: result.into(),
            });
        }
        for result in ["ok", "error"] {
            let _ = m.drift_checks.get_or_create(&ResultLabel {
                result: result.into(),
            });
        }
        for actor in ["health", "cost"] {
            let _ = m.restarts.get_or_create(&ActorLabel {
                actor: actor.into(),
            });
        }
        Metrics { registry: r, ..m }
    }

    /// The registry in the classic Prometheus text format (version 0.0.4), which every
    /// scraper and `promtool check metrics` read: the OpenMetrics text without `# UNIT` and
    /// `# EOF`, and counters described under their sample name (`…_total`).
    pub fn encode_classic(&self) -> String {
        to_classic(&self.encode())
    }

    /// The registry in the Prometheus text format (with `# EOF`).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Counts what a delivery batch did (rejections per reason); the latency of each delivered request
    /// is the age of its file (last written when it arrived), read from the inbox `dir`.
    pub fn delivered(&self, dir: &Path, outcomes: &[DeliveryOutcome]) {
        let now = SystemTime::now();
        for o in outcomes {
            match o {
                DeliveryOutcome::Delivered { file } => {
                    let age = std::fs::symlink_metadata(dir.join(file))
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| now.duration_since(t).ok());
                    if let Some(age) = age {
                        self.delivery_latency.observe(age.as_secs_f64());
                    }
                }
                DeliveryOutcome::Rejected { reason, .. } => {
                    self.rejected
                        .get_or_create(&ReasonLabel {
                            reason: reason.as_str().to_string(),
                        })
                        .inc();
                }
                DeliveryOutcome::Gone | DeliveryOutcome::Failed { .. } => {}
            }
        }
    }

    /// Mirrors the supervisor's live view: state and backlog per service, and the intake.
    pub fn observe_status(&self, st: &DaemonStatus, intake: u64) {
        let _one_at_a_time = self.observing.lock().unwrap_or_else(|e| e.into_inner());
        self.intake_backlog.set(intake as i64);
        for s in &st.services {
            let l = ServiceLabel {
                service: s.name.clone(),
            };
            self.inbox_backlog.get_or_create(&l).set(s.backlog as i64);
            // Routed ever (load_N.json's total), as `status` counts: the counter catches up
            // with the live count; it never goes back.
            let c = self.routed.get_or_create(&l);
            let seen = c.get();
            if s.routed > seen {
                c.inc_by(s.routed - seen);
            }
            for v in [StateValue::up, StateValue::down, StateValue::off] {
                let on = StateValue::from(s.state) == v;
                let l = ServiceStateLabel {
                    service: s.name.clone(),
                    state: v,
                };
                self.service_state.get_or_create(&l).set(i64::from(on));
                let _ = self.health_transitions.get_or_create(&l);
            }
            let _ = self.restarts.get_or_create(&ActorLabel {
                actor: s.name.clone(),
            });
        }
    }

    /// A service entered state `to`.
    pub fn transition(&self, service: &str, to: ServiceState) {
        self.health_transitions
            .get_or_create(&ServiceStateLabel {
                service: service.to_string(),
                state: to.into(),
            })
            .inc();
    }

    /// The snapshot list changed: count, newest time and whether the newest checks out.
    /// Reads meta.json files and hashes the newest snapshot only.
    pub fn observe_backups(&self, backups: &Path) {
        let Ok(list) = crate::state::snapshot::list_quick(backups) else {
            return;
        };
        self.snapshots.set(list.len() as i64);
        if let Some(newest) = list.last() {
            self.snapshot_newest.set(newest.taken_at.timestamp() as f64);
            let ok = crate::state::snapshot::full_check(newest).is_ok();
            self.snapshot_newest_valid.set(i64::from(ok));
        }
    }

    /// What the replicas lack, from the replication ledger: `oldest_pending` is when the oldest
    /// valid local snapshot that some replica does not have yet was taken (`None`: nothing
    /// pending). The lag itself is an age, computed at scrape time.
    pub fn observe_replication(
        &self,
        oldest_pending: Option<chrono::DateTime<chrono::FixedOffset>>,
    ) {
        let at = oldest_pending.map_or(0.0, |t| t.timestamp_millis() as f64 / 1000.0);
        self.replication_oldest_pending.set(at);
    }

    /// Sets the gauges computed at scrape time (ages).
    pub fn before_scrape(&self) {
        let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        let pending = self.replication_oldest_pending.get();
        self.replication_lag.set(if pending > 0.0 {
            (now - pending).max(0.0)
        } else {
            0.0
        });
        let newest = self.snapshot_newest.get();
        if newest > 0.0 {
            self.snapshot_newest_age.set((now - newest).max(0.0));
        }
    }

    /// The result of a drift check.
    pub fn drift(&self, summary: Option<&crate::drift::report::Summary>) {
        let now = chrono::Utc::now().timestamp_millis() as f64 / 1000.0;
        self.drift_last_check.set(now);
        let result = if summary.is_some() { "ok" } else { "error" };
        self.drift_checks
            .get_or_create(&ResultLabel {
                result: result.into(),
            })
            .inc();
        if let Some(s) = summary {
            let counts = [
                s.create, s.destroy, s.update, s.renamed, s.unknown, s.in_sync,
            ];
            for (a, c) in DRIFT_ACTIONS.iter().zip(counts) {
                self.drift_resources
                    .get_or_create(&ActionLabel {
                        action: (*a).to_string(),
                    })
                    .set(c as i64);
            }
        }
    }

    /// A configuration reload was applied (`ok`) or refused.
    pub fn reload(&self, ok: bool) {
        self.reloads
            .get_or_create(&ResultLabel {
                result: if ok { "ok" } else { "refused" }.into(),
            })
            .inc();
    }

    /// Per-service cost and savings so far, from the ledger.
    pub fn cost(&self, service: &str, accrued: f64, saved: f64) {
        let l = ServiceLabel {
            service: service.to_string(),
        };
        self.cost_accrued.get_or_create(&l).set(accrued);
        self.cost_saved.get_or_create(&l).set(saved);
    }

    /// An actor was restarted after a panic.
    pub fn restart(&self, actor: &str) {
        self.restarts
            .get_or_create(&ActorLabel {
                actor: actor.to_string(),
            })
            .inc();
    }
}

/// OpenMetrics text → classic Prometheus text (see [`Metrics::encode_classic`]).
pub fn to_classic(open: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for l in open.lines() {
        if let Some(name) = l
            .strip_prefix("# TYPE ")
            .and_then(|r| r.strip_suffix(" counter"))
        {
            counters.insert(name.to_string());
        }
    }
    let mut out = String::with_capacity(open.len());
    for l in open.lines() {
        if l.starts_with("# UNIT ") || l == "# EOF" {
            continue;
        }
        let head = ["# HELP ", "# TYPE "]
            .into_iter()
            .find(|p| l.starts_with(p));
        if let Some(p) = head {
            let rest = &l[p.len()..];
            let name = rest.split(' ').next().unwrap_or("");
            if counters.contains(name) {
                out.push_str(p);
                out.push_str(name);
                out.push_str("_total");
                out.push_str(&rest[name.len()..]);
                out.push('\n');
                continue;
            }
        }
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// The process-wide registry the actors feed and `/metrics` serves.
pub fn get() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(Metrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::request::Reason;
    use crate::status::{DaemonInfo, ServiceStatus};

    fn one_service(state: ServiceState) -> DaemonStatus {
        DaemonStatus {
            daemon: DaemonInfo {
                pid: 1,
                started_at: String::new(),
                config_loaded_at: String::new(),
                last_reload_error: None,
            },
            services: vec![ServiceStatus {
                name: "service_1".into(),
                state,
                routed: 5,
                backlog: 7,
                reason: String::new(),
            }],
            alarms: vec![],
            strategy: String::new(),
            updated_at: String::new(),
        }
    }

    #[test]
    fn every_family_is_in_the_text_format_with_help_and_type() {
        let m = Metrics::new();
        // Families labelled by service appear once the services are known.
        m.observe_status(&one_service(ServiceState::Up), 0);
        m.cost("service_1", 0.5, 0.25);
        // Drift per action appears after the first check.
        m.drift(Some(&crate::drift::report::Summary::default()));
        let text = m.encode();
        for f in [
            "tfops_requests_routed_total",
            "tfops_requests_rejected_total",
            "tfops_intake_backlog",
            "tfops_inbox_backlog",
            "tfops_delivery_latency_seconds",
            "tfops_service_state",
            "tfops_health_transitions_total",
            "tfops_cost_accrued",
            "tfops_cost_saved",
            "tfops_snapshots",
            "tfops_snapshot_newest_timestamp_seconds",
            "tfops_snapshot_newest_age_seconds",
            "tfops_snapshot_newest_valid",
            "tfops_replication_lag_seconds",
            "tfops_drift_resources",
            "tfops_drift_last_check_timestamp_seconds",
            "tfops_config_reloads_total",
            "tfops_actor_restarts_total",
        ] {
            let base = f.trim_end_matches("_total");
            assert!(
                text.contains(&format!("# TYPE {base} ")),
                "{f} missing:\n{text}"
            );
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn classic_text_names_counters_by_their_samples_and_drops_openmetrics_lines() {
        let open = "# HELP a_x Things.\n# TYPE a_x counter\na_x_total 3\n# HELP g G.\n# TYPE g gauge\n# UNIT g seconds\ng 1\n# EOF\n";
        assert_eq!(
            to_classic(open),
            "# HELP a_x_total Things.\n# TYPE a_x_total counter\na_x_total 3\n# HELP g G.\n# TYPE g gauge\ng 1\n"
        );
        let m = Metrics::new();
        let text = m.encode_classic();
        assert!(text.contains("# TYPE tfops_requests_rejected_total counter\n"));
        assert!(text.contains("tfops_config_reloads_total{result=\"refused\"} 0\n"));
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn a_batch_counts_rejected_per_reason_and_latency() {
        let m = Metrics::new();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "x").unwrap();
        let out = vec![
            DeliveryOutcome::Delivered {
                file: "a.txt".into(),
            },
            DeliveryOutcome::Delivered {
                file: "gone.txt".into(),
            },
            DeliveryOutcome::Rejected {
                reason: Reason::TooLarge,
                file: "b.txt".into(),
            },
            DeliveryOutcome::Gone,
        ];
        m.delivered(dir.path(), &out);
        let text = m.encode();
        assert!(
            text.contains("tfops_requests_rejected_total{reason=\"too_large\"} 1\n"),
            "{text}"
        );
        // One latency (the file that exists), none for the one whose file went away.
        assert!(
            text.contains("tfops_delivery_latency_seconds_count 1\n"),
            "{text}"
        );
    }

    #[test]
    fn observed_status_sets_one_state_per_service_and_backlogs() {
        let m = Metrics::new();
        let mut st = one_service(ServiceState::Down);
        m.observe_status(&st, 3);
        st.services[0].routed = 4; // never goes back
        m.observe_status(&st, 3);
        let text = m.encode();
        assert!(text.contains("tfops_requests_routed_total{service=\"service_1\"} 5\n"));
        assert!(text.contains("tfops_service_state{service=\"service_1\",state=\"down\"} 1\n"));
        assert!(text.contains("tfops_service_state{service=\"service_1\",state=\"up\"} 0\n"));
        assert!(text.contains("tfops_inbox_backlog{service=\"service_1\"} 7\n"));
        assert!(text.contains("tfops_intake_backlog 3\n"));
    }
}
