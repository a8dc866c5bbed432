//! `tfops status [--json]`: services, intake, errors, alarms, the protected state, last
//! snapshot, replicas, last drift.
//! With a running supervisor (it holds `.tfops/run.lock`) its own view is shown; without one
//! the folders are looked at directly.

use serde_json::Value;

use crate::lock::is_flocked;
use crate::status::DaemonStatus;
use crate::workspace::ConfiguredWorkspace;

/// # Errors
/// Never for a readable workspace; missing folders count as empty.
pub fn run(ctx: &ConfiguredWorkspace, as_json: bool) -> anyhow::Result<i32> {
    let v = collect(ctx);
    if as_json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(0);
    }
    match &v["daemon"] {
        Value::Null => println!("supervisor: not running (`tfops run` starts it)"),
        d => println!(
            "supervisor: pid {} since {} (config loaded {}){}",
            d["pid"],
            d["started_at"].as_str().unwrap_or(""),
            d["config_loaded_at"].as_str().unwrap_or(""),
            d["last_reload_error"]
                .as_str()
                .map(|e| format!("\n  last reload refused: {e}"))
                .unwrap_or_default()
        ),
    }
    println!(
        "{:<12} {:<6} {:>10} {:>10}  reason",
        "service", "state", "routed", "backlog"
    );
    for s in v["services"].as_array().into_iter().flatten() {
        println!(
            "{:<12} {:<6} {:>10} {:>10}  {}",
            s["name"].as_str().unwrap_or(""),
            s["state"].as_str().unwrap_or(""),
            s["routed"].as_u64().unwrap_or(0),
            s["backlog"].as_u64().unwrap_or(0),
            s["reason"].as_str().unwrap_or("")
        );
    }
    println!("intake: {} waiting, errors: {}", v["incoming"], v["errors"]);
    let alarms = v["alarms"].as_array().cloned().unwrap_or_default();
    if alarms.is_empty() {
        println!("alarms: none");
    }
    for a in alarms {
        println!(
            "ALARM [{}] {}: {}",
            a["at"].as_str().unwrap_or(""),
            a["kind"].as_str().unwrap_or(""),
            a["detail"].as_str().unwrap_or("")
        );
    }
    let p = &v["protected_state"];
    match p["error"].as_str() {
        Some(e) => println!("protected state: none ({e})"),
        None => println!(
            "protected state: {} ({} backend, workspace {})",
            p["location"].as_str().unwrap_or(""),
            p["backend"].as_str().unwrap_or(""),
            p["workspace"].as_str().unwrap_or("")
        ),
    }
    match &v["last_snapshot"] {
        Value::Null => println!("last snapshot: none (`tfops backup` takes one)"),
        s => println!(
            "last snapshot: {} at {}",
            s["id"].as_str().unwrap_or(""),
            s["taken_at"].as_str().unwrap_or("")
        ),
    }
    for r in v["replication"]["replicas"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let pending = r["pending"].as_array().map(Vec::len).unwrap_or(0);
        println!(
            "replica {}: {} replicated, {pending} not replicated yet{}",
            r["url"].as_str().unwrap_or(""),
            r["replicated"],
            r["last_error"]
                .as_str()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        );
    }
    match &v["last_drift"] {
        Value::Null => println!("last drift check: none (`tfops drift` runs one)"),
        d => {
            let s = &d["summary"];
            let n = |k: &str| s[k].as_u64().unwrap_or(0);
            let what = if let Some(e) = d["error"].as_str() {
                format!("failed: {e}")
            } else if n("create") + n("destroy") + n("update") + n("unknown") == 0 {
                format!("in sync ({} resources)", n("in_sync"))
            } else {
                format!(
                    "DRIFT: {} to create, {} to destroy, {} to update, {} renamed, {} unknown, {} in sync",
                    n("create"),
                    n("destroy"),
                    n("update"),
                    n("renamed"),
                    n("unknown"),
                    n("in_sync")
                )
            };
            println!(
                "last drift check: {} {what}",
                d["detected_at"].as_str().unwrap_or("")
            )
        }
    }
    Ok(0)
}

/// The `status --json` document.
pub fn collect(ctx: &ConfiguredWorkspace) -> Value {
    let ws = &ctx.ws;
    let running = is_flocked(&ws.run_lock()).unwrap_or(false);
    let daemon: Option<DaemonStatus> = if running {
        std::fs::read(ws.status_json())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    } else {
        None
    };
    let mut doc = crate::status::document(ws, &ctx.config, daemon.as_ref());
    doc["replication"] = crate::cli::state::replication_status(ctx);
    doc["protected_state"] = crate::cli::state::protected_state(ctx);
    doc
}
