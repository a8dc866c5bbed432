//! service actor.
