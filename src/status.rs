//! The daemon's status file and the `status` view.
