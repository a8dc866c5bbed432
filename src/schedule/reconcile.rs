//! Reconciling the folders with the schedules: what the schedules want at an instant compared
//! with which folders exist ([`plan`]), and the moves that make them agree ([`archive`],
//! [`unarchive`], [`reconcile`]), each logged in `cost.log`.
//!
//! A service is *off* exactly when `archived/service_N/` exists: that is what the supervisor,
//! `status` and the ledger go by. Both folders present is a conflict: nothing is moved or
//! overwritten. A crash between the steps leaves a state the next evaluation finishes: the
//! comparison is always between what the schedules want now and which folder exists.
//!
//! No actors and no timers here: the CostActor calls [`plan`], [`archive`] and [`unarchive`]
//! around its routing messages; `run --once` and the supervisor's start call [`apply_now`].

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;

use chrono::{DateTime, SubsecRound, Utc};

use super::ledger::LedgerError;
use super::{last_ended, off_reason};
use crate::clock::Clock;
use crate::config::Config;
use crate::service_id::ServiceId;
use crate::workspace::Workspace;

/// What can go wrong switching a service off or on.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    #[error(
        "{service}: {archive} and {live} both exist; nothing was moved (move one of them away)"
    )]
    Conflict {
        service: ServiceId,
        archive: PathBuf,
        live: PathBuf,
    },
    #[error("{service}: cannot move {from} to {to}: {source}")]
    Move {
        service: ServiceId,
        from: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{service}: the supervisor did not take it off routing ({reason}); retrying next minute"
    )]
    Routing { service: ServiceId, reason: String },
    #[error("cannot append to {path}: {source}")]
    Log {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// A change the schedules ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScheduleChange {
    /// Switch the service off (its window is open).
    Enter {
        service: ServiceId,
        schedule: String,
    },
    /// Switch it back on (no window holds it).
    Leave {
        service: ServiceId,
        schedule: String,
    },
}

impl ScheduleChange {
    pub fn service(&self) -> ServiceId {
        match self {
            ScheduleChange::Enter { service, .. } | ScheduleChange::Leave { service, .. } => {
                *service
            }
        }
    }
}

/// The outcome of [`reconcile`].
#[derive(Debug, Default)]
pub struct Reconciled {
    /// Services off afterwards (their archive folder exists).
    pub off: BTreeSet<ServiceId>,
    /// Changes made: `(service, now off, schedule)`.
    pub changes: Vec<(ServiceId, bool, String)>,
    /// Conflicts and failures; each was logged.
    pub problems: Vec<CostError>,
}

pub(crate) fn present(p: &std::path::Path) -> bool {
    p.symlink_metadata().is_ok()
}

/// Compares what the schedules want at `now` with the folders: the actions to take, and the
/// conflicts that block one. `name_of(n)` names the schedule a service comes back from.
pub fn plan(
    ws: &Workspace,
    cfg: &Config,
    now: DateTime<Utc>,
    name_of: impl Fn(ServiceId) -> String,
) -> (Vec<ScheduleChange>, Vec<CostError>) {
    let mut actions = Vec::new();
    let mut conflicts = Vec::new();
    for n in ServiceId::all(cfg.services.count) {
        let want = off_reason(&cfg.schedules, n, now);
        let (archive, live) = (ws.archived_dir(n), ws.service_dir(n));
        let archived = present(&archive);
        match (want, archived, present(&live)) {
            (Some(s), false, _) => actions.push(ScheduleChange::Enter {
                service: n,
                schedule: s.to_string(),
            }),
            (None, true, false) => actions.push(ScheduleChange::Leave {
                service: n,
                schedule: name_of(n),
            }),
            (_, true, true) => conflicts.push(CostError::Conflict {
                service: n,
                archive,
                live,
            }),
            _ => {}
        }
    }
    (actions, conflicts)
}

/// `balanceador/service_N` → `archived/service_N` (no overwrite), then the `cost.log` line.
///
/// # Errors
/// [`CostError::Conflict`] when the archive folder exists (nothing moved),
/// [`CostError::Move`] when the rename fails, [`CostError::Log`] when the line cannot be
/// written (the folder has moved).
pub fn archive(
    ws: &Workspace,
    n: ServiceId,
    schedule: &str,
    now: DateTime<Utc>,
) -> Result<(), CostError> {
    let (archive, live) = (ws.archived_dir(n), ws.service_dir(n));
    let moved = |source| CostError::Move {
        service: n,
        from: live.clone(),
        to: archive.clone(),
        source,
    };
    // Never through a link: a symlinked archived/ would carry the folder out of the workspace.
    crate::fsutil::ensure_dir(&ws.archived(), 0o755).map_err(moved)?;
    let res = if present(&live) {
        crate::fsutil::rename_noreplace(&live, &archive)
    } else {
        // No folder to move: an empty archive marks the service off all the same.
        std::fs::create_dir(&archive)
    };
    match res {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(CostError::Conflict {
                service: n,
                archive,
                live,
            })
        }
        Err(e) => return Err(moved(e)),
    }
    let _ = crate::fsutil::sync_dir(&ws.archived());
    let _ = crate::fsutil::sync_dir(&ws.balanceador());
    log::info!("{n} OFF (schedule {schedule})");
    cost_log(ws, now, n, false, schedule)
}

/// `archived/service_N` → `balanceador/service_N` (no overwrite), then the `cost.log` line.
///
/// # Errors
/// As [`archive`].
pub fn unarchive(
    ws: &Workspace,
    n: ServiceId,
    schedule: &str,
    now: DateTime<Utc>,
) -> Result<(), CostError> {
    let (archive, live) = (ws.archived_dir(n), ws.service_dir(n));
    match crate::fsutil::rename_noreplace(&archive, &live) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(CostError::Conflict {
                service: n,
                archive,
                live,
            })
        }
        Err(source) => {
            return Err(CostError::Move {
                service: n,
                from: archive,
                to: live,
                source,
            })
        }
    }
    let _ = crate::fsutil::sync_dir(&ws.balanceador());
    let _ = crate::fsutil::sync_dir(&ws.archived());
    log::info!("{n} ON (schedule {schedule})");
    cost_log(ws, now, n, true, schedule)
}

/// The `cost.log` line: `YYYY-MM-DD HH:MM:SS  service_N OFF|ON (schedule <name>)`, local time.
pub fn cost_log_line(now: DateTime<Utc>, n: ServiceId, on: bool, schedule: &str) -> String {
    format!(
        "{}  {n} {} (schedule {schedule})\n",
        now.with_timezone(&chrono::Local)
            .format("%Y-%m-%d %H:%M:%S"),
        if on { "ON" } else { "OFF" }
    )
}

fn cost_log(
    ws: &Workspace,
    now: DateTime<Utc>,
    n: ServiceId,
    on: bool,
    schedule: &str,
) -> Result<(), CostError> {
    let path = ws.cost_log();
    let err = |source| CostError::Log {
        path: path.clone(),
        source,
    };
    crate::fsutil::ensure_dir(&ws.bal_logs(), 0o755).map_err(err)?;
    let mut f = crate::fsutil::open_append_nofollow(&path, 0o644).map_err(err)?;
    f.write_all(cost_log_line(now, n, on, schedule).as_bytes())
        .map_err(err)
}

/// The name for a service coming back on: the schedule whose window just ended, else
/// `fallback`, else `unknown`.
pub fn leave_name(
    cfg: &Config,
    n: ServiceId,
    now: DateTime<Utc>,
    fallback: Option<&str>,
) -> String {
    fallback
        .or_else(|| last_ended(&cfg.schedules, n, now))
        .unwrap_or("unknown")
        .to_string()
}

/// Evaluates the schedules at `now` and applies them synchronously (no routing messages):
/// services entering a window have their folder archived, services leaving one get it back,
/// each change logged in `cost.log`. Conflicts and failures are logged and returned.
pub fn reconcile(ws: &Workspace, cfg: &Config, now: DateTime<Utc>) -> Reconciled {
    let now = now.trunc_subsecs(0);
    let (actions, mut problems) = plan(ws, cfg, now, |n| leave_name(cfg, n, now, None));
    let mut changes = Vec::new();
    for a in actions {
        let res = match &a {
            ScheduleChange::Enter { service, schedule } => archive(ws, *service, schedule, now),
            ScheduleChange::Leave { service, schedule } => unarchive(ws, *service, schedule, now),
        };
        match (res, a) {
            (Ok(()), ScheduleChange::Enter { service, schedule }) => {
                changes.push((service, true, schedule))
            }
            (Ok(()), ScheduleChange::Leave { service, schedule }) => {
                changes.push((service, false, schedule))
            }
            (Err(e @ CostError::Log { .. }), ScheduleChange::Enter { service, schedule }) => {
                problems.push(e);
                changes.push((service, true, schedule));
            }
            (Err(e @ CostError::Log { .. }), ScheduleChange::Leave { service, schedule }) => {
                problems.push(e);
                changes.push((service, false, schedule));
            }
            (Err(e), _) => problems.push(e),
        }
    }
    for p in &problems {
        log::warn!("{p}");
    }
    let off = ServiceId::all(cfg.services.count)
        .filter(|&n| present(&ws.archived_dir(n)))
        .collect();
    Reconciled {
        off,
        changes,
        problems,
    }
}

/// Evaluates the schedules at `clock.now()` and applies them synchronously: services entering
/// a window have their folder archived, services leaving one get it back. Used by
/// `run --once` and at supervisor start, before `services.active` is applied. Returns the set
/// of services that are off afterwards. See [`reconcile`] for the changes and conflicts.
///
/// Never fails as a whole: conflicts and failures are logged (and left for the CostActor to
/// raise as alarms).
pub fn apply_now(ws: &Workspace, cfg: &Config, clock: &dyn Clock) -> BTreeSet<ServiceId> {
    reconcile(ws, cfg, clock.now()).off
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Days, Schedule, Timezone, Window};
    use chrono::TimeZone;

    fn setup(count: usize) -> (tempfile::TempDir, Workspace, Config) {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        let mut cfg = Config::defaults(dir.path());
        cfg.services.count = count;
        cfg.schedules = vec![Schedule {
            name: "night".into(),
            services: vec![ServiceId(2)],
            off: Window::parse("00:00-06:00").unwrap(),
            days: Days::all(),
            timezone: Timezone::parse("UTC").unwrap(),
        }];
        (dir, ws, cfg)
    }

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 2, h, 0, 0).unwrap()
    }

    #[test]
    fn plan_enters_an_open_window_and_leaves_a_closed_one() {
        let (_d, ws, cfg) = setup(3);
        for n in ServiceId::all(3) {
            std::fs::create_dir_all(ws.service_dir(n)).unwrap();
        }
        let (actions, conflicts) = plan(&ws, &cfg, at(3), |_| "gone".into());
        assert_eq!(
            actions,
            vec![ScheduleChange::Enter {
                service: ServiceId(2),
                schedule: "night".into()
            }]
        );
        assert!(conflicts.is_empty());
        // Archived, the live folder gone, the window over: back on.
        std::fs::rename(ws.service_dir(ServiceId(2)), {
            std::fs::create_dir_all(ws.archived()).unwrap();
            ws.archived_dir(ServiceId(2))
        })
        .unwrap();
        let (actions, _) = plan(&ws, &cfg, at(7), |_| "night".into());
        assert_eq!(
            actions,
            vec![ScheduleChange::Leave {
                service: ServiceId(2),
                schedule: "night".into()
            }]
        );
        // Inside the window and already archived: nothing to do.
        assert!(plan(&ws, &cfg, at(4), |_| String::new()).0.is_empty());
    }

    #[test]
    fn plan_reports_both_folders_as_a_conflict_and_asks_no_move() {
        let (_d, ws, cfg) = setup(3);
        std::fs::create_dir_all(ws.service_dir(ServiceId(2))).unwrap();
        std::fs::create_dir_all(ws.archived_dir(ServiceId(2))).unwrap();
        let (actions, conflicts) = plan(&ws, &cfg, at(7), |_| String::new());
        assert!(actions.is_empty());
        assert!(matches!(
            conflicts.as_slice(),
            [CostError::Conflict {
                service: ServiceId(2),
                ..
            }]
        ));
    }

    #[test]
    fn archive_and_unarchive_move_the_folder_with_its_inbox_and_log_each_switch() {
        let (_d, ws, _cfg) = setup(3);
        let s2 = ServiceId(2);
        std::fs::create_dir_all(ws.service_dir(s2)).unwrap();
        std::fs::write(ws.service_dir(s2).join("processed_a"), "a").unwrap();
        archive(&ws, s2, "night", at(0)).unwrap();
        assert!(!ws.service_dir(s2).exists());
        assert_eq!(
            std::fs::read_to_string(ws.archived_dir(s2).join("processed_a")).unwrap(),
            "a"
        );
        // Archived again: the archive folder exists, nothing moves.
        std::fs::create_dir_all(ws.service_dir(s2)).unwrap();
        let e = archive(&ws, s2, "night", at(1)).unwrap_err();
        assert!(
            matches!(e, CostError::Conflict { service, .. } if service == s2),
            "{e}"
        );
        assert!(ws.archived_dir(s2).join("processed_a").exists());
        std::fs::remove_dir(ws.service_dir(s2)).unwrap();
        unarchive(&ws, s2, "night", at(6)).unwrap();
        assert!(ws.service_dir(s2).join("processed_a").exists());
        assert!(!ws.archived_dir(s2).exists());
        // A service without a folder gets an empty archive: it counts as off.
        let s3 = ServiceId(3);
        archive(&ws, s3, "night", at(7)).unwrap();
        assert!(ws.archived_dir(s3).is_dir() && !ws.service_dir(s3).exists());
        let log = std::fs::read_to_string(ws.cost_log()).unwrap();
        let lines: Vec<_> = log.lines().map(|l| l.split_once("  ").unwrap().1).collect();
        assert_eq!(
            lines,
            vec![
                "service_2 OFF (schedule night)",
                "service_2 ON (schedule night)",
                "service_3 OFF (schedule night)"
            ]
        );
    }

    #[test]
    fn reconcile_applies_the_plan_and_reports_what_is_off_and_what_conflicts() {
        let (_d, ws, mut cfg) = setup(3);
        cfg.schedules[0].services = vec![ServiceId(2), ServiceId(3)];
        for n in ServiceId::all(3) {
            std::fs::create_dir_all(ws.service_dir(n)).unwrap();
        }
        // 3 has a stray archive folder beside its live one: a conflict, left alone.
        std::fs::create_dir_all(ws.archived_dir(ServiceId(3))).unwrap();
        let r = reconcile(&ws, &cfg, at(3));
        assert_eq!(r.changes, vec![(ServiceId(2), true, "night".to_string())]);
        assert!(matches!(
            r.problems.as_slice(),
            [CostError::Conflict { service, .. }] if *service == ServiceId(3)
        ));
        // Off is what the folders say: 3's archive folder exists too.
        assert_eq!(r.off, BTreeSet::from([ServiceId(2), ServiceId(3)]));
        assert!(ws.service_dir(ServiceId(3)).exists());
        // Window over, conflict resolved: 2 comes back, named after the schedule that ended.
        std::fs::remove_dir(ws.archived_dir(ServiceId(3))).unwrap();
        let r = reconcile(&ws, &cfg, at(7));
        assert_eq!(r.changes, vec![(ServiceId(2), false, "night".to_string())]);
        assert!(r.problems.is_empty() && r.off.is_empty());
        // Nothing left to do.
        assert!(reconcile(&ws, &cfg, at(8)).changes.is_empty());
    }

    #[test]
    fn a_service_coming_back_is_named_after_the_schedule_that_ended() {
        let (_d, _ws, cfg) = setup(3);
        assert_eq!(leave_name(&cfg, ServiceId(2), at(7), None), "night");
        assert_eq!(leave_name(&cfg, ServiceId(2), at(7), Some("seen")), "seen");
        assert_eq!(leave_name(&cfg, ServiceId(1), at(7), None), "unknown");
    }
}
