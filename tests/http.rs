//! Black-box tests of `tfops run --listen` (#14): /metrics checked by Prometheus's own
//! `promtool` while routing, counters that only grow, idle values equal to `status --json`,
//! /api/status, the token, the refusal of a non-loopback address, and the bounds on clients.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::http::{get, samples, HttpDaemon};
use common::{text, tools_required, wait_until, which, Ws};
use serde_json::Value;

fn promtool() -> Option<std::path::PathBuf> {
    let p = which("promtool");
    if p.is_none() && tools_required() {
        panic!("promtool is required here (CI): scripts/test.sh installs Debian's prometheus");
    }
    if p.is_none() {
        eprintln!("SKIP: no promtool (apt-get install prometheus, or run scripts/test.sh)");
    }
    p
}

/// `promtool check metrics` on `scrape`: its exit code and output.
fn promtool_check(promtool: &std::path::Path, scrape: &str) -> (Option<i32>, String) {
    let mut c = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    c.stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let o = c.wait_with_output().unwrap();
    (o.status.code(), text(&o))
}

fn status_json(ws: &Ws) -> Value {
    let o = ws.run(&["status", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn routed_sum(s: &std::collections::BTreeMap<String, f64>) -> f64 {
    s.iter()
        .filter(|(k, _)| k.starts_with("tfops_requests_routed_total{"))
        .map(|(_, v)| v)
        .sum()
}

/// Families whose samples may only grow: counters and histogram series.
fn monotonic(name: &str) -> bool {
    let base = name.split('{').next().unwrap_or(name);
    base.ends_with("_total")
        || base.ends_with("_bucket")
        || base.ends_with("_count")
        || base.ends_with("_sum")
}

#[test]
fn metrics_pass_promtool_while_routing_grow_only_and_match_status_when_idle() {
    let Some(promtool) = promtool() else { return };
    let ws = Ws::bundled();
    let d = HttpDaemon::start(&ws, &[]);
    assert!(wait_until(Duration::from_secs(20), || d
        .get("/readyz")
        .status
        == 200));
    const N: usize = 2000;
    let mut gen = ws
        .cmd()
        .args(["requests", "generate", &N.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut scrapes: Vec<String> = Vec::new();
    let t = Instant::now();
    // Scrape as fast as we can while routing, until everything has been routed (bounded).
    loop {
        let r = d.get("/metrics");
        assert_eq!(r.status, 200, "{}", r.head);
        assert!(r
            .head
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"));
        let done = routed_sum(&samples(&r.body)) as usize >= N;
        scrapes.push(r.body);
        if done || t.elapsed() > Duration::from_secs(90) {
            break;
        }
    }
    assert!(gen.wait().unwrap().success());
    let sums: Vec<usize> = scrapes
        .iter()
        .map(|s| routed_sum(&samples(s)) as usize)
        .collect();
    assert_eq!(*sums.last().unwrap(), N, "not all routed in 90 s: {sums:?}");
    let mid: Vec<&String> = scrapes
        .iter()
        .zip(&sums)
        .filter(|(_, n)| **n > 0 && **n < N)
        .map(|(s, _)| s)
        .collect();
    println!(
        "{} scrapes in {:.1} s, {} while routing (0 < routed < {N})",
        scrapes.len(),
        t.elapsed().as_secs_f64(),
        mid.len()
    );
    assert!(!mid.is_empty(), "no scrape while routing: {sums:?}");
    // Prometheus's own linter on a scrape taken while routing, and on the last one.
    for s in [mid[mid.len() / 2], scrapes.last().unwrap()] {
        let (code, out) = promtool_check(&promtool, s);
        assert_eq!(
            code,
            Some(0),
            "promtool check metrics:\n{out}\n--- scrape\n{s}"
        );
    }
    // Counters and histograms only grow from one scrape to the next.
    for w in scrapes.windows(2) {
        let (a, b) = (samples(&w[0]), samples(&w[1]));
        for (k, v) in a.iter().filter(|(k, _)| monotonic(k)) {
            let after = b.get(k).unwrap_or_else(|| panic!("{k} disappeared"));
            assert!(after >= v, "{k} went from {v} to {after}");
        }
    }
    let last = samples(scrapes.last().unwrap());
    assert!(last["tfops_delivery_latency_seconds_count"] >= N as f64);

    // Idle: the intake is empty and status.json (written every second) has caught up.
    assert!(wait_until(Duration::from_secs(20), || {
        let st = status_json(&ws);
        st["incoming"] == 0
            && st["services"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["routed"].as_u64().unwrap())
                .sum::<u64>()
                == N as u64
    }));
    std::thread::sleep(Duration::from_millis(1500));
    let st = status_json(&ws);
    let m = samples(&d.get("/metrics").body);
    for s in st["services"].as_array().unwrap() {
        let name = s["name"].as_str().unwrap();
        let l = format!("{{service=\"{name}\"}}");
        assert_eq!(
            m[&format!("tfops_requests_routed_total{l}")],
            s["routed"].as_f64().unwrap(),
            "{name} routed"
        );
        assert_eq!(
            m[&format!("tfops_inbox_backlog{l}")],
            s["backlog"].as_f64().unwrap(),
            "{name} backlog"
        );
        let state = s["state"].as_str().unwrap();
        assert_eq!(
            m[&format!("tfops_service_state{{service=\"{name}\",state=\"{state}\"}}")],
            1.0
        );
    }
    assert_eq!(m["tfops_intake_backlog"], st["incoming"].as_f64().unwrap());
    assert_eq!(
        m["tfops_snapshots"] > 0.0,
        !st["last_snapshot"].is_null(),
        "snapshots vs last_snapshot"
    );
    // /api/status is the same document, live.
    let api: Value = serde_json::from_str(&d.get("/api/status").body).unwrap();
    for k in [
        "services",
        "incoming",
        "errors",
        "alarms",
        "last_snapshot",
        "last_drift",
        "protected_state",
    ] {
        assert_eq!(api[k], st[k], "/api/status {k}");
    }
    assert_eq!(st["protected_state"]["location"], "iac/terraform.tfstate");
    assert_eq!(api["daemon"]["pid"], st["daemon"]["pid"]);
}

#[test]
fn with_a_token_every_path_but_healthz_needs_it_and_it_is_never_logged() {
    let ws = Ws::bundled();
    let token = "tok-3d9f1c27e0a4";
    let d = HttpDaemon::start(&ws, &[("TFOPS_HTTP_TOKEN", token)]);
    let bearer = format!("Authorization: Bearer {token}");
    for path in [
        "/",
        "/metrics",
        "/api/status",
        "/api/events",
        "/readyz",
        "/nope",
    ] {
        let r = get(d.port, path, &[]).unwrap();
        assert_eq!(r.status, 401, "{path} without a token");
        assert!(r
            .head
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer"));
        let r = get(d.port, path, &["Authorization: Bearer wrong-token-0000"]).unwrap();
        assert_eq!(r.status, 401, "{path} with a wrong token");
    }
    for path in ["/", "/metrics", "/api/status", "/readyz"] {
        let r = get(d.port, path, &[&bearer]).unwrap();
        assert_eq!(r.status, 200, "{path} with the token: {}", r.head);
    }
    assert_eq!(get(d.port, "/nope", &[&bearer]).unwrap().status, 404);
    assert_eq!(get(d.port, "/healthz", &[]).unwrap().status, 200);
    // The event stream with the token: its first bytes.
    let mut s = TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /api/events HTTP/1.1\r\nHost: x\r\n{bearer}\r\n\r\n").unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("text/event-stream"), "{head}");
    drop(s);
    drop(d);
    let log = std::fs::read_to_string(ws.path("daemon.log")).unwrap();
    assert!(log.contains("a token is required"), "{log}");
    assert!(!log.contains(token), "the token is in the log");
    // Nor in anything the daemon wrote.
    let st = std::fs::read_to_string(ws.path("balanceador/logs/status.json")).unwrap();
    assert!(!st.contains(token));
}

#[test]
fn a_non_loopback_address_without_a_token_exits_before_binding() {
    let ws = Ws::bundled();
    let port = common::http::free_port();
    let o = ws
        .cmd()
        .args(["run", "--listen", &format!("0.0.0.0:{port}")])
        .env_remove("TFOPS_HTTP_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("token") && err.contains("0.0.0.0"), "{err}");
    // Nothing was bound or taken: the port is free, no run lock, no routing folders.
    assert!(std::net::TcpListener::bind(("0.0.0.0", port)).is_ok());
    assert!(!ws.path(".tfops").exists());
    assert!(!ws.path("balanceador").exists());
    // The same from the config file, and a token there makes it acceptable to the check
    // (not started here: tests listen on loopback only).
    ws.write_config(&format!("http {{\n  listen = \"0.0.0.0:{port}\"\n}}\n"));
    let o = ws
        .cmd()
        .arg("run")
        .env_remove("TFOPS_HTTP_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!ws.path(".tfops").exists());
}

#[test]
fn event_stream_clients_are_bounded_and_a_stalled_request_is_closed() {
    let ws = Ws::bundled();
    let mut d = HttpDaemon::start(&ws, &[]);
    let port = d.port;
    let open = |path: &str| {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap();
        (s, String::from_utf8_lossy(&buf[..n]).into_owned())
    };
    let mut streams = Vec::new();
    for i in 0..16 {
        let (s, head) = open("/api/events");
        assert!(head.starts_with("HTTP/1.1 200"), "stream {i}: {head}");
        streams.push(s);
    }
    let (_, head) = open("/api/events");
    assert!(head.starts_with("HTTP/1.1 503"), "the 17th: {head}");
    // Plain requests still work, and a place frees up when a client goes.
    assert_eq!(d.get("/metrics").status, 200);
    streams.pop();
    assert!(wait_until(Duration::from_secs(10), || open("/api/events")
        .1
        .starts_with("HTTP/1.1 200")));
    // SIGTERM with event streams open still stops gracefully (exit 0).
    let (_open_stream, _) = open("/api/events");
    drop(streams);
    let code = d.stop();
    assert_eq!(
        code,
        Some(0),
        "{}",
        std::fs::read_to_string(ws.path("daemon.log")).unwrap()
    );
    let d = HttpDaemon::start(&ws, &[]);

    // A request head that never ends is closed by the server (bounded wait, not a threshold).
    let mut s = TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let r = s.read_to_end(&mut buf);
    println!(
        "stalled request closed after {:.1} s: {:?}",
        t.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&buf).lines().next()
    );
    assert!(
        r.is_ok(),
        "the server kept a stalled request open 30 s: {r:?}"
    );
    // A body is never read: a POST is refused (the routes are GET only).
    let mut s = TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    )
    .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf);
    assert!(
        head.starts_with("HTTP/1.1 405") || head.starts_with("HTTP/1.1 404"),
        "{head}"
    );
}

#[test]
fn replication_lag_ages_what_a_replica_lacks_and_api_status_names_it() {
    let ws = Ws::bundled();
    // Two replicas: a folder that works, and one under a regular file, where nothing can be
    // written (root included): what it lacks ages in replication_lag_seconds.
    let good = ws.path("replica-good");
    let blocker = ws.path("blocker");
    std::fs::write(&blocker, b"not a folder").unwrap();
    let bad = blocker.join("replica");
    ws.write_config(&format!(
        "state {{\n  replicate = [\"file://{}\", \"file://{}\"]\n}}\n",
        good.display(),
        bad.display()
    ));
    let o = ws.run(&["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let d = HttpDaemon::start(&ws, &[]);
    let lag = |d: &HttpDaemon| {
        samples(&d.get("/metrics").body)
            .get("tfops_replication_lag_seconds")
            .copied()
            .unwrap_or(-1.0)
    };
    assert!(
        wait_until(Duration::from_secs(20), || lag(&d) >= 1.0),
        "lag never grew: {}",
        lag(&d)
    );
    let r = d.get("/api/status");
    assert_eq!(r.status, 200);
    let doc: Value = serde_json::from_str(&r.body).unwrap();
    let reps = doc["replication"]["replicas"].as_array().unwrap().clone();
    assert_eq!(reps.len(), 2, "{doc}");
    let good_url = format!("file://{}", good.display());
    let g = reps.iter().find(|r| r["url"] == good_url.as_str()).unwrap();
    assert_eq!(g["replicated"], 1, "{doc}");
    assert_eq!(g["pending"].as_array().map(Vec::len), Some(0), "{doc}");
    let b = reps.iter().find(|r| r["url"] != good_url.as_str()).unwrap();
    assert_eq!(b["replicated"], 0, "{doc}");
    assert!(b["last_error"].is_string(), "{doc}");
    // The folder can be made now: after a reload (which wakes the replicator) the lag is 0.
    std::fs::remove_file(&blocker).unwrap();
    // SAFETY: signalling our own child, still running.
    unsafe { libc::kill(d.child.id() as i32, libc::SIGHUP) };
    assert!(
        wait_until(Duration::from_secs(40), || lag(&d) == 0.0),
        "lag stayed {}",
        lag(&d)
    );
}
