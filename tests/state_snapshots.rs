//! Black-box tests of `tfops backup`, `backups` and `verify`: deduplication by hard link,
//! permissions whatever the umask, meta.json, names, retention, leftovers, corrupt inputs.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::{text, Ws};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(common::repo_root().join("tests/fixtures/state").join(name)).unwrap()
}

fn meta(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("meta.json")).unwrap()).unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn ok(ws: &Ws, args: &[&str]) -> String {
    let o = ws.run(args);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Writes a valid state with this serial (same lineage as the bundled one).
fn set_serial(ws: &Ws, serial: u64) {
    let p = ws.path("iac/terraform.tfstate");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    v["serial"] = serial.into();
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn identical_state_is_a_hard_link() {
    let ws = Ws::bundled();
    ok(&ws, &["backup"]);
    let out = ok(&ws, &["backup"]);
    assert!(out.contains("hard link"), "{out}");
    let s = ws.snapshots();
    assert_eq!(s.len(), 2);
    let a = std::fs::metadata(s[0].join("terraform.tfstate")).unwrap();
    let b = std::fs::metadata(s[1].join("terraform.tfstate")).unwrap();
    assert_eq!(a.ino(), b.ino(), "same inode: no new bytes");
    assert_eq!(a.nlink(), 2);
    let ids: Vec<String> = s
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let newest = s
        .iter()
        .map(|d| meta(d))
        .find(|m| m.get("linked_to").is_some())
        .expect("one snapshot says what it links to");
    assert!(ids.contains(&newest["linked_to"].as_str().unwrap().to_string()));
}

#[test]
fn meta_json_describes_the_snapshot() {
    let ws = Ws::bundled();
    ok(&ws, &["backup"]);
    let s = ws.snapshots();
    assert_eq!(s.len(), 1);
    let name = s[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("tfstate_") && name.ends_with(".backup") && name.len() == 34,
        "{name}"
    );
    let m = meta(&s[0]);
    let bytes = std::fs::read(ws.path("iac/terraform.tfstate")).unwrap();
    assert_eq!(m["serial"], 3);
    assert_eq!(m["lineage"], "6c1a0c2e-52b1-4a4b-9d6e-3f1c9a7b2d10");
    assert_eq!(m["terraform_version"], "1.11.4");
    assert_eq!(m["resources"], 3);
    assert_eq!(m["bytes"], bytes.len() as u64);
    assert_eq!(m["reason"], "manual");
    assert_eq!(m["flags"], serde_json::json!([]));
    assert_eq!(m["sha256"].as_str().unwrap().len(), 64);
    assert!(chrono::DateTime::parse_from_rfc3339(m["taken_at"].as_str().unwrap()).is_ok());
    assert_eq!(
        std::fs::read(s[0].join("terraform.tfstate")).unwrap(),
        bytes,
        "byte for byte"
    );
}

#[test]
fn private_modes_even_with_umask_000() {
    let ws = Ws::bundled();
    let bin = common::tfops_bin();
    for _ in 0..2 {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg("umask 000; exec \"$0\" --root \"$1\" backup")
            .arg(&bin)
            .arg(ws.root())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    set_serial(&ws, 4);
    let o = std::process::Command::new("sh")
        .arg("-c")
        .arg("umask 000; exec \"$0\" --root \"$1\" restore --latest --yes")
        .arg(&bin)
        .arg(ws.root())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(mode(&ws.path("backups")), 0o700);
    for d in ws.snapshots() {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
        assert_eq!(mode(&d.join("terraform.tfstate")), 0o600);
        assert_eq!(mode(&d.join("meta.json")), 0o600);
    }
    assert_eq!(mode(&ws.path("iac/terraform.tfstate")), 0o600);
}

#[test]
fn same_second_names_get_a_suffix() {
    let Some(ft) = common::faketime() else {
        return;
    };
    let ws = Ws::bundled();
    for _ in 0..3 {
        // -f with an absolute date and no @: a stopped clock, so all three runs share a second.
        let o = std::process::Command::new(&ft)
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .args(["-f", "2026-01-01 03:00:00"])
            .arg(common::tfops_bin())
            .arg("--root")
            .arg(ws.root())
            .arg("backup")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    let names: Vec<String> = ws
        .snapshots()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec![
            "tfstate_2026-01-01_03-00-00.backup",
            "tfstate_2026-01-01_03-00-00_2.backup",
            "tfstate_2026-01-01_03-00-00_3.backup"
        ]
    );
    // Listing order is taken_at, then the suffix: _2 before _3, plain first.
    let v: serde_json::Value = serde_json::from_str(&ok(&ws, &["backups", "--json"])).unwrap();
    let ids: Vec<&str> = v["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, names.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn backups_json_shape_oldest_first_with_flags() {
    let ws = Ws::bundled();
    let empty: serde_json::Value = serde_json::from_str(&ok(&ws, &["backups", "--json"])).unwrap();
    assert_eq!(empty, serde_json::json!({"snapshots": []}));
    ok(&ws, &["backup"]);
    set_serial(&ws, 2); // a regression
    ok(&ws, &["backup"]);
    std::fs::write(
        ws.path("iac/terraform.tfstate"),
        fixture("other_lineage.tfstate"),
    )
    .unwrap();
    ok(&ws, &["backup"]);
    let v: serde_json::Value = serde_json::from_str(&ok(&ws, &["backups", "--json"])).unwrap();
    let snaps = v["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 3);
    for s in snaps {
        for k in [
            "id",
            "taken_at",
            "serial",
            "lineage",
            "resources",
            "bytes",
            "sha256",
            "valid",
            "flags",
        ] {
            assert!(s.get(k).is_some(), "{k} missing in {s}");
        }
        assert_eq!(s["valid"], true);
    }
    let serials: Vec<u64> = snaps
        .iter()
        .map(|s| s["serial"].as_u64().unwrap())
        .collect();
    assert_eq!(serials, vec![3, 2, 1], "oldest first");
    assert_eq!(snaps[1]["flags"], serde_json::json!(["serial_decreased"]));
    assert_eq!(
        snaps[2]["flags"],
        serde_json::json!(["lineage_changed", "serial_decreased"])
    );
    let table = ok(&ws, &["backups"]);
    for h in [
        "ID",
        "TAKEN",
        "SERIAL",
        "LINEAGE",
        "RESOURCES",
        "SIZE",
        "VALID",
        "FLAGS",
    ] {
        assert!(table.contains(h), "{table}");
    }
    assert!(table.contains("lineage_changed"));
}

#[test]
fn verify_names_each_bad_snapshot() {
    let ws = Ws::bundled();
    ok(&ws, &["backup"]);
    set_serial(&ws, 4);
    ok(&ws, &["backup"]);
    set_serial(&ws, 5);
    ok(&ws, &["backup"]);
    let out = ok(&ws, &["verify"]);
    assert!(out.contains("3 snapshots verified"), "{out}");
    let s = ws.snapshots();
    // Flip bytes in one, remove the file of another (each has its own inode: serials differ).
    let f = s[0].join("terraform.tfstate");
    let mut b = std::fs::read(&f).unwrap();
    let i = b.iter().position(|&c| c == b'3').unwrap();
    b[i] = b'9';
    std::fs::write(&f, &b).unwrap();
    std::fs::remove_file(s[2].join("terraform.tfstate")).unwrap();
    let o = ws.run(&["verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    let id0 = s[0].file_name().unwrap().to_string_lossy().into_owned();
    let id1 = s[1].file_name().unwrap().to_string_lossy().into_owned();
    let id2 = s[2].file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.contains(&id0) && err.contains(&id2), "{err}");
    assert!(!err.contains(&id1), "the good one is not named: {err}");
    assert!(err.contains("sha256"), "{err}");
}

#[test]
fn leftovers_of_a_crashed_snapshot_are_removed() {
    let ws = Ws::bundled();
    let left = ws.path("backups/.tfstate_2026-01-01_00-00-00.tmp-12345");
    std::fs::create_dir_all(&left).unwrap();
    std::fs::write(left.join("terraform.tfstate"), "{\"half").unwrap();
    ok(&ws, &["backup"]);
    assert!(!left.exists());
    assert_eq!(ws.snapshots().len(), 1);
}

#[test]
fn retention_keeps_last_n_and_the_newest_valid() {
    let ws = Ws::bundled();
    ws.write_config("state {\n  keep_last = 2\n}\n");
    for serial in 4..9 {
        set_serial(&ws, serial);
        ok(&ws, &["backup"]);
    }
    let s = ws.snapshots();
    assert_eq!(s.len(), 2);
    let serials: Vec<u64> = s
        .iter()
        .map(|d| meta(d)["serial"].as_u64().unwrap())
        .collect();
    assert_eq!(serials, vec![7, 8]);
}

#[test]
fn corrupt_states_are_never_snapshotted() {
    let ws = Ws::bundled();
    let state = ws.path("iac/terraform.tfstate");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", fixture("truncated.tfstate")),
        ("empty", Vec::new()),
        ("version 3", fixture("version3.tfstate")),
        ("version 5", fixture("version5.tfstate")),
        ("missing lineage", fixture("missing_lineage.tfstate")),
        ("serial as a string", fixture("serial_string.tfstate")),
        ("not an object", b"[]".to_vec()),
    ];
    for (what, bytes) in cases {
        std::fs::write(&state, &bytes).unwrap();
        let o = ws.run(&["backup"]);
        assert_eq!(o.status.code(), Some(1), "{what}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("not valid") && err.contains("tfops restore --latest"),
            "{what}: {err}"
        );
        assert!(ws.snapshots().is_empty(), "{what}");
    }
    std::fs::remove_file(&state).unwrap();
    let o = ws.run(&["backup"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
}

/// A valid state of about `mb` megabytes.
pub fn big_state(mb: usize, serial: u64) -> Vec<u8> {
    let mut s = format!(
        "{{\"version\": 4, \"terraform_version\": \"1.0.3\", \"serial\": {serial}, \"lineage\": \"6c1a0c2e-52b1-4a4b-9d6e-3f1c9a7b2d10\", \"outputs\": {{}}, \"resources\": ["
    );
    let pad = "x".repeat(900);
    let mut i = 0;
    while s.len() < mb << 20 {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"mode\": \"managed\", \"type\": \"null_resource\", \"name\": \"r{i}\", \"provider\": \"provider[\\\"registry.terraform.io/hashicorp/null\\\"]\", \"instances\": [{{\"schema_version\": 0, \"attributes\": {{\"id\": \"{i}\", \"triggers\": {{\"pad\": \"{pad}\"}}}}, \"sensitive_attributes\": []}}]}}"
        ));
        i += 1;
    }
    s.push_str("]}\n");
    s.into_bytes()
}

#[test]
fn fifty_megabyte_state_is_snapshotted_and_deduplicated() {
    let ws = Ws::bundled();
    let big = big_state(50, 9);
    std::fs::write(ws.path("iac/terraform.tfstate"), &big).unwrap();
    ok(&ws, &["backup"]);
    ok(&ws, &["backup"]);
    let s = ws.snapshots();
    assert_eq!(s.len(), 2);
    let m = meta(&s[0]);
    assert_eq!(m["bytes"], big.len() as u64);
    assert_eq!(m["serial"], 9);
    assert!(m["resources"].as_u64().unwrap() > 40_000);
    let a = std::fs::metadata(s[0].join("terraform.tfstate")).unwrap();
    let b = std::fs::metadata(s[1].join("terraform.tfstate")).unwrap();
    assert_eq!(a.ino(), b.ino());
    ok(&ws, &["verify"]);
}

#[test]
fn concurrent_backups_never_interleave() {
    let ws = Ws::bundled();
    set_serial(&ws, 11);
    let children: Vec<_> = (0..6)
        .map(|_| {
            ws.cmd()
                .arg("backup")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
    }
    let s = ws.snapshots();
    assert_eq!(s.len(), 6, "six distinct folders");
    // One holds the bytes; the five others link to it.
    let inodes: std::collections::BTreeSet<u64> = s
        .iter()
        .map(|d| {
            std::fs::metadata(d.join("terraform.tfstate"))
                .unwrap()
                .ino()
        })
        .collect();
    assert_eq!(inodes.len(), 1);
    ok(&ws, &["verify"]);
}
