//! What makes a service up, down or off — the checks behind the HealthActor's verdict, the
//! `services.active` markers, and the `health.log` line format.
//!
//! Up: the folder exists, holds its marker `service_N.txt`, and accepts a write (a probe file
//! created and removed). Off: a cost schedule holds it in `archived/service_N/`. Down:
//! anything else.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;

use chrono::{DateTime, Local};

use crate::config::Config;
use crate::service_id::ServiceId;
use crate::workspace::Workspace;

/// A service's state as the router and `status` see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    Up,
    Down,
    Off,
}

impl ServiceState {
    pub fn word(self) -> &'static str {
        match self {
            ServiceState::Up => "UP",
            ServiceState::Down => "DOWN",
            ServiceState::Off => "OFF",
        }
    }
}

/// The verdict on one service, with the reason a person reads in `health.log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthVerdict {
    pub state: ServiceState,
    pub reason: String,
}

/// Whether a cost schedule holds service `n` off: its folder was moved to `archived/` (a
/// folder there, none in `balanceador/`). With a folder in both places it is not off but a
/// conflict (see [`check`]): the schedule's move never happened.
pub fn is_off(ws: &Workspace, n: ServiceId) -> bool {
    let real_dir = |p: &std::path::Path| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir());
    real_dir(&ws.archived_dir(n)) && std::fs::symlink_metadata(ws.service_dir(n)).is_err()
}

/// Whether `archived/service_N` exists beside `balanceador/service_N`.
fn archive_conflict(ws: &Workspace, n: ServiceId) -> bool {
    std::fs::symlink_metadata(ws.archived_dir(n)).is_ok()
        && std::fs::symlink_metadata(ws.service_dir(n)).is_ok()
}

/// Checks service `n`. `probe`: also prove the folder accepts a write.
pub fn check(ws: &Workspace, n: ServiceId, probe: bool) -> HealthVerdict {
    let v = |state, reason: &str| HealthVerdict {
        state,
        reason: reason.to_string(),
    };
    if is_off(ws, n) {
        return v(ServiceState::Off, "archived by a cost schedule");
    }
    let mut verdict = check_folder(ws, n, probe);
    if archive_conflict(ws, n) {
        verdict.reason.push_str(&format!(
            "; archived/{n} also exists (a conflict: nothing is moved over it)"
        ));
    }
    verdict
}

fn check_folder(ws: &Workspace, n: ServiceId, probe: bool) -> HealthVerdict {
    let v = |state, reason: &str| HealthVerdict {
        state,
        reason: reason.to_string(),
    };
    let dir = ws.service_dir(n);
    match std::fs::symlink_metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return v(ServiceState::Down, "folder is not a directory"),
        Err(_) => return v(ServiceState::Down, "folder missing"),
    }
    match std::fs::symlink_metadata(ws.marker(n)) {
        Ok(m) if m.is_file() => {}
        _ => return v(ServiceState::Down, "marker missing"),
    }
    if probe {
        let p = dir.join(format!(".tfops-probe-{}", std::process::id()));
        let r = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .and_then(|mut f| f.write_all(b"probe"));
        let _ = std::fs::remove_file(&p);
        if let Err(e) = r {
            return HealthVerdict {
                state: ServiceState::Down,
                reason: format!("folder does not accept a write: {e}"),
            };
        }
    }
    v(ServiceState::Up, "marker present, folder writable")
}

/// Requests waiting in service `n`'s inbox (everything but the marker and dotfiles).
pub fn backlog(ws: &Workspace, n: ServiceId) -> u64 {
    let marker = format!("{n}.txt");
    std::fs::read_dir(ws.service_dir(n))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name();
                    name.as_bytes().first() != Some(&b'.') && name.as_bytes() != marker.as_bytes()
                })
                .count() as u64
        })
        .unwrap_or(0)
}

/// Applies `services.active`: active services that are not off get their folder and marker,
/// the others lose their marker.
///
/// # Errors
/// The first folder or marker that cannot be created or removed.
pub fn apply_active(ws: &Workspace, cfg: &Config, off: &BTreeSet<ServiceId>) -> io::Result<()> {
    for n in ServiceId::all(cfg.services.count) {
        if off.contains(&n) || is_off(ws, n) {
            continue;
        }
        if cfg.services.active.contains(&n) {
            // Never through a link: a symlinked service_N is refused (and stays down).
            crate::fsutil::ensure_dir(&ws.balanceador(), 0o755)?;
            if crate::fsutil::is_symlink(&ws.service_dir(n)) {
                // Refused, not fatal: the service stays down until the link is replaced.
                log::warn!(
                    "{} is a symbolic link; tfops never delivers through one: {n} stays down",
                    ws.service_dir(n).display()
                );
                continue;
            }
            crate::fsutil::ensure_dir(&ws.service_dir(n), 0o755)?;
            let m = ws.marker(n);
            if std::fs::symlink_metadata(&m).is_err() {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&m)?
                    .write_all(format!("{n} active\n").as_bytes())?;
            }
        } else {
            match std::fs::remove_file(ws.marker(n)) {
                Ok(()) => log::info!("{n} is not in services.active: marker removed"),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Appends a transition to `health.log`:
/// `[YYYY-MM-DD HH:MM:SS] service_N UP|DOWN|OFF (<reason>)`.
///
/// # Errors
/// When the log cannot be written.
pub fn log_transition(
    ws: &Workspace,
    n: ServiceId,
    v: &HealthVerdict,
    at: DateTime<Local>,
) -> io::Result<()> {
    let line = format!(
        "[{}] {n} {} ({})\n",
        at.format("%Y-%m-%d %H:%M:%S"),
        v.state.word(),
        v.reason
    );
    crate::fsutil::ensure_dir(&ws.balanceador(), 0o755)?;
    crate::fsutil::ensure_dir(&ws.bal_logs(), 0o755)?;
    crate::fsutil::open_append_nofollow(&ws.health_log(), 0o644)?.write_all(line.as_bytes())
}

/// The last state `health.log` recorded for each service (read from its tail), so that a
/// restart or `run --once` logs transitions only, not the same state again.
pub fn last_logged(ws: &Workspace) -> std::collections::HashMap<ServiceId, ServiceState> {
    use std::io::{Read, Seek, SeekFrom};
    let mut out = std::collections::HashMap::new();
    let Ok(mut f) = crate::fsutil::open_read_regular(&ws.health_log(), false) else {
        return out;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let back = len.min(64 * 1024);
    let mut tail = String::new();
    if f.seek(SeekFrom::Start(len - back)).is_err() || f.read_to_string(&mut tail).is_err() {
        return out;
    }
    for line in tail.lines() {
        // [YYYY-MM-DD HH:MM:SS] service_N STATE (reason)
        let mut words = line
            .split_once("] ")
            .map(|(_, r)| r)
            .unwrap_or("")
            .split(' ');
        let (Some(name), Some(state)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = name.parse::<ServiceId>() else {
            continue;
        };
        let st = match state {
            "UP" => ServiceState::Up,
            "DOWN" => ServiceState::Down,
            "OFF" => ServiceState::Off,
            _ => continue,
        };
        out.insert(n, st);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn up_down_off() {
        let d = tempfile::tempdir().unwrap();
        let ws = Workspace::new(d.path());
        assert_eq!(check(&ws, ServiceId(1), true).state, ServiceState::Down);
        let cfg = Config::defaults(Path::new("/x"));
        apply_active(&ws, &cfg, &BTreeSet::new()).unwrap();
        assert_eq!(check(&ws, ServiceId(1), true).state, ServiceState::Up);
        std::fs::remove_file(ws.marker(ServiceId(2))).unwrap();
        assert_eq!(check(&ws, ServiceId(2), true).reason, "marker missing");
        // What a schedule does: the folder moves to archived/.
        std::fs::create_dir_all(ws.archived()).unwrap();
        std::fs::rename(ws.service_dir(ServiceId(3)), ws.archived_dir(ServiceId(3))).unwrap();
        assert_eq!(check(&ws, ServiceId(3), true).state, ServiceState::Off);
        std::fs::write(ws.service_dir(ServiceId(1)).join("processed_x"), "x").unwrap();
        assert_eq!(backlog(&ws, ServiceId(1)), 1);
        let now = Local::now();
        log_transition(&ws, ServiceId(1), &check(&ws, ServiceId(1), true), now).unwrap();
        log_transition(&ws, ServiceId(2), &check(&ws, ServiceId(2), true), now).unwrap();
        log_transition(&ws, ServiceId(3), &check(&ws, ServiceId(3), true), now).unwrap();
        let last = last_logged(&ws);
        assert_eq!(last[&ServiceId(1)], ServiceState::Up);
        assert_eq!(last[&ServiceId(2)], ServiceState::Down);
        assert_eq!(last[&ServiceId(3)], ServiceState::Off);
    }

    #[test]
    fn inactive_services_lose_their_marker() {
        let d = tempfile::tempdir().unwrap();
        let ws = Workspace::new(d.path());
        let mut cfg = Config::defaults(Path::new("/x"));
        apply_active(&ws, &cfg, &BTreeSet::new()).unwrap();
        cfg.services.active = vec![ServiceId(1)];
        apply_active(&ws, &cfg, &BTreeSet::new()).unwrap();
        assert!(ws.marker(ServiceId(1)).exists());
        assert!(!ws.marker(ServiceId(2)).exists());
        assert!(ws.service_dir(ServiceId(2)).exists());
    }

    #[test]
    fn a_folder_in_both_places_is_a_conflict_not_off() {
        let d = tempfile::tempdir().unwrap();
        let ws = Workspace::new(d.path());
        let cfg = Config::defaults(Path::new("/x"));
        apply_active(&ws, &cfg, &BTreeSet::new()).unwrap();
        std::fs::create_dir_all(ws.archived_dir(ServiceId(2))).unwrap();
        let v = check(&ws, ServiceId(2), true);
        assert_eq!(v.state, ServiceState::Up, "{v:?}");
        assert!(!v.reason.contains("cost schedule"), "{v:?}");
        assert!(v.reason.contains("conflict"), "{v:?}");
        std::fs::remove_file(ws.marker(ServiceId(2))).unwrap();
        assert_eq!(check(&ws, ServiceId(2), true).state, ServiceState::Down);
    }
}
