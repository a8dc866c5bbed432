//! State format versions 1-3 (Terraform before 0.12): backup, verify and restore accept them
//! and keep their bytes exactly; drift reads them as Terraform upgrades them.

mod common;

use common::{text, Ws};

fn ok(ws: &Ws, args: &[&str]) -> String {
    let o = ws.run(args);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_version_3_state_is_backed_up_verified_restored_and_read_by_drift() {
    let ws = Ws::bundled();
    let legacy =
        std::fs::read(common::repo_root().join("tests/fixtures/state/legacy_v3.tfstate")).unwrap();
    let state = ws.path("iac/terraform.tfstate");
    std::fs::write(&state, &legacy).unwrap();
    ok(&ws, &["backup"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&ws, &["backups", "--json"])).unwrap();
    let snap = &v["snapshots"][0];
    assert_eq!(snap["valid"], true, "{v}");
    assert_eq!(snap["serial"], 5);
    assert_eq!(snap["resources"], 1);
    ok(&ws, &["verify"]);
    let id = snap["id"].as_str().unwrap().to_string();
    std::fs::remove_file(&state).unwrap();
    ok(&ws, &["restore", &id, "--yes"]);
    assert_eq!(
        std::fs::read(&state).unwrap(),
        legacy,
        "bytes kept as they were"
    );
    // Drift reads it: the old null_resource is to destroy, the three services to create.
    let o = ws.run(&["drift", "--json", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["destroy"], serde_json::json!(["null_resource.service_1"]));
    assert_eq!(r["summary"]["create"], 3);
}
