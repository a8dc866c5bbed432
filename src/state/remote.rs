//! Remote state: the object a `backend "s3"` names, with every local guarantee.
//!
//! [`RemoteState`] reads the object (bytes, ETag, version id), polls its ETag, reads
//! Terraform's lock object (`<key>.tflock`, written with `use_lockfile`) and writes by
//! conditional put only: `If-Match` on the ETag that was previewed, or `If-None-Match: *` when
//! the object was gone, so a concurrent writer is never clobbered. On top of it: [`backup`]
//! (pull into the local snapshot format, meta recording source, ETag and version id),
//! [`prepare_restore`] / [`apply_restore`], [`auto_restore`] and [`scan`] (what the
//! StateKeeperActor's poll sees).
//!
//! The store is reached through `object_store` (async); [`block_on`] runs its futures from
//! synchronous code: on a current-thread runtime in one-shot commands, and on a small helper
//! runtime thread when called from inside the daemon's runtime (never on an actor thread).
//! Credentials come from the standard AWS environment variables (`AWS_ACCESS_KEY_ID`,
//! `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), else from a profile of the shared
//! credentials and config files (`aws_profile`); they are handed to the client and never
//! printed, logged or stored. Without any, requests go unsigned (no instance-metadata lookup).

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use chrono::Local;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use object_store::{
    ClientOptions, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig, UpdateVersion,
};

use super::aws_profile::{self, Credentials, ProfileError, ProfileSettings, Source};
use super::backend::S3Backend;
use super::model::{Invalid, StateInfo};
use super::preview::{self, Preview};
use super::restore::{Current, Target};
use super::snapshot::{self, Origin, ReadState, Snapshot, SnapshotError, TakeOptions, Taken};
use super::tflock::LockInfo;
use crate::config::Config;
use crate::fsutil;

/// Errors of remote state operations. Messages name the `s3://` URL, never credentials.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("{url}: {}", super::s3_checksum::shown(&source.to_string()))]
    Store {
        url: String,
        source: Box<object_store::Error>,
    },
    #[error("AWS credentials: {0}")]
    Profile(#[from] ProfileError),
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(String),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("the state {url} does not exist")]
    Missing { url: String },
    #[error("the state {url} is {reason}")]
    Invalid { url: String, reason: Invalid },
    #[error("there is no valid snapshot in {}", dir.display())]
    NoValidSnapshot { dir: std::path::PathBuf },
    #[error("snapshot {id} has lineage {snapshot} but the state {url} has lineage {current}")]
    LineageMismatch {
        id: String,
        snapshot: String,
        current: String,
        url: String,
    },
    #[error("Terraform holds the state {url} (lock object {lock_url}: {holder})")]
    Locked {
        url: String,
        lock_url: String,
        holder: String,
    },
    #[error(
        "the state {url} is locked through the DynamoDB table {table:?}, which tfops cannot see"
    )]
    LockInvisible { url: String, table: String },
    #[error("the state {url} changed since the preview (the conditional put was refused)")]
    ChangedSincePreview { url: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

fn store_err(url: &str) -> impl FnOnce(object_store::Error) -> RemoteError + '_ {
    move |e| RemoteError::Store {
        url: url.to_string(),
        source: Box::new(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Running async code from sync code

/// The helper runtime's handle (a current-thread runtime driven by its own thread).
fn helper() -> Result<&'static tokio::runtime::Handle, RemoteError> {
    static HELPER: OnceLock<Result<tokio::runtime::Handle, String>> = OnceLock::new();
    HELPER
        .get_or_init(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let handle = rt.handle().clone();
            std::thread::Builder::new()
                .name("tfops-remote-io".into())
                .spawn(move || rt.block_on(std::future::pending::<()>()))
                .map_err(|e| e.to_string())?;
            Ok(handle)
        })
        .as_ref()
        .map_err(|e| RemoteError::Runtime(e.clone()))
}

/// Runs `fut` to completion from synchronous code: on a fresh current-thread runtime when the
/// caller is outside any runtime (one-shot commands), else on the helper runtime thread while
/// the caller (a blocking-pool thread of the daemon) waits.
///
/// # Errors
/// [`RemoteError::Runtime`] when no runtime can be started.
pub fn block_on<F>(fut: F) -> Result<F::Output, RemoteError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if tokio::runtime::Handle::try_current().is_err() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| RemoteError::Runtime(e.to_string()))?;
        return Ok(rt.block_on(fut));
    }
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    helper()?.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv()
        .map_err(|_| RemoteError::Runtime("the I/O task was dropped".into()))
}

// ---------------------------------------------------------------------------------------------
// The store

/// Client settings shared by the state and S3 replicas: short connect timeout, a few retries,
/// so that a store that is down fails a command in seconds rather than minutes.
pub(crate) fn client_options() -> (ClientOptions, RetryConfig) {
    let opts = ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(300))
        .with_allow_http(true);
    let retry = RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(20),
        ..RetryConfig::default()
    };
    (opts, retry)
}

/// How to reach one bucket: its region, endpoint and credentials, resolved once.
#[derive(Debug, Clone)]
pub(crate) struct S3Access {
    pub bucket: String,
    pub region: String,
    pub endpoint: Option<String>,
    pub credentials: Option<Credentials>,
}

impl S3Access {
    /// Region: `region` (the backend's), else `AWS_REGION`, `AWS_DEFAULT_REGION`, the
    /// profile's `region`, `us-east-1`. Endpoint: `endpoint`, else `AWS_ENDPOINT_URL_S3`,
    /// `AWS_ENDPOINT_URL` (none: AWS). Credentials: see [`aws_profile`].
    ///
    /// # Errors
    /// As [`aws_profile::resolve`] (a named profile that is missing, a malformed file…).
    pub fn resolve(
        bucket: &str,
        region: Option<&str>,
        endpoint: Option<&str>,
        profile: &ProfileSettings,
    ) -> Result<S3Access, ProfileError> {
        Self::resolve_in(bucket, region, endpoint, profile, &|k| {
            std::env::var(k).ok()
        })
    }

    /// [`S3Access::resolve`] with `env` for the environment.
    ///
    /// # Errors
    /// As [`aws_profile::resolve`].
    pub fn resolve_in(
        bucket: &str,
        region: Option<&str>,
        endpoint: Option<&str>,
        profile: &ProfileSettings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<S3Access, ProfileError> {
        let env = |k: &str| env(k).filter(|v| !v.is_empty());
        let found = aws_profile::resolve(profile, &env)?;
        match &found.source {
            Source::Environment => {
                log::debug!("s3://{bucket}: credentials from the environment")
            }
            Source::Profile { name, file } => log::debug!(
                "s3://{bucket}: credentials from the AWS profile {name:?} in {}",
                file.display()
            ),
            Source::None => {
                log::debug!("s3://{bucket}: no AWS credentials found: requests go unsigned")
            }
        }
        let region = region
            .map(str::to_string)
            .or_else(|| env("AWS_REGION"))
            .or_else(|| env("AWS_DEFAULT_REGION"))
            .or(found.region)
            .unwrap_or_else(|| "us-east-1".to_string());
        let endpoint = endpoint
            .map(str::to_string)
            .or_else(|| env("AWS_ENDPOINT_URL_S3"))
            .or_else(|| env("AWS_ENDPOINT_URL"));
        Ok(S3Access {
            bucket: bucket.to_string(),
            region,
            endpoint,
            credentials: found.credentials,
        })
    }

    /// The bucket's base URL, path-style: `<endpoint>/<bucket>` (AWS's regional endpoint when
    /// none is set).
    pub fn bucket_url(&self) -> String {
        match &self.endpoint {
            Some(e) => format!("{}/{}", e.trim_end_matches('/'), self.bucket),
            None => format!("https://s3.{}.amazonaws.com/{}", self.region, self.bucket),
        }
    }

    /// An S3 client, path-style; `checksum`: uploads carry their SHA-256 checksum, which S3
    /// checks and keeps.
    ///
    /// # Errors
    /// When the client cannot be built (a malformed endpoint URL).
    pub fn store(&self, checksum: bool) -> Result<AmazonS3, object_store::Error> {
        let (opts, retry) = client_options();
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&self.bucket)
            .with_client_options(opts)
            .with_retry(retry)
            .with_virtual_hosted_style_request(false)
            .with_region(&self.region);
        if let Some(e) = &self.endpoint {
            b = b.with_endpoint(e);
        }
        match &self.credentials {
            Some(c) => {
                b = b
                    .with_access_key_id(&c.key_id)
                    .with_secret_access_key(&c.secret_key);
                if let Some(t) = &c.token {
                    b = b.with_token(t);
                }
            }
            None => b = b.with_skip_signature(true),
        }
        if checksum {
            b = b.with_checksum_algorithm(object_store::aws::Checksum::SHA256);
        }
        b.build()
    }
}

/// A workspace's state object in an S3 bucket.
#[derive(Debug, Clone)]
pub struct RemoteState {
    store: Arc<AmazonS3>,
    key: ObjPath,
    lock_key: ObjPath,
    url: String,
    lock_url: String,
    use_lockfile: bool,
    dynamodb_table: Option<String>,
}

/// The object as read.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
}

/// What a conditional put expects to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The object with this ETag (`If-Match`).
    Etag(String),
    /// No object (`If-None-Match: *`).
    Absent,
}

impl RemoteState {
    /// The state of `workspace` in `backend`.
    ///
    /// # Errors
    /// When the client cannot be built.
    pub fn new(backend: &S3Backend, workspace: &str) -> Result<RemoteState, RemoteError> {
        let url = backend.url(workspace);
        let access = S3Access::resolve(
            &backend.bucket,
            backend.region.as_deref(),
            backend.endpoint.as_deref(),
            &backend.profile,
        )?;
        let store = access.store(false).map_err(store_err(&url))?;
        let lock_key = backend.lock_key(workspace);
        Ok(RemoteState {
            store: Arc::new(store),
            key: ObjPath::from(backend.object_key(workspace)),
            lock_url: format!("s3://{}/{lock_key}", backend.bucket),
            lock_key: ObjPath::from(lock_key),
            url,
            use_lockfile: backend.use_lockfile,
            dynamodb_table: backend.dynamodb_table.clone(),
        })
    }

    /// `s3://bucket/key`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The object's ETag; `None` when it does not exist.
    ///
    /// # Errors
    /// When the store cannot be asked.
    pub fn etag(&self) -> Result<Option<String>, RemoteError> {
        let (store, key) = (self.store.clone(), self.key.clone());
        match block_on(async move { store.head(&key).await })? {
            Ok(m) => Ok(Some(m.e_tag.unwrap_or_default())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_err(&self.url)(e)),
        }
    }

    /// The object; `None` when it does not exist.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn get(&self) -> Result<Option<Fetched>, RemoteError> {
        let (store, key) = (self.store.clone(), self.key.clone());
        let res = block_on(async move {
            let r = store.get(&key).await?;
            let meta = r.meta.clone();
            let bytes = r.bytes().await?;
            Ok::<_, object_store::Error>((meta, bytes))
        })?;
        match res {
            Ok((meta, bytes)) => Ok(Some(Fetched {
                bytes: bytes.to_vec(),
                etag: meta.e_tag,
                version_id: meta.version,
            })),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_err(&self.url)(e)),
        }
    }

    /// Who holds Terraform's lock object, when it exists (`use_lockfile`); `None` when free or
    /// when the backend does not use a lock file.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub fn lock_holder(&self) -> Result<Option<String>, RemoteError> {
        if !self.use_lockfile {
            return Ok(None);
        }
        let (store, key) = (self.store.clone(), self.lock_key.clone());
        let res = block_on(async move {
            let r = store.get(&key).await?;
            r.bytes().await
        })?;
        match res {
            Ok(bytes) => Ok(Some(describe_lock(&bytes))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_err(&self.lock_url)(e)),
        }
    }

    /// Refuses (unless `force`) while Terraform's lock is held, or when the only lock is a
    /// DynamoDB table tfops cannot see.
    ///
    /// # Errors
    /// [`RemoteError::Locked`] naming the holder, [`RemoteError::LockInvisible`].
    pub fn check_unlocked(&self, force: bool) -> Result<Option<String>, RemoteError> {
        let holder = self.lock_holder()?;
        if force {
            return Ok(holder);
        }
        if let Some(h) = holder {
            return Err(RemoteError::Locked {
                url: self.url.clone(),
                lock_url: self.lock_url.clone(),
                holder: h,
            });
        }
        if !self.use_lockfile {
            if let Some(t) = &self.dynamodb_table {
                return Err(RemoteError::LockInvisible {
                    url: self.url.clone(),
                    table: t.clone(),
                });
            }
        }
        Ok(None)
    }

    /// Writes `bytes` only if the object is still as `expect` says.
    ///
    /// # Errors
    /// [`RemoteError::ChangedSincePreview`] when the precondition fails; `Store` otherwise.
    pub fn put_if(&self, bytes: Vec<u8>, expect: &Expect) -> Result<Option<String>, RemoteError> {
        let mode = match expect {
            Expect::Etag(e) => PutMode::Update(UpdateVersion {
                e_tag: Some(e.clone()),
                version: None,
            }),
            Expect::Absent => PutMode::Create,
        };
        let (store, key) = (self.store.clone(), self.key.clone());
        let res = block_on(async move {
            store
                .put_opts(
                    &key,
                    PutPayload::from(bytes),
                    PutOptions {
                        mode,
                        ..PutOptions::default()
                    },
                )
                .await
        })?;
        match res {
            Ok(r) => Ok(r.e_tag),
            Err(
                object_store::Error::Precondition { .. }
                | object_store::Error::AlreadyExists { .. },
            ) => Err(RemoteError::ChangedSincePreview {
                url: self.url.clone(),
            }),
            Err(e) => Err(store_err(&self.url)(e)),
        }
    }
}

/// One line about a lock object's holder, from Terraform's lock info JSON.
pub fn describe_lock(bytes: &[u8]) -> String {
    match serde_json::from_slice::<LockInfo>(bytes) {
        Ok(l) if !l.who.is_empty() => format!(
            "held by {}{}{}",
            l.who,
            if l.operation.is_empty() {
                String::new()
            } else {
                format!(" for {}", l.operation)
            },
            if l.created.is_empty() {
                String::new()
            } else {
                format!(" since {}", l.created)
            }
        ),
        _ => "held (the lock object names no holder)".to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Backup, scan, restore

fn origin(remote: &RemoteState, f: &Fetched) -> Origin {
    Origin {
        source: remote.url.clone(),
        etag: f.etag.clone(),
        version_id: f.version_id.clone(),
    }
}

fn read_state(f: &Fetched) -> ReadState {
    let (sha256, info) = snapshot::hash_and_check(&f.bytes);
    ReadState {
        bytes: f.bytes.clone(),
        sha256,
        info,
    }
}

/// `tfops backup` on remote state: pulls the object into a local snapshot (`cfg` already
/// pointing at the workspace's backups folder).
///
/// # Errors
/// `Missing` / `Invalid` for a lost state, `Store`, `Snapshot`.
pub fn backup(cfg: &Config, remote: &RemoteState, reason: &str) -> Result<Taken, RemoteError> {
    let f = remote.get()?.ok_or_else(|| RemoteError::Missing {
        url: remote.url.clone(),
    })?;
    let rs = read_state(&f);
    if let Err(reason) = &rs.info {
        return Err(RemoteError::Invalid {
            url: remote.url.clone(),
            reason: reason.clone(),
        });
    }
    let o = origin(remote, &f);
    let opts = TakeOptions {
        only_if_changed: false,
        progress: None,
        origin: Some(&o),
    };
    let _lock = snapshot::lock_backups(&cfg.state.backups)?;
    snapshot::take_locked(cfg, rs, reason, &opts)?.ok_or_else(|| {
        RemoteError::Snapshot(SnapshotError::StateChanged {
            path: cfg.state.backups.clone(),
        })
    })
}

/// What one poll of the remote state found.
#[derive(Debug)]
pub struct Scanned {
    /// `None`: nothing could be seen (the store is unreachable; see `error`).
    pub seen: Option<super::guard::Seen>,
    pub etag: Option<String>,
    pub taken: Option<Taken>,
    pub error: Option<String>,
}

/// One poll: the lock object, the ETag, and (when the ETag changed, or `force`) the object
/// itself, snapshotted when valid and different from the newest snapshot.
/// `last` is the ETag and verdict of the previous poll.
pub fn scan(
    cfg: &Config,
    remote: &RemoteState,
    last: Option<(&str, &super::guard::Seen)>,
    reason: &str,
    force: bool,
) -> Scanned {
    use super::guard::Seen;
    let fail = |e: RemoteError| Scanned {
        seen: None,
        etag: last.map(|l| l.0.to_string()),
        taken: None,
        error: Some(e.to_string()),
    };
    let held = match remote.lock_holder() {
        Ok(h) => h.is_some(),
        Err(e) => return fail(e),
    };
    let etag = match remote.etag() {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let Some(etag) = etag else {
        return Scanned {
            seen: Some(if held {
                Seen::Held
            } else {
                Seen::Bad("missing".into())
            }),
            etag: None,
            taken: None,
            error: None,
        };
    };
    if !force {
        if let Some((le, ls)) = last {
            if le == etag {
                let seen = if held && *ls != Seen::Valid {
                    Seen::Held
                } else {
                    ls.clone()
                };
                return Scanned {
                    seen: Some(seen),
                    etag: Some(etag),
                    taken: None,
                    error: None,
                };
            }
        }
    }
    let f = match remote.get() {
        Ok(Some(f)) => f,
        Ok(None) => {
            return Scanned {
                seen: Some(Seen::Bad("missing".into())),
                etag: None,
                taken: None,
                error: None,
            }
        }
        Err(e) => return fail(e),
    };
    let etag = f.etag.clone();
    let rs = read_state(&f);
    let seen = match &rs.info {
        Ok(_) => Seen::Valid,
        Err(Invalid::Empty) => Seen::Bad("empty".into()),
        Err(i) => Seen::Bad(format!("invalid ({i})")),
    };
    if seen != Seen::Valid {
        return Scanned {
            seen: Some(if held { Seen::Held } else { seen }),
            etag,
            taken: None,
            error: None,
        };
    }
    let o = origin(remote, &f);
    let opts = TakeOptions {
        only_if_changed: !force,
        progress: None,
        origin: Some(&o),
    };
    let taken = snapshot::lock_backups(&cfg.state.backups)
        .and_then(|_l| snapshot::take_locked(cfg, rs, reason, &opts));
    match taken {
        Ok(t) => Scanned {
            seen: Some(if held { Seen::Held } else { seen }),
            etag,
            taken: t,
            error: None,
        },
        Err(e) => Scanned {
            seen: Some(seen),
            etag: None,
            taken: None,
            error: Some(format!("snapshot failed: {e}")),
        },
    }
}

/// The remote object as found before a restore, with the precondition for the put.
#[derive(Debug, Clone)]
pub struct RemotePlan {
    pub snapshot: Snapshot,
    pub info: StateInfo,
    pub current: Current,
    pub preview: Preview,
    pub expect: Expect,
    /// The lock holder when `--force` overrode it.
    pub lock_forced: Option<String>,
    pub url: String,
    bytes: Vec<u8>,
    current_fetched: Option<Fetched>,
}

/// What a remote restore did.
#[derive(Debug, Clone)]
pub struct RemoteRestored {
    pub id: String,
    pub url: String,
    pub pre_snapshot: Option<String>,
    /// Where the bad remote bytes were kept locally (0600).
    pub corrupt_kept: Option<std::path::PathBuf>,
    pub serial: u64,
    pub etag: Option<String>,
}

/// Resolves the snapshot (from the local backups folder of the workspace), checks the lock
/// and the lineage, reads the object and builds the preview.
///
/// # Errors
/// As [`crate::state::restore::prepare`], with `Locked` / `LockInvisible` for Terraform's
/// lock.
pub fn prepare_restore(
    cfg: &Config,
    remote: &RemoteState,
    target: &Target,
    force: bool,
) -> Result<RemotePlan, RemoteError> {
    let backups = &cfg.state.backups;
    let (snap, bytes, info) =
        super::restore::choose(backups, target)?.ok_or_else(|| RemoteError::NoValidSnapshot {
            dir: backups.clone(),
        })?;
    let lock_forced = remote.check_unlocked(force)?;
    let fetched = remote.get()?;
    let (current, expect) = match &fetched {
        None => (Current::Missing, Expect::Absent),
        Some(f) => {
            let (sha256, inf) = snapshot::hash_and_check(&f.bytes);
            let cur = match inf {
                Ok(i) => Current::Valid { info: i, sha256 },
                Err(reason) => Current::Invalid { reason, sha256 },
            };
            (cur, Expect::Etag(f.etag.clone().unwrap_or_default()))
        }
    };
    if let Current::Valid { info: ci, .. } = &current {
        if ci.lineage != info.lineage && !force {
            return Err(RemoteError::LineageMismatch {
                id: snap.id.clone(),
                snapshot: info.lineage.clone(),
                current: ci.lineage.clone(),
                url: remote.url.clone(),
            });
        }
    }
    let cur_bytes = match (&current, &fetched) {
        (Current::Valid { .. }, Some(f)) => Some(f.bytes.as_slice()),
        _ => None,
    };
    let preview = preview::preview(
        cur_bytes,
        &bytes,
        (
            &format!("{} (live)", remote.url),
            &format!("{}/{}", snap.id, snapshot::STATE_FILE),
        ),
    );
    Ok(RemotePlan {
        snapshot: snap,
        info,
        current,
        preview,
        expect,
        lock_forced,
        url: remote.url.clone(),
        bytes,
        current_fetched: fetched,
    })
}

/// Applies a prepared remote restore: rechecks the lock, keeps the live object (a snapshot when
/// valid, the bytes in `backups/…/terraform.tfstate.corrupt-<ts>` when not), then puts the
/// snapshot with the precondition of the preview.
///
/// # Errors
/// `ChangedSincePreview` when another writer got there first (nothing is overwritten),
/// `Locked`, `Store`, `Snapshot`, `Io`.
pub fn apply_restore(
    cfg: &Config,
    remote: &RemoteState,
    plan: &RemotePlan,
    force: bool,
) -> Result<RemoteRestored, RemoteError> {
    remote.check_unlocked(force)?;
    let mut pre_snapshot = None;
    let mut corrupt_kept = None;
    if let Some(f) = &plan.current_fetched {
        let _lock = snapshot::lock_backups(&cfg.state.backups)?;
        let rs = read_state(f);
        if rs.info.is_ok() {
            let o = origin(remote, f);
            let opts = TakeOptions {
                only_if_changed: false,
                progress: None,
                origin: Some(&o),
            };
            if let Some(t) = snapshot::take_locked(cfg, rs, "pre-restore", &opts)? {
                pre_snapshot = Some(t.id);
            }
        } else {
            let p = cfg.state.backups.join(format!(
                "terraform.tfstate.corrupt-{}",
                fsutil::name_ts(Local::now())
            ));
            fsutil::write_atomic(&p, &f.bytes, 0o600, true).map_err(|source| RemoteError::Io {
                path: p.clone(),
                source,
            })?;
            corrupt_kept = Some(p);
        }
    }
    let etag = remote.put_if(plan.bytes.clone(), &plan.expect)?;
    log::info!(
        "restored snapshot {} to {} (serial {})",
        plan.snapshot.id,
        remote.url,
        plan.info.serial
    );
    Ok(RemoteRestored {
        id: plan.snapshot.id.clone(),
        url: remote.url.clone(),
        pre_snapshot,
        corrupt_kept,
        serial: plan.info.serial,
        etag,
    })
}

/// The daemon's disaster path on remote state: when the object is missing, empty or invalid
/// and not locked, put the newest valid snapshot back. `Ok(None)` when there was nothing to do.
///
/// # Errors
/// `NoValidSnapshot`, `Store`, `ChangedSincePreview` (someone wrote meanwhile).
pub fn auto_restore(
    cfg: &Config,
    remote: &RemoteState,
) -> Result<Option<RemoteRestored>, RemoteError> {
    if remote.lock_holder()?.is_some() {
        return Ok(None);
    }
    if let Some(f) = remote.get()? {
        if snapshot::hash_and_check(&f.bytes).1.is_ok() {
            return Ok(None);
        }
    }
    let plan = match prepare_restore(cfg, remote, &Target::Latest, false) {
        Ok(p) => p,
        Err(RemoteError::Locked { .. } | RemoteError::LockInvisible { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    match apply_restore(cfg, remote, &plan, false) {
        Ok(r) => Ok(Some(r)),
        Err(RemoteError::Locked { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Downloads the remote state into `dot_tfops/remote-<workspace>.tfstate` (0600, in a 0700
/// folder) for readers of a local file (drift), and returns that path.
///
/// # Errors
/// [`RemoteError::Missing`] when the object does not exist; the store's error; writing the copy.
pub fn materialize(
    remote: &RemoteState,
    dot_tfops: &std::path::Path,
    workspace: &str,
) -> Result<std::path::PathBuf, RemoteError> {
    let f = remote.get()?.ok_or_else(|| RemoteError::Missing {
        url: remote.url().to_string(),
    })?;
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| RemoteError::Io { path, source }
    };
    fsutil::create_dir_mode(dot_tfops, 0o700).map_err(io(dot_tfops))?;
    let p = dot_tfops.join(format!("remote-{workspace}.tfstate"));
    fsutil::write_atomic(&p, &f.bytes, 0o600, false).map_err(io(&p))?;
    Ok(p)
}

/// The state a long-running process protects, resolved from `cfg`: the config pointing at the
/// workspace's files and backups, the remote object when the backend is S3, and the workspace
/// name. The middle part is an error when the configuration declares an S3 backend that cannot
/// be used (a named AWS profile that is missing, a malformed profile file…), or a local one
/// whose file is outside the workspace folder `root`: the caller must
/// then protect nothing rather than fall back to a local file Terraform does not use. A backend
/// that cannot be read at all (HCL that does not parse) is logged, and the local file protected.
pub fn resolve(
    cfg: &Config,
    root: &std::path::Path,
) -> (Config, Result<Option<RemoteState>, String>, String) {
    match super::backend::target(cfg) {
        Ok(t) => {
            let eff = match t.apply_in(cfg, root) {
                Ok(eff) => eff,
                Err(e) => return (cfg.clone(), Err(e), t.workspace),
            };
            let remote = match t.s3() {
                Some(b) => RemoteState::new(b, &t.workspace).map(Some).map_err(|e| {
                    format!("the S3 backend {} cannot be used: {e}", b.url(&t.workspace))
                }),
                None => Ok(None),
            };
            (eff, remote, t.workspace)
        }
        Err(e) => {
            log::error!(
                "cannot tell which state to protect: {e}; protecting {}",
                cfg.state.path.display()
            );
            (
                cfg.clone(),
                Ok(None),
                super::backend::DEFAULT_WORKSPACE.to_string(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_holder_is_named_from_terraforms_lock_info() {
        let info = br#"{"ID":"1b2c","Operation":"OperationTypeApply","Info":"","Who":"alice@laptop","Version":"1.11.4","Created":"2026-12-02T18:00:00Z","Path":"b/k"}"#;
        let d = describe_lock(info);
        assert!(d.contains("alice@laptop"), "{d}");
        assert!(d.contains("OperationTypeApply"), "{d}");
        assert_eq!(
            describe_lock(b"garbage"),
            "held (the lock object names no holder)"
        );
    }

    #[test]
    fn region_endpoint_and_credentials_precedence() {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(
            home.path().join(".aws/credentials"),
            "[default]\naws_access_key_id = AKIAPROFILE\naws_secret_access_key = s\n",
        )
        .unwrap();
        std::fs::write(
            home.path().join(".aws/config"),
            "[default]\nregion = eu-north-1\n",
        )
        .unwrap();
        let mut vars: std::collections::HashMap<&str, String> = Default::default();
        vars.insert("HOME", home.path().display().to_string());
        let none = ProfileSettings::default();
        let get = |vars: &std::collections::HashMap<&str, String>,
                   region: Option<&str>,
                   endpoint: Option<&str>| {
            S3Access::resolve_in("b", region, endpoint, &none, &|k| vars.get(k).cloned()).unwrap()
        };
        // Only the profile: its region and keys; AWS's endpoint.
        let a = get(&vars, None, None);
        assert_eq!(a.region, "eu-north-1");
        assert_eq!(a.credentials.as_ref().unwrap().key_id, "AKIAPROFILE");
        assert_eq!(a.bucket_url(), "https://s3.eu-north-1.amazonaws.com/b");
        // The environment's region variables come before the profile's, AWS_REGION first.
        vars.insert("AWS_DEFAULT_REGION", "ca-central-1".into());
        assert_eq!(get(&vars, None, None).region, "ca-central-1");
        vars.insert("AWS_REGION", "us-west-2".into());
        assert_eq!(get(&vars, None, None).region, "us-west-2");
        // The backend's region and endpoint come first of all.
        vars.insert("AWS_ENDPOINT_URL", "http://generic:1".into());
        assert_eq!(get(&vars, None, None).bucket_url(), "http://generic:1/b");
        vars.insert("AWS_ENDPOINT_URL_S3", "http://s3only:2/".into());
        assert_eq!(get(&vars, None, None).bucket_url(), "http://s3only:2/b");
        let a = get(&vars, Some("ap-east-1"), Some("http://backend:3"));
        assert_eq!(a.region, "ap-east-1");
        assert_eq!(a.bucket_url(), "http://backend:3/b");
        // Environment credentials win over the profile; an empty variable counts as unset.
        vars.insert("AWS_ACCESS_KEY_ID", "AKIAENV".into());
        vars.insert("AWS_SECRET_ACCESS_KEY", "".into());
        assert_eq!(
            get(&vars, None, None).credentials.unwrap().key_id,
            "AKIAPROFILE"
        );
        vars.insert("AWS_SECRET_ACCESS_KEY", "e".into());
        assert_eq!(
            get(&vars, None, None).credentials.unwrap().key_id,
            "AKIAENV"
        );
    }

    #[test]
    fn block_on_works_outside_and_inside_a_runtime() {
        assert_eq!(block_on(async { 41 + 1 }).unwrap(), 42);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let v = rt.block_on(async {
            tokio::task::spawn_blocking(|| block_on(async { 7 }).unwrap())
                .await
                .unwrap()
        });
        assert_eq!(v, 7);
    }
}
