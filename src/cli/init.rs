//! `tfops init [DIR]`: create a new workspace explicitly — the bundled layout (`iac/main.tf`,
//! `config/tfops.hcl` with every key commented, a drift scenario, `balanceador/README.md`).
//! It never overwrites: a folder that already is a workspace is refused.
//!
//! Also what counts as a workspace: a folder with `iac/` or `config/`. Every other command
//! refuses a folder that is neither, instead of scaffolding runtime folders into it.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::Context as _;

/// The files of a new workspace: (path under DIR, contents).
pub const FILES: &[(&str, &str)] = &[
    ("iac/main.tf", include_str!("../../iac/main.tf")),
    ("config/tfops.hcl", include_str!("../../config/tfops.hcl")),
    (
        "config/scenarios/rename_service_1.hcl",
        include_str!("../../config/scenarios/rename_service_1.hcl"),
    ),
    (
        "balanceador/README.md",
        include_str!("../../balanceador/README.md"),
    ),
];

/// Whether `root` is a tfops workspace: it has `iac/` or `config/`.
pub fn is_workspace(root: &Path) -> bool {
    root.join("iac").is_dir() || root.join("config").is_dir()
}

/// Creates the workspace in `dir` (created if missing).
///
/// # Errors
/// When `dir` already is a workspace, or a folder or file cannot be created.
pub fn run(dir: &Path) -> anyhow::Result<i32> {
    if is_workspace(dir) {
        anyhow::bail!(
            "{} already is a tfops workspace (it has iac/ or config/), so nothing was changed; use it with `tfops --root {} status`",
            dir.display(),
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create {}; check its parent's permissions",
            dir.display()
        )
    })?;
    for (rel, text) in FILES {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| {
                format!("cannot create {}; check permissions", parent.display())
            })?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            .with_context(|| format!("cannot create {}; it must not exist yet", path.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("created {}", path.display());
    }
    println!(
        "a new tfops workspace is ready in {d}. Next: put your Terraform configuration in {d}/iac \
(terraform init && terraform apply there writes the state tfops protects), read \
{d}/config/tfops.hcl, then `tfops --root {d} run` (or cd {d} && tfops run).",
        d = dir.display()
    );
    Ok(0)
}
