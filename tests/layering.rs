//! The layering rules of the source tree, checked by reading `src/` (no build of anything):
//!
//! - `anyhow` and printing to stdout (`println!`, `print!`) only under `src/cli/` (the binary's
//!   `src/main.rs` may print the one closing error to stderr);
//! - leaf modules import nothing from the crate (`crate::` or `super::` outside their tests);
//! - only the shells (`src/actors/`, `src/cli/`, a future `src/http/`) import `actors::`;
//! - the schedule's types and windows do not import the configuration (config parses into
//!   them, not the other way round).
//!
//! Comments and `#[cfg(test)] mod tests` sections are not checked.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `(path relative to src/, code lines with their 1-based numbers)`, without comments and
/// without the unit-test section.
fn sources() -> Vec<(String, Vec<(usize, String)>)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    assert!(
        files.len() > 20,
        "found only {} files under src/",
        files.len()
    );
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            let mut lines = Vec::new();
            let mut prev_cfg_test = false;
            for (i, l) in text.lines().enumerate() {
                let t = l.trim_start();
                if prev_cfg_test && t.starts_with("mod tests") {
                    break;
                }
                prev_cfg_test = t.starts_with("#[cfg(test)]");
                if t.starts_with("//") {
                    continue;
                }
                // A trailing comment is not code either.
                let code = match t.find("//") {
                    Some(k) if !t[..k].contains('"') => &t[..k],
                    _ => t,
                };
                lines.push((i + 1, code.to_string()));
            }
            (rel, lines)
        })
        .collect()
}

fn violations(keep_file: impl Fn(&str) -> bool, bad_line: impl Fn(&str) -> bool) -> Vec<String> {
    let mut out = Vec::new();
    for (file, lines) in sources() {
        if !keep_file(&file) {
            continue;
        }
        for (n, l) in lines {
            if bad_line(&l) {
                out.push(format!("src/{file}:{n}: {}", l.trim()));
            }
        }
    }
    out
}

/// Whether `l` calls macro `name` (`println!` is not found inside `eprintln!`).
fn calls(l: &str, name: &str) -> bool {
    l.match_indices(name).any(|(i, _)| {
        !l[..i]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

fn under_cli(f: &str) -> bool {
    f.starts_with("cli/")
}

#[test]
fn anyhow_only_under_cli() {
    let v = violations(|f| !under_cli(f), |l| l.contains("anyhow"));
    assert!(v.is_empty(), "anyhow outside src/cli/:\n{}", v.join("\n"));
}

#[test]
fn printing_to_stdout_only_under_cli() {
    let v = violations(
        |f| !under_cli(f),
        |l| calls(l, "println!") || calls(l, "print!("),
    );
    assert!(v.is_empty(), "printing outside src/cli/:\n{}", v.join("\n"));
    let v = violations(
        |f| !under_cli(f) && f != "main.rs",
        |l| calls(l, "eprintln!") || calls(l, "eprint!("),
    );
    assert!(
        v.is_empty(),
        "printing to stderr outside src/cli/ and main.rs (use log):\n{}",
        v.join("\n")
    );
}

#[test]
fn leaves_import_nothing_from_the_crate() {
    const LEAVES: &[&str] = &[
        "service_id.rs",
        "text.rs",
        "fsutil.rs",
        "clock.rs",
        "lock.rs",
        "panic.rs",
        "notify.rs",
        "syntax_hint.rs",
        "schedule/window.rs",
    ];
    let files: Vec<String> = sources().into_iter().map(|(f, _)| f).collect();
    for leaf in LEAVES {
        assert!(files.iter().any(|f| f == leaf), "no leaf src/{leaf}");
    }
    let v = violations(
        |f| LEAVES.contains(&f),
        |l| l.contains("crate::") || l.contains("super::"),
    );
    assert!(
        v.is_empty(),
        "a leaf imports from the crate:\n{}",
        v.join("\n")
    );
}

#[test]
fn only_the_shells_import_actors() {
    let v = violations(
        |f| !(f.starts_with("actors/") || under_cli(f) || f.starts_with("http/")),
        |l| l.contains("actors::"),
    );
    assert!(
        v.is_empty(),
        "actors:: imported outside actors/, cli/ and http/:\n{}",
        v.join("\n")
    );
}

#[test]
fn the_schedule_does_not_import_the_configuration() {
    let v = violations(
        |f| {
            matches!(
                f,
                "schedule/mod.rs" | "schedule/window.rs" | "schedule/ledger.rs"
            )
        },
        |l| l.contains("config::"),
    );
    assert!(v.is_empty(), "schedule imports config:\n{}", v.join("\n"));
}
