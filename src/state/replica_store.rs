//! Replicas on real storage: uploads, listings, verification, restore sources, retention, and
//! the background replicator of the daemon.
//!
//! A [`Replica`] is one `s3://` or `file://` URL opened through `object_store`. An upload puts
//! the blob first (`<ws>/blobs/<sha256>`, once: it is skipped when present; in S3 it goes
//! with its SHA-256 checksum, which S3 checks and keeps, so that `verify` can later read the
//! checksum instead of the blob: `s3_checksum`) and then the snapshot document with a
//! create-only put, so a reader never sees a document without its bytes, a crash in between
//! leaves only an unreferenced blob (collected a day later), and two hosts never overwrite
//! each other's documents. [`Replicator`] runs uploads on its own thread and runtime, retries
//! with backoff, and records progress and the last error in `.tfops/replication.json`, which
//! `tfops status` shows; it never holds up a local snapshot.
//!
//! Decisions (layout, ids, what to prune) are in [`super::replica`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use chrono::{Local, Utc};
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use super::aws_profile::ProfileSettings;
use super::remote::{self, RemoteError, S3Access};
use super::replica::{self, BlobEntry, ReplicaUrl, SnapshotDoc};
use super::s3_checksum::{self, ChecksumClient, Stored};
use super::snapshot::{self, Snapshot};
use crate::config::Config;
use crate::fsutil;

/// Errors of replica operations; messages name the replica URL and object, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error(transparent)]
    Url(#[from] replica::BadUrl),
    #[error("{url}: {what}: {}", s3_checksum::shown(&source.to_string()))]
    Store {
        url: String,
        what: String,
        source: Box<object_store::Error>,
    },
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error(transparent)]
    Snapshot(#[from] snapshot::SnapshotError),
    #[error("{url}: no snapshot {id} in workspace {workspace}")]
    NotFound {
        url: String,
        workspace: String,
        id: String,
    },
    #[error("{url}: no snapshot in workspace {workspace}")]
    Empty { url: String, workspace: String },
    #[error("{url}: snapshot {id} is bad: {reason}")]
    Bad {
        url: String,
        id: String,
        reason: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{url}: {what}: {reason}")]
    Request {
        url: String,
        what: String,
        reason: String,
    },
}

/// One replica, opened.
#[derive(Debug, Clone)]
pub struct Replica {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    url: String,
    /// S3 only: uploads blobs with their SHA-256 checksum and reads it back.
    checksums: Option<ChecksumClient>,
}

/// How `verify` checked a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// The store's own SHA-256 checksum, read with a `HEAD`: nothing downloaded.
    StoredChecksum,
    /// The bytes were read (downloaded from S3, read from a `file://` folder) and hashed.
    Read,
    /// Neither way worked (the download or the read failed): the blob could not be checked;
    /// the problem says why.
    NotChecked,
    /// The blob is not in the replica (its `HEAD` or its download found nothing).
    Missing,
}

/// One snapshot document as `verify` found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The document id (or the key of an unreadable document).
    pub id: String,
    /// The blob's sha256 (`None` for an unreadable document).
    pub sha256: Option<String>,
    /// How the blob was checked (`None` for an unreadable document).
    pub checked: Option<Checked>,
    /// Why the store's checksum could not be used although it was asked for it (its `HEAD`
    /// failed, e.g. `HTTP 501` from a store that does not know the checksum mode), so the
    /// blob was downloaded instead.
    pub no_checksum: Option<String>,
    /// Why it is bad; `None` when good.
    pub problem: Option<String>,
}

impl Replica {
    /// Opens `url` (creating a `file://` folder, 0700, when it does not exist).
    ///
    /// # Errors
    /// A bad URL, a folder that cannot be created, a client that cannot be built.
    pub fn open(url: &str) -> Result<Replica, ReplicaError> {
        let parsed = ReplicaUrl::parse(url)?;
        let mut checksums = None;
        let (store, prefix): (Arc<dyn ObjectStore>, String) = match parsed {
            ReplicaUrl::S3 { bucket, prefix } => {
                // Credentials: the environment, else AWS_PROFILE's (or the default) profile.
                // Every upload carries its SHA-256 checksum, which S3 checks.
                let access = S3Access::resolve(&bucket, None, None, &ProfileSettings::default())
                    .map_err(RemoteError::from)?;
                let client_err = |e| ReplicaError::Store {
                    url: url.to_string(),
                    what: "client".into(),
                    source: Box::new(e),
                };
                let s = access.store(true).map_err(client_err)?;
                checksums = Some(
                    ChecksumClient::new(
                        access.bucket_url(),
                        access.region.clone(),
                        access.credentials.as_ref(),
                        &remote::client_options().0,
                    )
                    .map_err(client_err)?,
                );
                (Arc::new(s), prefix)
            }
            ReplicaUrl::File { dir } => {
                if !dir.exists() {
                    fsutil::create_dir_mode(&dir, 0o700).map_err(|source| ReplicaError::Io {
                        path: dir.clone(),
                        source,
                    })?;
                }
                let fs =
                    LocalFileSystem::new_with_prefix(&dir).map_err(|e| ReplicaError::Store {
                        url: url.to_string(),
                        what: "open".into(),
                        source: Box::new(e),
                    })?;
                (Arc::new(fs), String::new())
            }
        };
        Ok(Replica {
            store,
            prefix,
            url: url.to_string(),
            checksums,
        })
    }

    /// The URL as configured.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, rel: &str) -> ObjPath {
        if self.prefix.is_empty() {
            ObjPath::from(rel)
        } else {
            ObjPath::from(format!("{}/{rel}", self.prefix))
        }
    }

    fn err(&self, what: impl Into<String>) -> impl FnOnce(object_store::Error) -> ReplicaError {
        let url = self.url.clone();
        let what = what.into();
        move |e| ReplicaError::Store {
            url,
            what,
            source: Box::new(e),
        }
    }

    /// Uploads one local snapshot of `workspace`: the blob (unless present), then the document
    /// (create-only). Returns the id in the replica. Idempotent: a document this host already
    /// wrote for `snap` is found and reused.
    ///
    /// # Errors
    /// When the local snapshot fails its check, or the store refuses.
    pub async fn upload(
        &self,
        workspace: &str,
        snap: &Snapshot,
        host: &str,
    ) -> Result<String, ReplicaError> {
        let meta = snap.meta.clone().ok_or_else(|| ReplicaError::Bad {
            url: self.url.clone(),
            id: snap.id.clone(),
            reason: "the local snapshot has no meta.json".into(),
        })?;
        // The bytes must still be what was validated when the snapshot was taken: the sha256
        // recheck is enough (no second parse); a damaged local file is never replicated.
        let bad = |reason: String| {
            ReplicaError::Snapshot(snapshot::SnapshotError::Bad {
                id: snap.id.clone(),
                reason,
            })
        };
        if let Some(p) = &snap.problem {
            return Err(bad(p.clone()));
        }
        let (bytes, _) = snapshot::read_file(&snap.file(), None)?;
        if snapshot::sha256_hex(&bytes) != meta.sha256 {
            return Err(bad("its sha256 differs from meta.json's".into()));
        }
        let blob = self.path(&replica::blob_key(workspace, &meta.sha256));
        match self.store.head(&blob).await {
            Ok(m) if m.size == meta.bytes => {}
            Ok(_) | Err(object_store::Error::NotFound { .. }) => match &self.checksums {
                Some(h) => {
                    let digest: Option<[u8; 32]> =
                        fsutil::unhex(&meta.sha256).and_then(|d| <[u8; 32]>::try_from(d).ok());
                    let digest =
                        digest.ok_or_else(|| bad("meta.json's sha256 is not hex".into()))?;
                    h.put(&blob, bytes, &digest)
                        .await
                        .map_err(|e| ReplicaError::Request {
                            url: self.url.clone(),
                            what: format!("upload of blob {}", meta.sha256),
                            reason: e.to_string(),
                        })?;
                }
                None => {
                    self.store
                        .put(&blob, PutPayload::from(bytes))
                        .await
                        .map_err(self.err(format!("upload of blob {}", meta.sha256)))?;
                }
            },
            Err(e) => return Err(self.err("head of blob")(e)),
        }
        let mut taken = BTreeSet::new();
        loop {
            let id = replica::free_id(&snap.id, &taken);
            let doc = SnapshotDoc {
                id: id.clone(),
                local_id: snap.id.clone(),
                host: host.to_string(),
                workspace: workspace.to_string(),
                meta: meta.clone(),
                uploaded_at: fsutil::json_ts(Local::now()),
            };
            let body = serde_json::to_vec_pretty(&doc).map_err(|e| ReplicaError::Bad {
                url: self.url.clone(),
                id: id.clone(),
                reason: e.to_string(),
            })?;
            let key = self.path(&replica::snapshot_key(workspace, &id));
            let put = self
                .store
                .put_opts(
                    &key,
                    PutPayload::from(body),
                    PutOptions {
                        mode: PutMode::Create,
                        ..PutOptions::default()
                    },
                )
                .await;
            match put {
                Ok(_) => return Ok(id),
                Err(object_store::Error::AlreadyExists { .. }) => {
                    // Ours from an interrupted earlier run, or another host's.
                    if let Ok(existing) = self.get_doc(&key).await {
                        if existing.host == host && existing.local_id == snap.id {
                            return Ok(id);
                        }
                    }
                    taken.insert(id);
                    if taken.len() > 1000 {
                        return Err(ReplicaError::Bad {
                            url: self.url.clone(),
                            id: snap.id.clone(),
                            reason: "no free id".into(),
                        });
                    }
                }
                Err(e) => return Err(self.err(format!("upload of snapshot {id}"))(e)),
            }
        }
    }

    async fn get_doc(&self, key: &ObjPath) -> Result<SnapshotDoc, ReplicaError> {
        let b = self
            .store
            .get(key)
            .await
            .map_err(self.err(format!("read of {key}")))?
            .bytes()
            .await
            .map_err(self.err(format!("read of {key}")))?;
        serde_json::from_slice(&b).map_err(|e| ReplicaError::Bad {
            url: self.url.clone(),
            id: key.to_string(),
            reason: format!("unreadable document ({e})"),
        })
    }

    /// Every snapshot document of `workspace`, by `taken_at` (oldest first); unreadable ones
    /// are returned apart as (key, reason).
    ///
    /// # Errors
    /// When the listing fails.
    pub async fn list(
        &self,
        workspace: &str,
    ) -> Result<(Vec<SnapshotDoc>, Vec<(String, String)>), ReplicaError> {
        let dir = self.path(&replica::snapshots_dir(workspace));
        let metas: Vec<_> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(self.err("listing of snapshots"))?;
        let mut docs = Vec::new();
        let mut bad = Vec::new();
        for m in metas {
            if !m.location.as_ref().ends_with(".json") {
                continue;
            }
            match self.get_doc(&m.location).await {
                Ok(d) => docs.push(d),
                Err(e) => bad.push((m.location.to_string(), e.to_string())),
            }
        }
        replica::sort_docs(&mut docs);
        Ok((docs, bad))
    }

    async fn blobs(&self, workspace: &str) -> Result<Vec<BlobEntry>, ReplicaError> {
        let dir = self.path(&replica::blobs_dir(workspace));
        let metas: Vec<_> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(self.err("listing of blobs"))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                Some(BlobEntry {
                    sha256: m.location.filename()?.to_string(),
                    last_modified: m.last_modified,
                })
            })
            .collect())
    }

    /// The bytes of a document's blob, checked against its sha256.
    ///
    /// # Errors
    /// `Bad` when the blob is missing or its hash differs.
    pub async fn fetch(&self, doc: &SnapshotDoc) -> Result<Vec<u8>, ReplicaError> {
        let bad = |reason: String| ReplicaError::Bad {
            url: self.url.clone(),
            id: doc.id.clone(),
            reason,
        };
        let Some(got) = self.read_blob(&doc.workspace, &doc.meta.sha256).await? else {
            return Err(bad(format!(
                "its blob {} is missing",
                short(&doc.meta.sha256)
            )));
        };
        match blob_problem(doc, &got) {
            Some(p) => Err(bad(p)),
            None => Ok(got),
        }
    }

    /// The bytes of blob `sha` of `workspace`; `None` when there is no such blob.
    async fn read_blob(&self, workspace: &str, sha: &str) -> Result<Option<Vec<u8>>, ReplicaError> {
        let key = self.path(&replica::blob_key(workspace, sha));
        match self.store.get(&key).await {
            Ok(g) => Ok(Some(
                g.bytes().await.map_err(self.err("read of blob"))?.into(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err("read of blob")(e)),
        }
    }

    /// Whether this replica is a local folder (`file://`).
    pub fn is_local(&self) -> bool {
        self.checksums.is_none()
    }

    /// Checks one blob: by the checksum the store keeps when it keeps one (S3, uploads made
    /// with a checksum), else by reading and hashing it. A checksum `HEAD` that fails (a
    /// status other than 200 or 404, or no answer) falls back to the download, and says why;
    /// a download that fails too leaves the blob [`Checked::NotChecked`]. Never an error: one
    /// blob's failure must not stop the others' check.
    async fn check_blob(&self, doc: &SnapshotDoc) -> BlobCheck {
        let sha = &doc.meta.sha256;
        let mut no_checksum = None;
        if let Some(h) = &self.checksums {
            let key = self.path(&replica::blob_key(&doc.workspace, sha));
            let by_checksum = |problem: Option<String>| BlobCheck {
                checked: Checked::StoredChecksum,
                no_checksum: None,
                problem,
            };
            match h.stored(&key).await {
                Ok(Stored::Sha256(got)) if &got == sha => return by_checksum(None),
                Ok(Stored::Sha256(got)) => {
                    return by_checksum(Some(format!(
                        "the store's SHA-256 checksum of its blob is {}, the blob's name says {}",
                        short(&got),
                        short(sha)
                    )))
                }
                Ok(Stored::Missing) => return missing(sha),
                Ok(Stored::NoChecksum) => {}
                Err(e) => {
                    log::debug!(
                        "replica {}: checksum HEAD of {key} failed ({e}); downloading the blob",
                        self.url
                    );
                    no_checksum = Some(e.to_string());
                }
            }
        }
        let (checked, problem) = match self.read_blob(&doc.workspace, sha).await {
            Ok(None) => {
                return BlobCheck {
                    no_checksum,
                    ..missing(sha)
                }
            }
            Ok(Some(b)) => (
                Checked::Read,
                blob_problem(doc, &b).or_else(|| {
                    snapshot::hash_and_check(&b)
                        .1
                        .err()
                        .map(|i| format!("its state is {i}"))
                }),
            ),
            Err(e) => {
                let what = if self.is_local() {
                    "reading"
                } else {
                    "downloading"
                };
                (
                    Checked::NotChecked,
                    Some(format!("{what} its blob {} failed: {e}", short(sha))),
                )
            }
        };
        BlobCheck {
            checked,
            no_checksum,
            problem,
        }
    }

    /// Rechecks every snapshot of `workspace`, each distinct blob once: by the SHA-256
    /// checksum the store keeps for it when there is one (a blob whose bytes hash to its name
    /// is the valid state that was uploaded: the upload checked it), else by reading it,
    /// hashing it and checking that it is a valid state. A blob that cannot be checked is
    /// reported as such, and the others are still checked. Unreadable documents come last.
    ///
    /// # Errors
    /// When the listing fails.
    pub async fn verify(&self, workspace: &str) -> Result<Vec<Verified>, ReplicaError> {
        let (docs, bad) = self.list(workspace).await?;
        let mut by_sha: std::collections::BTreeMap<String, BlobCheck> = Default::default();
        let mut out = Vec::new();
        for d in &docs {
            if !by_sha.contains_key(&d.meta.sha256) {
                let r = self.check_blob(d).await;
                log::debug!(
                    "replica {}: blob {} checked {:?}",
                    self.url,
                    d.meta.sha256,
                    r.checked
                );
                by_sha.insert(d.meta.sha256.clone(), r);
            }
            let r = by_sha[&d.meta.sha256].clone();
            out.push(Verified {
                id: d.id.clone(),
                sha256: Some(d.meta.sha256.clone()),
                checked: Some(r.checked),
                no_checksum: r.no_checksum,
                problem: r.problem,
            });
        }
        for (k, reason) in bad {
            out.push(Verified {
                id: k,
                sha256: None,
                checked: None,
                no_checksum: None,
                problem: Some(reason),
            });
        }
        Ok(out)
    }

    /// Retention in the replica for this host's documents, then blob collection (unreferenced
    /// by any host and older than a day). Returns the document ids and blobs removed.
    ///
    /// # Errors
    /// When listing or deleting fails.
    pub async fn prune(
        &self,
        workspace: &str,
        host: &str,
        policy: super::retention::Policy,
    ) -> Result<(Vec<String>, Vec<String>), ReplicaError> {
        let (docs, _) = self.list(workspace).await?;
        let drop = replica::docs_to_prune(&docs, host, policy);
        for id in &drop {
            let key = self.path(&replica::snapshot_key(workspace, id));
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(format!("delete of {id}"))(e)),
            }
        }
        let kept: Vec<SnapshotDoc> = docs.into_iter().filter(|d| !drop.contains(&d.id)).collect();
        let blobs = self.blobs(workspace).await?;
        let gone = replica::blobs_to_delete(&blobs, &kept, Utc::now());
        for sha in &gone {
            let key = self.path(&replica::blob_key(workspace, sha));
            match self.store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(self.err(format!("delete of blob {sha}"))(e)),
            }
        }
        Ok((drop, gone))
    }
}

/// What [`Replica::check_blob`] found for one blob.
#[derive(Debug, Clone)]
struct BlobCheck {
    checked: Checked,
    no_checksum: Option<String>,
    problem: Option<String>,
}

/// A blob missing from the replica.
fn missing(sha: &str) -> BlobCheck {
    BlobCheck {
        checked: Checked::Missing,
        no_checksum: None,
        problem: Some(format!("its blob {} is missing", short(sha))),
    }
}

/// Why `bytes` are not the blob `doc` names (their hash differs); `None` when they are.
fn blob_problem(doc: &SnapshotDoc, bytes: &[u8]) -> Option<String> {
    let sha = snapshot::sha256_hex(bytes);
    (sha != doc.meta.sha256).then(|| {
        format!(
            "its blob hashes to {}, the document says {}",
            short(&sha),
            short(&doc.meta.sha256)
        )
    })
}

fn short(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}

/// Runs `f` with a replica on the calling thread (one-shot commands).
///
/// # Errors
/// As the operation, or when no runtime can be started.
pub fn run<T, F, Fut>(rep: &Replica, f: F) -> Result<T, ReplicaError>
where
    F: FnOnce(Replica) -> Fut,
    Fut: std::future::Future<Output = Result<T, ReplicaError>> + Send + 'static,
    T: Send + 'static,
{
    remote::block_on(f(rep.clone()))?
}

/// Which replica snapshot to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    Id(String),
    Latest,
}

/// `restore --from URL`: the chosen replica snapshot of `workspace`, checked, copied into the
/// local backups folder as a snapshot (reason `replica <url> <id>`). Returns the local id.
///
/// # Errors
/// `NotFound` / `Empty`, `Bad` when its blob fails its hash or the state is invalid.
pub fn import(
    cfg: &Config,
    url: &str,
    workspace: &str,
    pick: &Pick,
) -> Result<String, ReplicaError> {
    let rep = Replica::open(url)?;
    let ws = workspace.to_string();
    let pick2 = pick.clone();
    let (doc, bytes) = run(&rep, move |r| async move {
        let (docs, _) = r.list(&ws).await?;
        let mut cands: Vec<&SnapshotDoc> = match &pick2 {
            Pick::Id(id) => docs.iter().filter(|d| &d.id == id).collect(),
            Pick::Latest => docs.iter().rev().collect(),
        };
        if cands.is_empty() {
            return Err(match pick2 {
                Pick::Id(id) => ReplicaError::NotFound {
                    url: r.url.clone(),
                    workspace: ws,
                    id,
                },
                Pick::Latest => ReplicaError::Empty {
                    url: r.url.clone(),
                    workspace: ws,
                },
            });
        }
        let mut last_err = None;
        for d in cands.drain(..) {
            match r.fetch(d).await {
                Ok(b) if snapshot::hash_and_check(&b).1.is_ok() => return Ok((d.clone(), b)),
                Ok(_) => {
                    last_err = Some(ReplicaError::Bad {
                        url: r.url.clone(),
                        id: d.id.clone(),
                        reason: "its state is not valid".into(),
                    })
                }
                Err(e) => last_err = Some(e),
            }
            if matches!(pick2, Pick::Id(_)) {
                break;
            }
        }
        Err(last_err.unwrap_or(ReplicaError::Empty {
            url: r.url.clone(),
            workspace: ws,
        }))
    })?;
    let (sha256, info) = snapshot::hash_and_check(&bytes);
    let rs = snapshot::ReadState {
        bytes,
        sha256,
        info,
    };
    let reason = format!("replica {} {} (host {})", url, doc.id, doc.host);
    let _lock = snapshot::lock_backups(&cfg.state.backups)?;
    let opts = snapshot::TakeOptions::default();
    let t = snapshot::take_locked(cfg, rs, &reason, &opts)?.ok_or_else(|| {
        ReplicaError::Snapshot(snapshot::SnapshotError::StateChanged {
            path: cfg.state.backups.clone(),
        })
    })?;
    Ok(t.id)
}

// ---------------------------------------------------------------------------------------------
// Progress ledger and the background replicator

/// `.tfops/replication.json`: what each replica has of this workspace, and the last error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub workspace: String,
    pub replicas: Vec<ReplicaProgress>,
}

/// One replica in the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaProgress {
    pub url: String,
    /// Local snapshot ids already in the replica.
    pub done: Vec<String>,
    /// Valid local snapshots not replicated yet.
    pub pending: Vec<String>,
    pub last_ok_at: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

/// Where the ledger of `workspace` lives.
pub fn ledger_path(dot_tfops: &Path, workspace: &str) -> PathBuf {
    if workspace == super::backend::DEFAULT_WORKSPACE {
        dot_tfops.join("replication.json")
    } else {
        dot_tfops.join(format!("replication-{workspace}.json"))
    }
}

/// When the oldest valid snapshot of `snaps` that one of the replicas `urls` does not have yet
/// (by the ledger) was taken; `None` when every replica has every valid snapshot. This is what
/// the `replication_lag_seconds` metric ages.
pub fn oldest_unreplicated(
    snaps: &[Snapshot],
    ledger: &Ledger,
    urls: &[String],
) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    urls.iter()
        .filter_map(|u| {
            let done: BTreeSet<&str> = ledger
                .replicas
                .iter()
                .find(|r| &r.url == u)
                .map(|r| r.done.iter().map(String::as_str).collect())
                .unwrap_or_default();
            snaps
                .iter()
                .filter(|s| s.valid() && !done.contains(s.id.as_str()))
                .map(|s| s.taken_at)
                .min()
        })
        .min()
}

/// The `replication` member of `status --json` and `/api/status`: per replica of `workspace`,
/// what the ledger says was replicated and what is pending; `null` when no replica is set.
pub fn status(cfg: &Config, dot_tfops: &Path, workspace: &str) -> serde_json::Value {
    if cfg.state.replicate.is_empty() {
        return serde_json::Value::Null;
    }
    let l = read_ledger(&ledger_path(dot_tfops, workspace));
    serde_json::json!({
        "workspace": workspace,
        "replicas": cfg.state.replicate.iter().map(|u| {
            let p = l.replicas.iter().find(|r| &r.url == u);
            serde_json::json!({
                "url": u,
                "replicated": p.map(|p| p.done.len()).unwrap_or(0),
                "pending": p.map(|p| p.pending.clone()).unwrap_or_default(),
                "last_ok_at": p.and_then(|p| p.last_ok_at.clone()),
                "last_error": p.and_then(|p| p.last_error.clone()),
                "last_error_at": p.and_then(|p| p.last_error_at.clone()),
            })
        }).collect::<Vec<_>>(),
    })
}

/// Reads a ledger; a missing or unreadable one is empty.
pub fn read_ledger(path: &Path) -> Ledger {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_ledger(path: &Path, l: &Ledger) {
    let Ok(mut b) = serde_json::to_vec_pretty(l) else {
        return;
    };
    b.push(b'\n');
    if let Some(d) = path.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    if let Err(e) = fsutil::write_atomic(path, &b, 0o600, false) {
        log::warn!("cannot write {}: {e}", path.display());
    }
}

/// Uploads every valid local snapshot of `cfg`'s backups folder that the ledger does not list
/// yet to each replica (oldest first), then applies retention there. Updates the ledger
/// after each upload. Returns the number uploaded; errors are recorded per replica.
pub async fn sync_all(cfg: &Config, workspace: &str, ledger_file: &Path, host: &str) -> usize {
    let mut ledger = read_ledger(ledger_file);
    if ledger.workspace != workspace {
        ledger = Ledger {
            workspace: workspace.to_string(),
            replicas: Vec::new(),
        };
    }
    ledger
        .replicas
        .retain(|r| cfg.state.replicate.contains(&r.url));
    let local = match snapshot::list_quick(&cfg.state.backups) {
        Ok(l) => l,
        Err(e) => {
            log::warn!("replication: {e}");
            return 0;
        }
    };
    let local_ids: BTreeSet<&str> = local.iter().map(|s| s.id.as_str()).collect();
    let mut uploaded = 0;
    for url in &cfg.state.replicate {
        if !ledger.replicas.iter().any(|r| &r.url == url) {
            ledger.replicas.push(ReplicaProgress {
                url: url.clone(),
                ..Default::default()
            });
        }
        let idx = ledger
            .replicas
            .iter()
            .position(|r| &r.url == url)
            .unwrap_or(0);
        ledger.replicas[idx]
            .done
            .retain(|d| local_ids.contains(d.as_str()));
        let pending: Vec<&Snapshot> = local
            .iter()
            .filter(|s| s.valid() && !ledger.replicas[idx].done.contains(&s.id))
            .collect();
        ledger.replicas[idx].pending = pending.iter().map(|s| s.id.clone()).collect();
        if pending.is_empty() {
            continue;
        }
        let rep = match Replica::open(url) {
            Ok(r) => r,
            Err(e) => {
                record_error(&mut ledger.replicas[idx], &e);
                write_ledger(ledger_file, &ledger);
                continue;
            }
        };
        let mut failed = false;
        for s in pending {
            match rep.upload(workspace, s, host).await {
                Ok(rid) => {
                    log::info!("replicated snapshot {} to {url} as {rid}", s.id);
                    let p = &mut ledger.replicas[idx];
                    p.done.push(s.id.clone());
                    p.pending.retain(|x| x != &s.id);
                    p.last_ok_at = Some(fsutil::json_ts(Local::now()));
                    p.last_error = None;
                    p.last_error_at = None;
                    uploaded += 1;
                    write_ledger(ledger_file, &ledger);
                }
                Err(ReplicaError::Snapshot(e)) => {
                    // A local snapshot that fails its check is not copied; verify reports it.
                    log::warn!("replication to {url}: skipping snapshot {}: {e}", s.id);
                    ledger.replicas[idx].pending.retain(|x| x != &s.id);
                }
                Err(e) => {
                    log::warn!("replication to {url} failed (will retry): {e}");
                    record_error(&mut ledger.replicas[idx], &e);
                    write_ledger(ledger_file, &ledger);
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            match rep.prune(workspace, host, snapshot::policy(cfg)).await {
                Ok((docs, blobs)) => {
                    if !docs.is_empty() || !blobs.is_empty() {
                        log::info!(
                            "replica {url}: retention removed {} snapshots, {} blobs",
                            docs.len(),
                            blobs.len()
                        );
                    }
                }
                Err(e) => log::warn!("replica {url}: retention failed: {e}"),
            }
        }
    }
    write_ledger(ledger_file, &ledger);
    uploaded
}

fn record_error(p: &mut ReplicaProgress, e: &ReplicaError) {
    p.last_error = Some(e.to_string());
    p.last_error_at = Some(fsutil::json_ts(Local::now()));
}

/// Whether the ledger still lists pending snapshots or an error.
fn behind(ledger_file: &Path) -> bool {
    read_ledger(ledger_file)
        .replicas
        .iter()
        .any(|r| !r.pending.is_empty() || r.last_error.is_some())
}

enum Msg {
    Kick,
    Reconfigure(Box<Config>),
    Stop,
}

/// The background replicator: its own thread and runtime; kicked after each snapshot, and
/// every minute anyway; after a failure it retries with backoff (1 s doubling to 60 s).
#[derive(Debug)]
pub struct Replicator {
    tx: mpsc::Sender<Msg>,
}

impl Replicator {
    /// Starts the thread for `cfg` (already pointing at the workspace's backups folder).
    ///
    /// # Errors
    /// When the thread or its runtime cannot be started.
    pub fn start(
        cfg: Config,
        workspace: String,
        ledger_file: PathBuf,
    ) -> Result<Replicator, ReplicaError> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ReplicaError::Remote(RemoteError::Runtime(e.to_string())))?;
        std::thread::Builder::new()
            .name("tfops-replicator".into())
            .spawn(move || {
                let host = replica::host_name();
                let mut cfg = cfg;
                let idle = Duration::from_secs(60);
                let mut wait = Duration::ZERO;
                let mut backoff = Duration::from_secs(1);
                loop {
                    match rx.recv_timeout(wait) {
                        Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        Ok(Msg::Reconfigure(c)) => cfg = *c,
                        Ok(Msg::Kick) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                    }
                    // Coalesce a burst of kicks.
                    while let Ok(m) = rx.try_recv() {
                        match m {
                            Msg::Stop => return,
                            Msg::Reconfigure(c) => cfg = *c,
                            Msg::Kick => {}
                        }
                    }
                    if cfg.state.replicate.is_empty() {
                        wait = idle;
                        continue;
                    }
                    rt.block_on(sync_all(&cfg, &workspace, &ledger_file, &host));
                    if behind(&ledger_file) {
                        wait = backoff;
                        backoff = (backoff * 2).min(idle);
                    } else {
                        wait = idle;
                        backoff = Duration::from_secs(1);
                    }
                }
            })
            .map_err(|source| ReplicaError::Io {
                path: PathBuf::from("tfops-replicator thread"),
                source,
            })?;
        Ok(Replicator { tx })
    }

    /// A snapshot was taken: replicate soon.
    pub fn kick(&self) {
        let _ = self.tx.send(Msg::Kick);
    }

    /// New settings (after a reload).
    pub fn reconfigure(&self, cfg: Config) {
        let _ = self.tx.send(Msg::Reconfigure(Box::new(cfg)));
    }

    /// Stops the thread after the current upload.
    pub fn stop(&self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(serial: u64) -> String {
        format!(
            r#"{{"version":4,"terraform_version":"1.11.4","serial":{serial},"lineage":"lin","outputs":{{}},"resources":[]}}"#
        )
    }

    #[test]
    fn oldest_unreplicated_is_the_oldest_snapshot_any_replica_lacks() {
        let ws = tempfile::tempdir().unwrap();
        let mut cfg = Config::defaults(ws.path());
        std::fs::create_dir_all(ws.path().join("iac")).unwrap();
        for s in 1..=3 {
            std::fs::write(&cfg.state.path, state(s)).unwrap();
            snapshot::take(&cfg, "test").unwrap();
        }
        let snaps = snapshot::list(&cfg.state.backups).unwrap();
        assert_eq!(snaps.len(), 3);
        let ids: Vec<String> = snaps.iter().map(|s| s.id.clone()).collect();
        let (a, b) = ("file:///a".to_string(), "file:///b".to_string());
        cfg.state.replicate = vec![a.clone(), b.clone()];
        let progress = |url: &str, done: &[String]| ReplicaProgress {
            url: url.into(),
            done: done.to_vec(),
            ..ReplicaProgress::default()
        };
        // Both replicas have everything: nothing pending.
        let all = Ledger {
            workspace: "default".into(),
            replicas: vec![progress(&a, &ids), progress(&b, &ids)],
        };
        assert_eq!(
            oldest_unreplicated(&snaps, &all, &cfg.state.replicate),
            None
        );
        // `b` lacks the two newest: the older of those is the answer.
        let partial = Ledger {
            workspace: "default".into(),
            replicas: vec![progress(&a, &ids), progress(&b, &ids[..1])],
        };
        assert_eq!(
            oldest_unreplicated(&snaps, &partial, &cfg.state.replicate),
            Some(snaps[1].taken_at)
        );
        // A replica the ledger has never heard of lacks everything.
        assert_eq!(
            oldest_unreplicated(&snaps, &Ledger::default(), &cfg.state.replicate),
            Some(snaps[0].taken_at)
        );
        // No replica configured: nothing is pending.
        assert_eq!(oldest_unreplicated(&snaps, &Ledger::default(), &[]), None);
    }

    /// The store's own errors may quote a whole answer and a URL: shown bounded, without
    /// user information or query.
    #[test]
    fn store_errors_are_shown_bounded_and_without_credentials() {
        let quoted = format!(
            "Error performing GET http://AKIAUSER:s3cr3t@127.0.0.1:9/b/k?X-Amz-Signature=5ig - Server returned non-2xx status code: 403 Forbidden: {}",
            "<Error>".repeat(100_000)
        );
        let source = || {
            Box::new(object_store::Error::Generic {
                store: "S3",
                source: quoted.clone().into(),
            })
        };
        let texts = [
            ReplicaError::Store {
                url: "s3://b/p".into(),
                what: "read of blob".into(),
                source: source(),
            }
            .to_string(),
            RemoteError::Store {
                url: "s3://b/k".into(),
                source: source(),
            }
            .to_string(),
        ];
        for t in texts {
            assert!(
                t.len() < 2 * s3_checksum::SHOWN_ERROR_LIMIT,
                "{} bytes",
                t.len()
            );
            assert!(!t.contains("s3cr3t") && !t.contains("5ig"), "{t}");
            assert!(t.contains("GET http://127.0.0.1:9/b/k?…"), "{t}");
        }
    }

    #[test]
    fn file_replica_upload_list_verify_import_and_idempotence() {
        let ws = tempfile::tempdir().unwrap();
        let rep_dir = tempfile::tempdir().unwrap();
        let url = format!("file://{}/r", rep_dir.path().display());
        let mut cfg = Config::defaults(ws.path());
        cfg.state.replicate = vec![url.clone()];
        std::fs::create_dir_all(ws.path().join("iac")).unwrap();
        for s in 1..=2 {
            std::fs::write(&cfg.state.path, state(s)).unwrap();
            snapshot::take(&cfg, "test").unwrap();
        }
        let ledger = ws.path().join(".tfops/replication.json");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(rt.block_on(sync_all(&cfg, "default", &ledger, "h1")), 2);
        // Nothing new: nothing uploaded again.
        assert_eq!(rt.block_on(sync_all(&cfg, "default", &ledger, "h1")), 0);
        let l = read_ledger(&ledger);
        assert_eq!(l.replicas[0].done.len(), 2);
        assert!(l.replicas[0].pending.is_empty());
        let rep = Replica::open(&url).unwrap();
        let (docs, bad) = rt.block_on(rep.list("default")).unwrap();
        assert_eq!(docs.len(), 2);
        assert!(bad.is_empty());
        let v = rt.block_on(rep.verify("default")).unwrap();
        assert!(v.iter().all(|x| x.problem.is_none()), "{v:?}");
        assert!(
            v.iter().all(|x| x.checked == Some(Checked::Read)),
            "a file replica keeps no checksum: its blobs are read: {v:?}"
        );
        // A second host with the same local ids gets suffixed ids, never overwriting.
        let local = snapshot::list(&cfg.state.backups).unwrap();
        let rid = rt.block_on(rep.upload("default", &local[0], "h2")).unwrap();
        assert_eq!(rid, format!("{}_h2", local[0].id));
        // The same host again: the existing document is reused.
        let rid = rt.block_on(rep.upload("default", &local[0], "h1")).unwrap();
        assert_eq!(rid, local[0].id);
        // A damaged blob is named by verify.
        let blob = rep_dir
            .path()
            .join("r/default/blobs")
            .join(&docs[1].meta.sha256);
        std::fs::write(&blob, b"garbage").unwrap();
        let v = rt.block_on(rep.verify("default")).unwrap();
        let badv: Vec<_> = v.iter().filter(|x| x.problem.is_some()).collect();
        assert_eq!(badv.len(), 1, "{v:?}");
        assert_eq!(badv[0].id, docs[1].id);
        assert_eq!(badv[0].checked, Some(Checked::Read));
        // A blob gone from the folder is missing, not read.
        let damaged = std::fs::read(&blob).unwrap();
        std::fs::remove_file(&blob).unwrap();
        let v = rt.block_on(rep.verify("default")).unwrap();
        let badv: Vec<_> = v.iter().filter(|x| x.problem.is_some()).collect();
        assert_eq!(badv.len(), 1, "{v:?}");
        assert_eq!(badv[0].checked, Some(Checked::Missing), "{v:?}");
        assert!(badv[0].problem.as_ref().unwrap().contains("is missing"));
        std::fs::write(&blob, damaged).unwrap();
        // Retention applies in the replica: keep_last 1 keeps this host's newest document only
        // (and the other host's document stays).
        let (gone, _) = rt
            .block_on(rep.prune(
                "default",
                "h1",
                super::super::retention::Policy {
                    keep_last: 1,
                    keep_daily: 0,
                    keep_weekly: 0,
                    keep_monthly: 0,
                },
            ))
            .unwrap();
        assert_eq!(gone, vec![docs[0].id.clone()]);
        let (left, _) = rt.block_on(rep.list("default")).unwrap();
        let mut hosts: Vec<&str> = left.iter().map(|d| d.host.as_str()).collect();
        hosts.sort();
        assert_eq!(hosts, vec!["h1", "h2"]);
        drop(rt);
        // Import picks the newest good one (skipping the damaged newest).
        std::fs::remove_dir_all(&cfg.state.backups).unwrap();
        let id = import(&cfg, &url, "default", &Pick::Latest).unwrap();
        let snaps = snapshot::list(&cfg.state.backups).unwrap();
        assert_eq!(snaps.len(), 1);
        assert_eq!(snaps[0].id, id);
        assert_eq!(snaps[0].meta.as_ref().unwrap().serial, 1);
    }
}
