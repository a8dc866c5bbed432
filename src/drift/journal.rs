//! The scenario journal: how `scenario run --in-place` puts every touched file back byte for
//! byte, whatever happens.
//!
//! Before a file is touched, its original is copied into `.tfops/scenario/` (0600, fsynced)
//! and `.tfops/scenario.journal` is written (atomically, durably) naming each file, its mode,
//! its backup, and the pid (with its start time) of the run. A run that ends — pass, fail,
//! error, Ctrl-C — restores them and removes the journal. A run killed with -9 leaves the
//! journal behind, and the next tfops command ([`heal`]) restores them once that process is
//! gone. `--keep` turns the journal into a `kept` one, left for `scenario revert`.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::workspace::Workspace;

/// Why a journal could not be started, applied or undone.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("another scenario is running in place (pid {pid}, {scenario}); wait for it to finish")]
    Busy { pid: u32, scenario: String },
    #[error("the scenario {scenario} was kept in place; run `tfops scenario revert` first")]
    Kept { scenario: String },
    #[error(
        "{} already exists and is not tfops's: `--keep` would put an original there; move it away first",
        path.display()
    )]
    OrigExists { path: PathBuf },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether the journaled run is still applying or was kept (`--keep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Applying,
    Kept,
}

/// One journaled file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The live file.
    pub path: PathBuf,
    /// Copy of the original; `None` when the file did not exist (undo = remove it).
    pub backup: Option<PathBuf>,
    /// Permission bits of the original.
    pub mode: u32,
    /// True for the state file (its `.orig` is 0600).
    pub state: bool,
    /// A `<file>.orig` existed before the run: the user's, never overwritten or removed.
    #[serde(default)]
    pub orig_existed: bool,
}

/// The journal of one in-place scenario run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub pid: u32,
    /// Start time of that process (from /proc), so that a reused pid is not taken for it.
    pub proc_start: Option<u64>,
    pub started_at: String,
    pub scenario: String,
    pub phase: Phase,
    pub entries: Vec<Entry>,
}

/// `.tfops/scenario.journal`.
pub fn journal_path(ws: &Workspace) -> PathBuf {
    ws.dot_tfops().join("scenario.journal")
}

fn backup_dir(ws: &Workspace) -> PathBuf {
    ws.dot_tfops().join("scenario")
}

fn proc_start(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &s[s.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

fn alive(pid: u32, start: Option<u64>) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    let exists = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0
        || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    exists && (start.is_none() || proc_start(pid) == start)
}

/// Reads the journal, if any.
///
/// # Errors
/// When it exists but cannot be read or parsed.
pub fn read(ws: &Workspace) -> Result<Option<Journal>, JournalError> {
    let p = journal_path(ws);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| io_err(&p)(io::Error::new(io::ErrorKind::InvalidData, e))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(&p)(e)),
    }
}

/// Fails when a journal is in force (a run in place, or a kept scenario).
///
/// # Errors
/// [`JournalError::Busy`], [`JournalError::Kept`], or the journal cannot be read.
pub fn ensure_free(ws: &Workspace) -> Result<(), JournalError> {
    match read(ws)? {
        None => Ok(()),
        Some(j) => Err(match j.phase {
            Phase::Kept => JournalError::Kept {
                scenario: j.scenario,
            },
            Phase::Applying => JournalError::Busy {
                pid: j.pid,
                scenario: j.scenario,
            },
        }),
    }
}

impl Journal {
    /// Journals `files` (path, is-state) before anything touches them.
    ///
    /// # Errors
    /// [`JournalError::Busy`] or [`JournalError::Kept`] when another journal is in force; I/O
    /// errors copying originals or writing the journal (nothing was touched then).
    pub fn begin(
        ws: &Workspace,
        scenario: &str,
        files: &[(PathBuf, bool)],
    ) -> Result<Journal, JournalError> {
        if let Some(j) = read(ws)? {
            return Err(match j.phase {
                Phase::Kept => JournalError::Kept {
                    scenario: j.scenario,
                },
                Phase::Applying => JournalError::Busy {
                    pid: j.pid,
                    scenario: j.scenario,
                },
            });
        }
        let dir = backup_dir(ws);
        let _ = std::fs::remove_dir_all(&dir);
        fsutil::create_dir_mode(&dir, 0o700).map_err(io_err(&dir))?;
        let mut entries = Vec::new();
        for (i, (path, state)) in files.iter().enumerate() {
            let (backup, mode) = match std::fs::read(path) {
                Ok(bytes) => {
                    let mode = std::fs::metadata(path)
                        .map(|m| m.permissions().mode() & 0o7777)
                        .map_err(io_err(path))?;
                    let b = dir.join(format!("{i}.orig"));
                    fsutil::write_atomic(&b, &bytes, 0o600, true).map_err(io_err(&b))?;
                    (Some(b), mode)
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    (None, if *state { 0o600 } else { 0o644 })
                }
                Err(e) => return Err(io_err(path)(e)),
            };
            entries.push(Entry {
                path: path.clone(),
                backup,
                mode,
                state: *state,
                orig_existed: std::fs::symlink_metadata(orig_path(path)).is_ok(),
            });
        }
        let pid = std::process::id();
        let j = Journal {
            pid,
            proc_start: proc_start(pid),
            started_at: fsutil::json_ts(chrono::Local::now()),
            scenario: scenario.to_string(),
            phase: Phase::Applying,
            entries,
        };
        j.save(ws)?;
        Ok(j)
    }

    fn save(&self, ws: &Workspace) -> Result<(), JournalError> {
        let p = journal_path(ws);
        let text = serde_json::to_vec_pretty(self).unwrap_or_default();
        fsutil::write_atomic(&p, &text, 0o600, true).map_err(io_err(&p))
    }

    /// Puts every original back byte for byte (and removes files that did not exist), then
    /// removes the backups, the `.orig` copies left by `--keep`, and the journal.
    ///
    /// # Errors
    /// The first file that cannot be put back (the journal stays, so a later command retries).
    pub fn restore(&self, ws: &Workspace) -> Result<(), JournalError> {
        for e in &self.entries {
            match &e.backup {
                Some(b) => {
                    let bytes = std::fs::read(b).map_err(io_err(b))?;
                    let same = std::fs::read(&e.path).is_ok_and(|cur| cur == bytes);
                    if !same {
                        fsutil::write_atomic(&e.path, &bytes, e.mode, true)
                            .map_err(io_err(&e.path))?;
                    }
                    std::fs::set_permissions(&e.path, std::fs::Permissions::from_mode(e.mode))
                        .map_err(io_err(&e.path))?;
                }
                None => match std::fs::remove_file(&e.path) {
                    Err(err) if err.kind() != io::ErrorKind::NotFound => {
                        return Err(io_err(&e.path)(err))
                    }
                    _ => {}
                },
            }
            // `.orig` copies: left by `--keep`, or half-written by a `--keep` run killed
            // before it marked the journal kept (then they equal the backup).
            let orig = orig_path(&e.path);
            // A `.orig` that was there before the run is the user's: never removed.
            let ours = !e.orig_existed
                && (self.phase == Phase::Kept
                    || match (&e.backup, std::fs::read(&orig)) {
                        (Some(b), Ok(o)) => std::fs::read(b).is_ok_and(|b| b == o),
                        _ => false,
                    });
            if ours {
                match std::fs::remove_file(&orig) {
                    Err(err) if err.kind() != io::ErrorKind::NotFound => {
                        return Err(io_err(&orig)(err))
                    }
                    _ => {}
                }
            }
        }
        let p = journal_path(ws);
        std::fs::remove_file(&p).map_err(io_err(&p))?;
        let _ = std::fs::remove_dir_all(backup_dir(ws));
        Ok(())
    }

    /// `--keep`: leaves the result, writes each original beside its file as `<file>.orig`
    /// (0600 for the state), and marks the journal kept for `scenario revert`.
    ///
    /// # Errors
    /// When an `.orig` or the journal cannot be written.
    pub fn keep(&mut self, ws: &Workspace) -> Result<Vec<PathBuf>, JournalError> {
        let mut out = Vec::new();
        for e in &self.entries {
            if let Some(b) = &e.backup {
                let bytes = std::fs::read(b).map_err(io_err(b))?;
                let orig = orig_path(&e.path);
                let mode = if e.state { 0o600 } else { e.mode };
                // Never over a file already there (the user's own `.orig`).
                fsutil::write_new_atomic(&orig, &bytes, mode).map_err(|err| {
                    if err.kind() == io::ErrorKind::AlreadyExists {
                        JournalError::OrigExists { path: orig.clone() }
                    } else {
                        io_err(&orig)(err)
                    }
                })?;
                out.push(orig);
            }
        }
        self.phase = Phase::Kept;
        self.save(ws)?;
        Ok(out)
    }
}

/// Refuses `--keep` up front when a `<file>.orig` it would write already exists.
///
/// # Errors
/// [`JournalError::OrigExists`] naming the first one.
pub fn ensure_no_orig(files: &[(PathBuf, bool)]) -> Result<(), JournalError> {
    for (p, _) in files {
        let orig = orig_path(p);
        if std::fs::symlink_metadata(&orig).is_ok() {
            return Err(JournalError::OrigExists { path: orig });
        }
    }
    Ok(())
}

/// `<file>.orig`.
pub fn orig_path(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(".orig");
    PathBuf::from(s)
}

/// Heals a run killed mid-way: when the journal is `applying` and its process is gone, puts
/// the originals back. A kept journal, or one whose process still runs, is left alone.
///
/// # Errors
/// When the journal cannot be read or an original cannot be put back.
pub fn heal(ws: &Workspace) -> Result<bool, JournalError> {
    let Some(j) = read(ws)? else { return Ok(false) };
    if j.phase != Phase::Applying || (j.pid != std::process::id() && alive(j.pid, j.proc_start)) {
        return Ok(false);
    }
    j.restore(ws)?;
    log::warn!(
        "a scenario run in place ({}, pid {}) was interrupted; its {} file(s) were put back",
        j.scenario,
        j.pid,
        j.entries.len()
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_is_byte_for_byte_and_removes_new_files() {
        let d = tempfile::tempdir().unwrap();
        let ws = Workspace::new(d.path());
        let a = d.path().join("a.tf");
        let s = d.path().join("s.tfstate");
        let n = d.path().join("new.tf");
        std::fs::write(&a, b"A\r\n\xff").unwrap();
        std::fs::write(&s, b"S").unwrap();
        std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o640)).unwrap();
        let mut j = Journal::begin(
            &ws,
            "x",
            &[(a.clone(), false), (s.clone(), true), (n.clone(), false)],
        )
        .unwrap();
        assert!(matches!(
            Journal::begin(&ws, "y", &[]),
            Err(JournalError::Busy { .. })
        ));
        std::fs::write(&a, b"changed").unwrap();
        std::fs::remove_file(&s).unwrap();
        std::fs::write(&n, b"new").unwrap();
        // Our own process is alive: heal from here still restores (same pid = this run).
        j.entries[0].mode = std::fs::metadata(&a).unwrap().permissions().mode() & 0o7777;
        j.restore(&ws).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"A\r\n\xff");
        assert_eq!(std::fs::read(&s).unwrap(), b"S");
        assert_eq!(
            std::fs::metadata(&s).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert!(!n.exists());
        assert!(read(&ws).unwrap().is_none());
    }

    #[test]
    fn keep_then_revert() {
        let d = tempfile::tempdir().unwrap();
        let ws = Workspace::new(d.path());
        let s = d.path().join("s.tfstate");
        std::fs::write(&s, b"S").unwrap();
        let mut j = Journal::begin(&ws, "x", &[(s.clone(), true)]).unwrap();
        std::fs::write(&s, b"T").unwrap();
        let origs = j.keep(&ws).unwrap();
        assert_eq!(
            std::fs::metadata(&origs[0]).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!heal(&ws).unwrap(), "a kept journal is not healed");
        assert!(matches!(
            Journal::begin(&ws, "y", &[]),
            Err(JournalError::Kept { .. })
        ));
        read(&ws).unwrap().unwrap().restore(&ws).unwrap();
        assert_eq!(std::fs::read(&s).unwrap(), b"S");
        assert!(!origs[0].exists());
    }
}
