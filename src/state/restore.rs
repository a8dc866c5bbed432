//! Restore: put a snapshot back as the live state, safely.
//!
//! Two steps so that a person can look in between: [`prepare`] resolves the snapshot (an id, or
//! the newest valid one), applies the refusals (invalid snapshot; another lineage than a valid
//! live state; Terraform holding the state — the last two unless forced) and builds the
//! preview; [`apply`] rechecks under the backups lock, keeps the live state (a snapshot when it
//! is valid, `terraform.tfstate.corrupt-<ts>` when it is not), and writes the snapshot's bytes
//! atomically (temp, fsync, rename, fsync of the folder, 0600). [`restore`] does both without
//! asking, as `--yes` does; [`auto_restore`] is the daemon's disaster path.
//!
//! No printing here: the command line shows the [`RestorePlan`].

use std::io;
use std::path::{Path, PathBuf};

use chrono::Local;

use super::model::{Invalid, StateInfo};
use super::preview::{self, Preview};
use super::snapshot::{self, ReadState, Snapshot, SnapshotError, TakeOptions};
use super::tflock::{self, TfLock};
use crate::config::Config;
use crate::fsutil;

/// Which snapshot to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A snapshot folder name, as `tfops backups` shows.
    Id(String),
    /// The newest valid snapshot by `taken_at`.
    Latest,
}

/// The live state as found before a restore.
#[derive(Debug, Clone)]
pub enum Current {
    Missing,
    /// Present but empty or invalid; kept as `corrupt-<ts>` by the restore.
    Invalid {
        reason: Invalid,
        sha256: String,
    },
    Valid {
        info: StateInfo,
        sha256: String,
    },
}

impl Current {
    fn sha(&self) -> Option<&str> {
        match self {
            Current::Missing => None,
            Current::Invalid { sha256, .. } | Current::Valid { sha256, .. } => Some(sha256),
        }
    }
}

/// Everything needed to show and then apply a restore.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    pub snapshot: Snapshot,
    pub info: StateInfo,
    pub current: Current,
    pub preview: Preview,
    /// Terraform's hold on the state, when `--force` overrode it.
    pub tf_lock: Option<TfLock>,
    /// The lineages differ and `--force` overrode it.
    pub lineage_forced: bool,
    pub force: bool,
    bytes: Vec<u8>,
}

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub id: String,
    pub state: PathBuf,
    /// The snapshot taken of the live state first (when it was valid).
    pub pre_snapshot: Option<String>,
    /// Where the bad live state was kept (when it was empty or invalid).
    pub corrupt_kept: Option<PathBuf>,
    pub serial: u64,
}

/// Why a restore was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("there is no valid snapshot in {}", dir.display())]
    NoValidSnapshot { dir: PathBuf },
    #[error("snapshot {id} has lineage {snapshot} but the state {} has lineage {current}", path.display())]
    LineageMismatch {
        id: String,
        snapshot: String,
        current: String,
        path: PathBuf,
    },
    #[error("Terraform holds the state {} ({})", path.display(), lock.describe())]
    TerraformHolds { path: PathBuf, lock: Box<TfLock> },
    #[error("the state {} changed since the preview", path.display())]
    ChangedSincePreview { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl RestoreError {
    /// The error with `ops` (the path the operation used) named as `shown`.
    fn shown_as(self, ops: &Path, shown: &Path) -> RestoreError {
        match self {
            RestoreError::Io { path, source } if path.starts_with(ops.parent().unwrap_or(ops)) => {
                let name = path.file_name().map(PathBuf::from).unwrap_or_default();
                RestoreError::Io {
                    path: shown.parent().unwrap_or(shown).join(name),
                    source,
                }
            }
            e => e,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Resolves the target and checks every refusal; builds the preview.
///
/// # Errors
/// `Snapshot(BadId | NotFound | Bad)` for a bad id or an invalid snapshot, `NoValidSnapshot`,
/// and unless `force`: `LineageMismatch`, `TerraformHolds`.
pub fn prepare(cfg: &Config, target: &Target, force: bool) -> Result<RestorePlan, RestoreError> {
    prepare_inner(cfg, target, force, true)
}

/// The snapshot a restore of `target` puts back, with its bytes rechecked against its sha256;
/// `None` when `target` is the latest and no snapshot is valid. Local and remote restores
/// choose the same way.
///
/// # Errors
/// An unknown or damaged snapshot named by id; an unreadable backups folder.
pub fn choose(
    backups: &Path,
    target: &Target,
) -> Result<Option<(Snapshot, Vec<u8>, StateInfo)>, SnapshotError> {
    match target {
        Target::Id(id) => {
            let s = snapshot::find(backups, id)?;
            let (b, i) = snapshot::full_check(&s)?;
            Ok(Some((s, b, i)))
        }
        Target::Latest => snapshot::latest_valid(backups),
    }
}

fn prepare_inner(
    cfg: &Config,
    target: &Target,
    force: bool,
    with_preview: bool,
) -> Result<RestorePlan, RestoreError> {
    let backups = &cfg.state.backups;
    let state = &cfg.state.path;
    // The snapshot is chosen first, before anything else happens.
    let (snap, bytes, info) =
        choose(backups, target)?.ok_or_else(|| RestoreError::NoValidSnapshot {
            dir: backups.clone(),
        })?;
    let tf_lock = tflock::terraform_lock(state).map_err(io_err(state))?;
    if let Some(l) = &tf_lock {
        if !force {
            return Err(RestoreError::TerraformHolds {
                path: state.clone(),
                lock: Box::new(l.clone()),
            });
        }
    }
    let (current, current_bytes) = read_current(state)?;
    let mut lineage_forced = false;
    if let Current::Valid { info: ci, .. } = &current {
        if ci.lineage != info.lineage {
            if !force {
                return Err(RestoreError::LineageMismatch {
                    id: snap.id.clone(),
                    snapshot: info.lineage.clone(),
                    current: ci.lineage.clone(),
                    path: state.clone(),
                });
            }
            lineage_forced = true;
        }
    }
    let preview = if with_preview {
        let cur = match &current {
            Current::Valid { .. } => Some(current_bytes.as_slice()),
            _ => None,
        };
        let label_cur = format!("{} (live)", file_label(state));
        let label_snap = format!("{}/{}", snap.id, snapshot::STATE_FILE);
        preview::preview(cur, &bytes, (&label_cur, &label_snap))
    } else {
        Preview {
            changes: Default::default(),
            diff: None,
            note: None,
            failed: None,
        }
    };
    Ok(RestorePlan {
        snapshot: snap,
        info,
        current,
        preview,
        tf_lock,
        lineage_forced,
        force,
        bytes,
    })
}

fn file_label(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read_current(state: &Path) -> Result<(Current, Vec<u8>), RestoreError> {
    match snapshot::read_state(state, None) {
        Ok((rs, _)) => {
            let cur = match &rs.info {
                Ok(i) => Current::Valid {
                    info: i.clone(),
                    sha256: rs.sha256.clone(),
                },
                Err(r) => Current::Invalid {
                    reason: r.clone(),
                    sha256: rs.sha256.clone(),
                },
            };
            Ok((cur, rs.bytes))
        }
        Err(SnapshotError::StateMissing { .. }) => Ok((Current::Missing, Vec::new())),
        Err(e) => Err(e.into()),
    }
}

/// Applies a prepared restore: rechecks under the backups lock that nothing moved since the
/// preview, keeps the live state, writes the snapshot atomically.
///
/// # Errors
/// `ChangedSincePreview` when the live state is not what was previewed, `TerraformHolds` when
/// Terraform took the state meanwhile (unless forced), `Io` naming the path.
pub fn apply(
    cfg: &Config,
    plan: &RestorePlan,
    progress: Option<snapshot::Progress>,
) -> Result<Restored, RestoreError> {
    // `shown` is the path for messages; `state` the one the file operations use: the same,
    // unless the state's folder must be reached without following links (see `confine`).
    let shown = &cfg.state.path;
    let _lock = snapshot::lock_backups(&cfg.state.backups)?;
    if !plan.force {
        if let Some(l) = tflock::terraform_lock(shown).map_err(io_err(shown))? {
            return Err(RestoreError::TerraformHolds {
                path: shown.clone(),
                lock: Box::new(l),
            });
        }
    }
    let dir = shown.parent().unwrap_or(Path::new(".")).to_path_buf();
    let (_dir_fd, state) = match &cfg.state.confine {
        Some(root) => {
            // Links that stay inside are followed (resolved now, then walked without
            // following any): one swapped in after this fails the walk.
            let (root_c, dir_c) = fsutil::resolve_beneath(root, &dir).map_err(io_err(&dir))?;
            let fd =
                fsutil::open_dir_beneath(&root_c, &dir_c, Some(0o700)).map_err(io_err(&dir))?;
            let name = shown.file_name().unwrap_or_default();
            let p = fsutil::path_in_fd(&fd, name);
            (Some(fd), p)
        }
        None => {
            std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
            (None, shown.clone())
        }
    };
    let state = &state;
    clean_restore_leftovers(state);
    let read = match snapshot::read_state(state, None) {
        Ok((rs, _)) => Some(rs),
        Err(SnapshotError::StateMissing { .. }) => None,
        Err(SnapshotError::Io { source, .. }) => return Err(io_err(shown)(source)),
        Err(SnapshotError::StateChanged { .. }) => {
            return Err(RestoreError::ChangedSincePreview {
                path: shown.clone(),
            })
        }
        Err(e) => return Err(e.into()),
    };
    if read.as_ref().map(|r| r.sha256.as_str()) != plan.current.sha() {
        return Err(RestoreError::ChangedSincePreview {
            path: shown.clone(),
        });
    }
    let mut pre_snapshot = None;
    let mut corrupt_kept = None;
    match read {
        Some(rs @ ReadState { info: Ok(_), .. }) => {
            let opts = TakeOptions::default();
            if let Some(t) = snapshot::take_locked(cfg, rs, "pre-restore", &opts)? {
                pre_snapshot = Some(t.id);
            }
        }
        Some(rs) => {
            let kept = keep_corrupt(state, &rs.bytes).map_err(|e| e.shown_as(state, shown))?;
            // Named as the user knows the folder (not through the descriptor's path).
            corrupt_kept = Some(dir.join(kept.file_name().unwrap_or_default()));
        }
        None => {}
    }
    write_state(state, &plan.bytes, progress).map_err(|e| e.shown_as(state, shown))?;
    let state = shown;
    log::info!(
        "restored snapshot {} to {} (serial {}){}{}",
        plan.snapshot.id,
        state.display(),
        plan.info.serial,
        pre_snapshot
            .as_ref()
            .map(|p| format!("; the previous state is snapshot {p}"))
            .unwrap_or_default(),
        corrupt_kept
            .as_ref()
            .map(|p| format!("; the bad state was kept as {}", p.display()))
            .unwrap_or_default(),
    );
    Ok(Restored {
        id: plan.snapshot.id.clone(),
        state: state.clone(),
        pre_snapshot,
        corrupt_kept,
        serial: plan.info.serial,
    })
}

/// Prepare and apply without asking (what `restore --yes` does); for the demo and scripts.
///
/// # Errors
/// As [`prepare`] and [`apply`].
pub fn restore(cfg: &Config, target: &Target, force: bool) -> Result<Restored, RestoreError> {
    let plan = prepare_inner(cfg, target, force, false)?;
    apply(cfg, &plan, None)
}

/// The daemon's disaster path: when the live state is missing, empty or invalid and Terraform
/// does not hold it, put the newest valid snapshot back. `Ok(None)` when there was nothing to
/// do (the state is valid again, or Terraform holds it).
///
/// # Errors
/// `NoValidSnapshot` when there is nothing to restore; others as [`apply`].
pub fn auto_restore(cfg: &Config) -> Result<Option<Restored>, RestoreError> {
    let state = &cfg.state.path;
    if tflock::terraform_lock(state)
        .map_err(io_err(state))?
        .is_some()
    {
        return Ok(None);
    }
    let (current, _) = read_current(state)?;
    if matches!(current, Current::Valid { .. }) {
        return Ok(None);
    }
    let plan = prepare_inner(cfg, &Target::Latest, false, false)?;
    match apply(cfg, &plan, None) {
        Ok(r) => Ok(Some(r)),
        Err(RestoreError::TerraformHolds { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Keeps the bad live state's bytes (as read) in a new `<state>.corrupt-<ts>` (0600), never
/// overwriting. A copy, not a link: a state reached through a symbolic link is kept as a file
/// (not as another link), and nothing existing is chmod-ed.
fn keep_corrupt(state: &Path, bytes: &[u8]) -> Result<PathBuf, RestoreError> {
    let ts = fsutil::name_ts(Local::now());
    let base = format!("{}.corrupt-{ts}", state.display());
    let mut k = 1;
    loop {
        let p = if k == 1 {
            PathBuf::from(&base)
        } else {
            PathBuf::from(format!("{base}-{k}"))
        };
        match snapshot::write_private(&p, bytes, None) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => k += 1,
            Err(e) => return Err(io_err(&p)(e)),
        }
    }
}

fn restore_tmp_prefix(state: &Path) -> String {
    format!(".{}.tfops-restore-", file_label(state))
}

/// Removes temp files an interrupted restore left beside the state.
pub(crate) fn clean_restore_leftovers(state: &Path) {
    let dir = state.parent().unwrap_or(Path::new("."));
    let prefix = restore_tmp_prefix(state);
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            match std::fs::remove_file(e.path()) {
                Ok(()) => log::info!("removed the leftover of an interrupted restore: {name}"),
                Err(err) => log::warn!("cannot remove leftover {name}: {err}"),
            }
        }
    }
}

/// Temp beside the state (0600), fsync, rename over, fsync of the folder.
fn write_state(
    state: &Path,
    bytes: &[u8],
    progress: Option<snapshot::Progress>,
) -> Result<(), RestoreError> {
    let dir = state.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        "{}{}.tmp",
        restore_tmp_prefix(state),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let res = snapshot::write_private(&tmp, bytes, progress)
        .and_then(|()| std::fs::rename(&tmp, state))
        .and_then(|()| fsutil::sync_dir(dir));
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(state)(e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &[u8] = br#"{"version":4,"terraform_version":"1.11.4","serial":3,"lineage":"l-1","outputs":{},"resources":[]}"#;

    /// A workspace whose state the `.tf` files placed in `iac/state/` (confined to the
    /// workspace), with one snapshot of it; and a folder outside.
    fn setup() -> (tempfile::TempDir, tempfile::TempDir, Config) {
        let ws = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let mut cfg = Config::defaults(ws.path());
        cfg.state.path = ws.path().join("iac/state/prod.tfstate");
        cfg.state.confine = Some(ws.path().to_path_buf());
        std::fs::create_dir_all(ws.path().join("iac/state")).unwrap();
        std::fs::write(&cfg.state.path, STATE).unwrap();
        snapshot::take(&cfg, "test").unwrap();
        (ws, outside, cfg)
    }

    #[test]
    fn a_confined_restore_writes_where_it_was_checked_and_names_files_as_the_user_knows_them() {
        let (_ws, _outside, cfg) = setup();
        std::fs::write(&cfg.state.path, b"{ torn").unwrap();
        let r = restore(&cfg, &Target::Latest, false).unwrap();
        assert_eq!(std::fs::read(&cfg.state.path).unwrap(), STATE);
        assert_eq!(r.state, cfg.state.path);
        let kept = r.corrupt_kept.unwrap();
        assert_eq!(kept.parent(), cfg.state.path.parent(), "{}", kept.display());
        assert_eq!(std::fs::read(&kept).unwrap(), b"{ torn");
        // A missing folder is created (0700), still without following links.
        std::fs::remove_dir_all(cfg.state.path.parent().unwrap()).unwrap();
        restore(&cfg, &Target::Latest, false).unwrap();
        assert_eq!(std::fs::read(&cfg.state.path).unwrap(), STATE);
    }

    #[test]
    fn a_confined_state_named_through_a_link_to_the_workspace_is_restored() {
        // The operator wrote drift.dir through a link to the workspace (e.g. /srv/ws ->
        // /data/ws) while the root is the resolved folder: the same folder, two spellings.
        let (ws, _outside, cfg) = setup();
        let alias = tempfile::tempdir().unwrap();
        let link = alias.path().join("ws");
        std::os::unix::fs::symlink(ws.path(), &link).unwrap();
        let mut named = cfg.clone();
        named.state.path = link.join("iac/state/prod.tfstate");
        named.state.confine = Some(std::fs::canonicalize(ws.path()).unwrap());
        std::fs::remove_file(&cfg.state.path).unwrap();
        restore(&named, &Target::Latest, false).unwrap();
        assert_eq!(std::fs::read(&cfg.state.path).unwrap(), STATE);
    }

    #[test]
    fn a_folder_swapped_for_a_link_after_the_check_is_not_followed() {
        let (ws, outside, cfg) = setup();
        std::fs::remove_file(&cfg.state.path).unwrap();
        let plan = prepare_inner(&cfg, &Target::Latest, false, false).unwrap();
        // Between the check (when the backend was resolved, and the preview) and the write,
        // the state's folder becomes a link out of the workspace.
        std::fs::remove_dir(ws.path().join("iac/state")).unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.path().join("iac/state")).unwrap();
        let e = apply(&cfg, &plan, None).unwrap_err();
        assert!(e.to_string().contains("link"), "{e}");
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        // The same with `iac` itself swapped.
        std::fs::remove_file(ws.path().join("iac/state")).unwrap();
        let moved = ws.path().join("iac-real");
        std::fs::rename(ws.path().join("iac"), &moved).unwrap();
        std::os::unix::fs::symlink(outside.path(), ws.path().join("iac")).unwrap();
        assert!(apply(&cfg, &plan, None).is_err());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
        // Unconfined (a path the operator's own configuration names), links are followed:
        // the restore goes through `iac`, still the link, to the folder it leads to.
        let mut open = cfg.clone();
        open.state.confine = None;
        apply(&open, &plan, None).unwrap();
        assert_eq!(
            std::fs::read(outside.path().join("state/prod.tfstate")).unwrap(),
            STATE
        );
    }
}
