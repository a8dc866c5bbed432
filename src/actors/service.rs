//! ServiceActor: one per `service_N`, on its own arbiter (thread), wrapping the delivery
//! [`Desk`]. Receives batches of request names, moves them, keeps `load_N.json(l)` current
//! (flushed about once a second and at shutdown).
//!
//! Supervised: a panic in a handler is caught, reported to the supervisor (which counts
//! restarts per time window) and the actor stops; actix's `Supervisor` restarts it with the same
//! struct, and `restarting` reopens the desk, which runs crash recovery.

use std::ffi::OsString;
#[cfg(feature = "fault-injection")]
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use actix::prelude::*;
use chrono::Local;

use super::{catch, ChildPanicked, Reconfigure, Shutdown};
use crate::service_id::ServiceId;
use crate::spool::desk::{DeliveryOutcome, Desk, Limits};
use crate::workspace::Workspace;

/// Move these requests (names in the intake); the reply has one outcome per name.
#[derive(Message)]
#[rtype(result = "Vec<DeliveryOutcome>")]
pub struct DeliverBatch(pub Vec<OsString>);

/// Test-only fault hook (feature `fault-injection`, on in `cargo test` only):
/// `TFOPS_FAULT_PANIC_DELIVERIES=N` makes the next N delivery batches (across all services)
/// panic before touching any file. Used by the supervision tests.
#[cfg(feature = "fault-injection")]
static PANICS_LEFT: AtomicI64 = AtomicI64::new(-1);

#[cfg(not(feature = "fault-injection"))]
fn maybe_inject_panic() {}

#[cfg(feature = "fault-injection")]
fn maybe_inject_panic() {
    if PANICS_LEFT.load(Ordering::Relaxed) == -1 {
        let n = std::env::var("TFOPS_FAULT_PANIC_DELIVERIES")
            .ok()
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        let _ = PANICS_LEFT.compare_exchange(-1, n, Ordering::Relaxed, Ordering::Relaxed);
    }
    if PANICS_LEFT
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            (v > 0).then(|| v - 1)
        })
        .is_ok()
    {
        panic!("injected fault (TFOPS_FAULT_PANIC_DELIVERIES)");
    }
}

pub struct ServiceActor {
    n: ServiceId,
    ws: Workspace,
    limits: Limits,
    desk: Option<Desk>,
    parent: Recipient<ChildPanicked>,
}

impl ServiceActor {
    pub fn new(
        ws: Workspace,
        n: ServiceId,
        limits: Limits,
        parent: Recipient<ChildPanicked>,
    ) -> Self {
        ServiceActor {
            n,
            ws,
            limits,
            desk: None,
            parent,
        }
    }

    fn desk(&mut self) -> Result<&mut Desk, String> {
        if self.desk.is_none() {
            let d = Desk::open(&self.ws, self.n, self.limits).map_err(|e| e.to_string())?;
            self.desk = Some(d);
        }
        self.desk.as_mut().ok_or_else(|| "no desk".to_string())
    }

    fn flush(&mut self) {
        if let Some(d) = self.desk.as_mut() {
            if let Err(e) = d.flush() {
                log::error!("{}: cannot write load_{}.json: {e}", self.n, self.n.get());
            }
        }
    }
}

impl Actor for ServiceActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Err(e) = self.desk() {
            log::error!("{}: cannot open its logs: {e}", self.n);
        }
        ctx.run_interval(Duration::from_secs(1), |act, _| act.flush());
    }

    fn stopping(&mut self, _: &mut Context<Self>) -> Running {
        self.flush();
        Running::Stop
    }
}

impl actix::Supervised for ServiceActor {
    fn restarting(&mut self, _: &mut Context<Self>) {
        // Reopen: recovery runs again and finishes whatever the panicking batch left.
        self.desk = None;
        log::warn!("{}: restarting after a panic", self.n);
    }
}

impl Handler<DeliverBatch> for ServiceActor {
    type Result = MessageResult<DeliverBatch>;

    fn handle(&mut self, msg: DeliverBatch, ctx: &mut Context<Self>) -> Self::Result {
        let names = msg.0;
        let res = catch(|| {
            maybe_inject_panic();
            match self.desk() {
                Ok(d) => d.deliver_batch(&names, Local::now()),
                Err(e) => names
                    .iter()
                    .map(|_| DeliveryOutcome::Failed {
                        error: e.clone(),
                        service_fault: true,
                    })
                    .collect(),
            }
        });
        match res {
            Ok(out) => {
                crate::metrics::get().delivered(&self.ws.service_dir(self.n), &out);
                MessageResult(out)
            }
            Err(panic) => {
                log::error!("{}: delivery handler panicked: {panic}", self.n);
                self.parent.do_send(ChildPanicked {
                    who: self.n.to_string(),
                    message: panic.clone(),
                });
                ctx.stop();
                MessageResult(
                    names
                        .iter()
                        .map(|_| DeliveryOutcome::Failed {
                            error: format!("panic: {panic}"),
                            service_fault: false,
                        })
                        .collect(),
                )
            }
        }
    }
}

impl Handler<Reconfigure> for ServiceActor {
    type Result = ();
    fn handle(&mut self, msg: Reconfigure, _: &mut Context<Self>) {
        self.limits = Limits {
            max_request_bytes: msg.0.balancer.max_request_bytes,
            recent_in_log: msg.0.balancer.recent_in_log,
        };
        if let Some(d) = self.desk.as_mut() {
            d.set_limits(self.limits);
        }
    }
}

impl Handler<Shutdown> for ServiceActor {
    type Result = ();
    fn handle(&mut self, _: Shutdown, _: &mut Context<Self>) {
        self.flush();
    }
}
