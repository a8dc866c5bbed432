//! Helpers for black-box tests: a temp copy of the bundled workspace, the real binary, and the
//! real tools used as oracles (Terraform, HashiCorp's HCL parser).
#![allow(dead_code)]

pub mod http;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `tfops` binary cargo built for these tests.
pub fn tfops_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tfops"))
}

/// The repository root (holds the bundled workspace: iac/, config/).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A temp workspace holding copies of the bundled `iac/` and `config/`.
pub struct Ws {
    pub dir: tempfile::TempDir,
}

impl Ws {
    /// Copy of the bundled workspace.
    pub fn bundled() -> Ws {
        let dir = tempfile::tempdir().expect("tempdir");
        copy_tree(&repo_root().join("iac"), &dir.path().join("iac"));
        copy_tree(&repo_root().join("config"), &dir.path().join("config"));
        Ws { dir }
    }

    /// An empty workspace (no config: built-in defaults).
    pub fn empty() -> Ws {
        Ws {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes `config/tfops.hcl`.
    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.path("config")).unwrap();
        std::fs::write(self.path("config/tfops.hcl"), text).unwrap();
    }

    /// A `tfops` command rooted here, without a terminal.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(tfops_bin());
        c.arg("--root").arg(self.root());
        c.env_remove("TFOPS_ROOT");
        c.stdin(std::process::Stdio::null());
        c
    }

    /// Snapshot folders (`backups/tfstate_*`), oldest first.
    pub fn snapshots(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(self.path("backups"))
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with("tfstate_"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Oldest first, as the names say: `tfstate_<ts>[_k].backup`, `k` a number (a plain
        // sort would put `_11` before `_2` when a dozen snapshots share a second).
        v.sort_by_key(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let stem = name
                .strip_prefix("tfstate_")
                .and_then(|n| n.strip_suffix(".backup"))
                .unwrap_or(&name)
                .to_string();
            let (ts, k) = stem.split_at(stem.len().min(19));
            let k: u64 = k
                .strip_prefix('_')
                .and_then(|k| k.parse().ok())
                .unwrap_or(0);
            (ts.to_string(), k, name)
        });
        v
    }

    /// Runs `tfops ARGS…` and returns its output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run tfops")
    }
}

/// stdout + stderr as text, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), &t).unwrap();
        }
    }
}

/// True when CI promises the real tools (the README's test command installs them).
pub fn tools_required() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("TFOPS_REQUIRE_TOOLS").is_some()
}

/// The real Terraform binary: `$TFOPS_TERRAFORM`, else `terraform` on PATH. `None` only when
/// CI does not promise it (then a test may skip, saying so); under CI a missing one panics.
pub fn terraform() -> Option<PathBuf> {
    let found = std::env::var_os("TFOPS_TERRAFORM")
        .map(PathBuf::from)
        .or_else(|| which("terraform"));
    if found.is_none() && tools_required() {
        panic!("Terraform is required here (CI): run scripts/test.sh, which installs it");
    }
    if found.is_none() {
        eprintln!("SKIP: no terraform binary (set TFOPS_TERRAFORM or run scripts/test.sh)");
    }
    found
}

/// Terraform 1.4 or later (what `terraform_data` and an offline `plan` need):
/// `$TFOPS_TERRAFORM_PLAN`, else `terraform` on PATH; `None` when there is none that recent.
pub fn terraform_1_4() -> Option<PathBuf> {
    let bin = std::env::var_os("TFOPS_TERRAFORM_PLAN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("terraform"));
    let o = Command::new(&bin)
        .args(["version", "-json"])
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
    let parts: Vec<u64> = v["terraform_version"]
        .as_str()?
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect();
    (parts.first() == Some(&1) && parts.get(1).is_some_and(|m| *m >= 4)).then_some(bin)
}

/// [`terraform_1_4`], required under CI (a missing one panics there; elsewhere the test may
/// skip, saying so).
pub fn require_terraform_1_4() -> Option<PathBuf> {
    let found = terraform_1_4();
    if found.is_none() && tools_required() {
        panic!("Terraform 1.4 or later is required here (CI): put it on PATH or set TFOPS_TERRAFORM_PLAN");
    }
    if found.is_none() {
        eprintln!("SKIP: no terraform 1.4 or later (set TFOPS_TERRAFORM_PLAN)");
    }
    found
}

/// Folder holding `node_modules/@cdktf/hcl2json` (`$TFOPS_HCL2JSON_DIR`); same rules as
/// [`terraform`].
pub fn hcl2json_dir() -> Option<PathBuf> {
    let found = std::env::var_os("TFOPS_HCL2JSON_DIR")
        .map(PathBuf::from)
        .filter(|d| d.join("node_modules/@cdktf/hcl2json").exists());
    if found.is_none() && tools_required() {
        panic!("@cdktf/hcl2json is required here (CI): run scripts/test.sh, which installs it");
    }
    found
}

/// Debian's faketime; same rules as [`terraform`].
pub fn faketime() -> Option<PathBuf> {
    let found = which("faketime");
    if found.is_none() && tools_required() {
        panic!("faketime is required here (CI): run scripts/test.sh, which installs it");
    }
    found
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|c| c.is_file())
    })
}

/// Runs the real Terraform with the given args (its CLI-config warning silenced).
pub fn terraform_cmd(tf: &Path, args: &[&str], dir: &Path) -> Output {
    let empty_rc = std::env::temp_dir().join("tfops-test-terraformrc");
    let _ = std::fs::write(&empty_rc, "");
    Command::new(tf)
        .args(args)
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", &empty_rc)
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("run terraform")
}

/// Runs the real Terraform in `dir` and returns its stdout; a failure fails the test.
pub fn terraform_ok(bin: &Path, dir: &Path, args: &[&str]) -> Vec<u8> {
    let rc = dir.join("empty.tfrc");
    std::fs::write(&rc, "").unwrap();
    let o = Command::new(bin)
        .current_dir(dir)
        .args(args)
        .env("TF_CLI_CONFIG_FILE", &rc)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env_remove("TF_WORKSPACE")
        .output()
        .unwrap();
    assert!(o.status.success(), "terraform {args:?}: {}", text(&o));
    o.stdout
}

/// Address → action as Terraform plans it (`no-op` left out; `delete` named `destroy`).
pub fn planned_actions(bin: &Path, dir: &Path) -> BTreeMap<String, String> {
    let out = terraform_ok(
        bin,
        dir,
        &["plan", "-refresh=false", "-input=false", "-json"],
    );
    let mut m = BTreeMap::new();
    for line in String::from_utf8_lossy(&out).lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["type"] == "planned_change" {
            let c = &v["change"];
            let action = match c["action"].as_str().unwrap() {
                "delete" => "destroy",
                a => a,
            };
            m.insert(
                c["resource"]["addr"].as_str().unwrap().to_string(),
                action.to_string(),
            );
        }
    }
    m
}

/// Polls `f` every 20 ms until it holds or `timeout` passes; returns its last answer. A bound
/// on a wait, never a timing assertion.
pub fn wait_until(timeout: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let t = std::time::Instant::now();
    while t.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    f()
}
