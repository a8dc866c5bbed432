//! Drift fixtures, in the hcl-rs style: `tests/fixtures/drift/<case>.tf` (+ `.tfstate`, absent
//! for a missing state) beside the expected `<case>.json` (exit code and report, without
//! `detected_at`), or `<case>.err` (exit 1 and a substring of stderr). `TFOPS_BLESS=1`
//! rewrites the `.json` files from the current output (review the diff before committing).

mod common;

use std::path::{Path, PathBuf};

use common::{text, Ws};

fn fixtures() -> PathBuf {
    common::repo_root().join("tests/fixtures/drift")
}

fn cases() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "tf").then(|| p.file_stem().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    v.sort();
    v
}

fn workspace(case: &str) -> Ws {
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac")).unwrap();
    std::fs::copy(
        fixtures().join(format!("{case}.tf")),
        ws.path("iac/main.tf"),
    )
    .unwrap();
    let st = fixtures().join(format!("{case}.tfstate"));
    if st.exists() {
        std::fs::copy(&st, ws.path("iac/terraform.tfstate")).unwrap();
    }
    ws
}

fn all_report_files(root: &Path) -> Vec<(PathBuf, String)> {
    let logs = root.join("logs");
    let Ok(rd) = std::fs::read_dir(&logs) else {
        return Vec::new();
    };
    rd.map(|e| {
        let p = e.unwrap().path();
        let t = std::fs::read_to_string(&p).unwrap();
        (p, t)
    })
    .collect()
}

#[test]
fn every_fixture_matches_its_expected_report() {
    let bless = std::env::var_os("TFOPS_BLESS").is_some();
    let mut failures = Vec::new();
    for case in cases() {
        let ws = workspace(&case);
        let o = ws.run(&["drift", "--json", "--detailed-exitcode"]);
        let err_file = fixtures().join(format!("{case}.err"));
        if err_file.exists() {
            let want = std::fs::read_to_string(&err_file).unwrap();
            let stderr = String::from_utf8_lossy(&o.stderr);
            // With --json the error is also one document on stdout (#13), naming the same.
            let doc: Option<serde_json::Value> = serde_json::from_slice(&o.stdout).ok();
            let json_ok = doc.is_some_and(|d| {
                d["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(want.trim()))
            });
            if o.status.code() != Some(1) || !stderr.contains(want.trim()) || !json_ok {
                failures.push(format!(
                    "{case}: want exit 1 and {:?} on stderr\n{}",
                    want.trim(),
                    text(&o)
                ));
            }
            continue;
        }
        let mut report: serde_json::Value = match serde_json::from_slice(&o.stdout) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("{case}: stdout is not JSON ({e})\n{}", text(&o)));
                continue;
            }
        };
        report.as_object_mut().unwrap().remove("detected_at");
        let got = serde_json::json!({"exit_code": o.status.code(), "report": report});
        let exp_file = fixtures().join(format!("{case}.json"));
        if bless {
            std::fs::write(
                &exp_file,
                serde_json::to_string_pretty(&got).unwrap() + "\n",
            )
            .unwrap();
            continue;
        }
        let want: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&exp_file).unwrap_or_default())
                .unwrap_or(serde_json::Value::Null);
        if want != got {
            failures.push(format!(
                "{case}: report differs\n--- want\n{}\n--- got\n{}",
                serde_json::to_string_pretty(&want).unwrap(),
                serde_json::to_string_pretty(&got).unwrap()
            ));
        }
        // Each run leaves a JSON report and its log.
        let files = all_report_files(ws.root());
        assert_eq!(files.len(), 2, "{case}: {files:?}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn sensitive_values_are_never_printed_or_logged() {
    let ws = workspace("sensitive_change");
    let table = ws.run(&["-v", "drift"]);
    let json = ws.run(&["-v", "drift", "--json", "--detailed-exitcode"]);
    assert_eq!(json.status.code(), Some(2), "{}", text(&json));
    let mut everything = format!("{}{}", text(&table), text(&json));
    for (_, t) in all_report_files(ws.root()) {
        everything.push_str(&t);
    }
    assert!(
        everything.contains("password"),
        "the attribute name is reported: {everything}"
    );
    for secret in ["hunter2", "swordfish", "SECRET"] {
        assert!(
            !everything.contains(secret),
            "secret {secret} leaked:\n{everything}"
        );
    }
}

#[test]
fn table_output_and_plain_exit_codes() {
    let ws = workspace("rename");
    let o = ws.run(&["drift"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("+ null_resource.service_1_drift  will be created"),
        "{out}"
    );
    assert!(
        out.contains(
            "terraform state mv 'null_resource.service_1' 'null_resource.service_1_drift'"
        ),
        "{out}"
    );
    assert!(out.contains("moved {"), "{out}");
    assert!(out.contains("-refresh=false"), "{out}");
    let o = ws.run(&["drift", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2));
    let ws = workspace("in_sync");
    assert_eq!(
        ws.run(&["drift", "--detailed-exitcode"]).status.code(),
        Some(0)
    );
}

#[test]
fn reports_are_bounded_by_keep_reports() {
    let ws = workspace("in_sync");
    ws.write_config("drift {\n  keep_reports = 2\n}\n");
    for _ in 0..4 {
        assert_eq!(ws.run(&["drift"]).status.code(), Some(0));
    }
    let files = all_report_files(ws.root());
    assert_eq!(files.len(), 4, "{files:?}");
    let last = tfops::drift::last_drift(&tfops::workspace::Workspace::new(ws.root())).unwrap();
    assert_eq!(last["summary"]["in_sync"], 3);
    assert!(last["detected_at"].is_string());
}

/// #13: a failed drift (here broken HCL) used to write `logs/drift_<ts>.json` and `.log` for
/// each failed call; it writes no report, and says where the problem is.
#[test]
fn a_failed_run_writes_no_report() {
    let ws = workspace("broken_hcl");
    let o = ws.run(&["drift"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("iac/main.tf:5:"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(all_report_files(ws.root()).is_empty());
    assert!(tfops::drift::last_drift(&tfops::workspace::Workspace::new(ws.root())).is_none());
}
