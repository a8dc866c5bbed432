//! The actor graph (see DESIGN.md): the supervisor owns the routing table, reload and shutdown;
//! one ServiceActor per service delivers into its inbox; the HealthActor, CostActor,
//! StateKeeperActor and DriftActor each own their timers, watchers and files.
//!
//! Messages shared by several actors are defined here; an actor's own messages sit above it in
//! its file.

use std::sync::Arc;

use actix::prelude::*;

use crate::config::Config;

pub mod cost;
pub mod drift;
pub mod health;
pub mod service;
pub mod state_keeper;
pub mod supervisor;

/// A new validated configuration, sent to every actor after SIGHUP.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct Reconfigure(pub Arc<Config>);

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
    pub service: usize,
    pub off: bool,
}

/// SIGUSR1 (or anyone) → StateKeeperActor: snapshot the state now.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct SnapshotNow {
    pub reason: String,
}

thread_local! {
    /// How many [`catch`] frames are active on this thread.
    static CATCHING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs `f`, turning a panic into `Err` with its message, so that a handler can stop its
/// actor (and let the supervisor restart it) instead of dying silently.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    CATCHING.with(|c| c.set(c.get() + 1));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(c.get().saturating_sub(1)));
    r.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string())
    })
}

/// Exit code of a panic that no [`catch`] frame handles.
pub const EXIT_UNCAUGHT_PANIC: i32 = 101;

/// Makes a panic outside [`catch`] fatal for the process. actix would otherwise let the actor
/// die and the rest run on, silently degraded (a supervisor without its routing table). Exiting
/// is safe: every start recovers what a crash leaves.
pub fn install_panic_policy() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        if CATCHING.with(|c| c.get()) == 0 {
            log::error!("a panic outside a supervised handler; exiting, the next start recovers");
            std::process::exit(EXIT_UNCAUGHT_PANIC);
        }
    }));
}
