//! The tfstate model, snapshots, retention and restore.
