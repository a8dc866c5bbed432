//! The diff: desired instances against recorded ones, as pure values in and out.
//!
//! `moved` blocks are applied to the recorded addresses first; instances covered by an
//! `unknown` entry are neither destroyed nor counted in sync; attributes are compared only
//! where the configuration writes a literal value, as whole values, primitives after
//! conversion to strings (so `1` equals `"1"`, as Terraform converts them). A renamed pair is
//! a destroy and a create of the same type whose compared attributes match, when that pair is
//! the only match for both. Values are never copied into the result: only addresses and
//! attribute names, so sensitive values cannot leak through it.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::model::{Desired, Moved, Unknown};
use super::state::Recorded;

/// An instance whose compared attributes differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Update {
    pub address: String,
    pub attributes: Vec<String>,
    /// The subset of `attributes` the state marks sensitive (their values are never shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sensitive: Vec<String>,
}

/// A destroy and a create that look like one resource under a new name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Renamed {
    pub from: String,
    pub to: String,
    /// A `moved` block to add to the configuration (Terraform ≥ 1.1).
    pub moved_block: String,
    /// The command for older Terraform (the bundled 1.0.3 predates `moved`).
    pub state_mv: String,
}

/// The result of comparing a configuration with a state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub create: Vec<String>,
    pub destroy: Vec<String>,
    pub update: Vec<Update>,
    pub renamed: Vec<Renamed>,
    pub unknown: Vec<Unknown>,
    /// `moved` blocks that applied to an address in the state.
    pub moved: Vec<Moved>,
    pub in_sync: usize,
}

impl Diff {
    /// True when nothing is to create, destroy or update.
    pub fn has_drift(&self) -> bool {
        !(self.create.is_empty() && self.destroy.is_empty() && self.update.is_empty())
    }
}

/// Canonical text of a value for comparison: primitives as strings (Terraform's conversion),
/// objects with sorted keys.
pub fn canonical(v: &Value) -> String {
    let mut s = String::new();
    canon_into(v, &mut s);
    s
}

fn canon_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "\"true\"" } else { "\"false\"" }),
        Value::Number(n) => {
            let t = match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => format!("{}", f as i64),
                Some(f) => format!("{f}"),
                None => n.to_string(),
            };
            out.push_str(&super::state::quote(&t));
        }
        Value::String(s) => out.push_str(&super::state::quote(s)),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canon_into(x, out);
            }
            out.push(']');
        }
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&super::state::quote(k));
                out.push(':');
                canon_into(&o[k], out);
            }
            out.push('}');
        }
    }
}

/// Whole-value equality with primitives compared after conversion to strings (Terraform's
/// conversion: `1` equals `"1"`, `true` equals `"true"`); the same relation as comparing
/// [`canonical`] texts, without building them.
pub fn equal(a: &Value, b: &Value) -> bool {
    fn prim(v: &Value) -> Option<Cow<'_, str>> {
        match v {
            Value::String(s) => Some(Cow::Borrowed(s.as_str())),
            Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Value::Number(n) => Some(Cow::Owned(match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => format!("{}", f as i64),
                Some(f) => format!("{f}"),
                None => n.to_string(),
            })),
            _ => None,
        }
    }
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        (Value::String(x), Value::String(y)) => x == y,
        _ => match (prim(a), prim(b)) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

/// True when `prefix` names `addr` or a part of it (`a.b` covers `a.b[0]`; `module.m` covers
/// `module.m.x.y` and `module.m[0].x.y`).
fn covers(prefix: &str, addr: &str) -> bool {
    match addr.strip_prefix(prefix) {
        Some("") => true,
        Some(rest) => {
            rest.starts_with('[') || (prefix.starts_with("module.") && rest.starts_with('.'))
        }
        None => false,
    }
}

/// Compares `desired` with `recorded`.
pub fn diff(desired: &Desired, recorded: &Recorded) -> Diff {
    let mut out = Diff {
        unknown: desired.unknown.clone(),
        ..Diff::default()
    };
    // Effective address of each recorded instance after `moved` blocks.
    let mut effective: BTreeMap<Cow<'_, str>, &str> = BTreeMap::new();
    for addr in recorded.instances.keys() {
        if desired.moved.is_empty() || desired.instances.contains_key(addr) {
            effective.insert(Cow::Borrowed(addr.as_str()), addr.as_str());
            continue;
        }
        let mut cur = addr.clone();
        {
            for _ in 0..=desired.moved.len() {
                let next = desired.moved.iter().find_map(|m| {
                    let rest = cur.strip_prefix(m.from.as_str())?;
                    covers(&m.from, &cur).then(|| format!("{}{rest}", m.to))
                });
                match next {
                    Some(n) if !recorded.instances.contains_key(&n) && n != cur => cur = n,
                    _ => break,
                }
                if desired.instances.contains_key(&cur) {
                    break;
                }
            }
        }
        if &cur != addr {
            out.moved.push(Moved {
                from: addr.clone(),
                to: cur.clone(),
            });
            effective.insert(Cow::Owned(cur), addr.as_str());
        } else {
            effective.insert(Cow::Borrowed(addr.as_str()), addr.as_str());
        }
    }

    for (addr, want) in &desired.instances {
        let Some(orig) = effective.get(addr.as_str()) else {
            out.create.push(addr.clone());
            continue;
        };
        let have = &recorded.instances[*orig];
        let mut attrs = Vec::new();
        let mut sensitive = Vec::new();
        let keys: Vec<&str> = want.attrs.keys().map(String::as_str).collect();
        let values = if keys.is_empty() {
            Vec::new()
        } else {
            have.attributes(&keys)
        };
        for ((k, v), sv) in want.attrs.iter().zip(values) {
            let same = sv.is_some_and(|sv| equal(&sv, v));
            if !same {
                attrs.push(k.clone());
                if have.sensitive.contains(k) {
                    sensitive.push(k.clone());
                }
            }
        }
        if attrs.is_empty() {
            out.in_sync += 1;
        } else {
            out.update.push(Update {
                address: addr.clone(),
                attributes: attrs,
                sensitive,
            });
        }
    }
    for addr in effective.keys() {
        if desired.instances.contains_key(addr.as_ref())
            || out.unknown.iter().any(|u| covers(&u.address, addr))
        {
            continue;
        }
        out.destroy.push(addr.to_string());
    }
    out.renamed = renames(desired, recorded, &effective, &out.create, &out.destroy);
    out
}

/// (data source?, type, compared attribute names) of a group of creates.
type KindKeys<'a> = (bool, &'a str, Vec<&'a str>);

/// Unique create/destroy pairs of the same type (and module) whose compared attributes match.
fn renames(
    desired: &Desired,
    recorded: &Recorded,
    effective: &BTreeMap<Cow<'_, str>, &str>,
    create: &[String],
    destroy: &[String],
) -> Vec<Renamed> {
    // Group creates by (kind, compared attribute names, canonical values).
    let mut by_keys: HashMap<KindKeys, HashMap<String, Vec<&str>>> = HashMap::new();
    for c in create {
        let d = &desired.instances[c];
        let keys: Vec<&str> = d.attrs.keys().map(String::as_str).collect();
        let sig: String = d
            .attrs
            .values()
            .map(canonical)
            .collect::<Vec<_>>()
            .join("\u{1}");
        by_keys
            .entry((d.data, d.rtype.as_str(), keys))
            .or_default()
            .entry(sig)
            .or_default()
            .push(c.as_str());
    }
    // For each destroy, the creates it matches.
    let mut matches_of_destroy: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut matches_of_create: HashMap<&str, Vec<&str>> = HashMap::new();
    for dname in destroy {
        let r = &recorded.instances[effective[dname.as_str()]];
        if !r.module.is_empty() {
            continue;
        }
        for ((data, rtype, keys), sigs) in &by_keys {
            if *data != r.data || *rtype != r.rtype {
                continue;
            }
            let vals: Option<Vec<String>> = r
                .attributes(keys)
                .into_iter()
                .map(|v| v.as_ref().map(canonical))
                .collect();
            let Some(vals) = vals else { continue };
            if let Some(cs) = sigs.get(&vals.join("\u{1}")) {
                for c in cs {
                    matches_of_destroy
                        .entry(dname.as_str())
                        .or_default()
                        .push(c);
                    matches_of_create.entry(c).or_default().push(dname.as_str());
                }
            }
        }
    }
    let mut out = Vec::new();
    for (d, cs) in matches_of_destroy {
        if let [c] = cs.as_slice() {
            if matches_of_create.get(c).is_some_and(|ds| ds.len() == 1) {
                out.push(Renamed {
                    from: d.to_string(),
                    to: c.to_string(),
                    moved_block: format!("moved {{\n  from = {d}\n  to   = {c}\n}}"),
                    state_mv: format!("terraform state mv '{d}' '{c}'"),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drift::model::{expand, parse_file};
    use crate::drift::state::parse_state;

    fn run(tf: &str, state: &str) -> Diff {
        let d = expand(vec![parse_file(tf, "t.tf").unwrap()]).unwrap();
        let r = parse_state(state.as_bytes(), "s").unwrap();
        diff(&d, &r)
    }

    fn st(res: &str) -> String {
        format!(r#"{{"version":4,"lineage":"l","serial":1,"resources":[{res}]}}"#)
    }

    fn null(name: &str, attrs: &str) -> String {
        format!(
            r#"{{"mode":"managed","type":"null_resource","name":"{name}","instances":[{{"attributes":{attrs}}}]}}"#
        )
    }

    #[test]
    fn equal_is_canonical_equality() {
        use serde_json::json;
        let vals = [
            json!(1),
            json!("1"),
            json!(1.0),
            json!("1.0"),
            json!(true),
            json!("true"),
            json!(null),
            json!({"a": 1}),
            json!({"a": "1"}),
            json!({"a": 1, "b": 2}),
            json!([1, "2"]),
            json!(["1", 2]),
            json!([]),
            json!(1.5),
            json!("1.5"),
            json!({}),
        ];
        for a in &vals {
            for b in &vals {
                assert_eq!(equal(a, b), canonical(a) == canonical(b), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn primitives_compare_after_conversion() {
        let d = run(
            "resource \"null_resource\" \"a\" {\n  triggers = { v = 1, b = true }\n}\n",
            &st(&null("a", r#"{"triggers":{"v":"1","b":"true"}}"#)),
        );
        assert_eq!(d.in_sync, 1);
        assert!(!d.has_drift());
    }

    #[test]
    fn whole_values_compared() {
        let d = run(
            "resource \"null_resource\" \"a\" {\n  triggers = { version = \"1\" }\n}\n",
            &st(&null("a", r#"{"triggers":{"version":"1","owner":"a"}}"#)),
        );
        assert_eq!(d.update.len(), 1);
        assert_eq!(d.update[0].attributes, ["triggers"]);
    }

    #[test]
    fn rename_unique_and_ambiguous() {
        let tf = "resource \"null_resource\" \"b\" {\n  triggers = { n = \"1\" }\n}\n";
        let d = run(tf, &st(&null("a", r#"{"triggers":{"n":"1"}}"#)));
        assert_eq!(d.renamed.len(), 1);
        assert_eq!(d.renamed[0].from, "null_resource.a");
        assert_eq!(d.renamed[0].to, "null_resource.b");
        assert_eq!(d.create, ["null_resource.b"]);
        assert_eq!(d.destroy, ["null_resource.a"]);
        let two = format!(
            "{},{}",
            null("a", r#"{"triggers":{"n":"1"}}"#),
            null("c", r#"{"triggers":{"n":"1"}}"#)
        );
        let d = run(tf, &st(&two));
        assert!(d.renamed.is_empty());
        assert_eq!(d.destroy.len(), 2);
    }

    #[test]
    fn moved_is_in_sync() {
        let d = run(
            "resource \"null_resource\" \"b\" {\n  count = 1\n}\nmoved {\n  from = null_resource.a\n  to   = null_resource.b\n}\n",
            &st(r#"{"mode":"managed","type":"null_resource","name":"a","instances":[{"index_key":0,"attributes":{}}]}"#),
        );
        assert!(!d.has_drift(), "{d:?}");
        assert_eq!(d.in_sync, 1);
        assert_eq!(d.moved[0].to, "null_resource.b[0]");
    }

    #[test]
    fn unknown_covers_state() {
        let d = run(
            "variable \"n\" {}\nresource \"null_resource\" \"a\" {\n  count = var.n\n}\n",
            &st(
                r#"{"mode":"managed","type":"null_resource","name":"a","instances":[{"index_key":0,"attributes":{}}]}"#,
            ),
        );
        assert!(d.destroy.is_empty());
        assert_eq!(d.unknown.len(), 1);
        assert_eq!(d.in_sync, 0);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;
        use serde_json::json;

        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(json!(null)),
                any::<bool>().prop_map(Value::from),
                (-3i64..3).prop_map(Value::from),
                prop_oneof![Just("1"), Just("true"), Just("a"), Just("1.5"), Just("")]
                    .prop_map(Value::from),
                Just(json!(1.5)),
            ];
            leaf.prop_recursive(3, 16, 3, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                    prop::collection::btree_map(
                        prop_oneof![Just("a".to_string()), Just("b".to_string())],
                        inner,
                        0..3
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn equal_agrees_with_canonical(a in value(), b in value()) {
                prop_assert_eq!(equal(&a, &b), canonical(&a) == canonical(&b));
                prop_assert!(equal(&a, &a));
            }

            /// Every desired instance is exactly one of create / update / in sync; every
            /// recorded one is matched or destroyed; renamed pairs are among both.
            #[test]
            fn the_diff_partitions_both_sides(
                want in prop::collection::btree_map("[a-e]", 0u8..3, 0..5),
                have in prop::collection::btree_map("[a-e]", 0u8..3, 0..5),
            ) {
                let tf: String = want
                    .iter()
                    .map(|(n, v)| format!("resource \"t\" \"{n}\" {{\n  v = {v}\n}}\n"))
                    .collect();
                let res: Vec<String> = have
                    .iter()
                    .map(|(n, v)| format!(r#"{{"mode":"managed","type":"t","name":"{n}","instances":[{{"attributes":{{"v":"{v}"}}}}]}}"#))
                    .collect();
                let d = run(&tf, &st(&res.join(",")));
                let updated = d.update.len();
                prop_assert_eq!(d.create.len() + updated + d.in_sync, want.len());
                let matched = want.keys().filter(|k| have.contains_key(*k)).count();
                prop_assert_eq!(d.destroy.len() + matched, have.len());
                for r in &d.renamed {
                    prop_assert!(d.create.contains(&r.to) && d.destroy.contains(&r.from));
                }
                for (n, v) in &want {
                    if have.get(n).is_some_and(|h| h != v) {
                        let addr = format!("t.{n}");
                        prop_assert!(d.update.iter().any(|u| u.address == addr));
                    }
                }
            }
        }
    }
}
