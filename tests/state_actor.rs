//! Actor-level tests of StateKeeperActor, started directly in a temp workspace (no supervisor):
//! it snapshots a changed state by itself, snapshots on SnapshotNow (SIGUSR1), raises and clears
//! the alarm, auto-restores a deleted and a truncated state, keeps its hands off while
//! Terraform holds the state, and answers Shutdown.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::prelude::*;
use tfops::actors::state_keeper::StateKeeperActor;
use tfops::actors::{Shutdown, SnapshotNow, StatusEvent};
use tfops::config::Config;
use tfops::workspace::Workspace;

use common::Ws;

/// Collects what the actor reports to the supervisor.
struct Collector(Arc<Mutex<Vec<StatusEvent>>>);

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Handler<StatusEvent> for Collector {
    type Result = ();
    fn handle(&mut self, m: StatusEvent, _: &mut Context<Self>) {
        self.0.lock().unwrap().push(m);
    }
}

struct Running {
    ws: Ws,
    addr: Addr<StateKeeperActor>,
    events: Arc<Mutex<Vec<StatusEvent>>>,
}

fn start(auto_restore: bool) -> Running {
    let ws = Ws::bundled();
    let mut cfg = Config::defaults(ws.root());
    cfg.state.grace = Duration::from_millis(300);
    cfg.state.auto_restore = auto_restore;
    let events = Arc::new(Mutex::new(Vec::new()));
    let status = Collector(events.clone()).start().recipient();
    let addr = StateKeeperActor::new(Workspace::new(ws.root()), Arc::new(cfg), status).start();
    Running { ws, addr, events }
}

fn state(ws: &Ws) -> PathBuf {
    ws.path("iac/terraform.tfstate")
}

fn meta(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap()
}

async fn wait_for(what: &str, secs: u64, cond: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

fn alarms(ev: &Arc<Mutex<Vec<StatusEvent>>>, kind: &str) -> usize {
    ev.lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, StatusEvent::Alarm { kind: k, .. } if k == kind))
        .count()
}

fn clears(ev: &Arc<Mutex<Vec<StatusEvent>>>) -> usize {
    ev.lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, StatusEvent::ClearAlarm { kind } if kind == "state"))
        .count()
}

fn with_serial(ws: &Ws, serial: u64) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state(ws)).unwrap()).unwrap();
    v["serial"] = serial.into();
    serde_json::to_vec_pretty(&v).unwrap()
}

#[actix_rt::test]
async fn snapshots_a_changed_state_by_itself() {
    let r = start(false);
    wait_for("the start snapshot", 20, || r.ws.snapshots().len() == 1).await;
    assert_eq!(meta(&r.ws.snapshots()[0])["reason"], "start");
    // Unchanged: the periodic check takes nothing new.
    actix_rt::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(r.ws.snapshots().len(), 1);
    // Terraform writes in place.
    std::fs::write(state(&r.ws), with_serial(&r.ws, 4)).unwrap();
    wait_for("a snapshot of the change", 20, || {
        r.ws.snapshots().len() == 2
    })
    .await;
    let m = meta(&r.ws.snapshots()[1]);
    assert_eq!(m["serial"], 4);
    assert_eq!(m["reason"], "change");
    r.addr.send(Shutdown).await.unwrap();
}

#[actix_rt::test]
async fn snapshot_now_takes_one_even_when_unchanged() {
    let r = start(false);
    wait_for("the start snapshot", 20, || r.ws.snapshots().len() == 1).await;
    r.addr
        .send(SnapshotNow {
            reason: "SIGUSR1".into(),
        })
        .await
        .unwrap();
    wait_for("the SIGUSR1 snapshot", 20, || r.ws.snapshots().len() == 2).await;
    let m = meta(&r.ws.snapshots()[1]);
    assert_eq!(m["reason"], "SIGUSR1");
    assert!(m["linked_to"].is_string(), "identical: a hard link ({m})");
    r.addr.send(Shutdown).await.unwrap();
}

#[actix_rt::test]
async fn a_deleted_state_is_restored_with_auto_restore() {
    let r = start(true);
    wait_for("the start snapshot", 20, || r.ws.snapshots().len() == 1).await;
    let original = std::fs::read(state(&r.ws)).unwrap();
    std::fs::remove_file(state(&r.ws)).unwrap();
    wait_for("the state back", 20, || {
        std::fs::read(state(&r.ws)).ok().as_deref() == Some(original.as_slice())
    })
    .await;
    wait_for("the alarm cleared", 20, || clears(&r.events) >= 1).await;
    assert!(alarms(&r.events, "state") >= 1);
    assert_eq!(alarms(&r.events, "state_restored"), 1);
    r.addr.send(Shutdown).await.unwrap();
}

#[actix_rt::test]
async fn a_truncated_state_is_restored_and_kept_as_corrupt() {
    let r = start(true);
    wait_for("the start snapshot", 20, || r.ws.snapshots().len() == 1).await;
    let original = std::fs::read(state(&r.ws)).unwrap();
    std::fs::write(state(&r.ws), &original[..original.len() / 3]).unwrap();
    wait_for("the state back", 20, || {
        std::fs::read(state(&r.ws)).ok().as_deref() == Some(original.as_slice())
    })
    .await;
    let corrupt: Vec<_> = std::fs::read_dir(r.ws.path("iac"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("terraform.tfstate.corrupt-"))
        .collect();
    assert_eq!(corrupt.len(), 1, "{corrupt:?}");
    r.addr.send(Shutdown).await.unwrap();
}

#[actix_rt::test]
async fn alarm_without_auto_restore_then_cleared() {
    let r = start(false);
    wait_for("the start snapshot", 20, || r.ws.snapshots().len() == 1).await;
    let original = std::fs::read(state(&r.ws)).unwrap();
    std::fs::write(state(&r.ws), b"").unwrap();
    wait_for("the alarm", 20, || alarms(&r.events, "state") == 1).await;
    actix_rt::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        std::fs::read(state(&r.ws)).unwrap(),
        b"",
        "no restore without auto_restore"
    );
    assert_eq!(alarms(&r.events, "state"), 1, "raised once");
    std::fs::write(state(&r.ws), &original).unwrap();
    wait_for("the alarm cleared", 20, || clears(&r.events) == 1).await;
    r.addr.send(Shutdown).await.unwrap();
}

#[actix_rt::test]
async fn hands_off_while_terraform_holds_the_state() {
    let r = start(true);
    wait_for("the start snapshot", 20, || r.ws.snapshots().len() == 1).await;
    let info = r.ws.path("iac/.terraform.tfstate.lock.info");
    std::fs::write(
        &info,
        r#"{"ID":"1","Operation":"OperationTypeApply","Who":"t@h"}"#,
    )
    .unwrap();
    std::fs::remove_file(state(&r.ws)).unwrap();
    actix_rt::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !state(&r.ws).exists(),
        "nothing restored while Terraform holds the state"
    );
    assert_eq!(alarms(&r.events, "state"), 0, "no alarm either");
    std::fs::remove_file(&info).unwrap();
    wait_for("the state back once released", 20, || state(&r.ws).exists()).await;
    r.addr.send(Shutdown).await.unwrap();
}

#[actix_rt::test]
async fn leftovers_are_cleaned_at_start() {
    let ws = Ws::bundled();
    let left = ws.path("backups/.tfstate_2026-01-01_00-00-00.tmp-4242");
    std::fs::create_dir_all(&left).unwrap();
    let mut cfg = Config::defaults(ws.root());
    cfg.state.grace = Duration::from_millis(300);
    let events = Arc::new(Mutex::new(Vec::new()));
    let status = Collector(events).start().recipient();
    let addr = StateKeeperActor::new(Workspace::new(ws.root()), Arc::new(cfg), status).start();
    wait_for("the leftover gone", 20, || !left.exists()).await;
    addr.send(Shutdown).await.unwrap();
}
