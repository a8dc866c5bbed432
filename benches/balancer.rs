//! Balancer benchmark: the real `tfops run` against the raw filesystem, in the same run.
//!
//! `cargo bench --bench balancer` (set `TFOPS_BENCH_N` to change the 100,000 backlog).
//!
//! 1. Baseline: a plain open + read + rename loop over N files (the physical floor).
//! 2. tfops: `tfops run` routing a backlog of N requests (validation, no-overwrite rename,
//!    journal, load_N.jsonl and load_N.json all on), timed from start to an empty intake.
//!    Also at N/10, to see whether the per-request cost stays flat.
//! 3. Latency: requests written at 1,000/s into a running `tfops run`; arrival-to-delivery
//!    measured with inotify on the inboxes; p50/p99/max.
//! 4. Memory: resident set of a fresh idle daemon, and the peak while routing N.
//! 5. Scraping (#14): `tfops run --listen` routing a backlog of N/10, with and without a
//!    client scraping `/metrics` 1,000 times a second (median of 5 runs each, interleaved),
//!    printed as a ratio.
//!
//! Times include the daemon's start and the `settle` of the first scan (50 ms here): a fixed
//! cost that weighs more at N/10.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher};

fn tfops() -> PathBuf {
    // benches are built in target/release/deps; the binary sits in target/release.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("tfops");
    assert!(
        bin.exists(),
        "build the binary first: cargo build --release"
    );
    bin
}

fn workspace(root: &Path) {
    std::fs::create_dir_all(root.join("config")).unwrap();
    std::fs::write(
        root.join("config/tfops.hcl"),
        "balancer {\n  settle = \"50ms\"\n  rescan = \"1s\"\n}\n",
    )
    .unwrap();
}

fn write_requests(dir: &Path, n: usize, prefix: &str) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        std::fs::write(
            dir.join(format!("{prefix}_{i}.txt")),
            b"request body, some text\n",
        )
        .unwrap();
    }
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0)
}

fn proc_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn baseline(n: usize) -> Duration {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("in");
    let dst = d.path().join("out");
    std::fs::create_dir_all(&dst).unwrap();
    write_requests(&src, n, "b");
    let names: Vec<_> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let t = Instant::now();
    for name in names {
        let p = src.join(&name);
        let mut f = std::fs::File::open(&p).unwrap();
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut buf).unwrap();
        std::fs::rename(&p, dst.join(&name)).unwrap();
    }
    t.elapsed()
}

struct Run {
    elapsed: Duration,
    peak_kb: u64,
    idle_kb: u64,
}

fn spawn(root: &Path) -> Child {
    Command::new(tfops())
        .arg("--root")
        .arg(root)
        .arg("run")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn stop(mut c: Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    let _ = c.wait();
}

fn tfops_backlog(n: usize) -> Run {
    let d = tempfile::tempdir().unwrap();
    workspace(d.path());
    let intake = d.path().join("balanceador/incoming_requests");
    write_requests(&intake, n, "r");
    let t = Instant::now();
    let child = spawn(d.path());
    let pid = child.id();
    let mut peak = 0;
    while count(&intake) > 0 {
        peak = peak.max(proc_kb(pid, "VmHWM:"));
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = t.elapsed();
    peak = peak.max(proc_kb(pid, "VmHWM:"));
    std::thread::sleep(Duration::from_millis(1500));
    let idle = proc_kb(pid, "VmRSS:");
    stop(child);
    let delivered: usize = (1..=3)
        .map(|s| count(&d.path().join(format!("balanceador/service_{s}"))) - 1)
        .sum();
    assert_eq!(delivered, n, "every request delivered");
    Run {
        elapsed,
        peak_kb: peak,
        idle_kb: idle,
    }
}

/// Routes a backlog of `n` with the HTTP endpoints on; with `scrape`, a client GETs /metrics
/// 1,000 times a second meanwhile. Returns the routing time and the scrapes answered.
fn routing_while_scraped(n: usize, scrape: bool) -> (Duration, usize) {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let d = tempfile::tempdir().unwrap();
    workspace(d.path());
    let intake = d.path().join("balanceador/incoming_requests");
    write_requests(&intake, n, "r");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stop_flag = Arc::new(AtomicBool::new(false));
    let scraper = scrape.then(|| {
        let stop_flag = stop_flag.clone();
        std::thread::spawn(move || {
            let mut ok = 0usize;
            let start = Instant::now();
            let mut i = 0u32;
            while !stop_flag.load(Ordering::Relaxed) {
                i += 1;
                let due = start + Duration::from_micros(u64::from(i) * 1000);
                if let Some(w) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(w);
                }
                let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
                    continue;
                };
                let _ =
                    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let mut buf = Vec::new();
                if s.read_to_end(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 200") {
                    ok += 1;
                }
            }
            ok
        })
    });
    let t = Instant::now();
    let child = Command::new(tfops())
        .arg("--root")
        .arg(d.path())
        .args(["run", "--listen", &format!("127.0.0.1:{port}")])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while count(&intake) > 0 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = t.elapsed();
    stop_flag.store(true, Ordering::Relaxed);
    let scrapes = scraper.map(|h| h.join().unwrap()).unwrap_or(0);
    stop(child);
    (elapsed, scrapes)
}

fn latency(rate: u32, seconds: u32) -> (Vec<Duration>, u64) {
    let d = tempfile::tempdir().unwrap();
    workspace(d.path());
    let child = spawn(d.path());
    let bal = d.path().join("balanceador");
    while !bal.join("logs/status.json").exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let idle_kb = proc_kb(child.id(), "VmRSS:");
    let (tx, rx) = mpsc::channel();
    let mut w = notify::recommended_watcher(move |r: notify::Result<notify::Event>| {
        if let Ok(ev) = r {
            if matches!(ev.kind, EventKind::Modify(_) | EventKind::Create(_)) {
                for p in ev.paths {
                    let _ = tx.send((p, Instant::now()));
                }
            }
        }
    })
    .unwrap();
    for s in 1..=3 {
        w.watch(
            &bal.join(format!("service_{s}")),
            RecursiveMode::NonRecursive,
        )
        .unwrap();
    }
    let intake = bal.join("incoming_requests");
    let mut sent: HashMap<String, Instant> = HashMap::new();
    let total = rate * seconds;
    let start = Instant::now();
    for i in 0..total {
        let due = start + Duration::from_secs_f64(f64::from(i) / f64::from(rate));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let name = format!("lat_{i}.txt");
        let tmp = intake.join(format!(".{name}"));
        std::fs::write(&tmp, b"x\n").unwrap();
        sent.insert(name.clone(), Instant::now());
        std::fs::rename(&tmp, intake.join(&name)).unwrap();
    }
    let mut lat = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while lat.len() < total as usize && Instant::now() < deadline {
        if let Ok((p, at)) = rx.recv_timeout(Duration::from_millis(100)) {
            let f = p.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(name) = f
                .strip_prefix("processed_")
                .and_then(|r| r.find("_lat_").map(|i| &r[i + 1..]))
            {
                if let Some(t0) = sent.remove(name) {
                    lat.push(at.duration_since(t0));
                }
            }
        }
    }
    stop(child);
    lat.sort();
    (lat, idle_kb)
}

fn main() {
    let n: usize = std::env::var("TFOPS_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    println!("balancer benchmark, N = {n} (2 cores; same run, same disk)");
    // TFOPS_BENCH_ONLY=scrape: only the scraping comparison (section 5).
    let only_scrape = std::env::var("TFOPS_BENCH_ONLY").is_ok_and(|v| v == "scrape");
    if only_scrape {
        scraping(n / 10);
        return;
    }
    let base_small = baseline(n / 10);
    let base = baseline(n);
    let base_rate_small = (n / 10) as f64 / base_small.as_secs_f64();
    let base_rate = n as f64 / base.as_secs_f64();
    println!(
        "baseline open+read+rename loop, {:>7}: {:>8.0} files/s ({:.2} s)",
        n / 10,
        base_rate_small,
        base_small.as_secs_f64()
    );
    println!(
        "baseline open+read+rename loop, {:>7}: {:>8.0} files/s ({:.2} s)",
        n,
        base_rate,
        base.as_secs_f64()
    );
    let small = tfops_backlog(n / 10);
    let big = tfops_backlog(n);
    let rate_small = (n / 10) as f64 / small.elapsed.as_secs_f64();
    let rate_big = n as f64 / big.elapsed.as_secs_f64();
    println!(
        "tfops run, backlog {:>7}:     {:>8.0} req/s ({:.2} s)",
        n / 10,
        rate_small,
        small.elapsed.as_secs_f64()
    );
    println!(
        "tfops run, backlog {:>7}:     {:>8.0} req/s ({:.2} s), peak RSS {} MB, RSS after {} MB",
        n,
        rate_big,
        big.elapsed.as_secs_f64(),
        big.peak_kb / 1024,
        big.idle_kb / 1024
    );
    println!(
        "ratio tfops/baseline: {:.2}x at {}, {:.2}x at {n}",
        rate_small / base_rate_small,
        n / 10,
        rate_big / base_rate
    );
    println!(
        "per-request cost {}k vs {}k: {:.1} us vs {:.1} us (ratio {:.2})",
        n / 10_000,
        n / 1000,
        1e6 / rate_small,
        1e6 / rate_big,
        rate_small / rate_big
    );
    scraping(n / 10);
    let (lat, idle_kb) = latency(1000, 5);
    print_latency(&lat, idle_kb);
}

fn scraping(m: usize) {
    let (mut quiet, mut scraped, mut answered) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        quiet.push(routing_while_scraped(m, false).0);
        let (t, ok) = routing_while_scraped(m, true);
        scraped.push(t);
        answered.push(ok as f64 / t.as_secs_f64());
    }
    quiet.sort();
    scraped.sort();
    answered.sort_by(f64::total_cmp);
    println!(
        "run --listen, backlog {m}: median {:.2} s quiet, {:.2} s with /metrics scraped (~{:.0} answered/s); ratio scraped/quiet {:.2}",
        quiet[2].as_secs_f64(),
        scraped[2].as_secs_f64(),
        answered[2],
        scraped[2].as_secs_f64() / quiet[2].as_secs_f64()
    );
}

fn print_latency(lat: &[Duration], idle_kb: u64) {
    println!(
        "idle RSS (fresh daemon, empty intake): {} MB",
        idle_kb / 1024
    );
    if lat.is_empty() {
        println!("latency: no deliveries seen");
        return;
    }
    let p = |q: f64| lat[((lat.len() as f64 - 1.0) * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "latency at 1000 req/s ({} seen): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        p(0.5),
        p(0.99),
        p(1.0)
    );
}
