//! Black-box tests of the operator conventions (#13): exit codes per command family, a closed
//! stdout, `--json` errors, workspace refusal and `init`, quiet one-shot commands, `-q`,
//! journald log lines, sd_notify, completions and man, `restore latest`, `prune`, sizes.

mod common;

use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::UnixDatagram;
use std::process::{Output, Stdio};
use std::time::Duration;

use common::{text, tfops_bin, wait_until, Ws};

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `{"error": {...}}` parsed from stdout, checking it is the whole of stdout.
fn json_error(o: &Output) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", text(o)));
    let e = v.get("error").cloned().expect("an error object");
    for k in ["message", "hint", "file", "line", "column"] {
        assert!(e.get(k).is_some(), "{k} missing: {v}");
    }
    e
}

fn set_serial(ws: &Ws, serial: u64) {
    let p = ws.path("iac/terraform.tfstate");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["serial"] = serial.into();
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

// ------------------------------------------------------------------------------------------
// Exit codes, one test per command family

#[test]
fn usage_errors_exit_1_never_2() {
    let ws = Ws::bundled();
    for args in [
        vec!["stauts"],
        vec!["drift", "--detailed-exit-code"],
        vec!["requests", "generate", "many"],
        vec!["restore", "--latest", "some_id"],
        vec!["backups", "--nope"],
        vec![],
    ] {
        let o = ws.run(&args);
        assert_eq!(code(&o), Some(1), "{args:?}: {}", text(&o));
        assert!(!stderr(&o).is_empty(), "{args:?}: says why");
    }
    // Help and version are not errors.
    assert_eq!(code(&ws.run(&["--help"])), Some(0));
    assert_eq!(code(&ws.run(&["--version"])), Some(0));
    assert_eq!(code(&ws.run(&["drift", "--help"])), Some(0));
}

#[test]
fn usage_error_with_json_is_a_json_document() {
    let ws = Ws::bundled();
    let o = ws.run(&["drift", "--json", "--detailed-exit-code"]);
    assert_eq!(code(&o), Some(1), "{}", text(&o));
    let e = json_error(&o);
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("--detailed-exit-code"),
        "{e}"
    );
}

#[test]
fn drift_exits_0_in_sync_2_on_drift_only_with_detailed_exitcode_1_on_error() {
    let ws = Ws::bundled();
    let o = ws.run(&["drift", "--detailed-exitcode"]);
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    let main_tf = ws.path("iac/main.tf");
    let mut tf = std::fs::read_to_string(&main_tf).unwrap();
    tf.push_str("\nresource \"terraform_data\" \"added_by_the_test\" {}\n");
    std::fs::write(&main_tf, &tf).unwrap();
    assert_eq!(code(&ws.run(&["drift", "--detailed-exitcode"])), Some(2));
    assert_eq!(code(&ws.run(&["drift"])), Some(0), "drift without the flag");
    // Broken HCL: 1, with a JSON error naming the position.
    tf.push_str("resource \"terraform_data\" \"broken\" {\n  input = \"unclosed\n");
    std::fs::write(&main_tf, &tf).unwrap();
    let o = ws.run(&["drift", "--json", "--detailed-exitcode"]);
    assert_eq!(code(&o), Some(1), "{}", text(&o));
    let e = json_error(&o);
    assert_eq!(e["file"], "iac/main.tf", "{e}");
    assert!(e["line"].as_u64().unwrap() > 0, "{e}");
    assert!(e["column"].as_u64().unwrap() > 0, "{e}");
    assert!(
        stderr(&o).starts_with("error: iac/main.tf:"),
        "the sentence on stderr too: {}",
        text(&o)
    );
}

#[test]
fn scenario_exits_3_when_broken_1_when_missing() {
    let ws = Ws::bundled();
    let bad = ws.path("config/scenarios/broken_for_test.hcl");
    std::fs::write(
        &bad,
        "rename {\n  from = \"terraform_data.does_not_exist\"\n  to = \"terraform_data.x\"\n}\n",
    )
    .unwrap();
    let o = ws.run(&["scenario", "run", bad.to_str().unwrap()]);
    assert_eq!(code(&o), Some(3), "{}", text(&o));
    let o = ws.run(&["scenario", "run", "/nonexistent/scenario.hcl"]);
    assert_eq!(code(&o), Some(1), "{}", text(&o));
}

#[test]
fn state_commands_exit_0_or_1() {
    let ws = Ws::bundled();
    assert_eq!(code(&ws.run(&["backup"])), Some(0));
    assert_eq!(code(&ws.run(&["backups"])), Some(0));
    assert_eq!(code(&ws.run(&["verify"])), Some(0));
    let o = ws.run(&["restore", "tfstate_2020-01-01_00-00-00.backup", "--yes"]);
    assert_eq!(code(&o), Some(1), "{}", text(&o));
    let o = ws.run(&["restore", "../etc", "--yes", "--json"]);
    assert_eq!(
        code(&o),
        Some(1),
        "usage: restore has no --json: {}",
        text(&o)
    );
    std::fs::write(ws.path("iac/terraform.tfstate"), "").unwrap();
    let o = ws.run(&["backup"]);
    assert_eq!(code(&o), Some(1), "{}", text(&o));
}

#[test]
fn config_cost_status_requests_exit_0_or_1() {
    let ws = Ws::bundled();
    assert_eq!(code(&ws.run(&["config", "check"])), Some(0));
    assert_eq!(code(&ws.run(&["status"])), Some(0));
    assert_eq!(code(&ws.run(&["cost", "report"])), Some(0));
    assert_eq!(code(&ws.run(&["requests", "generate", "2"])), Some(0));
    let o = ws.run(&["cost", "report", "--at", "not a time"]);
    assert_eq!(code(&o), Some(1), "{}", text(&o));
    ws.write_config("services {\n  count = 0\n}\n");
    let o = ws.run(&["config", "check"]);
    assert_eq!(code(&o), Some(1), "{}", text(&o));
}

#[test]
fn run_once_exits_0_and_prints_its_result() {
    let ws = Ws::bundled();
    let o = ws.run(&["run", "--once"]);
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    assert!(stdout(&o).starts_with("routed "), "{}", text(&o));
}

// ------------------------------------------------------------------------------------------
// --json errors

#[test]
fn json_errors_carry_the_config_position() {
    let ws = Ws::bundled();
    ws.write_config("services {\n  count = three\n}\n");
    let o = ws.run(&["backups", "--json"]);
    assert_eq!(code(&o), Some(1), "{}", text(&o));
    let e = json_error(&o);
    assert_eq!(e["file"], "config/tfops.hcl");
    assert_eq!(
        (e["line"].as_u64(), e["column"].as_u64()),
        (Some(2), Some(11))
    );
    assert!(e["hint"].as_str().is_some_and(|h| !h.is_empty()), "{e}");
    assert!(stderr(&o).contains("config/tfops.hcl:2:11"), "{}", text(&o));
}

// ------------------------------------------------------------------------------------------
// A closed stdout; panics

/// A pipe whose read end is already closed: every write to it fails with EPIPE.
fn closed_pipe() -> std::io::PipeWriter {
    let (r, w) = std::io::pipe().unwrap();
    drop(r);
    w
}

#[test]
fn a_closed_stdout_ends_quietly() {
    let ws = Ws::bundled();
    for _ in 0..3 {
        ws.run(&["backup"]);
    }
    for args in [
        vec!["status"],
        vec!["backups"],
        vec!["backups", "--json"],
        vec!["status", "--json"],
        vec!["completions", "bash"],
        vec!["man"],
        vec!["cost", "report"],
    ] {
        let o = ws
            .cmd()
            .args(&args)
            .stdout(Stdio::from(closed_pipe()))
            .output()
            .unwrap();
        assert_eq!(code(&o), Some(0), "{args:?}: {}", text(&o));
        assert_eq!(stderr(&o), "", "{args:?}: nothing on stderr");
    }
}

#[test]
fn a_panic_is_one_sentence_and_exit_1() {
    let ws = Ws::bundled();
    let o = ws
        .cmd()
        .arg("status")
        .env("TFOPS_FAULT_PANIC_COMMAND", "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert_eq!(code(&o), Some(1), "{}", text(&o));
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "one sentence: {err}");
    assert!(
        err.contains("internal error") && err.contains("report"),
        "{err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE=full"),
        "{err}"
    );
}

// ------------------------------------------------------------------------------------------
// Workspaces

#[test]
fn a_folder_that_is_not_a_workspace_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["run", "--once"],
        vec!["drift"],
        vec!["status"],
        vec!["backup"],
    ] {
        let o = std::process::Command::new(tfops_bin())
            .arg("--root")
            .arg(dir.path())
            .args(&args)
            .env_remove("TFOPS_ROOT")
            .output()
            .unwrap();
        assert_eq!(code(&o), Some(1), "{args:?}: {}", text(&o));
        let err = stderr(&o);
        assert!(
            err.contains("not a tfops workspace")
                && err.contains("--root")
                && err.contains("TFOPS_ROOT")
                && err.contains("tfops init"),
            "{args:?}: {err}"
        );
    }
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing created: {left:?}");
    // The current directory too (no --root).
    let o = std::process::Command::new(tfops_bin())
        .arg("status")
        .current_dir(dir.path())
        .env_remove("TFOPS_ROOT")
        .output()
        .unwrap();
    assert_eq!(code(&o), Some(1), "{}", text(&o));
}

#[test]
fn init_creates_a_working_workspace_and_never_overwrites() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("new-ws");
    let o = std::process::Command::new(tfops_bin())
        .args(["init"])
        .arg(&dir)
        .env_remove("TFOPS_ROOT")
        .output()
        .unwrap();
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    for f in ["iac/main.tf", "config/tfops.hcl", "balanceador/README.md"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let cfg = std::fs::read_to_string(dir.join("config/tfops.hcl")).unwrap();
    assert!(
        cfg.lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count()
            > 5,
        "commented"
    );
    let run = |args: &[&str]| {
        std::process::Command::new(tfops_bin())
            .arg("--root")
            .arg(&dir)
            .args(args)
            .env_remove("TFOPS_ROOT")
            .output()
            .unwrap()
    };
    assert_eq!(code(&run(&["config", "check"])), Some(0));
    assert_eq!(code(&run(&["status"])), Some(0));
    assert_eq!(code(&run(&["drift"])), Some(0));
    // Again: refused, nothing changed.
    std::fs::write(dir.join("config/tfops.hcl"), "# mine\n").unwrap();
    let o = run(&["init"]);
    assert_eq!(code(&o), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains("already is a tfops workspace"),
        "{}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("config/tfops.hcl")).unwrap(),
        "# mine\n"
    );
}

// ------------------------------------------------------------------------------------------
// Output: results on stdout, logs only with -v, -q

#[test]
fn one_shot_commands_print_results_and_log_only_with_v() {
    let ws = Ws::bundled();
    let o = ws.run(&["backup"]);
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    assert!(stdout(&o).starts_with("snapshot tfstate_"), "{}", text(&o));
    assert_eq!(stderr(&o), "", "no log lines without -v: {}", text(&o));
    let o = ws.run(&["-v", "backup"]);
    assert!(stderr(&o).contains("INFO"), "-v logs: {}", text(&o));
    // -q: errors only.
    let o = ws.run(&["-q", "backup"]);
    assert_eq!(code(&o), Some(0));
    assert_eq!(
        (stdout(&o).as_str(), stderr(&o).as_str()),
        ("", ""),
        "{}",
        text(&o)
    );
    std::fs::write(ws.path("iac/terraform.tfstate"), "").unwrap();
    let o = ws.run(&["-q", "backup"]);
    assert_eq!(code(&o), Some(1));
    assert!(stderr(&o).starts_with("error: "), "{}", text(&o));
    // -q keeps a --json document: it is the result.
    let o = ws.run(&["-q", "backups", "--json"]);
    assert!(
        serde_json::from_slice::<serde_json::Value>(&o.stdout).is_ok(),
        "{}",
        text(&o)
    );
}

#[test]
fn journald_gets_priority_prefixes_without_timestamps() {
    let ws = Ws::bundled();
    let err_path = ws.path("stderr.log");
    let err = std::fs::File::create(&err_path).unwrap();
    let m = err.metadata().unwrap();
    let o = ws
        .cmd()
        .args(["-v", "backup"])
        .env("JOURNAL_STREAM", format!("{}:{}", m.dev(), m.ino()))
        .stderr(Stdio::from(err))
        .output()
        .unwrap();
    assert_eq!(code(&o), Some(0));
    let log = std::fs::read_to_string(&err_path).unwrap();
    assert!(!log.is_empty());
    for line in log.lines() {
        assert!(line.starts_with("<6>") || line.starts_with("<7>"), "{line}");
        assert!(
            !line.contains("INFO") && !line.contains("Z "),
            "no level word, no time: {line}"
        );
    }
    // A JOURNAL_STREAM that is not our stderr (redirected elsewhere): the usual form.
    let o = ws
        .cmd()
        .args(["-v", "backup"])
        .env("JOURNAL_STREAM", "1:1")
        .output()
        .unwrap();
    assert!(stderr(&o).contains("INFO"), "{}", text(&o));
}

// ------------------------------------------------------------------------------------------
// systemd readiness

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = sock
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn run_notifies_systemd_ready_reloading_stopping() {
    let ws = Ws::bundled();
    ws.write_config("health {\n  interval = \"1s\"\n}\n");
    let sock_path = ws.path("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut child = ws
        .cmd()
        .arg("run")
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    assert_eq!(recv(&sock), "READY=1");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let reloading = recv(&sock);
    let mut lines = reloading.lines();
    assert_eq!(lines.next(), Some("RELOADING=1"), "{reloading}");
    let usec: u64 = lines
        .next()
        .and_then(|l| l.strip_prefix("MONOTONIC_USEC="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("MONOTONIC_USEC: {reloading}"));
    assert!(usec > 0);
    assert_eq!(recv(&sock), "READY=1");
    unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(recv(&sock), "STOPPING=1");
    let ok = wait_until(Duration::from_secs(20), || {
        child.try_wait().ok().flatten().is_some()
    });
    if !ok {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
}

// ------------------------------------------------------------------------------------------
// Completions, man

#[test]
fn completions_and_man_cover_every_command() {
    let ws = Ws::bundled();
    for shell in ["bash", "zsh", "fish"] {
        let o = ws.run(&["completions", shell]);
        assert_eq!(code(&o), Some(0), "{shell}: {}", text(&o));
        let s = stdout(&o);
        for cmd in ["prune", "restore", "drift", "completions", "init"] {
            assert!(s.contains(cmd), "{shell} completions lack {cmd}");
        }
    }
    // bash parses what we generate.
    if let Some(bash) = common::which("bash") {
        let f = ws.path("tfops.bash");
        std::fs::write(&f, ws.run(&["completions", "bash"]).stdout).unwrap();
        let o = std::process::Command::new(bash)
            .arg("-n")
            .arg(&f)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    let o = ws.run(&["man"]);
    assert_eq!(code(&o), Some(0));
    let page = stdout(&o);
    assert!(
        page.starts_with(".ie") || page.contains(".TH tfops"),
        "roff: {}",
        &page[..200.min(page.len())]
    );
    for s in [
        "TFOPS PRUNE",
        "dry\\-run",
        "TFOPS COMPLETIONS",
        "detailed\\-exitcode",
    ] {
        assert!(page.contains(s), "man lacks {s}");
    }
    // Neither needs a workspace.
    let dir = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(tfops_bin())
        .current_dir(dir.path())
        .args(["completions", "fish"])
        .env_remove("TFOPS_ROOT")
        .output()
        .unwrap();
    assert_eq!(code(&o), Some(0), "{}", text(&o));
}

// ------------------------------------------------------------------------------------------
// restore latest, prune, retention, sizes

#[test]
fn restore_latest_is_restore_dash_dash_latest() {
    let ws = Ws::bundled();
    assert_eq!(code(&ws.run(&["backup"])), Some(0));
    let state = ws.path("iac/terraform.tfstate");
    let before = std::fs::read(&state).unwrap();
    std::fs::remove_file(&state).unwrap();
    let o = ws.run(&["restore", "latest", "--yes"]);
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    assert_eq!(std::fs::read(&state).unwrap(), before);
}

/// Regression (#10): snapshots of an unchanged state counted against keep_last, so repeating
/// `tfops backup` (cron, or SIGUSR1 to the daemon) pruned every older, different state.
#[test]
fn repeated_backups_of_an_unchanged_state_never_evict_older_states() {
    let ws = Ws::bundled();
    ws.write_config("state {\n  keep_last = 3\n}\n");
    for serial in [10, 11, 12] {
        set_serial(&ws, serial);
        assert_eq!(code(&ws.run(&["backup"])), Some(0));
    }
    for _ in 0..8 {
        assert_eq!(code(&ws.run(&["backup"])), Some(0));
    }
    // Folder names sort `_10` before `_2` within one second: compare as a set, not in order.
    let mut serials: Vec<u64> = ws
        .snapshots()
        .iter()
        .map(|d| {
            let m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(d.join("meta.json")).unwrap()).unwrap();
            m["serial"].as_u64().unwrap()
        })
        .collect();
    serials.sort_unstable();
    assert_eq!(serials, vec![10, 11, 12], "one snapshot per distinct state");
}

#[test]
fn prune_dry_run_says_why_and_removes_nothing() {
    let ws = Ws::bundled();
    for serial in [20, 21, 22, 23] {
        set_serial(&ws, serial);
        assert_eq!(code(&ws.run(&["backup"])), Some(0));
    }
    ws.write_config("state {\n  keep_last = 2\n}\n");
    let o = ws.run(&["prune", "--dry-run"]);
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[0].starts_with("would drop") && lines[0].contains("older than"),
        "{out}"
    );
    assert!(lines[1].starts_with("would drop"), "{out}");
    assert!(
        lines[2].starts_with("keep") && lines[2].contains("keep_last 2: distinct state 2 of 2"),
        "{out}"
    );
    assert!(lines[3].contains("the newest valid snapshot"), "{out}");
    assert_eq!(ws.snapshots().len(), 4, "dry run removes nothing");
    let o = ws.run(&["prune"]);
    assert_eq!(code(&o), Some(0), "{}", text(&o));
    assert!(stdout(&o).contains("2 kept, 2 dropped"), "{}", text(&o));
    assert_eq!(ws.snapshots().len(), 2);
}

#[test]
fn sizes_are_kib() {
    let ws = Ws::bundled();
    let n = std::fs::metadata(ws.path("iac/terraform.tfstate"))
        .unwrap()
        .len();
    let o = ws.run(&["backup"]);
    let out = stdout(&o);
    if n >= 1024 {
        assert!(out.contains(" KiB"), "{out}");
    }
    assert!(!out.contains(" kB") && !out.contains(" MB"), "{out}");
}

// ------------------------------------------------------------------------------------------
// Config errors point where the problem starts and say what was expected

/// The bundled config with line `n` (1-based) replaced.
fn config_with_line(n: usize, replace: impl Fn(&str) -> String) -> String {
    let text = std::fs::read_to_string(common::repo_root().join("config/tfops.hcl")).unwrap();
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            if i + 1 == n {
                replace(l)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn check_says(ws: &Ws, want_line: usize, want: &str) {
    let o = ws.run(&["config", "check"]);
    assert_eq!(code(&o), Some(1), "{}", text(&o));
    let err = stderr(&o);
    let first = err.lines().next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("config/tfops.hcl:{want_line}:")),
        "want line {want_line}: {err}"
    );
    assert!(first.contains(want), "want {want:?}: {err}");
}

/// Regression (#13): an unclosed quote on line N was reported on the next line; a missing `}`
/// at the end of the file; `count = three` as "must be a literal value".
#[test]
fn config_errors_point_where_the_problem_starts() {
    let ws = Ws::bundled();
    let text = std::fs::read_to_string(common::repo_root().join("config/tfops.hcl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // An unclosed quote: the `strategy` line.
    let n = lines
        .iter()
        .position(|l| l.trim_start().starts_with("strategy"))
        .unwrap()
        + 1;
    ws.write_config(&config_with_line(n, |l| {
        l.replacen("round_robin\"", "round_robin", 1)
    }));
    check_says(&ws, n, "unclosed string");
    // A missing `}`: the `health` block's.
    let open = lines
        .iter()
        .position(|l| l.starts_with("health {"))
        .unwrap()
        + 1;
    let close = open
        + lines[open..]
            .iter()
            .position(|l| l.starts_with('}'))
            .unwrap()
        + 1;
    ws.write_config(&config_with_line(close, |_| String::new()));
    check_says(&ws, open, "missing `}`");
    // A word where a number goes.
    let n = lines.iter().position(|l| l.contains("count  = 3")).unwrap() + 1;
    ws.write_config(&config_with_line(n, |l| l.replace("= 3", "= three")));
    check_says(&ws, n, "expected a number, found `three`");
}
