//! StateKeeperActor: snapshots on state change, SIGUSR1 and `backup`; disaster detection.

use std::sync::Arc;

use actix::prelude::*;

use super::{Reconfigure, Shutdown, SnapshotNow, StatusEvent};
use crate::config::Config;
use crate::workspace::Workspace;

pub struct StateKeeperActor {
    #[allow(dead_code)]
    ws: Workspace,
    #[allow(dead_code)]
    cfg: Arc<Config>,
    #[allow(dead_code)]
    status: Recipient<StatusEvent>,
}

impl StateKeeperActor {
    pub fn new(ws: Workspace, cfg: Arc<Config>, status: Recipient<StatusEvent>) -> Self {
        StateKeeperActor { ws, cfg, status }
    }
}

impl Actor for StateKeeperActor {
    type Context = Context<Self>;
}

impl Handler<Reconfigure> for StateKeeperActor {
    type Result = ();
    fn handle(&mut self, msg: Reconfigure, _: &mut Context<Self>) {
        self.cfg = msg.0;
    }
}

impl Handler<Shutdown> for StateKeeperActor {
    type Result = ();
    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) {}
}

impl Handler<SnapshotNow> for StateKeeperActor {
    type Result = ();
    fn handle(&mut self, _: SnapshotNow, _: &mut Context<Self>) {}
}
