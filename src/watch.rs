//! Masked inotify watches for the hot folders (the intake and the service inboxes).
//!
//! notify's watcher subscribes to every event kind, so each of our own deliveries would queue
//! two events (moved-from in the intake, moved-to in an inbox) and wake a thread for each: a
//! measurable share of the routing cost at tens of thousands of requests per second. Here the
//! kernel filters by mask instead: the intake asks only for close-write and moved-in, the
//! inboxes only for what a marker or a folder change produces. Events stay hints; rescans and
//! interval checks remain the truth, and a queue overflow says so.

use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use inotify::{EventMask, Inotify, WatchDescriptor, WatchMask, Watches};

/// One event as the callback sees it.
#[derive(Debug, Clone)]
pub enum Hint {
    /// Something happened to `name` in a watched folder (None: to the folder itself).
    Name {
        wd: WatchDescriptor,
        name: Option<OsString>,
        mask: EventMask,
    },
    /// The kernel queue overflowed: events were lost, rescan.
    Overflow,
}

/// A running watch thread; events stop reaching the callback once this is dropped.
pub struct MaskedWatcher {
    watches: Watches,
    live: Arc<AtomicBool>,
}

impl MaskedWatcher {
    /// Starts a thread that reads inotify events and hands each to `callback`.
    ///
    /// # Errors
    /// When inotify cannot be initialised (limits) or the thread cannot start.
    pub fn spawn(
        name: &str,
        mut callback: impl FnMut(Hint) + Send + 'static,
    ) -> io::Result<MaskedWatcher> {
        let mut ino = Inotify::init()?;
        let watches = ino.watches();
        let live = Arc::new(AtomicBool::new(true));
        let alive = live.clone();
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let events = match ino.read_events_blocking(&mut buf) {
                        Ok(e) => e,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            log::warn!("inotify read failed ({e}); relying on rescans");
                            return;
                        }
                    };
                    if !alive.load(Ordering::Relaxed) {
                        return;
                    }
                    for e in events {
                        if e.mask.contains(EventMask::Q_OVERFLOW) {
                            callback(Hint::Overflow);
                        } else {
                            callback(Hint::Name {
                                wd: e.wd,
                                name: e.name.map(|n| n.to_os_string()),
                                mask: e.mask,
                            });
                        }
                    }
                }
            })?;
        Ok(MaskedWatcher { watches, live })
    }

    /// Watches `dir` for the events in `mask` (symlinks are not followed).
    ///
    /// # Errors
    /// When the folder cannot be watched (missing, no permission, inotify limits).
    pub fn add(&mut self, dir: &Path, mask: WatchMask) -> io::Result<WatchDescriptor> {
        self.watches
            .add(dir, mask | WatchMask::DONT_FOLLOW | WatchMask::ONLYDIR)
    }

    /// Stops watching one folder.
    pub fn remove(&mut self, wd: WatchDescriptor) {
        let _ = self.watches.remove(wd);
    }
}

impl Drop for MaskedWatcher {
    fn drop(&mut self) {
        self.live.store(false, Ordering::Relaxed);
    }
}

/// What the intake needs: a writer closed a file, or renamed one in.
pub const INTAKE_MASK: WatchMask = WatchMask::CLOSE_WRITE.union(WatchMask::MOVED_TO);

/// What a marker or folder change produces in an inbox (deliveries, moved-in, are excluded).
pub const INBOX_MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::ATTRIB)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF);

/// Folders appearing and disappearing (`balanceador/`, `archived/`).
pub const PARENT_MASK: WatchMask = WatchMask::CREATE
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::ATTRIB);
