//! The DriftActor inside the running daemon (`tfops run`): a report at start, a drill
//! (`scenario run --in-place`) noticed through file events, the put-back noticed too, broken
//! HCL raised as the `drift` alarm in `status`, and a clean SIGTERM.

mod common;

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{text, Ws};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn reports(ws: &Ws) -> Vec<serde_json::Value> {
    let mut names: Vec<_> = std::fs::read_dir(ws.path("logs"))
        .map(|rd| {
            rd.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
        .iter()
        .filter_map(|p| serde_json::from_slice(&std::fs::read(p).ok()?).ok())
        .collect()
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_daemon_detects_at_start_notices_a_drill_and_its_undo() {
    let ws = Ws::bundled();
    ws.write_config("drift {\n  interval = \"1h\"\n}\n");
    let child = ws
        .cmd()
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tfops run");
    let mut d = Daemon(child);
    wait_for("the report at start", || {
        reports(&ws).iter().any(|r| r["summary"]["in_sync"] == 3)
    });

    // The drill: the daemon sees the rename while the scenario pauses…
    let drill = ws
        .cmd()
        .args(["scenario", "run", "rename_service_1", "--in-place"])
        .env("TFOPS_TEST_SCENARIO_PAUSE_MS", "3000")
        .output()
        .unwrap();
    assert_eq!(drill.status.code(), Some(0), "{}", text(&drill));
    wait_for("the drill to be noticed", || {
        reports(&ws).iter().any(|r| r["summary"]["renamed"] == 1)
    });
    // …and the put-back: the newest report is in sync again.
    wait_for("the undo to be noticed", || {
        reports(&ws)
            .last()
            .is_some_and(|r| r["summary"]["in_sync"] == 3 && r["summary"]["create"] == 0)
    });

    // Broken HCL: a failed run raises the `drift` alarm and writes no report (#13).
    let main_tf = ws.path("iac/main.tf");
    let good = std::fs::read(&main_tf).unwrap();
    std::fs::write(&main_tf, b"resource \"null_resource\" \"x\" {\n").unwrap();
    wait_for("the drift alarm", || {
        std::fs::read(ws.path("balanceador/logs/status.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|s| {
                s["alarms"].as_array().is_some_and(|a| {
                    a.iter().any(|al| {
                        al["kind"] == "drift"
                            && al["detail"]
                                .as_str()
                                .is_some_and(|d| d.contains("iac/main.tf:"))
                    })
                })
            })
    });
    assert!(reports(&ws).iter().all(|r| r["error"].is_null()));
    std::fs::write(&main_tf, good).unwrap();
    wait_for("recovery", || {
        reports(&ws)
            .last()
            .is_some_and(|r| r["summary"]["in_sync"] == 3)
    });

    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc::kill(d.0.id() as libc::pid_t, libc::SIGTERM) };
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(s) = d.0.try_wait().unwrap() {
            assert_eq!(s.code(), Some(0));
            break;
        }
        assert!(Instant::now() < end, "no exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// With an interval of an hour, a change inside a child module's folder (two levels down, and
/// in a module added while the daemon runs) is noticed through the watcher, not the interval.
#[test]
fn the_daemon_notices_edits_inside_child_module_folders() {
    let ws = Ws::bundled();
    ws.write_config("drift {\n  interval = \"1h\"\n}\n");
    let write = |rel: &str, body: &str| {
        let p = ws.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    };
    let main = std::fs::read_to_string(ws.path("iac/main.tf")).unwrap();
    write(
        "iac/main.tf",
        &format!("{main}\nmodule \"app\" {{\n  source = \"./modules/app\"\n}}\n"),
    );
    let app =
        "resource \"terraform_data\" \"a\" {}\nmodule \"inner\" {\n  source = \"../inner\"\n}\n";
    write("iac/modules/app/main.tf", app);
    write(
        "iac/modules/inner/main.tf",
        "resource \"terraform_data\" \"i\" {}\n",
    );
    // Each run's end reaches the actor 600 ms after its report is written, so the edits
    // below land while a folder the run read is not yet watched: they must not be lost.
    let child = ws
        .cmd()
        .arg("run")
        .env("TFOPS_TEST_WATCH_DELAY_MS", "600")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tfops run");
    let _d = Daemon(child);
    let ws = &ws;
    let creates = |n: u64| {
        move || {
            reports(ws)
                .last()
                .is_some_and(|r| r["summary"]["create"] == n && r["summary"]["in_sync"] == 3)
        }
    };
    wait_for("the report at start", creates(2));
    // Two levels down: module.app.module.inner.
    write(
        "iac/modules/inner/main.tf",
        "resource \"terraform_data\" \"i\" {}\nresource \"terraform_data\" \"j\" {}\n",
    );
    wait_for("the edit of a nested module", creates(3));
    // A module called from a child, added while the daemon runs: its folder is watched once
    // a run has read it.
    write(
        "iac/modules/new/main.tf",
        "resource \"terraform_data\" \"n\" {}\n",
    );
    write(
        "iac/modules/app/main.tf",
        &format!("{app}module \"new\" {{\n  source = \"../new\"\n}}\n"),
    );
    wait_for("the new module call", creates(4));
    write(
        "iac/modules/new/extra.tf",
        "resource \"terraform_data\" \"m\" {}\n",
    );
    wait_for("the edit of the new module", creates(5));
}

/// An edit of `backend "local" { path }` moves the state the daemon compares with: the file
/// is watched from then on, and a change to it made while the daemon was still watching the
/// old one (between the run that read the new block and the new watch) is not lost.
#[test]
fn the_daemon_follows_a_local_backend_moved_to_another_file() {
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac")).unwrap();
    ws.write_config("drift {\n  interval = \"1h\"\n}\n");
    let main = |file: &str| {
        format!(
            "terraform {{\n  backend \"local\" {{\n    path = \"{file}\"\n  }}\n}}\nresource \"terraform_data\" \"x\" {{}}\n"
        )
    };
    let state = |with_x: bool| {
        let res = if with_x {
            r#"[{"mode":"managed","type":"terraform_data","name":"x","provider":"provider[\"terraform.io/builtin/terraform\"]","instances":[{"schema_version":0,"attributes":{"id":"1","input":null,"output":null,"triggers_replace":null},"sensitive_attributes":[]}]}]"#
        } else {
            "[]"
        };
        format!(
            r#"{{"version":4,"terraform_version":"1.11.4","serial":1,"lineage":"l-1","outputs":{{}},"resources":{res}}}"#
        )
    };
    std::fs::write(ws.path("iac/main.tf"), main("a.tfstate")).unwrap();
    std::fs::write(ws.path("iac/a.tfstate"), state(true)).unwrap();
    std::fs::write(ws.path("iac/b.tfstate"), state(true)).unwrap();
    let child = ws
        .cmd()
        .arg("run")
        .env("TFOPS_TEST_WATCH_DELAY_MS", "600")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn tfops run");
    let _d = Daemon(child);
    wait_for("the report at start", || {
        reports(&ws)
            .last()
            .is_some_and(|r| r["summary"]["in_sync"] == 1)
    });
    let before = reports(&ws).len();
    std::fs::write(ws.path("iac/main.tf"), main("b.tfstate")).unwrap();
    // The run that reads the new block wrote its report; its end reaches the actor 600 ms
    // later. Now the object goes from b.tfstate: to create.
    wait_for("the run that reads the new block", || {
        reports(&ws).len() > before
    });
    std::fs::write(ws.path("iac/b.tfstate"), state(false)).unwrap();
    wait_for("the change of the new state file", || {
        reports(&ws)
            .last()
            .is_some_and(|r| r["summary"]["create"] == 1 && r["state"] == "iac/b.tfstate")
    });
}
