//! supervisor actor.
