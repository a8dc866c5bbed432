//! Fuzz target: scenario files through `parse_scenario`, then `plan` against the bundled
//! module (hcl-edit rewrites in memory). The properties are in `tests/fuzz/checks.rs`, shared
//! with the regression test.
#![no_main]

#[path = "../../tests/fuzz/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::scenario(data));
