//! The actor graph: the supervisor owns the routing table, the intake, reload and shutdown;
//! one ServiceActor per service delivers into its inbox; the HealthActor, CostActor,
//! StateKeeperActor and DriftActor each own their timers, watchers and files. The decisions
//! they act on are plain functions and types outside this module (see the crate's layout).
//!
//! The messages several actors send or receive are defined here ([`Reconfigure`],
//! [`ChildPanicked`], [`Shutdown`], [`StatusEvent`], [`SetOff`], [`SnapshotNow`]); a message
//! only one actor handles sits above it in its file (`DeliverBatch`, `HealthReport`,
//! `CheckNow`, `Tick`, `DetectNow`, the supervisor's signals).

use std::sync::Arc;

use actix::prelude::*;

use crate::config::Config;
use crate::service_id::ServiceId;

pub mod cost;
pub mod drift;
pub mod health;
pub mod service;
pub mod state_keeper;
pub mod supervisor;

/// What actor unit tests share: a status recipient that records what it is sent.
#[cfg(test)]
pub(crate) mod testkit {
    use std::sync::{Arc, Mutex};

    use actix::prelude::*;

    use super::StatusEvent;

    /// Keeps every [`StatusEvent`] it receives, in order.
    pub struct Collect(pub Arc<Mutex<Vec<StatusEvent>>>);
    impl Actor for Collect {
        type Context = Context<Self>;
    }
    impl Handler<StatusEvent> for Collect {
        type Result = ();
        fn handle(&mut self, m: StatusEvent, _: &mut Context<Self>) {
            if let Ok(mut v) = self.0.lock() {
                v.push(m);
            }
        }
    }
}

/// A new validated configuration, sent to every actor after SIGHUP.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Reconfigure(pub Arc<Config>);

/// Reported to the supervisor when a handler panicked and the actor is restarting.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct ChildPanicked {
    pub who: String,
    pub message: String,
}

/// Graceful stop: finish what is in flight, flush, then reply.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Shutdown;

/// Something `status` should show (alarms), reported to the supervisor.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum StatusEvent {
    /// Raise (or refresh) the alarm of this kind.
    Alarm { kind: String, detail: String },
    /// The condition behind alarms of this kind is over.
    ClearAlarm { kind: String },
}

/// Cost schedule → supervisor: take a service off routing (before its folder is archived) or
/// put it back (after its folder is back). The reply comes once routing has changed and no
/// delivery to that service is in flight.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct SetOff {
    pub service: ServiceId,
    pub off: bool,
}

/// SIGUSR1 (or anyone) → StateKeeperActor: snapshot the state now.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct SnapshotNow {
    pub reason: String,
}

pub use crate::panic::catch;
