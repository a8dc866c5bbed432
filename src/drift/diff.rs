//! The diff: desired instances against recorded ones, as pure values in and out — the actions
//! `terraform plan -refresh=false` would take.
//!
//! - Moves first: `moved` blocks, then Terraform's implicit move between `a` and `a[0]` when
//!   `count` is added or removed. Each move applied to a recorded object is a `moved` action.
//! - `create` for a desired instance with no recorded object; for one that has it, the
//!   compared attributes decide: `terraform_data` (`input` → `update`, `triggers_replace` →
//!   `replace`) and `null_resource` (`triggers` → `replace`), whose schemas tfops knows,
//!   compare with their types and count attributes removed from the configuration; other
//!   types compare what the configuration sets, primitives after conversion to strings (an
//!   `update`: without the provider's schema, an in-place update and a replacement look the
//!   same); nested blocks the state holds of a type the configuration does not write leave
//!   such an instance `unknown` (a removed block, or one the provider fills in itself).
//!   `lifecycle.ignore_changes` hides what it names; `replace_triggered_by` replaces when a
//!   referenced resource (or the referenced attribute of it) changes, also through another
//!   trigger, and leaves the instance unknown when that change cannot be decided.
//! - A recorded object no desired instance claims: `forget` under a `removed` block with
//!   `destroy = false`, nothing when an `unknown` entry covers it, else `destroy`.
//! - Root outputs whose known value differs from the state's.
//! - `renamed`: a destroy and a create of the same type whose compared attributes match, when
//!   that pair is the only match for both.
//!
//! Values are never copied into the result: only addresses and attribute names, so sensitive
//! values cannot leak through it.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::model::{Desired, DesiredInstance, Moved, Unknown};
use super::state::{Recorded, RecordedInstance};

/// An instance whose compared attributes differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Update {
    pub address: String,
    pub attributes: Vec<String>,
    /// The subset of `attributes` the state marks sensitive (their values are never shown).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sensitive: Vec<String>,
}

/// A root output that changes: `create`, `update` or `delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputChange {
    pub name: String,
    pub action: String,
}

/// An object an `import` block brings under management: the address and the ID given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Import {
    pub address: String,
    pub id: String,
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
    pub replace: Vec<Update>,
    pub renamed: Vec<Renamed>,
    pub unknown: Vec<Unknown>,
    /// Moves (from `moved` blocks or implicit) applied to an object in the state.
    pub moved: Vec<Moved>,
    /// Objects a `removed { lifecycle { destroy = false } }` block drops from the state.
    pub forget: Vec<String>,
    /// Objects `import` blocks bring into the state (compared like recorded objects too).
    pub import: Vec<Import>,
    pub outputs: Vec<OutputChange>,
    pub in_sync: usize,
    /// Whether an update was decided for a type whose schema tfops does not know.
    pub schemaless_update: bool,
    /// For each replace its `replace_triggered_by` caused: the changes (of instances updated
    /// or replaced, also through another trigger) that fired it. Ignore rules use it
    /// to drop a replace whose triggers they all ignore.
    pub triggered_by: BTreeMap<String, Vec<Trigger>>,
    /// Instances unknown only because the state holds blocks their configuration does not
    /// write: the paths of those block types (`access_logs`, `listener.rule`). Ignore rules
    /// that cover every one of them decide the instance.
    pub unwritten: BTreeMap<String, Vec<String>>,
}

/// A `replace_triggered_by` reference that fired: the instance whose change fired it, and
/// the attribute referenced (`None`: the whole resource).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub address: String,
    pub attribute: Option<String>,
}

/// What the plan changes of one instance, for references to its attributes.
#[derive(Debug, Clone)]
pub struct Planned<'a> {
    pub rtype: &'a str,
    /// Its own changed attributes (`replace_triggered_by` left out).
    pub attrs: Vec<String>,
    pub replaced: bool,
}

impl Planned<'_> {
    /// Whether a reference to `attribute` (`None`: the whole resource) of an instance
    /// updated or replaced sees a change, as Terraform decides it: the attribute's planned
    /// value differs from the state's, one known only after apply included (`output` when
    /// `input` changes, `id` on a replacement). Exact for the types whose schema tfops
    /// knows; any change counts for the others. (An instance to create fires nothing.)
    pub fn fires(&self, attribute: Option<&str>) -> bool {
        let Some(a) = attribute else { return true };
        let own = |x: &str| self.attrs.iter().any(|y| y == x);
        match self.rtype {
            "terraform_data" => {
                own(a)
                    || (a == "output" && (self.replaced || own("input")))
                    || (a == "id" && self.replaced)
            }
            "null_resource" => own(a) || (a == "id" && self.replaced),
            _ => true,
        }
    }
}

/// A reference split into the resource (or instance) it names and the attribute after it:
/// `module.m[0].type.name["k"].attr.sub` → (`module.m[0].type.name["k"]`, `Some("attr")`).
pub fn split_reference(r: &str) -> (&str, Option<&str>) {
    let b = r.as_bytes();
    // One dotted part and its `[key]`, if any: the index after them.
    let part = |mut i: usize| -> usize {
        while i < b.len() && b[i] != b'.' && b[i] != b'[' {
            i += 1;
        }
        if i < b.len() && b[i] == b'[' {
            let mut in_q = false;
            i += 1;
            while i < b.len() {
                match b[i] {
                    b'\\' if in_q => i += 1,
                    b'"' => in_q = !in_q,
                    b']' if !in_q => {
                        i += 1;
                        break;
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        i.min(b.len())
    };
    let mut i = 0;
    while r[i..].starts_with("module.") {
        i = part(i + "module.".len());
        if b.get(i) != Some(&b'.') {
            return (r, None);
        }
        i += 1;
    }
    let t = part(i);
    if b.get(t) != Some(&b'.') {
        return (r, None);
    }
    let end = part(t + 1);
    let attr = r[end..]
        .strip_prefix('.')
        .map(|rest| &rest[..rest.find(['.', '[']).unwrap_or(rest.len())])
        .filter(|a| !a.is_empty());
    (&r[..end], attr)
}

impl Diff {
    fn unwritten_unknown(&mut self, desired: &Desired, addr: &str, u: Vec<Unwritten>) {
        self.unknown
            .push(undecided(desired, addr, undecided_reason(&u)));
        self.unwritten
            .insert(addr.to_string(), u.into_iter().map(|(p, _)| p).collect());
    }

    /// True when the plan would change something (resources, moves, forgets or outputs), as
    /// `terraform plan -detailed-exitcode` counts it.
    pub fn has_drift(&self) -> bool {
        !(self.create.is_empty()
            && self.destroy.is_empty()
            && self.update.is_empty()
            && self.replace.is_empty()
            && self.moved.is_empty()
            && self.forget.is_empty()
            && self.import.is_empty()
            && self.outputs.is_empty())
    }
}

/// Canonical text of a value for loose comparison: primitives as strings (Terraform's
/// conversion), objects with sorted keys.
pub fn canonical(v: &Value) -> String {
    let mut s = String::new();
    canon_into(v, &mut s);
    s
}

fn num_text(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => format!("{}", f as i64),
        Some(f) => format!("{f}"),
        None => n.to_string(),
    }
}

fn canon_into(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "\"true\"" } else { "\"false\"" }),
        Value::Number(n) => out.push_str(&super::state::quote(&num_text(n))),
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
/// [`canonical`] texts, without building them. For types whose schema tfops does not know.
pub fn equal(a: &Value, b: &Value) -> bool {
    fn prim(v: &Value) -> Option<Cow<'_, str>> {
        match v {
            Value::String(s) => Some(Cow::Borrowed(s.as_str())),
            Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Value::Number(n) => Some(Cow::Owned(num_text(n))),
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

/// Exact equality of JSON values as Terraform's values: numbers by value (integers exactly,
/// however large), strings, bools, lists and objects member by member; no conversion.
pub fn strict_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_text(x) == num_text(y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| strict_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| strict_equal(v, w)))
        }
        _ => a == b,
    }
}

/// A `terraform_data` value (`input`, `triggers_replace`): the desired value and type against
/// the state's `{"value", "type"}` wrapper (or null).
fn typed_equal(want: Option<(&Value, &Value)>, have: Option<&Value>) -> bool {
    let want = want.filter(|(v, _)| !v.is_null());
    let have = have.filter(|h| !h.is_null());
    match (want, have) {
        (None, None) => true,
        (Some((v, t)), Some(h)) => {
            let (hv, ht) = (h.get("value"), h.get("type"));
            hv.is_some_and(|hv| strict_equal(v, hv)) && ht.is_some_and(|ht| ht == t)
        }
        _ => false,
    }
}

/// A map's values converted to strings, as `null_resource.triggers` (a map of strings) holds
/// them.
fn to_string_map(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), super::model::to_string_value(x.clone())))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `null_resource.triggers` (a map of strings): the desired value converted, against the state.
fn triggers_equal(want: Option<&Value>, have: Option<&Value>) -> bool {
    let want = want.filter(|v| !v.is_null()).map(to_string_map);
    let have = have.filter(|h| !h.is_null());
    match (want, have) {
        (None, None) => true,
        (Some(w), Some(h)) => strict_equal(&w, h),
        _ => false,
    }
}

/// What one instance's comparison decides.
enum Verdict {
    InSync,
    Update(Vec<String>),
    Replace(Vec<String>),
    /// Not decided without the provider's schema: the state holds blocks the configuration
    /// does not write.
    Unwritten(Vec<Unwritten>),
}

/// Compares one instance. `unwritten`: also look for blocks the state holds that the
/// configuration does not write (renames, a heuristic, match on what is written only).
fn compare(
    want: &DesiredInstance,
    have: &RecordedInstance,
    schemaless: &mut bool,
    unwritten: bool,
) -> Verdict {
    let ig = &want.ignore;
    match want.rtype.as_str() {
        "terraform_data" => {
            let keys = ["input", "triggers_replace"];
            let vals = have.attributes(&keys);
            let (input_t, triggers_t) = (want.type_of("input"), want.type_of("triggers_replace"));
            // `ignore_changes` paths below an attribute keep the state's value there.
            let kept = |k: &str, t: Option<&Value>, have: Option<&Value>| {
                let paths = ig.paths(k);
                let (v, t) = want.attrs.get(k).zip(t)?;
                let have = have.filter(|h| !paths.is_empty() && !h.is_null())?;
                let (hv, ht) = (have.get("value")?, have.get("type")?);
                Some(super::ignore_changes::keep_prior(v, t, hv, ht, paths))
            };
            let input_kept = kept("input", input_t.as_deref(), vals[0].as_ref());
            let triggers_kept = kept("triggers_replace", triggers_t.as_deref(), vals[1].as_ref());
            let input = input_kept
                .as_ref()
                .or(want.attrs.get("input"))
                .zip(input_t.as_deref());
            let triggers = triggers_kept
                .as_ref()
                .or(want.attrs.get("triggers_replace"))
                .zip(triggers_t.as_deref());
            let mut replace = Vec::new();
            let mut update = Vec::new();
            if !ig.covers("triggers_replace") && !typed_equal(triggers, vals[1].as_ref()) {
                replace.push("triggers_replace".to_string());
            }
            if !ig.covers("input") && !typed_equal(input, vals[0].as_ref()) {
                update.push("input".to_string());
            }
            if !replace.is_empty() {
                replace.extend(update);
                Verdict::Replace(replace)
            } else if !update.is_empty() {
                Verdict::Update(update)
            } else {
                Verdict::InSync
            }
        }
        "null_resource" => {
            let vals = have.attributes(&["triggers"]);
            let paths = ig.paths("triggers");
            let kept = match (want.attrs.get("triggers"), vals[0].as_ref()) {
                (Some(v), Some(h)) if !paths.is_empty() && !v.is_null() && !h.is_null() => {
                    let t = serde_json::json!(["map", "string"]);
                    let v = to_string_map(v);
                    Some(super::ignore_changes::keep_prior(&v, &t, h, &t, paths))
                }
                _ => None,
            };
            if !ig.covers("triggers")
                && !triggers_equal(
                    kept.as_ref().or(want.attrs.get("triggers")),
                    vals[0].as_ref(),
                )
            {
                Verdict::Replace(vec!["triggers".into()])
            } else {
                Verdict::InSync
            }
        }
        _ => {
            let keys: Vec<&str> = want
                .attrs
                .iter()
                .filter(|(k, v)| !v.is_null() && !ig.covers(k))
                .map(|(k, _)| k.as_str())
                .chain(want.blocks.keys().map(String::as_str))
                .collect();
            let vals = if keys.is_empty() {
                Vec::new()
            } else {
                have.attributes(&keys)
            };
            let mut undecided: Vec<Unwritten> = Vec::new();
            let changed: Vec<String> = keys
                .iter()
                .zip(vals)
                .filter(|(k, sv)| match want.blocks.get(**k) {
                    Some(blocks) => match blocks_match(sv.as_ref(), blocks, k) {
                        BlockCmp::Same => false,
                        BlockCmp::Differ => true,
                        BlockCmp::Undecided(why) => {
                            undecided.extend(why);
                            false
                        }
                    },
                    None => !sv.as_ref().is_some_and(|sv| {
                        let paths = ig.paths(k);
                        if paths.is_empty() || sv.is_null() {
                            return equal(sv, &want.attrs[**k]);
                        }
                        // Without the schema, objects are taken as maps.
                        let v = super::ignore_changes::keep_prior(
                            &want.attrs[**k],
                            &Value::Null,
                            sv,
                            &Value::Null,
                            paths,
                        );
                        equal(sv, &v)
                    }),
                })
                .map(|(k, _)| k.to_string())
                .collect();
            if !changed.is_empty() {
                *schemaless = true;
                return Verdict::Update(changed);
            }
            // Block types the state holds that the configuration does not write at all.
            if unwritten {
                undecided.extend(unwritten_blocks(&have.raw_attributes, |k| {
                    want.attrs.contains_key(k) || want.blocks.contains_key(k) || ig.covers(k)
                }));
            }
            if undecided.is_empty() || !unwritten {
                Verdict::InSync
            } else {
                Verdict::Unwritten(merge_unwritten(undecided))
            }
        }
    }
}

/// The object an `import` block brings in, where tfops knows it without the provider:
/// `terraform_data` imports as its ID alone. `None` for other types.
fn imported_object(want: &DesiredInstance, id: &str) -> Option<RecordedInstance> {
    if want.rtype != "terraform_data" {
        return None;
    }
    let attrs = serde_json::json!({"id": id, "input": null, "output": null,
        "triggers_replace": null});
    Some(RecordedInstance {
        // Only the attributes are compared: the address is the type's alone.
        address: crate::state::model::Address {
            module: String::new(),
            data: false,
            rtype: want.rtype.clone(),
            name: String::new(),
            key: None,
        },
        module: String::new(),
        data: false,
        rtype: want.rtype.clone(),
        raw_attributes: serde_json::value::to_raw_value(&attrs).ok()?,
        sensitive: Default::default(),
    })
}

/// An instance the diff cannot decide offline, named at its resource block.
fn undecided(desired: &Desired, addr: &str, reason: String) -> Unknown {
    // The block is recorded without instance keys: `a.b["k"]` is declared as `a.b`.
    let mut base = addr;
    let at = loop {
        if let Some(at) = desired.resource_at.get(base) {
            break at.clone();
        }
        match base.rfind('[') {
            Some(i) => base = &base[..i],
            None => break String::new(),
        }
    };
    Unknown {
        address: addr.to_string(),
        reason,
        at,
    }
}

/// How the blocks of one type compare with the state's.
enum BlockCmp {
    Same,
    Differ,
    /// The same on what the configuration writes; the state also holds blocks of types it
    /// does not write.
    Undecided(Vec<Unwritten>),
}

/// Blocks the state holds of a type the configuration does not write: the block type's path
/// (`access_logs`, `listener.rule`) and how many.
pub type Unwritten = (String, usize);

/// One entry a path, counts added up (the same nested type in several written blocks).
fn merge_unwritten(mut v: Vec<Unwritten>) -> Vec<Unwritten> {
    v.sort();
    let mut out: Vec<Unwritten> = Vec::with_capacity(v.len());
    for (path, n) in v {
        match out.last_mut() {
            Some((p, m)) if *p == path => *m += n,
            _ => out.push((path, n)),
        }
    }
    out
}

/// The block types an object of the state holds (a non-empty list of objects) that `written`
/// says the configuration does not write. A list of objects is how the state records nested
/// blocks; it may also be a nested attribute the provider computes.
fn unwritten_blocks(
    raw: &serde_json::value::RawValue,
    written: impl Fn(&str) -> bool,
) -> Vec<Unwritten> {
    let Ok(fields) =
        serde_json::from_str::<BTreeMap<String, &serde_json::value::RawValue>>(raw.get())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in fields {
        // Cheap test first: only a list can be blocks.
        if !v.get().starts_with('[') || written(&k) {
            continue;
        }
        if let Ok(Value::Array(items)) = serde_json::from_str::<Value>(v.get()) {
            if !items.is_empty() && items.iter().all(Value::is_object) {
                out.push((k, items.len()));
            }
        }
    }
    out
}

/// Why blocks the configuration does not write leave an instance undecided.
fn undecided_reason(found: &[Unwritten]) -> String {
    let shown: Vec<String> = found
        .iter()
        .take(5)
        .map(|(path, n)| format!("{n} `{path}`"))
        .collect();
    let more = if found.len() > shown.len() {
        format!(" and {} more", found.len() - shown.len())
    } else {
        String::new()
    };
    format!(
        "the state holds {}{more} block(s) the configuration does not write: without the provider's \
         schema tfops cannot tell removed blocks (an update) from ones the provider fills in \
         itself (no change); write them, or name them in `lifecycle {{ ignore_changes }}`",
        shown.join(", ")
    )
}

/// Nested blocks of a type whose schema tfops does not know: the state holds every block of
/// the type (a list or a set of objects with every argument of the schema); each configured
/// block must match one recorded block on the arguments it sets, and the counts must agree.
/// In order first (a list); else in any order, as a set compares.
/// `path` names the block type (`listener`, `listener.rule`) in what is undecided.
fn blocks_match(have: Option<&Value>, want: &[super::model::BlockValue], path: &str) -> BlockCmp {
    let have: &[Value] = match have {
        Some(Value::Array(a)) => a,
        None | Some(Value::Null) => &[],
        // A single nested block recorded as an object.
        Some(v @ Value::Object(_)) => std::slice::from_ref(v),
        Some(_) => return BlockCmp::Differ,
    };
    if have.len() != want.len() {
        return BlockCmp::Differ;
    }
    let mut undecided = Vec::new();
    let take = |c: BlockCmp, undecided: &mut Vec<Unwritten>| match c {
        BlockCmp::Same => true,
        BlockCmp::Differ => false,
        BlockCmp::Undecided(u) => {
            undecided.extend(u);
            true
        }
    };
    let in_order = have
        .iter()
        .zip(want)
        .all(|(h, w)| take(block_match(h, w, path), &mut undecided));
    if !in_order {
        undecided.clear();
        let mut used = vec![false; have.len()];
        let as_set = want.iter().all(|w| {
            let hit = have.iter().enumerate().find_map(|(i, h)| {
                if used[i] {
                    return None;
                }
                match block_match(h, w, path) {
                    BlockCmp::Differ => None,
                    c => Some((i, c)),
                }
            });
            match hit {
                Some((i, c)) => {
                    used[i] = true;
                    take(c, &mut undecided)
                }
                None => false,
            }
        });
        if !as_set {
            return BlockCmp::Differ;
        }
    }
    if undecided.is_empty() {
        BlockCmp::Same
    } else {
        BlockCmp::Undecided(undecided)
    }
}

fn block_match(have: &Value, want: &super::model::BlockValue, path: &str) -> BlockCmp {
    let Value::Object(h) = have else {
        return BlockCmp::Differ;
    };
    if !want
        .attrs
        .iter()
        .all(|(k, v)| h.get(k).is_some_and(|x| equal(x, v)))
    {
        return BlockCmp::Differ;
    }
    let mut undecided = Vec::new();
    for (k, bs) in &want.blocks {
        match blocks_match(h.get(k), bs, &format!("{path}.{k}")) {
            BlockCmp::Same => {}
            BlockCmp::Differ => return BlockCmp::Differ,
            BlockCmp::Undecided(u) => undecided.extend(u),
        }
    }
    for (k, v) in h {
        if want.attrs.contains_key(k) || want.blocks.contains_key(k) {
            continue;
        }
        if let Value::Array(items) = v {
            if !items.is_empty() && items.iter().all(Value::is_object) {
                undecided.push((format!("{path}.{k}"), items.len()));
            }
        }
    }
    if undecided.is_empty() {
        BlockCmp::Same
    } else {
        BlockCmp::Undecided(undecided)
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

/// Every target that may cover `addr` (see [`covers`]): itself and each part of it that
/// ends before a `[` or a `.`.
fn covering(addr: &str) -> impl Iterator<Item = &str> {
    addr.match_indices(['[', '.'])
        .map(move |(i, _)| &addr[..i])
        .chain(std::iter::once(addr))
}

/// The resource of an instance address: `t.a["k"]` and `t.a[0]` give `t.a`; `t.a` is itself.
fn resource_of(addr: &str) -> &str {
    if !addr.ends_with(']') {
        return addr;
    }
    // The key is the last bracket group; a string key may hold brackets itself, so the
    // group starts at the last `["` (or, for a number, the last `[`).
    match addr.rfind("[\"").or_else(|| addr.rfind('[')) {
        Some(i) => &addr[..i],
        None => addr,
    }
}

/// The recorded address `addr` after `moved` blocks and implicit `a` ↔ `a[0]` moves.
fn effective_address(addr: &str, desired: &Desired, recorded: &Recorded) -> String {
    if desired.instances.contains_key(addr) {
        return addr.to_string();
    }
    let mut cur = addr.to_string();
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
    // Implicit moves when `count` was added (`a` → `a[0]`) or removed (`a[0]` → `a`):
    // Terraform finds them on the state as it was, so never for an object a `moved` block
    // moved.
    if cur == addr && !desired.instances.contains_key(&cur) {
        if desired.with_count.contains(&cur) {
            let to = format!("{cur}[0]");
            if !recorded.instances.contains_key(&to) {
                cur = to;
            }
        } else if let Some(base) = cur.strip_suffix("[0]") {
            if desired.single.contains(base) && !recorded.instances.contains_key(base) {
                cur = base.to_string();
            }
        }
    }
    cur
}

/// Compares `desired` with `recorded`.
pub fn diff(desired: &Desired, recorded: &Recorded) -> Diff {
    let mut out = Diff {
        unknown: desired.unknown.clone(),
        ..Diff::default()
    };
    // Effective address of each recorded (managed) instance after moves.
    let mut effective: BTreeMap<Cow<'_, str>, &str> = BTreeMap::new();
    for (addr, r) in &recorded.instances {
        if r.data {
            continue;
        }
        let cur = if desired.moved.is_empty()
            && desired.with_count.is_empty()
            && desired.instances.contains_key(addr)
        {
            addr.clone()
        } else {
            effective_address(addr, desired, recorded)
        };
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

    // An instance whose values are not known offline, with no object in the state, is
    // created whatever its values (Terraform plans `create` too).
    out.unknown.retain(|u| {
        let create = desired.unknown_values.contains(&u.address)
            && !effective.contains_key(u.address.as_str())
            && !desired.imports.contains_key(&u.address);
        if create {
            out.create.push(u.address.clone());
        }
        !create
    });
    // What is updated or replaced, for `replace_triggered_by` (an instance to create
    // triggers nothing, as in Terraform).
    let mut changing: BTreeMap<String, Planned<'_>> = BTreeMap::new();
    // Instances with `replace_triggered_by` and an object in the state, with their own
    // verdict: decided once every other change is known.
    let mut triggered: Vec<(&String, &DesiredInstance, Verdict)> = Vec::new();
    for (addr, want) in &desired.instances {
        let imported;
        let import = desired.imports.get(addr);
        let at_import = |reason: String| Unknown {
            address: addr.clone(),
            reason,
            at: import.map(|i| i.at.clone()).unwrap_or_default(),
        };
        let have = match (effective.get(addr.as_str()), import.map(|i| &i.id)) {
            // Terraform refuses such a block even when the target is in the state.
            (_, Some(Err(reason))) if import.is_some_and(|i| i.refused) => {
                out.unknown.push(at_import(reason.clone()));
                continue;
            }
            (Some(orig), _) => &recorded.instances[*orig],
            (None, None) => {
                out.create.push(addr.clone());
                continue;
            }
            (None, Some(Err(reason))) => {
                out.unknown.push(at_import(reason.clone()));
                continue;
            }
            (None, Some(Ok(id))) => match imported_object(want, id) {
                Some(o) => {
                    out.import.push(Import {
                        address: addr.clone(),
                        id: id.clone(),
                    });
                    imported = o;
                    &imported
                }
                None => {
                    out.unknown.push(at_import(format!(
                        "imported (id {}): what the provider reads for it is known only during plan",
                        super::state::quote(id)
                    )));
                    continue;
                }
            },
        };
        let sens = |attrs: &[String]| -> Vec<String> {
            attrs
                .iter()
                .filter(|a| have.sensitive.contains(*a))
                .cloned()
                .collect()
        };
        let verdict = compare(want, have, &mut out.schemaless_update, true);
        if let Verdict::Update(a) | Verdict::Replace(a) = &verdict {
            let planned = Planned {
                rtype: &want.rtype,
                attrs: a.clone(),
                replaced: matches!(verdict, Verdict::Replace(_)),
            };
            changing.insert(addr.clone(), planned);
        }
        if !want.replace_triggered_by.is_empty() {
            triggered.push((addr, want, verdict));
            continue;
        }
        match verdict {
            Verdict::InSync => out.in_sync += 1,
            Verdict::Unwritten(u) => out.unwritten_unknown(desired, addr, u),
            Verdict::Update(attrs) => {
                out.update.push(Update {
                    address: addr.clone(),
                    sensitive: sens(&attrs),
                    attributes: attrs,
                });
            }
            Verdict::Replace(attrs) => {
                out.replace.push(Update {
                    address: addr.clone(),
                    sensitive: sens(&attrs),
                    attributes: attrs,
                });
            }
        }
    }
    // An import block whose target the configuration does not declare: Terraform refuses
    // the plan (unless asked to write the configuration). Targets under an address that is
    // itself undecided are left to it.
    for (target, i) in &desired.imports {
        if !desired.instances.contains_key(target)
            && !effective.contains_key(target.as_str())
            && !out.unknown.iter().any(|u| covers(&u.address, target))
        {
            let keyed = format!("{target}[");
            let expanded = desired.with_count.contains(target)
                || desired
                    .instances
                    .range(keyed.clone()..)
                    .next()
                    .is_some_and(|(k, _)| k.starts_with(&keyed));
            let reason = if expanded {
                "an import block names it without an instance key, but its resource uses count or for_each: Terraform refuses the plan"
            } else {
                "an import block names it, but no resource block declares it: Terraform refuses the plan"
            };
            out.unknown.push(Unknown {
                address: target.clone(),
                reason: reason.into(),
                at: i.at.clone(),
            });
        }
    }
    out.create.sort();
    // A replace by `replace_triggered_by` is a change too, which can trigger another (as
    // Terraform plans them, in dependency order): repeat until nothing more fires.
    let triggers_of = |want: &DesiredInstance, changing: &BTreeMap<String, Planned<'_>>| {
        let mut by: Vec<Trigger> = Vec::new();
        for r in &want.replace_triggered_by {
            let (target, attribute) = split_reference(r);
            // Only the addresses that start with the target can be covered by it: they
            // follow it in order (a scan of every change, repeated for each link of a chain
            // of triggers, made a chain of n instances take n³ steps).
            let from = (
                std::ops::Bound::Included(target),
                std::ops::Bound::Unbounded,
            );
            let after = changing
                .range::<str, _>(from)
                .take_while(|(c, _)| c.starts_with(target));
            for (c, planned) in after {
                if covers(target, c) && planned.fires(attribute) {
                    by.push(Trigger {
                        address: c.clone(),
                        attribute: attribute.map(str::to_string),
                    });
                }
            }
        }
        by
    };
    // Which instances name each target (`t.a`, `t.a[0]`, `module.m`): an address that
    // starts changing is looked at once, against only the instances that may cover it (in
    // rounds over every instance, a chain of n triggers took n rounds of n checks).
    let mut by_target: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (_, want, _)) in triggered.iter().enumerate() {
        for r in &want.replace_triggered_by {
            by_target.entry(split_reference(r).0).or_default().push(i);
        }
    }
    let mut fired: BTreeSet<&String> = BTreeSet::new();
    let mut queue: Vec<String> = changing.keys().cloned().collect();
    while let Some(c) = queue.pop() {
        for target in covering(&c) {
            for &i in by_target.get(target).into_iter().flatten() {
                let (addr, want, verdict) = &triggered[i];
                if fired.contains(addr) {
                    continue;
                }
                let fires = want.replace_triggered_by.iter().any(|r| {
                    let (t, attribute) = split_reference(r);
                    t == target
                        && covers(t, &c)
                        && changing.get(&c).is_some_and(|p| p.fires(attribute))
                });
                if !fires {
                    continue;
                }
                let attrs = match verdict {
                    Verdict::Update(a) | Verdict::Replace(a) => a.clone(),
                    Verdict::InSync | Verdict::Unwritten(_) => Vec::new(),
                };
                let planned = Planned {
                    rtype: &want.rtype,
                    attrs,
                    replaced: true,
                };
                changing.insert((*addr).clone(), planned);
                fired.insert(*addr);
                queue.push((*addr).clone());
            }
        }
    }
    // A trigger that cannot be decided offline leaves an instance that would stay in sync
    // undecided, and so on down a chain, whatever the order of the addresses: found from each
    // undecided address, as the triggers that fire are.
    let mut undecided_addrs: Vec<String> = out.unknown.iter().map(|u| u.address.clone()).collect();
    for (addr, _, verdict) in &triggered {
        if !fired.contains(addr) && matches!(verdict, Verdict::Unwritten(_)) {
            undecided_addrs.push((*addr).clone());
        }
    }
    let mut undecided_triggered: BTreeSet<&String> = BTreeSet::new();
    let mut queue = undecided_addrs.clone();
    while let Some(u) = queue.pop() {
        let covering_u = covering(&u)
            .filter(|t| covers(t, &u))
            .filter_map(|t| by_target.get(t));
        let covered_by_u = by_target
            .range::<str, _>((
                std::ops::Bound::Included(u.as_str()),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(t, _)| t.starts_with(u.as_str()))
            .filter(|(t, _)| covers(&u, t))
            .map(|(_, v)| v);
        let hit: Vec<usize> = covering_u.chain(covered_by_u).flatten().copied().collect();
        for i in hit {
            let (addr, _, verdict) = &triggered[i];
            if !fired.contains(addr)
                && matches!(verdict, Verdict::InSync)
                && undecided_triggered.insert(*addr)
            {
                queue.push((*addr).clone());
            }
        }
    }
    for (addr, want, verdict) in triggered {
        let sens = |attrs: &[String]| -> Vec<String> {
            let have = effective
                .get(addr.as_str())
                .and_then(|o| recorded.instances.get(*o));
            attrs
                .iter()
                .filter(|a| have.is_some_and(|h| h.sensitive.contains(*a)))
                .cloned()
                .collect()
        };
        if !fired.contains(addr) {
            // A trigger that cannot be decided offline leaves the replacement undecided.
            let unknown_trigger = undecided_triggered
                .contains(addr)
                .then(|| {
                    want.replace_triggered_by.iter().find_map(|r| {
                        let (target, _) = split_reference(r);
                        undecided_addrs
                            .iter()
                            .chain(undecided_triggered.iter().copied())
                            .find(|u| covers(target, u) || covers(u, target))
                            .cloned()
                    })
                })
                .flatten();
            match verdict {
                Verdict::InSync if unknown_trigger.is_some() => {
                    let trigger = unknown_trigger.unwrap_or_default();
                    let reason = format!(
                        "replace_triggered_by refers to {trigger}, which cannot be decided offline"
                    );
                    out.unknown.push(undecided(desired, addr, reason));
                }
                Verdict::InSync => out.in_sync += 1,
                Verdict::Unwritten(u) => out.unwritten_unknown(desired, addr, u),
                Verdict::Update(attrs) => out.update.push(Update {
                    address: addr.clone(),
                    sensitive: sens(&attrs),
                    attributes: attrs,
                }),
                Verdict::Replace(attrs) => out.replace.push(Update {
                    address: addr.clone(),
                    sensitive: sens(&attrs),
                    attributes: attrs,
                }),
            }
            continue;
        }
        // Replaced whatever its own change: Terraform plans `-/+` for the trigger even when
        // the instance would otherwise be updated in place.
        let mut attrs = match verdict {
            Verdict::InSync | Verdict::Unwritten(_) => Vec::new(),
            Verdict::Update(a) | Verdict::Replace(a) => a,
        };
        attrs.push("replace_triggered_by".into());
        let mut by = triggers_of(want, &changing);
        by.retain(|t| &t.address != addr);
        out.triggered_by.insert(addr.clone(), by);
        out.replace.push(Update {
            address: addr.clone(),
            sensitive: sens(&attrs),
            attributes: attrs,
        });
    }
    out.update.sort_by(|a, b| a.address.cmp(&b.address));
    out.replace.sort_by(|a, b| a.address.cmp(&b.address));
    for addr in effective.keys() {
        if desired.instances.contains_key(addr.as_ref())
            || out.unknown.iter().any(|u| covers(&u.address, addr))
        {
            continue;
        }
        let forget = desired
            .removed
            .iter()
            .any(|r| !r.destroy && covers(&r.from, addr));
        if forget {
            out.forget.push(addr.to_string());
        } else {
            out.destroy.push(addr.to_string());
        }
    }
    // A moved object that is then destroyed or forgotten: Terraform applies a `moved` block
    // only onto a resource the configuration declares (a resource block, whatever its
    // instances now, or a `removed` block); then it reports the move, and the destroy or
    // forget at the new address. A move to an address nothing declares is not applied: the
    // object is reported at its old address only.
    let declared = |a: &str| {
        let res = resource_of(a);
        desired.single.contains(res)
            || desired.with_count.contains(res)
            || desired
                .instances
                .range(res.to_string()..)
                .take_while(|(k, _)| k.starts_with(res))
                .any(|(k, _)| k.len() == res.len() || k[res.len()..].starts_with('['))
            || desired.removed.iter().any(|r| covers(&r.from, a))
    };
    out.moved.retain(|m| {
        !(out.destroy.contains(&m.to) || out.forget.contains(&m.to)) || declared(&m.to)
    });
    for d in out.destroy.iter_mut().chain(out.forget.iter_mut()) {
        if declared(d) {
            continue;
        }
        if let Some(orig) = effective.get(d.as_str()) {
            *d = orig.to_string();
        }
    }
    out.destroy.sort();
    out.forget.sort();
    // Root outputs.
    for (name, want) in &desired.outputs {
        let action = match recorded.outputs.get(name) {
            None => Some("create"),
            Some(have) => {
                let same_type = have.ty.as_ref().is_none_or(|t| t == &want.ty);
                (!(same_type && strict_equal(&have.value, &want.value))).then_some("update")
            }
        };
        if let Some(a) = action {
            out.outputs.push(OutputChange {
                name: name.clone(),
                action: a.into(),
            });
        }
    }
    // An output whose value is not known offline, and that the state does not hold, is
    // added whatever its value (Terraform plans `create` too).
    let mut added = BTreeSet::new();
    for name in &desired.unknown_outputs {
        if !recorded.outputs.contains_key(name) {
            out.outputs.push(OutputChange {
                name: name.clone(),
                action: "create".into(),
            });
            added.insert(format!("output.{name}"));
        }
    }
    if !added.is_empty() {
        out.outputs.sort_by(|a, b| a.name.cmp(&b.name));
        out.unknown.retain(|u| !added.contains(&u.address));
    }
    for name in recorded.outputs.keys() {
        if !desired.outputs.contains_key(name) && !desired.unknown_outputs.contains(name) {
            out.outputs.push(OutputChange {
                name: name.clone(),
                action: "delete".into(),
            });
        }
    }
    out.renamed = renames(desired, recorded, &effective, &out.create, &out.destroy);
    out
}

/// Past this many create × destroy pairs of one type, renames are not looked for.
const RENAME_PAIRS: usize = 4_000_000;

/// Unique create/destroy pairs of the same type (root module) whose compared attributes match
/// (the same comparison as an update: the create's configuration against the destroy's state).
fn renames(
    desired: &Desired,
    recorded: &Recorded,
    _effective: &BTreeMap<Cow<'_, str>, &str>,
    create: &[String],
    destroy: &[String],
) -> Vec<Renamed> {
    let mut by_type: HashMap<&str, Vec<&str>> = HashMap::new();
    for c in create {
        if let Some(d) = desired.instances.get(c) {
            by_type
                .entry(d.rtype.as_str())
                .or_default()
                .push(c.as_str());
        }
    }
    let mut matches_of_destroy: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut matches_of_create: HashMap<&str, Vec<&str>> = HashMap::new();
    let pairs: usize = destroy.len().saturating_mul(create.len());
    if pairs > RENAME_PAIRS {
        return Vec::new();
    }
    for dname in destroy {
        let Some(r) = recorded.instances.get(dname.as_str()) else {
            continue;
        };
        if !r.module.is_empty() || r.data {
            continue;
        }
        for c in by_type.get(r.rtype.as_str()).into_iter().flatten() {
            let want = &desired.instances[*c];
            let mut schemaless = false;
            if matches!(compare(want, r, &mut schemaless, false), Verdict::InSync) {
                matches_of_destroy
                    .entry(dname.as_str())
                    .or_default()
                    .push(c);
                matches_of_create.entry(c).or_default().push(dname.as_str());
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

    /// An `aws_security_group` as the AWS provider records it: every argument of each
    /// `ingress` block (a set), whatever the configuration set.
    fn sg(ingress: &[(u16, &str)]) -> String {
        let blocks: Vec<String> = ingress
            .iter()
            .map(|(port, cidr)| {
                format!(
                    r#"{{"cidr_blocks":["{cidr}"],"description":"","from_port":{port},"ipv6_cidr_blocks":[],"prefix_list_ids":[],"protocol":"tcp","security_groups":[],"self":false,"to_port":{port}}}"#
                )
            })
            .collect();
        st(&format!(
            r#"{{"mode":"managed","type":"aws_security_group","name":"web","instances":[{{"attributes":{{"id":"sg-1","name":"web","ingress":[{}],"egress":[]}}}}]}}"#,
            blocks.join(",")
        ))
    }

    const SG_DYNAMIC: &str = r#"
variable "ports" {
  default = { http = 80, https = 443 }
}
resource "aws_security_group" "web" {
  name = "web"
  dynamic "ingress" {
    for_each = var.ports
    iterator = p
    content {
      from_port   = p.value
      to_port     = p.value
      protocol    = "tcp"
      cidr_blocks = ["10.0.${p.value == 80 ? 1 : 2}.0/24"]
      description = null
    }
  }
}
"#;

    /// Nested and `dynamic` blocks, compared on what the configuration sets; expectations
    /// written by hand (no provider with nested blocks can plan offline here).
    #[test]
    fn nested_and_dynamic_blocks_are_compared() {
        // The state holds the set in another order than the configuration writes it.
        let same = sg(&[(443, "10.0.2.0/24"), (80, "10.0.1.0/24")]);
        let d = run(SG_DYNAMIC, &same);
        assert_eq!(actions(&d), Vec::<String>::new(), "{d:?}");
        assert_eq!(d.in_sync, 1);
        // A static block and a dynamic one of the same type add up.
        let both = SG_DYNAMIC.replace(
            "  dynamic \"ingress\" {",
            "  ingress {\n    from_port = 22\n    to_port = 22\n  }\n  dynamic \"ingress\" {",
        );
        let d = run(&both, &same);
        assert_eq!(actions(&d), ["update aws_security_group.web"]);
        let three = sg(&[(443, "10.0.2.0/24"), (22, "0.0.0.0/0"), (80, "10.0.1.0/24")]);
        let d = run(&both, &three);
        assert_eq!(actions(&d), Vec::<String>::new(), "{d:?}");
        // A changed value inside a block: update, naming the block type.
        let d = run(
            SG_DYNAMIC,
            &sg(&[(443, "10.0.9.0/24"), (80, "10.0.1.0/24")]),
        );
        assert_eq!(d.update.len(), 1, "{d:?}");
        assert_eq!(d.update[0].attributes, ["ingress"]);
        // One block fewer in the state.
        let d = run(SG_DYNAMIC, &sg(&[(80, "10.0.1.0/24")]));
        assert_eq!(actions(&d), ["update aws_security_group.web"]);
        // ignore_changes on the block type hides it.
        let ignored = SG_DYNAMIC.replace(
            "  name = \"web\"\n",
            "  name = \"web\"\n  lifecycle {\n    ignore_changes = [ingress]\n  }\n",
        );
        let d = run(&ignored, &sg(&[(80, "10.0.1.0/24")]));
        assert_eq!(actions(&d), Vec::<String>::new(), "{d:?}");
        // for_each known only after apply: unknown, with the reason.
        let later = SG_DYNAMIC.replace("for_each = var.ports", "for_each = aws_vpc.main.ports");
        let d = run(&later, &same);
        assert_eq!(actions(&d), ["unknown aws_security_group.web"]);
        assert!(
            d.unknown[0]
                .reason
                .contains("dynamic \"ingress\" for_each = aws_vpc.main.ports"),
            "{}",
            d.unknown[0].reason
        );
    }

    /// Nested blocks inside nested blocks, and a list block whose order matters only as far
    /// as tfops can tell without the schema (in order, or as a set).
    #[test]
    fn blocks_within_blocks() {
        let tf = r#"
resource "x_lb" "a" {
  listener {
    port = 80
    rule {
      path = "/a"
    }
    rule {
      path = "/b"
    }
  }
}
"#;
        let state = |paths: &[&str]| {
            let rules: Vec<String> = paths
                .iter()
                .map(|p| format!(r#"{{"path":"{p}","priority":0}}"#))
                .collect();
            st(&format!(
                r#"{{"mode":"managed","type":"x_lb","name":"a","instances":[{{"attributes":{{"listener":[{{"port":80,"protocol":"HTTP","rule":[{}]}}]}}}}]}}"#,
                rules.join(",")
            ))
        };
        assert_eq!(
            actions(&run(tf, &state(&["/a", "/b"]))),
            Vec::<String>::new()
        );
        assert_eq!(
            actions(&run(tf, &state(&["/b", "/a"]))),
            Vec::<String>::new()
        );
        assert_eq!(actions(&run(tf, &state(&["/a", "/c"]))), ["update x_lb.a"]);
        assert_eq!(actions(&run(tf, &state(&["/a"]))), ["update x_lb.a"]);
    }

    /// Block types of a type whose schema tfops does not know, against the state, with
    /// expectations written by hand. Removed, added and changed blocks are an update where
    /// Terraform's plan does not depend on the schema (the configuration writes the block
    /// type); blocks the state holds of a type the configuration never writes may be removed
    /// ones (an update) or ones the provider fills in itself (no change): unknown, with why.
    #[test]
    fn blocks_the_configuration_does_not_write() {
        let tf = r#"
resource "x_lb" "a" {
  name = "a"
  listener {
    port = 80
  }
}
"#;
        let state = |listener: &str, extra: &str| {
            st(&format!(
                r#"{{"mode":"managed","type":"x_lb","name":"a","instances":[{{"attributes":{{"id":"1","name":"a","tags":{{"k":"v"}},"zones":["a"],"listener":[{listener}]{extra}}}}}]}}"#
            ))
        };
        let l80 = r#"{"port":80,"protocol":"HTTP","rule":[]}"#;
        let logs = r#","access_logs":[{"bucket":"b","enabled":true}]"#;
        // What the provider records beside the configuration: computed attributes, a map,
        // a list of strings, an empty block list, a null single block.
        let d = run(tf, &state(l80, r#","timeouts":null,"access_logs":[]"#));
        assert_eq!(actions(&d), Vec::<String>::new(), "{d:?}");
        assert_eq!(d.in_sync, 1);
        // A block type the configuration does not write, held in the state: undecided.
        let d = run(tf, &state(l80, logs));
        assert_eq!(actions(&d), ["unknown x_lb.a"], "{d:?}");
        assert_eq!(d.unknown[0].at, "t.tf:2:1");
        assert!(
            d.unknown[0].reason.contains("1 `access_logs` block")
                && d.unknown[0].reason.contains("provider's schema"),
            "{}",
            d.unknown[0].reason
        );
        assert!(
            !d.unknown[0].reason.contains("\"b\""),
            "no values in reasons"
        );
        // Renamed, it is still recognised (on what the configuration writes).
        let d = run(&tf.replace("\"a\" {", "\"b\" {"), &state(l80, logs));
        assert_eq!(actions(&d), ["create x_lb.b", "destroy x_lb.a"], "{d:?}");
        assert_eq!(d.renamed.len(), 1, "{d:?}");
        // ... unless something decided changes too: then it is an update anyway.
        let d = run(
            &tf.replace("name = \"a\"", "name = \"b\""),
            &state(l80, logs),
        );
        assert_eq!(actions(&d), ["update x_lb.a"], "{d:?}");
        assert_eq!(d.update[0].attributes, ["name"]);
        // `ignore_changes` on it decides: in sync.
        let ig = tf.replace(
            "  name = \"a\"\n",
            "  name = \"a\"\n  lifecycle {\n    ignore_changes = [access_logs]\n  }\n",
        );
        assert_eq!(actions(&run(&ig, &state(l80, logs))), Vec::<String>::new());
        // The same inside a written block: `rule` blocks the listener does not write.
        let d = run(
            tf,
            &state(
                r#"{"port":80,"protocol":"HTTP","rule":[{"path":"/a"}]}"#,
                "",
            ),
        );
        assert_eq!(actions(&d), ["unknown x_lb.a"], "{d:?}");
        assert!(
            d.unknown[0].reason.contains("`listener.rule`"),
            "{}",
            d.unknown[0].reason
        );
        // Written, absent from the state (added): an update, at both levels.
        let with_logs = tf.replace(
            "  listener {",
            "  access_logs {\n    bucket = \"b\"\n  }\n  listener {",
        );
        let d = run(&with_logs, &state(l80, ""));
        assert_eq!(actions(&d), ["update x_lb.a"], "{d:?}");
        assert_eq!(d.update[0].attributes, ["access_logs"]);
        assert_eq!(
            actions(&run(&with_logs, &state(l80, logs))),
            Vec::<String>::new()
        );
        let with_rule = tf.replace(
            "    port = 80\n",
            "    port = 80\n    rule {\n      path = \"/a\"\n    }\n",
        );
        let d = run(&with_rule, &state(l80, ""));
        assert_eq!(d.update.len(), 1, "{d:?}");
        assert_eq!(d.update[0].attributes, ["listener"]);
        // Changed inside, at both levels.
        let d = run(
            &with_rule,
            &state(
                r#"{"port":80,"protocol":"HTTP","rule":[{"path":"/b"}]}"#,
                "",
            ),
        );
        assert_eq!(d.update[0].attributes, ["listener"], "{d:?}");
        let d = run(&with_logs, &state(l80, &logs.replace("\"b\"", "\"c\"")));
        assert_eq!(d.update[0].attributes, ["access_logs"], "{d:?}");
        // Removed, where the configuration still writes the type: one block fewer, or a
        // `dynamic` block that now makes none.
        let two = format!("{l80},{}", l80.replace("80", "81"));
        let d = run(tf, &state(&two, ""));
        assert_eq!(d.update[0].attributes, ["listener"], "{d:?}");
        let none = tf.replace(
            "  listener {\n    port = 80\n  }\n",
            "  dynamic \"listener\" {\n    for_each = []\n    content {\n      port = listener.value\n    }\n  }\n",
        );
        let d = run(&none, &state(l80, ""));
        assert_eq!(d.update[0].attributes, ["listener"], "{d:?}");
        assert_eq!(actions(&run(&none, &state("", ""))), Vec::<String>::new());
    }

    /// `replace_triggered_by` a resource whose change cannot be decided offline: the
    /// replacement cannot be either (never in sync).
    #[test]
    fn a_trigger_that_cannot_be_decided_leaves_the_replace_undecided() {
        let tf = r#"
resource "terraform_data" "a" {
  input = timestamp()
}
resource "terraform_data" "b" {
  input = "b"
  lifecycle {
    replace_triggered_by = [terraform_data.a]
  }
}
"#;
        let td = |name: &str, v: &str| {
            format!(
                r#"{{"mode":"managed","type":"terraform_data","name":"{name}","instances":[{{"attributes":{{"id":"1","input":{{"value":"{v}","type":"string"}},"triggers_replace":null}}}}]}}"#
            )
        };
        let state = st(&[td("a", "t"), td("b", "b")].join(","));
        let d = run(tf, &state);
        assert_eq!(
            actions(&d),
            ["unknown terraform_data.a", "unknown terraform_data.b"],
            "{d:?}"
        );
        assert!(d.unknown[1].reason.contains("refers to terraform_data.a"));
        assert_eq!(d.unknown[1].at, "t.tf:5:1");
        // Decided once the trigger is.
        let known = tf.replace("timestamp()", "\"t\"");
        assert_eq!(d.in_sync, 0);
        let d = run(&known, &state);
        assert_eq!(actions(&d), Vec::<String>::new(), "{d:?}");
        assert_eq!(d.in_sync, 2);
    }

    /// Triggers fire through chains whatever the order of the addresses, through an
    /// instance key and an attribute, and a target covers its instances only (`a` is not
    /// `ab`, which sorts between `a` and `a[0]`'s neighbours).
    #[test]
    fn triggers_fire_down_chains_in_any_order() {
        let res = |name: &str, extra: &str| {
            format!("resource \"terraform_data\" \"{name}\" {{\n  input = \"{name}\"\n{extra}}}\n")
        };
        let by = |r: &str| format!("  lifecycle {{\n    replace_triggered_by = [{r}]\n  }}\n");
        let tf = [
            res("a", ""),
            res("f", &by("terraform_data.c.id")),
            res("c", &by("terraform_data.b[1]")),
            res(
                "b",
                &format!("  count = 2\n{}", by("terraform_data.a.input")),
            ),
            res("ab", ""),
            res("e", &by("terraform_data.a.id")),
            res("g", &by("terraform_data.ab")),
        ]
        .concat();
        let td = |name: &str, key: Option<u64>, v: &str| {
            let k = key.map_or(String::new(), |k| format!(r#""index_key":{k},"#));
            format!(
                r#"{{"mode":"managed","type":"terraform_data","name":"{name}","instances":[{{{k}"attributes":{{"id":"1","input":{{"value":"{v}","type":"string"}},"triggers_replace":null}}}}]}}"#
            )
        };
        let state = st(&[
            td("a", None, "old"),
            td("b", Some(0), "b"),
            td("b", Some(1), "b"),
            td("c", None, "c"),
            td("f", None, "f"),
            td("ab", None, "ab"),
            td("e", None, "e"),
            td("g", None, "g"),
        ]
        .join(","));
        let d = run(&tf, &state);
        assert_eq!(
            actions(&d),
            [
                "update terraform_data.a",
                "replace terraform_data.b[0]",
                "replace terraform_data.b[1]",
                "replace terraform_data.c",
                "replace terraform_data.f",
            ],
            "{d:?}"
        );
        assert_eq!(d.in_sync, 3);
        let fired_by = |a: &str| -> Vec<String> {
            d.triggered_by[a]
                .iter()
                .map(|t| t.address.clone())
                .collect()
        };
        assert_eq!(fired_by("terraform_data.c"), ["terraform_data.b[1]"]);
        assert_eq!(fired_by("terraform_data.f"), ["terraform_data.c"]);
        assert_eq!(fired_by("terraform_data.b[0]"), ["terraform_data.a"]);
    }

    /// A chain of triggers from one that cannot be decided is undecided all the way down,
    /// whatever the order of the addresses (`c` sorts before `z`, which it refers to).
    #[test]
    fn an_undecided_trigger_leaves_a_chain_undecided_in_any_order() {
        let res = |name: &str, input: &str, by: &str| {
            let l = if by.is_empty() {
                String::new()
            } else {
                format!("  lifecycle {{\n    replace_triggered_by = [{by}]\n  }}\n")
            };
            format!("resource \"terraform_data\" \"{name}\" {{\n  input = {input}\n{l}}}\n")
        };
        let tf = [
            res("a", "timestamp()", ""),
            res("z", "\"z\"", "terraform_data.a"),
            res("c", "\"c\"", "terraform_data.z"),
            res("b", "\"b\"", "terraform_data.c.id"),
        ]
        .concat();
        let td = |name: &str| {
            format!(
                r#"{{"mode":"managed","type":"terraform_data","name":"{name}","instances":[{{"attributes":{{"id":"1","input":{{"value":"{name}","type":"string"}},"triggers_replace":null}}}}]}}"#
            )
        };
        let d = run(&tf, &st(&[td("a"), td("z"), td("c"), td("b")].join(",")));
        assert_eq!(
            actions(&d),
            [
                "unknown terraform_data.a",
                "unknown terraform_data.b",
                "unknown terraform_data.c",
                "unknown terraform_data.z",
            ],
            "{d:?}"
        );
        assert_eq!(d.in_sync, 0);
        let reason = |a: &str| {
            d.unknown
                .iter()
                .find(|u| u.address == a)
                .map(|u| u.reason.clone())
                .unwrap_or_default()
        };
        assert!(
            reason("terraform_data.c").contains("refers to terraform_data.z"),
            "{d:?}"
        );
        assert!(
            reason("terraform_data.b").contains("refers to terraform_data.c"),
            "{d:?}"
        );
    }

    #[test]
    fn references_split_into_resource_and_attribute() {
        for (r, want) in [
            ("terraform_data.a", ("terraform_data.a", None)),
            (
                "terraform_data.a.input",
                ("terraform_data.a", Some("input")),
            ),
            (
                "terraform_data.a[0].input.tags",
                ("terraform_data.a[0]", Some("input")),
            ),
            (
                "module.m[\"k.1\"].module.n.t.b[\"x.]y\"].id",
                ("module.m[\"k.1\"].module.n.t.b[\"x.]y\"]", Some("id")),
            ),
            ("t.b.list[0]", ("t.b", Some("list"))),
            ("module.m", ("module.m", None)),
            ("t.b[\"unterminated", ("t.b[\"unterminated", None)),
        ] {
            assert_eq!(split_reference(r), want, "{r}");
        }
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
        // null_resource triggers force a new resource: a replace, not an update.
        assert_eq!(d.replace.len(), 1);
        assert_eq!(d.replace[0].attributes, ["triggers"]);
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
        // A pending move is drift for Terraform (exit 2), the object itself is in sync.
        assert!(d.has_drift(), "{d:?}");
        assert!(d.create.is_empty() && d.destroy.is_empty() && d.update.is_empty());
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

    fn run_files(files: &[(&str, &str)], state: &str, env: &[(&str, &str)]) -> Diff {
        use crate::drift::model::{expand_inputs, parse_any, Inputs};
        let models = files
            .iter()
            .map(|(n, t)| parse_any(t, n).unwrap())
            .collect();
        let inputs = Inputs {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Inputs::default()
        };
        let d = expand_inputs(models, inputs).unwrap();
        diff(&d, &parse_state(state.as_bytes(), "s").unwrap())
    }

    /// A `terraform_data` instance as Terraform 1.11 writes it.
    fn td(name: &str, key: Option<&str>, input: &str, trig: &str) -> String {
        let k = key
            .map(|k| format!(r#""index_key":{k},"#))
            .unwrap_or_default();
        format!(
            r#"{{"mode":"managed","type":"terraform_data","name":"{name}","provider":"provider[\"terraform.io/builtin/terraform\"]","instances":[{{{k}"schema_version":0,"attributes":{{"id":"x","input":{input},"output":{input},"triggers_replace":{trig}}},"sensitive_attributes":[]}}]}}"#
        )
    }

    fn actions(d: &Diff) -> Vec<String> {
        let mut v = Vec::new();
        v.extend(d.create.iter().map(|a| format!("create {a}")));
        v.extend(d.destroy.iter().map(|a| format!("destroy {a}")));
        v.extend(d.update.iter().map(|u| format!("update {}", u.address)));
        v.extend(d.replace.iter().map(|u| format!("replace {}", u.address)));
        v.extend(d.forget.iter().map(|a| format!("forget {a}")));
        v.extend(
            d.moved
                .iter()
                .map(|m| format!("moved {} -> {}", m.from, m.to)),
        );
        v.extend(
            d.outputs
                .iter()
                .map(|o| format!("output {} {}", o.name, o.action)),
        );
        v.extend(d.unknown.iter().map(|u| format!("unknown {}", u.address)));
        v
    }

    const S_X: &str = r#"{"value":"x","type":"string"}"#;

    #[test]
    fn terraform_data_literals_unchanged_are_in_sync() {
        let st = st(&[
            td("a", None, S_X, "null"),
            td(
                "b",
                None,
                r#"{"value":[1,"a",true],"type":["tuple",["number","string","bool"]]}"#,
                r#"{"value":{"k":1},"type":["object",{"k":"number"}]}"#,
            ),
        ]
        .join(","));
        let d = run_files(
            &[("main.tf", "resource \"terraform_data\" \"a\" {\n  input = \"x\"\n}\nresource \"terraform_data\" \"b\" {\n  input = [1, \"a\", true]\n  triggers_replace = { k = 1 }\n}\n")],
            &st,
            &[],
        );
        assert_eq!(actions(&d), Vec::<String>::new());
        assert_eq!(d.in_sync, 2);
    }

    #[test]
    fn non_literal_values_are_evaluated_and_compared() {
        let st = st(&td(
            "a",
            None,
            r#"{"value":"old-x","type":"string"}"#,
            r#"{"value":["old"],"type":["tuple",["string"]]}"#,
        ));
        let tf = "variable \"v\" {\n  default = \"new\"\n}\nresource \"terraform_data\" \"a\" {\n  input = \"${var.v}-x\"\n  triggers_replace = [var.v]\n}\n";
        let d = run_files(&[("main.tf", tf)], &st, &[]);
        assert_eq!(actions(&d), ["replace terraform_data.a"]);
        assert_eq!(d.replace[0].attributes, ["triggers_replace", "input"]);
    }

    #[test]
    fn override_files_are_merged() {
        let st = st(&td("a", None, S_X, "null"));
        let d = run_files(
            &[
                (
                    "main.tf",
                    "resource \"terraform_data\" \"a\" {\n  input = \"y\"\n}\n",
                ),
                (
                    "override.tf",
                    "resource \"terraform_data\" \"a\" {\n  input = \"x\"\n}\n",
                ),
            ],
            &st,
            &[],
        );
        assert_eq!(actions(&d), Vec::<String>::new());
    }

    #[test]
    fn adding_or_removing_count_is_an_implicit_move() {
        let st1 = st(&td("a", None, S_X, "null"));
        let d = run_files(
            &[(
                "main.tf",
                "resource \"terraform_data\" \"a\" {\n  count = 1\n  input = \"x\"\n}\n",
            )],
            &st1,
            &[],
        );
        assert_eq!(
            actions(&d),
            ["moved terraform_data.a -> terraform_data.a[0]"]
        );
        assert!(d.renamed.is_empty());
        let st2 = st(&td("a", Some("0"), S_X, "null"));
        let d = run_files(
            &[(
                "main.tf",
                "resource \"terraform_data\" \"a\" {\n  input = \"x\"\n}\n",
            )],
            &st2,
            &[],
        );
        assert_eq!(
            actions(&d),
            ["moved terraform_data.a[0] -> terraform_data.a"]
        );
    }

    #[test]
    fn tf_json_files_are_read() {
        let st = st(&td("a", None, S_X, "null"));
        let d = run_files(
            &[(
                "extra.tf.json",
                r#"{"resource": {"terraform_data": {"a": {"input": "x"}}}}"#,
            )],
            &st,
            &[],
        );
        assert_eq!(actions(&d), Vec::<String>::new());
        assert_eq!(d.in_sync, 1);
    }

    #[test]
    fn removed_with_destroy_false_forgets() {
        let st = st(&td("old", None, S_X, "null"));
        let d = run_files(&[("main.tf", "removed {\n  from = terraform_data.old\n  lifecycle {\n    destroy = false\n  }\n}\n")], &st, &[]);
        assert_eq!(actions(&d), ["forget terraform_data.old"]);
        assert!(d.has_drift());
    }

    /// What tfops cannot know of an import: a type whose provider reads the object, an ID
    /// made of a secret or of a value known only after apply, a target no block declares.
    #[test]
    fn imports_tfops_cannot_decide_are_unknown() {
        let tf = r#"
variable "secret" {
  default   = "s3cr3t"
  sensitive = true
}
resource "aws_instance" "web" {
  ami = "ami-1"
}
resource "terraform_data" "s" {
}
resource "terraform_data" "later" {
}
resource "terraform_data" "src" {
}
import {
  to = aws_instance.web
  id = "i-123"
}
import {
  to = terraform_data.s
  id = var.secret
}
import {
  to = terraform_data.later
  id = terraform_data.src.id
}
import {
  to = terraform_data.missing
  id = "m"
}
resource "terraform_data" "counted" {
  count = 2
}
import {
  to = terraform_data.counted
  id = "c"
}
"#;
        let d = run_files(&[("main.tf", tf)], &st(""), &[]);
        assert!(d.import.is_empty(), "{:?}", d.import);
        assert_eq!(
            d.create,
            [
                "terraform_data.counted[0]",
                "terraform_data.counted[1]",
                "terraform_data.src"
            ]
        );
        assert_eq!(d.unknown.len(), 5, "{:?}", d.unknown);
        let reasons: BTreeMap<&str, &str> = d
            .unknown
            .iter()
            .map(|u| (u.address.as_str(), u.reason.as_str()))
            .collect();
        assert!(
            reasons["aws_instance.web"].contains("provider"),
            "{reasons:?}"
        );
        assert!(
            reasons["terraform_data.s"].contains("sensitive"),
            "{reasons:?}"
        );
        assert!(!format!("{d:?}").contains("s3cr3t"));
        assert!(
            reasons["terraform_data.later"].contains("after apply"),
            "{reasons:?}"
        );
        assert!(
            reasons["terraform_data.missing"].contains("no resource block"),
            "{reasons:?}"
        );
        assert!(
            reasons["terraform_data.counted"].contains("uses count or for_each"),
            "{reasons:?}"
        );
        assert!(
            d.unknown.iter().all(|u| u.at.starts_with("main.tf:")),
            "{:?}",
            d.unknown
        );
    }

    /// An ID made by `sensitive(…)`, directly or through a local, is a secret: never shown.
    #[test]
    fn an_import_id_from_sensitive_is_unknown_and_not_shown() {
        for (locals, id) in [
            ("", "sensitive(\"s3cr3t\")"),
            ("locals {\n  s = sensitive(\"s3cr3t\")\n}\n", "local.s"),
            (
                "locals {\n  s = sensitive(\"s3cr3t\")\n  t = \"x-${local.s}\"\n}\n",
                "local.t",
            ),
        ] {
            let tf = format!("{locals}resource \"terraform_data\" \"a\" {{\n}}\nimport {{\n  to = terraform_data.a\n  id = {id}\n}}\n");
            let d = run_files(&[("main.tf", &tf)], &st(""), &[]);
            assert!(d.import.is_empty(), "{tf}: {:?}", d.import);
            assert_eq!(d.unknown.len(), 1, "{tf}: {:?}", d.unknown);
            assert!(d.unknown[0].reason.contains("sensitive"), "{:?}", d.unknown);
            assert!(!format!("{d:?}").contains("s3cr3t"), "{d:?}");
        }
        // nonsensitive() takes the mark off, as in Terraform.
        let tf = "resource \"terraform_data\" \"a\" {\n}\nimport {\n  to = terraform_data.a\n  id = nonsensitive(sensitive(\"i-1\"))\n}\n";
        let d = run_files(&[("main.tf", tf)], &st(""), &[]);
        assert!(d.unknown.is_empty(), "{:?}", d.unknown);
        assert_eq!(d.import.len(), 1, "{:?}", d.import);
    }

    /// A number as the ID is converted to its string, as Terraform 1.11 imports it.
    #[test]
    fn an_import_id_that_is_a_number_is_its_string() {
        let tf = "resource \"terraform_data\" \"a\" {\n}\nimport {\n  to = terraform_data.a\n  id = 123\n}\n";
        let d = run_files(&[("main.tf", tf)], &st(""), &[]);
        assert!(d.unknown.is_empty(), "{:?}", d.unknown);
        assert_eq!(
            d.import,
            [Import {
                address: "terraform_data.a".into(),
                id: "123".into()
            }]
        );
    }

    /// An import block in a `.tf.json` file is read as in a `.tf` one (it was left out: the
    /// target was to create where Terraform imports it).
    #[test]
    fn an_import_block_in_json_is_read() {
        let json = r#"{"variable": {"x": {"default": "x"}},
            "resource": {"terraform_data": {"a": {}}},
            "import": [{"to": "terraform_data.a", "id": "i-${upper(var.x)}"}]}"#;
        let d = run_files(&[("main.tf.json", json)], &st(""), &[]);
        assert_eq!(actions(&d), Vec::<String>::new());
        assert_eq!(
            d.import,
            [Import {
                address: "terraform_data.a".into(),
                id: "i-X".into()
            }]
        );
    }

    /// Two import blocks for one address, an empty ID, a quoted `to`: Terraform 1.11 refuses the plan,
    /// with the target in the state or not.
    #[test]
    fn imports_terraform_refuses_are_unknown_even_in_the_state() {
        let two = "import {\n  to = terraform_data.a\n  id = \"x\"\n}\nimport {\n  to = terraform_data.a\n  id = \"y\"\n}\n";
        let empty = "import {\n  to = terraform_data.a\n  id = \"\"\n}\n";
        let quoted = "import {\n  to = \"terraform_data.a\"\n  id = \"x\"\n}\n";
        for (imports, why) in [
            (two, "second import block"),
            (empty, "empty"),
            (quoted, "quoted"),
        ] {
            let tf = format!("resource \"terraform_data\" \"a\" {{\n}}\n{imports}");
            for state in [st(""), st(&td("a", None, "null", "null"))] {
                let d = run_files(&[("main.tf", &tf)], &state, &[]);
                assert!(d.import.is_empty(), "{imports}: {:?}", d.import);
                assert_eq!(actions(&d), ["unknown terraform_data.a"], "{imports}");
                assert_eq!(d.unknown.len(), 1, "{imports}: {:?}", d.unknown);
                assert_eq!(d.unknown[0].address, "terraform_data.a");
                assert!(d.unknown[0].reason.contains(why), "{:?}", d.unknown);
                assert!(d.unknown[0].reason.contains("refuses"), "{:?}", d.unknown);
            }
        }
    }

    /// An import block in a child module: Terraform 1.11 refuses the plan ("Import blocks
    /// are only allowed in the root module").
    #[test]
    fn an_import_in_a_child_module_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("m")).unwrap();
        std::fs::write(
            dir.path().join("main.tf"),
            "module \"m\" {\n  source = \"./m\"\n}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("m/main.tf"),
            "resource \"terraform_data\" \"a\" {\n}\nimport {\n  to = terraform_data.a\n  id = \"x\"\n}\n",
        )
        .unwrap();
        let mut res = td("a", None, "null", "null");
        res.insert_str(1, r#""module":"module.m","#);
        let main = std::fs::read_to_string(dir.path().join("main.tf")).unwrap();
        for state in [st(""), st(&res)] {
            let inputs = crate::drift::model::Inputs {
                dir: Some(dir.path().to_path_buf()),
                display: "iac".into(),
                ..Default::default()
            };
            let files = vec![crate::drift::model::parse_file(&main, "iac/main.tf").unwrap()];
            let desired = crate::drift::model::expand_inputs(files, inputs).unwrap();
            let d = diff(&desired, &parse_state(state.as_bytes(), "s").unwrap());
            assert_eq!(
                actions(&d),
                ["unknown module.m.terraform_data.a"],
                "{state}"
            );
            assert_eq!(d.unknown.len(), 1, "{:?}", d.unknown);
            assert_eq!(d.unknown[0].address, "module.m.terraform_data.a");
            assert!(
                d.unknown[0].reason.contains("root module"),
                "{:?}",
                d.unknown
            );
        }
    }

    /// An `ignore_changes` entry with a splat, a negative or a computed index: Terraform
    /// 1.11.4 refuses the plan ("Invalid expression"); it hid the whole attribute.
    #[test]
    fn ignore_changes_terraform_refuses_are_unknown() {
        let s = r#"{"value":["1","2"],"type":["tuple",["string","string"]]}"#;
        let st = st(&td("a", None, s, "null"));
        for ig in ["input[*]", "input[-1]", "input[var.i]"] {
            let tf = format!("variable \"i\" {{\n  default = 0\n}}\nresource \"terraform_data\" \"a\" {{\n  input = [\"1\", \"3\"]\n  lifecycle {{\n    ignore_changes = [{ig}]\n  }}\n}}\n");
            let d = run_files(&[("main.tf", &tf)], &st, &[]);
            assert_eq!(actions(&d), ["unknown terraform_data.a"], "{ig}");
            assert!(d.unknown[0].reason.contains("refuses"), "{:?}", d.unknown);
        }
    }

    /// A `.tf.json` template whose interpolation holds a quoted string, as Terraform reads
    /// it (it was turned into HCL that did not parse, failing the whole run).
    #[test]
    fn json_templates_with_quotes_inside_interpolations() {
        let json = r#"{"variable": {"n": {"default": "b"}},
            "resource": {"terraform_data": {"a": {"input": "i-${upper(\"x\")}-${var.n} \"q\" $${lit} %{ if var.n == \"b\" }yes%{ endif }"}}}}"#;
        let want = r#"{"value":"i-X-b \"q\" ${lit} yes","type":"string"}"#;
        let d = run_files(
            &[("main.tf.json", json)],
            &st(&td("a", None, want, "null")),
            &[],
        );
        assert_eq!(actions(&d), Vec::<String>::new(), "{d:?}");
        assert_eq!(d.in_sync, 1);
        // Deeply nested sequences are refused as HCL, never a stack overflow.
        let deep = format!(
            r#"{{"resource": {{"terraform_data": {{"a": {{"input": "{}"}}}}}}}}"#,
            "${\"".repeat(100_000)
        );
        assert!(crate::drift::model::parse_any(&deep, "deep.tf.json").is_err());
    }

    #[test]
    fn ignore_changes_is_honoured() {
        let st = st(&td("a", None, S_X, "null"));
        for ig in [
            "[input]",
            "all",
            "[\n    # why\n    input, # more\n  ]",
            "[ /* c */ input ]",
            "[\"input\"]",
        ] {
            let tf = format!("resource \"terraform_data\" \"a\" {{\n  input = \"y\"\n  lifecycle {{\n    ignore_changes = {ig}\n  }}\n}}\n");
            let d = run_files(&[("main.tf", &tf)], &st, &[]);
            assert_eq!(actions(&d), Vec::<String>::new(), "{ig}");
        }
    }

    /// The quoted form `"input.a"` (deprecated, still read by Terraform 1.11) is a path like
    /// `input.a`: a change elsewhere in `input` is an update, as Terraform plans it.
    #[test]
    fn a_quoted_ignore_changes_path_hides_only_its_part() {
        let s = r#"{"value":{"a":"1","b":"2"},"type":["object",{"a":"string","b":"string"}]}"#;
        let st = st(&td("a", None, s, "null"));
        for (ig, b, want) in [
            ("[\"input.a\"]", "3", vec!["update terraform_data.a"]),
            ("[\"input.a\"]", "2", vec![]),
            ("[\"input\"]", "3", vec![]),
            ("[input.a]", "3", vec!["update terraform_data.a"]),
        ] {
            let tf = format!("resource \"terraform_data\" \"a\" {{\n  input = {{ a = \"9\", b = \"{b}\" }}\n  lifecycle {{\n    ignore_changes = {ig}\n  }}\n}}\n");
            let d = run_files(&[("main.tf", &tf)], &st, &[]);
            assert_eq!(actions(&d), want, "{ig} b={b}");
        }
    }

    #[test]
    fn attributes_removed_from_the_configuration_count() {
        let st = st(&td("a", None, S_X, r#"{"value":"t","type":"string"}"#));
        let d = run_files(
            &[("main.tf", "resource \"terraform_data\" \"a\" {\n}\n")],
            &st,
            &[],
        );
        assert_eq!(actions(&d), ["replace terraform_data.a"]);
        let st = st_with_null_triggers();
        let d = run_files(
            &[("main.tf", "resource \"null_resource\" \"n\" {\n}\n")],
            &st,
            &[],
        );
        assert_eq!(actions(&d), ["replace null_resource.n"]);
    }

    fn st_with_null_triggers() -> String {
        st(&null("n", r#"{"id":"1","triggers":{"a":"1"}}"#))
    }

    #[test]
    fn pending_moves_and_output_changes_are_drift() {
        let mut stv: serde_json::Value =
            serde_json::from_str(&st(&td("a", None, S_X, "null"))).unwrap();
        stv["outputs"] = serde_json::json!({"o": {"value": "1", "type": "string"}});
        let tf = "resource \"terraform_data\" \"b\" {\n  input = \"x\"\n}\nmoved {\n  from = terraform_data.a\n  to   = terraform_data.b\n}\noutput \"o\" {\n  value = \"2\"\n}\n";
        let d = run_files(&[("main.tf", tf)], &stv.to_string(), &[]);
        assert_eq!(
            actions(&d),
            [
                "moved terraform_data.a -> terraform_data.b",
                "output o update"
            ]
        );
        assert!(d.has_drift());
    }

    #[test]
    fn tf_var_values_are_read() {
        let mut res = td("c", Some("0"), "null", "null");
        res = res.replace(r#""instances":[{"#, r#""instances":[{"index_key":1,"schema_version":0,"attributes":{"id":"y","input":null,"output":null,"triggers_replace":null}},{"#);
        let st = st(&res);
        let tf = "variable \"n\" {\n  type = number\n  default = 1\n}\nresource \"terraform_data\" \"c\" {\n  count = var.n\n}\n";
        let d = run_files(&[("main.tf", tf)], &st, &[("n", "2")]);
        assert_eq!(actions(&d), Vec::<String>::new());
        let d = run_files(&[("main.tf", tf)], &st, &[]);
        assert_eq!(actions(&d), ["destroy terraform_data.c[1]"]);
        // Without a type, the environment's value is a string; count converts it.
        let untyped = tf.replace("  type = number\n", "");
        let d = run_files(&[("main.tf", &untyped)], &st, &[("n", "2")]);
        assert_eq!(actions(&d), Vec::<String>::new(), "{:?}", d.unknown);
    }

    #[test]
    fn numbers_keep_their_type_and_precision() {
        let st1 = st(&td("a", None, r#"{"value":1,"type":"number"}"#, "null"));
        let d = run_files(
            &[(
                "main.tf",
                "resource \"terraform_data\" \"a\" {\n  input = \"1\"\n}\n",
            )],
            &st1,
            &[],
        );
        assert_eq!(actions(&d), ["update terraform_data.a"]);
        let st2 = st(&td(
            "a",
            None,
            r#"{"value":12345678901234567890,"type":"number"}"#,
            "null",
        ));
        let d = run_files(
            &[(
                "main.tf",
                "resource \"terraform_data\" \"a\" {\n  input = 12345678901234567891\n}\n",
            )],
            &st2,
            &[],
        );
        assert_eq!(actions(&d), ["update terraform_data.a"]);
        let d = run_files(
            &[(
                "main.tf",
                "resource \"terraform_data\" \"a\" {\n  input = 12345678901234567890\n}\n",
            )],
            &st2,
            &[],
        );
        assert_eq!(actions(&d), Vec::<String>::new());
    }

    #[test]
    fn a_for_each_past_the_limit_is_unknown() {
        let d = run_files(&[("main.tf", "resource \"terraform_data\" \"a\" {\n  for_each = toset([for i in range(100001) : tostring(i)])\n}\n")], &st(""), &[]);
        assert_eq!(d.unknown.len(), 1);
        let d = run_files(
            &[(
                "main.tf",
                "resource \"terraform_data\" \"a\" {\n  count = 100001\n}\n",
            )],
            &st(""),
            &[],
        );
        assert!(
            d.unknown[0].reason.contains("more than 100000"),
            "{:?}",
            d.unknown
        );
        assert!(d.create.is_empty());
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
