//! HealthActor: checks every service every `health.interval` and at once on (debounced)
//! marker and folder events — never once per delivery. Reports every verdict to the supervisor,
//! which routes by it, and writes transitions to `balanceador/logs/health.log`.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use chrono::Local;

use super::ChildPanicked;
use super::{catch, Reconfigure};
use crate::config::Config;
use crate::health::{self, HealthVerdict};
use crate::service_id::ServiceId;
use crate::watch::{Hint, MaskedWatcher, INBOX_MASK, PARENT_MASK};
use crate::workspace::Workspace;

/// The verdicts of one check: service index, verdict, and the inbox count when the strategy
/// needs it (`least_backlog`; counting reads the whole inbox, so it is skipped otherwise and
/// the supervisor keeps its own running count).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct HealthReport(pub Vec<(ServiceId, HealthVerdict, Option<u64>)>);

/// Check now (a delivery failed, a reload, a schedule change).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct CheckNow;

/// A marker or folder event (from the watcher thread).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
struct Poke;

const DEBOUNCE: Duration = Duration::from_millis(50);

pub struct HealthActor {
    ws: Workspace,
    cfg: Arc<Config>,
    report: Recipient<HealthReport>,
    parent: Recipient<ChildPanicked>,
    last: HashMap<ServiceId, HealthVerdict>,
    /// What health.log said last, before this run's first check.
    logged: HashMap<ServiceId, crate::health::ServiceState>,
    watcher: Option<MaskedWatcher>,
    /// Watched folders by inode (a recreated folder needs a new watch).
    watched: HashMap<PathBuf, (u64, inotify::WatchDescriptor)>,
    interval: Option<SpawnHandle>,
    pending: bool,
}

impl HealthActor {
    pub fn new(
        ws: Workspace,
        cfg: Arc<Config>,
        report: Recipient<HealthReport>,
        parent: Recipient<ChildPanicked>,
    ) -> Self {
        HealthActor {
            ws,
            cfg,
            report,
            parent,
            last: HashMap::new(),
            logged: HashMap::new(),
            watcher: None,
            watched: HashMap::new(),
            interval: None,
            pending: false,
        }
    }

    fn check_all(&mut self) {
        let now = Local::now();
        let mut out = Vec::new();
        for n in ServiceId::all(self.cfg.services.count) {
            let v = health::check(&self.ws, n, true);
            if self.last.get(&n) != Some(&v) {
                let previous = self
                    .last
                    .get(&n)
                    .map(|o| o.state)
                    .or_else(|| self.logged.get(&n).copied());
                let changed_state = previous != Some(v.state);
                if changed_state {
                    log::info!("{n} {} ({})", v.state.word(), v.reason);
                    if let Err(e) = health::log_transition(&self.ws, n, &v, now) {
                        log::error!("cannot write health.log: {e}");
                    }
                }
                self.last.insert(n, v.clone());
            }
            let backlog = (self.cfg.balancer.strategy == crate::config::Strategy::LeastBacklog)
                .then(|| health::backlog(&self.ws, n));
            out.push((n, v, backlog));
        }
        self.last.retain(|n, _| n.get() <= self.cfg.services.count);
        self.rewatch();
        self.report.do_send(HealthReport(out));
    }

    /// Watches `balanceador/`, `archived/` and each existing service folder (again, if it was
    /// recreated).
    fn rewatch(&mut self) {
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        let mut dirs = vec![
            (self.ws.balanceador(), PARENT_MASK),
            (self.ws.archived(), PARENT_MASK),
        ];
        dirs.extend(
            ServiceId::all(self.cfg.services.count).map(|n| (self.ws.service_dir(n), INBOX_MASK)),
        );
        let wanted: Vec<PathBuf> = dirs.iter().map(|(d, _)| d.clone()).collect();
        for (d, mask) in dirs {
            let ino = std::fs::metadata(&d).map(|m| m.ino()).ok();
            match (ino, self.watched.get(&d).map(|(i, _)| *i)) {
                (Some(i), Some(old)) if i == old => {}
                (Some(i), _) => {
                    if let Some((_, wd)) = self.watched.remove(&d) {
                        w.remove(wd);
                    }
                    if let Ok(wd) = w.add(&d, mask) {
                        self.watched.insert(d, (i, wd));
                    }
                }
                (None, Some(_)) => {
                    if let Some((_, wd)) = self.watched.remove(&d) {
                        w.remove(wd);
                    }
                }
                (None, None) => {}
            }
        }
        // Services removed by a reload.
        let gone: Vec<PathBuf> = self
            .watched
            .keys()
            .filter(|d| !wanted.contains(d))
            .cloned()
            .collect();
        for d in gone {
            if let Some((_, wd)) = self.watched.remove(&d) {
                w.remove(wd);
            }
        }
    }

    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if let Some(h) = self.interval.take() {
            ctx.cancel_future(h);
        }
        self.interval = Some(ctx.run_interval(self.cfg.health.interval, |act, ctx| {
            act.guarded(ctx, |a| a.check_all());
        }));
    }

    fn guarded(&mut self, ctx: &mut Context<Self>, f: impl FnOnce(&mut Self)) {
        if let Err(p) = catch(|| f(self)) {
            log::error!("health actor panicked: {p}");
            self.parent.do_send(ChildPanicked {
                who: "health".into(),
                message: p,
            });
            ctx.stop();
        }
    }
}

impl Actor for HealthActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.logged = health::last_logged(&self.ws);
        let me = ctx.address();
        // The masks already leave out deliveries (moved-in); anything else is worth a look.
        match MaskedWatcher::spawn("tfops-health", move |h| {
            if matches!(h, Hint::Overflow | Hint::Name { .. }) {
                me.do_send(Poke);
            }
        }) {
            Ok(w) => self.watcher = Some(w),
            Err(e) => log::warn!("health: no file events ({e}); checking every interval only"),
        }
        self.schedule(ctx);
        self.guarded(ctx, |a| a.check_all());
    }
}

impl actix::Supervised for HealthActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        self.watched.clear();
        self.interval = None;
    }
}

impl Handler<Poke> for HealthActor {
    type Result = ();
    fn handle(&mut self, _: Poke, ctx: &mut Context<Self>) {
        if !self.pending {
            self.pending = true;
            ctx.run_later(DEBOUNCE, |act, ctx| {
                act.pending = false;
                act.guarded(ctx, |a| a.check_all());
            });
        }
    }
}

impl Handler<CheckNow> for HealthActor {
    type Result = ();
    fn handle(&mut self, _: CheckNow, ctx: &mut Context<Self>) {
        self.handle(Poke, ctx);
    }
}

impl Handler<Reconfigure> for HealthActor {
    type Result = ();
    fn handle(&mut self, msg: Reconfigure, ctx: &mut Context<Self>) {
        let interval_changed = msg.0.health.interval != self.cfg.health.interval;
        self.cfg = msg.0;
        if interval_changed {
            self.schedule(ctx);
        }
        self.guarded(ctx, |a| a.check_all());
    }
}
