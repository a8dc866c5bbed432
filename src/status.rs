//! What `tfops status` shows: the supervisor writes `balanceador/logs/status.json` (its own
//! view: pid, config, alarms, routing counts); `status` reads it while the supervisor holds
//! `.tfops/run.lock`, and otherwise looks at the folders itself.

use std::os::unix::ffi::OsStrExt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::Config;
use crate::health::{self, ServiceState};
use crate::service_id::ServiceId;
use crate::workspace::Workspace;

/// An alarm shown by `status`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Alarm {
    pub at: String,
    pub kind: String,
    pub detail: String,
}

/// The `daemon` object of `status --json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DaemonInfo {
    pub pid: u32,
    pub started_at: String,
    pub config_loaded_at: String,
    pub last_reload_error: Option<String>,
}

/// One service as the supervisor sees it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceStatus {
    pub name: String,
    pub state: ServiceState,
    pub routed: u64,
    pub backlog: u64,
    #[serde(default)]
    pub reason: String,
}

/// `balanceador/logs/status.json`, written by the running supervisor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DaemonStatus {
    pub daemon: DaemonInfo,
    pub services: Vec<ServiceStatus>,
    pub alarms: Vec<Alarm>,
    #[serde(default)]
    pub strategy: String,
    pub updated_at: String,
}

fn count_files(dir: &std::path::Path, skip: impl Fn(&[u8]) -> bool) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| !skip(e.file_name().as_bytes()))
                .count() as u64
        })
        .unwrap_or(0)
}

/// The `status --json` document: the running supervisor's view `daemon` when there is one
/// (from `status.json`, or live for `/api/status`), else the folders looked at directly; the
/// intake and errors counted, the last snapshot and drift check read from their files.
pub fn document(ws: &Workspace, cfg: &Config, daemon: Option<&DaemonStatus>) -> Value {
    let services: Vec<Value> = match daemon {
        Some(d) => d
            .services
            .iter()
            .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
            .collect(),
        None => ServiceId::all(cfg.services.count)
            .map(|n| {
                let v = health::check(ws, n, false);
                let routed = std::fs::read(ws.load_json(n))
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .and_then(|j| j["total"].as_u64())
                    .unwrap_or(0);
                json!({
                    "name": n.to_string(),
                    "state": v.state,
                    "routed": routed,
                    "backlog": health::backlog(ws, n),
                    "reason": v.reason,
                })
            })
            .collect(),
    };
    let incoming = count_files(&ws.intake(), |b| {
        b.starts_with(b".") || b.ends_with(b".tmp")
    });
    let errors = count_files(&ws.errors(), |b| {
        b.starts_with(b".") || b.ends_with(b".error.json")
    });
    json!({
        "daemon": daemon.map(|d| &d.daemon),
        "services": services,
        "incoming": incoming,
        "errors": errors,
        "alarms": daemon.map(|d| d.alarms.clone()).unwrap_or_default(),
        "last_snapshot": crate::state::last_snapshot(cfg),
        "last_drift": crate::drift::last_drift(ws),
    })
}
