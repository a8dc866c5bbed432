//! State protection: the tfstate model, snapshots, retention, restore and disaster detection.
//!
//! - [`model`]: the one reader of Terraform state — what makes a state valid, and its resources,
//!   instances and outputs by [`model::Address`].
//! - [`snapshot`]: `backups/tfstate_<ts>.backup/` folders — take (deduplicated, atomic,
//!   private), list, verify, prune.
//! - [`retention`]: which snapshots `keep_last`, `keep_daily`, `keep_weekly` and
//!   `keep_monthly` keep, and why (pure).
//! - [`restore`]: prepare (refusals, preview) and apply (atomic write) a restore.
//! - [`preview`]: changes by address and a masked unified diff (pure).
//! - [`tflock`]: whether Terraform holds the state.
//! - [`guard`]: the disaster-detection state machine the StateKeeperActor drives (pure).
//! - [`scan`]: the state keeper's look at the state (changed? valid? held?) and the snapshot it
//!   takes; the jobs the actor queues and how they coalesce.
//! - [`aws_profile`]: AWS credentials and region from the environment or the shared profile
//!   files.
//! - [`backend`]: which state — the local file or a `backend "s3"` object — and which
//!   Terraform workspace (pure apart from reading the init record and `*.tf`).
//! - `remote` (with `daemon`): the S3 state object — read, ETag polling, Terraform's lock
//!   object, conditional put — and backup/restore/alarm checks on it.
//! - [`replica`]: replica URLs, their layout, remote retention and blob GC (pure).
//! - `s3_checksum` (with `daemon`): the SHA-256 checksum S3 keeps for a blob, read by a signed
//!   `HEAD`, so that `verify --remote` need not download it.
//! - `replica_store` (with `daemon`): uploads, listings, verification and restores from
//!   replicas, and the background replicator.
//!
//! Not here: timers, file watching and messages (`actors::state_keeper`), printing and
//! prompts (`cli::state`).

use serde::Serialize;

use crate::config::Config;

pub mod aws_profile;
pub mod backend;
pub mod guard;
pub mod model;
pub mod preview;
#[cfg(feature = "daemon")]
pub mod remote;
pub mod replica;
#[cfg(feature = "daemon")]
pub mod replica_store;
pub mod restore;
pub mod retention;
#[cfg(feature = "daemon")]
pub mod s3_checksum;
pub mod scan;
pub mod snapshot;
pub mod tflock;

/// The newest snapshot, for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnapshotSummary {
    pub id: String,
    pub taken_at: String,
}

/// The newest snapshot by `taken_at`, valid or not; `None` when there is none or the folder
/// cannot be read. Cheap: reads meta.json files, hashes nothing.
pub fn last_snapshot(cfg: &Config) -> Option<SnapshotSummary> {
    let snaps = snapshot::list_quick(&cfg.state.backups).ok()?;
    let s = snaps.last()?;
    Some(SnapshotSummary {
        id: s.id.clone(),
        taken_at: s
            .meta
            .as_ref()
            .map(|m| m.taken_at.clone())
            .unwrap_or_else(|| crate::fsutil::json_ts(s.taken_at)),
    })
}
