//! Regression tests from fuzzing: every input under `tests/fixtures/fuzz/<target>/` (a crash
//! `scripts/fuzz.sh` found, checked in) goes through the same checks as the fuzz target
//! (`tests/fuzz/checks.rs`), in the normal test suite.

#[path = "fuzz/checks.rs"]
mod checks;

use std::path::PathBuf;

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn every_config_finding_passes_the_config_checks() {
    for p in inputs("config") {
        eprintln!("{}", p.display());
        checks::config(&std::fs::read(&p).unwrap());
    }
}

#[test]
fn every_state_finding_passes_the_state_checks() {
    for p in inputs("state") {
        eprintln!("{}", p.display());
        checks::state(&std::fs::read(&p).unwrap());
    }
}

#[test]
fn every_scenario_finding_passes_the_scenario_checks() {
    for p in inputs("scenario") {
        eprintln!("{}", p.display());
        checks::scenario(&std::fs::read(&p).unwrap());
    }
}

#[test]
fn every_hcl_finding_passes_the_hcl_checks() {
    for p in inputs("hcl") {
        eprintln!("{}", p.display());
        checks::hcl(&std::fs::read(&p).unwrap());
    }
}

/// The first finding: a state whose header is fine but with bytes that are not UTF-8 inside
/// a resource's string was accepted as valid (the header walk skipped the resources), while
/// every full reading of it (preview, addresses) failed.
#[test]
fn a_state_with_invalid_utf8_inside_a_resource_is_invalid() {
    let bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fuzz/state/invalid_utf8_in_a_resource_string.tfstate"),
    )
    .unwrap();
    let err = tfops::state::model::parse_state(&bytes).unwrap_err();
    assert!(err.to_string().contains("invalid UTF-8"), "{err}");
}

/// The second finding: an `add` step whose block label held NUL bytes passed hcl-edit, so the
/// scenario wrote a main.tf that detection then refused as broken HCL. Now the scenario is
/// the broken thing (exit 3), and nothing is written.
#[test]
fn a_scenario_whose_steps_leave_unreadable_hcl_is_broken() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(
        root.join("tests/fixtures/fuzz/scenario/add_block_with_nul_in_its_label.hcl"),
    )
    .unwrap();
    let s = tfops::drift::scenario::parse_scenario(&text, "fuzz.hcl").unwrap();
    let t = tfops::drift::Target {
        dir: root.join("iac"),
        state: root.join("iac/terraform.tfstate"),
        dir_display: "iac".into(),
        state_display: "iac/terraform.tfstate".into(),
        vars: Vec::new(),
    };
    let err = tfops::drift::scenario::plan(&s, &t).unwrap_err();
    assert!(err.to_string().contains("unreadable"), "{err}");
}

/// The third finding: a literal `count = 22222222226` made the HCL model allocate a list of
/// 22 billion addresses and abort. Past a million (the cap `range` already had) the resource
/// is listed as unknown, with the reason.
#[test]
fn a_huge_literal_count_is_unknown_not_expanded() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("tests/fixtures/fuzz/hcl/count_of_22_billion.tf"))
        .unwrap();
    let file = tfops::drift::model::parse_file(&text, "main.tf").unwrap();
    let desired = tfops::drift::model::expand(vec![file]).unwrap();
    assert_eq!(desired.unknown.len(), 1, "{:?}", desired.unknown);
    assert!(desired.unknown[0]
        .reason
        .contains("more than 100000 instances"));
}

/// The fourth finding: `8/0` in a local made hcl-rs build a non-finite number, which
/// hcl-primitives asserts against: a panic inside `tfops drift` (and the DriftActor). Every
/// evaluation is now guarded; what fails is simply not known.
#[test]
fn a_division_by_zero_in_a_local_is_not_a_crash() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(
        root.join("tests/fixtures/fuzz/hcl/division_by_zero_in_a_local.tf"),
    )
    .unwrap();
    let file = tfops::drift::model::parse_file(&text, "main.tf").unwrap();
    let desired = tfops::drift::model::expand(vec![file]);
    assert!(desired.is_ok(), "{:?}", desired.err());
    // The same through the binary: an exit code, not a panic.
    let ws = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(ws.path().join("iac")).unwrap();
    std::fs::write(
        ws.path().join("iac/main.tf"),
        "locals {\n  n = 8 / 0\n}\n\nresource \"null_resource\" \"x\" {\n  count = local.n\n}\n",
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tfops"))
        .arg("--root")
        .arg(ws.path())
        .args(["drift", "--json"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(o.status.code(), Some(0), "{err}");
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["summary"]["unknown"], 1, "{j}");
}

/// The seeds `scripts/fuzz.sh` starts from (the repository's own files) pass every check: a
/// check that failed on them would only report itself.
#[test]
fn the_seed_inputs_pass_every_check() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let files = |dir: &str, ext: &str| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        v.retain(|p| p.extension().is_some_and(|e| e == ext));
        v.sort();
        v
    };
    checks::config(&std::fs::read(root.join("config/tfops.hcl")).unwrap());
    for p in files("tests/fixtures/state", "tfstate") {
        checks::state(&std::fs::read(&p).unwrap());
    }
    checks::state(&std::fs::read(root.join("iac/terraform.tfstate")).unwrap());
    let scenarios = files("config/scenarios", "hcl");
    assert!(!scenarios.is_empty());
    for p in scenarios {
        checks::scenario(&std::fs::read(&p).unwrap());
    }
    checks::hcl(&std::fs::read(root.join("iac/main.tf")).unwrap());
    for p in files("tests/fixtures/drift", "tf") {
        checks::hcl(&std::fs::read(&p).unwrap());
    }
}
