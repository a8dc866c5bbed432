//! The request spool, after Maildir and Postfix: a rename is the moment a request changes hands.
//!
//! - [`request`]: what a valid request is, and the names it gets in an inbox or in `errors/`.
//! - [`intake`]: scanning `incoming_requests/` and deciding which files have settled.
//! - [`dispatch`]: the queue of names waiting for a service, routing them in batches, and what
//!   a batch's outcomes mean (requeue, retry at the next rescan, suspect service). Pure.
//! - [`desk`]: one service's delivery desk — the no-overwrite move, the delivery journal, the
//!   `load_N.json(l)` logs — and crash recovery of all three.
//!
//! No actors here: the ServiceActor wraps a [`desk::Desk`], and `run --once` uses one directly;
//! both the supervisor and `run --once` drive a [`dispatch::Dispatch`].

pub mod desk;
pub mod dispatch;
pub mod intake;
pub mod request;
