//! Ignore rules end to end (`.driftignore` in the module folder, `drift { ignore }` in the
//! configuration): what they take out of the report is counted and listed with its rule, an
//! address whose only changes are ignored is no drift for the exit code, and a hostile
//! `.driftignore` is refused like any other workspace file. Also the progress line of
//! `tfops drift`: on a terminal only.

mod common;

use std::process::Output;
use std::time::Duration;

use common::{text, Ws};
use serde_json::{json, Value};

/// A `terraform_data` instance as Terraform writes it, `input` given as (value, type).
fn td(name: &str, input: (Value, Value)) -> Value {
    let wrapped = json!({"value": input.0, "type": input.1});
    json!({
        "mode": "managed", "type": "terraform_data", "name": name,
        "provider": "provider[\"terraform.io/builtin/terraform\"]",
        "instances": [{"schema_version": 0, "attributes": {
            "id": format!("id-{name}"), "input": wrapped, "output": wrapped,
            "triggers_replace": null}, "sensitive_attributes": []}]
    })
}

fn obj_t(name: &str, env: &str) -> (Value, Value) {
    (
        json!({"name": name, "tags": {"env": env}}),
        json!(["object", {"name": "string", "tags": ["object", {"env": "string"}]}]),
    )
}

fn resource(name: &str, input_name: &str, env: &str) -> String {
    format!(
        "resource \"terraform_data\" \"{name}\" {{\n  input = {{\n    name = \"{input_name}\"\n    tags = {{ env = \"{env}\" }}\n  }}\n}}\n"
    )
}

/// A workspace whose `iac/` holds `tf` and a state of `resources`.
fn workspace(tf: &str, resources: Vec<Value>) -> Ws {
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac")).unwrap();
    std::fs::write(ws.path("iac/main.tf"), tf).unwrap();
    let st = json!({"version": 4, "terraform_version": "1.11.4", "serial": 1,
                    "lineage": "l", "outputs": {}, "resources": resources});
    std::fs::write(ws.path("iac/terraform.tfstate"), st.to_string()).unwrap();
    ws
}

fn json_of(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(o)))
}

/// `app`: only its tags differ; `web`: its name and its tags differ; `scratch_1`: to create;
/// `old`: to destroy.
fn mixed() -> Ws {
    let tf = [
        resource("app", "a", "prod"),
        resource("web", "new", "prod"),
        resource("scratch_1", "s", "x"),
    ]
    .concat();
    workspace(
        &tf,
        vec![
            td("app", obj_t("a", "dev")),
            td("web", obj_t("old", "dev")),
            td("old", obj_t("o", "x")),
        ],
    )
}

#[test]
fn ignored_findings_are_counted_and_listed_with_their_rule() {
    let ws = mixed();
    std::fs::write(
        ws.path("iac/.driftignore"),
        "# tags are set by a tagging policy\n*.input.tags\n",
    )
    .unwrap();
    ws.write_config("drift {\n  ignore = [\"terraform_data.scratch_*\"]\n}\n");
    let o = ws.run(&["drift", "--json", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let r = json_of(&o);
    assert_eq!(r["summary"]["ignored"], 2, "{r:#}");
    assert_eq!(r["summary"]["update"], 1, "{r:#}");
    assert_eq!(r["summary"]["create"], 0, "{r:#}");
    assert_eq!(r["summary"]["destroy"], 1, "{r:#}");
    // `web` is still an update: its name changed too, and that is not ignored.
    assert_eq!(
        r["update"],
        json!([{"address": "terraform_data.web", "attributes": ["input"]}])
    );
    assert_eq!(r["destroy"], json!(["terraform_data.old"]));
    let ignored = r["ignored"].as_array().unwrap();
    assert!(ignored.contains(&json!({
        "address": "terraform_data.scratch_1", "action": "create",
        "rules": [{"rule": "terraform_data.scratch_*", "source": "config/tfops.hcl: drift.ignore[0]"}]
    })), "{r:#}");
    assert!(
        ignored.contains(&json!({
            "address": "terraform_data.app", "action": "update", "attributes": ["input"],
            "rules": [{"rule": "*.input.tags", "source": "iac/.driftignore:2"}]
        })),
        "{r:#}"
    );
    // The human form says so, rule by rule; the report file holds the same list.
    let o = ws.run(&["drift", "--no-color"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("2 ignored (1 by `*.input.tags` (iac/.driftignore:2), 1 by `terraform_data.scratch_*` (config/tfops.hcl: drift.ignore[0]))"),
        "{}",
        text(&o)
    );
    assert!(!out.contains("scratch_1"), "{out}");
}

#[test]
fn an_address_whose_only_changes_are_ignored_is_no_drift() {
    let ws = workspace(
        &resource("app", "a", "prod"),
        vec![td("app", obj_t("a", "dev"))],
    );
    let o = ws.run(&["drift", "--json", "--detailed-exitcode"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "without rules it is drift: {}",
        text(&o)
    );
    std::fs::write(
        ws.path("iac/.driftignore"),
        "terraform_data.app.input.tags\n",
    )
    .unwrap();
    let o = ws.run(&["drift", "--json", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = json_of(&o);
    assert_eq!(r["summary"]["ignored"], 1);
    assert_eq!(r["summary"]["update"], 0);
    // A rule on another attribute path does not cover it.
    std::fs::write(
        ws.path("iac/.driftignore"),
        "terraform_data.app.input.name\n",
    )
    .unwrap();
    let o = ws.run(&["drift", "--json", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(json_of(&o)["summary"]["ignored"], 0);
}

#[test]
fn exceptions_and_order_as_in_driftctl() {
    let tf = [resource("a", "n", "e"), resource("keep", "n", "e")].concat();
    let ws = workspace(&tf, vec![]);
    // Everything but `keep`: the exception comes last and decides.
    std::fs::write(ws.path("iac/.driftignore"), "*\n!terraform_data.keep\n").unwrap();
    let r = json_of(&ws.run(&["drift", "--json"]));
    assert_eq!(r["create"], json!(["terraform_data.keep"]), "{r:#}");
    assert_eq!(r["summary"]["ignored"], 1);
    // The file's rules come after the configuration's: the file decides.
    std::fs::write(ws.path("iac/.driftignore"), "!terraform_data.a\n").unwrap();
    ws.write_config("drift {\n  ignore = [\"*\"]\n}\n");
    let r = json_of(&ws.run(&["drift", "--json"]));
    assert_eq!(r["create"], json!(["terraform_data.a"]), "{r:#}");
    assert_eq!(r["ignored"][0]["address"], "terraform_data.keep");
}

fn refused(ws: &Ws, want: &str) {
    let mut child = ws
        .cmd()
        .args(["drift", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A fifo must never block the command: it ends on its own, well within this bound.
    let ended = common::wait_until(Duration::from_secs(60), || {
        child.try_wait().unwrap().is_some()
    });
    if !ended {
        let _ = child.kill();
        panic!("tfops drift blocked on a hostile .driftignore ({want})");
    }
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(want), "want {want:?}: {}", text(&o));
    assert!(!ws.path("logs").exists(), "a refused run writes no report");
}

#[test]
fn a_hostile_driftignore_is_refused() {
    let base = || {
        workspace(
            &resource("app", "a", "prod"),
            vec![td("app", obj_t("a", "dev"))],
        )
    };

    let ws = base();
    let fifo = ws.path("iac/.driftignore");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    refused(&ws, "is not a regular file");

    let ws = base();
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "*\n").unwrap();
    std::os::unix::fs::symlink(outside.path(), ws.path("iac/.driftignore")).unwrap();
    refused(&ws, "leads outside the workspace");

    let ws = base();
    std::os::unix::fs::symlink("/nonexistent/x", ws.path("iac/.driftignore")).unwrap();
    refused(&ws, "leads nowhere");

    let ws = base();
    std::fs::write(ws.path("iac/.driftignore"), "a.b\n".repeat(300_000)).unwrap();
    refused(&ws, "larger than 1024 KiB");

    let ws = base();
    std::fs::write(ws.path("iac/.driftignore"), b"a.b\nt.\xff\n").unwrap();
    refused(&ws, "iac/.driftignore:2:3: the file is not valid UTF-8");

    let ws = base();
    std::fs::write(ws.path("iac/.driftignore"), "a.b\n\nterraform_data\n").unwrap();
    refused(&ws, "iac/.driftignore:3: a rule names a resource");

    // A link that stays inside the workspace is read.
    let ws = base();
    std::fs::write(ws.path("shared.driftignore"), "*.input.tags\n").unwrap();
    std::os::unix::fs::symlink(ws.path("shared.driftignore"), ws.path("iac/.driftignore")).unwrap();
    let o = ws.run(&["drift", "--json", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn bad_rules_in_the_config_name_their_position() {
    let ws = workspace(&resource("app", "a", "prod"), vec![]);
    ws.write_config("drift {\n  ignore = [\n    \"a.b\",\n    \"nodot\",\n  ]\n}\n");
    let o = ws.run(&["config", "check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("config/tfops.hcl:4:5"), "{}", text(&o));
    assert!(err.contains("nodot"), "{}", text(&o));
    let o = ws.run(&["drift"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

// ---------------------------------------------------------------------------------------------
// Progress

const PROGRESS: &str = "drift: parsing 1 configuration file and the state";

#[test]
fn no_progress_when_stderr_is_not_a_terminal() {
    let ws = workspace(&resource("app", "a", "prod"), vec![]);
    let o = ws
        .cmd()
        .args(["drift"])
        .env("TFOPS_TEST_PROGRESS_AFTER_MS", "0")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("drift:"),
        "{}",
        text(&o)
    );
}

/// Runs `tfops ARGS` under `script` (a pseudo-terminal for stdin, stdout and stderr); its
/// whole terminal output. `None` when `script` (util-linux) is missing and CI does not
/// promise it.
fn on_a_terminal(ws: &Ws, args: &str) -> Option<String> {
    let Some(script) = common::which("script") else {
        assert!(
            !common::tools_required(),
            "`script` (util-linux) is required here (CI)"
        );
        eprintln!("SKIP: no `script` binary (util-linux) to give tfops a terminal");
        return None;
    };
    let cmd = format!(
        "{} --root {} {args}",
        common::tfops_bin().display(),
        ws.root().display()
    );
    let o = std::process::Command::new(script)
        .args(["-qec", &cmd, "/dev/null"])
        .env("TFOPS_TEST_PROGRESS_AFTER_MS", "0")
        .env("TERM", "dumb")
        .env_remove("TFOPS_ROOT")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Some(String::from_utf8_lossy(&o.stdout).into_owned())
}

#[test]
fn progress_on_a_terminal_and_silent_with_json_or_quiet() {
    let ws = workspace(&resource("app", "a", "prod"), vec![]);
    let Some(out) = on_a_terminal(&ws, "drift --no-color") else {
        return;
    };
    assert!(out.contains(PROGRESS), "{out:?}");
    assert!(out.contains("drift: comparing 1 address"), "{out:?}");
    // The line is wiped before the result is printed.
    assert!(out.contains("\r\x1b[K"), "{out:?}");
    assert!(out.contains("1 to create"), "{out:?}");
    for quiet in ["drift --json", "-q drift"] {
        let out = on_a_terminal(&ws, quiet).unwrap();
        assert!(!out.contains("drift: parsing"), "{quiet}: {out:?}");
    }
}

/// `replace_triggered_by`: a replace whose trigger's change is ignored is ignored too (with the
/// trigger's rules), through a chain (`c` is triggered by `b`, which `app` triggers); one whose
/// trigger still changes stays. `d` has an update of its own: Terraform replaces it for its
/// trigger (checked with terraform 1.11.4: `-/+` with reason `replace_triggered_by`).
#[test]
fn a_replace_triggered_by_an_ignored_change_is_ignored_too() {
    let tf = |app: &str| {
        [
            resource("app", app, "prod"),
            "resource \"terraform_data\" \"b\" {\n  input = \"b\"\n  lifecycle {\n    replace_triggered_by = [terraform_data.app]\n  }\n}\n".into(),
            "resource \"terraform_data\" \"c\" {\n  input = \"c\"\n  lifecycle {\n    replace_triggered_by = [terraform_data.b]\n  }\n}\n".into(),
            "resource \"terraform_data\" \"d\" {\n  input = \"d2\"\n  lifecycle {\n    replace_triggered_by = [terraform_data.app]\n  }\n}\n".into(),
        ]
        .concat()
    };
    let s = |v: &str| (json!(v), json!("string"));
    let state = || {
        vec![
            td("app", obj_t("a", "dev")),
            td("b", s("b")),
            td("c", s("c")),
            td("d", s("d1")),
        ]
    };
    let ws = workspace(&tf("a"), state());
    let addr = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|u| u["address"].as_str().unwrap().to_string())
            .collect()
    };
    // Without rules: `app` changes in place, and what it triggers is replaced.
    let r = json_of(&ws.run(&["drift", "--json"]));
    assert_eq!(addr(&r["update"]), ["terraform_data.app"], "{r:#}");
    assert_eq!(
        r["replace"],
        json!([
            {"address": "terraform_data.b", "attributes": ["replace_triggered_by"]},
            {"address": "terraform_data.c", "attributes": ["replace_triggered_by"]},
            {"address": "terraform_data.d", "attributes": ["input", "replace_triggered_by"]},
        ]),
        "{r:#}"
    );
    // `app`'s only change is ignored: nothing is replaced; `d` keeps its own update.
    std::fs::write(ws.path("iac/.driftignore"), "*.input.tags\n").unwrap();
    let o = ws.run(&["drift", "--json", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let r = json_of(&o);
    assert_eq!(r["replace"], json!([]), "{r:#}");
    assert_eq!(
        r["update"],
        json!([{"address": "terraform_data.d", "attributes": ["input"]}]),
        "{r:#}"
    );
    let rule = json!([{"rule": "*.input.tags", "source": "iac/.driftignore:1"}]);
    let ignored = r["ignored"].as_array().unwrap();
    for (a, action, attrs) in [
        ("terraform_data.app", "update", json!(["input"])),
        (
            "terraform_data.b",
            "replace",
            json!(["replace_triggered_by"]),
        ),
        (
            "terraform_data.c",
            "replace",
            json!(["replace_triggered_by"]),
        ),
        (
            "terraform_data.d",
            "replace",
            json!(["replace_triggered_by"]),
        ),
    ] {
        let want = json!({"address": a, "action": action, "attributes": attrs, "rules": rule});
        assert!(ignored.contains(&want), "{want} not in {r:#}");
    }
    assert_eq!(r["summary"]["ignored"], 4, "{r:#}");
    assert_eq!(r["summary"]["in_sync"], 0, "{r:#}");
    // `d`'s own change ignored as well: no drift left.
    std::fs::write(
        ws.path("iac/.driftignore"),
        "*.input.tags\nterraform_data.d.input\n",
    )
    .unwrap();
    let o = ws.run(&["drift", "--json", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = json_of(&o);
    let d = r["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["address"] == "terraform_data.d")
        .unwrap()
        .clone();
    assert_eq!(
        d["attributes"],
        json!(["input", "replace_triggered_by"]),
        "{r:#}"
    );
    assert_eq!(d["rules"].as_array().unwrap().len(), 2, "{r:#}");
    // `app`'s name changes too, which no rule covers: the replaces stay.
    std::fs::write(ws.path("iac/main.tf"), tf("renamed")).unwrap();
    std::fs::write(ws.path("iac/.driftignore"), "*.input.tags\n").unwrap();
    let r = json_of(&ws.run(&["drift", "--json"]));
    assert_eq!(
        addr(&r["replace"]),
        ["terraform_data.b", "terraform_data.c", "terraform_data.d"],
        "{r:#}"
    );
    assert_eq!(r["summary"]["ignored"], 0, "{r:#}");
}

/// A reference to one attribute: when the change of that attribute is ignored, the replace
/// it caused goes, even though the resource still changes otherwise.
#[test]
fn an_ignored_change_of_the_referenced_attribute_takes_its_replace_along() {
    let tf = "resource \"terraform_data\" \"a\" {\n  input            = \"a2\"\n  triggers_replace = \"t2\"\n}\n\
resource \"terraform_data\" \"on_input\" {\n  input = \"x\"\n  lifecycle {\n    replace_triggered_by = [terraform_data.a.input]\n  }\n}\n\
resource \"terraform_data\" \"on_id\" {\n  input = \"x\"\n  lifecycle {\n    replace_triggered_by = [terraform_data.a.id]\n  }\n}\n";
    let s = |v: &str| (json!(v), json!("string"));
    let mut a = td("a", s("a1"));
    a["instances"][0]["attributes"]["triggers_replace"] = json!({"value": "t1", "type": "string"});
    let ws = workspace(tf, vec![a, td("on_input", s("x")), td("on_id", s("x"))]);
    let addrs = |r: &Value| -> Vec<String> {
        r["replace"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["address"].as_str().unwrap().to_string())
            .collect()
    };
    let r = json_of(&ws.run(&["drift", "--json"]));
    assert_eq!(
        addrs(&r),
        [
            "terraform_data.a",
            "terraform_data.on_id",
            "terraform_data.on_input"
        ],
        "{r:#}"
    );
    // `a` is still replaced (triggers_replace), so `on_id` stays; `on_input` goes.
    std::fs::write(ws.path("iac/.driftignore"), "terraform_data.a.input\n").unwrap();
    let r = json_of(&ws.run(&["drift", "--json"]));
    assert_eq!(
        addrs(&r),
        ["terraform_data.a", "terraform_data.on_id"],
        "{r:#}"
    );
    let ignored: Vec<&str> = r["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        ignored,
        ["terraform_data.a", "terraform_data.on_input"],
        "{r:#}"
    );
}

/// An instance unknown only because the state holds blocks its configuration does not write
/// (a provider-filled `root_block_device`, say) is decided by rules covering those blocks.
#[test]
fn rules_on_unwritten_blocks_decide_an_instance_unknown_for_them() {
    let tf = "resource \"x_lb\" \"a\" {\n  name = \"a\"\n  listener {\n    port = 80\n  }\n}\n";
    let st = json!({"mode": "managed", "type": "x_lb", "name": "a",
        "provider": "provider[\"registry.terraform.io/x/x\"]",
        "instances": [{"schema_version": 0, "sensitive_attributes": [], "attributes": {
            "id": "1", "name": "a", "access_logs": [{"bucket": "b"}],
            "listener": [{"port": 80, "rule": [{"path": "/"}]}]}}]});
    let ws = workspace(tf, vec![st]);
    let run = || {
        let o = ws.run(&[
            "drift",
            "--json",
            "--detailed-exitcode",
            "--unknown-is-drift",
        ]);
        (o.status.code(), json_of(&o))
    };
    let (code, r) = run();
    assert_eq!(code, Some(2), "{r:#}");
    assert_eq!(r["unknown"][0]["address"], "x_lb.a", "{r:#}");
    // One of the two block types covered: still unknown.
    std::fs::write(ws.path("iac/.driftignore"), "*.access_logs\n").unwrap();
    let (code, r) = run();
    assert_eq!(
        (code, r["summary"]["ignored"].clone()),
        (Some(2), json!(0)),
        "{r:#}"
    );
    std::fs::write(
        ws.path("iac/.driftignore"),
        "*.access_logs\nx_lb.a.listener.rule\n",
    )
    .unwrap();
    let (code, r) = run();
    assert_eq!(code, Some(0), "{r:#}");
    assert_eq!(
        r["ignored"],
        json!([{"address": "x_lb.a", "action": "unknown",
                "attributes": ["access_logs", "listener.rule"],
                "rules": [{"rule": "*.access_logs", "source": "iac/.driftignore:1"},
                          {"rule": "x_lb.a.listener.rule", "source": "iac/.driftignore:2"}]}]),
        "{r:#}"
    );
}
