//! health actor.
