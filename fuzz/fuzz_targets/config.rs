//! Fuzz target: `config/tfops.hcl` text through `parse_config` (hcl-edit parse, validation on
//! the tree, typed `Config`), plus the duration and window parsers it uses. The properties
//! are in `tests/fuzz/checks.rs`, shared with the regression test.
#![no_main]

#[path = "../../tests/fuzz/checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::config(data));
