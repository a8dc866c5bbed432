//! Disaster detection as a pure state machine: the StateKeeperActor feeds it what it sees of
//! the live state at each check and does what it answers.
//!
//! A state missing, empty or invalid while Terraform does not hold it, for longer than
//! `state.grace`: raise the alarm once, and with `auto_restore` ask for one restore per episode.
//! While Terraform holds the state the clock stops (Terraform may legitimately be rewriting it).
//! A valid state ends the episode and clears the alarm.

use std::time::{Duration, Instant};

/// What the actor saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Valid,
    /// Missing, empty or invalid; the text says which.
    Bad(String),
    /// Terraform holds the state: nothing automatic happens.
    Held,
}

/// What the actor should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardAction {
    Nothing,
    /// Raise the alarm with this detail.
    Alarm(String),
    /// Raise the alarm and put the newest valid snapshot back.
    AlarmAndRestore(String),
    /// The state is fine again: clear the alarm.
    Clear,
}

/// The machine's memory.
#[derive(Debug, Default, Clone)]
pub struct Guard {
    bad_since: Option<Instant>,
    alarmed: bool,
    restore_asked: bool,
}

impl Guard {
    /// Whether the alarm is up.
    pub fn alarmed(&self) -> bool {
        self.alarmed
    }

    /// Forget the episode (after a reload that moved the state, for instance).
    pub fn reset(&mut self) {
        *self = Guard::default();
    }

    /// One observation at `now`.
    pub fn observe(
        &mut self,
        seen: &Seen,
        now: Instant,
        grace: Duration,
        auto_restore: bool,
    ) -> GuardAction {
        match seen {
            Seen::Valid => {
                self.bad_since = None;
                self.restore_asked = false;
                if std::mem::take(&mut self.alarmed) {
                    GuardAction::Clear
                } else {
                    GuardAction::Nothing
                }
            }
            Seen::Held => {
                self.bad_since = None;
                GuardAction::Nothing
            }
            Seen::Bad(what) => {
                let since = *self.bad_since.get_or_insert(now);
                let waited = now.saturating_duration_since(since);
                if waited < grace {
                    return GuardAction::Nothing;
                }
                let detail = format!("the state is {what} (for {}s)", waited.as_secs());
                let restore = auto_restore && !self.restore_asked;
                if restore {
                    self.restore_asked = true;
                    self.alarmed = true;
                    return GuardAction::AlarmAndRestore(detail);
                }
                if !self.alarmed {
                    self.alarmed = true;
                    return GuardAction::Alarm(detail);
                }
                GuardAction::Nothing
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: Duration = Duration::from_secs(5);

    #[test]
    fn alarm_after_grace_once() {
        let t0 = Instant::now();
        let mut g = Guard::default();
        let bad = Seen::Bad("missing".into());
        assert_eq!(g.observe(&bad, t0, G, false), GuardAction::Nothing);
        assert_eq!(
            g.observe(&bad, t0 + Duration::from_secs(4), G, false),
            GuardAction::Nothing
        );
        assert!(matches!(
            g.observe(&bad, t0 + G, G, false),
            GuardAction::Alarm(_)
        ));
        assert_eq!(g.observe(&bad, t0 + 2 * G, G, false), GuardAction::Nothing);
        assert_eq!(
            g.observe(&Seen::Valid, t0 + 3 * G, G, false),
            GuardAction::Clear
        );
        assert_eq!(
            g.observe(&Seen::Valid, t0 + 4 * G, G, false),
            GuardAction::Nothing
        );
    }

    #[test]
    fn terraform_holding_stops_the_clock() {
        let t0 = Instant::now();
        let mut g = Guard::default();
        let bad = Seen::Bad("empty".into());
        g.observe(&bad, t0, G, true);
        g.observe(&Seen::Held, t0 + Duration::from_secs(4), G, true);
        assert_eq!(
            g.observe(&bad, t0 + Duration::from_secs(6), G, true),
            GuardAction::Nothing
        );
        assert!(matches!(
            g.observe(&bad, t0 + Duration::from_secs(11), G, true),
            GuardAction::AlarmAndRestore(_)
        ));
        // one restore per episode
        assert_eq!(
            g.observe(&bad, t0 + Duration::from_secs(20), G, true),
            GuardAction::Nothing
        );
        assert_eq!(
            g.observe(&Seen::Valid, t0 + Duration::from_secs(21), G, true),
            GuardAction::Clear
        );
    }
}
