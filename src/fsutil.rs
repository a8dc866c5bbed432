//! Small filesystem primitives with the guarantees the rest relies on: rename that never
//! overwrites, atomic replace (temp, fsync, rename, fsync of the folder), private files, the
//! repair of a torn last line, and hex. A leaf: it imports nothing from the crate.
//!
//! No policy here: callers decide names and what a failure means.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Renames `from` to `to` atomically, failing with `AlreadyExists` instead of overwriting
/// (`renameat2(RENAME_NOREPLACE)`; falls back to `link` + `unlink` where the filesystem lacks it).
///
/// # Errors
/// `AlreadyExists` when `to` exists; any other rename error as is.
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOSYS) => {
            // Filesystems without RENAME_NOREPLACE: link refuses to overwrite too.
            std::fs::hard_link(from, to)?;
            std::fs::remove_file(from)
        }
        Err(e) => Err(io::Error::from(e)),
    }
}

/// [`rename_noreplace`] between folders held open: `from` in `from_dir` becomes `to` in
/// `to_dir`, never overwriting, whatever the folders' paths point to now.
///
/// # Errors
/// `AlreadyExists` when `to` exists; any other rename error as is.
pub fn rename_noreplace_at(
    from_dir: &impl rustix::fd::AsFd,
    from: &std::ffi::OsStr,
    to_dir: &impl rustix::fd::AsFd,
    to: &std::ffi::OsStr,
) -> io::Result<()> {
    use rustix::fs::{linkat, renameat_with, unlinkat, AtFlags, RenameFlags};
    match renameat_with(from_dir, from, to_dir, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOSYS) => {
            linkat(from_dir, from, to_dir, to, AtFlags::empty())?;
            unlinkat(from_dir, from, AtFlags::empty()).map_err(io::Error::from)
        }
        Err(e) => Err(io::Error::from(e)),
    }
}

/// fsyncs a folder so that a rename inside it is durable.
///
/// # Errors
/// When the folder cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync, rename over, fsync of the
/// folder. `mode` applies to the new file whatever the umask. The temp file is created new
/// (`O_EXCL | O_NOFOLLOW`: a link planted at its name is never followed), its name fits in 255
/// bytes whatever the length of `path`'s, and the rename replaces a link at `path` rather than
/// writing through it.
///
/// # Errors
/// Any I/O error; the temp file is removed on failure and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, durable: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(temp_name(path));
    let open_new = || {
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
    };
    let mut f = match open_new() {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            // A leftover of ours (same pid after a restart), or something planted: unlinking
            // removes the name only, never what a link points to.
            std::fs::remove_file(&tmp)?;
            open_new()?
        }
        Err(e) => return Err(e),
    };
    let res = (|| {
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if durable {
            sync_dir(dir)?;
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// Like [`write_atomic`], but never replaces an existing `path` (the final rename is
/// [`rename_noreplace`]): `AlreadyExists` then, and nothing is changed.
///
/// # Errors
/// `AlreadyExists`, or any I/O error; the temp file is removed on failure.
pub fn write_new_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(temp_name(path));
    let _ = std::fs::remove_file(&tmp);
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        rename_noreplace(&tmp, path)?;
        sync_dir(dir)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// `.<name>.tfops-<pid>.tmp`, with `<name>` cut (on a character boundary) so that the whole
/// fits in 255 bytes.
fn temp_name(path: &Path) -> std::ffi::OsString {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let name = path.file_name().map(|n| n.as_bytes()).unwrap_or_default();
    let suffix = format!(".tfops-{}.tmp", std::process::id());
    let room = 255 - 1 - suffix.len();
    let mut end = name.len().min(room);
    if let Ok(s) = std::str::from_utf8(name) {
        while !s.is_char_boundary(end) {
            end -= 1;
        }
    }
    let mut v = Vec::with_capacity(end + suffix.len() + 1);
    v.push(b'.');
    v.extend_from_slice(&name[..end]);
    v.extend_from_slice(suffix.as_bytes());
    std::ffi::OsString::from_vec(v)
}

/// Creates `dir` (and parents) with `mode` whatever the umask; an existing folder is left as
/// it is (see [`ensure_dir`]: never chmod-ed, a link refused).
///
/// # Errors
/// When it cannot be created, or is a link or not a folder.
pub fn create_dir_mode(dir: &Path, mode: u32) -> io::Result<()> {
    ensure_dir(dir, mode)
}

// ---------------------------------------------------------------------------------------------
// No-follow primitives: what tfops creates, repairs, appends to, moves through or chmods is
// opened without following a symbolic link in its last component, checked on the descriptor,
// and never chmod-ed unless tfops just created it.

/// The error for a path that is a symbolic link where tfops refuses one.
pub fn symlink_refused(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is a symbolic link; tfops does not follow links for files and folders it writes",
            path.display()
        ),
    )
}

/// The error for a path that is not of the kind expected (a fifo where a file was expected).
pub fn not_regular(path: &Path, what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} is not a {what}", path.display()),
    )
}

/// Maps `ELOOP` (what `O_NOFOLLOW` answers for a link) to [`symlink_refused`].
fn loop_is_link(path: &Path) -> impl FnOnce(io::Error) -> io::Error + '_ {
    move |e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            symlink_refused(path)
        } else {
            e
        }
    }
}

/// Opens an existing folder (`O_DIRECTORY | O_NOFOLLOW`): a symbolic link there is refused.
///
/// # Errors
/// `NotFound`, a refused link, or any other open error.
pub fn open_dir_nofollow(dir: &Path) -> io::Result<rustix::fd::OwnedFd> {
    use rustix::fs::{open, Mode, OFlags};
    open(
        dir,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(io::Error::from)
    .map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => symlink_refused(dir),
        Some(libc::ENOTDIR) if is_symlink(dir) => symlink_refused(dir),
        _ => e,
    })
}

/// Whether `path` itself is a symbolic link (not followed).
pub fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Makes sure `dir` is a folder tfops may write in: creates it (and missing parents) with
/// `mode` when missing — the mode then applies whatever the umask — and otherwise leaves it as
/// it is, never chmod-ing what tfops did not create. A symbolic link at `dir` is refused.
///
/// # Errors
/// A refused link, something else than a folder there, or a creation error.
pub fn ensure_dir(dir: &Path, mode: u32) -> io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(m) if m.file_type().is_symlink() => return Err(symlink_refused(dir)),
        Ok(_) => return Err(not_regular(dir, "folder")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            std::fs::create_dir_all(parent)?;
        }
    }
    match std::fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {
            // Ours: the mode whatever the umask, set through a descriptor of what we made.
            let fd = open_dir_nofollow(dir)?;
            rustix::fs::fchmod(&fd, rustix::fs::Mode::from_raw_mode(mode))?;
            Ok(())
        }
        // Someone made it meanwhile: theirs, not chmod-ed, but still no link.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => open_dir_nofollow(dir).map(drop),
        Err(e) => Err(e),
    }
}

/// Opens `path` for appending (created with `mode` if missing), refusing a symbolic link and
/// anything but a regular file (a fifo is never waited on).
///
/// # Errors
/// A refused link or kind, or any open error.
pub fn open_append_nofollow(path: &Path, mode: u32) -> io::Result<File> {
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
        .map_err(loop_is_link(path))?;
    regular_or_refuse(f, path)
}

/// Opens an existing file for reading and writing (to repair it), refusing a symbolic link
/// and anything but a regular file.
///
/// # Errors
/// `NotFound`, a refused link or kind, or any open error.
pub fn open_rw_nofollow(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY)
        .open(path)
        .map_err(loop_is_link(path))?;
    regular_or_refuse(f, path)
}

/// Opens `path` for reading without ever blocking (`O_NONBLOCK`: a fifo returns at once) and
/// refuses anything but a regular file. `follow`: whether a symbolic link is followed (only
/// for a path the configuration names explicitly).
///
/// # Errors
/// `NotFound`, a refused link or kind, or any open error.
pub fn open_read_regular(path: &Path, follow: bool) -> io::Result<File> {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(loop_is_link(path))?;
    regular_or_refuse(f, path)
}

/// Reads a whole regular file without blocking on a fifo or a device (see
/// [`open_read_regular`]).
///
/// # Errors
/// As [`open_read_regular`], or a read error.
pub fn read_regular(path: &Path, follow: bool) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = open_read_regular(path, follow)?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

fn regular_or_refuse(f: File, path: &Path) -> io::Result<File> {
    let m = f.metadata()?;
    if !m.file_type().is_file() {
        return Err(not_regular(path, "regular file"));
    }
    // Regular files never block; clear O_NONBLOCK anyway so later reads behave as usual.
    let fl = rustix::fs::fcntl_getfl(&f)?;
    rustix::fs::fcntl_setfl(&f, fl - rustix::fs::OFlags::NONBLOCK)?;
    Ok(f)
}

/// Local time as `YYYY-MM-DD_HH-MM-SS`, the timestamp used in names.
pub fn name_ts(t: chrono::DateTime<chrono::Local>) -> String {
    t.format("%Y-%m-%d_%H-%M-%S").to_string()
}

/// RFC 3339 with offset, the timestamp used inside JSON.
pub fn json_ts<Tz: chrono::TimeZone>(t: chrono::DateTime<Tz>) -> String
where
    Tz::Offset: std::fmt::Display,
{
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Lowercase hex of `bytes` (journal names, hashes).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The bytes of a hex string (either case); `None` for an odd length or a non-hex digit.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Cuts a torn last line (bytes after the last newline: a write interrupted by kill -9) off a
/// line-oriented file, so that the next append starts on a line of its own; a file with no
/// newline at all is emptied. Looks back in blocks as far as the start of the file; fsyncs
/// when it cuts. Returns the bytes cut (0 when the file is missing, empty or whole).
///
/// # Errors
/// When the file exists but cannot be read or truncated.
pub fn cut_torn_tail(path: &Path) -> io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom};
    // Never through a link: a repair truncates.
    let mut f = match open_rw_nofollow(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            let keep = start + i as u64 + 1;
            if keep == len {
                return Ok(0);
            }
            f.set_len(keep)?;
            f.sync_all()?;
            return Ok(len - keep);
        }
        end = start;
    }
    if len > 0 {
        f.set_len(0)?;
        f.sync_all()?;
    }
    Ok(len)
}

/// `path` with `.` removed and `..` applied to the text (no file system access); `None` when
/// a `..` climbs above the start. Only meaningful for paths checked not to contain links.
pub fn lexical(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            other => out.push(other),
        }
    }
    Some(out)
}

/// Opens the folder `dir`, which must be `root` or lie below it, walking down from `root` one
/// folder at a time without following any link (`O_NOFOLLOW` at each step), so that whatever
/// is swapped in meanwhile, the folder opened is inside `root`. Missing folders are created
/// with `create`'s mode when given. `root` itself is opened as named (links followed).
///
/// # Errors
/// `dir` not below `root`, a link on the way ([`symlink_refused`]), something that is not a
/// folder, or an open or creation error.
pub fn open_dir_beneath(
    root: &Path,
    dir: &Path,
    create: Option<u32>,
) -> io::Result<rustix::fd::OwnedFd> {
    use rustix::fs::{mkdirat, openat, Mode, OFlags, CWD};
    let outside = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not inside {}", dir.display(), root.display()),
        )
    };
    let dir_l = lexical(dir).ok_or_else(outside)?;
    let root_l = lexical(root).ok_or_else(outside)?;
    let rel = dir_l.strip_prefix(&root_l).map_err(|_| outside())?;
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut fd = openat(
        CWD,
        &root_l,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut walked = root_l.clone();
    for c in rel.components() {
        let Component::Normal(name) = c else {
            return Err(outside());
        };
        walked.push(name);
        let refuse = |e: rustix::io::Errno, walked: &Path| -> io::Error {
            match e {
                rustix::io::Errno::LOOP => symlink_refused(walked),
                rustix::io::Errno::NOTDIR if is_symlink(walked) => symlink_refused(walked),
                e => io::Error::from(e),
            }
        };
        fd = match openat(&fd, name, flags, Mode::empty()) {
            Ok(f) => f,
            Err(rustix::io::Errno::NOENT) if create.is_some() => {
                let mode = Mode::from_raw_mode(create.unwrap_or(0o700));
                match mkdirat(&fd, name, mode) {
                    Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                    Err(e) => return Err(refuse(e, &walked)),
                }
                openat(&fd, name, flags, Mode::empty()).map_err(|e| refuse(e, &walked))?
            }
            Err(e) => return Err(refuse(e, &walked)),
        };
    }
    Ok(fd)
}

/// `path` as the system would reach it now: each existing step with its links resolved (so a
/// `..` goes to the parent the system goes to, the one of a link's target), the missing steps
/// as written.
///
/// # Errors
/// A link that cannot be followed (its target is missing, or a loop): where it would lead is
/// not known.
pub fn resolve_path(path: &Path) -> io::Result<PathBuf> {
    let mut cur = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            // `cur` has no link in it (or ends in missing steps): its parent by text is the
            // real one.
            Component::ParentDir => {
                cur.pop();
            }
            Component::Normal(name) => {
                cur.push(name);
                match std::fs::canonicalize(&cur) {
                    Ok(p) => cur = p,
                    Err(e) if is_symlink(&cur) => {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            format!(
                                "{} is a symbolic link that cannot be followed ({e})",
                                cur.display()
                            ),
                        ))
                    }
                    Err(_) => {}
                }
            }
            other => cur.push(other),
        }
    }
    Ok(cur)
}

/// `root` and `dir` resolved now ([`resolve_path`]), for [`open_dir_beneath`]: links that stay
/// inside `root` are thereby allowed, and the walk that follows no link then fails if one is
/// swapped in meanwhile.
///
/// # Errors
/// When `dir` leads out of `root` (through a link, or by `..`), or cannot be resolved.
pub fn resolve_beneath(root: &Path, dir: &Path) -> io::Result<(PathBuf, PathBuf)> {
    let root_c = std::fs::canonicalize(root)?;
    let cur = resolve_path(dir)?;
    if !cur.starts_with(&root_c) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} leads out of {} (through a symbolic link or `..`); tfops does not write there",
                dir.display(),
                root.display()
            ),
        ));
    }
    Ok((root_c, cur))
}

/// A path that names `name` inside the folder open as `dir`, whatever happens to the folder's
/// own path meanwhile (`/proc/self/fd/N/name`, Linux).
pub fn path_in_fd(dir: &rustix::fd::OwnedFd, name: &std::ffi::OsStr) -> PathBuf {
    use std::os::fd::AsRawFd;
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_reached_beneath_a_root_through_links_that_stay_inside_only() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("ws");
        std::fs::create_dir_all(root.join("envs/prod/deep")).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(root.join("envs/prod"), root.join("iac")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("envs/out")).unwrap();
        let canon = std::fs::canonicalize(&root).unwrap();
        // A link inside: resolved, the missing rest kept as written.
        let (r, dir) = resolve_beneath(&root, &root.join("iac/new/x")).unwrap();
        assert_eq!(
            (r.as_path(), dir.clone()),
            (canon.as_path(), canon.join("envs/prod/new/x"))
        );
        // `..` after a link goes where the system goes: the parent of its target.
        let (_, up) = resolve_beneath(&root, &root.join("iac/deep/../..")).unwrap();
        assert_eq!(up, canon.join("envs"));
        // Out, through a link or by `..`: refused.
        for bad in ["envs/out", "envs/out/new", "iac/../../..", "iac/../out/x"] {
            let e = resolve_beneath(&root, &root.join(bad)).unwrap_err();
            assert!(e.to_string().contains("leads out"), "{bad}: {e}");
        }
        // The walk itself follows no link, even one that stays inside (swapped in after the
        // resolution), and creates what is missing.
        let e = open_dir_beneath(&canon, &canon.join("iac/new"), Some(0o700)).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(!canon.join("envs/prod/new").exists());
        open_dir_beneath(&canon, &dir, Some(0o700)).unwrap();
        assert!(canon.join("envs/prod/new/x").is_dir());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }

    #[test]
    fn noreplace_keeps_both() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        let b = d.path().join("b");
        std::fs::write(&a, "A").unwrap();
        std::fs::write(&b, "B").unwrap();
        let e = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&a).unwrap(), b"A");
        assert_eq!(std::fs::read(&b).unwrap(), b"B");
        let c = d.path().join("c");
        rename_noreplace(&a, &c).unwrap();
        assert!(!a.exists());
        assert_eq!(std::fs::read(&c).unwrap(), b"A");
    }

    #[test]
    fn atomic_write_sets_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        write_atomic(&p, b"x", 0o600, true).unwrap();
        let m = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o600);
        assert_eq!(std::fs::read(&p).unwrap(), b"x");
    }

    #[test]
    fn hex_round_trips() {
        assert_eq!(hex(b"\x00\xffa"), "00ff61");
        assert_eq!(unhex("00ff61").unwrap(), b"\x00\xffa");
        assert_eq!(unhex("00FF").unwrap(), b"\x00\xff");
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn torn_tail_is_cut_back_to_the_last_newline_however_far() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("l.jsonl");
        assert_eq!(cut_torn_tail(&p).unwrap(), 0, "missing");
        std::fs::write(&p, b"").unwrap();
        assert_eq!(cut_torn_tail(&p).unwrap(), 0, "empty");
        std::fs::write(&p, b"a\nb\n").unwrap();
        assert_eq!(cut_torn_tail(&p).unwrap(), 0);
        assert_eq!(std::fs::read(&p).unwrap(), b"a\nb\n");
        std::fs::write(&p, b"a\nb\n{\"torn").unwrap();
        assert_eq!(cut_torn_tail(&p).unwrap(), 6);
        assert_eq!(std::fs::read(&p).unwrap(), b"a\nb\n");
        // A torn line longer than any block (and than 64 KiB, where desk.rs used to give up).
        let mut big = b"first\n".to_vec();
        big.extend(std::iter::repeat_n(b'x', 100_000));
        std::fs::write(&p, &big).unwrap();
        assert_eq!(cut_torn_tail(&p).unwrap(), 100_000);
        assert_eq!(std::fs::read(&p).unwrap(), b"first\n");
        // No newline at all: nothing of it is a whole line.
        std::fs::write(&p, vec![b'y'; 9000]).unwrap();
        assert_eq!(cut_torn_tail(&p).unwrap(), 9000);
        assert_eq!(std::fs::read(&p).unwrap(), b"");
    }
}
