//! Requests: validation of a file in the intake, and the names it gets when it moves.
//!
//! A valid request is a regular file (never followed through a symlink, a fifo never opened),
//! its only hard link, UTF-8 text, at most `max_request_bytes`, with a UTF-8 name. Everything
//! else is rejected with one of the documented reasons. What is validated is the file that was
//! opened, identified by its [`FileId`], so that the desk moves that file and nothing else.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

/// Why a request was rejected (the `reason` of `<name>.error.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    NotRegularFile,
    Symlink,
    NotUtf8,
    TooLarge,
    Unreadable,
    HardLink,
    BadName,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotRegularFile => "not_regular_file",
            Reason::Symlink => "symlink",
            Reason::NotUtf8 => "not_utf8",
            Reason::TooLarge => "too_large",
            Reason::Unreadable => "unreadable",
            Reason::HardLink => "hard_link",
            Reason::BadName => "bad_name",
        }
    }
}

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestVerdict {
    /// Valid: its size in bytes.
    Valid { bytes: u64 },
    /// Invalid: why, in a word and in a sentence.
    Invalid { reason: Reason, detail: String },
    /// It is no longer there (someone else took it).
    Gone,
}

/// Names that are being written and must be left alone.
pub fn is_in_progress(name: &OsStr) -> bool {
    let b = name.as_bytes();
    b.first() == Some(&b'.') || b.ends_with(b".tmp")
}

/// Which file a verdict is about: the device and inode of what was opened and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    /// The id in a `stat` result.
    // The field types differ between architectures: the casts are not useless everywhere.
    #[allow(clippy::unnecessary_cast)]
    pub fn of(st: &rustix::fs::Stat) -> FileId {
        FileId {
            dev: st.st_dev as u64,
            ino: st.st_ino as u64,
        }
    }
}

/// Validates `path` (a file in the intake) without following symlinks or blocking on fifos.
pub fn validate(path: &Path, max_bytes: u64) -> RequestVerdict {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default();
    match crate::fsutil::open_dir_nofollow(dir) {
        Ok(fd) => validate_at(&fd, name, max_bytes).0,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => RequestVerdict::Gone,
        Err(e) => RequestVerdict::Invalid {
            reason: Reason::Unreadable,
            detail: format!("cannot open its folder: {e}"),
        },
    }
}

/// Bytes read at a time when checking a request: memory stays bounded whatever its size.
const CHUNK: usize = 64 * 1024;

/// Validates `name` inside the folder `dir` (a descriptor opened without following links).
/// What is checked is what was opened (`O_NOFOLLOW | O_NONBLOCK`, then `fstat` of the
/// descriptor), never what the name points to later; the returned [`FileId`] lets the caller
/// confirm, before and after moving it, that the name still holds that file. A file with more
/// than one hard link is refused (`hard_link`): its inode may be someone else's file outside
/// the intake. The content is read in chunks, so memory is bounded whatever the size.
pub fn validate_at(
    dir: &impl rustix::fd::AsFd,
    name: &OsStr,
    max_bytes: u64,
) -> (RequestVerdict, Option<FileId>) {
    use rustix::fs::{fstat, openat, statat, AtFlags, FileType, Mode, OFlags};
    let invalid = |reason, detail: String| RequestVerdict::Invalid { reason, detail };
    let st = match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return (RequestVerdict::Gone, None),
        Err(e) => {
            return (
                invalid(Reason::Unreadable, format!("cannot stat: {e}")),
                None,
            )
        }
    };
    let id = FileId::of(&st);
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Symlink => {
            return (
                invalid(Reason::Symlink, "a symbolic link (never followed)".into()),
                Some(id),
            )
        }
        FileType::RegularFile => {}
        other => {
            return (
                invalid(
                    Reason::NotRegularFile,
                    format!("not a regular file ({})", kind_name(other)),
                ),
                Some(id),
            )
        }
    }
    if std::str::from_utf8(name.as_bytes()).is_err() {
        return (
            invalid(Reason::BadName, "the file name is not UTF-8".into()),
            Some(id),
        );
    }
    // O_NOFOLLOW and O_NONBLOCK: if the name was swapped for a symlink or a fifo since the
    // stat, the open fails or returns at once instead of following or hanging.
    let fd = match openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) => return (RequestVerdict::Gone, None),
        Err(rustix::io::Errno::LOOP) => {
            // Swapped for a link since the stat: judge what is there now.
            return (
                invalid(Reason::Symlink, "a symbolic link (never followed)".into()),
                None,
            );
        }
        Err(e) => {
            return (
                invalid(Reason::Unreadable, format!("cannot open: {e}")),
                Some(id),
            )
        }
    };
    let fst = match fstat(&fd) {
        Ok(s) => s,
        Err(e) => {
            return (
                invalid(Reason::Unreadable, format!("cannot stat: {e}")),
                None,
            )
        }
    };
    // From here on the verdict is about the opened file, whatever the name holds now.
    let id = FileId::of(&fst);
    let ft = FileType::from_raw_mode(fst.st_mode);
    if ft != FileType::RegularFile {
        return (
            invalid(
                Reason::NotRegularFile,
                format!("not a regular file ({})", kind_name(ft)),
            ),
            Some(id),
        );
    }
    if fst.st_nlink > 1 {
        return (
            invalid(
                Reason::HardLink,
                format!(
                    "the file has {} hard links; a request must be its only name",
                    fst.st_nlink
                ),
            ),
            Some(id),
        );
    }
    let size = fst.st_size.max(0) as u64;
    if size > max_bytes {
        return (
            invalid(
                Reason::TooLarge,
                format!("{size} bytes, more than max_request_bytes = {max_bytes}"),
            ),
            Some(id),
        );
    }
    let mut file = File::from(fd);
    match check_utf8_stream(&mut file, max_bytes) {
        Ok(Ok(bytes)) => (RequestVerdict::Valid { bytes }, Some(id)),
        Ok(Err(v)) => (v, Some(id)),
        Err(e) => (
            invalid(Reason::Unreadable, format!("cannot read: {e}")),
            Some(id),
        ),
    }
}

/// Reads `r` to its end in [`CHUNK`]s, checking that it is UTF-8 and at most `max_bytes`
/// long. Memory: one chunk plus the three bytes of a character cut by a chunk's end.
fn check_utf8_stream(
    r: &mut impl Read,
    max_bytes: u64,
) -> std::io::Result<Result<u64, RequestVerdict>> {
    let mut buf = vec![0u8; CHUNK + 4];
    let mut carry = 0usize;
    let mut total: u64 = 0;
    loop {
        let n = match r.read(&mut buf[carry..carry + CHUNK]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            if carry > 0 {
                return Ok(Err(not_utf8(total - carry as u64)));
            }
            return Ok(Ok(total));
        }
        total += n as u64;
        if total > max_bytes {
            return Ok(Err(RequestVerdict::Invalid {
                reason: Reason::TooLarge,
                detail: format!("more than max_request_bytes = {max_bytes}"),
            }));
        }
        let filled = carry + n;
        let base = total - filled as u64;
        match std::str::from_utf8(&buf[..filled]) {
            Ok(_) => carry = 0,
            Err(e) if e.error_len().is_none() => {
                // A character cut by the end of the chunk: keep its bytes for the next one.
                let ok = e.valid_up_to();
                buf.copy_within(ok..filled, 0);
                carry = filled - ok;
            }
            Err(e) => return Ok(Err(not_utf8(base + e.valid_up_to() as u64))),
        }
    }
}

fn not_utf8(offset: u64) -> RequestVerdict {
    RequestVerdict::Invalid {
        reason: Reason::NotUtf8,
        detail: format!("not UTF-8 text (invalid byte at offset {offset})"),
    }
}

fn kind_name(ft: rustix::fs::FileType) -> &'static str {
    use rustix::fs::FileType;
    match ft {
        FileType::Directory => "a directory",
        FileType::Fifo => "a fifo",
        FileType::Socket => "a socket",
        FileType::BlockDevice | FileType::CharacterDevice => "a device",
        FileType::Symlink => "a symbolic link",
        _ => "not a file",
    }
}

/// Longest file name most filesystems take.
pub const NAME_MAX: usize = 255;

/// The end of `name` that fits in `room` bytes, starting on a character boundary when the
/// name is UTF-8.
fn keep_end(name: &[u8], room: usize) -> &[u8] {
    let mut start = name.len().saturating_sub(room);
    if let Ok(s) = std::str::from_utf8(name) {
        while !s.is_char_boundary(start) {
            start += 1;
        }
    }
    &name[start..]
}

/// Keeps the end of `name` so that `prefix + name` fits in [`NAME_MAX`] bytes, cutting on a
/// character boundary when the name is UTF-8.
fn fit(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    out.extend_from_slice(keep_end(name, NAME_MAX.saturating_sub(prefix.len())));
    out
}

/// `processed_<ts>_<name>`, or `processed_<ts>-<k>_<name>` for k ≥ 2; a name too long keeps
/// its end.
pub fn processed_name(ts: &str, name: &OsStr, k: u32) -> OsString {
    let prefix = if k <= 1 {
        format!("processed_{ts}_")
    } else {
        format!("processed_{ts}-{k}_")
    };
    OsString::from_vec(fit(prefix.as_bytes(), name.as_bytes()))
}

/// `<name>` for k ≤ 1, else `<stem>-<k><.ext>` (suffix before the extension); a name too long
/// keeps its end (leaving room for `.error.json`).
pub fn error_name(name: &OsStr, k: u32) -> OsString {
    let b = name.as_bytes();
    let with_k = if k <= 1 {
        b.to_vec()
    } else {
        let dot = b.iter().rposition(|c| *c == b'.').filter(|i| *i > 0);
        let (stem, ext) = match dot {
            Some(i) => (&b[..i], &b[i..]),
            None => (b, &b[b.len()..]),
        };
        let mut v = stem.to_vec();
        v.extend_from_slice(format!("-{k}").as_bytes());
        v.extend_from_slice(ext);
        v
    };
    // The whole name is cut (not a slice of it): a UTF-8 name is cut on a character boundary.
    let room = NAME_MAX - ".error.json".len();
    OsString::from_vec(keep_end(&with_k, room).to_vec())
}

/// The sidecar of a rejected request: `<final name>.error.json`.
pub fn error_sidecar(final_name: &OsStr) -> OsString {
    let mut v = final_name.as_bytes().to_vec();
    v.extend_from_slice(b".error.json");
    OsString::from_vec(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn names() {
        assert_eq!(
            processed_name("2026-11-28_15-00-00", OsStr::new("a b.txt"), 1),
            "processed_2026-11-28_15-00-00_a b.txt"
        );
        assert_eq!(
            processed_name("2026-11-28_15-00-00", OsStr::new("a.txt"), 3),
            "processed_2026-11-28_15-00-00-3_a.txt"
        );
        assert_eq!(error_name(OsStr::new("a.txt"), 1), "a.txt");
        assert_eq!(error_name(OsStr::new("a.txt"), 2), "a-2.txt");
        assert_eq!(error_name(OsStr::new("noext"), 2), "noext-2");
        assert_eq!(error_name(OsStr::new(".hidden"), 2), ".hidden-2");
    }

    #[test]
    fn long_names_keep_their_end_on_char_boundaries() {
        let long = "é".repeat(200) + "-end.txt";
        let p = processed_name("2026-11-28_15-00-00", OsStr::new(&long), 1);
        assert!(p.len() <= NAME_MAX);
        let s = p.to_str().expect("still UTF-8");
        assert!(s.starts_with("processed_2026-11-28_15-00-00_"));
        assert!(s.ends_with("-end.txt"));
        let e = error_name(OsStr::new(&long), 7);
        assert!(e.len() + ".error.json".len() <= NAME_MAX);
        assert!(e.to_str().unwrap().ends_with("-7.txt"));
    }

    #[test]
    fn in_progress() {
        assert!(is_in_progress(OsStr::new(".x")));
        assert!(is_in_progress(OsStr::new("x.tmp")));
        assert!(!is_in_progress(OsStr::new("x.txt")));
    }

    #[test]
    fn validation_verdicts() {
        let d = tempfile::tempdir().unwrap();
        let p = |n: &str| d.path().join(n);
        std::fs::write(p("ok"), "hola ñ").unwrap();
        assert_eq!(validate(&p("ok"), 100), RequestVerdict::Valid { bytes: 7 });
        std::fs::write(p("bin"), [0xff, 0xfe]).unwrap();
        assert!(matches!(
            validate(&p("bin"), 100),
            RequestVerdict::Invalid {
                reason: Reason::NotUtf8,
                ..
            }
        ));
        std::fs::write(p("big"), "x".repeat(101)).unwrap();
        assert!(matches!(
            validate(&p("big"), 100),
            RequestVerdict::Invalid {
                reason: Reason::TooLarge,
                ..
            }
        ));
        symlink(p("ok"), p("link")).unwrap();
        assert!(matches!(
            validate(&p("link"), 100),
            RequestVerdict::Invalid {
                reason: Reason::Symlink,
                ..
            }
        ));
        std::fs::create_dir(p("dir")).unwrap();
        assert!(matches!(
            validate(&p("dir"), 100),
            RequestVerdict::Invalid {
                reason: Reason::NotRegularFile,
                ..
            }
        ));
        rustix::fs::mknodat(
            rustix::fs::CWD,
            p("fifo").as_path(),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        assert!(matches!(
            validate(&p("fifo"), 100),
            RequestVerdict::Invalid {
                reason: Reason::NotRegularFile,
                ..
            }
        ));
        assert_eq!(validate(&p("missing"), 100), RequestVerdict::Gone);
        let bad = d.path().join(OsStr::from_bytes(b"bad\xffname"));
        std::fs::write(&bad, "x").unwrap();
        assert!(matches!(
            validate(&bad, 100),
            RequestVerdict::Invalid {
                reason: Reason::BadName,
                ..
            }
        ));
    }

    #[test]
    fn utf8_is_checked_across_chunk_boundaries() {
        // "é" (2 bytes) and "€" (3 bytes) straddling the end of the first chunk.
        for pad in [CHUNK - 1, CHUNK - 2, CHUNK] {
            let mut v = vec![b'a'; pad];
            v.extend_from_slice("é€x".as_bytes());
            let n = v.len() as u64;
            assert_eq!(
                check_utf8_stream(&mut &v[..], n).unwrap(),
                Ok(n),
                "pad {pad}"
            );
            // and a truncated character at the very end is not UTF-8
            let cut = &v[..v.len() - 2];
            assert!(matches!(
                check_utf8_stream(&mut &cut[..], n).unwrap(),
                Err(RequestVerdict::Invalid {
                    reason: Reason::NotUtf8,
                    ..
                })
            ));
        }
        let mut bad = vec![b'a'; CHUNK + 10];
        bad[CHUNK + 3] = 0xff;
        let Err(RequestVerdict::Invalid { detail, .. }) =
            check_utf8_stream(&mut &bad[..], 1 << 20).unwrap()
        else {
            panic!()
        };
        assert!(
            detail.contains(&format!("offset {}", CHUNK + 3)),
            "{detail}"
        );
    }

    fn peak_rss_kib() -> u64 {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    #[test]
    fn a_huge_sparse_request_is_checked_in_bounded_memory() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("sparse");
        let f = File::create(&p).unwrap();
        f.set_len(1 << 30).unwrap(); // 1 GiB of zeros, no blocks on disk
        drop(f);
        let before = peak_rss_kib();
        assert_eq!(
            validate(&p, 1 << 31),
            RequestVerdict::Valid { bytes: 1 << 30 }
        );
        let grew = peak_rss_kib().saturating_sub(before);
        // Reading it whole would touch 1 GiB; the check holds one 64 KiB chunk.
        assert!(grew < 256 * 1024, "peak memory grew by {grew} KiB");
    }

    #[test]
    fn a_second_hard_link_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        std::fs::write(&a, "x").unwrap();
        std::fs::hard_link(&a, d.path().join("b")).unwrap();
        assert!(matches!(
            validate(&a, 100),
            RequestVerdict::Invalid {
                reason: Reason::HardLink,
                ..
            }
        ));
    }

    #[test]
    fn long_utf8_error_names_are_cut_on_a_boundary() {
        for extra in 0..4 {
            let long = "x".repeat(extra) + &"é".repeat(130) + ".txt";
            for k in [1, 2, 77] {
                let e = error_name(OsStr::new(&long), k);
                assert!(e.len() + ".error.json".len() <= NAME_MAX);
                assert!(e.to_str().is_some(), "cut mid-character: {e:?}");
            }
        }
    }
}
