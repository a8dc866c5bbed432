//! One service's delivery desk: validates requests, moves them with a rename that never
//! overwrites, records them in `load_N.jsonl` / `load_N.json`, and keeps a delivery journal so
//! that a kill -9 at any moment is healed by the next start.
//!
//! The journal (`.tfops/deliver_N.journal`) gets one line per intended move, written before the
//! renames of a batch, with the exact destination name. Recovery reads it: a destination that
//! exists but has no line in `load_N.jsonl` gets one; a rejected request without its
//! `.error.json` gets it. The journal is emptied at every flush, when every intent in it is
//! complete, so recovery only ever reads about a second of work.
//!
//! `load_N.json` (the original shape: `archivos`, `ultimo_procesamiento`, plus `total`) is a
//! summary rewritten atomically at most about once a second; `.tfops/load_N.ckpt` remembers
//! how much of the jsonl it covers, so a start reads only the tail, never the whole history.

use std::collections::{HashMap, HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};
use serde::{Deserialize, Serialize};

use super::request::FileId;
use super::request::{self, Reason, RequestVerdict};
use crate::fsutil::{
    ensure_dir, json_ts, name_ts, open_append_nofollow, open_dir_nofollow, read_regular,
    rename_noreplace_at, write_atomic,
};
use crate::service_id::ServiceId;
use crate::workspace::Workspace;

/// What became of one request handed to the desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Now `service_N/<file>`.
    Delivered { file: OsString },
    /// Now `errors/<file>` with its `.error.json`.
    Rejected { reason: Reason, file: OsString },
    /// It was no longer in the intake.
    Gone,
    /// It is still in the intake. `service_fault`: the inbox could not take it (the service
    /// is suspect); otherwise the errors folder could not.
    Failed { error: String, service_fault: bool },
}

/// Settings the desk needs (from the config).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_request_bytes: u64,
    pub recent_in_log: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct Intent {
    /// batch number
    b: u64,
    /// "d" delivery, "r" rejection
    k: String,
    /// source name, hex
    src: String,
    /// destination name, hex
    dst: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<Reason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
    /// Length of load_N.jsonl when the intent was written: its line, if any, is after this.
    #[serde(default)]
    off: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct LoadLine {
    at: String,
    request: String,
    file: String,
    bytes: u64,
    service: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct LoadJson {
    archivos: Vec<String>,
    ultimo_procesamiento: Option<String>,
    total: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    total: u64,
    jsonl_bytes: u64,
    ultimo_procesamiento: Option<String>,
}

#[derive(Debug, Serialize)]
struct ErrorJson<'a> {
    request: String,
    reason: &'a str,
    detail: &'a str,
    at: String,
}

/// The delivery desk of service N.
#[derive(Debug)]
pub struct Desk {
    n: ServiceId,
    intake: PathBuf,
    inbox: PathBuf,
    archived: PathBuf,
    errors: PathBuf,
    load_json: PathBuf,
    ckpt: PathBuf,
    limits: Limits,
    jsonl: File,
    jsonl_len: u64,
    /// Delivered (moved) but not yet in `load_N.jsonl`: its append failed (a full disk).
    /// Retried before every batch and at every flush; the journal is kept until they are in.
    unlogged: Vec<LoadLine>,
    journal: File,
    journal_dirty: bool,
    batch: u64,
    total: u64,
    recent: VecDeque<String>,
    last_at: Option<String>,
    dirty: bool,
}

/// The folders of one batch, opened without following links.
struct Dirs {
    intake: OwnedFd,
    inbox: io::Result<OwnedFd>,
    errors: io::Result<OwnedFd>,
}

impl Dirs {
    fn open(intake: &Path, inbox: &Path, errors: &Path) -> io::Result<Dirs> {
        Ok(Dirs {
            intake: open_dir_nofollow(intake)?,
            inbox: open_dir_nofollow(inbox),
            errors: open_dir_nofollow(errors),
        })
    }
}

/// What a move that did not happen means.
enum Moved {
    /// The name no longer holds the file that was checked: check again.
    Changed,
    /// Final.
    Out(DeliveryOutcome),
}

/// The device and inode `name` holds in `dir` now (not followed), if anything.
fn id_at(dir: &impl AsFd, name: &OsStr) -> Option<FileId> {
    rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW)
        .ok()
        .map(|st| FileId::of(&st))
}

/// Why a desk could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct DeskError {
    pub path: PathBuf,
    pub source: io::Error,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> DeskError + '_ {
    move |source| DeskError {
        path: path.to_path_buf(),
        source,
    }
}

impl Desk {
    /// Opens the desk of service `n`, first healing whatever a previous run left (a torn last
    /// jsonl line, journal intents whose log line or error file is missing).
    ///
    /// # Errors
    /// When the logs or the journal cannot be opened or written.
    pub fn open(ws: &Workspace, n: ServiceId, limits: Limits) -> Result<Desk, DeskError> {
        let jsonl_path = ws.load_jsonl(n);
        let journal_path = ws.delivery_journal(n);
        // Never through a link: a start repairs (truncates) these files.
        ensure_dir(&ws.balanceador(), 0o755).map_err(at(&ws.balanceador()))?;
        ensure_dir(&ws.bal_logs(), 0o755).map_err(at(&ws.bal_logs()))?;
        ensure_dir(&ws.dot_tfops(), 0o755).map_err(at(&ws.dot_tfops()))?;
        heal_torn_tail(&jsonl_path).map_err(at(&jsonl_path))?;
        let jsonl = open_append_nofollow(&jsonl_path, 0o644).map_err(at(&jsonl_path))?;
        let jsonl_len = jsonl.metadata().map_err(at(&jsonl_path))?.len();
        let journal = open_append_nofollow(&journal_path, 0o644).map_err(at(&journal_path))?;
        let mut desk = Desk {
            n,
            intake: ws.intake(),
            inbox: ws.service_dir(n),
            archived: ws.archived_dir(n),
            errors: ws.errors(),
            load_json: ws.load_json(n),
            ckpt: ws.load_ckpt(n),
            limits,
            jsonl,
            jsonl_len,
            unlogged: Vec::new(),
            journal,
            journal_dirty: true,
            batch: 0,
            total: 0,
            recent: VecDeque::new(),
            last_at: None,
            dirty: false,
        };
        let (recorded, from) = desk.load_counts().map_err(at(&jsonl_path))?;
        desk.replay_journal(&journal_path, recorded, from)
            .map_err(at(&journal_path))?;
        desk.dirty = true;
        desk.flush().map_err(at(&desk.load_json.clone()))?;
        Ok(desk)
    }

    pub fn service(&self) -> ServiceId {
        self.n
    }

    /// Requests recorded for this service, ever.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
        while self.recent.len() > limits.recent_in_log {
            self.recent.pop_front();
        }
    }

    /// Reads the checkpoint and the jsonl after it; returns the files recorded in that tail.
    /// Returns the files recorded after the checkpoint, and the checkpoint's offset.
    fn load_counts(&mut self) -> io::Result<(HashSet<String>, u64)> {
        let ckpt: Option<Checkpoint> = read_regular(&self.ckpt, false)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|c: &Checkpoint| c.jsonl_bytes <= self.jsonl_len);
        let from = match ckpt {
            Some(c) => {
                self.total = c.total;
                self.last_at = c.ultimo_procesamiento;
                if let Some(j) = read_regular(&self.load_json, false)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<LoadJson>(&b).ok())
                {
                    self.recent = j.archivos.into();
                }
                c.jsonl_bytes
            }
            None => 0,
        };
        let mut recorded = HashSet::new();
        let mut f = self.jsonl.try_clone()?;
        f.seek(SeekFrom::Start(from))?;
        for line in BufReader::new(f).split(b'\n') {
            let line = line?;
            if line.is_empty() {
                continue;
            }
            if let Ok(l) = serde_json::from_slice::<LoadLine>(&line) {
                self.count(&l.file, &l.at);
                recorded.insert(l.file);
            }
        }
        Ok((recorded, from))
    }

    fn count(&mut self, file: &str, at_rfc3339: &str) {
        self.total += 1;
        if self.limits.recent_in_log > 0 {
            if self.recent.len() >= self.limits.recent_in_log {
                self.recent.pop_front();
            }
            self.recent.push_back(file.to_string());
        }
        self.last_at = DateTime::parse_from_rfc3339(at_rfc3339)
            .ok()
            .map(|t| {
                t.with_timezone(&Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .or(self.last_at.take());
        self.dirty = true;
    }

    fn replay_journal(
        &mut self,
        path: &Path,
        mut recorded: HashSet<String>,
        ckpt_from: u64,
    ) -> io::Result<()> {
        let mut text = Vec::new();
        let mut f = self.journal.try_clone()?;
        f.seek(SeekFrom::Start(0))?;
        f.read_to_end(&mut text)?;
        let _ = path;
        // The last intent per (batch, source) wins: a collision retried under a new name.
        let mut last: HashMap<(u64, String), Intent> = HashMap::new();
        let mut order = Vec::new();
        for line in text.split(|b| *b == b'\n') {
            let Ok(i) = serde_json::from_slice::<Intent>(line) else {
                continue;
            };
            let key = (i.b, i.src.clone());
            if !last.contains_key(&key) {
                order.push(key.clone());
            }
            last.insert(key, i);
        }
        // An intent older than the checkpoint may have its line before it: count those
        // lines as recorded too (never as new), so no request is ever logged twice.
        if let Some(min_off) = last
            .values()
            .map(|i| i.off)
            .min()
            .filter(|o| *o < ckpt_from)
        {
            let mut f = self.jsonl.try_clone()?;
            f.seek(SeekFrom::Start(min_off))?;
            for line in BufReader::new(f.take(ckpt_from - min_off)).split(b'\n') {
                if let Ok(l) = serde_json::from_slice::<LoadLine>(&line?) {
                    recorded.insert(l.file);
                }
            }
        }
        let now = Local::now();
        let mut lines = Vec::new();
        let mut healed = 0usize;
        for key in order {
            let Some(i) = last.remove(&key) else { continue };
            let (Some(src), Some(dst)) =
                (crate::fsutil::unhex(&i.src), crate::fsutil::unhex(&i.dst))
            else {
                continue;
            };
            let dst = OsString::from_vec(dst);
            let src = OsString::from_vec(src);
            if i.k == "d" {
                let Some(file) = dst.to_str().map(str::to_string) else {
                    continue;
                };
                if recorded.contains(&file) {
                    continue;
                }
                let meta = std::fs::symlink_metadata(self.inbox.join(&dst))
                    .or_else(|_| std::fs::symlink_metadata(self.archived.join(&dst)));
                if let Ok(m) = meta {
                    let line = LoadLine {
                        at: json_ts(now),
                        request: src.to_string_lossy().into_owned(),
                        file: file.clone(),
                        bytes: m.len(),
                        service: self.n.to_string(),
                    };
                    self.count(&line.file, &line.at);
                    lines.push(line);
                    recorded.insert(file);
                    healed += 1;
                }
            } else if std::fs::symlink_metadata(self.errors.join(&dst)).is_ok() {
                let side = self.errors.join(request::error_sidecar(&dst));
                if std::fs::symlink_metadata(&side).is_err() {
                    write_error_json(
                        &side,
                        &src,
                        i.reason.unwrap_or(Reason::Unreadable),
                        i.detail.as_deref().unwrap_or(""),
                        now,
                    )?;
                    healed += 1;
                }
            }
        }
        if !lines.is_empty() {
            self.append_lines(&lines)?;
        }
        if healed > 0 {
            log::warn!(
                "{}: recovered {healed} request(s) whose log line or error file a previous run left unwritten",
                self.n
            );
        }
        self.journal.set_len(0)?;
        self.journal_dirty = false;
        Ok(())
    }

    fn append_lines(&mut self, lines: &[LoadLine]) -> io::Result<()> {
        let mut buf = Vec::with_capacity(lines.len() * 160);
        for l in lines {
            serde_json::to_writer(&mut buf, l).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        if let Err(e) = self.jsonl.write_all(&buf) {
            // Cut what part of it made it (a full disk): a torn line in the middle of the file
            // would swallow the next good one.
            let _ = self.jsonl.set_len(self.jsonl_len);
            return Err(e);
        }
        self.jsonl_len += buf.len() as u64;
        Ok(())
    }

    /// Appends the lines of deliveries whose append failed before; counts them once in.
    fn log_unlogged(&mut self) -> io::Result<()> {
        if self.unlogged.is_empty() {
            return Ok(());
        }
        let lines = std::mem::take(&mut self.unlogged);
        match self.append_lines(&lines) {
            Ok(()) => {
                for l in &lines {
                    self.count(&l.file, &l.at);
                }
                Ok(())
            }
            Err(e) => {
                self.unlogged = lines;
                // The journal holds these intents: keep it until the lines are in.
                self.journal_dirty = true;
                Err(e)
            }
        }
    }

    fn write_intents(&mut self, intents: &[Intent]) -> io::Result<()> {
        if intents.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(intents.len() * 200);
        for i in intents {
            serde_json::to_writer(&mut buf, i).map_err(io::Error::other)?;
            buf.push(b'\n');
        }
        let before = self.journal.metadata()?.len();
        if let Err(e) = self.journal.write_all(&buf) {
            // Nothing of a failed batch is journaled: a torn intent would swallow the next one.
            let _ = self.journal.set_len(before);
            return Err(e);
        }
        self.journal_dirty = true;
        Ok(())
    }

    /// Validates and moves each named request out of the intake: into this service's inbox,
    /// or into `errors/`. A request that cannot be moved stays in the intake (`Failed`).
    ///
    /// The three folders are opened once per batch without following links (a symlinked
    /// intake, inbox or errors folder is refused); each request is validated through its own
    /// descriptor, and the name is confirmed to still hold that very file (device and inode)
    /// right before the rename and in the inbox right after it.
    pub fn deliver_batch(
        &mut self,
        names: &[OsString],
        now: DateTime<Local>,
    ) -> Vec<DeliveryOutcome> {
        self.batch += 1;
        if let Err(e) = self.log_unlogged() {
            log::warn!(
                "{}: still cannot append to load_{}.jsonl: {e}",
                self.n,
                self.n.get()
            );
        }
        let fail_all = |error: String, service_fault: bool| {
            names
                .iter()
                .map(|_| DeliveryOutcome::Failed {
                    error: error.clone(),
                    service_fault,
                })
                .collect::<Vec<_>>()
        };
        let dirs = match Dirs::open(&self.intake, &self.inbox, &self.errors) {
            Ok(d) => d,
            Err(e) => return fail_all(format!("cannot open the intake: {e}"), false),
        };
        let ts = name_ts(now);
        let checked: Vec<(RequestVerdict, Option<FileId>)> = names
            .iter()
            .map(|n| request::validate_at(&dirs.intake, n, self.limits.max_request_bytes))
            .collect();
        let mut intents = Vec::with_capacity(names.len());
        for (name, (v, _)) in names.iter().zip(&checked) {
            if let Some(i) = self.intent_for(name, &ts, v) {
                intents.push(i);
            }
        }
        if let Err(e) = self.write_intents(&intents) {
            return fail_all(format!("cannot write the delivery journal: {e}"), false);
        }
        let mut lines = Vec::new();
        let mut out = Vec::with_capacity(names.len());
        for (name, (v, id)) in names.iter().zip(checked) {
            out.push(self.take(&dirs, name, &ts, now, v, id, &mut lines));
        }
        if !lines.is_empty() {
            self.unlogged.extend(lines);
            if let Err(e) = self.log_unlogged() {
                // The moves happened; the lines wait in memory (retried before the next batch
                // and at every flush) and the journal keeps them for the next start.
                log::error!(
                    "{}: cannot append to load_{}.jsonl: {e}; {} line(s) wait",
                    self.n,
                    self.n.get(),
                    self.unlogged.len()
                );
            }
        }
        out
    }

    fn intent_for(&self, name: &OsStr, ts: &str, v: &RequestVerdict) -> Option<Intent> {
        match v {
            RequestVerdict::Valid { .. } => Some(self.intent(name, ts, 1, None)),
            RequestVerdict::Invalid { reason, detail } => {
                Some(self.intent(name, ts, 1, Some((*reason, detail.clone()))))
            }
            RequestVerdict::Gone => None,
        }
    }

    /// Moves one checked request. When its name no longer holds the file that was checked
    /// (swapped meanwhile), what is there now is checked again (journaled first), a few times
    /// at most; then it stays in the intake for the next rescan.
    #[allow(clippy::too_many_arguments)]
    fn take(
        &mut self,
        dirs: &Dirs,
        name: &OsStr,
        ts: &str,
        now: DateTime<Local>,
        mut v: RequestVerdict,
        mut id: Option<FileId>,
        lines: &mut Vec<LoadLine>,
    ) -> DeliveryOutcome {
        for attempt in 0..4 {
            if attempt > 0 {
                (v, id) = request::validate_at(&dirs.intake, name, self.limits.max_request_bytes);
                if let Some(i) = self.intent_for(name, ts, &v) {
                    if let Err(e) = self.write_intents(&[i]) {
                        return DeliveryOutcome::Failed {
                            error: format!("cannot write the delivery journal: {e}"),
                            service_fault: false,
                        };
                    }
                }
            }
            let moved = match &v {
                RequestVerdict::Gone => return DeliveryOutcome::Gone,
                RequestVerdict::Valid { bytes } => match self.move_in(dirs, name, ts, id) {
                    Ok(file) => {
                        lines.push(LoadLine {
                            at: json_ts(now),
                            request: name.to_string_lossy().into_owned(),
                            file: file.to_string_lossy().into_owned(),
                            bytes: *bytes,
                            service: self.n.to_string(),
                        });
                        return DeliveryOutcome::Delivered { file };
                    }
                    Err(m) => m,
                },
                RequestVerdict::Invalid { reason, detail } => {
                    match self.reject(dirs, &dirs.intake, name, name, ts, *reason, detail, now, id)
                    {
                        Ok(file) => {
                            return DeliveryOutcome::Rejected {
                                reason: *reason,
                                file,
                            }
                        }
                        Err(m) => m,
                    }
                }
            };
            match moved {
                Moved::Changed => continue,
                Moved::Out(o) => return o,
            }
        }
        DeliveryOutcome::Failed {
            error: "the file kept changing while being checked".into(),
            service_fault: false,
        }
    }

    fn intent(&self, src: &OsStr, ts: &str, k: u32, reject: Option<(Reason, String)>) -> Intent {
        let (kind, dst, reason, detail) = match reject {
            None => ("d", request::processed_name(ts, src, k), None, None),
            Some((r, d)) => ("r", request::error_name(src, k), Some(r), Some(d)),
        };
        Intent {
            b: self.batch,
            k: kind.into(),
            src: crate::fsutil::hex(src.as_bytes()),
            dst: crate::fsutil::hex(dst.as_bytes()),
            reason,
            detail,
            off: self.jsonl_len,
        }
    }

    /// The no-overwrite move into the inbox; a taken name gets `-k`, journaled first. The
    /// name must still hold `id` (the file validated) before the rename, and the inbox entry
    /// must be that file after it: one swapped in between is taken back out to `errors/`.
    fn move_in(
        &mut self,
        dirs: &Dirs,
        name: &OsStr,
        ts: &str,
        id: Option<FileId>,
    ) -> Result<OsString, Moved> {
        let Some(id) = id else {
            return Err(Moved::Changed);
        };
        let inbox = match &dirs.inbox {
            Ok(fd) => fd,
            Err(e) => {
                return Err(Moved::Out(DeliveryOutcome::Failed {
                    error: format!("cannot open {}: {e}", self.inbox.display()),
                    service_fault: true,
                }))
            }
        };
        for k in 1..=10_000u32 {
            let file = request::processed_name(ts, name, k);
            if k > 1 {
                let i = self.intent(name, ts, k, None);
                self.write_intents(&[i]).map_err(|e| {
                    Moved::Out(DeliveryOutcome::Failed {
                        error: format!("cannot write the delivery journal: {e}"),
                        service_fault: false,
                    })
                })?;
            }
            match id_at(&dirs.intake, name) {
                Some(now) if now == id => {}
                Some(_) => return Err(Moved::Changed),
                None => return Err(Moved::Out(DeliveryOutcome::Gone)),
            }
            match rename_noreplace_at(&dirs.intake, name, inbox, &file) {
                Ok(()) => {
                    if id_at(inbox, &file) == Some(id) {
                        return Ok(file);
                    }
                    // Swapped between the check and the rename (microseconds): what arrived is
                    // not what was validated. Out to errors/ it goes, judged as it is.
                    self.evict(dirs, inbox, &file, name, ts);
                    return Err(Moved::Changed);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e)
                    if e.kind() == io::ErrorKind::NotFound
                        && id_at(&dirs.intake, name).is_none() =>
                {
                    return Err(Moved::Out(DeliveryOutcome::Gone))
                }
                Err(e) => {
                    return Err(Moved::Out(DeliveryOutcome::Failed {
                        error: format!("cannot move into {}: {e}", self.inbox.display()),
                        service_fault: true,
                    }))
                }
            }
        }
        Err(Moved::Out(DeliveryOutcome::Failed {
            error: "too many requests with the same name in one second".into(),
            service_fault: false,
        }))
    }

    /// Takes `file` (not the file validated) back out of the inbox into `errors/`.
    fn evict(&mut self, dirs: &Dirs, inbox: &OwnedFd, file: &OsStr, name: &OsStr, ts: &str) {
        let (v, id) = request::validate_at(inbox, file, self.limits.max_request_bytes);
        let (reason, detail) = match v {
            RequestVerdict::Gone => return,
            RequestVerdict::Invalid { reason, detail } => (reason, detail),
            RequestVerdict::Valid { .. } => (
                Reason::NotRegularFile,
                "replaced by another file while being checked".to_string(),
            ),
        };
        log::warn!(
            "{}: {} was replaced while being moved ({}); taken back out to errors/",
            self.n,
            name.to_string_lossy(),
            reason.as_str()
        );
        let i = self.intent(name, ts, 1, Some((reason, detail.clone())));
        if self.write_intents(&[i]).is_err() {
            return;
        }
        let _ = self.reject(
            dirs,
            inbox,
            file,
            name,
            ts,
            reason,
            &detail,
            Local::now(),
            id,
        );
    }

    /// The no-overwrite move of `src_name` (in the folder `from`: the intake, or an inbox for
    /// an eviction) into `errors/`, named after the request `name`, then its `.error.json`.
    #[allow(clippy::too_many_arguments)]
    fn reject(
        &mut self,
        dirs: &Dirs,
        from: &impl AsFd,
        src_name: &OsStr,
        name: &OsStr,
        ts: &str,
        reason: Reason,
        detail: &str,
        now: DateTime<Local>,
        id: Option<FileId>,
    ) -> Result<OsString, Moved> {
        let errors_dir = self.errors.clone();
        let fail = |e: io::Error| {
            Moved::Out(DeliveryOutcome::Failed {
                error: format!("cannot move into {}: {e}", errors_dir.display()),
                service_fault: false,
            })
        };
        let errors = match &dirs.errors {
            Ok(fd) => fd,
            Err(e) => return Err(fail(io::Error::new(e.kind(), e.to_string()))),
        };
        for k in 1..=10_000u32 {
            let file = request::error_name(name, k);
            let side_name = request::error_sidecar(&file);
            if rustix::fs::statat(errors, &side_name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok()
            {
                continue;
            }
            if k > 1 {
                let i = self.intent(name, ts, k, Some((reason, detail.to_string())));
                self.write_intents(&[i]).map_err(fail)?;
            }
            if let Some(id) = id {
                match id_at(from, src_name) {
                    Some(now) if now == id => {}
                    Some(_) => return Err(Moved::Changed),
                    None => return Err(Moved::Out(DeliveryOutcome::Gone)),
                }
            }
            match rename_noreplace_at(from, src_name, errors, &file) {
                Ok(()) => {
                    let side = self.errors.join(&side_name);
                    write_error_json(&side, name, reason, detail, now).map_err(fail)?;
                    return Ok(file);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e)
                    if e.kind() == io::ErrorKind::NotFound && id_at(from, src_name).is_none() =>
                {
                    return Err(Moved::Out(DeliveryOutcome::Gone))
                }
                Err(e) => return Err(fail(e)),
            }
        }
        Err(fail(io::Error::other(
            "too many rejected requests with the same name",
        )))
    }

    /// Appends lines a full disk held back, rewrites `load_N.json` (and its checkpoint) if
    /// anything changed, then empties the journal: every intent in it is complete.
    ///
    /// # Errors
    /// When a file cannot be written; the journal is then kept.
    pub fn flush(&mut self) -> io::Result<()> {
        self.log_unlogged()?;
        // The journal goes first: every intent in it has its log line by now, and a
        // checkpoint must never be newer than the journal it could be replayed with (a kill
        // between the two would otherwise log a second line for every request in the journal:
        // found by the kill -9 reliability suite).
        self.truncate_journal()?;
        self.write_checkpoint()
    }

    fn truncate_journal(&mut self) -> io::Result<()> {
        if self.journal_dirty {
            self.journal.set_len(0)?;
            self.journal_dirty = false;
        }
        Ok(())
    }

    fn write_checkpoint(&mut self) -> io::Result<()> {
        if self.dirty {
            let ckpt = Checkpoint {
                total: self.total,
                jsonl_bytes: self.jsonl_len,
                ultimo_procesamiento: self.last_at.clone(),
            };
            write_atomic(
                &self.ckpt,
                &serde_json::to_vec(&ckpt).map_err(io::Error::other)?,
                0o644,
                false,
            )?;
            let json = LoadJson {
                archivos: self.recent.iter().cloned().collect(),
                ultimo_procesamiento: self.last_at.clone(),
                total: self.total,
            };
            let mut bytes = serde_json::to_vec_pretty(&json).map_err(io::Error::other)?;
            bytes.push(b'\n');
            write_atomic(&self.load_json, &bytes, 0o644, false)?;
            self.dirty = false;
        }
        Ok(())
    }
}

fn write_error_json(
    side: &Path,
    src: &OsStr,
    reason: Reason,
    detail: &str,
    now: DateTime<Local>,
) -> io::Result<()> {
    let j = ErrorJson {
        request: src.to_string_lossy().into_owned(),
        reason: reason.as_str(),
        detail,
        at: json_ts(now),
    };
    let mut bytes = serde_json::to_vec_pretty(&j).map_err(io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(side, &bytes, 0o644, false)
}

/// Cuts a torn last line (a write interrupted by kill -9) off `load_N.jsonl`.
fn heal_torn_tail(path: &Path) -> io::Result<()> {
    let cut = crate::fsutil::cut_torn_tail(path)?;
    if cut > 0 {
        log::warn!(
            "{}: cut a torn last line ({cut} bytes) left by an interrupted run",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    const LIM: Limits = Limits {
        max_request_bytes: 1024,
        recent_in_log: 3,
    };

    fn ws() -> (tempfile::TempDir, Workspace) {
        let d = tempfile::tempdir().unwrap();
        let ws = Workspace::new(d.path());
        ws.ensure_runtime_dirs().unwrap();
        std::fs::create_dir_all(ws.service_dir(ServiceId(1))).unwrap();
        (d, ws)
    }

    fn lines(ws: &Workspace) -> Vec<serde_json::Value> {
        std::fs::read_to_string(ws.load_jsonl(ServiceId(1)))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn delivers_rejects_and_keeps_both_on_collision() {
        let (_d, ws) = ws();
        let mut desk = Desk::open(&ws, ServiceId(1), LIM).unwrap();
        std::fs::write(ws.intake().join("a.txt"), "hi").unwrap();
        std::fs::write(ws.intake().join("bad.txt"), [0xffu8]).unwrap();
        let now = Local::now();
        let out = desk.deliver_batch(&["a.txt".into(), "bad.txt".into(), "gone".into()], now);
        assert!(matches!(out[0], DeliveryOutcome::Delivered { .. }));
        assert!(matches!(
            out[1],
            DeliveryOutcome::Rejected {
                reason: Reason::NotUtf8,
                ..
            }
        ));
        assert_eq!(out[2], DeliveryOutcome::Gone);
        // same name, same second
        std::fs::write(ws.intake().join("a.txt"), "again").unwrap();
        let out2 = desk.deliver_batch(&["a.txt".into()], now);
        let DeliveryOutcome::Delivered { file } = &out2[0] else {
            panic!("{out2:?}")
        };
        assert!(file.to_str().unwrap().contains("-2_a.txt"));
        assert_eq!(
            std::fs::read_dir(ws.service_dir(ServiceId(1)))
                .unwrap()
                .count(),
            2
        );
        assert!(ws.errors().join("bad.txt.error.json").exists());
        assert_eq!(lines(&ws).len(), 2);
        desk.flush().unwrap();
        let j: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ws.load_json(ServiceId(1))).unwrap()).unwrap();
        assert_eq!(j["total"], 2);
        assert_eq!(j["archivos"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn recovery_writes_missing_log_line_once() {
        let (_d, ws) = ws();
        let mut desk = Desk::open(&ws, ServiceId(1), LIM).unwrap();
        std::fs::write(ws.intake().join("a.txt"), "hi").unwrap();
        desk.deliver_batch(&["a.txt".into()], Local::now());
        desk.flush().unwrap();
        // Simulate a crash after the rename of b.txt but before its log line: journal an
        // intent by hand and do the rename ourselves.
        std::fs::write(ws.intake().join("b.txt"), "yo").unwrap();
        let ts = name_ts(Local::now());
        let i = desk.intent(OsStr::new("b.txt"), &ts, 1, None);
        desk.write_intents(&[i]).unwrap();
        let dst = request::processed_name(&ts, OsStr::new("b.txt"), 1);
        std::fs::rename(
            ws.intake().join("b.txt"),
            ws.service_dir(ServiceId(1)).join(&dst),
        )
        .unwrap();
        // and a torn line
        OpenOptions::new()
            .append(true)
            .open(ws.load_jsonl(ServiceId(1)))
            .unwrap()
            .write_all(b"{\"at\":\"x")
            .unwrap();
        drop(desk);
        let desk = Desk::open(&ws, ServiceId(1), LIM).unwrap();
        assert_eq!(desk.total(), 2);
        let l = lines(&ws);
        assert_eq!(l.len(), 2);
        assert_eq!(l[1]["file"], dst.to_str().unwrap());
        drop(desk);
        // a second start changes nothing
        let desk = Desk::open(&ws, ServiceId(1), LIM).unwrap();
        assert_eq!(desk.total(), 2);
        assert_eq!(lines(&ws).len(), 2);
    }

    #[test]
    fn a_torn_line_longer_than_64_kib_is_cut_at_open() {
        let (_d, ws) = ws();
        let mut desk = Desk::open(&ws, ServiceId(1), LIM).unwrap();
        std::fs::write(ws.intake().join("a.txt"), "x").unwrap();
        desk.deliver_batch(&[OsString::from("a.txt")], chrono::Local::now());
        desk.flush().unwrap();
        drop(desk);
        let mut torn = b"{\"at\":\"".to_vec();
        torn.extend(std::iter::repeat_n(b'x', 70 * 1024));
        OpenOptions::new()
            .append(true)
            .open(ws.load_jsonl(ServiceId(1)))
            .unwrap()
            .write_all(&torn)
            .unwrap();
        let desk = Desk::open(&ws, ServiceId(1), LIM).unwrap();
        assert_eq!(desk.total(), 1);
        assert_eq!(lines(&ws).len(), 1);
    }

    /// A desk that has just delivered five requests, not yet flushed.
    fn five_delivered() -> (tempfile::TempDir, Workspace, Desk) {
        let (d, ws) = ws();
        let mut desk = Desk::open(&ws, ServiceId(1), LIM).unwrap();
        for i in 0..5 {
            std::fs::write(ws.intake().join(format!("r{i}")), "x").unwrap();
        }
        let names: Vec<OsString> = (0..5).map(|i| format!("r{i}").into()).collect();
        desk.deliver_batch(&names, Local::now());
        (d, ws, desk)
    }

    /// After a start, the desk counts five requests and the jsonl has five lines.
    fn assert_five_once(ws: &Workspace) {
        let desk = Desk::open(ws, ServiceId(1), LIM).unwrap();
        assert_eq!(desk.total(), 5);
        assert_eq!(lines(ws).len(), 5);
    }

    #[test]
    fn regression_kill_between_flush_steps_never_logs_a_request_twice() {
        let (_d, ws, mut desk) = five_delivered();
        // The first step of a flush, then a kill before the checkpoint.
        desk.log_unlogged().unwrap();
        desk.truncate_journal().unwrap();
        drop(desk);
        assert_five_once(&ws);
        // And after a complete flush, a start changes nothing.
        let mut desk = Desk::open(&ws, ServiceId(1), LIM).unwrap();
        desk.flush().unwrap();
        drop(desk);
        assert_five_once(&ws);
    }

    #[test]
    fn regression_a_checkpoint_newer_than_the_journal_never_logs_a_request_twice() {
        let (_d, ws, mut desk) = five_delivered();
        // The checkpoint written, the journal not emptied (the old order of a flush, killed).
        desk.write_checkpoint().unwrap();
        drop(desk);
        assert_five_once(&ws);
    }

    #[test]
    fn recent_is_bounded_and_total_survives_restart() {
        let (_d, ws) = ws();
        let mut desk = Desk::open(&ws, ServiceId(1), LIM).unwrap();
        for i in 0..5 {
            let n = format!("r{i}");
            std::fs::write(ws.intake().join(&n), "x").unwrap();
            desk.deliver_batch(&[n.into()], Local::now());
        }
        desk.flush().unwrap();
        drop(desk);
        let desk = Desk::open(&ws, ServiceId(1), LIM).unwrap();
        assert_eq!(desk.total(), 5);
        let j: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ws.load_json(ServiceId(1))).unwrap()).unwrap();
        assert_eq!(j["total"], 5);
        assert_eq!(j["archivos"].as_array().unwrap().len(), 3);
        assert!(j["archivos"][2].as_str().unwrap().ends_with("_r4"));
    }

    #[test]
    fn missing_inbox_is_a_service_fault_and_the_request_stays() {
        let (_d, ws) = ws();
        let mut desk = Desk::open(&ws, ServiceId(1), LIM).unwrap();
        std::fs::remove_dir(ws.service_dir(ServiceId(1))).unwrap();
        std::fs::write(ws.intake().join("a"), "x").unwrap();
        let out = desk.deliver_batch(&["a".into()], Local::now());
        assert!(
            matches!(
                out[0],
                DeliveryOutcome::Failed {
                    service_fault: true,
                    ..
                }
            ),
            "{out:?}"
        );
        assert!(ws.intake().join("a").exists());
    }
}
