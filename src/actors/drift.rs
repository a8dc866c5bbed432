//! DriftActor: drift detection every `drift.interval` and when a `.tf` file or the state changes.

use std::sync::Arc;

use actix::prelude::*;

use super::{Reconfigure, Shutdown, StatusEvent};
use crate::config::Config;
use crate::workspace::Workspace;

pub struct DriftActor {
    #[allow(dead_code)]
    ws: Workspace,
    #[allow(dead_code)]
    cfg: Arc<Config>,
    #[allow(dead_code)]
    status: Recipient<StatusEvent>,
}

impl DriftActor {
    pub fn new(ws: Workspace, cfg: Arc<Config>, status: Recipient<StatusEvent>) -> Self {
        DriftActor { ws, cfg, status }
    }
}

impl Actor for DriftActor {
    type Context = Context<Self>;
}

impl Handler<Reconfigure> for DriftActor {
    type Result = ();
    fn handle(&mut self, msg: Reconfigure, _: &mut Context<Self>) {
        self.cfg = msg.0;
    }
}

impl Handler<Shutdown> for DriftActor {
    type Result = ();
    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) {}
}
