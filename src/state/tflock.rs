//! Whether Terraform holds the state: its `fcntl` lock on the state file, or its lock info file
//! `.<state file name>.lock.info` beside it (`iac/.terraform.tfstate.lock.info`).
//!
//! Only looks: never takes a lock, and never opens the state for writing (an open for writing
//! would wake our own watcher with a close-write event).

use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What Terraform's lock info file says (its own field names).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct LockInfo {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Operation")]
    pub operation: String,
    #[serde(rename = "Who")]
    pub who: String,
    #[serde(rename = "Version")]
    pub version: String,
    #[serde(rename = "Created")]
    pub created: String,
}

/// Terraform's hold on the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TfLock {
    /// The state file carries an fcntl lock.
    pub fcntl: bool,
    /// The lock info file exists; its content when it parses.
    pub info_file: Option<PathBuf>,
    pub info: Option<LockInfo>,
}

impl TfLock {
    /// One line for messages: who, what and since when.
    pub fn describe(&self) -> String {
        match &self.info {
            Some(i) => format!(
                "Who: {}, Operation: {}, Created: {}{}",
                or_unknown(&i.who),
                or_unknown(&i.operation),
                or_unknown(&i.created),
                if i.id.is_empty() {
                    String::new()
                } else {
                    format!(", ID: {}", printable(&i.id))
                }
            ),
            None if self.info_file.is_some() => {
                "its lock info file exists but cannot be read".to_string()
            }
            None => "an fcntl lock on the state file (no lock info file)".to_string(),
        }
    }
}

/// A field of the lock info as it may be shown on a terminal: whoever wrote the file chose
/// its bytes, so control characters (escape sequences, newlines that would forge lines) and
/// bidirectional overrides are shown escaped, and it is cut at [`SHOWN_MAX`] characters.
fn or_unknown(s: &str) -> String {
    if s.is_empty() {
        "unknown".into()
    } else {
        printable(s)
    }
}

/// Characters of a lock info field shown at most.
pub const SHOWN_MAX: usize = 200;

/// `s` with every control or bidi-override character escaped (`\u{1b}`), at most
/// [`SHOWN_MAX`] characters.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(SHOWN_MAX * 2));
    for (i, c) in s.chars().enumerate() {
        if i == SHOWN_MAX {
            out.push('…');
            break;
        }
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
        if c.is_control() || bidi {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// `.<name>.lock.info` beside the state.
pub fn lock_info_path(state: &Path) -> PathBuf {
    let dir = state.parent().unwrap_or(Path::new("."));
    let name = state
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(".{name}.lock.info"))
}

/// `Some` when Terraform holds the state at `state`.
///
/// # Errors
/// When the state exists but its lock cannot be queried.
pub fn terraform_lock(state: &Path) -> io::Result<Option<TfLock>> {
    let fcntl = crate::lock::is_fcntl_locked(state)?;
    let info_path = lock_info_path(state);
    let (info_file, info) = match crate::fsutil::read_regular(&info_path, true) {
        Ok(b) => (Some(info_path), serde_json::from_slice::<LockInfo>(&b).ok()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => (None, None),
        Err(_) => (Some(info_path), None),
    };
    if fcntl || info_file.is_some() {
        Ok(Some(TfLock {
            fcntl,
            info_file,
            info,
        }))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_file_name() {
        assert_eq!(
            lock_info_path(Path::new("/w/iac/terraform.tfstate")),
            PathBuf::from("/w/iac/.terraform.tfstate.lock.info")
        );
    }

    #[test]
    fn info_file_means_held() {
        let d = tempfile::tempdir().unwrap();
        let s = d.path().join("terraform.tfstate");
        std::fs::write(&s, "{}").unwrap();
        assert_eq!(terraform_lock(&s).unwrap(), None);
        std::fs::write(
            lock_info_path(&s),
            r#"{"ID":"x","Operation":"OperationTypeApply","Who":"bob@host","Version":"1.0.3","Created":"2026-11-28T15:00:00Z","Info":""}"#,
        )
        .unwrap();
        let l = terraform_lock(&s).unwrap().unwrap();
        assert!(!l.fcntl);
        let d = l.describe();
        assert!(
            d.contains("bob@host") && d.contains("OperationTypeApply"),
            "{d}"
        );
    }

    #[test]
    fn a_hostile_who_is_shown_escaped() {
        let l = TfLock {
            fcntl: true,
            info_file: Some(PathBuf::from("x")),
            info: Some(LockInfo {
                who: "bob\u{1b}]0;pwned\u{7}\nError: forged line\u{202e}".into(),
                id: "\r".repeat(1000),
                ..LockInfo::default()
            }),
        };
        let d = l.describe();
        assert!(
            !d.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{d:?}"
        );
        assert!(
            d.contains("bob\\u{1b}]0;pwned\\u{7}\\u{a}Error: forged line\\u{202e}"),
            "{d}"
        );
        assert!(d.chars().count() < 2 * SHOWN_MAX * 7, "{}", d.len());
    }
}
