//! The workspace: the paths of its layout, derived from ROOT, and the workspace with its
//! configuration as commands get it ([`ConfiguredWorkspace`]).
//!
//! [`Workspace`] names the folders (`balanceador/` and its intake, errors and logs, each
//! `service_N` and its archive, `logs/`, `.tfops/`) and the balancer's and daemon's files in
//! them (markers, `load_N.json(l)`, delivery journals, `health.log`, `cost.log`, the cost
//! ledger, `status.json`, the run lock and pid). Files that a module owns are named by it
//! inside those folders: request names in an inbox or `errors/` (`spool::request`), drift
//! reports in `logs/` (`drift::report`), the scenario journal and `replication.json` in
//! `.tfops/`. The state file, `backups/` and `iac/` come from the configuration, which resolves
//! its relative paths against ROOT. No I/O here except [`Workspace::ensure_runtime_dirs`].

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::service_id::ServiceId;

/// Paths of one workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    pub root: PathBuf,
}

impl Workspace {
    pub fn new(root: impl Into<PathBuf>) -> Workspace {
        Workspace { root: root.into() }
    }
    pub fn config_file(&self) -> PathBuf {
        self.root.join("config/tfops.hcl")
    }
    pub fn scenarios_dir(&self) -> PathBuf {
        self.root.join("config/scenarios")
    }
    pub fn balanceador(&self) -> PathBuf {
        self.root.join("balanceador")
    }
    pub fn intake(&self) -> PathBuf {
        self.root.join("balanceador/incoming_requests")
    }
    pub fn errors(&self) -> PathBuf {
        self.root.join("balanceador/errors")
    }
    pub fn bal_logs(&self) -> PathBuf {
        self.root.join("balanceador/logs")
    }
    /// `balanceador/service_N`.
    pub fn service_dir(&self, id: ServiceId) -> PathBuf {
        self.root.join("balanceador").join(id.to_string())
    }
    /// `balanceador/service_N/service_N.txt`, the "active" marker.
    pub fn marker(&self, id: ServiceId) -> PathBuf {
        self.service_dir(id).join(format!("{id}.txt"))
    }
    pub fn archived_dir(&self, id: ServiceId) -> PathBuf {
        self.root.join("archived").join(id.to_string())
    }
    pub fn archived(&self) -> PathBuf {
        self.root.join("archived")
    }
    pub fn load_json(&self, id: ServiceId) -> PathBuf {
        self.bal_logs().join(format!("load_{}.json", id.get()))
    }
    pub fn load_jsonl(&self, id: ServiceId) -> PathBuf {
        self.bal_logs().join(format!("load_{}.jsonl", id.get()))
    }
    pub fn health_log(&self) -> PathBuf {
        self.bal_logs().join("health.log")
    }
    pub fn cost_log(&self) -> PathBuf {
        self.bal_logs().join("cost.log")
    }
    pub fn cost_ledger(&self) -> PathBuf {
        self.bal_logs().join("cost_ledger.jsonl")
    }
    pub fn status_json(&self) -> PathBuf {
        self.bal_logs().join("status.json")
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn dot_tfops(&self) -> PathBuf {
        self.root.join(".tfops")
    }
    pub fn run_lock(&self) -> PathBuf {
        self.dot_tfops().join("run.lock")
    }
    pub fn run_pid(&self) -> PathBuf {
        self.dot_tfops().join("run.pid")
    }
    /// Delivery journal of service N (intents written before each move).
    pub fn delivery_journal(&self, id: ServiceId) -> PathBuf {
        self.dot_tfops()
            .join(format!("deliver_{}.journal", id.get()))
    }
    /// Checkpoint of service N's `load_N.json` totals.
    pub fn load_ckpt(&self, id: ServiceId) -> PathBuf {
        self.dot_tfops().join(format!("load_{}.ckpt", id.get()))
    }
    /// Relative form of a path inside the workspace, for messages and JSON.
    pub fn rel<'a>(&self, p: &'a Path) -> std::borrow::Cow<'a, str> {
        match p.strip_prefix(&self.root) {
            Ok(r) => r.to_string_lossy(),
            Err(_) => p.to_string_lossy(),
        }
    }

    /// Creates the runtime folders of the balancer (intake, errors, logs, .tfops). A symbolic
    /// link at any of them is refused: tfops never moves files through one.
    ///
    /// # Errors
    /// The first folder that cannot be created, or is a link.
    pub fn ensure_runtime_dirs(&self) -> std::io::Result<()> {
        for d in [
            self.balanceador(),
            self.intake(),
            self.errors(),
            self.bal_logs(),
            self.dot_tfops(),
        ] {
            crate::fsutil::ensure_dir(&d, 0o755)?;
        }
        Ok(())
    }
}

/// A workspace with the configuration in force, handed to commands.
#[derive(Debug, Clone)]
pub struct ConfiguredWorkspace {
    pub ws: Workspace,
    pub config: Config,
    /// The config file path (may not exist: then `config` holds the defaults).
    pub config_path: PathBuf,
}
