//! `tfops demo` runs every step on a throw-away copy, exits 0, and leaves the repository's
//! own workspace byte-identical.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{repo_root, text, tfops_bin};

/// Every file under the workspace parts of the repository, with its bytes.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if ["target", ".git", ".tools", "fuzz"]
                .iter()
                .any(|s| rel == *s)
            {
                continue;
            }
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                walk(&p, root, out);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    walk(root, root, &mut out);
    out
}

#[test]
fn demo_passes_every_step_and_leaves_the_workspace_byte_identical() {
    let root = repo_root();
    let before = snapshot(&root);
    let o = Command::new(tfops_bin())
        .arg("--root")
        .arg(&root)
        .arg("demo")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Every step did what it says."), "{out}");
    assert_eq!(out.matches("  PASS ").count(), 7, "{out}");
    // The output is the tour alone: no log lines interleaved (#13).
    assert_eq!(String::from_utf8_lossy(&o.stderr), "", "{}", text(&o));
    assert!(!out.contains(" INFO ") && !out.contains(" WARN "), "{out}");
    let after = snapshot(&root);
    let changed: Vec<_> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(
        changed.is_empty(),
        "the demo touched the workspace: {changed:?}"
    );
}
