//! Fuzz target: Terraform state bytes through `parse_state` (the one-pass header check), the
//! snapshot hash-and-check and the restore preview, against a `serde_json::Value` reading.
//! The properties are in `tests/fuzz/checks.rs`, shared with the regression test.
#![no_main]

#[path = "../../tests/fuzz/checks.rs"]
mod checks;

/// libFuzzer's panic hook aborts on every panic, even one tfops catches on purpose (hcl-rs
/// panics on `8/0`; `tfops::panic::catch` turns that into "unknown"). Chain our hook in front:
/// a caught panic returns, an uncaught one still reaches libFuzzer's hook and is a finding.
static HOOK: std::sync::Once = std::sync::Once::new();

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| tfops::panic::install_policy(false));
    checks::state(data)
});
