//! Black-box checks of the hardening rules on the real binary: a fifo where a state is
//! expected never blocks a command, a corrupted snapshot is never listed as valid, a restore
//! over a symlinked state changes nothing outside, a shared backups folder keeps its mode.

mod common;

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{text, wait_until, Ws};

fn ok(ws: &Ws, args: &[&str]) -> String {
    let o = ws.run(args);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().mode() & 0o7777
}

fn mkfifo(p: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        p,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
}

/// Runs `tfops ARGS` and waits for it (bounded: a hang is killed and reported as `None`).
fn run_bounded(ws: &Ws, args: &[&str], bound: Duration) -> Option<i32> {
    let mut c = ws
        .cmd()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut code = None;
    let done = wait_until(bound, || match c.try_wait() {
        Ok(Some(s)) => {
            code = s.code();
            true
        }
        _ => false,
    });
    if !done {
        let _ = c.kill();
        let _ = c.wait();
        return None;
    }
    code
}

#[test]
fn a_fifo_as_the_state_never_blocks_a_command() {
    let ws = Ws::bundled();
    let st = ws.path("iac/terraform.tfstate");
    let _ = std::fs::remove_file(&st);
    mkfifo(&st);
    for args in [
        &["backup"][..],
        &["drift"],
        &["restore", "--latest", "--yes"],
    ] {
        let code = run_bounded(&ws, args, Duration::from_secs(60));
        assert!(code.is_some(), "`tfops {args:?}` blocked on a fifo state");
        assert_ne!(code, Some(0), "`tfops {args:?}` accepted a fifo state");
    }
}

#[test]
fn backups_lists_a_snapshot_whose_sha256_no_longer_matches_as_not_valid() {
    let ws = Ws::bundled();
    ok(&ws, &["backup"]);
    let snap = ws.snapshots()[0].join("terraform.tfstate");
    let mut b = std::fs::read(&snap).unwrap();
    // Same length, different bytes: only the hash can tell.
    let i = b.iter().position(|c| *c == b'"').unwrap();
    b[i + 1] ^= 0x01;
    std::fs::set_permissions(&snap, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&snap, &b).unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&ws, &["backups", "--json"])).unwrap();
    assert_eq!(v["snapshots"][0]["valid"], false, "{v}");
    let table = ok(&ws, &["backups"]);
    assert!(table.contains("sha256"), "{table}");
}

#[test]
fn a_restore_over_a_symlinked_bad_state_changes_nothing_outside() {
    let ws = Ws::bundled();
    ok(&ws, &["backup"]);
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("bad.tfstate");
    std::fs::write(&target, b"{ not a state").unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
    let st = ws.path("iac/terraform.tfstate");
    std::fs::remove_file(&st).unwrap();
    symlink(&target, &st).unwrap();
    ok(&ws, &["restore", "--latest", "--yes"]);
    assert_eq!(mode(&target), 0o644, "the link's target was chmod-ed");
    assert_eq!(std::fs::read(&target).unwrap(), b"{ not a state");
    let kept: Vec<_> = std::fs::read_dir(ws.path("iac"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .collect();
    assert_eq!(kept.len(), 1);
    let m = std::fs::symlink_metadata(kept[0].path()).unwrap();
    assert!(m.file_type().is_file(), "the bad state was kept as a link");
    assert_eq!(m.mode() & 0o777, 0o600);
    assert_eq!(std::fs::read(kept[0].path()).unwrap(), b"{ not a state");
}

#[test]
fn a_shared_backups_folder_keeps_its_mode() {
    let ws = Ws::bundled();
    let b = ws.path("backups");
    std::fs::create_dir(&b).unwrap();
    std::fs::set_permissions(&b, std::fs::Permissions::from_mode(0o1777)).unwrap();
    ok(&ws, &["backup"]);
    assert_eq!(mode(&b), 0o1777);
    // The snapshot folder tfops made is private.
    assert_eq!(mode(&ws.snapshots()[0]), 0o700);
}

/// A pid no process has (a child that has exited and been reaped).
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn a_run_that_loses_the_lock_never_names_a_stale_pid() {
    let ws = Ws::bundled();
    // A killed run left its run.pid; a new holder (here: this test) has the lock but has not
    // written anything yet — the moment two `run`s start together.
    let dot = ws.path(".tfops");
    std::fs::create_dir_all(&dot).unwrap();
    let stale = dead_pid();
    std::fs::write(dot.join("run.pid"), format!("{stale}\n")).unwrap();
    let held = tfops::lock::FileLock::try_acquire(&dot.join("run.lock"))
        .unwrap()
        .expect("lock free");
    let o = ws.run(&["run", "--once"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !err.contains(&format!("pid {stale}")),
        "named a dead pid: {err}"
    );
    assert!(err.contains("starting"), "{err}");
    // Once the holder wrote its pid in the lock file, that is the pid named.
    std::fs::write(dot.join("run.lock"), format!("{}\n", std::process::id())).unwrap();
    let o = ws.run(&["run", "--once"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    drop(held);
}

#[test]
fn a_hostile_terraform_lock_holder_is_shown_escaped() {
    let ws = Ws::bundled();
    ok(&ws, &["backup"]);
    std::fs::write(
        ws.path("iac/.terraform.tfstate.lock.info"),
        "{\"ID\":\"x\",\"Operation\":\"OperationTypeApply\",\"Who\":\"eve\\u001b]0;owned\\u0007\\nError: forged\"}",
    )
    .unwrap();
    let o = ws.run(&["restore", "--latest", "--yes"]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(all.contains("eve"), "{all}");
    assert!(
        !all.contains('\u{1b}'),
        "an escape sequence reached the terminal: {all:?}"
    );
    assert!(!all.contains("\nError: forged"), "a forged line: {all}");
}

/// `cmd` with its open-file limit set to `n` (soft and hard) before it starts.
fn with_nofile(mut cmd: std::process::Command, n: u64) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let l = libc::rlimit {
                rlim_cur: n as libc::rlim_t,
                rlim_max: n as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

fn count_config(ws: &Ws, count: usize) {
    let active: Vec<String> = (1..=count.min(3)).map(|n| n.to_string()).collect();
    ws.write_config(&format!(
        "services {{\n  count = {count}\n  active = [{}]\n}}\nbalancer {{\n  rescan = \"200ms\"\n  settle = \"50ms\"\n}}\nhealth {{\n  interval = \"300ms\"\n}}\n",
        active.join(", ")
    ));
}

#[test]
fn config_check_refuses_more_services_than_open_files_allow() {
    let ws = Ws::bundled();
    count_config(&ws, 1000);
    let mut c = with_nofile(ws.cmd(), 1024);
    let o = c.args(["config", "check"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("services.count = 1000"), "{err}");
    count_config(&ws, 20);
    let mut c = with_nofile(ws.cmd(), 1024);
    let o = c.args(["config", "check"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

fn fds_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|rd| rd.count())
        .unwrap_or(0)
}

/// Starts `tfops run` under a 1024 open-file limit; ready once status.json lists `count`.
fn start_limited(ws: &Ws, count: usize) -> std::process::Child {
    let _ = std::fs::remove_file(ws.path("balanceador/logs/status.json"));
    let log = std::fs::File::create(ws.path("daemon.log")).unwrap();
    let mut c = with_nofile(ws.cmd(), 1024);
    let child = c
        .arg("run")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let ready = wait_until(Duration::from_secs(30), || {
        std::fs::read(ws.path("balanceador/logs/status.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["services"].as_array().is_some_and(|a| a.len() == count))
    });
    assert!(
        ready,
        "{}",
        std::fs::read_to_string(ws.path("daemon.log")).unwrap_or_default()
    );
    child
}

fn stop(mut child: std::process::Child) -> Option<i32> {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut code = None;
    let done = wait_until(Duration::from_secs(30), || match child.try_wait() {
        Ok(Some(s)) => {
            code = s.code();
            true
        }
        _ => false,
    });
    if !done {
        let _ = child.kill();
        let _ = child.wait();
    }
    code
}

#[test]
fn a_reload_to_more_services_than_fit_is_refused_and_the_daemon_lives_on() {
    let ws = Ws::bundled();
    count_config(&ws, 3);
    let mut child = start_limited(&ws, 3);
    count_config(&ws, 1000);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let log = || std::fs::read_to_string(ws.path("daemon.log")).unwrap_or_default();
    let refused = wait_until(Duration::from_secs(20), || {
        log().contains("services.count = 1000")
    });
    let alive = child.try_wait().unwrap().is_none();
    // Still routing with the old configuration.
    std::fs::write(ws.path("balanceador/incoming_requests/after.txt"), "x").unwrap();
    let routed = wait_until(Duration::from_secs(20), || {
        !ws.path("balanceador/incoming_requests/after.txt").exists()
    });
    let code = stop(child);
    assert!(refused, "{}", log());
    assert!(alive, "the daemon died: {}", log());
    assert!(routed, "{}", log());
    assert_eq!(code, Some(0), "{}", log());
}

#[test]
fn a_service_costs_no_more_open_files_than_the_budget_says() {
    let ws = Ws::bundled();
    count_config(&ws, 2);
    let small = start_limited(&ws, 2);
    std::thread::sleep(Duration::from_millis(300));
    let a = fds_of(small.id());
    assert_eq!(stop(small), Some(0));
    count_config(&ws, 42);
    let big = start_limited(&ws, 42);
    // Deliveries open the batch's folders too: route some to every service.
    for i in 0..200 {
        std::fs::write(ws.path(&format!("balanceador/incoming_requests/r{i}")), "x").unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    let b = fds_of(big.id());
    assert_eq!(stop(big), Some(0));
    let per = (b.saturating_sub(a)) as f64 / 40.0;
    eprintln!("open files: {a} with 2 services, {b} with 42: {per:.1} per service");
    assert!(
        per <= tfops::rlimit::FDS_PER_SERVICE as f64,
        "{per} per service, budget {}",
        tfops::rlimit::FDS_PER_SERVICE
    );
    assert!(
        a as u64 <= tfops::rlimit::RESERVE,
        "{a} open with 2 services"
    );
}

#[test]
fn a_fifo_as_the_config_at_reload_never_blocks_the_daemon() {
    let ws = Ws::bundled();
    count_config(&ws, 3);
    let child = start_limited(&ws, 3);
    let cfg = ws.path("config/tfops.hcl");
    std::fs::remove_file(&cfg).unwrap();
    mkfifo(&cfg);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let log = || std::fs::read_to_string(ws.path("daemon.log")).unwrap_or_default();
    let refused = wait_until(Duration::from_secs(20), || {
        log().contains("not a regular file")
    });
    std::fs::write(ws.path("balanceador/incoming_requests/after.txt"), "x").unwrap();
    let routed = wait_until(Duration::from_secs(20), || {
        !ws.path("balanceador/incoming_requests/after.txt").exists()
    });
    let code = stop(child);
    assert!(refused, "{}", log());
    assert!(routed, "routing stopped: {}", log());
    assert_eq!(code, Some(0), "SIGTERM not obeyed: {}", log());
    // And `config check` says so at once.
    let code = run_bounded(&ws, &["config", "check"], Duration::from_secs(30));
    assert!(code.is_some_and(|c| c != 0), "{code:?}");
}

#[test]
fn scenario_keep_never_overwrites_a_users_orig_and_runs_never_remove_it() {
    let ws = Ws::bundled();
    let main_tf = ws.path("iac/main.tf");
    let orig = ws.path("iac/main.tf.orig");
    let before = std::fs::read(&main_tf).unwrap();
    std::fs::write(&orig, "MINE\n").unwrap();
    let o = ws.run(&["scenario", "run", "rename_service_1", "--keep"]);
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("main.tf.orig"),
        "{}",
        text(&o)
    );
    assert_eq!(std::fs::read(&orig).unwrap(), b"MINE\n");
    assert_eq!(
        std::fs::read(&main_tf).unwrap(),
        before,
        "touched though refused"
    );
    // A user's copy identical to the original is still the user's: an in-place run (and its
    // clean-up) leaves it.
    std::fs::write(&orig, &before).unwrap();
    let o = ws.run(&["scenario", "run", "rename_service_1", "--in-place"]);
    assert!(o.status.code().is_some_and(|c| c <= 1), "{}", text(&o));
    assert_eq!(
        std::fs::read(&orig).unwrap(),
        before,
        "the user's .orig was removed"
    );
    assert_eq!(std::fs::read(&main_tf).unwrap(), before);
}

#[test]
fn config_check_heals_a_scenario_killed_in_place() {
    let ws = Ws::bundled();
    let main_tf = ws.path("iac/main.tf");
    let before = std::fs::read(&main_tf).unwrap();
    let mut c = ws
        .cmd()
        .args(["scenario", "run", "rename_service_1", "--in-place"])
        .env("TFOPS_TEST_SCENARIO_PAUSE_MS", "60000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let applied = wait_until(Duration::from_secs(30), || {
        std::fs::read(&main_tf).is_ok_and(|b| b != before)
    });
    let _ = c.kill();
    let _ = c.wait();
    assert!(applied, "the scenario never wrote main.tf");
    assert_ne!(std::fs::read(&main_tf).unwrap(), before);
    let o = ws.run(&["config", "check"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        std::fs::read(&main_tf).unwrap(),
        before,
        "config check did not heal"
    );
    assert!(!ws.path(".tfops/scenario.journal").exists());
}

#[test]
fn config_check_refuses_tiny_durations_and_a_fake_zero_settle() {
    let ws = Ws::bundled();
    for bad in [
        "balancer {\n  settle = \"0xyz\"\n}\n",
        "balancer {\n  rescan = \"0.0000001ms\"\n}\n",
    ] {
        ws.write_config(bad);
        let o = ws.run(&["config", "check"]);
        assert_eq!(o.status.code(), Some(1), "accepted {bad}: {}", text(&o));
    }
    ws.write_config("balancer {\n  settle = \"0s\"\n}\n");
    let o = ws.run(&["config", "check"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_service_folder_in_both_places_is_not_shown_off_by_a_schedule() {
    let ws = Ws::bundled();
    // No schedule at all.
    ws.write_config("services {\n  count = 3\n}\n");
    ok(&ws, &["run", "--once"]);
    std::fs::create_dir_all(ws.path("archived/service_2")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&ws, &["status", "--json"])).unwrap();
    let s2 = &v["services"][1];
    assert_ne!(s2["state"], "off", "{s2}");
    assert!(
        !s2["reason"]
            .as_str()
            .unwrap_or("")
            .contains("cost schedule"),
        "{s2}"
    );
}
