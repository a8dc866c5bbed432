//! Replicas: where snapshots go off the machine, and the layout and decisions there (pure).
//!
//! A replica is an `s3://bucket/prefix` or `file:///dir` URL. Inside it, per Terraform
//! workspace: `<workspace>/blobs/<sha256>` holds each distinct state once, and
//! `<workspace>/snapshots/<id>.json` one [`SnapshotDoc`] per snapshot (its meta plus the host
//! that took it), written after its blob so that a reader never finds a snapshot without its
//! bytes. Several machines may share a replica: retention only removes this host's snapshot
//! documents, and a blob goes only when no document references it and it is older than a day
//! ([`blobs_to_delete`]).
//!
//! Not here: talking to the store (`replica_store`), scheduling uploads (the state keeper).

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

use super::retention;
use super::snapshot::Meta;

/// A blob younger than this is kept even when unreferenced: another machine may be between
/// writing it and writing the snapshot document that names it.
pub const BLOB_GRACE_HOURS: i64 = 24;

/// A parsed replica URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplicaUrl {
    S3 { bucket: String, prefix: String },
    File { dir: std::path::PathBuf },
}

/// A replica URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{url:?} is not a replica URL: {reason}")]
pub struct BadUrl {
    pub url: String,
    pub reason: &'static str,
}

impl ReplicaUrl {
    /// Parses `s3://bucket[/prefix]` or `file:///absolute/dir`.
    ///
    /// # Errors
    /// [`BadUrl`] for another scheme, an empty bucket, a relative file path, or `..`.
    pub fn parse(url: &str) -> Result<ReplicaUrl, BadUrl> {
        let bad = |reason| BadUrl {
            url: url.to_string(),
            reason,
        };
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(bad("the bucket is empty (s3://bucket/prefix)"));
            }
            let prefix = prefix.trim_matches('/').to_string();
            if prefix.split('/').any(|p| p == ".." || p == ".") {
                return Err(bad("`.` and `..` are not allowed in the prefix"));
            }
            Ok(ReplicaUrl::S3 {
                bucket: bucket.to_string(),
                prefix,
            })
        } else if let Some(rest) = url.strip_prefix("file://") {
            if !rest.starts_with('/') {
                return Err(bad("a file replica needs an absolute path (file:///dir)"));
            }
            if rest.split('/').any(|p| p == "..") {
                return Err(bad("`..` is not allowed in the path"));
            }
            Ok(ReplicaUrl::File { dir: rest.into() })
        } else {
            Err(bad("use s3://bucket/prefix or file:///dir"))
        }
    }
}

/// Object key (relative to the replica's prefix) of the blob holding `sha256`.
pub fn blob_key(workspace: &str, sha256: &str) -> String {
    format!("{workspace}/blobs/{sha256}")
}

/// Object key of the snapshot document `id`.
pub fn snapshot_key(workspace: &str, id: &str) -> String {
    format!("{workspace}/snapshots/{id}.json")
}

/// Folder of the snapshot documents of `workspace`.
pub fn snapshots_dir(workspace: &str) -> String {
    format!("{workspace}/snapshots")
}

/// Folder of the blobs of `workspace`.
pub fn blobs_dir(workspace: &str) -> String {
    format!("{workspace}/blobs")
}

/// A snapshot as a replica keeps it: `<workspace>/snapshots/<id>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotDoc {
    /// The id in the replica (the local id, with `_h2`… when another host used it first).
    pub id: String,
    /// The id on the machine that took it.
    pub local_id: String,
    pub host: String,
    pub workspace: String,
    /// The meta of the local snapshot (sha256, serial, lineage, taken_at, flags…).
    pub meta: Meta,
    pub uploaded_at: String,
}

/// Whether `id` (a replica snapshot id) is a safe object name.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 200
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The id a new document takes: the local id, or the first `<id>_hN` not in `taken`.
pub fn free_id(local_id: &str, taken: &BTreeSet<String>) -> String {
    if !taken.contains(local_id) {
        return local_id.to_string();
    }
    (2..)
        .map(|n| format!("{local_id}_h{n}"))
        .find(|c| !taken.contains(c))
        .unwrap_or_else(|| local_id.to_string())
}

/// A blob as listed in a replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobEntry {
    pub sha256: String,
    pub last_modified: DateTime<Utc>,
}

/// Blobs no snapshot document references and older than a day, as of `now`.
pub fn blobs_to_delete(
    blobs: &[BlobEntry],
    docs: &[SnapshotDoc],
    now: DateTime<Utc>,
) -> Vec<String> {
    let referenced: BTreeSet<&str> = docs.iter().map(|d| d.meta.sha256.as_str()).collect();
    blobs
        .iter()
        .filter(|b| !referenced.contains(b.sha256.as_str()))
        .filter(|b| now - b.last_modified > Duration::hours(BLOB_GRACE_HOURS))
        .map(|b| b.sha256.clone())
        .collect()
}

/// Which of this host's documents retention removes in the replica (the same rules as for the
/// local folder); documents of other hosts are theirs to prune.
pub fn docs_to_prune(docs: &[SnapshotDoc], host: &str, policy: retention::Policy) -> Vec<String> {
    let mut items: Vec<retention::Item> = docs
        .iter()
        .filter(|d| d.host == host)
        .filter_map(|d| {
            let t = DateTime::parse_from_rfc3339(&d.meta.taken_at).ok()?;
            Some(retention::Item {
                id: d.id.clone(),
                taken_at: t,
                valid: true,
                sha256: Some(d.meta.sha256.clone()),
            })
        })
        .collect();
    items.sort_by(|a, b| (a.taken_at, &a.id).cmp(&(b.taken_at, &b.id)));
    retention::plan(&items, policy).dropped()
}

/// Documents ordered as listings show them: by `taken_at`, then id.
pub fn sort_docs(docs: &mut [SnapshotDoc]) {
    docs.sort_by_key(|d| (taken_at(d), d.id.clone()));
}

/// The time a document's snapshot was taken (the epoch when its meta says nonsense).
pub fn taken_at(d: &SnapshotDoc) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(&d.meta.taken_at)
        .unwrap_or_else(|_| DateTime::<Utc>::UNIX_EPOCH.fixed_offset())
}

/// This machine's name, for documents (`HOSTNAME`, else the kernel's node name).
pub fn host_name() -> String {
    if let Ok(h) = std::env::var("TFOPS_HOST") {
        if !h.is_empty() {
            return h;
        }
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(sha: &str, taken: &str) -> Meta {
        Meta {
            sha256: sha.into(),
            serial: 1,
            lineage: "l".into(),
            terraform_version: None,
            resources: 0,
            bytes: 1,
            taken_at: taken.into(),
            reason: "t".into(),
            flags: vec![],
            linked_to: None,
            source: None,
            etag: None,
            version_id: None,
        }
    }

    fn doc(id: &str, host: &str, sha: &str, taken: &str) -> SnapshotDoc {
        SnapshotDoc {
            id: id.into(),
            local_id: id.into(),
            host: host.into(),
            workspace: "default".into(),
            meta: meta(sha, taken),
            uploaded_at: taken.into(),
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            ReplicaUrl::parse("s3://b/p/q/").unwrap(),
            ReplicaUrl::S3 {
                bucket: "b".into(),
                prefix: "p/q".into()
            }
        );
        assert_eq!(
            ReplicaUrl::parse("s3://b").unwrap(),
            ReplicaUrl::S3 {
                bucket: "b".into(),
                prefix: "".into()
            }
        );
        assert_eq!(
            ReplicaUrl::parse("file:///mnt/d").unwrap(),
            ReplicaUrl::File {
                dir: "/mnt/d".into()
            }
        );
        for bad in [
            "http://x",
            "s3:///p",
            "file://rel/dir",
            "s3://b/../x",
            "/abs",
        ] {
            assert!(ReplicaUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn layout() {
        assert_eq!(blob_key("default", "ab"), "default/blobs/ab");
        assert_eq!(
            snapshot_key("staging", "tfstate_x.backup"),
            "staging/snapshots/tfstate_x.backup.json"
        );
    }

    #[test]
    fn a_taken_id_gets_a_host_suffix() {
        let mut taken = BTreeSet::new();
        assert_eq!(free_id("a", &taken), "a");
        taken.insert("a".to_string());
        taken.insert("a_h2".to_string());
        assert_eq!(free_id("a", &taken), "a_h3");
    }

    #[test]
    fn blob_gc_keeps_referenced_and_young_blobs() {
        let now = DateTime::parse_from_rfc3339("2026-12-02T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let old = now - Duration::hours(30);
        let young = now - Duration::hours(2);
        let blobs = vec![
            BlobEntry {
                sha256: "used".into(),
                last_modified: old,
            },
            BlobEntry {
                sha256: "orphan_old".into(),
                last_modified: old,
            },
            BlobEntry {
                sha256: "orphan_young".into(),
                last_modified: young,
            },
        ];
        // "used" is referenced by another host's document only: still kept.
        let docs = vec![doc("s1", "other-host", "used", "2026-12-01T00:00:00Z")];
        assert_eq!(blobs_to_delete(&blobs, &docs, now), vec!["orphan_old"]);
    }

    #[test]
    fn remote_retention_touches_only_this_hosts_documents() {
        let docs = vec![
            doc("a", "me", "1", "2026-12-01T00:00:00Z"),
            doc("b", "me", "2", "2026-12-01T01:00:00Z"),
            doc("c", "me", "3", "2026-12-01T02:00:00Z"),
            doc("x", "other", "4", "2026-11-01T00:00:00Z"),
        ];
        let policy = retention::Policy {
            keep_last: 2,
            keep_daily: 0,
            keep_weekly: 0,
            keep_monthly: 0,
        };
        let pruned = docs_to_prune(&docs, "me", policy);
        assert_eq!(pruned, vec!["a".to_string()]);
    }
}
