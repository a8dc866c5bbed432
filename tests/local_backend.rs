//! `backend "local" { path, workspace_dir }`: tfops protects the file Terraform uses (checked
//! with real Terraform 1.11, which runs `terraform_data` offline), in every workspace, from
//! the init record or from the block; a path outside the workspace is refused, never followed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{text, wait_until, Ws};

fn tf(bin: &Path, ws: &Ws, args: &[&str]) -> Output {
    let rc = ws.path(".terraformrc");
    let _ = std::fs::write(&rc, "");
    Command::new(bin)
        .args(args)
        .current_dir(ws.path("iac"))
        .env("TF_CLI_CONFIG_FILE", &rc)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env_remove("TF_WORKSPACE")
        .output()
        .expect("run terraform")
}

fn ok(o: Output) -> Output {
    assert!(o.status.success(), "{}", text(&o));
    o
}

fn tfops(ws: &Ws, args: &[&str]) -> Output {
    ws.cmd()
        .env_remove("TF_WORKSPACE")
        .args(args)
        .output()
        .unwrap()
}

fn config(backend: &str) -> String {
    format!(
        r#"terraform {{
  backend "local" {{
{backend}
  }}
}}

resource "terraform_data" "web" {{
  input = "web"
}}

resource "terraform_data" "db" {{
  input = {{ size = 2 }}
}}
"#
    )
}

fn local_ws(backend: &str) -> Ws {
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac")).unwrap();
    std::fs::write(ws.path("iac/main.tf"), config(backend)).unwrap();
    ws.write_config("state {\n  grace = \"1s\"\n  auto_restore = true\n}\n");
    ws
}

fn snapshot_serials(dir: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(e.path().join("meta.json")).ok()?).ok()?;
            m["serial"].as_u64()
        })
        .collect();
    v.sort();
    v
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn status_alarms(ws: &Ws) -> String {
    let o = tfops(ws, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v["alarms"].to_string()
}

#[test]
fn the_state_file_a_local_backend_names_is_the_one_protected_in_every_workspace() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    let ws =
        local_ws("    path          = \"state/prod.tfstate\"\n    workspace_dir = \"../tfstates\"");
    ok(tf(&bin, &ws, &["init", "-input=false"]));
    ok(tf(&bin, &ws, &["apply", "-auto-approve", "-input=false"]));
    let prod = ws.path("iac/state/prod.tfstate");
    assert!(
        prod.is_file(),
        "terraform wrote its state where the backend says"
    );
    assert!(!ws.path("iac/terraform.tfstate").exists());

    // status names it.
    let o = tfops(&ws, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["protected_state"],
        serde_json::json!({"backend": "local", "location": "iac/state/prod.tfstate", "workspace": "default"})
    );
    // drift compares with that file: in sync (before, everything was "to create").
    let o = tfops(&ws, &["drift", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // backup snapshots it; restore puts it back where Terraform reads it.
    ok(tfops(&ws, &["backup"]));
    assert_eq!(ws.snapshots().len(), 1);
    std::fs::remove_file(&prod).unwrap();
    let o = tfops(&ws, &["verify"]);
    assert!(o.status.success(), "{}", text(&o));
    ok(tfops(&ws, &["restore", "--latest", "--yes"]));
    assert!(prod.is_file());
    let o = tf(
        &bin,
        &ws,
        &[
            "plan",
            "-refresh=false",
            "-detailed-exitcode",
            "-input=false",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !ws.path("iac/terraform.tfstate").exists(),
        "nothing written where Terraform does not look"
    );

    // Another workspace: `<workspace_dir>/<name>/terraform.tfstate`, snapshots in backups/dev/.
    ok(tf(&bin, &ws, &["workspace", "new", "dev"]));
    std::fs::write(
        ws.path("iac/extra.tf"),
        "resource \"terraform_data\" \"dev_only\" {}\n",
    )
    .unwrap();
    ok(tf(&bin, &ws, &["apply", "-auto-approve", "-input=false"]));
    let dev = ws.path("tfstates/dev/terraform.tfstate");
    assert!(dev.is_file());
    // .terraform/environment now says dev: tfops follows it, as Terraform does.
    let o = tfops(&ws, &["drift", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    ok(tfops(&ws, &["backup"]));
    let dev_serials = snapshot_serials(&ws.path("backups/dev"));
    let dev_state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&dev).unwrap()).unwrap();
    assert_eq!(dev_serials, vec![dev_state["serial"].as_u64().unwrap()]);
    // The default workspace, named on the command line, is still state/prod.tfstate: it
    // lacks dev_only, so it has drift.
    let o = tfops(&ws, &["--workspace", "default", "drift", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let creates: Vec<&str> = v["create"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(creates, vec!["terraform_data.dev_only"], "{v}");
    std::fs::remove_file(ws.path("iac/extra.tf")).unwrap();
    ok(tf(&bin, &ws, &["workspace", "select", "default"]));

    // The daemon protects that same file: gone, it is restored (auto_restore), and the
    // default file name it used to watch is never created.
    let child = ws
        .cmd()
        .env_remove("TF_WORKSPACE")
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _d = Daemon(child);
    assert!(wait_until(Duration::from_secs(20), || ws
        .path("balanceador/logs/status.json")
        .exists()));
    let before = std::fs::read(&prod).unwrap();
    std::fs::remove_file(&prod).unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || std::fs::read(&prod)
            .is_ok_and(|b| b == before)),
        "the daemon did not restore {}: {}",
        prod.display(),
        status_alarms(&ws)
    );
    assert!(!ws.path("iac/terraform.tfstate").exists());
}

#[test]
fn the_init_record_wins_over_the_block_as_for_terraform() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    let ws = local_ws("    path = \"recorded.tfstate\"");
    ok(tf(&bin, &ws, &["init", "-input=false"]));
    ok(tf(&bin, &ws, &["apply", "-auto-approve", "-input=false"]));
    // The block is edited without `terraform init`: Terraform still uses the recorded path
    // (it asks for an init before any plan), and so does tfops.
    std::fs::write(
        ws.path("iac/main.tf"),
        config("    path = \"edited.tfstate\""),
    )
    .unwrap();
    ok(tfops(&ws, &["backup"]));
    let o = tfops(&ws, &["backups", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path("iac/recorded.tfstate")).unwrap()).unwrap();
    assert_eq!(v["snapshots"][0]["lineage"], recorded["lineage"], "{v}");
}

#[test]
fn a_local_backend_path_outside_the_workspace_is_refused_never_followed() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim.tfstate");
    std::fs::write(&victim, "precious, not a state\n").unwrap();
    let cases: Vec<(String, Option<PathBuf>)> = vec![
        (format!("    path = \"{}\"", victim.display()), None),
        (
            "    path = \"../../../../../../../../tmp/x.tfstate\"".into(),
            None,
        ),
        (
            "    workspace_dir = \"../..\"".into(),
            None, // the default workspace's file is inside; `--workspace w` would not be
        ),
        (
            "    path = \"linked/prod.tfstate\"".into(),
            Some(outside.path().to_path_buf()),
        ),
    ];
    for (backend, link) in cases {
        let ws = local_ws(&backend);
        if let Some(target) = &link {
            std::os::unix::fs::symlink(target, ws.path("iac/linked")).unwrap();
        }
        let ws_args: &[&str] = if backend.contains("workspace_dir") {
            &["--workspace", "w"]
        } else {
            &[]
        };
        for cmd in [
            &["backup"][..],
            &["drift"],
            &["restore", "--latest", "--yes"],
        ] {
            let args: Vec<&str> = ws_args.iter().chain(cmd).copied().collect();
            let o = tfops(&ws, &args);
            assert_eq!(o.status.code(), Some(1), "{backend} {args:?}: {}", text(&o));
            assert!(
                text(&o).contains("outside the workspace"),
                "{backend} {args:?}: {}",
                text(&o)
            );
        }
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "precious, not a state\n"
        );
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 1);
        // status still works, and says why nothing is protected.
        let args: Vec<&str> = ws_args
            .iter()
            .chain(&["status", "--json"])
            .copied()
            .collect();
        let o = tfops(&ws, &args);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let e = v["protected_state"]["error"].as_str().unwrap_or_default();
        assert!(e.contains("outside the workspace"), "{v}");
    }

    // The daemon: an alarm that says why, and nothing protected in the meantime (no local
    // fallback to iac/terraform.tfstate, which Terraform would not use either).
    let ws = local_ws(&format!("    path = \"{}\"", victim.display()));
    let child = ws
        .cmd()
        .env_remove("TF_WORKSPACE")
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _d = Daemon(child);
    assert!(
        wait_until(Duration::from_secs(20), || {
            let a = status_alarms(&ws);
            a.contains("\"state\"") && a.contains("outside the workspace")
        }),
        "{}",
        status_alarms(&ws)
    );
    std::thread::sleep(Duration::from_secs(2)); // past the grace
    assert!(!status_alarms(&ws).contains("state_restored"));
    assert!(!ws.path("iac/terraform.tfstate").exists());
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "precious, not a state\n"
    );
}

/// `TF_DATA_DIR` moves Terraform's `.terraform` folder: the init record (here the only place
/// that knows the path, given with `-backend-config`) and the selected workspace are read
/// from there.
#[test]
fn tf_data_dir_holds_the_init_record_and_the_selected_workspace() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    let ws = local_ws("");
    let data = |c: &mut Command| {
        c.env("TF_DATA_DIR", "tfdata");
    };
    let run_tf = |args: &[&str]| {
        let rc = ws.path(".terraformrc");
        let _ = std::fs::write(&rc, "");
        let mut c = Command::new(&bin);
        c.args(args)
            .current_dir(ws.path("iac"))
            .env("TF_CLI_CONFIG_FILE", &rc)
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1")
            .env_remove("TF_WORKSPACE");
        data(&mut c);
        ok(c.output().unwrap())
    };
    run_tf(&["init", "-input=false", "-backend-config=path=st/x.tfstate"]);
    run_tf(&["apply", "-auto-approve", "-input=false"]);
    assert!(ws.path("iac/tfdata/terraform.tfstate").is_file());
    assert!(ws.path("iac/st/x.tfstate").is_file());
    let with_data = |args: &[&str]| {
        let mut c = ws.cmd();
        c.env_remove("TF_WORKSPACE").args(args);
        data(&mut c);
        c.output().unwrap()
    };
    let o = with_data(&["drift", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = with_data(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["protected_state"]["location"], "iac/st/x.tfstate", "{v}");
    // `terraform workspace new dev` writes tfdata/environment: tfops follows it.
    run_tf(&["workspace", "new", "dev"]);
    run_tf(&["apply", "-auto-approve", "-input=false"]);
    let o = with_data(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["protected_state"],
        serde_json::json!({"backend": "local", "location": "iac/terraform.tfstate.d/dev/terraform.tfstate", "workspace": "dev"})
    );
    let o = with_data(&["drift", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_dotdot_after_a_link_is_where_terraform_says_never_where_the_text_folds() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    // iac/lnk leads out: for `path`, Terraform opens lnk/../t.tfstate through the system, the
    // parent of the link's target (outside); `workspace_dir` it folds by text (iac/wsd).
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir(outside.path().join("sub")).unwrap();
    let ws =
        local_ws("    path          = \"lnk/../t.tfstate\"\n    workspace_dir = \"lnk/../wsd\"");
    std::os::unix::fs::symlink(outside.path().join("sub"), ws.path("iac/lnk")).unwrap();
    ok(tf(&bin, &ws, &["init", "-input=false"]));
    ok(tf(&bin, &ws, &["apply", "-auto-approve", "-input=false"]));
    assert!(outside.path().join("t.tfstate").is_file());
    assert!(!ws.path("iac/t.tfstate").exists());
    let o = tfops(&ws, &["--workspace", "default", "backup"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("outside the workspace"), "{}", text(&o));
    assert!(snapshot_serials(&ws.path("backups")).is_empty());

    ok(tf(&bin, &ws, &["workspace", "new", "dev"]));
    ok(tf(&bin, &ws, &["apply", "-auto-approve", "-input=false"]));
    let dev = ws.path("iac/wsd/dev/terraform.tfstate");
    assert!(
        dev.is_file(),
        "terraform wrote the dev state by the folded text"
    );
    ok(tfops(&ws, &["--workspace", "dev", "backup"]));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&dev).unwrap()).unwrap();
    assert_eq!(
        snapshot_serials(&ws.path("backups/dev")),
        vec![v["serial"].as_u64().unwrap()]
    );
}

#[test]
fn a_root_module_folder_the_operator_put_outside_the_workspace_keeps_working() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    // `drift.dir` (here the default `iac`) may be a link, followed: to a folder outside the
    // workspace. A block that spells out Terraform's default file must not make tfops refuse
    // the state it protected before.
    let elsewhere = tempfile::tempdir().unwrap();
    let ws = Ws::empty();
    std::fs::write(
        elsewhere.path().join("main.tf"),
        config("    path = \"terraform.tfstate\""),
    )
    .unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), ws.path("iac")).unwrap();
    ws.write_config("state {\n  grace = \"1s\"\n}\n");
    ok(tf(&bin, &ws, &["init", "-input=false"]));
    ok(tf(&bin, &ws, &["apply", "-auto-approve", "-input=false"]));
    let state = elsewhere.path().join("terraform.tfstate");
    let before = std::fs::read(&state).unwrap();
    ok(tfops(&ws, &["backup"]));
    std::fs::remove_file(&state).unwrap();
    ok(tfops(&ws, &["restore", "--latest", "--yes"]));
    assert_eq!(std::fs::read(&state).unwrap(), before);
    ok(tfops(&ws, &["verify"]));
}

#[test]
fn links_that_stay_inside_the_workspace_are_followed_by_restore_as_by_terraform() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    // The root module is a link (`drift.dir` may be one), and so is the state's folder in it;
    // both lead to folders inside the workspace.
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("envs/prod")).unwrap();
    std::fs::create_dir_all(ws.path("shared/states")).unwrap();
    std::fs::write(
        ws.path("envs/prod/main.tf"),
        config("    path = \"states/prod.tfstate\""),
    )
    .unwrap();
    std::os::unix::fs::symlink("envs/prod", ws.path("iac")).unwrap();
    std::os::unix::fs::symlink("../../shared/states", ws.path("envs/prod/states")).unwrap();
    ws.write_config("state {\n  grace = \"1s\"\n}\n");
    ok(tf(&bin, &ws, &["init", "-input=false"]));
    ok(tf(&bin, &ws, &["apply", "-auto-approve", "-input=false"]));
    let state = ws.path("shared/states/prod.tfstate");
    let before = std::fs::read(&state).unwrap();
    ok(tfops(&ws, &["backup"]));
    std::fs::remove_file(&state).unwrap();
    ok(tfops(&ws, &["restore", "--latest", "--yes"]));
    assert_eq!(std::fs::read(&state).unwrap(), before);
    let o = tf(
        &bin,
        &ws,
        &[
            "plan",
            "-refresh=false",
            "-detailed-exitcode",
            "-input=false",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn a_dotdot_from_a_linked_root_module_is_the_parent_terraform_uses() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    // iac -> envs/prod: for Terraform, running there, `../shared.tfstate` is envs/shared.tfstate
    // (the parent of the link's target), inside the workspace; not ws/shared.tfstate.
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("envs/prod")).unwrap();
    std::fs::write(
        ws.path("envs/prod/main.tf"),
        config("    path = \"../shared.tfstate\""),
    )
    .unwrap();
    std::os::unix::fs::symlink("envs/prod", ws.path("iac")).unwrap();
    ws.write_config("state {\n  grace = \"1s\"\n}\n");
    ok(tf(&bin, &ws, &["init", "-input=false"]));
    ok(tf(&bin, &ws, &["apply", "-auto-approve", "-input=false"]));
    let state = ws.path("envs/shared.tfstate");
    let before = std::fs::read(&state).unwrap();
    assert!(!ws.path("shared.tfstate").exists());
    ok(tfops(&ws, &["backup"]));
    std::fs::remove_file(&state).unwrap();
    ok(tfops(&ws, &["restore", "--latest", "--yes"]));
    assert_eq!(std::fs::read(&state).unwrap(), before);
    assert!(!ws.path("shared.tfstate").exists());
}

#[test]
fn a_local_backend_path_in_tfops_own_folders_is_refused() {
    // A state that was protected, then a `.tf` edit that points the backend at tfops' own
    // configuration: a restore (or the daemon's auto_restore) would replace it with the state.
    let ws = local_ws("    path = \"s.tfstate\"");
    std::fs::write(
        ws.path("iac/s.tfstate"),
        r#"{"version":4,"terraform_version":"1.11.4","serial":3,"lineage":"l-1","outputs":{},"resources":[]}"#,
    )
    .unwrap();
    ok(tfops(&ws, &["backup"]));
    std::fs::write(
        ws.path("iac/main.tf"),
        config("    path = \"../config/tfops.hcl\""),
    )
    .unwrap();
    let before = std::fs::read(ws.path("config/tfops.hcl")).unwrap();
    for cmd in [&["restore", "--latest", "--yes"][..], &["backup"]] {
        let o = tfops(&ws, cmd);
        assert_eq!(o.status.code(), Some(1), "{cmd:?}: {}", text(&o));
        assert!(text(&o).contains("tfops' own folder"), "{}", text(&o));
    }
    assert_eq!(std::fs::read(ws.path("config/tfops.hcl")).unwrap(), before);
    assert_eq!(std::fs::read_dir(ws.path("config")).unwrap().count(), 1);
}

/// A backend declared in Terraform's JSON syntax (`*.tf.json`) is read as Terraform reads it.
#[test]
fn a_backend_in_a_tf_json_file_is_read() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    for (name, json) in [
        (
            "main.tf.json",
            r#"{"terraform": {"backend": {"local": {"path": "j.tfstate"}}}, "resource": {"terraform_data": {"a": {"input": "x"}}}}"#,
        ),
        (
            "main.tf.json",
            r#"{"terraform": [{"backend": [{"local": [{"path": "j.tfstate"}]}]}], "resource": {"terraform_data": {"a": {"input": "x"}}}}"#,
        ),
    ] {
        let ws = Ws::empty();
        std::fs::create_dir_all(ws.path("iac")).unwrap();
        std::fs::write(ws.path("iac").join(name), json).unwrap();
        ws.write_config("");
        ok(tf(&bin, &ws, &["init", "-input=false"]));
        ok(tf(&bin, &ws, &["apply", "-auto-approve", "-input=false"]));
        assert!(ws.path("iac/j.tfstate").is_file());
        // Without the init record, from the file itself.
        std::fs::remove_dir_all(ws.path("iac/.terraform")).unwrap();
        let o = tfops(&ws, &["status", "--json"]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(
            v["protected_state"]["location"], "iac/j.tfstate",
            "{json}: {v}"
        );
        let o = tfops(&ws, &["drift", "--detailed-exitcode"]);
        assert_eq!(o.status.code(), Some(0), "{json}: {}", text(&o));
    }
}
