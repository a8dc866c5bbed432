//! The properties the fuzz targets check, shared with the regression test that replays every
//! checked-in finding (`tests/fuzz_regressions.rs` and `fuzz/fuzz_targets/*.rs` include this
//! file by path). Each function panics when a property fails.
#![allow(dead_code)] // each includer uses some of them

use std::path::Path;

use serde_json::Value;
use tfops::config::{parse_config, parse_duration, ConfigError};
use tfops::schedule::Window;
use tfops::state::model::parse_state;
use tfops::state::preview;
use tfops::state::snapshot::hash_and_check;

/// Configuration text: no panic; every problem names a position inside the text; a
/// configuration that parses keeps the validator's promises.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_duration(text);
    let _ = Window::parse(text);
    match parse_config(text, "config/tfops.hcl", Path::new("/ws")) {
        Ok(cfg) => {
            assert!(cfg.services.count >= 1, "count 0 accepted");
            for n in &cfg.services.active {
                assert!(
                    (1..=cfg.services.count).contains(n),
                    "active {n} outside 1..={}",
                    cfg.services.count
                );
            }
        }
        Err(ConfigError::Invalid(problems)) => {
            assert!(!problems.is_empty(), "an error without a problem");
            let lines = text.split('\n').count();
            for p in &problems {
                assert!(
                    p.line >= 1 && p.column >= 1,
                    "position {}:{}",
                    p.line,
                    p.column
                );
                assert!(
                    p.line <= lines,
                    "line {} past the end ({lines} lines)",
                    p.line
                );
                assert!(p.to_string().starts_with("config/tfops.hcl:"), "{p}");
            }
        }
        Err(ConfigError::Io { .. }) => panic!("parse_config does no I/O"),
    }
}

/// State bytes: `parse_state` agrees with a plain `serde_json::Value` reading of the same
/// rules, field for field; hash-and-check agrees with it; the preview never panics.
pub fn state(data: &[u8]) {
    let parsed = parse_state(data);
    let (_, checked) = hash_and_check(data);
    assert_eq!(parsed, checked, "hash_and_check disagrees with parse_state");
    let oracle = serde_json::from_slice::<Value>(data).ok().and_then(|v| {
        let o = v.as_object()?;
        (o.get("version")?.as_u64()? == 4).then_some(())?;
        let lineage = o.get("lineage")?.as_str()?.to_string();
        let serial = o.get("serial")?.as_u64()?;
        o.get("resources")?.as_array()?;
        Some((lineage, serial))
    });
    match (&parsed, &oracle) {
        (Ok(info), Some((lineage, serial))) => {
            assert_eq!(&info.lineage, lineage);
            assert_eq!(info.serial, *serial);
        }
        (Err(_), None) => {}
        (p, o) => panic!("parse_state says {p:?}, serde_json::Value says {o:?}"),
    }
    if data.len() <= 64 * 1024 {
        let _ = preview::addresses_light(data);
        let p = preview::preview(None, data, ("current", "snapshot"));
        assert!(p.diff.is_some() || p.note.is_some());
        if parsed.is_ok() {
            let _ = preview::preview(Some(data), data, ("current", "snapshot"));
        }
    }
}
