//! Reliability suite: the guarantees of SPEC.md measured under crashes, faults and reloads,
//! repeated with random timing, against the real binary in temp workspaces.
//!
//! - kill -9 at random moments while routing 20,000 requests (several kills per pass, at least
//!   20 in all): after every kill each request is in exactly one place, and after the restart
//!   `load_N.jsonl` has exactly one line per delivered file;
//! - kill -9 during `tfops backup` of a large state, during `tfops restore --latest --yes`
//!   and during `tfops scenario run --in-place`: the state, every visible snapshot and main.tf
//!   are the old or the new version, never torn, and the next start (or command) heals what
//!   was left;
//! - a full disk (a 2 MB tmpfs) during delivery and during a snapshot;
//! - a service folder that turns read-only or disappears mid-run, an unreadable request (as an
//!   unprivileged user: root ignores permission bits);
//! - 100 SIGHUPs while routing, alternating valid and broken configurations.
//!
//! Random timing comes from one seed per test, printed; `TFOPS_SEED=N` replays it.
//! `TFOPS_RELIABILITY_TRIALS` raises (or lowers) the number of kills per suite.
//! Each test adds a row to `target/tmp/reliability-summary.txt`, which `scripts/test.sh`
//! prints after the run (also printed here with `--nocapture`).
//! Not here: timing thresholds (only bounded waits for conditions).

mod common;

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use common::wait_until;
use common::{text, tfops_bin, Ws};

// ---------------------------------------------------------------------------------------------
// Seeds, trials and the summary table

/// The seed of this test: `TFOPS_SEED`, or a fresh one; printed so a failure can be replayed.
fn rng_for(test: &str) -> (u64, StdRng) {
    let seed = std::env::var("TFOPS_SEED")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            (t.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
        });
    eprintln!(
        "{test}: seed {seed} (replay: TFOPS_SEED={seed} cargo test --test reliability {test})"
    );
    // Each test draws its own stream from the one seed.
    let tag = test.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    (seed, StdRng::seed_from_u64(seed ^ tag))
}

fn trials(default: usize) -> usize {
    std::env::var("TFOPS_RELIABILITY_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// One row of the summary table.
#[derive(Debug, Default)]
struct Row {
    suite: &'static str,
    trials: usize,
    requests: usize,
    lost: usize,
    duplicated: usize,
    restores: usize,
    torn: usize,
    note: String,
}

/// Whether this run wrote its first row yet.
static SUMMARY: Mutex<bool> = Mutex::new(false);

fn summary_path() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reliability-summary.txt")
}

/// Prints the row and appends it to the summary file; the first row of a run starts the file
/// afresh, with the header.
fn record(r: &Row) {
    let line = format!(
        "{:<26} {:>6} {:>9} {:>5} {:>10} {:>8} {:>5}  {}",
        r.suite, r.trials, r.requests, r.lost, r.duplicated, r.restores, r.torn, r.note
    );
    eprintln!("{line}");
    let mut started = SUMMARY.lock().unwrap_or_else(|e| e.into_inner());
    let path = summary_path();
    let new = !*started;
    *started = true;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(!new)
        .write(true)
        .truncate(new)
        .open(&path)
        .expect("summary file");
    if new {
        writeln!(
            f,
            "{:<26} {:>6} {:>9} {:>5} {:>10} {:>8} {:>5}  note",
            "suite", "trials", "requests", "lost", "duplicated", "restores", "torn"
        )
        .unwrap();
    }
    writeln!(f, "{line}").unwrap();
}

// ---------------------------------------------------------------------------------------------
// The daemon and the workspace

/// A `tfops run` in the background; killed (SIGKILL) if still running when dropped.
struct Daemon {
    child: Child,
}

impl Daemon {
    /// Starts `tfops run` (as `as_user` when given: a setpriv prefix) without waiting.
    fn spawn(ws: &Ws, log: &Path, as_nobody: bool) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let mut c = if as_nobody {
            let mut c = Command::new(setpriv());
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(tfops_bin());
            c
        } else {
            Command::new(tfops_bin())
        };
        c.arg("--root")
            .arg(ws.root())
            .env_remove("TFOPS_ROOT")
            .arg("run")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        Daemon {
            child: c.spawn().expect("start tfops run"),
        }
    }

    /// Starts it and waits until it has written its pid (it is serving).
    fn start(ws: &Ws, log: &Path, as_nobody: bool) -> Daemon {
        let d = Self::spawn(ws, log, as_nobody);
        let pid = d.pid().to_string();
        assert!(
            wait_until(Duration::from_secs(20), || {
                std::fs::read_to_string(ws.path(".tfops/run.pid"))
                    .map(|s| s.trim() == pid)
                    .unwrap_or(false)
            }),
            "tfops run did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        d
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, sig: i32) {
        // SAFETY: sending a signal to our own child.
        unsafe { libc::kill(self.pid(), sig) };
    }

    fn kill9(mut self) {
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// Runs `f` with the daemon stopped (SIGSTOP, then SIGCONT): every one of its threads is
    /// seen stopped first, so no rename is under way and none starts while `f` looks at the
    /// folders. A census taken while requests move is not one instant: a request renamed from
    /// the intake into an inbox between the two listings would be counted twice.
    fn frozen<T>(&self, f: impl FnOnce() -> T) -> T {
        self.signal(libc::SIGSTOP);
        let tasks = PathBuf::from(format!("/proc/{}/task", self.pid()));
        let all_stopped = || {
            std::fs::read_dir(&tasks).is_ok_and(|rd| {
                rd.flatten().all(|t| {
                    // `tid (comm) S ...`: the state follows the last parenthesis.
                    std::fs::read_to_string(t.path().join("stat")).is_ok_and(|st| {
                        st.rsplit_once(") ")
                            .is_some_and(|(_, rest)| rest.starts_with(['T', 't']))
                    })
                })
            })
        };
        let stopped = wait_until(Duration::from_secs(10), all_stopped);
        let out = stopped.then(f);
        self.signal(libc::SIGCONT);
        out.expect("the daemon's threads did not all stop on SIGSTOP")
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, then waits (bounded) for the exit code.
    fn stop(mut self) -> Option<i32> {
        self.signal(libc::SIGTERM);
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(30) {
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

fn setpriv() -> PathBuf {
    common::which("setpriv").expect("setpriv (util-linux) is needed for permission tests")
}

fn fast_config(ws: &Ws, extra: &str) {
    ws.write_config(&format!(
        "balancer {{\n  rescan = \"200ms\"\n  settle = \"50ms\"\n}}\nhealth {{\n  interval = \"300ms\"\n}}\n{extra}"
    ));
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

fn intake(ws: &Ws) -> PathBuf {
    ws.path("balanceador/incoming_requests")
}

/// `tfops requests generate N --prefix P`; returns the names written.
fn generate(ws: &Ws, n: usize, prefix: &str) -> HashSet<String> {
    let o = ws.run(&["requests", "generate", &n.to_string(), "--prefix", prefix]);
    assert!(o.status.success(), "{}", text(&o));
    let p = format!("{prefix}_");
    let set: HashSet<String> = names(&intake(ws))
        .into_iter()
        .filter(|f| f.starts_with(&p))
        .collect();
    assert_eq!(set.len(), n);
    set
}

/// Writes a request the way writers should: a dot name, then a rename.
fn drop_request(ws: &Ws, name: &str, body: &[u8]) {
    let dir = intake(ws);
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join(format!(".{name}.part"));
    std::fs::write(&tmp, body).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

/// The request name inside `processed_<YYYY-MM-DD_HH-MM-SS>[-k]_<name>`.
fn request_of(file: &str) -> Option<&str> {
    let rest = file.strip_prefix("processed_")?;
    let after_ts = rest.get(19..)?;
    let after_k = after_ts.trim_start_matches(|c: char| c == '-' || c.is_ascii_digit());
    after_k.strip_prefix('_')
}

/// Where each request name is: the intake, the given inboxes (service_N/, archived/, any
/// folder a test moved a service to) and errors/. Counts per name. The folders are listed one
/// after the other: with a daemon running, take it inside [`Daemon::frozen`].
fn census(ws: &Ws, inboxes: &[PathBuf]) -> HashMap<String, usize> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for f in names(&intake(ws)) {
        if !f.starts_with('.') {
            *seen.entry(f).or_default() += 1;
        }
    }
    for dir in inboxes {
        for f in names(dir) {
            if let Some(r) = request_of(&f) {
                *seen.entry(r.to_string()).or_default() += 1;
            }
        }
    }
    for f in names(&ws.path("balanceador/errors")) {
        if !f.starts_with('.') && !f.ends_with(".error.json") {
            *seen.entry(f).or_default() += 1;
        }
    }
    seen
}

fn inboxes(ws: &Ws, count: usize) -> Vec<PathBuf> {
    (1..=count)
        .flat_map(|n| {
            [
                ws.path(&format!("balanceador/service_{n}")),
                ws.path(&format!("archived/service_{n}")),
            ]
        })
        .collect()
}

/// (lost, duplicated) among `expected`; also asserts nothing unexpected turned up.
fn lost_and_duplicated(
    seen: &HashMap<String, usize>,
    expected: &HashSet<String>,
) -> (usize, usize) {
    let lost = expected
        .iter()
        .filter(|n| seen.get(*n).copied().unwrap_or(0) == 0)
        .count();
    let dup = expected
        .iter()
        .map(|n| seen.get(n).copied().unwrap_or(0).saturating_sub(1))
        .sum();
    (lost, dup)
}

/// Checks that `load_N.jsonl` has exactly one line per delivered file of service N (files in
/// `dirs`) and that `load_N.json` counts them all. Returns the number of mismatches (lines
/// missing, extra or repeated) and prints them.
fn log_mismatches(ws: &Ws, n: usize, dirs: &[PathBuf]) -> usize {
    let jsonl = std::fs::read_to_string(ws.path(&format!("balanceador/logs/load_{n}.jsonl")))
        .unwrap_or_default();
    let mut logged: HashMap<String, usize> = HashMap::new();
    let mut bad = 0;
    for l in jsonl.lines() {
        match serde_json::from_str::<serde_json::Value>(l) {
            Ok(v) => {
                *logged
                    .entry(v["file"].as_str().unwrap_or_default().to_string())
                    .or_default() += 1
            }
            Err(e) => {
                eprintln!("load_{n}.jsonl: unparsable line ({e}): {l:.120}");
                bad += 1;
            }
        }
    }
    let on_disk: HashSet<String> = dirs
        .iter()
        .flat_map(|d| names(d))
        .filter(|f| f.starts_with("processed_"))
        .collect();
    let mut mismatches = bad;
    for f in &on_disk {
        match logged.get(f) {
            Some(1) => {}
            Some(k) => {
                eprintln!("service_{n}: {f} logged {k} times");
                mismatches += k - 1;
            }
            None => {
                eprintln!("service_{n}: {f} delivered but not in load_{n}.jsonl");
                mismatches += 1;
            }
        }
    }
    for f in logged.keys() {
        if !on_disk.contains(f) {
            eprintln!("service_{n}: {f} in load_{n}.jsonl but not delivered");
            mismatches += 1;
        }
    }
    let total = std::fs::read(ws.path(&format!("balanceador/logs/load_{n}.json")))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["total"].as_u64())
        .unwrap_or(0) as usize;
    if total != on_disk.len() {
        eprintln!(
            "service_{n}: load_{n}.json total {total}, {} delivered",
            on_disk.len()
        );
        mismatches += 1;
    }
    mismatches
}

/// `run --once` until the intake holds nothing (recovery + routing of what is left).
fn finish_with_once(ws: &Ws) {
    for _ in 0..5 {
        let o = ws.run(&["run", "--once"]);
        assert!(o.status.success(), "{}", text(&o));
        if names(&intake(ws)).iter().all(|f| f.starts_with('.')) {
            return;
        }
    }
    panic!(
        "run --once left requests in the intake: {:?}",
        names(&intake(ws))
    );
}

// ---------------------------------------------------------------------------------------------
// kill -9 while routing

#[test]
fn kill_9_while_routing_every_request_exactly_once() {
    const REQUESTS: usize = 20_000;
    const KILLS_PER_PASS: usize = 6;
    let (seed, mut rng) = rng_for("kill_9_while_routing_every_request_exactly_once");
    let want = trials(20);
    let ws = Ws::bundled();
    fast_config(&ws, "");
    let log = ws.path("daemon.log");
    let boxes = inboxes(&ws, 3);
    let mut all = HashSet::new();
    let (mut kills, mut pass) = (0usize, 0usize);
    let (mut lost, mut dup, mut log_bad) = (0usize, 0usize, 0usize);
    let mut mid_kills = 0usize;
    while kills < want {
        pass += 1;
        let expected = generate(&ws, REQUESTS, &format!("p{pass}"));
        all.extend(expected.iter().cloned());
        for _ in 0..KILLS_PER_PASS {
            if kills >= want {
                break;
            }
            let d = Daemon::spawn(&ws, &log, false);
            // From "still starting" to "well into routing".
            let delay = Duration::from_millis(rng.random_range(0..1200));
            std::thread::sleep(delay);
            d.kill9();
            kills += 1;
            // Renames are atomic: even before recovery each request is in exactly one place.
            let seen = census(&ws, &boxes);
            let (l, du) = lost_and_duplicated(&seen, &all);
            let left = names(&intake(&ws))
                .iter()
                .filter(|f| f.starts_with(&format!("p{pass}_")))
                .count();
            if left > 0 && left < REQUESTS {
                mid_kills += 1;
            }
            eprintln!(
                "pass {pass} kill {kills} after {delay:?}: {left} of {REQUESTS} still in the intake, lost {l}, duplicated {du}"
            );
            lost += l;
            dup += du;
            if left == 0 {
                break;
            }
        }
        // The next start recovers (journals, torn lines) and routes the rest.
        finish_with_once(&ws);
        let seen = census(&ws, &boxes);
        let (l, du) = lost_and_duplicated(&seen, &all);
        lost += l;
        dup += du;
        for n in 1..=3 {
            log_bad += log_mismatches(
                &ws,
                n,
                &[boxes[2 * (n - 1)].clone(), boxes[2 * (n - 1) + 1].clone()],
            );
        }
    }
    record(&Row {
        suite: "kill -9 routing",
        trials: kills,
        requests: all.len(),
        lost,
        duplicated: dup,
        note: format!(
            "seed {seed}; {pass} passes; {mid_kills} kills mid-routing; {log_bad} log mismatches"
        ),
        ..Row::default()
    });
    assert_eq!((lost, dup, log_bad), (0, 0, 0), "seed {seed}");
}

// ---------------------------------------------------------------------------------------------
// kill -9 during a snapshot and during a restore

const LINEAGE: &str = "5b0f3c1e-7d2a-4e8b-9c4f-1a2b3c4d5e6f";

/// A valid state of `resources` null_resources, about 330 bytes each.
fn big_state(serial: u64, resources: usize) -> Vec<u8> {
    let mut s = format!(
        "{{\n  \"version\": 4,\n  \"terraform_version\": \"1.0.3\",\n  \"serial\": {serial},\n  \"lineage\": \"{LINEAGE}\",\n  \"outputs\": {{}},\n  \"resources\": [\n"
    );
    for i in 0..resources {
        if i > 0 {
            s.push_str(",\n");
        }
        s.push_str(&format!(
            "    {{\"mode\": \"managed\", \"type\": \"null_resource\", \"name\": \"r{i}\", \"provider\": \"provider[\\\"registry.terraform.io/hashicorp/null\\\"]\", \"instances\": [{{\"schema_version\": 0, \"attributes\": {{\"id\": \"{}\", \"triggers\": {{\"v\": \"{serial}\"}}}}, \"sensitive_attributes\": []}}]}}",
            1_000_000_000u64 + i as u64
        ));
    }
    s.push_str("\n  ]\n}\n");
    s.into_bytes()
}

/// Writes the live state the way Terraform's own backup would not tear it: temp + rename.
fn put_state(ws: &Ws, bytes: &[u8]) {
    let p = ws.path("iac/terraform.tfstate");
    let tmp = ws.path("iac/.test-state.part");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(tmp, p).unwrap();
}

fn state_bytes(ws: &Ws) -> Vec<u8> {
    std::fs::read(ws.path("iac/terraform.tfstate")).unwrap_or_default()
}

/// Entries a crash may leave: hidden snapshot temp folders and restore temp files.
fn leftovers(ws: &Ws) -> Vec<String> {
    let mut v: Vec<String> = names(&ws.path("backups"))
        .into_iter()
        .filter(|f| f.starts_with('.') && f != ".tfops.lock")
        .collect();
    v.extend(
        names(&ws.path("iac"))
            .into_iter()
            .filter(|f| f.starts_with('.') && f.ends_with(".tmp")),
    );
    v
}

/// Visible snapshots that are not whole (a folder without both files, or `verify` failing).
fn torn_snapshots(ws: &Ws) -> usize {
    let mut torn = 0;
    for f in names(&ws.path("backups")) {
        if f.starts_with("tfstate_") {
            let d = ws.path("backups").join(&f);
            if !d.join("meta.json").is_file() || !d.join("terraform.tfstate").is_file() {
                eprintln!("half snapshot visible: {f}");
                torn += 1;
            }
        }
    }
    let o = ws.run(&["verify"]);
    if !o.status.success() {
        eprintln!("verify failed: {}", text(&o));
        torn += 1;
    }
    torn
}

/// Runs `tfops ARGS` to the end and returns how long it took (to pick kill moments).
fn timed(ws: &Ws, args: &[&str]) -> Duration {
    let t = Instant::now();
    let o = ws.run(args);
    assert!(o.status.success(), "{}", text(&o));
    t.elapsed()
}

/// A kill moment for trial `t` of a command that takes `full` uninterrupted: every other one
/// anywhere in it (or just after), the others in its last stretch, where the writes are.
fn kill_moment(rng: &mut StdRng, full: Duration, t: usize) -> Duration {
    let range = if t.is_multiple_of(2) {
        0.0..1.3
    } else {
        0.7..1.1
    };
    full.mul_f64(rng.random_range(range))
}

/// Starts `tfops ARGS` and kills it with SIGKILL after `delay` (if still running).
fn kill_after(ws: &Ws, args: &[&str], delay: Duration) -> bool {
    let mut c = ws
        .cmd()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let finished = c.try_wait().unwrap().is_some();
    let _ = c.kill();
    let _ = c.wait();
    !finished
}

#[test]
fn kill_9_during_backup_and_restore_never_tears_the_state_or_a_snapshot() {
    const RESOURCES: usize = 10_000; // about 3.3 MB of state
    let (seed, mut rng) =
        rng_for("kill_9_during_backup_and_restore_never_tears_the_state_or_a_snapshot");
    let per_kind = trials(20).div_ceil(2).max(1);
    let ws = Ws::bundled();
    ws.write_config("state {\n  keep_last = 8\n}\n");
    let mut serial = 10u64;
    put_state(&ws, &big_state(serial, RESOURCES));
    let backup_time = timed(&ws, &["backup"]);
    let (mut torn, mut restores, mut killed_mid, mut trials_done) = (0usize, 0usize, 0usize, 0);
    let mut saw_leftovers = 0usize;

    // Backups: a new state each time, so bytes are written (no hard link to a twin).
    for t in 0..per_kind {
        serial += 1;
        let bytes = big_state(serial, RESOURCES);
        put_state(&ws, &bytes);
        let delay = kill_moment(&mut rng, backup_time, t);
        killed_mid += usize::from(kill_after(&ws, &["backup"], delay));
        trials_done += 1;
        if state_bytes(&ws) != bytes {
            eprintln!("backup trial {t}: the live state changed under a backup");
            torn += 1;
        }
        torn += torn_snapshots(&ws);
        saw_leftovers += usize::from(!leftovers(&ws).is_empty());
    }

    // Restores: the newest snapshot is T, the live state X; afterwards it is X or T, whole.
    let restore_time = {
        serial += 1;
        put_state(&ws, &big_state(serial, RESOURCES));
        timed(&ws, &["backup"]);
        serial += 1;
        put_state(&ws, &big_state(serial, RESOURCES));
        timed(&ws, &["restore", "--latest", "--yes"])
    };
    for t in 0..per_kind {
        serial += 1;
        let target = big_state(serial, RESOURCES);
        put_state(&ws, &target);
        timed(&ws, &["backup"]);
        serial += 1;
        let live = big_state(serial, RESOURCES);
        put_state(&ws, &live);
        let delay = kill_moment(&mut rng, restore_time, t);
        killed_mid += usize::from(kill_after(&ws, &["restore", "--latest", "--yes"], delay));
        trials_done += 1;
        let now = state_bytes(&ws);
        if now == target {
            restores += 1;
        } else if now != live {
            eprintln!(
                "restore trial {t}: the state is torn ({} bytes, neither old nor new)",
                now.len()
            );
            torn += 1;
        }
        torn += torn_snapshots(&ws);
        saw_leftovers += usize::from(!leftovers(&ws).is_empty());
    }

    // The next start heals what was left: no temp folder or file remains.
    let log = ws.path("daemon.log");
    let d = Daemon::start(&ws, &log, false);
    let healed = wait_until(Duration::from_secs(20), || leftovers(&ws).is_empty());
    assert_eq!(d.stop(), Some(0));
    torn += torn_snapshots(&ws);
    record(&Row {
        suite: "kill -9 backup/restore",
        trials: trials_done,
        restores,
        torn,
        note: format!(
            "seed {seed}; {killed_mid} killed mid-way; leftovers after {saw_leftovers} kills, {} after the next start",
            if healed { "none" } else { "some" }
        ),
        ..Row::default()
    });
    assert!(healed, "leftovers after a start: {:?}", leftovers(&ws));
    assert_eq!(torn, 0, "seed {seed}");
}

// ---------------------------------------------------------------------------------------------
// kill -9 during an in-place drift scenario

/// A drill that touches both main.tf (a rename) and the state (cut short).
const DRILL: &str = "description = \"reliability drill\"\n\nrename {\n  from = \"terraform_data.service_1\"\n  to   = \"terraform_data.service_1_drift\"\n}\n\ncorrupt_state {\n  truncate_to = 100\n}\n";

#[test]
fn kill_9_during_an_in_place_scenario_leaves_old_or_new_files_and_the_next_command_heals() {
    let (seed, mut rng) = rng_for(
        "kill_9_during_an_in_place_scenario_leaves_old_or_new_files_and_the_next_command_heals",
    );
    let n = trials(20);
    let ws = Ws::bundled();
    std::fs::write(ws.path("config/scenarios/drill.hcl"), DRILL).unwrap();
    let tf = ws.path("iac/main.tf");
    let (old_tf, old_state) = (std::fs::read(&tf).unwrap(), state_bytes(&ws));
    // The new versions: a --keep run leaves them; revert puts the originals back.
    let o = ws.run(&["scenario", "run", "drill", "--keep"]);
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", text(&o));
    let (new_tf, new_state) = (std::fs::read(&tf).unwrap(), state_bytes(&ws));
    assert!(new_tf != old_tf && new_state != old_state);
    let o = ws.run(&["scenario", "revert"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        (std::fs::read(&tf).unwrap(), state_bytes(&ws)),
        (old_tf.clone(), old_state.clone())
    );
    let t = Instant::now();
    let o = ws.run(&["scenario", "run", "drill", "--in-place"]);
    let full = t.elapsed();
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", text(&o));

    let (mut torn, mut healed, mut killed_mid, mut not_healed) = (0usize, 0usize, 0usize, 0usize);
    for t in 0..n {
        let delay = kill_moment(&mut rng, full, t);
        killed_mid += usize::from(kill_after(
            &ws,
            &["scenario", "run", "drill", "--in-place"],
            delay,
        ));
        let (tf_now, st_now) = (std::fs::read(&tf).unwrap_or_default(), state_bytes(&ws));
        if tf_now != old_tf && tf_now != new_tf {
            eprintln!("scenario trial {t}: main.tf torn ({} bytes)", tf_now.len());
            torn += 1;
        }
        if st_now != old_state && st_now != new_state {
            eprintln!("scenario trial {t}: state torn ({} bytes)", st_now.len());
            torn += 1;
        }
        healed += usize::from(tf_now != old_tf || st_now != old_state);
        // The next tfops command puts everything back, byte for byte.
        let o = ws.run(&["status"]);
        assert!(o.status.success(), "{}", text(&o));
        if std::fs::read(&tf).unwrap_or_default() != old_tf
            || state_bytes(&ws) != old_state
            || ws.path(".tfops/scenario.journal").exists()
        {
            eprintln!("scenario trial {t}: not healed by the next command");
            not_healed += 1;
        }
    }
    torn += torn_snapshots(&ws);
    record(&Row {
        suite: "kill -9 scenario",
        trials: n,
        restores: healed,
        torn,
        note: format!(
            "seed {seed}; {killed_mid} killed mid-way; restores = runs the next command healed; {not_healed} not healed"
        ),
        ..Row::default()
    });
    assert_eq!((torn, not_healed), (0, 0), "seed {seed}");
}

// ---------------------------------------------------------------------------------------------
// A full disk

/// A 2 MB tmpfs, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount() -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(dir.path())
            .output()
            .ok()?;
        if !o.status.success() {
            eprintln!("mount refused: {}", String::from_utf8_lossy(&o.stderr));
            return None;
        }
        Some(Tmpfs { dir })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system holding `path` until a write fails with ENOSPC.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling: {e}"),
        }
    }
    // Whatever is left below a page.
    let _ = f.write_all(&[0u8; 1]);
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_gives_a_clear_error_loses_nothing_and_work_resumes_once_space_returns() {
    let Some(fs) = Tmpfs::mount() else {
        // Without mount (not root, or in a container that refuses it) there is no full disk
        // to test against; CI runs as root and mounts.
        assert!(
            !common::tools_required(),
            "a tmpfs is needed here (CI runs as root)"
        );
        eprintln!("SKIP: cannot mount a tmpfs");
        return;
    };
    let outside = tempfile::tempdir().unwrap();
    let ws = Ws {
        dir: tempfile::TempDir::new_in(fs.dir.path()).unwrap(),
    };
    common::copy_tree(&common::repo_root().join("iac"), &ws.path("iac"));
    // A slow health check, so that deliveries meet the full disk before a write probe does.
    ws.write_config(
        "balancer {\n  rescan = \"200ms\"\n  settle = \"50ms\"\n}\nhealth {\n  interval = \"60s\"\n}\n",
    );
    let log = outside.path().join("daemon.log");
    let d = Daemon::start(&ws, &log, false);
    let boxes = inboxes(&ws, 3);

    // Some requests delivered normally first, so the logs exist.
    let mut expected = HashSet::new();
    for i in 0..15 {
        let n = format!("before_{i}.txt");
        drop_request(&ws, &n, b"x");
        expected.insert(n);
    }
    assert!(wait_until(Duration::from_secs(15), || names(&intake(&ws)).is_empty()));
    // Requests written while there is room, made visible once the disk is full.
    let staged: Vec<String> = (0..200).map(|i| format!("full_{i}.txt")).collect();
    for n in &staged {
        std::fs::write(intake(&ws).join(format!(".{n}.part")), b"y").unwrap();
    }
    let filler = ws.path("filler");
    fill(&filler);
    for n in &staged {
        std::fs::rename(intake(&ws).join(format!(".{n}.part")), intake(&ws).join(n)).unwrap();
        expected.insert(n.clone());
    }
    // A clear error; requests that cannot be journaled wait in the intake and are retried
    // at the next rescan (not in a busy loop) while the disk stays full. (Whether a delivery meets
    // the full disk before the flush frees a page depends on tmpfs accounting: counted.)
    let clear = wait_until(Duration::from_secs(15), || {
        let l = std::fs::read_to_string(&log).unwrap_or_default();
        l.contains("No space left on device")
            && (l.matches("retried at the next rescan").count() >= 2
                || names(&intake(&ws)).is_empty())
    });
    let full_log = std::fs::read_to_string(&log).unwrap_or_default();
    let enospc_while_full = full_log.matches("No space left on device").count();
    let retries_while_full = full_log.matches("retried at the next rescan").count();
    // The daemon may still be delivering (a retry that found room): counted while it is stopped.
    let (lost_full, dup_full) = d.frozen(|| lost_and_duplicated(&census(&ws, &boxes), &expected));
    let mut d = d;
    assert!(d.alive(), "the daemon died on a full disk");
    // Space returns: everything goes, the logs agree.
    std::fs::remove_file(&filler).unwrap();
    let drained = wait_until(Duration::from_secs(30), || {
        names(&intake(&ws)).iter().all(|f| f.starts_with('.'))
    });
    for i in 0..6 {
        let n = format!("after_{i}.txt");
        drop_request(&ws, &n, b"z");
        expected.insert(n);
    }
    let drained_after = wait_until(Duration::from_secs(15), || {
        names(&intake(&ws)).iter().all(|f| f.starts_with('.'))
    });
    assert_eq!(d.stop(), Some(0));
    let (lost, dup) = lost_and_duplicated(&census(&ws, &boxes), &expected);
    let mut log_bad = 0;
    for n in 1..=3 {
        log_bad += log_mismatches(
            &ws,
            n,
            &[boxes[2 * (n - 1)].clone(), boxes[2 * (n - 1) + 1].clone()],
        );
    }

    // A snapshot on a full disk: a clear error, no half snapshot, the state untouched.
    let snaps_before = names(&ws.path("backups"));
    put_state(&ws, &big_state(77, 200));
    let state_before = state_bytes(&ws);
    fill(&filler);
    let o = ws.run(&["backup"]);
    let backup_refused = o.status.code() == Some(1)
        && String::from_utf8_lossy(&o.stderr).contains("No space left on device");
    let mut torn = torn_snapshots(&ws);
    let snaps_full = names(&ws.path("backups"));
    if state_bytes(&ws) != state_before {
        torn += 1;
    }
    std::fs::remove_file(&filler).unwrap();
    let o2 = ws.run(&["backup"]);
    let backup_ok = o2.status.success();
    torn += torn_snapshots(&ws);
    let daemon_log = std::fs::read_to_string(&log).unwrap_or_default();
    record(&Row {
        suite: "full disk (tmpfs 2 MB)",
        trials: 2,
        requests: expected.len(),
        lost,
        duplicated: dup,
        torn,
        note: format!(
            "{log_bad} log mismatches; {enospc_while_full} ENOSPC log lines, {retries_while_full} delivery retries while full; backup: {}",
            if backup_refused {
                "refused clearly"
            } else {
                "NOT refused clearly"
            }
        ),
        ..Row::default()
    });
    assert!(
        clear,
        "no clear error in the daemon log: {daemon_log:.2000}"
    );
    assert_eq!((lost_full, dup_full), (0, 0), "while full");
    assert!(
        drained && drained_after,
        "requests stayed in the intake once space returned"
    );
    assert_eq!((lost, dup, log_bad), (0, 0, 0));
    assert!(backup_refused, "backup on a full disk: {}", text(&o));
    assert_eq!(
        snaps_full.iter().filter(|f| !f.starts_with('.')).count(),
        snaps_before.iter().filter(|f| !f.starts_with('.')).count(),
        "a snapshot appeared on a full disk"
    );
    assert!(backup_ok, "backup once space returned: {}", text(&o2));
    assert_eq!(torn, 0);
}

// ---------------------------------------------------------------------------------------------
// Service folders that turn read-only or disappear; an unreadable request

#[test]
fn read_only_and_vanishing_service_folders_and_an_unreadable_request_lose_nothing() {
    let ws = Ws::bundled();
    fast_config(&ws, "");
    // Prepare the workspace as root, then hand it to nobody.
    let o = ws.run(&["run", "--once"]);
    assert!(o.status.success(), "{}", text(&o));
    let expected = generate(&ws, 3000, "ro");
    let st = Command::new("chmod")
        .args(["-R", "a+rwX"])
        .arg(ws.root())
        .status()
        .unwrap();
    assert!(st.success());
    let log = ws.path("daemon.log");
    let d = Daemon::start(&ws, &log, true);
    let chmod = |p: &Path, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    // service_2 turns read-only mid-run.
    chmod(&ws.path("balanceador/service_2"), 0o555);
    let health =
        || std::fs::read_to_string(ws.path("balanceador/logs/health.log")).unwrap_or_default();
    let ro_down = wait_until(Duration::from_secs(10), || {
        health().contains("service_2 DOWN (folder does not accept a write")
    });
    // service_3's folder disappears (moved away, so what it held can still be counted).
    let gone = ws.path("balanceador/gone_service_3");
    std::fs::rename(ws.path("balanceador/service_3"), &gone).unwrap();
    let vanished_down = wait_until(Duration::from_secs(10), || {
        health().contains("service_3 DOWN (folder missing)")
    });
    // An unreadable request: nobody cannot open it.
    let hidden = intake(&ws).join(".secret.txt.part");
    std::fs::write(&hidden, b"s").unwrap();
    chmod(&hidden, 0o000);
    std::fs::rename(&hidden, intake(&ws).join("secret.txt")).unwrap();
    let drained = wait_until(Duration::from_secs(60), || names(&intake(&ws)).is_empty());
    let s2_while_ro = names(&ws.path("balanceador/service_2")).len();
    // service_2 writable again: it comes back and is used.
    chmod(&ws.path("balanceador/service_2"), 0o777);
    let back = wait_until(Duration::from_secs(10), || {
        let h = health();
        h.rfind("service_2 DOWN")
            .is_some_and(|i| h[i..].contains("service_2 UP"))
    });
    let mut more = HashSet::new();
    for i in 0..12 {
        let n = format!("back_{i}.txt");
        drop_request(&ws, &n, b"b");
        more.insert(n);
    }
    let drained_more = wait_until(Duration::from_secs(20), || names(&intake(&ws)).is_empty());
    let s2_after = names(&ws.path("balanceador/service_2")).len();
    assert_eq!(d.stop(), Some(0));

    let mut boxes = inboxes(&ws, 3);
    boxes.push(gone.clone());
    let mut all = expected.clone();
    all.extend(more.iter().cloned());
    all.insert("secret.txt".into());
    let (lost, dup) = lost_and_duplicated(&census(&ws, &boxes), &all);
    let mut log_bad = 0;
    for n in 1..=3 {
        let mut dirs = vec![boxes[2 * (n - 1)].clone(), boxes[2 * (n - 1) + 1].clone()];
        if n == 3 {
            dirs.push(gone.clone());
        }
        log_bad += log_mismatches(&ws, n, &dirs);
    }
    let reason = std::fs::read(ws.path("balanceador/errors/secret.txt.error.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["reason"].as_str().map(str::to_string));
    record(&Row {
        suite: "read-only/vanished/EACCES",
        trials: 1,
        requests: all.len(),
        lost,
        duplicated: dup,
        note: format!(
            "{log_bad} log mismatches; unreadable request -> {}",
            reason.as_deref().unwrap_or("?")
        ),
        ..Row::default()
    });
    let daemon_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(ro_down, "service_2 read-only not seen down: {}", health());
    assert!(vanished_down, "service_3 gone not seen down: {}", health());
    assert!(
        drained && drained_more,
        "requests stayed: {:?}\n{daemon_log:.3000}",
        names(&intake(&ws))
    );
    assert!(back, "service_2 did not come back: {}", health());
    assert!(
        s2_after > s2_while_ro,
        "service_2 not used again once writable"
    );
    assert_eq!((lost, dup, log_bad), (0, 0, 0));
    assert_eq!(reason.as_deref(), Some("unreadable"));
}

// ---------------------------------------------------------------------------------------------
// 100 SIGHUPs while routing

fn valid_config(i: usize) -> (usize, &'static str, String) {
    let count = 2 + (i / 2) % 3; // 2, 3, 4
    let strategy = ["round_robin", "least_backlog", "weighted"][(i / 2) % 3];
    let text = format!(
        "balancer {{\n  rescan = \"200ms\"\n  settle = \"50ms\"\n  strategy = \"{strategy}\"\n}}\nhealth {{\n  interval = \"300ms\"\n}}\nservices {{\n  count = {count}\n}}\n"
    );
    (count, strategy, text)
}

fn broken_config(i: usize) -> String {
    [
        "services {\n  count = 0\n}\n",
        "health {\n}\nhealth {\n}\n",
        "balancer {\n  strategy = \"random\"\n}\n",
        "services {\n  count = 3\n  active = [7]\n}\n",
        "schedule \"n\" {\n  services = [\"service_1\"]\n  off = \"25:00-06:00\"\n}\n",
        "balancer {\n  rescan = \"5 parsecs\"\n}\n",
        "services {\n  count = \n",
        "bogus = 1\n",
    ][i % 8]
        .to_string()
}

fn reloads_seen(log: &Path) -> usize {
    let t = std::fs::read_to_string(log).unwrap_or_default();
    t.matches("configuration reloaded").count() + t.matches("reload refused").count()
}

#[test]
fn a_hundred_sighups_alternating_valid_and_broken_configs_lose_nothing() {
    const HUPS: usize = 100;
    const REQUESTS: usize = 6_000;
    let (seed, mut rng) =
        rng_for("a_hundred_sighups_alternating_valid_and_broken_configs_lose_nothing");
    let ws = Ws::bundled();
    let (_, _, first) = valid_config(0);
    ws.write_config(&first);
    let mut expected = generate(&ws, REQUESTS, "hup");
    let log = ws.path("daemon.log");
    let d = Daemon::start(&ws, &log, false);
    let base = reloads_seen(&log);
    let mut last_valid = valid_config(0);
    let mut broken = 0;
    for i in 0..HUPS {
        if i % 2 == 0 {
            last_valid = valid_config(i);
            ws.write_config(&last_valid.2);
        } else {
            ws.write_config(&broken_config(i / 2));
            broken += 1;
        }
        // Requests keep arriving between the reloads.
        for k in 0..20 {
            let n = format!("during_{i}_{k}.txt");
            drop_request(&ws, &n, b"h");
            expected.insert(n);
        }
        d.signal(libc::SIGHUP);
        // One reload at a time, so that each signal reads the file written for it.
        assert!(
            wait_until(Duration::from_secs(10), || reloads_seen(&log) > base + i),
            "reload {i} not handled"
        );
        if rng.random_bool(0.2) {
            std::thread::sleep(Duration::from_millis(rng.random_range(0..50)));
        }
    }
    let drained = wait_until(Duration::from_secs(60), || names(&intake(&ws)).is_empty());
    // The last valid configuration is in force, the last broken one is reported.
    let (count, strategy, _) = &last_valid;
    let status = || -> serde_json::Value {
        serde_json::from_slice(&ws.run(&["status", "--json"]).stdout).unwrap_or_default()
    };
    let in_force = wait_until(Duration::from_secs(5), || {
        let j = status();
        j["daemon"]["last_reload_error"].is_string()
            && j["services"].as_array().map(Vec::len) == Some(*count)
    });
    let j = status();
    let internal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path("balanceador/logs/status.json")).unwrap())
            .unwrap();
    // Behaviour: new requests go only to the services of the last valid configuration.
    for i in 0..(3 * count) {
        let n = format!("after_{i}.txt");
        drop_request(&ws, &n, b"a");
        expected.insert(n);
    }
    let drained_after = wait_until(Duration::from_secs(20), || names(&intake(&ws)).is_empty());
    let beyond: usize = ((count + 1)..=4)
        .map(|n| {
            names(&ws.path(&format!("balanceador/service_{n}")))
                .iter()
                .filter(|f| f.contains("_after_"))
                .count()
        })
        .sum();
    assert_eq!(d.stop(), Some(0));
    let boxes = inboxes(&ws, 4);
    let (lost, dup) = lost_and_duplicated(&census(&ws, &boxes), &expected);
    let mut log_bad = 0;
    for n in 1..=4 {
        log_bad += log_mismatches(
            &ws,
            n,
            &[boxes[2 * (n - 1)].clone(), boxes[2 * (n - 1) + 1].clone()],
        );
    }
    record(&Row {
        suite: "100 SIGHUPs",
        trials: HUPS,
        requests: expected.len(),
        lost,
        duplicated: dup,
        note: format!(
            "seed {seed}; {broken} broken refused; in force: {count} services, {strategy}; {log_bad} log mismatches"
        ),
        ..Row::default()
    });
    assert!(drained && drained_after, "requests stayed in the intake");
    assert!(in_force, "status: {j}");
    assert!(
        j["daemon"]["last_reload_error"]
            .as_str()
            .unwrap_or_default()
            .contains("config/tfops.hcl:"),
        "{j}"
    );
    assert_eq!(internal["strategy"], *strategy, "{internal}");
    assert_eq!(
        beyond, 0,
        "requests went to services outside the last valid config"
    );
    assert_eq!((lost, dup, log_bad), (0, 0, 0));
}

// ---------------------------------------------------------------------------------------------
// Paths trusted by name: a request swapped for a link while the desk moves it

/// What the racing thread puts in place of a request.
#[derive(Clone, Copy, PartialEq)]
enum Swap {
    Symlink,
    HardLink,
}

/// Drops `trials` requests in batches of 8 while another thread replaces each, as soon as it
/// is written, by a link to a file outside the workspace (a symlink, or a hard link), at a
/// random moment. The desk races it. Returns (requests, escaped into the inbox, files delivered
/// twice, requests delivered before their swap).
fn swap_race(kind: Swap, trials: usize, rng: &mut StdRng) -> (usize, usize, usize, usize) {
    use tfops::service_id::ServiceId;
    use tfops::spool::desk::{Desk, Limits};
    const SECRET: &[u8] = b"SECRET outside the workspace";
    let d = tempfile::tempdir().unwrap();
    let ws = tfops::workspace::Workspace::new(d.path().join("ws"));
    ws.ensure_runtime_dirs().unwrap();
    std::fs::create_dir_all(ws.service_dir(ServiceId(1))).unwrap();
    let outside = d.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let secret = outside.join("secret.txt");
    std::fs::write(&secret, SECRET).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o640)).unwrap();
    let lim = Limits {
        max_request_bytes: 1 << 20,
        recent_in_log: 10,
    };
    let mut desk = Desk::open(&ws, ServiceId(1), lim).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<(PathBuf, PathBuf, Duration)>();
    let swapper = std::thread::spawn(move || {
        for (link, p, delay) in rx {
            // A random moment: before, during or after the desk's check of this request.
            let t = Instant::now();
            while t.elapsed() < delay {
                std::hint::spin_loop();
            }
            let _ = std::fs::rename(&link, &p);
        }
    });
    let intake = ws.intake();
    let mut i = 0;
    while i < trials {
        let batch: Vec<std::ffi::OsString> = (i..(i + 8).min(trials))
            .map(|k| format!("r{k}").into())
            .collect();
        for n in &batch {
            std::fs::write(intake.join(n), format!("ok {n:?}\n")).unwrap();
            // The link is ready beforehand: the swap itself is one rename.
            let link = intake.join(format!(".link-{}", n.to_string_lossy()));
            match kind {
                Swap::Symlink => std::os::unix::fs::symlink(&secret, &link).unwrap(),
                Swap::HardLink => std::fs::hard_link(&secret, &link).unwrap(),
            }
            let delay = Duration::from_micros(rng.random_range(0..150));
            tx.send((link, intake.join(n), delay)).unwrap();
        }
        desk.deliver_batch(&batch, chrono::Local::now());
        i += batch.len();
    }
    drop(tx);
    swapper.join().unwrap();
    // What the swaps left in the intake goes too (rejected, as links).
    let rest: Vec<std::ffi::OsString> = names(&intake)
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .map(Into::into)
        .collect();
    desk.deliver_batch(&rest, chrono::Local::now());
    desk.flush().unwrap();

    let inbox = ws.service_dir(ServiceId(1));
    let (mut escaped, mut seen) = (0usize, HashMap::<Vec<u8>, usize>::new());
    for n in names(&inbox) {
        let p = inbox.join(&n);
        let m = std::fs::symlink_metadata(&p).unwrap();
        if !m.file_type().is_file() || std::os::unix::fs::MetadataExt::nlink(&m) != 1 {
            escaped += 1;
            continue;
        }
        let body = std::fs::read(&p).unwrap();
        if body == SECRET || !body.starts_with(b"ok ") {
            escaped += 1;
        }
        *seen.entry(body).or_default() += 1;
    }
    let dup = seen.values().filter(|c| **c > 1).count();
    // Requests the desk moved before their swap (the link came after and was rejected).
    let rejected = seen.len();
    assert_eq!(
        std::fs::read(&secret).unwrap(),
        SECRET,
        "outside file changed"
    );
    assert_eq!(
        std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777,
        0o640,
        "outside file chmod-ed"
    );
    (trials, escaped, dup, rejected)
}

#[test]
fn a_request_swapped_for_a_symlink_mid_move_never_reaches_an_inbox() {
    let (seed, mut rng) =
        rng_for("a_request_swapped_for_a_symlink_mid_move_never_reaches_an_inbox");
    let (n, escaped, dup, rejected) = swap_race(Swap::Symlink, trials(3000), &mut rng);
    record(&Row {
        suite: "swap for symlink race",
        trials: n,
        requests: n,
        duplicated: dup,
        note: format!("seed {seed}; {escaped} links delivered; {rejected} moved before the swap"),
        ..Row::default()
    });
    assert_eq!((escaped, dup), (0, 0));
}

#[test]
fn a_request_swapped_for_a_hard_link_mid_move_never_reaches_an_inbox() {
    let (seed, mut rng) =
        rng_for("a_request_swapped_for_a_hard_link_mid_move_never_reaches_an_inbox");
    let (n, escaped, dup, rejected) = swap_race(Swap::HardLink, trials(3000), &mut rng);
    record(&Row {
        suite: "swap for hard link race",
        trials: n,
        requests: n,
        duplicated: dup,
        note: format!(
            "seed {seed}; {escaped} outside files delivered; {rejected} moved before the swap"
        ),
        ..Row::default()
    });
    assert_eq!((escaped, dup), (0, 0));
}
