//! `tfops scenario run` / `revert` as a black box: shipped scenarios hold, the workspace is
//! left byte-identical (on a copy, in place, after Ctrl-C, after kill -9 and the next
//! command), exit codes 0 / 1 / 3.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{text, Ws};

fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for d in ["iac", "config", "config/scenarios"] {
        for e in std::fs::read_dir(root.join(d)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                v.push((
                    format!("{d}/{}", p.file_name().unwrap().to_string_lossy()),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    v.sort();
    v
}

const SHIPPED: &[&str] = &[
    "rename_service_1",
    "change_trigger",
    "remove_service_3",
    "add_service_4",
    "lost_state",
    "corrupt_state",
];

#[test]
fn shipped_scenarios_hold_on_a_copy_and_touch_nothing() {
    let ws = Ws::bundled();
    let before = snapshot(ws.root());
    for name in SHIPPED {
        let o = ws.run(&["scenario", "run", &format!("config/scenarios/{name}.hcl")]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("held"), "{name}: {out}");
        assert!(!out.contains("DID NOT HOLD"), "{name}: {out}");
        assert_eq!(snapshot(ws.root()), before, "{name} touched the workspace");
        assert!(!ws.path("logs").exists() && !ws.path(".tfops/scenario.journal").exists());
    }
}

#[test]
fn shipped_scenarios_hold_in_place_and_everything_is_put_back() {
    let ws = Ws::bundled();
    let before = snapshot(ws.root());
    for name in SHIPPED {
        // By name, as config/scenarios/ resolves it.
        let o = ws.run(&["scenario", "run", name, "--in-place"]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("put back"));
        assert_eq!(snapshot(ws.root()), before, "{name} left a change");
        assert!(!ws.path(".tfops/scenario.journal").exists());
    }
}

#[test]
fn rename_prints_each_expectation_with_its_result() {
    let ws = Ws::bundled();
    let o = ws.run(&["scenario", "run", "config/scenarios/rename_service_1.hcl"]);
    let out = String::from_utf8_lossy(&o.stdout);
    for line in [
        "create = [\"terraform_data.service_1_drift\"]  held",
        "destroy = [\"terraform_data.service_1\"]  held",
        "exit_code = 2  held",
        "terraform state mv 'terraform_data.service_1' 'terraform_data.service_1_drift'",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
}

#[test]
fn an_expectation_that_does_not_hold_exits_1() {
    let ws = Ws::bundled();
    std::fs::write(
        ws.path("s.hcl"),
        "rename {\n  from = \"terraform_data.service_1\"\n  to   = \"terraform_data.x\"\n}\nexpect {\n  create    = 2\n  exit_code = 2\n}\n",
    )
    .unwrap();
    let o = ws.run(&["scenario", "run", "s.hcl"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("create = 2  DID NOT HOLD (got 1)"), "{out}");
    assert!(out.contains("exit_code = 2  held"), "{out}");
}

#[test]
fn a_broken_scenario_exits_3_naming_the_position() {
    let ws = Ws::bundled();
    let before = snapshot(ws.root());
    let cases = [
        ("rename {\n  from = \"terraform_data.service_1\"\n  to = \n}\n", "s.hcl:3:"),
        ("remove {\n  address = \"null_resource.nope\"\n}\n", "s.hcl:1:1"),
        ("\nbogus {}\n", "s.hcl:2:1"),
        ("set {\n  address = \"terraform_data.service_1\"\n  attribute = \"x\"\n  valu = 1\n}\n", "s.hcl:4:3"),
        ("corrupt_state {\n  truncate_to = 999999\n}\n", "s.hcl:1:1"),
        ("rename {\n  from = \"terraform_data.service_1\"\n  to   = \"terraform_data.service_2\"\n}\n", "already exists"),
    ];
    for (body, want) in cases {
        std::fs::write(ws.path("s.hcl"), body).unwrap();
        for args in [
            &["scenario", "run", "s.hcl"][..],
            &["scenario", "run", "s.hcl", "--in-place"][..],
        ] {
            let o = ws.run(args);
            assert_eq!(o.status.code(), Some(3), "{body}: {}", text(&o));
            assert!(
                String::from_utf8_lossy(&o.stderr).contains(want),
                "{body}: want {want}: {}",
                text(&o)
            );
        }
    }
    std::fs::remove_file(ws.path("s.hcl")).unwrap();
    assert_eq!(snapshot(ws.root()), before);
}

#[test]
fn keep_leaves_the_result_with_originals_and_revert_undoes_it() {
    use std::os::unix::fs::PermissionsExt;
    let ws = Ws::bundled();
    let before = snapshot(ws.root());
    std::fs::write(
        ws.path("both.hcl"),
        "rename {\n  from = \"terraform_data.service_1\"\n  to   = \"terraform_data.service_1_drift\"\n}\ncorrupt_state {\n  truncate_to = 10\n}\n",
    )
    .unwrap();
    let o = ws.run(&["scenario", "run", "both.hcl", "--keep"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(std::fs::read_to_string(ws.path("iac/main.tf"))
        .unwrap()
        .contains("service_1_drift"));
    assert_eq!(
        std::fs::read(ws.path("iac/terraform.tfstate"))
            .unwrap()
            .len(),
        10
    );
    let orig = ws.path("iac/terraform.tfstate.orig");
    assert_eq!(
        std::fs::metadata(&orig).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(ws.path("iac/main.tf.orig").exists());
    // Another command does not undo a kept scenario; a second in-place run is refused.
    let d = ws.run(&["drift"]);
    assert_eq!(d.status.code(), Some(1), "corrupt state: {}", text(&d));
    assert!(std::fs::read_to_string(ws.path("iac/main.tf"))
        .unwrap()
        .contains("service_1_drift"));
    let again = ws.run(&["scenario", "run", "rename_service_1", "--in-place"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("scenario revert"),
        "{}",
        text(&again)
    );
    let r = ws.run(&["scenario", "revert"]);
    assert_eq!(r.status.code(), Some(0), "{}", text(&r));
    std::fs::remove_file(ws.path("both.hcl")).unwrap();
    let _ = std::fs::remove_dir_all(ws.path("logs"));
    assert_eq!(snapshot(ws.root()), before);
    assert!(!orig.exists());
}

fn wait_for(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_run_killed_mid_way_is_healed_by_the_next_command() {
    let ws = Ws::bundled();
    let before = snapshot(ws.root());
    let mut child = ws
        .cmd()
        .args(["scenario", "run", "rename_service_1", "--in-place"])
        .env("TFOPS_TEST_SCENARIO_PAUSE_MS", "30000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let main_tf = ws.path("iac/main.tf");
    wait_for("the rewrite", || {
        std::fs::read_to_string(&main_tf).is_ok_and(|t| t.contains("service_1_drift"))
    });
    assert!(ws.path(".tfops/scenario.journal").exists());
    // While it runs, another command leaves its files alone.
    let o = ws.run(&["drift", "--json"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(std::fs::read_to_string(&main_tf)
        .unwrap()
        .contains("service_1_drift"));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        std::fs::read_to_string(&main_tf)
            .unwrap()
            .contains("service_1_drift"),
        "nothing heals before the next command"
    );
    let o = ws.run(&["drift", "--detailed-exitcode"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "healed first, then in sync: {}",
        text(&o)
    );
    let _ = std::fs::remove_dir_all(ws.path("logs"));
    assert_eq!(snapshot(ws.root()), before);
    assert!(!ws.path(".tfops/scenario.journal").exists());
}

#[test]
fn ctrl_c_puts_everything_back() {
    let ws = Ws::bundled();
    let before = snapshot(ws.root());
    let child = ws
        .cmd()
        .args(["scenario", "run", "lost_state", "--in-place"])
        .env("TFOPS_TEST_SCENARIO_PAUSE_MS", "30000")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let state = ws.path("iac/terraform.tfstate");
    wait_for("the state to go", || !state.exists());
    // SAFETY: sending SIGINT to our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("put back"),
        "{}",
        text(&o)
    );
    assert_eq!(snapshot(ws.root()), before);
}

#[test]
fn ctrl_c_on_a_copy_removes_the_copy() {
    let ws = Ws::bundled();
    let before = snapshot(ws.root());
    let tmp = tempfile::tempdir().unwrap();
    let child = ws
        .cmd()
        .args(["scenario", "run", "rename_service_1"])
        .env("TFOPS_TEST_SCENARIO_PAUSE_MS", "30000")
        .env("TMPDIR", tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the copy", || {
        std::fs::read_dir(tmp.path())
            .unwrap()
            .next()
            .is_some_and(|e| e.unwrap().path().join("iac/main.tf").exists())
    });
    // SAFETY: sending SIGINT to our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        0,
        "the copy is removed"
    );
    assert_eq!(snapshot(ws.root()), before);
}

/// `drift.ignore` and `.driftignore` (here a link to a file inside the workspace) decide in a
/// scenario run as they do in `tfops drift`: on the copy and in place alike.
#[test]
fn ignore_rules_apply_in_scenario_runs_as_in_drift() {
    let ws = Ws::bundled();
    let cfg = std::fs::read_to_string(ws.path("config/tfops.hcl")).unwrap();
    let cfg = cfg.replace(
        "  keep_reports = 100",
        "  ignore       = [\"terraform_data.service_2.input\"]\n  keep_reports = 100",
    );
    assert!(cfg.contains("service_2.input"));
    ws.write_config(&cfg);
    std::fs::write(ws.path("shared.driftignore"), "terraform_data.scratch_*\n").unwrap();
    std::os::unix::fs::symlink(ws.path("shared.driftignore"), ws.path("iac/.driftignore")).unwrap();
    std::fs::write(
        ws.path("s.hcl"),
        r#"set {
  address   = "terraform_data.service_2"
  attribute = "input"
  value     = "service_2-v2"
}
add {
  file  = "main.tf"
  block = <<EOT
resource "terraform_data" "scratch_1" {
  input = "s"
}
EOT
}
expect {
  create    = 0
  update    = 0
  ignored   = ["terraform_data.scratch_1", "terraform_data.service_2"]
  exit_code = 0
}
"#,
    )
    .unwrap();
    let before = snapshot(ws.root());
    for args in [
        &["scenario", "run", "s.hcl"][..],
        &["scenario", "run", "s.hcl", "--in-place"][..],
    ] {
        let o = ws.run(args);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o));
        assert!(out.contains("2 ignored (1 by `terraform_data.scratch_*` (iac/.driftignore:1), 1 by `terraform_data.service_2.input` (config/tfops.hcl: drift.ignore[0]))"), "{args:?}: {out}");
        assert_eq!(snapshot(ws.root()), before, "{args:?} left a change");
    }
    // The same edit, made for real, and `tfops drift` agrees.
    let o = ws.run(&["scenario", "run", "s.hcl", "--keep"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let d = ws.run(&["drift", "--json", "--detailed-exitcode"]);
    assert_eq!(d.status.code(), Some(0), "{}", text(&d));
    let r: serde_json::Value = serde_json::from_slice(&d.stdout).unwrap();
    assert_eq!(r["summary"]["ignored"], 2, "{r:#}");
    assert_eq!(ws.run(&["scenario", "revert"]).status.code(), Some(0));
    // A `.driftignore` that `tfops drift` refuses (a link out of the workspace) is refused by
    // a scenario run too: no detection, not a run without the rules.
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "*\n").unwrap();
    std::fs::remove_file(ws.path("iac/.driftignore")).unwrap();
    std::os::unix::fs::symlink(outside.path(), ws.path("iac/.driftignore")).unwrap();
    for args in [
        &["scenario", "run", "s.hcl"][..],
        &["scenario", "run", "s.hcl", "--in-place"][..],
    ] {
        let o = ws.run(args);
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(
            out.contains("Drift detection failed") && out.contains("outside the workspace"),
            "{args:?}: {out}"
        );
    }
    assert_eq!(ws.run(&["drift"]).status.code(), Some(1));
}

/// A workspace with a local child module and a file read by `file()`: the scenario's copy
/// holds only the module folder's own files, yet the run reads the child module and the file
/// where they are, as `tfops drift` does.
#[test]
fn a_scenario_on_a_copy_reads_child_modules_and_files_where_they_are() {
    let ws = Ws::bundled();
    let main = std::fs::read_to_string(ws.path("iac/main.tf")).unwrap();
    std::fs::write(
        ws.path("iac/main.tf"),
        format!("{main}\nmodule \"app\" {{\n  source = \"./modules/app\"\n}}\nresource \"terraform_data\" \"f\" {{\n  count = length(file(\"${{path.module}}/note.txt\")) > 0 ? 1 : 0\n}}\n"),
    )
    .unwrap();
    std::fs::create_dir_all(ws.path("iac/modules/app")).unwrap();
    std::fs::write(
        ws.path("iac/modules/app/main.tf"),
        "resource \"terraform_data\" \"a\" {}\n",
    )
    .unwrap();
    std::fs::write(ws.path("iac/note.txt"), "hello").unwrap();
    let d = ws.run(&["drift", "--json"]);
    assert_eq!(d.status.code(), Some(0), "{}", text(&d));
    let r: serde_json::Value = serde_json::from_slice(&d.stdout).unwrap();
    assert_eq!(r["summary"]["unknown"], 0, "{r:#}");
    assert_eq!(r["summary"]["create"], 2, "{r:#}");
    for args in [
        &["scenario", "run", "config/scenarios/rename_service_1.hcl"][..],
        &[
            "scenario",
            "run",
            "config/scenarios/rename_service_1.hcl",
            "--in-place",
        ][..],
    ] {
        let o = ws.run(args);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("+ module.app.terraform_data.a") && out.contains("+ terraform_data.f[0]"),
            "{args:?}: {}",
            text(&o)
        );
        assert!(out.contains("0 unknown"), "{args:?}: {out}");
    }
}
