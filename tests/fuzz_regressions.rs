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
