//! Black-box tests of the request balancer: the real binary in temp workspaces.

mod common;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::wait_until;
use common::{text, tfops_bin, Ws};

/// A `tfops run` in the background; killed (SIGKILL) if still running when dropped.
struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(ws: &Ws) -> Daemon {
        Self::start_env(ws, &[])
    }

    fn start_env(ws: &Ws, env: &[(&str, &str)]) -> Daemon {
        let log = std::fs::File::create(ws.path("daemon.log")).unwrap();
        let mut c = ws.cmd();
        c.arg("run").stdout(Stdio::null()).stderr(log);
        for (k, v) in env {
            c.env(k, v);
        }
        let child = c.spawn().expect("start tfops run");
        let d = Daemon { child };
        // Ready once it wrote its status.
        wait_until(Duration::from_secs(10), || {
            ws.path("balanceador/logs/status.json").exists()
        });
        d
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(self.pid(), sig) };
    }

    fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn processed(ws: &Ws, n: usize) -> Vec<String> {
    names(&ws.path(&format!("balanceador/service_{n}")))
        .into_iter()
        .filter(|f| f.starts_with("processed_"))
        .collect()
}

fn intake(ws: &Ws) -> std::path::PathBuf {
    let p = ws.path("balanceador/incoming_requests");
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// Writes a request the way writers should: a dot name, then a rename.
fn drop_request(ws: &Ws, name: &str, body: &[u8]) {
    let dir = intake(ws);
    let tmp = dir.join(format!(".{name}.part"));
    std::fs::write(&tmp, body).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

fn fast_config(ws: &Ws, extra: &str) {
    ws.write_config(&format!(
        "balancer {{\n  rescan = \"200ms\"\n  settle = \"50ms\"\n}}\nhealth {{\n  interval = \"300ms\"\n}}\n{extra}"
    ));
}

fn total_delivered(ws: &Ws, count: usize) -> usize {
    (1..=count).map(|n| processed(ws, n).len()).sum()
}

#[test]
fn once_delivers_a_request_as_processed_and_records_it_in_load_json() {
    let ws = Ws::bundled();
    drop_request(&ws, "pedido.txt", b"hola");
    let o = ws.run(&["run", "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("routed 1, rejected 0, waiting 0"),
        "{}",
        text(&o)
    );
    let all: Vec<(usize, String)> = (1..=3)
        .flat_map(|n| processed(&ws, n).into_iter().map(move |f| (n, f)))
        .collect();
    assert_eq!(all.len(), 1, "{all:?}");
    let (n, file) = &all[0];
    assert!(
        file.starts_with("processed_") && file.ends_with("_pedido.txt"),
        "{file}"
    );
    let load: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ws.path(&format!("balanceador/logs/load_{n}.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(load["archivos"][0], file.as_str());
    assert_eq!(load["total"], 1);
    assert!(load["ultimo_procesamiento"].as_str().unwrap().len() == 19);
    let jsonl =
        std::fs::read_to_string(ws.path(&format!("balanceador/logs/load_{n}.jsonl"))).unwrap();
    let line: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(line["request"], "pedido.txt");
    assert_eq!(line["bytes"], 4);
    assert_eq!(line["service"], format!("service_{n}"));
}

#[test]
fn with_no_active_service_requests_stay_in_the_intake() {
    let ws = Ws::bundled();
    ws.write_config("services {\n  count = 3\n  active = []\n}\n");
    drop_request(&ws, "a.txt", b"x");
    let o = ws.run(&["run", "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("routed 0, rejected 0, waiting 1"),
        "{}",
        text(&o)
    );
    assert_eq!(names(&intake(&ws)), vec!["a.txt"]);
    for n in 1..=3 {
        assert!(!ws
            .path(&format!("balanceador/service_{n}/service_{n}.txt"))
            .exists());
    }
}

#[test]
fn round_robin_spreads_requests_evenly() {
    let ws = Ws::bundled();
    for i in 0..30 {
        drop_request(&ws, &format!("r{i:02}.txt"), b"x");
    }
    let o = ws.run(&["run", "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    let counts: Vec<usize> = (1..=3).map(|n| processed(&ws, n).len()).collect();
    assert_eq!(counts, vec![10, 10, 10]);
}

#[test]
fn two_requests_with_the_same_name_in_the_same_second_are_both_kept() {
    let Some(faketime) = common::faketime() else {
        return;
    };
    let ws = Ws::bundled();
    ws.write_config("services {\n  count = 1\n}\nbalancer {\n  settle = \"0s\"\n}\n");
    for body in [&b"first"[..], b"second"] {
        drop_request(&ws, "same.txt", body);
        let o = Command::new(&faketime)
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            // -f: libfaketime's own format; an absolute date without @ is a stopped clock.
            .args(["-f", "2026-01-01 12:00:00"])
            .arg(tfops_bin())
            .arg("--root")
            .arg(ws.root())
            .args(["run", "--once"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    let files = processed(&ws, 1);
    assert_eq!(
        files,
        vec![
            "processed_2026-01-01_12-00-00-2_same.txt".to_string(),
            "processed_2026-01-01_12-00-00_same.txt".to_string()
        ]
    );
    let a = std::fs::read(ws.path("balanceador/service_1/processed_2026-01-01_12-00-00_same.txt"))
        .unwrap();
    let b =
        std::fs::read(ws.path("balanceador/service_1/processed_2026-01-01_12-00-00-2_same.txt"))
            .unwrap();
    assert_eq!(
        (a.as_slice(), b.as_slice()),
        (&b"first"[..], &b"second"[..])
    );
}

#[test]
fn hostile_requests_go_to_errors_with_a_reason_and_nothing_hangs() {
    let ws = Ws::bundled();
    ws.write_config("balancer {\n  max_request_bytes = 100\n}\n");
    let dir = intake(&ws);
    std::fs::write(dir.join("binary.txt"), [0xff, 0xfe, 0x00]).unwrap();
    std::fs::write(dir.join("big.txt"), vec![b'x'; 101]).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("link.txt")).unwrap();
    std::fs::create_dir(dir.join("a-directory")).unwrap();
    let fifo = dir.join("pipe");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: valid C string path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    std::fs::write(dir.join(OsStr::from_bytes(b"bad\xffname.txt")), "x").unwrap();
    let mut child = ws
        .cmd()
        .args(["run", "--once"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "run --once hung on a hostile request"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("routed 0, rejected 6, waiting 0"),
        "{}",
        text(&o)
    );
    let reason = |name: &str| -> String {
        let j: serde_json::Value = serde_json::from_slice(
            &std::fs::read(ws.path(&format!("balanceador/errors/{name}.error.json"))).unwrap(),
        )
        .unwrap();
        assert!(!j["request"].as_str().unwrap().is_empty());
        assert!(j["at"].as_str().is_some() && j["detail"].as_str().is_some());
        j["reason"].as_str().unwrap().to_string()
    };
    assert_eq!(reason("binary.txt"), "not_utf8");
    assert_eq!(reason("big.txt"), "too_large");
    assert_eq!(reason("link.txt"), "symlink");
    assert_eq!(reason("a-directory"), "not_regular_file");
    assert_eq!(reason("pipe"), "not_regular_file");
    let bad = ws
        .path("balanceador/errors")
        .join(OsStr::from_bytes(b"bad\xffname.txt.error.json"));
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(bad).unwrap()).unwrap();
    assert_eq!(j["reason"], "bad_name");
    // The symlink was moved, never followed: its target is untouched and it is still a link.
    assert!(
        std::fs::symlink_metadata(ws.path("balanceador/errors/link.txt"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(names(&intake(&ws)).is_empty());
}

#[test]
fn names_with_spaces_and_non_ascii_letters_are_delivered() {
    let ws = Ws::bundled();
    drop_request(&ws, "solicitud de compra ñandú.txt", b"ok");
    drop_request(&ws, "заявка 東京.txt", b"ok");
    let o = ws.run(&["run", "--once"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("routed 2"),
        "{}",
        text(&o)
    );
    let all: Vec<String> = (1..=3).flat_map(|n| processed(&ws, n)).collect();
    assert!(
        all.iter()
            .any(|f| f.ends_with("_solicitud de compra ñandú.txt")),
        "{all:?}"
    );
    assert!(
        all.iter().any(|f| f.ends_with("_заявка 東京.txt")),
        "{all:?}"
    );
}

#[test]
fn a_second_run_says_who_holds_the_lock() {
    let ws = Ws::bundled();
    fast_config(&ws, "");
    let d = Daemon::start(&ws);
    let o = ws.run(&["run"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("pid {}", d.pid())), "{err}");
    let o = ws.run(&["run", "--once"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn daemon_routes_and_a_removed_marker_stops_routing_until_it_is_back() {
    let ws = Ws::bundled();
    fast_config(&ws, "");
    let mut d = Daemon::start(&ws);
    for i in 0..9 {
        drop_request(&ws, &format!("a{i}.txt"), b"x");
    }
    assert!(wait_until(Duration::from_secs(10), || total_delivered(
        &ws, 3
    ) == 9));
    assert_eq!(processed(&ws, 2).len(), 3);
    std::fs::remove_file(ws.path("balanceador/service_2/service_2.txt")).unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(ws.path("balanceador/logs/health.log"))
            .unwrap_or_default()
            .contains("service_2 DOWN (marker missing)")
    }));
    for i in 0..10 {
        drop_request(&ws, &format!("b{i}.txt"), b"x");
    }
    assert!(wait_until(Duration::from_secs(10), || total_delivered(
        &ws, 3
    ) == 19));
    assert_eq!(processed(&ws, 2).len(), 3, "a down service got requests");
    std::fs::write(ws.path("balanceador/service_2/service_2.txt"), "back").unwrap();
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(ws.path("balanceador/logs/health.log"))
            .unwrap_or_default()
            .matches("service_2 UP")
            .count()
            == 2
    }));
    for i in 0..6 {
        drop_request(&ws, &format!("c{i}.txt"), b"x");
    }
    assert!(wait_until(Duration::from_secs(10), || total_delivered(
        &ws, 3
    ) == 25));
    assert!(
        processed(&ws, 2).len() > 3,
        "service_2 is used again once up"
    );
    let status = ws.run(&["status", "--json"]);
    let j: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(j["daemon"]["pid"], d.pid());
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait(Duration::from_secs(10)), Some(0));
    assert!(!ws.path(".tfops/run.pid").exists());
}

#[test]
fn with_no_service_up_requests_wait_and_go_as_soon_as_one_is_up() {
    let ws = Ws::bundled();
    fast_config(&ws, "services {\n  count = 2\n  active = []\n}\n");
    let _d = Daemon::start(&ws);
    drop_request(&ws, "waits.txt", b"x");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(names(&intake(&ws)), vec!["waits.txt"]);
    std::fs::create_dir_all(ws.path("balanceador/service_2")).unwrap();
    std::fs::write(ws.path("balanceador/service_2/service_2.txt"), "up").unwrap();
    assert!(wait_until(Duration::from_secs(5), || processed(&ws, 2)
        .len()
        == 1));
    assert!(names(&intake(&ws)).is_empty());
}

#[test]
fn a_vanished_service_folder_takes_it_down() {
    let ws = Ws::bundled();
    fast_config(&ws, "");
    let _d = Daemon::start(&ws);
    std::fs::remove_dir_all(ws.path("balanceador/service_1")).unwrap();
    for i in 0..12 {
        drop_request(&ws, &format!("v{i}.txt"), b"x");
    }
    assert!(wait_until(Duration::from_secs(10), || total_delivered(
        &ws, 3
    ) == 12));
    assert!(!ws.path("balanceador/service_1").exists());
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(ws.path("balanceador/logs/health.log"))
            .unwrap()
            .contains("service_1 DOWN (folder missing)")
    }));
}

#[test]
fn a_read_only_service_folder_is_down_for_an_unprivileged_user() {
    // Root ignores permission bits, so this runs tfops as nobody (setpriv).
    let Some(setpriv) = common::which("setpriv") else {
        panic!("setpriv (util-linux) is needed for permission tests");
    };
    let ws = Ws::bundled();
    let run_as_nobody = |args: &[&str]| {
        Command::new(&setpriv)
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(tfops_bin())
            .arg("--root")
            .arg(ws.root())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    // A workspace nobody can use, with service_2 read-only.
    let o = ws.run(&["run", "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    let chmod = |p: &Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(ws.root())
        .status()
        .unwrap();
    chmod(&ws.path("balanceador/service_2"), 0o555);
    for i in 0..6 {
        drop_request(&ws, &format!("p{i}.txt"), b"x");
    }
    Command::new("chmod")
        .args(["-R", "a+rw"])
        .arg(intake(&ws))
        .status()
        .unwrap();
    let o = run_as_nobody(&["run", "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("routed 6"),
        "{}",
        text(&o)
    );
    assert_eq!(processed(&ws, 2).len(), 0);
    assert_eq!(processed(&ws, 1).len() + processed(&ws, 3).len(), 6);
    let log = std::fs::read_to_string(ws.path("balanceador/logs/health.log")).unwrap();
    assert!(
        log.contains("service_2 DOWN (folder does not accept a write"),
        "{log}"
    );
    // An unreadable request (nobody cannot open it) goes to errors/ as unreadable.
    drop_request(&ws, "secret.txt", b"x");
    chmod(&intake(&ws).join("secret.txt"), 0o000);
    let o = run_as_nobody(&["run", "--once"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("rejected 1"),
        "{}",
        text(&o)
    );
    let j: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ws.path("balanceador/errors/secret.txt.error.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(j["reason"], "unreadable");
}

#[test]
fn sighup_with_a_valid_config_adds_and_removes_services() {
    let ws = Ws::bundled();
    fast_config(&ws, "services {\n  count = 2\n}\n");
    let d = Daemon::start(&ws);
    for i in 0..4 {
        drop_request(&ws, &format!("h{i}.txt"), b"x");
    }
    assert!(wait_until(Duration::from_secs(10), || total_delivered(
        &ws, 2
    ) == 4));
    fast_config(&ws, "services {\n  count = 4\n  active = [1, 3, 4]\n}\n");
    d.signal(libc::SIGHUP);
    assert!(wait_until(Duration::from_secs(5), || ws
        .path("balanceador/service_4/service_4.txt")
        .exists()));
    assert!(wait_until(Duration::from_secs(5), || !ws
        .path("balanceador/service_2/service_2.txt")
        .exists()));
    let before2 = processed(&ws, 2).len();
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..9 {
        drop_request(&ws, &format!("k{i}.txt"), b"x");
    }
    assert!(wait_until(Duration::from_secs(10), || total_delivered(
        &ws, 4
    ) == 13));
    assert_eq!(
        processed(&ws, 2).len(),
        before2,
        "service_2 left services.active"
    );
    assert_eq!(processed(&ws, 3).len(), 3);
    assert_eq!(processed(&ws, 4).len(), 3);
    let j: serde_json::Value =
        serde_json::from_slice(&ws.run(&["status", "--json"]).stdout).unwrap();
    assert_eq!(j["daemon"]["last_reload_error"], serde_json::Value::Null);
}

#[test]
fn sighup_with_a_broken_config_keeps_routing_on_the_old_one() {
    let ws = Ws::bundled();
    fast_config(&ws, "");
    let d = Daemon::start(&ws);
    ws.write_config("services {\n  count = 0\n}\nhealth {\n}\nhealth {\n}\n");
    d.signal(libc::SIGHUP);
    assert!(wait_until(Duration::from_secs(5), || {
        let j: serde_json::Value =
            serde_json::from_slice(&ws.run(&["status", "--json"]).stdout).unwrap_or_default();
        j["daemon"]["last_reload_error"].is_string()
    }));
    let j: serde_json::Value =
        serde_json::from_slice(&ws.run(&["status", "--json"]).stdout).unwrap();
    let err = j["daemon"]["last_reload_error"].as_str().unwrap();
    assert!(err.contains("config/tfops.hcl:2:"), "{err}");
    assert!(j["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["kind"] == "config"));
    for i in 0..6 {
        drop_request(&ws, &format!("s{i}.txt"), b"x");
    }
    assert!(wait_until(Duration::from_secs(10), || total_delivered(
        &ws, 3
    ) == 6));
    assert_eq!(processed(&ws, 1).len(), 2);
}

#[test]
fn sigterm_exits_0_with_nothing_half_moved() {
    let ws = Ws::bundled();
    fast_config(&ws, "");
    let o = ws.run(&["requests", "generate", "3000"]);
    assert!(o.status.success(), "{}", text(&o));
    let mut d = Daemon::start(&ws);
    std::thread::sleep(Duration::from_millis(300));
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait(Duration::from_secs(20)), Some(0));
    let delivered = total_delivered(&ws, 3);
    let left = names(&intake(&ws)).len();
    assert_eq!(
        delivered + left,
        3000,
        "every request is in exactly one place"
    );
    // Every delivered request has its log line and load_N.json is flushed.
    let mut lines = 0;
    for n in 1..=3 {
        let jsonl = std::fs::read_to_string(ws.path(&format!("balanceador/logs/load_{n}.jsonl")))
            .unwrap_or_default();
        lines += jsonl.lines().count();
        let load: serde_json::Value = serde_json::from_slice(
            &std::fs::read(ws.path(&format!("balanceador/logs/load_{n}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(
            load["total"].as_u64().unwrap() as usize,
            processed(&ws, n).len()
        );
    }
    assert_eq!(lines, delivered);
    assert!(std::fs::read_to_string(ws.path(".tfops/deliver_1.journal"))
        .unwrap()
        .is_empty());
}

/// Every request generated is found exactly once: in the intake, an inbox or errors/.
fn census(ws: &Ws, count: usize) -> HashMap<String, usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for f in names(&intake(ws)) {
        *seen.entry(f).or_default() += 1;
    }
    for n in 1..=count {
        for f in processed(ws, n) {
            // processed_<ts>[-k]_<name>: the request name is everything after the 2nd '_' group
            let rest = f.strip_prefix("processed_").unwrap();
            let name = rest.split_once('_').unwrap().1;
            let name = &name[name.find('_').map(|i| i + 1).unwrap_or(0)..];
            *seen.entry(name.to_string()).or_default() += 1;
        }
    }
    seen
}

#[test]
fn kill_9_while_routing_20000_requests_then_a_restart_delivers_each_exactly_once() {
    let ws = Ws::bundled();
    fast_config(&ws, "");
    let o = ws.run(&["requests", "generate", "20000", "--prefix", "k9"]);
    assert!(o.status.success(), "{}", text(&o));
    let mut d = Daemon::start(&ws);
    // Kill in the middle of routing.
    assert!(wait_until(Duration::from_secs(30), || total_delivered(
        &ws, 3
    ) > 2000));
    d.signal(libc::SIGKILL);
    d.wait(Duration::from_secs(5));
    let mid = total_delivered(&ws, 3);
    drop(d);
    let o = ws.run(&["run", "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    let seen = census(&ws, 3);
    assert_eq!(
        seen.len(),
        20000,
        "every request name is somewhere (killed after {mid})"
    );
    assert!(seen.values().all(|c| *c == 1), "a request is in two places");
    assert!(names(&intake(&ws)).is_empty());
    // Logs agree with the inboxes: one line per delivered file, no duplicates.
    for n in 1..=3 {
        let jsonl =
            std::fs::read_to_string(ws.path(&format!("balanceador/logs/load_{n}.jsonl"))).unwrap();
        let files: Vec<String> = jsonl
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["file"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let uniq: std::collections::HashSet<_> = files.iter().collect();
        assert_eq!(
            uniq.len(),
            files.len(),
            "duplicate log lines for service_{n}"
        );
        let mut on_disk = processed(&ws, n);
        let mut logged = files.clone();
        on_disk.sort();
        logged.sort();
        assert_eq!(
            on_disk, logged,
            "service_{n}: inbox and load_{n}.jsonl differ"
        );
        let load: serde_json::Value = serde_json::from_slice(
            &std::fs::read(ws.path(&format!("balanceador/logs/load_{n}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(load["total"].as_u64().unwrap() as usize, files.len());
    }
}

#[test]
fn a_panicking_delivery_is_restarted_and_nothing_is_lost() {
    let ws = Ws::bundled();
    fast_config(&ws, "");
    let mut d = Daemon::start_env(&ws, &[("TFOPS_FAULT_PANIC_DELIVERIES", "2")]);
    for i in 0..30 {
        drop_request(&ws, &format!("p{i}.txt"), b"x");
    }
    assert!(wait_until(Duration::from_secs(15), || total_delivered(
        &ws, 3
    ) == 30));
    let log = std::fs::read_to_string(ws.path("daemon.log")).unwrap();
    assert!(log.contains("restarted (1 of at most"), "{log}");
    d.signal(libc::SIGTERM);
    assert_eq!(d.wait(Duration::from_secs(10)), Some(0));
}

#[test]
fn panics_past_the_restart_cap_stop_the_process_with_a_non_zero_code() {
    let ws = Ws::bundled();
    fast_config(&ws, "");
    let mut d = Daemon::start_env(&ws, &[("TFOPS_FAULT_PANIC_DELIVERIES", "1000")]);
    for i in 0..20 {
        drop_request(&ws, &format!("p{i}.txt"), b"x");
    }
    let code = d.wait(Duration::from_secs(20));
    assert_eq!(
        code,
        Some(70),
        "{}",
        std::fs::read_to_string(ws.path("daemon.log")).unwrap()
    );
    // Nothing was lost: the requests are still in the intake.
    assert_eq!(names(&intake(&ws)).len(), 20);
}

#[test]
fn requests_generate_never_overwrites_and_can_run_twice() {
    let ws = Ws::bundled();
    for _ in 0..2 {
        let o = ws.run(&["requests", "generate", "50", "--prefix", "dup"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let n = names(&intake(&ws));
    assert_eq!(n.len(), 100, "{n:?}");
    assert!(n
        .iter()
        .all(|f| f.starts_with("dup_") && f.ends_with(".txt")));
    let o = ws.run(&["requests", "generate", "1", "--prefix", "../evil"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn config_check_reports_every_problem_with_its_position() {
    let ws = Ws::bundled();
    ws.write_config("services {\n  count = 0\n}\nbogus = 1\nschedule \"n\" {\n  services = [\"service_1\"]\n  off = \"25:00-06:00\"\n}\n");
    let o = ws.run(&["config", "check"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("config/tfops.hcl:2:11:"), "{err}");
    assert!(err.contains("config/tfops.hcl:4:1:"), "{err}");
    assert!(err.contains("config/tfops.hcl:7:"), "{err}");
    let ws = Ws::bundled();
    let o = ws.run(&["config", "check"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Other commands refuse a broken config with the same positions.
    ws.write_config("health {\n}\nhealth {\n}\n");
    let o = ws.run(&["requests", "generate", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("config/tfops.hcl:3:1:"));
}

#[test]
fn a_config_that_is_slow_to_parse_does_not_stall_routing_on_reload() {
    // Found by fuzzing: hcl-edit takes seconds on this 481-byte input. The reload parses off
    // the supervisor's thread, so requests keep flowing while it runs.
    let ws = Ws::bundled();
    fast_config(&ws, "");
    let d = Daemon::start(&ws);
    // The daemon's own status file (`tfops status` would parse the slow config itself).
    let status = || -> serde_json::Value {
        serde_json::from_slice(
            &std::fs::read(ws.path("balanceador/logs/status.json")).unwrap_or_default(),
        )
        .unwrap_or_default()
    };
    wait_until(Duration::from_secs(5), || {
        status()["daemon"]["config_loaded_at"].is_string()
    });
    let loaded_at = status()["daemon"]["config_loaded_at"].clone();
    std::fs::copy(
        common::repo_root().join("tests/fixtures/fuzz/slow/hcl_edit_exponential_parse.tf"),
        ws.path("config/tfops.hcl"),
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    for i in 0..30 {
        drop_request(&ws, &format!("during-reload-{i}.txt"), b"x");
    }
    assert!(wait_until(Duration::from_secs(20), || total_delivered(
        &ws, 3
    ) == 30));
    let j = status();
    // Either the parse is still running (nothing changed yet) or it finished and was refused;
    // in both cases routing went on meanwhile and the old configuration is in force.
    assert_eq!(j["daemon"]["config_loaded_at"], loaded_at);
}

#[test]
fn least_backlog_sends_requests_to_the_emptiest_inboxes() {
    let ws = Ws::bundled();
    ws.write_config(
        "balancer {\n  strategy = \"least_backlog\"\n  rescan = \"200ms\"\n  settle = \"50ms\"\n}\nhealth {\n  interval = \"300ms\"\n}\n",
    );
    std::fs::create_dir_all(ws.path("balanceador/service_1")).unwrap();
    for i in 0..6 {
        std::fs::write(
            ws.path(&format!("balanceador/service_1/processed_old_{i}.txt")),
            "x",
        )
        .unwrap();
    }
    let _d = Daemon::start(&ws);
    for i in 0..6 {
        drop_request(&ws, &format!("lb{i}.txt"), b"x");
    }
    assert!(wait_until(Duration::from_secs(10), || total_delivered(
        &ws, 3
    ) == 12));
    assert_eq!(processed(&ws, 1).len(), 6, "service_1 already had the most");
    assert_eq!((processed(&ws, 2).len(), processed(&ws, 3).len()), (3, 3));
}
