//! What a restore changes: resource addresses added, removed and changed, and a unified diff of
//! the two states with sensitive values masked (paths in `sensitive_attributes`, outputs marked
//! `sensitive`, and provider `private` blobs). Pure: takes bytes, returns text.
//!
//! Addresses are Terraform's: `type.name`, `type.name[0]`, `type.name["key"]`, with `data.` and
//! `module.` prefixes. Big states (over [`DIFF_LIMIT`]) get addresses only: comparing values
//! would need the whole tree in memory.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::model::{self, Address, Key};

/// Above this size (either state), no value comparison and no unified diff.
pub const DIFF_LIMIT: usize = 8 << 20;
/// How long the line diff may search for the smallest diff before settling for a coarser one.
pub const DIFF_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
/// What a masked value is replaced with.
pub const MASK: &str = "(sensitive value)";

/// Changes a restore brings, seen from the live state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// In the snapshot, not in the live state: the restore brings them back.
    pub added: Vec<String>,
    /// In the live state, not in the snapshot: the restore drops them.
    pub removed: Vec<String>,
    /// In both, with different values.
    pub changed: Vec<String>,
    /// Whether values were compared (false for big states: `changed` is then empty).
    pub compared_values: bool,
}

/// Changes and, for small states, a masked unified diff.
#[derive(Debug, Clone)]
pub struct Preview {
    pub changes: Changes,
    pub diff: Option<String>,
    /// Why there is no diff, when there is none.
    pub note: Option<String>,
    /// Why no preview could be computed (a state this parser cannot read, such as one nested
    /// deeper than it allows). `changes` and `diff` are then empty and mean nothing: the
    /// restore replaces the whole file.
    pub failed: Option<String>,
}

impl Preview {
    /// A preview that could not be computed, and why.
    pub fn failed(why: String) -> Preview {
        Preview {
            changes: Changes::default(),
            diff: None,
            note: None,
            failed: Some(why),
        }
    }
}

/// Compares the live state `current` (None: missing or unreadable as a state) with `snapshot`.
/// `labels` name the two sides in the diff header.
pub fn preview(current: Option<&[u8]>, snapshot: &[u8], labels: (&str, &str)) -> Preview {
    let small = snapshot.len() <= DIFF_LIMIT && current.is_none_or(|c| c.len() <= DIFF_LIMIT);
    if !small {
        let cur = match current.map(addresses_checked).transpose() {
            Ok(c) => c.unwrap_or_default(),
            Err(e) => return Preview::failed(format!("the live state cannot be read here ({e})")),
        };
        let snap = match addresses_checked(snapshot) {
            Ok(s) => s,
            Err(e) => return Preview::failed(format!("the snapshot cannot be read here ({e})")),
        };
        let changes = Changes {
            added: snap.difference(&cur).cloned().collect(),
            removed: cur.difference(&snap).cloned().collect(),
            changed: Vec::new(),
            compared_values: false,
        };
        return Preview {
            changes,
            diff: None,
            note: Some(format!(
                "no line diff: a state is larger than {} MB; changes by address only",
                DIFF_LIMIT >> 20
            )),
            failed: None,
        };
    }
    // A side that does not parse here (nested deeper than serde_json allows, say) is not a
    // missing side: say the preview cannot be computed rather than show everything removed.
    let cur_doc: Option<Value> = match current.map(serde_json::from_slice).transpose() {
        Ok(d) => d,
        Err(e) => return Preview::failed(format!("the live state cannot be read here ({e})")),
    };
    let snap_doc: Value = match serde_json::from_slice(snapshot) {
        Ok(d) => d,
        Err(e) => return Preview::failed(format!("the snapshot cannot be read here ({e})")),
    };
    let cur_inst = cur_doc.as_ref().map(instances).unwrap_or_default();
    let snap_inst = instances(&snap_doc);
    let mut changes = Changes {
        compared_values: true,
        ..Changes::default()
    };
    for (a, v) in snap_inst.iter().filter(|(a, _)| !a.contains(DEPOSED)) {
        match cur_inst.get(a) {
            None => changes.added.push(a.clone()),
            Some(c) if c != v => changes.changed.push(a.clone()),
            Some(_) => {}
        }
    }
    changes.removed = cur_inst
        .keys()
        .filter(|a| !a.contains(DEPOSED) && !snap_inst.contains_key(*a))
        .cloned()
        .collect();
    // Mask with the union of both sides' sensitive paths, so neither side leaks what the other
    // marks sensitive.
    let mut paths = sensitive_paths(&snap_doc);
    if let Some(c) = &cur_doc {
        for (a, p) in sensitive_paths(c) {
            paths.entry(a).or_default().extend(p);
        }
    }
    let mut sens_outputs = sensitive_outputs(&snap_doc);
    if let Some(c) = &cur_doc {
        sens_outputs.extend(sensitive_outputs(c));
    }
    let masked_snap = masked_text(snap_doc, &paths, &sens_outputs);
    let masked_cur = match cur_doc {
        Some(d) => masked_text(d, &paths, &sens_outputs),
        None => String::new(),
    };
    // Myers is O(N·D): with every resource changed (a provider upgrade) an exact line diff
    // takes minutes. Past the deadline `similar` settles for a coarser (still correct) diff.
    let diff = similar::TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(&masked_cur, &masked_snap)
        .unified_diff()
        .context_radius(3)
        .header(labels.0, labels.1)
        .to_string();
    Preview {
        changes,
        diff: Some(diff),
        note: None,
        failed: None,
    }
}

/// Instance addresses of a state (formats 1-4, through the one state reader) without keeping
/// a value tree; an unreadable state has none.
pub fn addresses_light(bytes: &[u8]) -> BTreeSet<String> {
    model::read_content(bytes)
        .map(|c| c.instances.into_keys().collect())
        .unwrap_or_default()
}

/// As [`addresses_light`], with the reason a state cannot be read.
fn addresses_checked(bytes: &[u8]) -> Result<BTreeSet<String>, model::Invalid> {
    model::read_content(bytes).map(|c| c.instances.into_keys().collect())
}

/// Instance addresses of a parsed state (sorted; deposed objects are not addresses).
pub fn addresses(doc: &Value) -> Vec<String> {
    instances(doc)
        .into_keys()
        .filter(|k| !k.contains(DEPOSED))
        .collect()
}

/// What separates an address from a deposed object's key in the keys of [`instances`].
const DEPOSED: &str = " (deposed ";

/// The key of one instance object of a format-4 state: its [`Address`], and for a deposed
/// object, ` (deposed KEY)` after it (so that a deposed object's sensitive paths are its own).
fn instance_key(r: &Value, i: &Value) -> String {
    let a = Address {
        module: r
            .get("module")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        data: r.get("mode").and_then(Value::as_str) == Some("data"),
        rtype: r
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        name: r
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        key: i.get("index_key").and_then(Key::from_json),
    };
    match i.get("deposed").and_then(Value::as_str) {
        Some(d) => format!("{a}{DEPOSED}{d})"),
        None => a.to_string(),
    }
}

/// Instance key ([`instance_key`]) → instance object, current and deposed; for formats 1-3,
/// the addresses of [`model::read_content`] with their legacy objects.
fn instances(doc: &Value) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let Some(rs) = doc.get("resources").and_then(Value::as_array) else {
        // Formats 1-3: compare the objects the one reader upgrades.
        if let Ok(bytes) = serde_json::to_vec(doc) {
            if let Ok(c) = model::read_content(&bytes) {
                for (a, i) in c.instances {
                    let v = i
                        .current
                        .and_then(|o| serde_json::from_str(o.attributes.get()).ok())
                        .unwrap_or(Value::Null);
                    out.insert(a, v);
                }
            }
        }
        return out;
    };
    for r in rs {
        for i in r
            .get("instances")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.insert(instance_key(r, i), i.clone());
        }
    }
    out
}

/// Address → sensitive attribute paths (each a list of steps, as the state writes them).
fn sensitive_paths(doc: &Value) -> BTreeMap<String, Vec<Value>> {
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (a, i) in instances(doc) {
        if let Some(ps) = i.get("sensitive_attributes").and_then(Value::as_array) {
            if !ps.is_empty() {
                out.entry(a).or_default().extend(ps.iter().cloned());
            }
        }
    }
    out
}

fn sensitive_outputs(doc: &Value) -> BTreeSet<String> {
    doc.get("outputs")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter(|(_, v)| v.get("sensitive").and_then(Value::as_bool) == Some(true))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// The state with sensitive values masked, pretty-printed.
fn masked_text(
    mut doc: Value,
    paths: &BTreeMap<String, Vec<Value>>,
    outputs: &BTreeSet<String>,
) -> String {
    mask(&mut doc, paths, outputs);
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// Masks sensitive values in place.
pub fn mask(doc: &mut Value, paths: &BTreeMap<String, Vec<Value>>, outputs: &BTreeSet<String>) {
    if let Some(o) = doc.get_mut("outputs").and_then(Value::as_object_mut) {
        for (k, v) in o.iter_mut() {
            if outputs.contains(k) {
                if let Some(val) = v.get_mut("value") {
                    *val = Value::String(MASK.into());
                }
            }
        }
    }
    mask_legacy_outputs(doc);
    let Some(rs) = doc.get_mut("resources").and_then(Value::as_array_mut) else {
        return;
    };
    for r in rs {
        let rc = r.clone();
        let Some(insts) = r.get_mut("instances").and_then(Value::as_array_mut) else {
            continue;
        };
        for i in insts {
            let addr = instance_key(&rc, i);
            if let Some(p) = i.get_mut("private") {
                if !p.is_null() {
                    *p = Value::String("(private data)".into());
                }
            }
            let Some(ps) = paths.get(&addr) else {
                continue;
            };
            if let Some(attrs) = i.get_mut("attributes") {
                for p in ps {
                    mask_path(attrs, p);
                }
            }
        }
    }
}

/// Formats 1-3: root outputs marked sensitive sit in `modules[].outputs`.
fn mask_legacy_outputs(doc: &mut Value) {
    let Some(ms) = doc.get_mut("modules").and_then(Value::as_array_mut) else {
        return;
    };
    for m in ms {
        let Some(o) = m.get_mut("outputs").and_then(Value::as_object_mut) else {
            continue;
        };
        for v in o.values_mut() {
            if v.get("sensitive").and_then(Value::as_bool) == Some(true) {
                if let Some(val) = v.get_mut("value") {
                    *val = Value::String(MASK.into());
                }
            }
        }
    }
}

/// Follows one sensitive path (`[{"type":"get_attr","value":"x"}, {"type":"index",…}]`) and
/// masks what it reaches. A path that does not fit masks the deepest value it reached.
fn mask_path(attrs: &mut Value, path: &Value) {
    if let Some(steps) = path.as_array() {
        mask_steps(attrs, steps);
    }
}

fn mask_steps(cur: &mut Value, steps: &[Value]) {
    let Some((step, rest)) = steps.split_first() else {
        *cur = Value::String(MASK.into());
        return;
    };
    let next = match step.get("type").and_then(Value::as_str) {
        Some("get_attr") => match step.get("value").and_then(Value::as_str) {
            Some(k) => cur.get_mut(k),
            None => None,
        },
        Some("index") => match step.get("value").and_then(|v| v.get("value")) {
            Some(Value::Number(n)) => n.as_u64().and_then(|i| cur.get_mut(i as usize)),
            Some(Value::String(s)) => cur.get_mut(s.as_str()),
            _ => None,
        },
        _ => None,
    };
    match next {
        Some(n) => mask_steps(n, rest),
        // A path that does not fit: mask what was reached, never less.
        None => *cur = Value::String(MASK.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = r#"{"version":4,"serial":1,"lineage":"l","outputs":{
        "pw":{"value":"hunter2","type":"string","sensitive":true},
        "name":{"value":"visible","type":"string"}},
      "resources":[
        {"mode":"managed","type":"null_resource","name":"a","instances":[
          {"attributes":{"id":"1","triggers":{"name":"a"}}, "sensitive_attributes":[]}]},
        {"mode":"managed","type":"db","name":"main","instances":[
          {"attributes":{"id":"9","password":"s3cr3t-A","tags":["x","hidden-tag"]},
           "sensitive_attributes":[[{"type":"get_attr","value":"password"}],
             [{"type":"get_attr","value":"tags"},{"type":"index","value":{"value":1,"type":"number"}}]],
           "private":"c2VjcmV0"}]},
        {"mode":"data","type":"d","name":"x","module":"module.m","instances":[
          {"index_key":"k","attributes":{}}, {"index_key":0,"attributes":{}}]}]}"#;

    #[test]
    fn addresses_follow_terraform() {
        let doc: Value = serde_json::from_str(A).unwrap();
        assert_eq!(
            addresses(&doc),
            vec![
                "db.main",
                "module.m.data.d.x[\"k\"]",
                "module.m.data.d.x[0]",
                "null_resource.a"
            ]
        );
        assert_eq!(
            addresses_light(A.as_bytes())
                .into_iter()
                .collect::<Vec<_>>(),
            addresses(&doc)
        );
    }

    #[test]
    fn diff_masks_secrets() {
        let b = A
            .replace("s3cr3t-A", "s3cr3t-B")
            .replace("hunter2", "hunter3")
            .replace(r#""triggers":{"name":"a"}"#, r#""triggers":{"name":"a2"}"#);
        let p = preview(Some(b.as_bytes()), A.as_bytes(), ("current", "snap"));
        assert_eq!(p.changes.changed, vec!["db.main", "null_resource.a"]);
        let d = p.diff.unwrap();
        for secret in ["s3cr3t", "hunter", "hidden-tag", "c2VjcmV0"] {
            assert!(!d.contains(secret), "{secret} leaked:\n{d}");
        }
        assert!(d.contains("\"a2\""), "{d}");
    }

    #[test]
    fn deposed_sensitive_values_are_masked() {
        let st = |pw: &str| {
            format!(
                r#"{{"version":4,"serial":1,"lineage":"l","resources":[
          {{"mode":"managed","type":"db","name":"a","instances":[
            {{"deposed":"0000aaaa","attributes":{{"id":"0","password":"old-{pw}"}},
             "sensitive_attributes":[[{{"type":"get_attr","value":"password"}}]]}},
            {{"attributes":{{"id":"1","note":"cur-{pw}"}},"sensitive_attributes":[]}}]}}]}}"#
            )
        };
        let p = preview(
            Some(st("one").as_bytes()),
            st("two").as_bytes(),
            ("current", "snap"),
        );
        assert_eq!(p.changes.changed, vec!["db.a"]);
        let d = p.diff.unwrap();
        assert!(d.contains("cur-two"), "{d}");
        for secret in ["old-one", "old-two"] {
            assert!(!d.contains(secret), "{secret} leaked:\n{d}");
        }
    }

    #[test]
    fn legacy_states_have_addresses_and_masked_outputs() {
        let v3 = br#"{"version":3,"serial":1,"lineage":"l","modules":[{"path":["root"],
          "outputs":{"pw":{"sensitive":true,"type":"string","value":"hunter2"}},
          "resources":{"null_resource.a.0":{"type":"null_resource","primary":{"id":"1","attributes":{"id":"1"}}}}}]}"#;
        let p = preview(None, v3, ("current", "snap"));
        assert_eq!(p.changes.added, vec!["null_resource.a[0]"]);
        assert!(!p.diff.unwrap().contains("hunter2"));
    }

    #[test]
    fn missing_current_lists_everything_added() {
        let p = preview(None, A.as_bytes(), ("current", "snap"));
        assert_eq!(p.changes.added.len(), 4);
        assert!(p.changes.removed.is_empty());
    }

    #[test]
    fn a_state_too_deep_to_parse_is_a_preview_that_cannot_be_computed() {
        let deep = format!("{}1{}", "[".repeat(300), "]".repeat(300));
        let cur = A.replace(
            r#""triggers":{"name":"a"}"#,
            &format!(r#""triggers":{deep}"#),
        );
        let p = preview(Some(cur.as_bytes()), A.as_bytes(), ("current", "snap"));
        assert!(p.failed.is_some(), "{p:?}");
        assert!(p.changes.removed.is_empty() && p.diff.is_none(), "{p:?}");
        let p = preview(Some(A.as_bytes()), cur.as_bytes(), ("current", "snap"));
        assert!(p.failed.is_some(), "{p:?}");
        assert!(p.changes.added.is_empty() && p.diff.is_none(), "{p:?}");
    }
}
