//! # tfops
//!
//! Local operations and disaster recovery for a Terraform working directory: request
//! balancing, service health, cost schedules, state snapshots and drift detection, in one
//! supervised actix actor system. SPEC.md (in the shared folder) is the contract.
//!
//! # Layout
//!
//! - [`cli`]: one file per command; the only place that prints for users and uses `anyhow`.
//! - [`config`]: `config/tfops.hcl` validated on the hcl-edit tree into a typed `Config`.
//! - [`workspace`]: every path of the layout, derived from ROOT.
//! - [`actors`]: the actor graph — supervisor, services, health, cost, state keeper, drift.
//!   Thin: they own I/O, timing and messages; decisions live in the plain modules below.
//! - [`router`]: which service gets the next request (pure policy).
//! - [`spool`]: the request intake, validation, atomic delivery and the delivery journal.
//! - [`health`]: what makes a service up, down or off.
//! - [`status`]: the daemon's `status.json`, read by `tfops status`.
//! - `watch` (with `daemon`): masked inotify watches for the intake and the inboxes, so our
//!   own deliveries queue no events.
//! - [`schedule`]: cost windows and the ledger.
//! - [`state`]: the tfstate model, snapshots, retention, restore.
//! - [`drift`]: the HCL model, the diff, the report, scenarios.
//! - [`fsutil`], [`clock`], [`lock`], [`panic`]: primitives shared by the rest.
//! - [`rlimit`]: the open-file budget (raise at start, how many services fit).
//!
//! # Features
//!
//! `daemon` (default): [`actors`], [`cli`], [`watch`] and the `tfops` binary, with actix,
//! tokio, notify, inotify, clap and dialoguer. Without it (`default-features = false`) the
//! library is the pure modules alone — what the fuzz targets in `fuzz/` link.

#[cfg(feature = "daemon")]
pub mod actors;
#[cfg(feature = "daemon")]
pub mod cli;
pub mod clock;
pub mod config;
pub mod drift;
pub mod fsutil;
pub mod health;
pub mod lock;
pub mod panic;
pub mod rlimit;
pub mod router;
pub mod schedule;
pub mod spool;
pub mod state;
pub mod status;
#[cfg(feature = "daemon")]
pub mod watch;
pub mod workspace;
