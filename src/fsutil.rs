//! Small filesystem primitives with the guarantees the rest relies on: rename that never
//! overwrites, atomic replace (temp, fsync, rename, fsync of the folder), private files, the
//! repair of a torn last line, and hex. A leaf: it imports nothing from the crate.
//!
//! No policy here: callers decide names and what a failure means.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

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

/// fsyncs a folder so that a rename inside it is durable.
///
/// # Errors
/// When the folder cannot be opened or synced.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically: a temp file beside it, fsync, rename over, fsync of the
/// folder. `mode` applies to the new file whatever the umask.
///
/// # Errors
/// Any I/O error; the temp file is removed on failure and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, durable: bool) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tfops-{}.tmp", std::process::id()));
    let res = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
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

/// Creates `dir` (and parents) and sets it to `mode` whatever the umask.
///
/// # Errors
/// When it cannot be created or chmod'ed.
pub fn create_dir_mode(dir: &Path, mode: u32) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
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
    let mut f = match OpenOptions::new().read(true).write(true).open(path) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
