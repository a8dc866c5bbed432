//! Which service gets the next request: the routing policy, pure. [`crate::spool::dispatch`]
//! (driven by the supervisor and by `run --once`) hands it the services that can take a
//! request now; it answers with one of them.
//!
//! Strategies: `round_robin` (each in turn), `least_backlog` (fewest requests in the
//! inbox, ties in round-robin order), `weighted` (smooth weighted round robin, as nginx does).

use std::collections::BTreeMap;

use crate::config::Strategy;
use crate::service_id::ServiceId;

/// A service that can take a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub service: ServiceId,
    pub weight: u32,
    /// Requests in its inbox.
    pub backlog: u64,
}

/// Routing state that persists between picks.
#[derive(Debug, Clone, Default)]
pub struct Router {
    strategy: Strategy,
    /// Last service picked (round-robin cursor); `None` before the first pick.
    last: Option<ServiceId>,
    /// Current weights of smooth weighted round robin.
    current: BTreeMap<ServiceId, i64>,
}

impl Router {
    pub fn new(strategy: Strategy) -> Router {
        Router {
            strategy,
            last: None,
            current: BTreeMap::new(),
        }
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Switches strategy (reload), keeping the round-robin cursor.
    pub fn set_strategy(&mut self, s: Strategy) {
        if s != self.strategy {
            self.strategy = s;
            self.current.clear();
        }
    }

    /// Picks a service among `candidates` (sorted by service index), or `None` if empty.
    pub fn pick(&mut self, candidates: &[Candidate]) -> Option<ServiceId> {
        if candidates.is_empty() {
            return None;
        }
        let chosen = match self.strategy {
            Strategy::RoundRobin => self.next_after(candidates, |_| true),
            Strategy::LeastBacklog => {
                let min = candidates.iter().map(|c| c.backlog).min()?;
                self.next_after(candidates, |c| c.backlog == min)
            }
            Strategy::Weighted => self.weighted(candidates),
        };
        self.last = Some(chosen);
        Some(chosen)
    }

    /// The first candidate after the cursor (wrapping) that satisfies `ok`.
    fn next_after(&self, candidates: &[Candidate], ok: impl Fn(&Candidate) -> bool) -> ServiceId {
        candidates
            .iter()
            .filter(|c| Some(c.service) > self.last && ok(c))
            .chain(candidates.iter().filter(|c| ok(c)))
            .map(|c| c.service)
            .next()
            .unwrap_or(candidates[0].service)
    }

    /// Smooth weighted round robin: add each weight to its current value, pick the largest,
    /// subtract the total from it. Weight 0 is never picked unless all are 0.
    fn weighted(&mut self, candidates: &[Candidate]) -> ServiceId {
        let total: i64 = candidates.iter().map(|c| i64::from(c.weight)).sum();
        if total == 0 {
            return self.next_after(candidates, |_| true);
        }
        self.current
            .retain(|s, _| candidates.iter().any(|c| c.service == *s));
        let mut best: Option<(ServiceId, i64)> = None;
        for c in candidates {
            let cur = self.current.entry(c.service).or_insert(0);
            *cur += i64::from(c.weight);
            if c.weight > 0 && best.is_none_or(|(_, b)| *cur > b) {
                best = Some((c.service, *cur));
            }
        }
        let (s, _) = best.unwrap_or((candidates[0].service, 0));
        if let Some(cur) = self.current.get_mut(&s) {
            *cur -= total;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{prop_assert, prop_assume, proptest};

    fn cands(ws: &[u32]) -> Vec<Candidate> {
        ws.iter()
            .enumerate()
            .map(|(i, w)| Candidate {
                service: ServiceId(i + 1),
                weight: *w,
                backlog: 0,
            })
            .collect()
    }

    #[test]
    fn round_robin_cycles_and_skips_missing() {
        let mut r = Router::new(Strategy::RoundRobin);
        let c = cands(&[1, 1, 1]);
        let picks: Vec<_> = (0..6).map(|_| r.pick(&c).unwrap().get()).collect();
        assert_eq!(picks, vec![1, 2, 3, 1, 2, 3]);
        // service 2 goes down
        let c2 = vec![c[0], c[2]];
        let picks: Vec<_> = (0..4).map(|_| r.pick(&c2).unwrap().get()).collect();
        assert_eq!(picks, vec![1, 3, 1, 3]);
        assert_eq!(r.pick(&[]), None);
    }

    #[test]
    fn least_backlog_prefers_emptiest_ties_round_robin() {
        let mut r = Router::new(Strategy::LeastBacklog);
        let mut c = cands(&[1, 1, 1]);
        c[0].backlog = 5;
        c[1].backlog = 2;
        c[2].backlog = 2;
        assert_eq!(r.pick(&c), Some(ServiceId(2)));
        assert_eq!(r.pick(&c), Some(ServiceId(3)));
        assert_eq!(r.pick(&c), Some(ServiceId(2)));
    }

    #[test]
    fn weighted_is_smooth() {
        let mut r = Router::new(Strategy::Weighted);
        let c = cands(&[5, 1, 1]);
        let picks: Vec<_> = (0..7).map(|_| r.pick(&c).unwrap().get()).collect();
        // nginx's classic example: a a b a c a a
        assert_eq!(picks, vec![1, 1, 2, 1, 3, 1, 1]);
    }

    proptest! {
        #[test]
        fn round_robin_counts_differ_by_at_most_one(n in 1usize..8, picks in 0usize..500) {
            let mut r = Router::new(Strategy::RoundRobin);
            let c = cands(&vec![1; n]);
            let mut counts = vec![0usize; n];
            for _ in 0..picks { counts[r.pick(&c).unwrap().get() - 1] += 1; }
            let (mn, mx) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            prop_assert!(mx - mn <= 1, "{counts:?}");
        }

        #[test]
        fn weighted_within_one_of_share(ws in proptest::collection::vec(0u32..6, 1..6), picks in 0usize..400) {
            prop_assume!(ws.iter().any(|w| *w > 0));
            let mut r = Router::new(Strategy::Weighted);
            let c = cands(&ws);
            let mut counts = vec![0f64; ws.len()];
            for _ in 0..picks { counts[r.pick(&c).unwrap().get() - 1] += 1.0; }
            let total: f64 = ws.iter().map(|w| f64::from(*w)).sum();
            for (i, w) in ws.iter().enumerate() {
                let share = picks as f64 * f64::from(*w) / total;
                prop_assert!((counts[i] - share).abs() <= 1.0 + 1e-9,
                    "service {} got {} want {share} ({ws:?}, {picks})", i + 1, counts[i]);
            }
        }
    }
}
