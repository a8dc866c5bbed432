//! `lifecycle { ignore_changes = [input.a, tags["Name"], list[0]] }`: a path below an
//! attribute ignores only that part of it, as Terraform plans it. Terraform keeps the prior
//! (state) value at each ignored path in the configured value before comparing; the rules,
//! checked against Terraform 1.11:
//!
//! - a trailing string index (`["k"]`) is taken off the path and remembered as a key;
//! - the (shortened) path must lead somewhere in both the state's and the configured value
//!   (`.name` only into objects, `["k"]` only into maps, `[0]` only into lists and tuples),
//!   else the entry ignores nothing; where both values are equal it ignores nothing either;
//! - at that place, a map keeps the state's element for the key (or drops the key when the
//!   state has none); anything else — an object indexed with `["k"]` included — takes the
//!   state's value whole.
//!
//! Values are JSON with their Terraform type in cty's JSON form (`["map","string"]`,
//! `["object",{...}]`); [`Value::Null`] as a type means "not known": JSON objects are then
//! taken as maps and arrays as lists (a provider's attributes, whose schema tfops lacks).

use serde_json::Value;

/// One step of a path below the attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `.name`
    Attr(String),
    /// `["key"]`
    Key(String),
    /// `[0]`
    Index(u64),
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Object,
    Map,
    List,
    Tuple,
    Other,
}

fn kind(v: &Value, t: &Value) -> Kind {
    match t {
        Value::Array(a) => match a.first().and_then(Value::as_str) {
            Some("object") => Kind::Object,
            Some("map") => Kind::Map,
            Some("list") => Kind::List,
            Some("tuple") => Kind::Tuple,
            _ => Kind::Other,
        },
        Value::Null => match v {
            Value::Object(_) => Kind::Map,
            Value::Array(_) => Kind::List,
            _ => Kind::Other,
        },
        _ => Kind::Other,
    }
}

/// The type of the element reached by `step` (`Null` when not known).
fn elem_type(t: &Value, step: &Step) -> Value {
    let Value::Array(a) = t else {
        return Value::Null;
    };
    match (a.first().and_then(Value::as_str), a.get(1), step) {
        (Some("object"), Some(Value::Object(attrs)), Step::Attr(n)) => {
            attrs.get(n).cloned().unwrap_or(Value::Null)
        }
        (Some("map" | "list"), Some(e), _) => e.clone(),
        (Some("tuple"), Some(Value::Array(ts)), Step::Index(i)) => {
            ts.get(*i as usize).cloned().unwrap_or(Value::Null)
        }
        _ => Value::Null,
    }
}

/// The value and type at `path`, or `None` where the path does not lead (as Terraform's
/// path steps refuse: attributes only of objects, string keys only of maps, numbers only of
/// lists and tuples).
fn at(v: &Value, t: &Value, path: &[Step]) -> Option<(Value, Value)> {
    let mut v = v.clone();
    let mut t = t.clone();
    for step in path {
        let k = kind(&v, &t);
        let next = match (step, k, &v) {
            (Step::Attr(n), Kind::Object, Value::Object(o)) => o.get(n).cloned()?,
            (Step::Key(n), Kind::Map, Value::Object(o)) => o.get(n).cloned()?,
            (Step::Index(i), Kind::List | Kind::Tuple, Value::Array(a)) => {
                a.get(*i as usize).cloned()?
            }
            _ => return None,
        };
        t = elem_type(&t, step);
        v = next;
    }
    Some((v, t))
}

struct Kept {
    path: Vec<Step>,
    prior: Value,
    key: Option<String>,
}

/// The configured value `(v, t)` with the ignored `paths` kept as the state `(pv, pt)` has
/// them. Only the value changes (a kept part has the type it had in the state, and the
/// comparison that follows looks at values and, for typed attributes, the outer type).
pub fn keep_prior(v: &Value, t: &Value, pv: &Value, pt: &Value, paths: &[Vec<Step>]) -> Value {
    let mut kept = Vec::new();
    for p in paths {
        let mut path = p.clone();
        let key = match path.last() {
            Some(Step::Key(k)) => {
                let k = k.clone();
                path.pop();
                Some(k)
            }
            _ => None,
        };
        let (Some(prior), Some(config)) = (at(pv, pt, &path), at(v, t, &path)) else {
            continue;
        };
        if prior != config {
            kept.push(Kept {
                path,
                prior: prior.0,
                key,
            });
        }
    }
    if kept.is_empty() {
        return v.clone();
    }
    let mut here = Vec::new();
    walk(v, t, &mut here, &kept)
}

fn walk(v: &Value, t: &Value, here: &mut Vec<Step>, kept: &[Kept]) -> Value {
    let k = kind(v, t);
    // Children first, as Terraform's transform walks.
    let v = match (k, v) {
        (Kind::Object | Kind::Map, Value::Object(o)) => Value::Object(
            o.iter()
                .map(|(name, x)| {
                    let step = if k == Kind::Object {
                        Step::Attr(name.clone())
                    } else {
                        Step::Key(name.clone())
                    };
                    let et = elem_type(t, &step);
                    here.push(step);
                    let x = walk(x, &et, here, kept);
                    here.pop();
                    (name.clone(), x)
                })
                .collect(),
        ),
        (Kind::List | Kind::Tuple, Value::Array(a)) => Value::Array(
            a.iter()
                .enumerate()
                .map(|(i, x)| {
                    let step = Step::Index(i as u64);
                    let et = elem_type(t, &step);
                    here.push(step);
                    let x = walk(x, &et, here, kept);
                    here.pop();
                    x
                })
                .collect(),
        ),
        _ => v.clone(),
    };
    if k != Kind::Map {
        return kept
            .iter()
            .find(|c| c.path == *here)
            .map_or(v, |c| c.prior.clone());
    }
    let mut map = match v {
        Value::Object(o) => o,
        _ => serde_json::Map::new(),
    };
    for c in kept.iter().filter(|c| c.path == *here) {
        let Some(key) = &c.key else {
            return c.prior.clone();
        };
        match c.prior.get(key) {
            Some(p) => {
                map.insert(key.clone(), p.clone());
            }
            None => {
                map.remove(key);
            }
        }
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj_t() -> Value {
        json!(["object", {"a": "string", "b": "string"}])
    }

    #[test]
    fn a_path_keeps_only_its_part() {
        let attr = |n: &str| vec![Step::Attr(n.into())];
        let key = |n: &str| vec![Step::Key(n.into())];
        let prior = json!({"a": "1", "b": "2"});
        // object .a: a kept, b compared
        let v = keep_prior(
            &json!({"a": "9", "b": "3"}),
            &obj_t(),
            &prior,
            &obj_t(),
            &[attr("a")],
        );
        assert_eq!(v, json!({"a": "1", "b": "3"}));
        // object ["a"]: Terraform keeps the whole object
        let v = keep_prior(
            &json!({"a": "1", "b": "3"}),
            &obj_t(),
            &prior,
            &obj_t(),
            &[key("a")],
        );
        assert_eq!(v, prior);
        // map ["a"]: the key only; added or removed keys follow the state
        let mt = json!(["map", "string"]);
        let v = keep_prior(&json!({"a": "9", "b": "3"}), &mt, &prior, &mt, &[key("a")]);
        assert_eq!(v, json!({"a": "1", "b": "3"}));
        let v = keep_prior(
            &json!({"a": "9", "b": "2"}),
            &mt,
            &json!({"b": "2"}),
            &mt,
            &[key("a")],
        );
        assert_eq!(v, json!({"b": "2"}));
        // map .a: a map has no attributes, nothing is ignored
        let v = keep_prior(&json!({"a": "9", "b": "2"}), &mt, &prior, &mt, &[attr("a")]);
        assert_eq!(v, json!({"a": "9", "b": "2"}));
        // list [0]
        let lt = json!(["list", "string"]);
        let v = keep_prior(
            &json!(["9", "3"]),
            &lt,
            &json!(["1", "2"]),
            &lt,
            &[vec![Step::Index(0)]],
        );
        assert_eq!(v, json!(["1", "3"]));
        // a path into a string ignores nothing
        let v = keep_prior(
            &json!("t"),
            &json!("string"),
            &json!("s"),
            &json!("string"),
            &[attr("a")],
        );
        assert_eq!(v, json!("t"));
        // nested
        let nt = json!(["object", {"a": ["object", {"x": "string", "y": "string"}]}]);
        let v = keep_prior(
            &json!({"a": {"x": "9", "y": "3"}}),
            &nt,
            &json!({"a": {"x": "1", "y": "2"}}),
            &nt,
            &[vec![Step::Attr("a".into()), Step::Attr("x".into())]],
        );
        assert_eq!(v, json!({"a": {"x": "1", "y": "3"}}));
        // untyped (a provider's attribute): objects are maps
        let v = keep_prior(
            &json!({"Name": "new", "env": "prod"}),
            &Value::Null,
            &json!({"Name": "old", "env": "dev"}),
            &Value::Null,
            &[key("Name")],
        );
        assert_eq!(v, json!({"Name": "old", "env": "prod"}));
    }
}
