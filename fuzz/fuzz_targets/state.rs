//! Fuzz target: Terraform state bytes through `parse_state` (the one-pass header check), the
//! snapshot hash-and-check and the restore preview, against a `serde_json::Value` reading.
//! The properties are in `tests/fuzz/checks.rs`, shared with the regression test.
#![no_main]

#[path = "../../tests/fuzz/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::state(data));
