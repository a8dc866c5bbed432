//! CostActor: evaluates schedules at start, every minute boundary and after a reload; archives
//! and restores service folders; keeps the ledger.

use std::collections::BTreeSet;
use std::sync::Arc;

use actix::prelude::*;

use super::{Reconfigure, SetOff, Shutdown, StatusEvent};
use crate::clock::Clock;
use crate::config::Config;
use crate::workspace::Workspace;

pub struct CostActor {
    #[allow(dead_code)]
    ws: Workspace,
    #[allow(dead_code)]
    cfg: Arc<Config>,
    #[allow(dead_code)]
    clock: Arc<dyn Clock>,
    #[allow(dead_code)]
    routing: Recipient<SetOff>,
    #[allow(dead_code)]
    status: Recipient<StatusEvent>,
}

impl CostActor {
    pub fn new(
        ws: Workspace,
        cfg: Arc<Config>,
        clock: Arc<dyn Clock>,
        routing: Recipient<SetOff>,
        status: Recipient<StatusEvent>,
    ) -> Self {
        CostActor {
            ws,
            cfg,
            clock,
            routing,
            status,
        }
    }
}

/// Evaluates the schedules at `clock.now()` and applies them synchronously: services entering
/// a window have their folder archived, services leaving one get it back. Used by
/// `run --once` and at supervisor start, before `services.active` is applied. Returns the set
/// of services that are off afterwards.
///
/// # Errors
/// Never fails as a whole: conflicts are logged and reported in the result.
pub fn apply_now(_ws: &Workspace, _cfg: &Config, _clock: &dyn Clock) -> BTreeSet<usize> {
    BTreeSet::new()
}

impl Actor for CostActor {
    type Context = Context<Self>;
}

impl Handler<Reconfigure> for CostActor {
    type Result = ();
    fn handle(&mut self, msg: Reconfigure, _: &mut Context<Self>) {
        self.cfg = msg.0;
    }
}

impl Handler<Shutdown> for CostActor {
    type Result = ();
    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) {}
}
