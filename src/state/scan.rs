//! The state keeper's look at the state, as a plain function: has the state changed since the
//! last look, is it valid, missing, empty, or held by Terraform, and (when it changed and is
//! valid) the snapshot taken. The StateKeeperActor runs [`scan`] on the blocking pool and feeds
//! what it saw to the [`guard`](super::guard); it owns the timers and the file events.
//!
//! Also here: the jobs the actor queues and how two of them coalesce ([`merge`]).

use std::path::Path;

use super::guard::Seen;
use super::model::Invalid;
use super::restore;
use super::snapshot::{self, FileKey, SnapshotError, TakeOptions, Taken};
use super::tflock;
use crate::config::Config;

/// Work for the blocking pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Look at the state; snapshot it when it changed (`force`: even when it did not, and even
    /// while Terraform holds it — an explicit request).
    Scan {
        reason: String,
        force: bool,
        startup: bool,
    },
    /// Put the newest valid snapshot back (the disaster path).
    Restore { why: String },
}

impl Job {
    /// A plain look after a file event or a poll: snapshot only if the state changed.
    pub fn on_change() -> Job {
        Job::Scan {
            reason: "change".into(),
            force: false,
            startup: false,
        }
    }

    /// The first look (at start, or after the state moved): also cleans what a killed run left.
    pub fn at_start() -> Job {
        Job::Scan {
            reason: "start".into(),
            force: false,
            startup: true,
        }
    }
}

/// What the last scan read, so that an unchanged file is not read again.
#[derive(Debug, Clone)]
pub struct Cache {
    key: FileKey,
    seen: Seen,
}

/// What a [`scan`] saw and did.
#[derive(Debug)]
pub struct Scanned {
    /// What the state looks like; `None` when the look was inconclusive (being rewritten, or
    /// an I/O error).
    pub seen: Option<Seen>,
    /// The snapshot taken, if any.
    pub taken: Option<Box<Taken>>,
    /// A problem worth an alarm (the backups folder, a failed snapshot).
    pub error: Option<String>,
    /// To hand to the next scan.
    pub cache: Option<Cache>,
}

/// Two triggers while busy become one: a restore wins, a forced scan wins over a plain one.
pub fn merge(a: Job, b: Job) -> Job {
    match (a, b) {
        (r @ Job::Restore { .. }, _) | (_, r @ Job::Restore { .. }) => r,
        (
            Job::Scan {
                reason: ra,
                force: fa,
                startup: sa,
            },
            Job::Scan {
                reason: rb,
                force: fb,
                startup: sb,
            },
        ) => {
            let reason = if fb || !fa { rb } else { ra };
            Job::Scan {
                reason,
                force: fa || fb,
                startup: sa || sb,
            }
        }
    }
}

/// Looks at the state: a `stat`, then (only when it changed, is bad, or `force`) Terraform's
/// lock and a full read; a valid, changed state is snapshotted (`force`: even unchanged, and
/// even while Terraform holds it). `startup` also cleans what a killed run left in the backups
/// folder. `cache` is what the last scan saw, so that an unchanged file is not read again.
/// Never fails as a whole: problems come back in [`Scanned::error`].
pub fn scan(
    cfg: &Config,
    reason: &str,
    force: bool,
    startup: bool,
    cache: Option<Cache>,
) -> Scanned {
    let state = &cfg.state.path;
    let mut out_error = None;
    if startup {
        match snapshot::lock_backups(&cfg.state.backups) {
            Ok(_lock) => {
                if let Err(e) = snapshot::clean_leftovers(&cfg.state.backups) {
                    out_error = Some(e.to_string());
                }
                restore::clean_restore_leftovers(state);
            }
            Err(e) => out_error = Some(e.to_string()),
        }
    }
    let scanned = |seen, taken, error: Option<String>, cache| Scanned {
        seen,
        taken,
        error: error.or(out_error.clone()),
        cache,
    };
    // A stat first; the state is opened (to ask for Terraform's lock, or to read it) only when
    // it changed or is bad, so that a quiet state costs no open/close events that other
    // watchers of the folder would see.
    let key = match std::fs::metadata(state) {
        Ok(m) => FileKey::of(&m),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let seen = if terraform_holds(state) {
                Seen::Held
            } else {
                Seen::Bad("missing".into())
            };
            return scanned(Some(seen), None, None, None);
        }
        Err(e) => {
            return scanned(
                None,
                None,
                Some(format!("cannot stat {}: {e}", state.display())),
                cache,
            )
        }
    };
    if !force {
        if let Some(c) = &cache {
            if c.key == key {
                let seen = if c.seen != Seen::Valid && terraform_holds(state) {
                    Seen::Held
                } else {
                    c.seen.clone()
                };
                return scanned(Some(seen), None, None, cache);
            }
        }
    }
    let held = terraform_holds(state);
    if held && !force {
        return scanned(Some(Seen::Held), None, None, cache);
    }
    let (rs, key) = match snapshot::read_state(state, None) {
        Ok(r) => r,
        Err(SnapshotError::StateMissing { .. }) => {
            return scanned(Some(Seen::Bad("missing".into())), None, None, None)
        }
        // Being rewritten: look again at the next check.
        Err(SnapshotError::StateChanged { .. }) => return scanned(None, None, None, None),
        Err(e) => return scanned(None, None, Some(e.to_string()), None),
    };
    let seen = match &rs.info {
        Ok(_) => Seen::Valid,
        Err(Invalid::Empty) => Seen::Bad("empty".into()),
        Err(i) => Seen::Bad(format!("invalid ({i})")),
    };
    let new_cache = Some(Cache {
        key,
        seen: seen.clone(),
    });
    if seen != Seen::Valid {
        if force {
            log::warn!(
                "snapshot ({reason}) skipped: the state {} is {}",
                state.display(),
                match &seen {
                    Seen::Bad(w) => w.as_str(),
                    _ => "not valid",
                }
            );
        }
        return scanned(Some(seen), None, None, new_cache);
    }
    let reason = if startup && !force { "start" } else { reason };
    let opts = TakeOptions {
        only_if_changed: !force,
        progress: None,
        origin: None,
    };
    let taken = snapshot::lock_backups(&cfg.state.backups)
        .and_then(|_lock| snapshot::take_locked(cfg, rs, reason, &opts));
    match taken {
        Ok(t) => scanned(
            Some(if held { Seen::Held } else { seen }),
            t.map(Box::new),
            None,
            new_cache,
        ),
        Err(e) => scanned(
            Some(seen),
            None,
            Some(format!("snapshot failed: {e}")),
            None,
        ),
    }
}

/// Whether Terraform holds the state (its lock info file names a live lock); a lock that
/// cannot be read counts as not held, with a warning.
pub fn terraform_holds(state: &Path) -> bool {
    match tflock::terraform_lock(state) {
        Ok(l) => l.is_some(),
        Err(e) => {
            log::warn!(
                "cannot tell whether Terraform holds {}: {e}",
                state.display()
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_job(reason: &str, force: bool) -> Job {
        Job::Scan {
            reason: reason.into(),
            force,
            startup: false,
        }
    }

    #[test]
    fn merging_keeps_the_strongest() {
        assert_eq!(
            merge(scan_job("change", false), scan_job("SIGUSR1", true)),
            scan_job("SIGUSR1", true)
        );
        assert_eq!(
            merge(scan_job("SIGUSR1", true), scan_job("change", false)),
            scan_job("SIGUSR1", true)
        );
        let r = Job::Restore { why: "x".into() };
        assert_eq!(merge(scan_job("a", true), r.clone()), r);
        assert_eq!(merge(r.clone(), scan_job("a", true)), r);
    }

    const STATE: &str = r#"{"version":4,"terraform_version":"1.11.4","serial":3,"lineage":"l-1","outputs":{},"resources":[]}"#;

    fn setup() -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::defaults(dir.path());
        std::fs::create_dir_all(cfg.state.path.parent().unwrap()).unwrap();
        (dir, cfg)
    }

    #[test]
    fn scan_sees_a_missing_then_empty_state_as_bad_and_takes_no_snapshot() {
        let (_d, cfg) = setup();
        let s = scan(&cfg, "change", false, true, None);
        assert_eq!(s.seen, Some(Seen::Bad("missing".into())));
        assert!(s.taken.is_none() && s.error.is_none());
        std::fs::write(&cfg.state.path, b"").unwrap();
        let s = scan(&cfg, "change", false, false, None);
        assert_eq!(s.seen, Some(Seen::Bad("empty".into())));
        assert!(s.taken.is_none());
        std::fs::write(&cfg.state.path, b"{\"version\":4,").unwrap();
        let s = scan(&cfg, "change", false, false, s.cache);
        assert!(
            matches!(&s.seen, Some(Seen::Bad(w)) if w.starts_with("invalid")),
            "{:?}",
            s.seen
        );
    }

    #[test]
    fn scan_snapshots_a_changed_valid_state_once() {
        let (_d, cfg) = setup();
        std::fs::write(&cfg.state.path, STATE).unwrap();
        let first = scan(&cfg, "change", false, true, None);
        assert_eq!(first.seen, Some(Seen::Valid));
        assert_eq!(first.error, None);
        let taken = first.taken.expect("a snapshot of a new valid state");
        assert_eq!(taken.meta.serial, 3);
        // Unchanged: the cache answers, nothing is read or taken.
        let again = scan(&cfg, "change", false, false, first.cache);
        assert_eq!(again.seen, Some(Seen::Valid));
        assert!(again.taken.is_none());
        // Unchanged and no cache: read again, but the same content is not snapshotted twice.
        let reread = scan(&cfg, "change", false, false, None);
        assert!(reread.taken.is_none());
        // Forced (SIGUSR1): snapshotted even though unchanged.
        let forced = scan(&cfg, "SIGUSR1", true, false, again.cache);
        assert!(forced.taken.is_some());
    }

    #[test]
    fn while_terraform_holds_the_state_scan_says_held_and_snapshots_only_when_forced() {
        let (_d, cfg) = setup();
        let info = cfg
            .state
            .path
            .with_file_name(".terraform.tfstate.lock.info");
        std::fs::write(
            &info,
            r#"{"ID":"x","Operation":"OperationTypeApply","Who":"me"}"#,
        )
        .unwrap();
        // Missing while held: Terraform may be rewriting it, not lost.
        assert_eq!(
            scan(&cfg, "change", false, false, None).seen,
            Some(Seen::Held)
        );
        std::fs::write(&cfg.state.path, STATE).unwrap();
        let s = scan(&cfg, "change", false, false, None);
        assert_eq!(s.seen, Some(Seen::Held));
        assert!(
            s.taken.is_none(),
            "no snapshot of a state Terraform is writing"
        );
        let forced = scan(&cfg, "SIGUSR1", true, false, None);
        assert_eq!(forced.seen, Some(Seen::Held));
        assert!(
            forced.taken.is_some(),
            "an explicit request snapshots all the same"
        );
        // Released: the same content is not taken again.
        std::fs::remove_file(&info).unwrap();
        let after = scan(&cfg, "change", false, false, None);
        assert_eq!(after.seen, Some(Seen::Valid));
        assert!(after.taken.is_none());
    }

    #[test]
    fn a_bad_state_seen_before_is_held_once_terraform_takes_its_lock() {
        let (_d, cfg) = setup();
        std::fs::write(&cfg.state.path, b"").unwrap();
        let first = scan(&cfg, "change", false, false, None);
        assert_eq!(first.seen, Some(Seen::Bad("empty".into())));
        let info = cfg
            .state
            .path
            .with_file_name(".terraform.tfstate.lock.info");
        std::fs::write(&info, "{}").unwrap();
        // Unchanged file, answered from the cache, but the lock is looked at again.
        let s = scan(&cfg, "change", false, false, first.cache);
        assert_eq!(s.seen, Some(Seen::Held));
    }
}
