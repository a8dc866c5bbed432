//! The request spool, after Maildir and Postfix: a rename is the moment a request changes hands.
//!
//! - [`request`]: what a valid request is, and the names it gets in an inbox or in `errors/`.
//! - [`intake`]: scanning `incoming_requests/` and deciding which files have settled.
//! - [`desk`]: one service's delivery desk — the no-overwrite move, the delivery journal, the
//!   `load_N.json(l)` logs — and crash recovery of all three.
//!
//! No actors here: the ServiceActor wraps a [`desk::Desk`], and `run --once` uses one directly.

pub mod desk;
pub mod intake;
pub mod request;
