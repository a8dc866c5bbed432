//! What a reference to another resource is, where Terraform knows it offline.
//!
//! With `-refresh=false`, the value of a resource that the plan leaves as it is (no-op) is the
//! object in the state. tfops does not order resources by their references: a detection
//! first treats every resource reference as known only after apply, then, for each resource
//! all of whose instances came out in sync, gives its references the state's object and
//! detects again, until no more resources are added (each pass only turns unknowns into
//! verdicts). Only `terraform_data` is given: its state records each value with its type, so
//! the value read back is the one Terraform has; other types would need their provider's
//! schema (a list or a set, a map or an object). Instances with sensitive attributes are never
//! given (their values must not reach a report through another resource).

use std::collections::{BTreeMap, BTreeSet};

use super::diff::Diff;
use super::model::Desired;
use super::state::Recorded;
use super::value::Value;

/// What the reason of an unknown says when a resource reference made it: only then can
/// another pass decide more.
pub const AFTER_APPLY_MARK: &str = "known only after apply";

/// The type whose state objects are given to references.
const GIVEN_TYPE: &str = "terraform_data";

/// Resource address (`module.a.terraform_data.x`, no instance key) to the value references to
/// it get: the object, a tuple of objects (`count`), or an object of objects (`for_each`).
pub type Known = BTreeMap<String, Value>;

/// The resources of the last pass whose instances are all in sync, with their state values.
pub fn in_sync_resources(desired: &Desired, recorded: &Recorded, d: &Diff) -> Known {
    // Every address some finding names: none of these is in sync.
    let mut busy: BTreeSet<&str> = BTreeSet::new();
    busy.extend(d.create.iter().map(String::as_str));
    busy.extend(d.destroy.iter().map(String::as_str));
    busy.extend(d.forget.iter().map(String::as_str));
    busy.extend(d.update.iter().map(|u| u.address.as_str()));
    busy.extend(d.replace.iter().map(|u| u.address.as_str()));
    busy.extend(d.import.iter().map(|i| i.address.as_str()));
    for r in &d.renamed {
        busy.insert(&r.from);
        busy.insert(&r.to);
    }
    for m in &d.moved {
        busy.insert(&m.from);
        busy.insert(&m.to);
    }
    busy.extend(d.unknown.iter().map(|u| u.address.as_str()));
    // A finding on a resource, one of its instances, or a module around it: looked up, not
    // scanned (a large configuration has many resources and many findings).
    let touched = |resource: &str| {
        let instance = format!("{resource}[");
        busy.contains(resource)
            || busy
                .range(instance.as_str()..)
                .next()
                .is_some_and(|a| a.starts_with(&instance))
            || resource
                .match_indices('.')
                .any(|(i, _)| busy.contains(&resource[..i]))
    };

    // The state's instances of each resource of the given type.
    let mut by_resource: BTreeMap<String, Vec<(&String, &super::state::RecordedInstance)>> =
        BTreeMap::new();
    for (addr, inst) in &recorded.instances {
        if !inst.data && inst.rtype == GIVEN_TYPE {
            by_resource
                .entry(inst.address.resource())
                .or_default()
                .push((addr, inst));
        }
    }
    let mut out = Known::new();
    'resources: for (resource, insts) in by_resource {
        if touched(&resource) {
            continue;
        }
        // The configuration wants exactly these instances (nothing to create or destroy).
        let wanted = desired
            .instances
            .range(resource.clone()..)
            .take_while(|(a, _)| a.starts_with(&resource))
            .filter(|(a, _)| a.len() == resource.len() || a[resource.len()..].starts_with('['))
            .count();
        if wanted != insts.len() {
            continue;
        }
        let mut objects = Vec::with_capacity(insts.len());
        for (addr, inst) in &insts {
            if !inst.sensitive.is_empty() || !desired.instances.contains_key(*addr) {
                continue 'resources;
            }
            let Some(obj) = state_object(inst) else {
                continue 'resources;
            };
            objects.push((inst.address.key.clone(), obj));
        }
        let value = match objects.as_slice() {
            [(None, _)] => objects.pop().map(|(_, o)| o),
            _ => instances_value(objects),
        };
        if let Some(v) = value {
            out.insert(resource, v);
        }
    }
    out
}

/// `count` instances as a tuple in index order (0..n, none missing), `for_each` ones as an
/// object by key; `None` for a mix or a gap.
fn instances_value(objects: Vec<(Option<crate::state::model::Key>, Value)>) -> Option<Value> {
    use crate::state::model::Key;
    let mut ints = BTreeMap::new();
    let mut strs = BTreeMap::new();
    for (k, v) in objects {
        match k? {
            Key::Int(i) => ints.insert(i, v),
            Key::Str(s) => strs.insert(s, v),
        };
    }
    match (ints.is_empty(), strs.is_empty()) {
        (false, true) => {
            let n = ints.len();
            let in_order = ints.keys().copied().eq((0..n).map(|i| i as i64));
            in_order.then(|| Value::Tuple(ints.into_values().collect()))
        }
        (true, false) => Some(Value::Object(strs)),
        _ => None,
    }
}

/// A `terraform_data` object as Terraform reads it from the state: `id`, and `input`,
/// `output`, `triggers_replace` with their recorded types. `None` when any is not as expected.
fn state_object(inst: &super::state::RecordedInstance) -> Option<Value> {
    let attrs: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(inst.raw_attributes.get()).ok()?;
    let mut o = BTreeMap::new();
    for (k, v) in &attrs {
        let v = match (k.as_str(), v) {
            (_, serde_json::Value::Null) => Value::Null,
            ("id", serde_json::Value::String(s)) => Value::String(s.clone()),
            ("input" | "output" | "triggers_replace", w) => Value::from_state_wrapper(w)?,
            _ => return None,
        };
        o.insert(k.clone(), v);
    }
    for k in ["id", "input", "output", "triggers_replace"] {
        o.entry(k.to_string()).or_insert(Value::Null);
    }
    Some(Value::Object(o))
}
