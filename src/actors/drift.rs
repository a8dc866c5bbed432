//! DriftActor: drift detection every `drift.interval` and when a `.tf` file or the state
//! changes (notify, debounced), each successful run leaving `logs/drift_<ts>.json` and `.log`
//! for `status` (see [`crate::drift::last_drift`]). Besides the module folder and the state's,
//! it watches the folders of the child modules the last good run read (inside the workspace
//! only, at most [`MAX_MODULE_WATCHES`]), updated when that set changes.
//!
//! Thin, as DESIGN.md asks: it owns the watcher, the timers and the messages; the detection
//! itself ([`crate::drift::detect_and_record`]) runs on a std thread, never on the actor's
//! thread, and one run at a time (a change during a run asks for one more run after it). A
//! failed detection (broken HCL, an invalid state) raises the `drift` alarm; the next good run
//! clears it. While Terraform holds the state (its lock), detection waits: a state Terraform
//! is rewriting is not drift. Drift is configuration against state, offline — not against the
//! real cloud.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use actix::prelude::*;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};

use super::{catch, Reconfigure, Shutdown, StatusEvent};
use crate::config::Config;
use crate::workspace::Workspace;

/// How long file events are gathered before one detection runs.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// How often detection looks again while Terraform holds the state.
pub const LOCK_RETRY: Duration = Duration::from_secs(1);

/// The alarm kind raised when detection fails.
pub const ALARM: &str = "drift";

/// The most child module folders watched; the others are seen at the interval.
pub const MAX_MODULE_WATCHES: usize = 128;

/// A `.tf` file or the state changed (from the watcher thread).
#[derive(Message)]
#[rtype(result = "()")]
struct FsChanged;

/// Run a detection now (the supervisor or a test may ask).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct DetectNow;

/// A detection thread finished.
#[derive(Message)]
#[rtype(result = "()")]
struct Detected(Result<DriftSummary, String>);

/// What the actor remembers of the last run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftSummary {
    pub has_drift: bool,
    pub summary: crate::drift::report::Summary,
    pub report: PathBuf,
    /// The child module folders the run read.
    pub module_dirs: Vec<PathBuf>,
    /// The local state file the run compared with (`None` for state in S3): where the
    /// backend says, which an edit of its block may move.
    pub local_state: Option<PathBuf>,
}

/// Ask for the last result (`None` before the first run ends).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Option<Result<DriftSummary, String>>")]
pub struct LastResult;

pub struct DriftActor {
    ws: Workspace,
    cfg: Arc<Config>,
    status: Recipient<StatusEvent>,
    watcher: Option<notify::RecommendedWatcher>,
    /// The child module folders watched (resolved, inside the workspace), shared with the
    /// watcher's event filter.
    modules: Arc<RwLock<BTreeSet<PathBuf>>>,
    tick: Option<SpawnHandle>,
    debounce: Option<SpawnHandle>,
    running: Option<std::thread::JoinHandle<()>>,
    again: bool,
    stopping: bool,
    last: Option<Result<DriftSummary, String>>,
    /// When the running (or last) detection started: a module folder first watched after
    /// it ends may have changed between the run reading it and the watch being added.
    run_started: Option<std::time::SystemTime>,
    /// The local state file watched: `state.path` until a run finds where the workspace's
    /// backend puts it (the detection thread resolves the backend; this thread reads no
    /// `.tf` file for it).
    state_file: PathBuf,
}

impl DriftActor {
    pub fn new(ws: Workspace, cfg: Arc<Config>, status: Recipient<StatusEvent>) -> Self {
        let state_file = cfg.state.path.clone();
        DriftActor {
            ws,
            cfg,
            status,
            watcher: None,
            modules: Arc::default(),
            tick: None,
            debounce: None,
            running: None,
            again: false,
            stopping: false,
            last: None,
            run_started: None,
            state_file,
        }
    }

    fn arm_interval(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.tick.take() {
            ctx.cancel_future(h);
        }
        self.tick = Some(ctx.run_interval(self.cfg.drift.interval, |act, ctx| act.detect(ctx)));
    }

    /// Watches `drift.dir` and the state's folder (not recursively); events are filtered
    /// down to writes, creations, removals and renames of `*.tf` and the state file.
    fn watch(&mut self, ctx: &mut Context<Self>) {
        self.watcher = None;
        let addr = ctx.address();
        let dir = self.cfg.drift.dir.clone();
        let state = self.state_file.clone();
        let filter_dir = dir.clone();
        let filter_state = state.clone();
        let filter_modules = Arc::clone(&self.modules);
        let handler = move |res: notify::Result<notify::Event>| match res {
            Ok(ev)
                if relevant(&ev, &filter_dir, &filter_state)
                    || filter_modules
                        .read()
                        .is_ok_and(|m| relevant_in_module(&ev, &m)) =>
            {
                addr.do_send(FsChanged)
            }
            Ok(_) => {}
            Err(e) => {
                log::debug!("drift watcher: {e}");
                addr.do_send(FsChanged);
            }
        };
        let mut w = match notify::recommended_watcher(handler) {
            Ok(w) => w,
            Err(e) => {
                log::warn!("drift: cannot watch files ({e}); detection runs on the interval only");
                return;
            }
        };
        let mut folders = vec![dir];
        if let Some(p) = state.parent() {
            if !folders.iter().any(|f| f == p) {
                folders.push(p.to_path_buf());
            }
        }
        for f in folders {
            if let Err(e) = w.watch(&f, RecursiveMode::NonRecursive) {
                log::warn!(
                    "drift: cannot watch {} ({e}); detection runs on the interval",
                    self.ws.rel(&f)
                );
            }
        }
        // A new watcher: the module folders are watched again from scratch.
        let modules: Vec<PathBuf> = match self.modules.write() {
            Ok(mut m) => std::mem::take(&mut *m).into_iter().collect(),
            Err(_) => Vec::new(),
        };
        self.watcher = Some(w);
        self.watch_modules(&modules);
    }

    /// Watches the folders of the child modules a run read (see [`module_watch_set`]),
    /// dropping those no longer read. Each folder is watched once. Returns the folders
    /// watched from now on that were not watched before.
    fn watch_modules(&mut self, read: &[PathBuf]) -> Vec<PathBuf> {
        let Some(w) = self.watcher.as_mut() else {
            return Vec::new();
        };
        // Folders watched anyway (the module folder, the state's) are in the filter's set but
        // never watched or unwatched here.
        let own: Vec<PathBuf> = std::iter::once(self.cfg.drift.dir.as_path())
            .chain(self.state_file.parent())
            .filter_map(|d| std::fs::canonicalize(d).ok())
            .collect();
        let (wanted, left_out) = module_watch_set(&self.ws.root, read);
        // The lock is never held while the watcher is called: its event thread takes it to
        // filter events, and adding a watch waits for that thread. The filter knows the new
        // folders first, so no event of theirs is dropped.
        let watched: BTreeSet<PathBuf> = match self.modules.write() {
            Ok(mut m) => {
                if *m == wanted {
                    return Vec::new();
                }
                let before = m.clone();
                m.extend(wanted.iter().cloned());
                before
            }
            Err(_) => return Vec::new(),
        };
        for gone in watched.difference(&wanted) {
            if !own.contains(gone) {
                let _ = w.unwatch(gone);
            }
        }
        let mut now = BTreeSet::new();
        let mut added = Vec::new();
        for d in &wanted {
            if watched.contains(d) || own.contains(d) {
                now.insert(d.clone());
                continue;
            }
            match w.watch(d, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    now.insert(d.clone());
                    added.push(d.clone());
                }
                Err(e) => log::warn!(
                    "drift: cannot watch the module folder {} ({e}); its changes are seen at the interval",
                    self.ws.rel(d)
                ),
            }
        }
        if left_out > 0 {
            log::warn!(
                "drift: {left_out} module folder(s) not watched (outside the workspace, or past {MAX_MODULE_WATCHES}); their changes are seen at the interval"
            );
        }
        log::debug!("drift: watching {} module folder(s)", now.len());
        if let Ok(mut m) = self.modules.write() {
            *m = now;
        }
        added
    }

    fn detect(&mut self, ctx: &mut Context<Self>) {
        if self.stopping {
            return;
        }
        if self.running.is_some() {
            self.again = true;
            return;
        }
        // While Terraform holds the state it may be rewriting it in place: a half-written
        // state is not drift. Look again shortly (its lock going away makes no event here).
        if let Ok(Some(lock)) = crate::state::tflock::terraform_lock(&self.state_file) {
            log::debug!("drift: Terraform holds the state ({lock:?}); detection waits");
            if self.debounce.is_none() {
                self.debounce = Some(ctx.run_later(LOCK_RETRY, |act, ctx| {
                    act.debounce = None;
                    act.detect(ctx);
                }));
            }
            return;
        }
        let ws = self.ws.clone();
        let cfg = Arc::clone(&self.cfg);
        let addr = ctx.address();
        self.run_started = Some(std::time::SystemTime::now());
        let spawned = std::thread::Builder::new()
            .name("drift-detect".into())
            .spawn(move || {
                let res = catch(|| {
                    // A state in Terraform's S3 backend is read from a fresh copy (#12).
                    // A backend that cannot be used fails the check: comparing against a local
                    // file Terraform does not use would report everything to create.
                    let (mut eff, remote, name) = crate::state::remote::resolve(&cfg, &ws.root);
                    let remote = remote.map_err(crate::drift::DriftError::Backend)?;
                    let local_state = remote.is_none().then(|| eff.state.path.clone());
                    if let Some(r) = remote {
                        match crate::state::remote::materialize(&r, &ws.dot_tfops(), &name) {
                            Ok(p) => eff.state.path = p,
                            Err(e) => return Err(crate::drift::DriftError::Remote(e.to_string())),
                        }
                    }
                    crate::drift::detect_and_record(&ws, &eff).map(|r| (r, local_state))
                })
                .map_err(|p| format!("drift detection panicked: {p}"))
                .and_then(|r| {
                    r.map(|((report, path), local_state)| {
                        let ev = crate::events::DriftEvent::from_report(&report);
                        crate::events::emit(crate::events::Event::Drift(ev));
                        DriftSummary {
                            has_drift: report.has_drift(),
                            summary: report.summary,
                            report: path,
                            module_dirs: report.module_dirs,
                            local_state,
                        }
                    })
                    .map_err(|e| e.to_string())
                });
                watch_delay_for_tests();
                addr.do_send(Detected(res));
            });
        match spawned {
            Ok(h) => self.running = Some(h),
            Err(e) => log::warn!("drift: cannot start a detection thread: {e}"),
        }
    }
}

/// True for events that may change the result: a `.tf` file, a variables file drift reads by
/// itself or `.driftignore` in `dir`, or the state file, written, created, removed or renamed
/// (opens and reads — ours included — are not).
fn relevant(ev: &notify::Event, dir: &Path, state: &Path) -> bool {
    if ev.need_rescan() {
        return true;
    }
    if !changes(ev) {
        return false;
    }
    ev.paths.iter().any(|p| {
        p == state
            || (p.parent() == Some(dir)
                && p.file_name() == Some(std::ffi::OsStr::new(crate::drift::DRIFTIGNORE)))
            || (p.parent() == Some(dir)
                && (is_tf(p)
                    || p.file_name()
                        .is_some_and(|n| crate::drift::is_variables_file(&n.to_string_lossy()))))
    })
}

/// A write, creation, removal or rename (not an open or a read).
fn changes(ev: &notify::Event) -> bool {
    match ev.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Other => false,
        _ => true,
    }
}

/// `*.tf` or `*.tf.json`, not hidden: what drift reads in a module folder.
fn is_tf(p: &Path) -> bool {
    p.file_name().is_some_and(|n| {
        let n = n.to_string_lossy();
        !n.starts_with('.') && (n.ends_with(".tf") || n.ends_with(".tf.json"))
    })
}

/// Test hook (feature `fault-injection`, on in `cargo test` only):
/// `TFOPS_TEST_WATCH_DELAY_MS` holds a finished run (its report already written) before the
/// actor hears of it, widening the window in which a module folder is read but not watched.
#[cfg(feature = "fault-injection")]
fn watch_delay_for_tests() {
    if let Some(ms) = std::env::var("TFOPS_TEST_WATCH_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        std::thread::sleep(Duration::from_millis(ms.min(10_000)));
    }
}

#[cfg(not(feature = "fault-injection"))]
fn watch_delay_for_tests() {}

/// How far a file's time may lag the clock: Linux stamps files with a coarse clock (a
/// scheduler tick behind at most), so a write just after a run started may look earlier.
const MTIME_SLACK: Duration = Duration::from_millis(100);

/// True when the folder `dir` (files created, removed or renamed) or a `.tf` file in it was
/// modified at or after `since` (less [`MTIME_SLACK`]). Reads metadata only (no file is
/// opened, so a FIFO cannot block), at most [`MAX_FILES_LOOKED_AT`] entries.
fn changed_since(dir: &Path, since: std::time::SystemTime) -> bool {
    let since = since.checked_sub(MTIME_SLACK).unwrap_or(since);
    let newer = |m: std::fs::Metadata| m.modified().is_ok_and(|t| t >= since);
    if std::fs::symlink_metadata(dir).is_ok_and(newer) {
        return true;
    }
    let Ok(rd) = std::fs::read_dir(dir) else {
        return false;
    };
    rd.flatten()
        .take(MAX_FILES_LOOKED_AT)
        .filter(|e| is_tf(&e.path()))
        .any(|e| std::fs::metadata(e.path()).is_ok_and(newer))
}

/// The most entries of one module folder [`changed_since`] looks at.
const MAX_FILES_LOOKED_AT: usize = 4096;

/// True for a change of a `.tf` file in one of the watched child module folders.
fn relevant_in_module(ev: &notify::Event, modules: &BTreeSet<PathBuf>) -> bool {
    !modules.is_empty()
        && changes(ev)
        && ev
            .paths
            .iter()
            .any(|p| is_tf(p) && p.parent().is_some_and(|d| modules.contains(d)))
}

/// The folders to watch for the child modules a run `read`: each resolved (links followed)
/// and kept only when it is inside the workspace's `root` (a link never leads the watcher
/// out of it), at most [`MAX_MODULE_WATCHES`]. Returns them and how many were left out.
fn module_watch_set(root: &Path, read: &[PathBuf]) -> (BTreeSet<PathBuf>, usize) {
    let Ok(root) = std::fs::canonicalize(root) else {
        return (BTreeSet::new(), read.len());
    };
    let mut out = BTreeSet::new();
    let mut left_out = 0;
    for d in read {
        match std::fs::canonicalize(d) {
            Ok(c) if c.starts_with(&root) => {
                if out.contains(&c) {
                    continue;
                }
                if out.len() < MAX_MODULE_WATCHES {
                    out.insert(c);
                } else {
                    left_out += 1;
                }
            }
            _ => left_out += 1,
        }
    }
    (out, left_out)
}

impl Actor for DriftActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.watch(ctx);
        self.arm_interval(ctx);
        self.detect(ctx);
    }
}

impl Handler<FsChanged> for DriftActor {
    type Result = ();
    fn handle(&mut self, _: FsChanged, ctx: &mut Context<Self>) {
        // A fixed window from the first event: a stream of writes cannot postpone it forever.
        if self.debounce.is_none() && !self.stopping {
            self.debounce = Some(ctx.run_later(DEBOUNCE, |act, ctx| {
                act.debounce = None;
                act.detect(ctx);
            }));
        }
    }
}

impl Handler<DetectNow> for DriftActor {
    type Result = ();
    fn handle(&mut self, _: DetectNow, ctx: &mut Context<Self>) {
        self.detect(ctx);
    }
}

impl Handler<Detected> for DriftActor {
    type Result = ();
    fn handle(&mut self, msg: Detected, ctx: &mut Context<Self>) {
        if let Some(h) = self.running.take() {
            let _ = h.join();
        }
        if let Ok(s) = &msg.0 {
            // The run found the state where the backend puts it (`state.path` at first; an
            // edit of `backend "local"` may move it): watch that file. Every folder is watched
            // anew, after the run read them: detect once more, so that an edit in between is
            // not left to the interval (the next run finds the same file).
            if let Some(p) = s.local_state.as_ref().filter(|p| **p != self.state_file) {
                self.state_file = p.clone();
                self.watch(ctx);
                self.again = true;
            }
            // The set of module folders may have changed (a module added or removed); a
            // failed run keeps the folders watched, so fixing a broken child is seen.
            let dirs = s.module_dirs.clone();
            let added = self.watch_modules(&dirs);
            // A folder watched only now was read by the run before its watch existed: an
            // edit in between made no event. Its times tell (read on tokio's blocking pool,
            // not on this thread); if it changed, look again.
            if let (Some(since), false) = (self.run_started, added.is_empty()) {
                let addr = ctx.address();
                let ws = self.ws.clone();
                tokio::task::spawn_blocking(move || {
                    if let Some(d) = added.iter().find(|d| changed_since(d, since)) {
                        log::debug!(
                            "drift: {} changed while it was not yet watched; detecting again",
                            ws.rel(d)
                        );
                        addr.do_send(DetectNow);
                    }
                });
            }
        }
        match &msg.0 {
            Ok(s) => {
                if s.has_drift {
                    log::info!(
                        "drift: {} to create, {} to destroy, {} to update ({})",
                        s.summary.create,
                        s.summary.destroy,
                        s.summary.update,
                        self.ws.rel(&s.report)
                    );
                } else {
                    log::debug!("drift: none ({} in sync)", s.summary.in_sync);
                }
                if matches!(self.last, Some(Err(_)) | None) {
                    self.status
                        .do_send(StatusEvent::ClearAlarm { kind: ALARM.into() });
                }
            }
            Err(e) => {
                log::warn!("drift detection failed: {e}");
                crate::events::emit(crate::events::Event::Drift(crate::events::DriftEvent {
                    error: Some(e.clone()),
                    ..Default::default()
                }));
                self.status.do_send(StatusEvent::Alarm {
                    kind: ALARM.into(),
                    detail: e.clone(),
                });
            }
        }
        self.last = Some(msg.0);
        if self.again {
            self.again = false;
            self.detect(ctx);
        }
    }
}

impl Handler<LastResult> for DriftActor {
    type Result = Option<Result<DriftSummary, String>>;
    fn handle(&mut self, _: LastResult, _: &mut Context<Self>) -> Self::Result {
        self.last.clone()
    }
}

impl Handler<Reconfigure> for DriftActor {
    type Result = ();
    fn handle(&mut self, msg: Reconfigure, ctx: &mut Context<Self>) {
        let old = std::mem::replace(&mut self.cfg, msg.0);
        if old.drift.dir != self.cfg.drift.dir || old.state.path != self.cfg.state.path {
            // Until the next run says where the backend puts the state.
            self.state_file = self.cfg.state.path.clone();
            self.watch(ctx);
        }
        if old.drift.interval != self.cfg.drift.interval {
            self.arm_interval(ctx);
        }
        if old.drift != self.cfg.drift || old.state.path != self.cfg.state.path {
            self.detect(ctx);
        }
    }
}

impl Handler<Shutdown> for DriftActor {
    type Result = ResponseActFuture<Self, ()>;
    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) -> Self::Result {
        self.stopping = true;
        self.watcher = None;
        for h in [self.tick.take(), self.debounce.take()]
            .into_iter()
            .flatten()
        {
            ctx.cancel_future(h);
        }
        // A detection in flight finishes writing its report before the reply.
        let running = self.running.take();
        Box::pin(
            async move {
                if let Some(h) = running {
                    let _ = tokio::task::spawn_blocking(move || h.join()).await;
                }
            }
            .into_actor(self),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn tf_files_driftignore_and_the_state_are_relevant() {
        let dir = Path::new("/ws/iac");
        let state = Path::new("/ws/iac/terraform.tfstate");
        let ev = |p: &str| {
            notify::Event::new(EventKind::Modify(notify::event::ModifyKind::Any)).add_path(p.into())
        };
        for yes in [
            "/ws/iac/main.tf",
            "/ws/iac/.driftignore",
            "/ws/iac/terraform.tfstate",
            "/ws/iac/terraform.tfvars",
            "/ws/iac/terraform.tfvars.json",
            "/ws/iac/prod.auto.tfvars",
            "/ws/iac/prod.auto.tfvars.json",
        ] {
            assert!(relevant(&ev(yes), dir, state), "{yes}");
        }
        for no in [
            "/ws/iac/.hidden.tf",
            "/ws/iac/notes.txt",
            "/ws/other/.driftignore",
            "/ws/iac/prod.tfvars",
            "/ws/other/terraform.tfvars",
        ] {
            assert!(!relevant(&ev(no), dir, state), "{no}");
        }
    }

    #[test]
    fn module_folders_watched_stay_inside_the_workspace_and_are_bounded() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let root = d.path().join("ws");
        let iac = root.join("iac");
        for m in ["a", "b"] {
            std::fs::create_dir_all(iac.join("modules").join(m)).unwrap();
        }
        // A link inside the workspace to a folder inside it, and one that leads out.
        std::os::unix::fs::symlink(iac.join("modules/b"), iac.join("modules/to_b")).unwrap();
        std::os::unix::fs::symlink(outside.path(), iac.join("modules/out")).unwrap();
        let read = [
            iac.join("modules/a"),
            iac.join("modules/../modules/a"),
            iac.join("modules/to_b"),
            iac.join("modules/out"),
            outside.path().to_path_buf(),
            iac.join("modules/missing"),
        ];
        let (set, left_out) = module_watch_set(&root, &read);
        let canon = |p: &Path| std::fs::canonicalize(p).unwrap();
        let want: BTreeSet<PathBuf> =
            [canon(&iac.join("modules/a")), canon(&iac.join("modules/b"))]
                .into_iter()
                .collect();
        assert_eq!(set, want);
        assert_eq!(
            left_out, 3,
            "the link out, the folder outside, the missing one"
        );
        // Bounded.
        let many: Vec<PathBuf> = (0..MAX_MODULE_WATCHES + 5)
            .map(|i| {
                let p = iac.join(format!("m/{i}"));
                std::fs::create_dir_all(&p).unwrap();
                p
            })
            .collect();
        let (set, left_out) = module_watch_set(&root, &many);
        assert_eq!((set.len(), left_out), (MAX_MODULE_WATCHES, 5));
    }

    #[test]
    fn a_module_folder_changed_since_a_run_started_is_seen_by_its_times() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("main.tf"), "").unwrap();
        std::fs::write(d.path().join("notes.txt"), "").unwrap();
        let later = std::time::SystemTime::now() + Duration::from_secs(3600);
        // Nothing newer than a run that starts in an hour…
        assert!(!changed_since(d.path(), later));
        // …everything newer than one that started an hour ago.
        let earlier = std::time::SystemTime::now() - Duration::from_secs(3600);
        assert!(changed_since(d.path(), earlier));
        // Only `.tf` files and the folder itself count: age them, then touch a text file.
        let old = std::time::SystemTime::now() - Duration::from_secs(7200);
        let set = |p: &Path| {
            std::fs::File::options()
                .write(true)
                .open(p)
                .unwrap()
                .set_modified(old)
                .unwrap()
        };
        set(&d.path().join("main.tf"));
        set(&d.path().join("notes.txt"));
        std::fs::File::open(d.path())
            .unwrap()
            .set_modified(old)
            .unwrap_or_else(|_| panic!("cannot age the folder"));
        assert!(!changed_since(d.path(), earlier));
        std::fs::File::options()
            .write(true)
            .open(d.path().join("notes.txt"))
            .unwrap()
            .set_modified(std::time::SystemTime::now())
            .unwrap();
        assert!(!changed_since(d.path(), earlier));
        std::fs::File::options()
            .write(true)
            .open(d.path().join("main.tf"))
            .unwrap()
            .set_modified(std::time::SystemTime::now())
            .unwrap();
        assert!(changed_since(d.path(), earlier));
    }

    #[test]
    fn tf_files_of_watched_module_folders_are_relevant() {
        let modules: BTreeSet<PathBuf> = [PathBuf::from("/ws/iac/modules/a")].into();
        let ev = |p: &str, kind: EventKind| notify::Event::new(kind).add_path(p.into());
        let modify = EventKind::Modify(notify::event::ModifyKind::Any);
        assert!(relevant_in_module(
            &ev("/ws/iac/modules/a/main.tf", modify),
            &modules
        ));
        assert!(relevant_in_module(
            &ev("/ws/iac/modules/a/x.tf.json", modify),
            &modules
        ));
        let read = EventKind::Access(AccessKind::Open(notify::event::AccessMode::Any));
        assert!(!relevant_in_module(
            &ev("/ws/iac/modules/a/main.tf", read),
            &modules
        ));
        for no in [
            "/ws/iac/modules/a/notes.txt",
            "/ws/iac/modules/a/.hidden.tf",
            "/ws/iac/modules/b/main.tf",
            "/ws/iac/modules/a/sub/main.tf",
        ] {
            assert!(!relevant_in_module(&ev(no, modify), &modules), "{no}");
        }
        assert!(!relevant_in_module(
            &ev("/ws/iac/modules/a/main.tf", modify),
            &BTreeSet::new()
        ));
    }

    use crate::actors::testkit::Collect;

    fn reports(ws: &Workspace) -> usize {
        std::fs::read_dir(ws.logs())
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".json"))
                })
                .count()
            })
            .unwrap_or(0)
    }

    async fn until(what: &str, f: impl Fn() -> bool) {
        for _ in 0..400 {
            if f() {
                return;
            }
            actix_rt::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[actix_rt::test]
    async fn detects_at_start_on_change_and_raises_and_clears_the_alarm() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_path_buf();
        std::fs::create_dir_all(root.join("iac")).unwrap();
        std::fs::write(
            root.join("iac/main.tf"),
            "resource \"null_resource\" \"a\" {}\n",
        )
        .unwrap();
        let ws = Workspace::new(&root);
        let mut cfg = Config::defaults(&root);
        cfg.drift.interval = Duration::from_secs(3600);
        let events = Arc::new(Mutex::new(Vec::new()));
        let status = Collect(Arc::clone(&events)).start().recipient();
        let addr = DriftActor::new(ws.clone(), Arc::new(cfg), status).start();
        until("the first report", || reports(&ws) == 1).await;
        let first = addr.send(LastResult).await.unwrap().unwrap().unwrap();
        assert_eq!(
            first.summary.create, 1,
            "missing state: everything to create"
        );

        // A broken .tf file: detected through the watcher, alarm raised.
        std::fs::write(
            root.join("iac/main.tf"),
            "resource \"null_resource\" \"a\" {\n",
        )
        .unwrap();
        until("the alarm", || {
            events
                .lock()
                .unwrap()
                .iter()
                .any(|e| matches!(e, StatusEvent::Alarm { kind, detail } if kind == ALARM && detail.contains("iac/main.tf:")))
        })
        .await;
        // A failed run writes no report (#13): the alarm carries the error.
        for e in std::fs::read_dir(ws.logs()).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            assert!(!text.contains("\"error\""), "{text}");
        }

        // Fixed: the alarm is cleared.
        std::fs::write(
            root.join("iac/main.tf"),
            "resource \"null_resource\" \"b\" {}\n",
        )
        .unwrap();
        until("the alarm to clear", || {
            let ev = events.lock().unwrap();
            let raised = ev
                .iter()
                .position(|e| matches!(e, StatusEvent::Alarm { .. }))
                .unwrap_or(usize::MAX);
            ev.iter()
                .skip(raised)
                .any(|e| matches!(e, StatusEvent::ClearAlarm { kind } if kind == ALARM))
        })
        .await;
        assert_eq!(reports(&ws), 2, "the failed run wrote no report");
        // Reads (ours included) do not trigger runs: the count settles.
        let n = reports(&ws);
        actix_rt::time::sleep(DEBOUNCE * 3).await;
        assert_eq!(reports(&ws), n);
        addr.send(Shutdown).await.unwrap();
    }

    #[actix_rt::test]
    async fn waits_while_terraform_holds_the_state() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_path_buf();
        std::fs::create_dir_all(root.join("iac")).unwrap();
        std::fs::write(
            root.join("iac/main.tf"),
            "resource \"null_resource\" \"a\" {}\n",
        )
        .unwrap();
        let lock = root.join("iac/.terraform.tfstate.lock.info");
        std::fs::write(&lock, "{\"ID\":\"x\",\"Operation\":\"OperationTypeApply\"}").unwrap();
        let ws = Workspace::new(&root);
        let mut cfg = Config::defaults(&root);
        cfg.drift.interval = Duration::from_secs(3600);
        let status = Collect(Arc::new(Mutex::new(Vec::new())))
            .start()
            .recipient();
        let addr = DriftActor::new(ws.clone(), Arc::new(cfg), status).start();
        actix_rt::time::sleep(LOCK_RETRY * 2).await;
        assert_eq!(
            reports(&ws),
            0,
            "no detection while Terraform holds the state"
        );
        std::fs::remove_file(&lock).unwrap();
        until("the report once the lock is gone", || reports(&ws) == 1).await;
        addr.send(Shutdown).await.unwrap();
    }
}
