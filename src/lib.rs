//! # tfops
//!
//! Local operations and disaster recovery for a Terraform working directory: request
//! balancing, service health, cost schedules, state snapshots and drift detection, in one
//! supervised actix actor system.
//!
//! # Layout
//!
//! Three kinds of module. The shells talk to the outside: [`cli`] (arguments, printing,
//! `anyhow`, exit codes), `http` (requests) and [`actors`] (mailboxes, timers, watchers); only
//! they import `actors::`. The domain modules take values and return values (some read and
//! write the workspace's files; none prints, uses `anyhow` or knows actix). The leaves import
//! nothing from the crate. `tests/layering.rs` checks these rules.
//!
//! Shells:
//! - [`cli`]: one file per command; the only place that prints for users and uses `anyhow`.
//! - [`actors`]: the actor graph — supervisor, services, health, cost, state keeper, drift.
//!   Thin: they own timers, watchers, threads and messages; the decisions they act on live in
//!   the modules below ([`spool::dispatch`], [`supervision`], [`schedule::reconcile`],
//!   [`state::guard`], [`state::scan`], [`health`]).
//! - `watch` (with `daemon`): masked inotify watches for the intake and the inboxes, so our
//!   own deliveries queue no events.
//! - `http` (with `daemon`): `run --listen` — the live status page, `/metrics`, `/api/status`,
//!   `/api/events`; it reads `metrics` and `events` and asks the supervisor, and changes nothing.
//!
//! Domain:
//! - [`config`]: `config/tfops.hcl` validated on the hcl-edit tree into a typed `Config`.
//! - [`workspace`]: the paths of the workspace's layout, derived from ROOT, and
//!   [`workspace::ConfiguredWorkspace`] (the workspace with its configuration) that commands get.
//! - [`spool`]: the request intake, validation, dispatch (the queue, routing, requeue and retry
//!   rules, pure), atomic delivery and the delivery journal.
//! - [`router`]: which service gets the next request (pure policy).
//! - [`supervision`]: the supervisor's other decisions — its routing table (who may be handed
//!   requests, what a health report, a schedule switch or a failed delivery changes), restart
//!   caps, what a reload changes, alarms, rescan pacing.
//! - [`health`]: what makes a service up, down or off.
//! - [`status`]: the daemon's `status.json`, read by `tfops status`.
//! - [`schedule`]: cost schedules and their windows, reconciling the service folders with them,
//!   and the cost ledger.
//! - [`state`]: the tfstate model, the state keeper's scan, snapshots, retention, restore;
//!   the backend (local or S3) and Terraform workspace, remote state and replicas (#12).
//! - [`drift`]: the HCL model, the diff, the report, scenarios (parse, steps, run).
//! - `metrics` and `events` (with `daemon`): the Prometheus registry and the bounded bus of
//!   typed events that the actors feed with one-line calls.
//!
//! Leaves: [`service_id`] (`service_N`), [`text`] (line and column positions), [`fsutil`]
//! (atomic writes, no-overwrite renames, torn tails, hex, no-follow opens), [`clock`], [`lock`],
//! [`panic`](mod@panic), [`rlimit`] (the open-file budget: raise at start, how many services fit),
//! [`syntax_hint`] (where an HCL syntax error starts: the unclosed quote, the `{` never
//! closed), [`notify`] (systemd's readiness protocol over `NOTIFY_SOCKET`, by hand), and
//! `schedule::window`.
//!
//! # Features
//!
//! `daemon` (default): [`actors`], [`cli`], [`watch`], `http`, `events`, `metrics`,
//! `state::remote`, `state::replica_store` and the `tfops` binary, with actix, actix-web,
//! tokio, notify, inotify, clap, dialoguer, object_store and prometheus-client. Without it
//! (`default-features = false`) the library is the other modules alone — what the fuzz
//! targets in `fuzz/` link.
//!
//! `fault-injection`: test-only hooks (`TFOPS_FAULT_*`, `TFOPS_TEST_*`) that `cargo test`
//! turns on through the crate's dev-dependency on itself; never in a release build.

#[cfg(feature = "daemon")]
pub mod actors;
#[cfg(feature = "daemon")]
pub mod cli;
pub mod clock;
pub mod config;
pub mod drift;
#[cfg(feature = "daemon")]
pub mod events;
pub mod fsutil;
pub mod health;
#[cfg(feature = "daemon")]
pub mod http;
pub mod lock;
#[cfg(feature = "daemon")]
pub mod metrics;
pub mod notify;
pub mod panic;
pub mod rlimit;
pub mod router;
pub mod schedule;
pub mod service_id;
pub mod spool;
pub mod state;
pub mod status;
pub mod supervision;
pub mod syntax_hint;
pub mod text;
#[cfg(feature = "daemon")]
pub mod watch;
pub mod workspace;
