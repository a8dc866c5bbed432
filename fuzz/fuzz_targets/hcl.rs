//! Fuzz target: `.tf` text through the drift HCL model (parse, `count`/`for_each` expansion)
//! and the diff against the bundled state. The properties are in `tests/fuzz/checks.rs`,
//! shared with the regression test.
#![no_main]

#[path = "../../tests/fuzz/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::hcl(data));
