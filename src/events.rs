//! What happens in the daemon, as typed events: health transitions, schedule switches,
//! snapshots, alarms, drift results, reloads, restarts. Actors publish with one call
//! ([`emit`]); `/api/events` streams them to browsers and the status page shows the latest.
//!
//! The bus is bounded both ways: a broadcast channel of [`CAPACITY`] events (a subscriber
//! that falls behind skips what it missed and is told how many) and a ring of the [`RECENT`]
//! latest for a page that connects later. Publishing never blocks and never fails, with or
//! without subscribers. Events carry names, states, ids, counts and resource addresses; never
//! state contents or configuration values.
//!
//! Each event also updates the matching metric ([`crate::metrics`]), so an actor's hook is a
//! single line.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::health::ServiceState;
use crate::service_id::ServiceId;

/// Events a subscriber may fall behind by before it skips.
pub const CAPACITY: usize = 256;
/// Events kept for pages that connect later.
pub const RECENT: usize = 50;
/// Addresses per drift action kept in an event.
pub const MAX_ADDRESSES: usize = 50;

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A service changed state (health check, delivery failure, schedule).
    Health {
        service: String,
        from: ServiceState,
        to: ServiceState,
        reason: String,
    },
    /// A cost schedule took a service off routing, or gave it back.
    Schedule { service: String, off: bool },
    /// The state keeper took a snapshot.
    Snapshot { id: String },
    /// An alarm was raised (or refreshed).
    Alarm { alarm: String, detail: String },
    /// The condition behind an alarm is over.
    AlarmCleared { alarm: String },
    /// A drift check finished.
    Drift(DriftEvent),
    /// A configuration reload was applied, or refused (`error` says why).
    Reload { ok: bool, error: Option<String> },
    /// An actor was restarted after a panic.
    Restart { actor: String },
}

/// A drift check's result: counts and the addresses per action (at most
/// [`MAX_ADDRESSES`] each), or the error.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct DriftEvent {
    pub summary: Option<crate::drift::report::Summary>,
    pub create: Vec<String>,
    pub destroy: Vec<String>,
    pub update: Vec<String>,
    pub renamed: Vec<String>,
    pub error: Option<String>,
}

impl DriftEvent {
    /// The event for a finished report.
    pub fn from_report(r: &crate::drift::report::Report) -> DriftEvent {
        let cap = |v: Vec<String>| v.into_iter().take(MAX_ADDRESSES).collect::<Vec<_>>();
        DriftEvent {
            summary: Some(r.summary.clone()),
            create: cap(r.create.clone()),
            destroy: cap(r.destroy.clone()),
            update: cap(r.update.iter().map(|u| u.address.clone()).collect()),
            renamed: cap(r
                .renamed
                .iter()
                .map(|m| format!("{} -> {}", m.from, m.to))
                .collect()),
            error: None,
        }
    }
}

/// An event with its sequence number and time, as streamed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stamped {
    pub seq: u64,
    pub at: String,
    #[serde(flatten)]
    pub event: Event,
}

/// The broadcast and the ring of recent events.
pub struct Bus {
    tx: broadcast::Sender<Arc<Stamped>>,
    recent: Mutex<VecDeque<Arc<Stamped>>>,
    seq: AtomicU64,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus {
    pub fn new() -> Bus {
        Bus {
            tx: broadcast::channel(CAPACITY).0,
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            seq: AtomicU64::new(0),
        }
    }

    /// Stamps and publishes `event`; returns what was published.
    pub fn publish(&self, event: Event) -> Arc<Stamped> {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        // Under the ring's lock, so sequence numbers and the ring's order agree.
        let s = Arc::new(Stamped {
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            at: crate::fsutil::json_ts(chrono::Local::now()),
            event,
        });
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(s.clone());
        // No subscriber is not an error.
        let _ = self.tx.send(s.clone());
        s
    }

    /// The recent events (oldest first) and a receiver for what comes after them, taken
    /// together so nothing falls between the two.
    pub fn subscribe(&self) -> (Vec<Arc<Stamped>>, broadcast::Receiver<Arc<Stamped>>) {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        (recent.iter().cloned().collect(), self.tx.subscribe())
    }

    /// The recent events, oldest first.
    pub fn recent(&self) -> Vec<Arc<Stamped>> {
        let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        recent.iter().cloned().collect()
    }
}

/// The process-wide bus.
pub fn bus() -> &'static Bus {
    static B: OnceLock<Bus> = OnceLock::new();
    B.get_or_init(Bus::new)
}

/// Publishes `event` on the process-wide bus and updates its metric.
pub fn emit(event: Event) {
    let m = crate::metrics::get();
    m.events.inc();
    match &event {
        Event::Health { service, to, .. } => m.transition(service, *to),
        Event::Reload { ok, .. } => m.reload(*ok),
        Event::Restart { actor } => m.restart(actor),
        Event::Drift(d) => m.drift(d.summary.as_ref()),
        Event::Snapshot { .. } => {
            m.snapshots_taken.inc();
        }
        Event::Schedule { .. } | Event::Alarm { .. } | Event::AlarmCleared { .. } => {}
    }
    bus().publish(event);
}

/// A service's state changed from `from` to `to` (nothing when they are equal).
pub fn health(n: ServiceId, from: ServiceState, to: ServiceState, reason: &str) {
    if from != to {
        emit(Event::Health {
            service: n.to_string(),
            from,
            to,
            reason: reason.to_string(),
        });
    }
}

/// A cost schedule switched service `n` off (or back on): a schedule event, and the health
/// transition it makes (`from` → `to`, both as routing sees them).
pub fn schedule(n: ServiceId, from: ServiceState, to: ServiceState) {
    if from == to {
        return;
    }
    emit(Event::Schedule {
        service: n.to_string(),
        off: to == ServiceState::Off,
    });
    health(n, from, to, "cost schedule");
}

/// An alarm was raised or refreshed.
pub fn alarm(kind: &str, detail: &str) {
    emit(Event::Alarm {
        alarm: kind.to_string(),
        detail: detail.to_string(),
    });
}

/// An alarm of `kind` is over (nothing when none of that kind is up in `current`).
pub fn alarm_cleared(kind: &str, current: &[crate::status::Alarm]) {
    if current.iter().any(|a| a.kind == kind) {
        emit(Event::AlarmCleared {
            alarm: kind.to_string(),
        });
    }
}

/// A reload was applied (`None`) or refused with this error.
pub fn reload(error: Option<&str>) {
    emit(Event::Reload {
        ok: error.is_none(),
        error: error.map(str::to_string),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_latest_and_subscribers_get_what_follows() {
        let b = Bus::new();
        for i in 0..(RECENT + 5) {
            b.publish(Event::Snapshot {
                id: format!("s{i}"),
            });
        }
        let (recent, mut rx) = b.subscribe();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent[0].seq, 6);
        assert_eq!(recent.last().unwrap().seq, (RECENT + 5) as u64);
        b.publish(Event::Restart {
            actor: "service_1".into(),
        });
        let next = rx.try_recv().unwrap();
        assert_eq!(next.seq, (RECENT + 6) as u64);
        assert_eq!(
            serde_json::to_value(&*next).unwrap()["kind"],
            serde_json::json!("restart")
        );
    }

    #[test]
    fn a_slow_subscriber_skips_instead_of_growing_memory() {
        let b = Bus::new();
        let (_, mut rx) = b.subscribe();
        for _ in 0..(CAPACITY * 3) {
            b.publish(Event::AlarmCleared { alarm: "x".into() });
        }
        match rx.try_recv() {
            Err(broadcast::error::TryRecvError::Lagged(n)) => {
                assert_eq!(n as usize, CAPACITY * 2)
            }
            other => panic!("expected a lag, got {other:?}"),
        }
    }

    #[test]
    fn health_with_the_same_state_publishes_nothing() {
        let before = bus().recent().last().map(|s| s.seq);
        health(ServiceId(1), ServiceState::Up, ServiceState::Up, "");
        // Other tests may publish concurrently, but none publishes a health event for
        // service_99.
        health(
            ServiceId(99),
            ServiceState::Up,
            ServiceState::Down,
            "marker missing",
        );
        let recent = bus().recent();
        assert!(recent
            .iter()
            .any(|s| matches!(&s.event, Event::Health { service, .. } if service == "service_99")));
        assert!(!recent.iter().any(|s| s.seq > before.unwrap_or(0)
            && matches!(&s.event, Event::Health { service, .. } if service == "service_1")));
    }
}
