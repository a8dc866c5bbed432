//! The intake: listing `incoming_requests/` and deciding when a file found by a scan has
//! settled (unchanged — same inode, size and mtime — for `balancer.settle`), so that a file a
//! writer still has open is never taken. Files reported by a close-write or moved-in event are
//! taken at once and do not pass through here.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::request::is_in_progress;

/// One name in the intake, as a scan saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntakeEntry {
    pub name: OsString,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
}

/// Lists the intake, skipping names that are being written (`.x`, `x.tmp`). Entries that
/// vanish during the scan are skipped.
///
/// # Errors
/// When the folder cannot be read.
pub fn scan(dir: &Path) -> std::io::Result<Vec<IntakeEntry>> {
    scan_except(dir, |_| false)
}

/// Like [`scan`], but names for which `skip` is true are not even stat'ed (those already
/// queued: a rescan of a big backlog then costs one `getdents`, not one `lstat` per file).
///
/// # Errors
/// When the folder cannot be read.
pub fn scan_except(dir: &Path, skip: impl Fn(&OsStr) -> bool) -> std::io::Result<Vec<IntakeEntry>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let Ok(e) = e else { continue };
        let name = e.file_name();
        if is_in_progress(&name) || skip(&name) {
            continue;
        }
        // DirEntry::metadata does not follow symlinks.
        let Ok(m) = e.metadata() else { continue };
        out.push(IntakeEntry {
            name,
            ino: m.ino(),
            size: m.len(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        });
    }
    Ok(out)
}

/// Re-stats one name; `None` if it is gone.
pub fn stat(dir: &Path, name: &OsString) -> Option<IntakeEntry> {
    let m = std::fs::symlink_metadata(dir.join(name)).ok()?;
    Some(IntakeEntry {
        name: name.clone(),
        ino: m.ino(),
        size: m.len(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
    })
}

#[derive(Debug, Clone)]
struct Seen {
    ino: u64,
    size: u64,
    mtime_ns: i128,
    since: Instant,
}

/// Tracks names found by scans until they have settled.
#[derive(Debug, Default)]
pub struct Settler {
    seen: HashMap<OsString, Seen>,
}

impl Settler {
    /// Records what a scan (or a re-stat) saw at `now`; returns the names unchanged for at
    /// least `settle`, and forgets them.
    pub fn observe(
        &mut self,
        entries: impl IntoIterator<Item = IntakeEntry>,
        now: Instant,
        settle: Duration,
    ) -> Vec<OsString> {
        let mut ready = Vec::new();
        for e in entries {
            match self.seen.get_mut(&e.name) {
                Some(s) if s.ino == e.ino && s.size == e.size && s.mtime_ns == e.mtime_ns => {
                    if now.duration_since(s.since) >= settle {
                        self.seen.remove(&e.name);
                        ready.push(e.name);
                    }
                }
                _ => {
                    if settle.is_zero() {
                        self.seen.remove(&e.name);
                        ready.push(e.name);
                    } else {
                        self.seen.insert(
                            e.name,
                            Seen {
                                ino: e.ino,
                                size: e.size,
                                mtime_ns: e.mtime_ns,
                                since: now,
                            },
                        );
                    }
                }
            }
        }
        ready
    }

    /// Names still waiting to settle.
    pub fn waiting(&self) -> impl Iterator<Item = &OsString> {
        self.seen.keys()
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Stops tracking a name (taken through an event, or gone).
    pub fn forget(&mut self, name: &OsString) {
        self.seen.remove(name);
    }

    /// Keeps only names present in `present` (after a full scan).
    pub fn retain_present(&mut self, present: &std::collections::HashSet<OsString>) {
        self.seen.retain(|k, _| present.contains(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(name: &str, size: u64) -> IntakeEntry {
        IntakeEntry {
            name: name.into(),
            ino: 1,
            size,
            mtime_ns: 5,
        }
    }

    #[test]
    fn a_file_is_ready_only_after_staying_unchanged_for_settle() {
        let mut s = Settler::default();
        let t0 = Instant::now();
        let settle = Duration::from_millis(200);
        assert!(s.observe([e("a", 1)], t0, settle).is_empty());
        // grew: the clock restarts
        assert!(s
            .observe([e("a", 2)], t0 + Duration::from_millis(150), settle)
            .is_empty());
        assert!(s
            .observe([e("a", 2)], t0 + Duration::from_millis(300), settle)
            .is_empty());
        assert_eq!(
            s.observe([e("a", 2)], t0 + Duration::from_millis(350), settle),
            vec![OsString::from("a")]
        );
        assert!(s.is_empty());
    }

    #[test]
    fn zero_settle_takes_at_once() {
        let mut s = Settler::default();
        assert_eq!(
            s.observe([e("a", 1)], Instant::now(), Duration::ZERO).len(),
            1
        );
    }

    #[test]
    fn scan_skips_in_progress_names() {
        let d = tempfile::tempdir().unwrap();
        for n in ["a.txt", ".b", "c.tmp"] {
            std::fs::write(d.path().join(n), "x").unwrap();
        }
        let names: Vec<_> = scan(d.path())
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, vec![OsString::from("a.txt")]);
    }
}
