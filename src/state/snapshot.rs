//! Snapshots: `backups/tfstate_<YYYY-MM-DD_HH-MM-SS>[_k].backup/{terraform.tfstate,meta.json}`,
//! the layout of the original rsync `--link-dest` scripts, made safe.
//!
//! A snapshot is built in a hidden temp folder (file fsynced, meta fsynced, folder fsynced),
//! then renamed into place without overwriting; a crash leaves only a temp folder, removed by the
//! next writer. Content identical to an existing snapshot is a hard link to its file. Files are
//! 0600 and folders 0700 whatever the umask. Writers (the daemon, `tfops backup`, restore)
//! serialize on an `flock` of `backups/.tfops.lock`.
//!
//! Reading the live state costs one read into one buffer: hashing (sha256) and validation (typed
//! visitors, no `serde_json::Value`) run on it in parallel, and the same buffer is written out.
//! This module does not decide *when* to snapshot (the actor and the CLI do).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, TimeZone};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::model::{self, Invalid, StateInfo};
use super::retention;
use crate::config::Config;
use crate::fsutil;
use crate::lock::FileLock;

/// The state file inside a snapshot folder.
pub const STATE_FILE: &str = "terraform.tfstate";
/// The metadata file inside a snapshot folder.
pub const META_FILE: &str = "meta.json";
/// The writers' lock inside the backups folder.
pub const LOCK_FILE: &str = ".tfops.lock";
const TMP_PREFIX: &str = ".tfstate_";
const TMP_SUFFIX: &str = ".tmp";
const CHUNK: usize = 1 << 20;

/// Flag: the lineage differs from the previous snapshot's.
pub const FLAG_LINEAGE_CHANGED: &str = "lineage_changed";
/// Flag: the serial is lower than the previous snapshot's.
pub const FLAG_SERIAL_DECREASED: &str = "serial_decreased";

/// `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub sha256: String,
    pub serial: u64,
    pub lineage: String,
    pub terraform_version: Option<String>,
    pub resources: u64,
    pub bytes: u64,
    pub taken_at: String,
    pub reason: String,
    pub flags: Vec<String>,
    /// The snapshot whose file this one hard-links (identical content), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_to: Option<String>,
}

/// One snapshot folder as listed (cheap: meta.json and a stat, no hashing).
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub id: String,
    pub dir: PathBuf,
    /// From meta.json, or from the folder name for folders without one.
    pub taken_at: DateTime<FixedOffset>,
    pub meta: Option<Meta>,
    /// Why the snapshot is not usable; `None` when it looks valid.
    pub problem: Option<String>,
}

impl Snapshot {
    pub fn valid(&self) -> bool {
        self.problem.is_none() && self.meta.is_some()
    }
    pub fn file(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }
}

/// Errors of snapshot operations, each naming the path or snapshot involved.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("the state {} does not exist", path.display())]
    StateMissing { path: PathBuf },
    #[error("the state {} is {reason}", path.display())]
    StateInvalid { path: PathBuf, reason: Invalid },
    #[error("the state {} changed while it was read", path.display())]
    StateChanged { path: PathBuf },
    #[error("{id:?} is not a snapshot name (tfstate_YYYY-MM-DD_HH-MM-SS.backup)")]
    BadId { id: String },
    #[error("no snapshot named {id}")]
    NotFound { id: String },
    #[error("snapshot {id} is not valid: {reason}")]
    Bad { id: String, reason: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SnapshotError + '_ {
    move |source| SnapshotError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Progress of a long copy: bytes done, bytes in all.
pub type Progress<'a> = &'a dyn Fn(u64, u64);

/// How [`take_with`] behaves.
#[derive(Default, Clone, Copy)]
pub struct TakeOptions<'a> {
    /// Skip (return `None`) when the state equals the newest snapshot: automatic snapshots.
    pub only_if_changed: bool,
    pub progress: Option<Progress<'a>>,
}

/// A snapshot just taken.
#[derive(Debug, Clone)]
pub struct Taken {
    pub id: String,
    pub dir: PathBuf,
    pub meta: Meta,
    /// Snapshots removed by retention afterwards.
    pub pruned: Vec<String>,
}

/// The state read into memory, checked and hashed.
#[derive(Debug)]
pub struct ReadState {
    pub bytes: Vec<u8>,
    pub sha256: String,
    pub info: Result<StateInfo, Invalid>,
}

// ---------------------------------------------------------------------------------------------
// Names

/// Folder name for a timestamp (`YYYY-MM-DD_HH-MM-SS`) and a same-second sequence (1 = none).
pub fn snapshot_name(ts: &str, seq: u32) -> String {
    if seq <= 1 {
        format!("tfstate_{ts}.backup")
    } else {
        format!("tfstate_{ts}_{seq}.backup")
    }
}

/// Parses a snapshot folder name into its local timestamp and sequence; `None` for anything
/// else (paths included).
pub fn parse_name(name: &str) -> Option<(NaiveDateTime, u32)> {
    let rest = name.strip_prefix("tfstate_")?.strip_suffix(".backup")?;
    if rest.len() < 19 || !rest.is_char_boundary(19) {
        return None;
    }
    let (ts, tail) = rest.split_at(19);
    let t = NaiveDateTime::parse_from_str(ts, "%Y-%m-%d_%H-%M-%S").ok()?;
    if ts != t.format("%Y-%m-%d_%H-%M-%S").to_string() {
        return None;
    }
    let seq = if tail.is_empty() {
        1
    } else {
        let n = tail.strip_prefix('_')?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.starts_with('0') {
            return None;
        }
        let k: u32 = n.parse().ok()?;
        if k < 2 {
            return None;
        }
        k
    };
    Some((t, seq))
}

// ---------------------------------------------------------------------------------------------
// Reading and hashing

/// Lowercase hex sha256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::fsutil::hex(&Sha256::digest(bytes))
}

/// Hashes and validates in parallel (two threads for big inputs).
pub fn hash_and_check(bytes: &[u8]) -> (String, Result<StateInfo, Invalid>) {
    if bytes.len() < CHUNK {
        return (sha256_hex(bytes), model::parse_state(bytes));
    }
    std::thread::scope(|s| {
        let h = s.spawn(|| sha256_hex(bytes));
        let info = model::parse_state(bytes);
        let sha = match h.join() {
            Ok(sha) => sha,
            Err(_) => sha256_hex(bytes),
        };
        (sha, info)
    })
}

/// Identity of a file's content for change detection (device, inode, size, mtime, ctime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileKey {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl FileKey {
    pub fn of(m: &std::fs::Metadata) -> FileKey {
        FileKey {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
        }
    }
}

/// Reads a whole file in chunks (reporting progress), checking it did not change meanwhile.
///
/// # Errors
/// `StateMissing` when absent, `StateChanged` when it changed while read, `Io` otherwise.
pub fn read_file(
    path: &Path,
    progress: Option<Progress>,
) -> Result<(Vec<u8>, FileKey), SnapshotError> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(SnapshotError::StateMissing {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    let before = FileKey::of(&f.metadata().map_err(io_err(path))?);
    let total = before.size;
    let mut bytes = Vec::with_capacity(total as usize + 1);
    let mut chunk = vec![0u8; CHUNK.min(total as usize + 1).max(4096)];
    loop {
        let n = f.read(&mut chunk).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
        if let Some(p) = progress {
            p(bytes.len() as u64, total.max(bytes.len() as u64));
        }
    }
    let after = FileKey::of(&f.metadata().map_err(io_err(path))?);
    if before != after || after.size != bytes.len() as u64 {
        return Err(SnapshotError::StateChanged {
            path: path.to_path_buf(),
        });
    }
    Ok((bytes, before))
}

/// Reads, hashes and validates the live state.
///
/// # Errors
/// As [`read_file`].
pub fn read_state(
    path: &Path,
    progress: Option<Progress>,
) -> Result<(ReadState, FileKey), SnapshotError> {
    let (bytes, key) = read_file(path, progress)?;
    let (sha256, info) = hash_and_check(&bytes);
    Ok((
        ReadState {
            bytes,
            sha256,
            info,
        },
        key,
    ))
}

// ---------------------------------------------------------------------------------------------
// The backups folder

/// Creates the backups folder (0700) and takes the writers' lock, waiting for another writer.
///
/// # Errors
/// When the folder or its lock file cannot be created or locked.
pub fn lock_backups(backups: &Path) -> Result<FileLock, SnapshotError> {
    ensure_backups_dir(backups)?;
    let p = backups.join(LOCK_FILE);
    FileLock::acquire(&p).map_err(io_err(&p))
}

/// Creates the backups folder if needed and makes it 0700.
///
/// # Errors
/// When it cannot be created or chmod'ed.
pub fn ensure_backups_dir(backups: &Path) -> Result<(), SnapshotError> {
    let mode_ok = std::fs::metadata(backups)
        .map(|m| m.is_dir() && m.permissions().mode() & 0o777 == 0o700)
        .unwrap_or(false);
    if !mode_ok {
        fsutil::create_dir_mode(backups, 0o700).map_err(io_err(backups))?;
    }
    Ok(())
}

/// Removes what a crashed snapshot left (hidden temp folders). Call with the lock held.
///
/// # Errors
/// When the folder cannot be read; a leftover that cannot be removed is logged.
pub fn clean_leftovers(backups: &Path) -> Result<Vec<PathBuf>, SnapshotError> {
    let mut removed = Vec::new();
    let rd = match std::fs::read_dir(backups) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(io_err(backups)(e)),
    };
    for e in rd {
        let e = e.map_err(io_err(backups))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(TMP_PREFIX) && name.contains(TMP_SUFFIX) {
            let p = e.path();
            let r = if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            match r {
                Ok(()) => {
                    log::info!(
                        "removed the leftover of an interrupted snapshot: {}",
                        p.display()
                    );
                    removed.push(p);
                }
                Err(err) => log::warn!("cannot remove leftover {}: {err}", p.display()),
            }
        }
    }
    Ok(removed)
}

/// Lists the snapshots, oldest first (by `taken_at`, then same-second sequence). Cheap: reads
/// meta.json and stats the state file; folders of the original scripts (no meta.json) are
/// listed with their name's time and checked by parsing.
///
/// # Errors
/// When the backups folder exists but cannot be read. A missing folder lists nothing.
pub fn list(backups: &Path) -> Result<Vec<Snapshot>, SnapshotError> {
    list_inner(backups, true)
}

/// As [`list`], without parsing folders that lack meta.json (for `status`).
///
/// # Errors
/// As [`list`].
pub fn list_quick(backups: &Path) -> Result<Vec<Snapshot>, SnapshotError> {
    list_inner(backups, false)
}

fn list_inner(backups: &Path, check_legacy: bool) -> Result<Vec<Snapshot>, SnapshotError> {
    let rd = match std::fs::read_dir(backups) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(backups)(e)),
    };
    let mut out: Vec<(DateTime<FixedOffset>, u32, Snapshot)> = Vec::new();
    for e in rd {
        let e = e.map_err(io_err(backups))?;
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Some((name_t, seq)) = parse_name(&name) else {
            continue;
        };
        if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            continue;
        }
        let snap = describe(&e.path(), &name, name_t, check_legacy);
        out.push((snap.taken_at, seq, snap));
    }
    out.sort_by(|a, b| (a.0, a.1, &a.2.id).cmp(&(b.0, b.1, &b.2.id)));
    Ok(out.into_iter().map(|(_, _, s)| s).collect())
}

fn local_fixed(t: NaiveDateTime) -> DateTime<FixedOffset> {
    match Local.from_local_datetime(&t).earliest() {
        Some(l) => l.fixed_offset(),
        None => t.and_utc().fixed_offset(),
    }
}

fn describe(dir: &Path, id: &str, name_t: NaiveDateTime, check_legacy: bool) -> Snapshot {
    let mut snap = Snapshot {
        id: id.to_string(),
        dir: dir.to_path_buf(),
        taken_at: local_fixed(name_t),
        meta: None,
        problem: None,
    };
    let file = dir.join(STATE_FILE);
    let file_meta = std::fs::symlink_metadata(&file);
    match std::fs::read(dir.join(META_FILE)) {
        Ok(b) => match serde_json::from_slice::<Meta>(&b) {
            Ok(m) => {
                if let Ok(t) = DateTime::parse_from_rfc3339(&m.taken_at) {
                    snap.taken_at = t;
                }
                snap.problem = match &file_meta {
                    Ok(fm) if !fm.is_file() => {
                        Some("its terraform.tfstate is not a regular file".into())
                    }
                    Ok(fm) if fm.len() != m.bytes => Some(format!(
                        "terraform.tfstate has {} bytes, meta.json says {}",
                        fm.len(),
                        m.bytes
                    )),
                    Ok(_) => None,
                    Err(_) => Some("terraform.tfstate is missing".into()),
                };
                snap.meta = Some(m);
            }
            Err(e) => snap.problem = Some(format!("meta.json is unreadable ({e})")),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A folder made by the original rsync scripts: no meta.json.
            if !check_legacy {
                if file_meta.is_err() {
                    snap.problem = Some("terraform.tfstate is missing".into());
                }
                return snap;
            }
            match read_file(&file, None) {
                Ok((bytes, _)) => {
                    let (sha256, info) = hash_and_check(&bytes);
                    match info {
                        Ok(i) => {
                            snap.meta = Some(Meta {
                                sha256,
                                serial: i.serial,
                                lineage: i.lineage,
                                terraform_version: i.terraform_version,
                                resources: i.resources,
                                bytes: bytes.len() as u64,
                                taken_at: fsutil::json_ts(snap.taken_at),
                                reason: "legacy (no meta.json)".into(),
                                flags: Vec::new(),
                                linked_to: None,
                            })
                        }
                        Err(inv) => snap.problem = Some(format!("its state is {inv}")),
                    }
                }
                Err(_) => snap.problem = Some("terraform.tfstate is missing or unreadable".into()),
            }
        }
        Err(e) => snap.problem = Some(format!("meta.json is unreadable ({e})")),
    }
    snap
}

/// Checks a snapshot name and finds its folder.
///
/// # Errors
/// `BadId` for anything that is not a snapshot folder name (paths included), `NotFound` when
/// there is no such folder.
pub fn find(backups: &Path, id: &str) -> Result<Snapshot, SnapshotError> {
    if parse_name(id).is_none() {
        return Err(SnapshotError::BadId { id: id.to_string() });
    }
    list(backups)?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or_else(|| SnapshotError::NotFound { id: id.to_string() })
}

/// Full check of a snapshot: its file's sha256 against meta.json and the state rules. Returns
/// the bytes and what they say.
///
/// # Errors
/// `Bad` naming what is wrong; `Io` when the folder cannot be read.
pub fn full_check(snap: &Snapshot) -> Result<(Vec<u8>, StateInfo), SnapshotError> {
    let bad = |reason: String| SnapshotError::Bad {
        id: snap.id.clone(),
        reason,
    };
    if let Some(p) = &snap.problem {
        return Err(bad(p.clone()));
    }
    let meta = snap
        .meta
        .as_ref()
        .ok_or_else(|| bad("it has no meta.json".into()))?;
    let (bytes, _) = match read_file(&snap.file(), None) {
        Ok(r) => r,
        Err(SnapshotError::StateMissing { .. }) => {
            return Err(bad("terraform.tfstate is missing".into()))
        }
        Err(e) => return Err(e),
    };
    let (sha, info) = hash_and_check(&bytes);
    if sha != meta.sha256 {
        return Err(bad(format!(
            "sha256 {} differs from meta.json's {}",
            short(&sha),
            short(&meta.sha256)
        )));
    }
    let info = info.map_err(|e| bad(format!("its state is {e}")))?;
    if info.serial != meta.serial || info.lineage != meta.lineage {
        return Err(bad("serial or lineage differs from meta.json".into()));
    }
    Ok((bytes, info))
}

fn short(s: &str) -> &str {
    s.get(..12).unwrap_or(s)
}

/// The newest snapshot that passes [`full_check`], by `taken_at`.
///
/// # Errors
/// When the folder cannot be listed.
pub fn latest_valid(
    backups: &Path,
) -> Result<Option<(Snapshot, Vec<u8>, StateInfo)>, SnapshotError> {
    for s in list(backups)?.into_iter().rev().filter(Snapshot::valid) {
        match full_check(&s) {
            Ok((b, i)) => return Ok(Some((s, b, i))),
            Err(e) => log::warn!("skipping snapshot {}: {e}", s.id),
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// Taking

/// Snapshots the state now (`reason` goes to meta.json), then applies retention.
///
/// # Errors
/// `StateMissing` / `StateInvalid` when there is no valid state to keep (an empty file counts
/// as missing in spirit and is reported as invalid `Empty`); `Io` naming the path on failure.
pub fn take(cfg: &Config, reason: &str) -> Result<Taken, SnapshotError> {
    // Without `only_if_changed`, take_with always takes one.
    take_with(cfg, reason, &TakeOptions::default())?.ok_or_else(|| SnapshotError::StateChanged {
        path: cfg.state.path.clone(),
    })
}

/// As [`take`], with options; `None` when `only_if_changed` and the state equals the newest
/// snapshot.
///
/// # Errors
/// As [`take`].
pub fn take_with(
    cfg: &Config,
    reason: &str,
    opts: &TakeOptions,
) -> Result<Option<Taken>, SnapshotError> {
    let path = &cfg.state.path;
    let (rs, _) = read_state(path, opts.progress)?;
    let _lock = lock_backups(&cfg.state.backups)?;
    take_locked(cfg, rs, reason, opts)
}

/// Takes a snapshot of already-read state bytes; the caller holds the backups lock.
pub(crate) fn take_locked(
    cfg: &Config,
    rs: ReadState,
    reason: &str,
    opts: &TakeOptions,
) -> Result<Option<Taken>, SnapshotError> {
    let path = &cfg.state.path;
    let backups = &cfg.state.backups;
    let info = match rs.info {
        Ok(i) => i,
        Err(reason) => {
            return Err(SnapshotError::StateInvalid {
                path: path.clone(),
                reason,
            })
        }
    };
    clean_leftovers(backups)?;
    let existing = list_quick(backups)?;
    if opts.only_if_changed {
        if let Some(newest) = existing.last() {
            if newest.meta.as_ref().map(|m| m.sha256.as_str()) == Some(rs.sha256.as_str()) {
                log::debug!("state unchanged since snapshot {}", newest.id);
                return Ok(None);
            }
        }
    }
    let mut flags = Vec::new();
    if let Some(prev) = existing
        .iter()
        .rev()
        .find(|s| s.valid())
        .and_then(|s| s.meta.as_ref())
    {
        if prev.lineage != info.lineage {
            flags.push(FLAG_LINEAGE_CHANGED.to_string());
        }
        if info.serial < prev.serial {
            flags.push(FLAG_SERIAL_DECREASED.to_string());
        }
    }
    // Identical content already kept: link to it (newest first), after comparing bytes.
    let twin = existing.iter().rev().find(|s| {
        s.valid()
            && s.meta
                .as_ref()
                .is_some_and(|m| m.sha256 == rs.sha256 && m.bytes == rs.bytes.len() as u64)
            && same_content(&s.file(), &rs.bytes)
    });
    let now = Local::now();
    let ts = fsutil::name_ts(now);
    let meta = Meta {
        sha256: rs.sha256.clone(),
        serial: info.serial,
        lineage: info.lineage.clone(),
        terraform_version: info.terraform_version.clone(),
        resources: info.resources,
        bytes: rs.bytes.len() as u64,
        taken_at: fsutil::json_ts(now),
        reason: reason.to_string(),
        flags,
        linked_to: twin.map(|t| t.id.clone()),
    };
    let tmp = backups.join(format!(
        "{TMP_PREFIX}{ts}{TMP_SUFFIX}-{}",
        std::process::id()
    ));
    let built = build_tmp(
        &tmp,
        twin.map(|t| t.file()),
        &rs.bytes,
        &meta,
        opts.progress,
    );
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // After the highest sequence already used in this second (a pruned lower one is not
    // reused: listings order same-second snapshots by sequence).
    let mut seq = existing
        .iter()
        .filter_map(|s| parse_name(&s.id))
        .filter(|(t, _)| t.format("%Y-%m-%d_%H-%M-%S").to_string() == ts)
        .map(|(_, k)| k + 1)
        .max()
        .unwrap_or(1);
    let (id, dir) = loop {
        let id = snapshot_name(&ts, seq);
        let dir = backups.join(&id);
        match fsutil::rename_noreplace(&tmp, &dir) {
            Ok(()) => break (id, dir),
            Err(e)
                if e.kind() == io::ErrorKind::AlreadyExists
                    || e.raw_os_error() == Some(libc::ENOTEMPTY) =>
            {
                seq += 1;
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(io_err(&dir)(e));
            }
        }
    };
    fsutil::sync_dir(backups).map_err(io_err(backups))?;
    match &meta.linked_to {
        Some(t) => log::info!(
            "snapshot {id} ({reason}): serial {}, identical to {t} (hard link, no new bytes)",
            meta.serial
        ),
        None => log::info!(
            "snapshot {id} ({reason}): serial {}, {} resources, {} bytes{}",
            meta.serial,
            meta.resources,
            meta.bytes,
            if meta.flags.is_empty() {
                String::new()
            } else {
                format!(", flags {}", meta.flags.join(","))
            }
        ),
    }
    let pruned = prune(cfg)?;
    Ok(Some(Taken {
        id,
        dir,
        meta,
        pruned,
    }))
}

fn same_content(file: &Path, bytes: &[u8]) -> bool {
    let Ok(mut f) = File::open(file) else {
        return false;
    };
    let mut buf = vec![0u8; CHUNK.min(bytes.len().max(1))];
    let mut off = 0;
    loop {
        match f.read(&mut buf) {
            Ok(0) => return off == bytes.len(),
            Ok(n) => {
                if off + n > bytes.len() || buf[..n] != bytes[off..off + n] {
                    return false;
                }
                off += n;
            }
            Err(_) => return false,
        }
    }
}

fn build_tmp(
    tmp: &Path,
    link_from: Option<PathBuf>,
    bytes: &[u8],
    meta: &Meta,
    progress: Option<Progress>,
) -> Result<(), SnapshotError> {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(tmp)
        .map_err(io_err(tmp))?;
    std::fs::set_permissions(tmp, std::fs::Permissions::from_mode(0o700)).map_err(io_err(tmp))?;
    let file = tmp.join(STATE_FILE);
    match link_from {
        Some(src) => {
            std::fs::hard_link(&src, &file).map_err(io_err(&file))?;
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(io_err(&file))?;
        }
        None => write_private(&file, bytes, progress).map_err(io_err(&file))?,
    }
    let meta_path = tmp.join(META_FILE);
    let mut mj = serde_json::to_vec_pretty(meta).map_err(|e| io_err(&meta_path)(e.into()))?;
    mj.push(b'\n');
    write_private(&meta_path, &mj, None).map_err(io_err(&meta_path))?;
    fsutil::sync_dir(tmp).map_err(io_err(tmp))
}

/// Creates `path` (must not exist) as 0600 whatever the umask, writes, fsyncs.
pub(crate) fn write_private(
    path: &Path,
    bytes: &[u8],
    progress: Option<Progress>,
) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    let total = bytes.len() as u64;
    for (i, c) in bytes.chunks(CHUNK).enumerate() {
        f.write_all(c)?;
        if let Some(p) = progress {
            p(((i * CHUNK + c.len()) as u64).min(total), total);
        }
    }
    f.sync_all()
}

// ---------------------------------------------------------------------------------------------
// Retention and verification

/// The retention settings of a configuration.
pub fn policy(cfg: &Config) -> retention::Policy {
    retention::Policy {
        keep_last: cfg.state.keep_last,
        keep_daily: cfg.state.keep_daily,
        keep_weekly: cfg.state.keep_weekly,
        keep_monthly: cfg.state.keep_monthly,
    }
}

/// What retention would keep and drop now, with reasons (`tfops prune --dry-run`). Cheap: reads
/// meta.json files only.
///
/// # Errors
/// When the backups folder exists but cannot be listed.
pub fn prune_plan(cfg: &Config) -> Result<retention::Plan, SnapshotError> {
    let snaps = list_quick(&cfg.state.backups)?;
    let items: Vec<retention::Item> = snaps
        .iter()
        .map(|s| retention::Item {
            id: s.id.clone(),
            taken_at: s.taken_at,
            valid: s.valid() || (s.meta.is_none() && s.problem.is_none()),
            sha256: s.meta.as_ref().map(|m| m.sha256.clone()),
        })
        .collect();
    Ok(retention::plan(&items, policy(cfg)))
}

/// Applies retention (see [`retention`]); never removes the newest valid snapshot. The caller
/// holds the backups lock. Returns (and logs) what was removed.
///
/// # Errors
/// When the folder cannot be listed; a folder that cannot be removed is logged and kept.
pub fn prune(cfg: &Config) -> Result<Vec<String>, SnapshotError> {
    let plan = prune_plan(cfg)?;
    Ok(apply_plan(cfg, &plan))
}

/// Removes what `plan` drops; returns the ids removed. The caller holds the backups lock.
pub fn apply_plan(cfg: &Config, plan: &retention::Plan) -> Vec<String> {
    let backups = &cfg.state.backups;
    let mut removed = Vec::new();
    for d in plan.decisions.iter().filter(|d| !d.kept()) {
        let dir = backups.join(&d.id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                log::info!("pruned snapshot {} ({})", d.id, d.why());
                removed.push(d.id.clone());
            }
            Err(e) => log::warn!("cannot prune snapshot {}: {e}", d.id),
        }
    }
    if !removed.is_empty() {
        let _ = fsutil::sync_dir(backups);
    }
    removed
}

/// Result of verifying one snapshot.
#[derive(Debug, Clone)]
pub struct Verified {
    pub id: String,
    /// `None` when good; what is wrong otherwise.
    pub problem: Option<String>,
}

/// Rechecks every snapshot against its sha256 and the state rules.
///
/// # Errors
/// When the backups folder cannot be read.
pub fn verify(backups: &Path) -> Result<Vec<Verified>, SnapshotError> {
    let mut out = Vec::new();
    for s in list(backups)? {
        let problem = match full_check(&s) {
            Ok(_) => None,
            Err(SnapshotError::Bad { reason, .. }) => Some(reason),
            Err(e) => Some(e.to_string()),
        };
        out.push(Verified { id: s.id, problem });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(
            snapshot_name("2026-11-28_15-00-00", 1),
            "tfstate_2026-11-28_15-00-00.backup"
        );
        assert_eq!(
            snapshot_name("2026-11-28_15-00-00", 3),
            "tfstate_2026-11-28_15-00-00_3.backup"
        );
        let (t, s) = parse_name("tfstate_2026-11-28_15-00-00_3.backup").unwrap();
        assert_eq!(s, 3);
        assert_eq!(t.format("%H:%M:%S").to_string(), "15:00:00");
        assert_eq!(
            parse_name("tfstate_2026-11-28_15-00-00.backup").unwrap().1,
            1
        );
    }

    #[test]
    fn names_that_are_not_snapshots() {
        for n in [
            "../etc",
            "tfstate_2026-11-28_15-00-00.backup/terraform.tfstate",
            "/tmp/tfstate_2026-11-28_15-00-00.backup",
            "tfstate_2026-13-28_15-00-00.backup",
            "tfstate_2026-11-28_15-00-00_1.backup",
            "tfstate_2026-11-28_15-00-00_02.backup",
            "tfstate_2026-11-28_15-00-00_.backup",
            "tfstate_2026-11-28_15-00-00x.backup",
            ".tfstate_2026-11-28_15-00-00.tmp-1",
            "tfstate_2026-11-28_15-00-00.backup.tmp",
            "",
        ] {
            assert!(parse_name(n).is_none(), "{n}");
        }
    }

    #[test]
    fn hash_matches_known_value() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let big = vec![b' '; 3 << 20];
        let (h, v) = hash_and_check(&big);
        assert_eq!(h, sha256_hex(&big));
        assert_eq!(v, Err(Invalid::Empty));
    }
}
