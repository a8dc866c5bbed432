//! The properties the fuzz targets check (config, state, scenario, hcl), shared with the regression test that replays every
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
                    (1..=cfg.services.count).contains(&n.get()),
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
    // The rule, restated over serde_json::Value: version 4 needs a string lineage, an integer
    // serial and a resources array; versions 1-3 (before Terraform 0.12) an integer serial, a
    // lineage that is a string when present, and a modules array whose `resources` are objects.
    let oracle = serde_json::from_slice::<Value>(data).ok().and_then(|v| {
        let o = v.as_object()?;
        let version = o.get("version")?.as_u64()?;
        let serial = o.get("serial")?.as_u64()?;
        if version == 4 {
            let lineage = o.get("lineage")?.as_str()?.to_string();
            o.get("resources")?.as_array()?;
            return Some((lineage, serial));
        }
        if !(1..=3).contains(&version) {
            return None;
        }
        let lineage = match o.get("lineage") {
            None | Some(Value::Null) => String::new(),
            Some(l) => l.as_str()?.to_string(),
        };
        let modules = o.get("modules")?.as_array()?;
        modules
            .iter()
            .all(|m| {
                matches!(
                    m.get("resources"),
                    None | Some(Value::Null | Value::Object(_))
                )
            })
            .then_some((lineage, serial))
    });
    match (&parsed, &oracle) {
        (Ok(info), Some((lineage, serial))) => {
            assert_eq!(&info.lineage, lineage);
            assert_eq!(info.serial, *serial);
        }
        (Err(_), None) => {}
        (p, o) => panic!("parse_state says {p:?}, serde_json::Value says {o:?}"),
    }
    // The drift side reads states its own way (instances as addresses): no panic either.
    let _ = tfops::drift::state::parse_state(data, "iac/terraform.tfstate");
    if data.len() <= 64 * 1024 {
        let _ = preview::addresses_light(data);
        let p = preview::preview(None, data, ("current", "snapshot"));
        // Always explained: a diff, a note, or why it cannot be computed.
        assert!(p.diff.is_some() || p.note.is_some() || p.failed.is_some());
        if parsed.is_ok() {
            let _ = preview::preview(Some(data), data, ("current", "snapshot"));
        }
    }
}

/// A module folder and state to plan scenarios against: the bundled `iac/`, written once per
/// process into a temp folder (plans only read it).
fn bundled_target() -> &'static tfops::drift::Target {
    static T: std::sync::OnceLock<tfops::drift::Target> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("tfops-fuzz-iac-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp module folder");
        std::fs::write(dir.join("main.tf"), BUNDLED_MAIN_TF).expect("main.tf");
        std::fs::write(dir.join("terraform.tfstate"), BUNDLED_STATE).expect("state");
        tfops::drift::Target {
            state: dir.join("terraform.tfstate"),
            dir,
            dir_display: "iac".into(),
            state_display: "iac/terraform.tfstate".into(),
            vars: Vec::new(),
        }
    })
}

const BUNDLED_MAIN_TF: &[u8] = include_bytes!("../../iac/main.tf");
const BUNDLED_STATE: &[u8] = include_bytes!("../../iac/terraform.tfstate");

/// Scenario text: no panic in the parser or the planner; every `.tf` file a plan rewrites is
/// still HCL that the drift model reads (a scenario never leaves a broken main.tf behind).
pub fn scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(s) = tfops::drift::scenario::parse_scenario(text, "config/scenarios/fuzz.hcl") else {
        return;
    };
    let Ok(plan) = tfops::drift::scenario::plan(&s, bundled_target()) else {
        return;
    };
    for c in &plan.changes {
        if let (false, Some(new)) = (c.state, &c.new) {
            let new = std::str::from_utf8(new).expect("a rewritten .tf file is UTF-8");
            if let Err(e) = tfops::drift::model::parse_file(new, "main.tf") {
                panic!("the plan wrote HCL the model cannot read ({e}):\n{new}");
            }
        }
    }
}

/// `.tf` text: the HCL model (parse, `count`/`for_each` expansion) and the diff against the
/// bundled state never panic; the diff's lists hold each address once.
pub fn hcl(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = tfops::drift::model::parse_file(text, "main.tf") else {
        return;
    };
    let Ok(desired) = tfops::drift::model::expand(vec![file]) else {
        return;
    };
    let recorded = tfops::drift::state::parse_state(BUNDLED_STATE, "iac/terraform.tfstate")
        .expect("the bundled state is valid");
    let d = tfops::drift::diff::diff(&desired, &recorded);
    for list in [&d.create, &d.destroy] {
        let set: std::collections::BTreeSet<&String> = list.iter().collect();
        assert_eq!(set.len(), list.len(), "an address listed twice: {list:?}");
    }
    let _ = d.has_drift();
}
