//! The CostActor with a FakeClock, a test router answering SetOff and a temp workspace:
//! entering and leaving a window, conflicts (nothing overwritten), restarts mid-window, reloads,
//! the ledger and `cost.log`; and `apply_now`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use actix::prelude::*;
use chrono::{DateTime, Duration, TimeZone, Utc};

use tfops::actors::cost::{CostActor, Tick, CONFLICT_ALARM, ERROR_ALARM};
use tfops::actors::{Reconfigure, SetOff, Shutdown, StatusEvent};
use tfops::clock::{Clock, FakeClock};
use tfops::config::{parse_config, Config};
use tfops::schedule::ledger::summarize_file;
use tfops::schedule::reconcile::{apply_now, reconcile};
use tfops::service_id::ServiceId;
use tfops::workspace::Workspace;

/// What the router saw: the message and whether the live and archive folders were there.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    service: usize,
    off: bool,
    live: bool,
    archived: bool,
}

struct TestRouter {
    ws: Workspace,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Actor for TestRouter {
    type Context = Context<Self>;
}

impl Handler<SetOff> for TestRouter {
    type Result = ();
    fn handle(&mut self, m: SetOff, _: &mut Context<Self>) {
        self.seen.lock().unwrap().push(Seen {
            service: m.service.get(),
            off: m.off,
            live: self.ws.service_dir(m.service).exists(),
            archived: self.ws.archived_dir(m.service).exists(),
        });
    }
}

struct TestStatus {
    events: Arc<Mutex<Vec<StatusEvent>>>,
}

impl Actor for TestStatus {
    type Context = Context<Self>;
}

impl Handler<StatusEvent> for TestStatus {
    type Result = ();
    fn handle(&mut self, e: StatusEvent, _: &mut Context<Self>) {
        self.events.lock().unwrap().push(e);
    }
}

struct Rig {
    _dir: tempfile::TempDir,
    ws: Workspace,
    clock: Arc<FakeClock>,
    seen: Arc<Mutex<Vec<Seen>>>,
    events: Arc<Mutex<Vec<StatusEvent>>>,
    routing: Recipient<SetOff>,
    status: Recipient<StatusEvent>,
}

const NIGHT: &str = r#"
services {
  count = 3
}
schedule "night" {
  services = ["service_3"]
  off      = "00:00-06:00"
  timezone = "UTC"
}
"#;

fn config(root: &Path, text: &str) -> Arc<Config> {
    Arc::new(parse_config(text, "config/tfops.hcl", root).expect("valid config"))
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
}

impl Rig {
    fn new(at: DateTime<Utc>) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path());
        for n in ServiceId::all(3) {
            std::fs::create_dir_all(ws.service_dir(n)).unwrap();
            std::fs::write(ws.marker(n), "").unwrap();
        }
        std::fs::create_dir_all(ws.bal_logs()).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let events = Arc::new(Mutex::new(Vec::new()));
        let routing = TestRouter {
            ws: ws.clone(),
            seen: seen.clone(),
        }
        .start()
        .recipient();
        let status = TestStatus {
            events: events.clone(),
        }
        .start()
        .recipient();
        Rig {
            _dir: dir,
            ws,
            clock: Arc::new(FakeClock::new(at)),
            seen,
            events,
            routing,
            status,
        }
    }

    fn actor(&self, cfg: Arc<Config>) -> Addr<CostActor> {
        let clock: Arc<dyn Clock> = self.clock.clone();
        CostActor::new(
            self.ws.clone(),
            cfg,
            clock,
            self.routing.clone(),
            self.status.clone(),
        )
        .start()
    }

    fn cost_log(&self) -> Vec<String> {
        std::fs::read_to_string(self.ws.cost_log())
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn alarms(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|e| match e {
                StatusEvent::Alarm { kind, .. } => format!("alarm {kind}"),
                StatusEvent::ClearAlarm { kind } => format!("clear {kind}"),
            })
            .collect()
    }

    /// Moves the clock minute by minute to `to`, ticking at each.
    async fn tick_to(&self, addr: &Addr<CostActor>, to: DateTime<Utc>) {
        while self.clock.now() < to {
            self.clock.advance(Duration::minutes(1));
            addr.send(Tick).await.unwrap();
        }
    }
}

/// Checks a cost.log line: local `YYYY-MM-DD HH:MM:SS` of `at`, two spaces, the change.
fn assert_line(line: &str, at: DateTime<Utc>, change: &str) {
    let ts = at
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    assert_eq!(line, format!("{ts}  {change}"));
}

#[actix_rt::test]
async fn enters_then_leaves_a_window() {
    let rig = Rig::new(utc(2026, 1, 1, 23, 58));
    for i in 0..5 {
        std::fs::write(
            rig.ws
                .service_dir(ServiceId(3))
                .join(format!("processed_{i}")),
            "x",
        )
        .unwrap();
    }
    let addr = rig.actor(config(&rig.ws.root, NIGHT));
    addr.send(Tick).await.unwrap();
    assert!(rig.ws.service_dir(ServiceId(3)).exists());
    assert!(rig.seen().is_empty());

    rig.tick_to(&addr, utc(2026, 1, 2, 0, 0)).await;
    // Routing was stopped while the folder was still in place, then the folder moved whole.
    assert_eq!(
        rig.seen(),
        vec![Seen {
            service: 3,
            off: true,
            live: true,
            archived: false
        }]
    );
    assert!(!rig.ws.service_dir(ServiceId(3)).exists());
    for i in 0..5 {
        assert!(rig
            .ws
            .archived_dir(ServiceId(3))
            .join(format!("processed_{i}"))
            .exists());
    }
    assert!(rig
        .ws
        .archived_dir(ServiceId(3))
        .join("service_3.txt")
        .exists());
    assert!(rig.ws.service_dir(ServiceId(1)).exists() && rig.ws.service_dir(ServiceId(2)).exists());
    let log = rig.cost_log();
    assert_eq!(log.len(), 1);
    assert_line(
        &log[0],
        utc(2026, 1, 2, 0, 0),
        "service_3 OFF (schedule night)",
    );

    rig.tick_to(&addr, utc(2026, 1, 2, 5, 59)).await;
    assert!(
        !rig.ws.service_dir(ServiceId(3)).exists(),
        "05:59 still off"
    );
    rig.tick_to(&addr, utc(2026, 1, 2, 6, 0)).await;
    assert!(rig
        .ws
        .service_dir(ServiceId(3))
        .join("service_3.txt")
        .exists());
    assert!(rig
        .ws
        .service_dir(ServiceId(3))
        .join("processed_4")
        .exists());
    assert!(!rig.ws.archived_dir(ServiceId(3)).exists());
    // Routing resumed only once the folder was back.
    assert_eq!(
        rig.seen()[1],
        Seen {
            service: 3,
            off: false,
            live: true,
            archived: false
        }
    );
    let log = rig.cost_log();
    assert_eq!(log.len(), 2);
    assert_line(
        &log[1],
        utc(2026, 1, 2, 6, 0),
        "service_3 ON (schedule night)",
    );

    rig.tick_to(&addr, utc(2026, 1, 2, 6, 2)).await;
    addr.send(Shutdown).await.unwrap();
    let sum = summarize_file(&rig.ws.cost_ledger()).unwrap();
    let s3 = &sum.services[&ServiceId(3)];
    assert_eq!(s3.seconds_off, 6 * 3600);
    assert_eq!(s3.seconds_up, 4 * 60, "23:58-00:00 and 06:00-06:02");
    assert!((s3.saved - 0.6).abs() < 1e-9, "{s3:?}");
    assert_eq!(sum.services[&ServiceId(1)].seconds_up, 6 * 3600 + 4 * 60);
    assert_eq!(sum.services[&ServiceId(1)].seconds_off, 0);
    assert!(rig.alarms().is_empty(), "{:?}", rig.alarms());
}

#[actix_rt::test]
async fn a_service_already_in_its_window_goes_off_at_start() {
    let rig = Rig::new(utc(2026, 1, 2, 3, 0));
    let addr = rig.actor(config(&rig.ws.root, NIGHT));
    addr.send(Tick).await.unwrap();
    assert!(rig.ws.archived_dir(ServiceId(3)).exists());
    assert_eq!(rig.cost_log().len(), 1);
    assert_eq!(rig.seen().len(), 1);
}

#[actix_rt::test]
async fn archive_conflict_overwrites_nothing_and_raises_an_alarm() {
    let rig = Rig::new(utc(2026, 1, 1, 23, 59));
    std::fs::create_dir_all(rig.ws.archived_dir(ServiceId(3))).unwrap();
    std::fs::write(rig.ws.archived_dir(ServiceId(3)).join("old"), "old").unwrap();
    std::fs::write(rig.ws.service_dir(ServiceId(3)).join("new"), "new").unwrap();
    let addr = rig.actor(config(&rig.ws.root, NIGHT));
    rig.tick_to(&addr, utc(2026, 1, 2, 0, 1)).await;
    assert_eq!(
        std::fs::read_to_string(rig.ws.archived_dir(ServiceId(3)).join("old")).unwrap(),
        "old"
    );
    assert_eq!(
        std::fs::read_to_string(rig.ws.service_dir(ServiceId(3)).join("new")).unwrap(),
        "new"
    );
    assert!(!rig.ws.archived_dir(ServiceId(3)).join("new").exists());
    assert!(
        !rig.ws.archived_dir(ServiceId(3)).join("service_3").exists(),
        "not moved inside either"
    );
    assert!(rig.cost_log().is_empty());
    // Raised once, not every minute.
    assert_eq!(rig.alarms(), vec![format!("alarm {CONFLICT_ALARM}")]);

    // The operator moves the stale archive away: the next minute archives, the alarm clears.
    std::fs::rename(rig.ws.archived_dir(ServiceId(3)), rig.ws.root.join("stale")).unwrap();
    rig.tick_to(&addr, utc(2026, 1, 2, 0, 2)).await;
    assert!(rig.ws.archived_dir(ServiceId(3)).join("new").exists());
    assert_eq!(
        rig.alarms(),
        vec![
            format!("alarm {CONFLICT_ALARM}"),
            format!("clear {CONFLICT_ALARM}")
        ]
    );
    assert_eq!(rig.cost_log().len(), 1);
}

#[actix_rt::test]
async fn leaving_conflict_keeps_both_folders() {
    let rig = Rig::new(utc(2026, 1, 2, 5, 58));
    let addr = rig.actor(config(&rig.ws.root, NIGHT));
    addr.send(Tick).await.unwrap();
    assert!(rig.ws.archived_dir(ServiceId(3)).exists());
    // Someone recreates the live folder while the service is off.
    std::fs::create_dir_all(rig.ws.service_dir(ServiceId(3))).unwrap();
    std::fs::write(rig.ws.service_dir(ServiceId(3)).join("stray"), "s").unwrap();
    rig.tick_to(&addr, utc(2026, 1, 2, 6, 1)).await;
    assert!(rig
        .ws
        .archived_dir(ServiceId(3))
        .join("service_3.txt")
        .exists());
    assert!(rig.ws.service_dir(ServiceId(3)).join("stray").exists());
    assert!(!rig
        .ws
        .service_dir(ServiceId(3))
        .join("service_3.txt")
        .exists());
    assert!(
        rig.seen().iter().all(|s| s.off),
        "never put back on routing"
    );
    assert!(rig.alarms().contains(&format!("alarm {CONFLICT_ALARM}")));
    assert_eq!(rig.cost_log().len(), 1, "only the OFF line");
}

#[actix_rt::test]
async fn restart_mid_window_continues_the_ledger() {
    let rig = Rig::new(utc(2026, 1, 2, 2, 0));
    let cfg = config(&rig.ws.root, NIGHT);
    let a = rig.actor(cfg.clone());
    a.send(Tick).await.unwrap(); // started at 02:00
    rig.tick_to(&a, utc(2026, 1, 2, 2, 5)).await;
    a.send(Shutdown).await.unwrap();
    // A new daemon two minutes later, still inside the window.
    rig.clock.advance(Duration::minutes(2));
    let b = rig.actor(cfg);
    b.send(Tick).await.unwrap();
    rig.tick_to(&b, utc(2026, 1, 2, 2, 10)).await;
    b.send(Shutdown).await.unwrap();
    assert!(rig.ws.archived_dir(ServiceId(3)).exists());
    assert_eq!(
        rig.cost_log().len(),
        1,
        "no second OFF line: {:?}",
        rig.cost_log()
    );
    let sum = summarize_file(&rig.ws.cost_ledger()).unwrap();
    // 02:00-02:05 and 02:07-02:10: the two minutes without a daemon are not billed.
    assert_eq!(sum.services[&ServiceId(3)].seconds_off, 8 * 60);
    assert_eq!(sum.services[&ServiceId(1)].seconds_up, 8 * 60);
    assert_eq!(sum.bad_lines, 0);
}

#[actix_rt::test]
async fn reload_without_the_schedule_brings_the_service_back() {
    let rig = Rig::new(utc(2026, 1, 2, 3, 0));
    let a = rig.actor(config(&rig.ws.root, NIGHT));
    a.send(Tick).await.unwrap();
    assert!(rig.ws.archived_dir(ServiceId(3)).exists());
    rig.clock.advance(Duration::minutes(10));
    let plain = config(
        &rig.ws.root,
        "services {\n  count = 3\n}\nservice \"service_3\" {\n  hourly_cost = 1.0\n}\n",
    );
    a.send(Reconfigure(plain)).await.unwrap();
    assert!(rig.ws.service_dir(ServiceId(3)).exists());
    assert!(!rig.ws.archived_dir(ServiceId(3)).exists());
    let log = rig.cost_log();
    assert_line(
        &log[1],
        utc(2026, 1, 2, 3, 10),
        "service_3 ON (schedule night)",
    );
    rig.clock.advance(Duration::minutes(60));
    a.send(Shutdown).await.unwrap();
    let sum = summarize_file(&rig.ws.cost_ledger()).unwrap();
    let s3 = &sum.services[&ServiceId(3)];
    assert_eq!(s3.seconds_off, 600);
    assert!(
        (s3.saved - 0.1 / 6.0).abs() < 1e-9,
        "old cost for the off time"
    );
    assert_eq!(s3.seconds_up, 3600);
    assert!((s3.cost - 1.0).abs() < 1e-9, "new cost after the reload");
}

#[actix_rt::test]
async fn a_service_without_a_folder_is_archived_empty() {
    let rig = Rig::new(utc(2026, 1, 2, 3, 0));
    std::fs::remove_dir_all(rig.ws.service_dir(ServiceId(3))).unwrap();
    let a = rig.actor(config(&rig.ws.root, NIGHT));
    a.send(Tick).await.unwrap();
    assert!(rig.ws.archived_dir(ServiceId(3)).is_dir());
    assert_eq!(rig.cost_log().len(), 1);
}

#[actix_rt::test]
async fn a_ledger_that_cannot_be_written_raises_cost_error_until_it_can() {
    let rig = Rig::new(utc(2026, 1, 1, 12, 0));
    // A folder where the ledger file should be: it can be neither read nor appended to.
    std::fs::create_dir_all(rig.ws.cost_ledger()).unwrap();
    let a = rig.actor(config(&rig.ws.root, NIGHT));
    a.send(Tick).await.unwrap();
    rig.tick_to(&a, utc(2026, 1, 1, 12, 3)).await;
    assert_eq!(
        rig.alarms(),
        vec![format!("alarm {ERROR_ALARM}")],
        "raised once and kept"
    );
    std::fs::remove_dir(rig.ws.cost_ledger()).unwrap();
    rig.tick_to(&a, utc(2026, 1, 1, 12, 4)).await;
    rig.tick_to(&a, utc(2026, 1, 1, 12, 5)).await;
    assert_eq!(
        rig.alarms(),
        vec![
            format!("alarm {ERROR_ALARM}"),
            format!("clear {ERROR_ALARM}")
        ]
    );
    a.send(Shutdown).await.unwrap();
    let sum = summarize_file(&rig.ws.cost_ledger()).unwrap();
    // Billing starts once the ledger opens (12:04); the time before could not be recorded.
    assert_eq!(sum.services[&ServiceId(1)].seconds_up, 60);
}

#[test]
fn apply_now_switches_synchronously_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::new(dir.path());
    for n in ServiceId::all(3) {
        std::fs::create_dir_all(ws.service_dir(n)).unwrap();
    }
    let cfg = config(dir.path(), NIGHT);
    let clock = FakeClock::new(utc(2026, 1, 2, 3, 0));
    assert_eq!(
        apply_now(&ws, &cfg, &clock).into_iter().collect::<Vec<_>>(),
        vec![ServiceId(3)]
    );
    assert!(ws.archived_dir(ServiceId(3)).exists() && !ws.service_dir(ServiceId(3)).exists());
    assert_eq!(apply_now(&ws, &cfg, &clock).len(), 1);
    let log = std::fs::read_to_string(ws.cost_log()).unwrap();
    assert_eq!(log.lines().count(), 1);
    assert!(log.ends_with("  service_3 OFF (schedule night)\n"), "{log}");

    // Hours after the window ended (nobody watched it end): back, named after its schedule.
    clock.set(utc(2026, 1, 2, 9, 30));
    let r = reconcile(&ws, &cfg, clock.now());
    assert!(r.off.is_empty());
    assert_eq!(r.changes, vec![(ServiceId(3), false, "night".to_string())]);
    assert!(ws.service_dir(ServiceId(3)).exists() && !ws.archived_dir(ServiceId(3)).exists());
    let log = std::fs::read_to_string(ws.cost_log()).unwrap();
    assert!(log.ends_with("  service_3 ON (schedule night)\n"), "{log}");
}

#[test]
fn apply_now_reports_a_conflict_and_moves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::new(dir.path());
    std::fs::create_dir_all(ws.service_dir(ServiceId(3))).unwrap();
    std::fs::create_dir_all(ws.archived_dir(ServiceId(3))).unwrap();
    std::fs::write(ws.service_dir(ServiceId(3)).join("a"), "live").unwrap();
    std::fs::write(ws.archived_dir(ServiceId(3)).join("a"), "archived").unwrap();
    let cfg = config(dir.path(), NIGHT);
    let r = reconcile(&ws, &cfg, utc(2026, 1, 2, 3, 0));
    assert_eq!(r.problems.len(), 1);
    assert!(
        r.problems[0].to_string().contains("both exist"),
        "{}",
        r.problems[0]
    );
    assert_eq!(
        std::fs::read_to_string(ws.service_dir(ServiceId(3)).join("a")).unwrap(),
        "live"
    );
    assert_eq!(
        std::fs::read_to_string(ws.archived_dir(ServiceId(3)).join("a")).unwrap(),
        "archived"
    );
    // Outside the window too: the archive cannot come back over the live folder.
    let r = reconcile(&ws, &cfg, utc(2026, 1, 2, 12, 0));
    assert_eq!(r.problems.len(), 1);
    assert!(r.changes.is_empty());
    assert_eq!(
        std::fs::read_to_string(ws.service_dir(ServiceId(3)).join("a")).unwrap(),
        "live"
    );
}
