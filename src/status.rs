//! What `tfops status` shows: the supervisor writes `balanceador/logs/status.json` (its own
//! view: pid, config, alarms, routing counts); `status` reads it while the supervisor holds
//! `.tfops/run.lock`, and otherwise looks at the folders itself.

use serde::{Deserialize, Serialize};

use crate::health::ServiceState;

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
