//! Filesystem functions: `file`, `fileexists`, `templatefile`, `fileset`, `filebase64`,
//! `filemd5`, `filesha1`, `filesha256`, `filesha512`, `basename`, `dirname`, `abspath`,
//! `pathexpand`.
//!
//! Relative paths resolve against `path.cwd` as Terraform resolves them (the module folder
//! unless the caller sets another). Reads are bounded ([`MAX_FILE`]) and safe against hostile
//! folders: a file is opened with `O_NONBLOCK` (a FIFO never blocks) and refused unless it is
//! a regular file; `fileset` walks at most [`MAX_WALK`] entries and never follows a symlinked
//! folder.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::{arg_str, arity, err, FResult, FuncError};
use crate::drift::eval::{render_template, Scope};
use crate::drift::value::Value;

/// Largest file the functions read (16 MiB).
pub const MAX_FILE: u64 = 16 << 20;
/// Most directory entries `fileset` looks at.
pub const MAX_WALK: usize = 100_000;

/// Dispatches a filesystem function; `None` if `name` is not one.
pub fn call(name: &str, a: &[Value], scope: &Scope) -> Option<FResult> {
    Some(match name {
        "file" => (|| {
            arity(name, a, 1, 1)?;
            let b = read(scope, &arg_str(a, 0, "path")?)?;
            utf8(b)
        })(),
        "filebase64" => (|| {
            arity(name, a, 1, 1)?;
            let b = read(scope, &arg_str(a, 0, "path")?)?;
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(b),
            ))
        })(),
        "filebase64sha256" | "filebase64sha512" => (|| {
            arity(name, a, 1, 1)?;
            let b = read(scope, &arg_str(a, 0, "path")?)?;
            Ok(Value::String(super::crypto::digest(&name[4..], &b)))
        })(),
        "filemd5" | "filesha1" | "filesha256" | "filesha512" => (|| {
            arity(name, a, 1, 1)?;
            let b = read(scope, &arg_str(a, 0, "path")?)?;
            Ok(Value::String(super::crypto::digest(&name[4..], &b)))
        })(),
        "fileexists" => (|| {
            arity(name, a, 1, 1)?;
            let p = resolve(scope, &arg_str(a, 0, "path")?);
            match std::fs::metadata(&p) {
                Ok(m) if m.is_file() => Ok(Value::Bool(true)),
                Ok(m) if m.is_dir() => err(format!("{} is a directory, not a file", p.display())),
                Ok(_) => err(format!("{} is not a regular file", p.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Bool(false)),
                Err(e) => err(format!("failed to stat {}: {e}", p.display())),
            }
        })(),
        "templatefile" => templatefile(a, scope),
        "fileset" => fileset(a, scope),
        "basename" => (|| {
            arity(name, a, 1, 1)?;
            let s = arg_str(a, 0, "path")?;
            Ok(Value::String(basename(&s)))
        })(),
        "dirname" => (|| {
            arity(name, a, 1, 1)?;
            let s = arg_str(a, 0, "path")?;
            Ok(Value::String(dirname(&s)))
        })(),
        "abspath" => (|| {
            arity(name, a, 1, 1)?;
            let s = arg_str(a, 0, "path")?;
            Ok(Value::String(
                resolve(scope, &s).to_string_lossy().into_owned(),
            ))
        })(),
        "pathexpand" => (|| {
            arity(name, a, 1, 1)?;
            let s = arg_str(a, 0, "path")?;
            match (s.strip_prefix('~'), std::env::var("HOME")) {
                (Some(rest), Ok(h)) if rest.is_empty() || rest.starts_with('/') => {
                    Ok(Value::String(format!("{h}{rest}")))
                }
                _ => Ok(Value::String(s)),
            }
        })(),
        _ => return None,
    })
}

fn basename(s: &str) -> String {
    let t = s.trim_end_matches('/');
    if t.is_empty() {
        return if s.is_empty() { ".".into() } else { "/".into() };
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn dirname(s: &str) -> String {
    match s.rfind('/') {
        None => ".".into(),
        Some(0) => "/".into(),
        Some(i) => {
            let d = s[..i].trim_end_matches('/');
            if d.is_empty() {
                "/".into()
            } else {
                d.to_string()
            }
        }
    }
}

fn resolve(scope: &Scope, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        scope.cwd().join(p)
    }
}

fn utf8(b: Vec<u8>) -> FResult {
    String::from_utf8(b).map(Value::String).map_err(|_| {
        FuncError("contents of the file are not valid UTF-8; use filebase64 instead".into())
    })
}

/// Reads a regular file, at most [`MAX_FILE`] bytes, never blocking on a FIFO.
///
/// # Errors
/// Missing files, folders, FIFOs and devices, files over the limit, read errors.
pub fn read(scope: &Scope, p: &str) -> Result<Vec<u8>, FuncError> {
    let path = resolve(scope, p);
    read_path(&path)
}

/// Reads a regular file by path, with the same bounds as [`read`].
///
/// # Errors
/// As [`read`].
pub fn read_path(path: &Path) -> Result<Vec<u8>, FuncError> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            FuncError(format!(
                "no file exists at {:?}: {e}",
                path.display().to_string()
            ))
        })?;
    let meta = f
        .metadata()
        .map_err(|e| FuncError(format!("cannot stat {}: {e}", path.display())))?;
    if !meta.is_file() {
        return err(format!("{} is not a regular file", path.display()));
    }
    if meta.len() > MAX_FILE {
        return err(format!(
            "{} is larger than {} bytes, the most tfops reads",
            path.display(),
            MAX_FILE
        ));
    }
    let mut b = Vec::with_capacity(meta.len() as usize);
    f.take(MAX_FILE + 1)
        .read_to_end(&mut b)
        .map_err(|e| FuncError(format!("cannot read {}: {e}", path.display())))?;
    if b.len() as u64 > MAX_FILE {
        return err(format!(
            "{} grew past the size limit while read",
            path.display()
        ));
    }
    Ok(b)
}

fn templatefile(a: &[Value], scope: &Scope) -> FResult {
    arity("templatefile", a, 2, 2)?;
    let p = arg_str(a, 0, "path")?;
    let vars: BTreeMap<String, Value> = match &a[1] {
        Value::Map(m) | Value::Object(m) => m.clone(),
        Value::Null => BTreeMap::new(),
        other => {
            return err(format!(
                "Invalid value for \"vars\" parameter: map or object required, got {}",
                other.kind()
            ))
        }
    };
    for k in vars.keys() {
        if hcl_edit::Ident::try_new(k.as_str()).is_err() {
            return err(format!("invalid template variable name {k:?}: must start with a letter, followed by zero or more letters, digits, and underscores"));
        }
    }
    let text = match utf8(read(scope, &p)?)? {
        Value::String(s) => s,
        _ => return err("unreachable"),
    };
    render_template(&text, &vars, scope).map_err(|e| FuncError(format!("{p}: {e}")))
}

/// Matches one path segment against a glob segment (`*`, `?`, `[...]`).
fn seg_match(pat: &[char], s: &[char]) -> bool {
    match pat.first() {
        None => s.is_empty(),
        Some('*') => (0..=s.len()).any(|i| seg_match(&pat[1..], &s[i..])),
        Some('?') => !s.is_empty() && seg_match(&pat[1..], &s[1..]),
        Some('[') => {
            let Some(close) = pat.iter().position(|c| *c == ']') else {
                return !s.is_empty() && s[0] == '[' && seg_match(&pat[1..], &s[1..]);
            };
            let Some(&c) = s.first() else { return false };
            let mut class = &pat[1..close];
            let neg = matches!(class.first(), Some('^' | '!'));
            if neg {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != neg && seg_match(&pat[close + 1..], &s[1..])
        }
        Some('\\') if pat.len() > 1 => {
            !s.is_empty() && s[0] == pat[1] && seg_match(&pat[2..], &s[1..])
        }
        Some(&p) => !s.is_empty() && s[0] == p && seg_match(&pat[1..], &s[1..]),
    }
}

/// Matches a relative path against a pattern whose `**` segment spans folders.
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let pat: Vec<Vec<char>> = pattern.split('/').map(|s| s.chars().collect()).collect();
    let segs: Vec<Vec<char>> = path.split('/').map(|s| s.chars().collect()).collect();
    fn go(p: &[Vec<char>], s: &[Vec<char>]) -> bool {
        match p.first() {
            None => s.is_empty(),
            Some(x) if x.as_slice() == ['*', '*'] => (0..=s.len()).any(|i| go(&p[1..], &s[i..])),
            Some(x) => !s.is_empty() && seg_match(x, &s[0]) && go(&p[1..], &s[1..]),
        }
    }
    go(&pat, &segs)
}

fn fileset(a: &[Value], scope: &Scope) -> FResult {
    arity("fileset", a, 2, 2)?;
    let base_s = arg_str(a, 0, "path")?;
    let pattern = arg_str(a, 1, "pattern")?;
    let base = resolve(scope, &base_s);
    let mut out = Vec::new();
    let mut stack = vec![(base.clone(), String::new())];
    let mut seen = 0usize;
    while let Some((dir, rel)) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(r) => r,
            Err(e) if rel.is_empty() && e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return err(format!("failed to read {}: {e}", dir.display())),
        };
        for ent in rd {
            seen += 1;
            if seen > MAX_WALK {
                return err(format!(
                    "more than {MAX_WALK} entries under {}",
                    base.display()
                ));
            }
            let ent =
                ent.map_err(|e| FuncError(format!("failed to read {}: {e}", dir.display())))?;
            let name = ent.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let ft = ent
                .file_type()
                .map_err(|e| FuncError(format!("failed to stat {r}: {e}")))?;
            if ft.is_dir() {
                stack.push((ent.path(), r));
            } else if (ft.is_file() || (ft.is_symlink() && ent.path().is_file()))
                && glob_match(&pattern, &r)
            {
                out.push(Value::String(r));
            }
        }
    }
    Ok(Value::set(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.txt", "a.txt"));
        assert!(!glob_match("*.txt", "d/a.txt"));
        assert!(glob_match("**/*.txt", "d/e/a.txt"));
        assert!(glob_match("**/*.txt", "a.txt"));
        assert!(glob_match("[ab]?.tf", "bx.tf"));
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let s = Scope::new(d.path());
        let e = read(&s, "pipe").unwrap_err();
        assert!(e.0.contains("not a regular file"), "{e}");
    }

    #[test]
    fn paths() {
        assert_eq!(basename("a/b/c.txt"), "c.txt");
        assert_eq!(dirname("a/b/c.txt"), "a/b");
        assert_eq!(dirname("c.txt"), ".");
    }
}
