//! Requests: validation of a file in the intake, and the names it gets when it moves.
//!
//! A valid request is a regular file (never followed through a symlink, a fifo never opened),
//! UTF-8 text, at most `max_request_bytes`, with a UTF-8 name. Everything else is rejected with
//! one of SPEC's reasons.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
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
            Reason::BadName => "bad_name",
        }
    }
}

/// The verdict on one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
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

/// Validates `path` (a file in the intake) without following symlinks or blocking on fifos.
pub fn validate(path: &Path, max_bytes: u64) -> Verdict {
    let name = path.file_name().unwrap_or_default();
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Verdict::Gone,
        Err(e) => {
            return Verdict::Invalid {
                reason: Reason::Unreadable,
                detail: format!("cannot stat: {e}"),
            }
        }
    };
    let ft = meta.file_type();
    if ft.is_symlink() {
        return Verdict::Invalid {
            reason: Reason::Symlink,
            detail: "a symbolic link (never followed)".into(),
        };
    }
    if !ft.is_file() {
        return Verdict::Invalid {
            reason: Reason::NotRegularFile,
            detail: format!("not a regular file ({})", kind_of(&ft)),
        };
    }
    if std::str::from_utf8(name.as_bytes()).is_err() {
        return Verdict::Invalid {
            reason: Reason::BadName,
            detail: "the file name is not UTF-8".into(),
        };
    }
    if meta.len() > max_bytes {
        return Verdict::Invalid {
            reason: Reason::TooLarge,
            detail: format!(
                "{} bytes, more than max_request_bytes = {max_bytes}",
                meta.len()
            ),
        };
    }
    // O_NOFOLLOW and O_NONBLOCK: if the file was swapped for a symlink or a fifo since the
    // lstat, the open fails or returns at once instead of following or hanging.
    let file = match File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Verdict::Gone,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Verdict::Invalid {
                reason: Reason::Symlink,
                detail: "a symbolic link (never followed)".into(),
            }
        }
        Err(e) => {
            return Verdict::Invalid {
                reason: Reason::Unreadable,
                detail: format!("cannot open: {e}"),
            }
        }
    };
    let fmeta = match file.metadata() {
        Ok(m) => m,
        Err(e) => {
            return Verdict::Invalid {
                reason: Reason::Unreadable,
                detail: format!("cannot stat: {e}"),
            }
        }
    };
    if !fmeta.file_type().is_file() || fmeta.ino() != meta.ino() {
        return Verdict::Invalid {
            reason: Reason::NotRegularFile,
            detail: "replaced by something else while being checked".into(),
        };
    }
    let mut buf = Vec::with_capacity(fmeta.len().min(max_bytes) as usize + 1);
    match file.take(max_bytes + 1).read_to_end(&mut buf) {
        Ok(_) => {}
        Err(e) => {
            return Verdict::Invalid {
                reason: Reason::Unreadable,
                detail: format!("cannot read: {e}"),
            }
        }
    }
    if buf.len() as u64 > max_bytes {
        return Verdict::Invalid {
            reason: Reason::TooLarge,
            detail: format!("more than max_request_bytes = {max_bytes}"),
        };
    }
    if let Err(e) = std::str::from_utf8(&buf) {
        return Verdict::Invalid {
            reason: Reason::NotUtf8,
            detail: format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.valid_up_to()
            ),
        };
    }
    Verdict::Valid {
        bytes: buf.len() as u64,
    }
}

fn kind_of(ft: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a fifo"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device"
    } else {
        "not a file"
    }
}

/// Longest file name most filesystems take.
pub const NAME_MAX: usize = 255;

/// Keeps the end of `name` so that `prefix + name` fits in [`NAME_MAX`] bytes, cutting on a
/// character boundary when the name is UTF-8.
fn fit(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    let room = NAME_MAX.saturating_sub(prefix.len());
    let mut start = name.len().saturating_sub(room);
    if let Ok(s) = std::str::from_utf8(name) {
        while !s.is_char_boundary(start) {
            start += 1;
        }
    }
    let mut out = prefix.to_vec();
    out.extend_from_slice(&name[start..]);
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
    let room = NAME_MAX - ".error.json".len();
    if with_k.len() > room {
        let cut = fit(&[], &with_k[with_k.len() - room..]);
        OsString::from_vec(cut)
    } else {
        OsString::from_vec(with_k)
    }
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
        assert_eq!(validate(&p("ok"), 100), Verdict::Valid { bytes: 7 });
        std::fs::write(p("bin"), [0xff, 0xfe]).unwrap();
        assert!(matches!(
            validate(&p("bin"), 100),
            Verdict::Invalid {
                reason: Reason::NotUtf8,
                ..
            }
        ));
        std::fs::write(p("big"), "x".repeat(101)).unwrap();
        assert!(matches!(
            validate(&p("big"), 100),
            Verdict::Invalid {
                reason: Reason::TooLarge,
                ..
            }
        ));
        symlink(p("ok"), p("link")).unwrap();
        assert!(matches!(
            validate(&p("link"), 100),
            Verdict::Invalid {
                reason: Reason::Symlink,
                ..
            }
        ));
        std::fs::create_dir(p("dir")).unwrap();
        assert!(matches!(
            validate(&p("dir"), 100),
            Verdict::Invalid {
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
            Verdict::Invalid {
                reason: Reason::NotRegularFile,
                ..
            }
        ));
        assert_eq!(validate(&p("missing"), 100), Verdict::Gone);
        let bad = d.path().join(OsStr::from_bytes(b"bad\xffname"));
        std::fs::write(&bad, "x").unwrap();
        assert!(matches!(
            validate(&bad, 100),
            Verdict::Invalid {
                reason: Reason::BadName,
                ..
            }
        ));
    }
}
