//! Dispatch, pure: the queue of intake names waiting for a service, which service takes each
//! (through the [`Router`]), and what a batch's outcomes mean for the queue — what goes back to
//! the front, what waits in the intake for the next rescan, which service is suspect.
//!
//! Both the daemon's supervisor and `run --once` drive one [`Dispatch`]: they build the
//! candidates from what they know (health, cost, what is in flight), ask [`Dispatch::assign`]
//! for batches, hand them to a [`desk`](super::desk) and give the outcomes back to
//! [`Dispatch::settle`]. No I/O, no clock, no actors here: the callers own those.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::ffi::{OsStr, OsString};

use super::desk::DeliveryOutcome;
use crate::router::{Candidate, Router};
use crate::service_id::ServiceId;

/// A service that can take requests now, and how many more (its room before the in-flight cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    pub candidate: Candidate,
    /// How many more names it may be given in this round.
    pub room: usize,
}

/// Bounds of one [`Dispatch::assign`] round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// A batch is handed over as soon as it has this many names.
    pub batch: usize,
    /// At most this many names leave the queue in this round.
    pub max: usize,
}

/// Names for one service, in the order they were assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub service: ServiceId,
    pub names: Vec<OsString>,
}

/// A request that failed for a reason that is not the service's (the errors folder or the
/// journal cannot be written, a panic): it stays in the intake and is no longer queued, so the
/// next rescan retries it rather than spinning on a failure that will not go away at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    pub name: OsString,
    pub error: String,
}

/// What the outcomes of one batch mean (see [`Dispatch::settle`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// Now in the service's inbox.
    pub delivered: u64,
    /// Now in `errors/`.
    pub rejected: u64,
    /// No longer in the intake (someone else took it).
    pub gone: u64,
    /// Back at the front of the queue: the inbox could not take them, another service may.
    pub requeued: usize,
    /// The inbox failed (the last such error): the service is suspect until a health check passes.
    pub suspect: Option<String>,
    /// Left in the intake for the next rescan.
    pub deferred: Vec<Deferred>,
}

/// The queue of intake names owned by the dispatcher: each name is queued at most once, and is
/// handed to exactly one service at a time (it stays "queued" while in flight).
#[derive(Debug, Default)]
pub struct Dispatch {
    pending: VecDeque<OsString>,
    queued: HashSet<OsString>,
}

impl Dispatch {
    pub fn new() -> Dispatch {
        Dispatch::default()
    }

    /// Queues names not already queued (waiting or in flight), in order.
    pub fn enqueue(&mut self, names: impl IntoIterator<Item = OsString>) {
        for n in names {
            if self.queued.insert(n.clone()) {
                self.pending.push_back(n);
            }
        }
    }

    /// Whether `name` is queued or in flight (a rescan need not look at it).
    pub fn is_queued(&self, name: &OsStr) -> bool {
        self.queued.contains(name)
    }

    /// Names waiting for a service (not counting those in flight).
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// Assigns waiting names to `open` services through `router`, in queue order, until the
    /// queue is empty, no service has room, or `round.max` names are out. Each pick raises the
    /// chosen candidate's backlog by one and uses one unit of its room. A batch that reaches
    /// `round.batch` names is emitted at once; the rest follow in service order.
    pub fn assign(&mut self, router: &mut Router, open: &[Open], round: Round) -> Vec<Batch> {
        let mut open: Vec<Open> = open.iter().copied().filter(|o| o.room > 0).collect();
        let mut cands: Vec<Candidate> = open.iter().map(|o| o.candidate).collect();
        let mut out = Vec::new();
        let mut partial: BTreeMap<ServiceId, Vec<OsString>> = BTreeMap::new();
        let mut taken = 0usize;
        while !cands.is_empty() && taken < round.max {
            let Some(name) = self.pending.pop_front() else {
                break;
            };
            let Some(n) = router.pick(&cands) else {
                self.pending.push_front(name);
                break;
            };
            taken += 1;
            let b = partial.entry(n).or_default();
            b.push(name);
            if let Some(c) = cands.iter_mut().find(|c| c.service == n) {
                c.backlog += 1;
            }
            if let Some(o) = open.iter_mut().find(|o| o.candidate.service == n) {
                o.room -= 1;
                if o.room == 0 {
                    cands.retain(|c| c.service != n);
                }
            }
            if b.len() >= round.batch {
                out.push(Batch {
                    service: n,
                    names: std::mem::take(b),
                });
            }
        }
        out.extend(
            partial
                .into_iter()
                .filter(|(_, names)| !names.is_empty())
                .map(|(service, names)| Batch { service, names }),
        );
        out
    }

    /// Applies the outcomes of a batch (`names[i]` had `outcomes[i]`): delivered, rejected and
    /// gone names leave the queue; a name the inbox could not take goes back to the front of
    /// the queue (in order) and makes the service suspect; any other failure leaves the name in
    /// the intake, no longer queued, for the next rescan.
    pub fn settle(&mut self, names: Vec<OsString>, outcomes: Vec<DeliveryOutcome>) -> Settled {
        let mut s = Settled::default();
        let mut requeue = Vec::new();
        for (name, o) in names.into_iter().zip(outcomes) {
            match o {
                DeliveryOutcome::Delivered { .. } => {
                    s.delivered += 1;
                    self.queued.remove(&name);
                }
                DeliveryOutcome::Rejected { .. } => {
                    s.rejected += 1;
                    self.queued.remove(&name);
                }
                DeliveryOutcome::Gone => {
                    s.gone += 1;
                    self.queued.remove(&name);
                }
                DeliveryOutcome::Failed {
                    error,
                    service_fault: true,
                } => {
                    s.suspect = Some(error);
                    requeue.push(name);
                }
                DeliveryOutcome::Failed {
                    error,
                    service_fault: false,
                } => {
                    self.queued.remove(&name);
                    s.deferred.push(Deferred { name, error });
                }
            }
        }
        s.requeued = requeue.len();
        for name in requeue.into_iter().rev() {
            self.pending.push_front(name);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Strategy;
    use crate::spool::request::Reason;

    fn names(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    fn open(service: usize, backlog: u64, room: usize) -> Open {
        Open {
            candidate: Candidate {
                service: ServiceId(service),
                weight: 1,
                backlog,
            },
            room,
        }
    }

    const ALL: Round = Round {
        batch: usize::MAX,
        max: usize::MAX,
    };

    fn delivered() -> DeliveryOutcome {
        DeliveryOutcome::Delivered {
            file: OsString::from("x"),
        }
    }

    #[test]
    fn enqueue_keeps_each_name_once_even_while_in_flight() {
        let mut d = Dispatch::new();
        d.enqueue(names(&["a", "b", "a"]));
        assert_eq!(d.waiting(), 2);
        let mut r = Router::new(Strategy::RoundRobin);
        let out = d.assign(&mut r, &[open(1, 0, 10)], ALL);
        assert_eq!(out[0].names, names(&["a", "b"]));
        // In flight: a rescan that finds them again queues nothing.
        d.enqueue(names(&["a", "b"]));
        assert_eq!(d.waiting(), 0);
        assert!(d.is_queued(OsStr::new("a")));
    }

    #[test]
    fn round_robin_spreads_in_queue_order() {
        let mut d = Dispatch::new();
        d.enqueue(names(&["a", "b", "c", "d"]));
        let mut r = Router::new(Strategy::RoundRobin);
        let out = d.assign(&mut r, &[open(1, 0, 10), open(2, 0, 10)], ALL);
        assert_eq!(
            out,
            vec![
                Batch {
                    service: ServiceId(1),
                    names: names(&["a", "c"])
                },
                Batch {
                    service: ServiceId(2),
                    names: names(&["b", "d"])
                }
            ]
        );
    }

    #[test]
    fn least_backlog_counts_what_this_round_assigned() {
        let mut d = Dispatch::new();
        d.enqueue(names(&["a", "b", "c"]));
        let mut r = Router::new(Strategy::LeastBacklog);
        // service 2 starts 2 behind; each pick raises the chosen one's backlog.
        let out = d.assign(&mut r, &[open(1, 2, 10), open(2, 0, 10)], ALL);
        assert_eq!(out[0].service, ServiceId(1));
        assert_eq!(out[0].names, names(&["c"]));
        assert_eq!(out[1].names, names(&["a", "b"]));
    }

    #[test]
    fn room_caps_a_service_and_the_rest_waits() {
        let mut d = Dispatch::new();
        d.enqueue(names(&["a", "b", "c", "d", "e"]));
        let mut r = Router::new(Strategy::RoundRobin);
        let out = d.assign(&mut r, &[open(1, 0, 1), open(2, 0, 2), open(3, 0, 0)], ALL);
        let total: usize = out.iter().map(|b| b.names.len()).sum();
        assert_eq!(total, 3);
        assert!(out.iter().all(|b| b.service != ServiceId(3)));
        assert_eq!(d.waiting(), 2);
        // No room anywhere: nothing leaves the queue.
        assert!(d.assign(&mut r, &[open(1, 0, 0)], ALL).is_empty());
        assert!(d.assign(&mut r, &[], ALL).is_empty());
        assert_eq!(d.waiting(), 2);
    }

    #[test]
    fn full_batches_are_emitted_first_and_max_bounds_the_round() {
        let mut d = Dispatch::new();
        d.enqueue((0..7).map(|i| OsString::from(format!("r{i}"))));
        let mut r = Router::new(Strategy::RoundRobin);
        let out = d.assign(&mut r, &[open(1, 0, 100)], Round { batch: 3, max: 5 });
        let sizes: Vec<usize> = out.iter().map(|b| b.names.len()).collect();
        assert_eq!(sizes, vec![3, 2]);
        assert_eq!(d.waiting(), 2);
    }

    #[test]
    fn settle_requeues_inbox_failures_at_the_front_in_order() {
        let mut d = Dispatch::new();
        d.enqueue(names(&["a", "b", "c", "d"]));
        let mut r = Router::new(Strategy::RoundRobin);
        let out = d.assign(&mut r, &[open(1, 0, 3)], ALL);
        assert_eq!(out[0].names, names(&["a", "b", "c"]));
        let s = d.settle(
            out[0].names.clone(),
            vec![
                DeliveryOutcome::Failed {
                    error: "inbox gone".into(),
                    service_fault: true,
                },
                delivered(),
                DeliveryOutcome::Failed {
                    error: "inbox full".into(),
                    service_fault: true,
                },
            ],
        );
        assert_eq!(s.delivered, 1);
        assert_eq!(s.requeued, 2);
        assert_eq!(s.suspect.as_deref(), Some("inbox full"));
        assert!(!d.is_queued(OsStr::new("b")));
        // a and c come back before d, in their order.
        let again = d.assign(&mut r, &[open(2, 0, 10)], ALL);
        assert_eq!(again[0].names, names(&["a", "c", "d"]));
    }

    #[test]
    fn settle_leaves_other_failures_in_the_intake_for_the_next_rescan() {
        let mut d = Dispatch::new();
        d.enqueue(names(&["a", "b", "c"]));
        let mut r = Router::new(Strategy::RoundRobin);
        let out = d.assign(&mut r, &[open(1, 0, 10)], ALL);
        let s = d.settle(
            out[0].names.clone(),
            vec![
                DeliveryOutcome::Failed {
                    error: "No space left on device".into(),
                    service_fault: false,
                },
                DeliveryOutcome::Rejected {
                    reason: Reason::NotUtf8,
                    file: OsString::from("b"),
                },
                DeliveryOutcome::Gone,
            ],
        );
        assert_eq!((s.delivered, s.rejected, s.gone, s.requeued), (0, 1, 1, 0));
        assert_eq!(s.suspect, None);
        assert_eq!(
            s.deferred,
            vec![Deferred {
                name: "a".into(),
                error: "No space left on device".into()
            }]
        );
        assert_eq!(d.waiting(), 0);
        // None is queued any more: the next rescan queues the deferred one again.
        d.enqueue(names(&["a"]));
        assert_eq!(d.waiting(), 1);
    }
}
