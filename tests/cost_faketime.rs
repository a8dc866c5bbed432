//! Cost schedules end to end under Debian's `faketime` (the whole process sees the faked wall
//! clock) with the bundled config (service_3 off 00:00-06:00 local; TZ=UTC here): `run --once`
//! entering the window with requests waiting, restarting mid-window, leaving it; nothing lost.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::wait_until;
use common::{faketime, text, tfops_bin, Ws};

/// `tfops ARGS` with the wall clock starting at `when` (UTC), or `None` without faketime.
fn at(ws: &Ws, when: &str, args: &[&str]) -> Option<Output> {
    let ft = faketime()?;
    let o = Command::new(ft)
        .arg("-f")
        .arg(format!("@{when}"))
        .arg(tfops_bin())
        .arg("--root")
        .arg(ws.root())
        .args(args)
        .env("TZ", "UTC")
        .env_remove("TFOPS_ROOT")
        .stdin(Stdio::null())
        .output()
        .expect("run faketime tfops");
    Some(o)
}

/// `run --once` at `when`: returns (routed, rejected, waiting).
fn once(ws: &Ws, when: &str) -> Option<(u64, u64, u64)> {
    let o = at(ws, when, &["run", "--once"])?;
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    let line = out
        .lines()
        .find(|l| l.starts_with("routed "))
        .unwrap_or_else(|| panic!("no summary line: {}", text(&o)));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(nums.len(), 3, "{line}");
    Some((nums[0], nums[1], nums[2]))
}

fn generate(ws: &Ws, n: usize, prefix: &str) {
    let o = ws.run(&["requests", "generate", &n.to_string(), "--prefix", prefix]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

/// Delivered requests (`processed_*`) in a folder.
fn processed(dir: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<String> = rd
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("processed_"))
        .collect();
    v.sort();
    v
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}

fn cost_log(ws: &Ws) -> Vec<String> {
    std::fs::read_to_string(ws.path("balanceador/logs/cost.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn entering_the_window_with_requests_waiting_loses_nothing() {
    let ws = Ws::bundled();
    generate(&ws, 6, "day");
    let Some((routed, _, _)) = once(&ws, "2026-01-01 23:00:00") else {
        eprintln!("SKIP: no faketime");
        return;
    };
    assert_eq!(routed, 6);
    let s3_day = processed(&ws.path("balanceador/service_3"));
    assert_eq!(s3_day.len(), 2, "round robin gave service_3 its share");
    assert!(cost_log(&ws).is_empty());

    // Requests waiting in the intake when 03:00 comes: none goes to service_3.
    generate(&ws, 6, "night");
    let (routed, rejected, waiting) = once(&ws, "2026-01-02 03:00:00").unwrap();
    assert_eq!((routed, rejected, waiting), (6, 0, 0));
    assert!(!ws.path("balanceador/service_3").exists());
    let archived = ws.path("archived/service_3");
    assert_eq!(processed(&archived), s3_day, "the inbox moved whole");
    assert!(archived.join("service_3.txt").exists());
    for n in [1, 2] {
        let p = processed(&ws.path(&format!("balanceador/service_{n}")));
        assert_eq!(p.iter().filter(|x| x.contains("night")).count(), 3, "{p:?}");
    }
    // Every request is in exactly one place.
    let total: usize = [
        ws.path("balanceador/service_1"),
        ws.path("balanceador/service_2"),
        archived.clone(),
    ]
    .iter()
    .map(|d| processed(d).len())
    .sum();
    assert_eq!(total, 12);
    assert_eq!(count(&ws.path("balanceador/incoming_requests")), 0);
    assert_eq!(count(&ws.path("balanceador/errors")), 0);

    let log = cost_log(&ws);
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].starts_with("2026-01-02 03:00:"), "{}", log[0]);
    assert!(
        log[0].ends_with("  service_3 OFF (schedule night)"),
        "{}",
        log[0]
    );

    // status shows it off.
    let o = at(&ws, "2026-01-02 03:01:00", &["status", "--json"]).unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s3 = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "service_3")
        .cloned()
        .unwrap();
    assert_eq!(s3["state"], "off", "{v}");
}

#[test]
fn restart_mid_window_then_leaving_it() {
    let ws = Ws::bundled();
    let Some(_) = once(&ws, "2026-01-02 03:00:00") else {
        eprintln!("SKIP: no faketime");
        return;
    };
    assert!(ws.path("archived/service_3").is_dir());
    std::fs::write(ws.path("archived/service_3/processed_old_keep.txt"), "kept").unwrap();

    // A restart inside the window: still off, no second OFF line, nothing to service_3.
    generate(&ws, 4, "mid");
    let (routed, _, _) = once(&ws, "2026-01-02 04:30:00").unwrap();
    assert_eq!(routed, 4);
    assert!(ws.path("archived/service_3").is_dir());
    assert!(!ws.path("balanceador/service_3").exists());
    assert_eq!(cost_log(&ws).len(), 1, "{:?}", cost_log(&ws));

    // 06:00: the window is over (end exclusive); the folder comes back with its inbox.
    generate(&ws, 3, "morning");
    let (routed, _, _) = once(&ws, "2026-01-02 06:00:00").unwrap();
    assert_eq!(routed, 3);
    assert!(!ws.path("archived/service_3").exists());
    let s3 = ws.path("balanceador/service_3");
    assert_eq!(
        std::fs::read_to_string(s3.join("processed_old_keep.txt")).unwrap(),
        "kept"
    );
    assert!(s3.join("service_3.txt").exists());
    assert_eq!(
        processed(&s3)
            .iter()
            .filter(|x| x.contains("morning"))
            .count(),
        1,
        "routing resumed"
    );
    let log = cost_log(&ws);
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log[1].starts_with("2026-01-02 06:00:"), "{}", log[1]);
    assert!(
        log[1].ends_with("  service_3 ON (schedule night)"),
        "{}",
        log[1]
    );
}

#[test]
fn an_archive_already_there_is_a_conflict_and_overwrites_nothing() {
    let ws = Ws::bundled();
    let Some(_) = once(&ws, "2026-01-01 12:00:00") else {
        eprintln!("SKIP: no faketime");
        return;
    };
    assert!(ws.path("balanceador/service_3/service_3.txt").exists());
    std::fs::create_dir_all(ws.path("archived/service_3")).unwrap();
    std::fs::write(ws.path("archived/service_3/stale"), "stale").unwrap();
    std::fs::write(ws.path("balanceador/service_3/live"), "live").unwrap();
    let _ = once(&ws, "2026-01-02 03:00:00").unwrap();
    assert_eq!(
        std::fs::read_to_string(ws.path("archived/service_3/stale")).unwrap(),
        "stale"
    );
    assert_eq!(
        std::fs::read_to_string(ws.path("balanceador/service_3/live")).unwrap(),
        "live"
    );
    assert!(cost_log(&ws).is_empty(), "{:?}", cost_log(&ws));
}

#[test]
fn cost_report_at_under_a_faked_clock_is_unaffected() {
    let ws = Ws::bundled();
    let Some(o) = at(
        &ws,
        "2026-06-01 12:00:00",
        &["cost", "report", "--json", "--at", "2026-01-01 05:59"],
    ) else {
        eprintln!("SKIP: no faketime");
        return;
    };
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["at"]["off"][0]["name"], "service_3");
}

/// `tfops run` under faketime, starting at `when`; SIGKILLed if still running when dropped.
/// `faketime` forks: signals go to tfops itself, by the pid in `.tfops/run.pid`.
struct Daemon {
    child: std::process::Child,
    pid: i32,
}

impl Daemon {
    fn start(ws: &Ws, when: &str) -> Option<Daemon> {
        let ft = faketime()?;
        let _ = std::fs::remove_file(ws.path("balanceador/logs/status.json"));
        let log = std::fs::File::create(ws.path(&format!("daemon-{}.log", when.replace(' ', "_"))))
            .unwrap();
        let child = Command::new(ft)
            .arg("-m")
            .arg("-f")
            .arg(format!("@{when}"))
            .arg(tfops_bin())
            .arg("--root")
            .arg(ws.root())
            .arg("run")
            .env("TZ", "UTC")
            .env_remove("TFOPS_ROOT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start faketime tfops run");
        let mut d = Daemon { child, pid: 0 };
        assert!(
            wait_until(std::time::Duration::from_secs(15), || ws
                .path("balanceador/logs/status.json")
                .exists()),
            "the daemon did not start"
        );
        d.pid = std::fs::read_to_string(ws.path(".tfops/run.pid"))
            .expect("run.pid")
            .trim()
            .parse()
            .expect("a pid in run.pid");
        Some(d)
    }

    /// SIGTERM, then the exit code.
    fn stop(mut self) -> Option<i32> {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        let t = std::time::Instant::now();
        while t.elapsed() < std::time::Duration::from_secs(20) {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() && self.pid > 0 {
            // SAFETY: our own grandchild, still running (its parent has not exited).
            unsafe { libc::kill(self.pid, libc::SIGKILL) };
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a request the way writers should: a dot name, then a rename.
fn drop_request(ws: &Ws, name: &str) {
    let dir = ws.path("balanceador/incoming_requests");
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join(format!(".{name}.part"));
    std::fs::write(&tmp, name).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

/// `processed_<YYYY-MM-DD_HH-MM-SS>[-k]_<name>` → (timestamp, name).
fn split_processed(f: &str) -> (String, String) {
    let rest = f.strip_prefix("processed_").unwrap();
    let ts = rest[..19].to_string();
    let name = rest[19..].split_once('_').unwrap().1.to_string();
    (ts, name)
}

#[test]
fn the_daemon_switches_off_at_03_00_while_requests_flow_and_after_a_restart() {
    let ws = Ws::bundled();
    ws.write_config(
        "balancer {\n  rescan = \"200ms\"\n  settle = \"50ms\"\n}\nhealth {\n  interval = \"300ms\"\n}\n\
         schedule \"night\" {\n  services = [\"service_3\"]\n  off = \"03:00-06:00\"\n  timezone = \"UTC\"\n}\n",
    );
    let Some(d) = Daemon::start(&ws, "2026-01-02 02:59:54") else {
        eprintln!("SKIP: no faketime");
        return;
    };
    let archived = ws.path("archived/service_3");
    // Requests every 50 ms until two seconds after service_3 went off.
    let mut sent = 0;
    let mut off_since: Option<std::time::Instant> = None;
    let t0 = std::time::Instant::now();
    while off_since.is_none_or(|t| t.elapsed() < std::time::Duration::from_secs(2)) {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "never went off"
        );
        drop_request(&ws, &format!("flow_{sent:04}.txt"));
        sent += 1;
        std::thread::sleep(std::time::Duration::from_millis(50));
        if off_since.is_none() && archived.is_dir() {
            off_since = Some(std::time::Instant::now());
        }
    }
    // Let the last ones settle and go.
    assert!(wait_until(std::time::Duration::from_secs(10), || count(
        &ws.path("balanceador/incoming_requests")
    ) == 0));
    assert_eq!(d.stop(), Some(0));

    // Every request is in exactly one place; none reached service_3 after 03:00:00.
    let mut seen = std::collections::HashMap::<String, usize>::new();
    let mut late_to_3 = Vec::new();
    for dir in [
        ws.path("balanceador/service_1"),
        ws.path("balanceador/service_2"),
        archived.clone(),
    ] {
        for f in processed(&dir) {
            let (ts, name) = split_processed(&f);
            // The switch takes the first milliseconds of 03:00:00; a second later, none.
            if dir == archived && ts.as_str() > "2026-01-02_03-00-00" {
                late_to_3.push(f.clone());
            }
            *seen.entry(name).or_default() += 1;
        }
    }
    assert_eq!(seen.len(), sent, "every request delivered");
    assert!(seen.values().all(|c| *c == 1), "a request is in two places");
    assert!(
        late_to_3.is_empty(),
        "routed to service_3 after 03:00:00: {late_to_3:?}"
    );
    assert!(
        !processed(&archived).is_empty(),
        "service_3 had requests before 03:00"
    );
    assert!(!ws.path("balanceador/service_3").exists());
    let log = cost_log(&ws);
    assert_eq!(log.len(), 1, "{log:?}");
    assert!(log[0].starts_with("2026-01-02 03:00:0"), "{}", log[0]);
    assert!(
        log[0].ends_with("  service_3 OFF (schedule night)"),
        "{}",
        log[0]
    );

    // A restart mid-window: still off, no second OFF line, the ledger goes on.
    let d = Daemon::start(&ws, "2026-01-02 03:10:00").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(d.stop(), Some(0));
    assert!(archived.is_dir());
    assert_eq!(cost_log(&ws).len(), 1);

    let o = ws
        .cmd()
        .env("TZ", "UTC")
        .args(["cost", "report", "--json"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["services"];
    assert!(s[0]["hours_up"].as_f64().unwrap() > 0.0, "{v}");
    assert!(
        s[2]["hours_up"].as_f64().unwrap() > 0.0,
        "02:59:54-03:00, {v}"
    );
    assert!(s[2]["hours_off"].as_f64().unwrap() > 0.0, "{v}");
    assert!(s[2]["saved"].as_f64().unwrap() > 0.0, "{v}");
    assert_eq!(v["since"], "2026-01-02T02:59:54+00:00");
    // Until the second run's stop, past 03:10 (the ten minutes with no daemon are not billed).
    assert!(
        v["until"].as_str().unwrap() >= "2026-01-02T03:10:00+00:00",
        "{v}"
    );
    let off_h = s[2]["hours_off"].as_f64().unwrap();
    assert!(
        off_h < 60.0 / 3600.0,
        "only the seconds a daemon ran: {off_h}"
    );
}
