//! Collection functions: `length`, `merge`, `concat`, `lookup`, `element`, `keys`, `values`,
//! `contains`, `distinct`, `flatten`, `compact`, `coalesce`, `coalescelist`, `zipmap`, `range`,
//! `one`, the set functions, `chunklist`, `reverse`, `sort`, `slice`, `index`, `alltrue`,
//! `anytrue`, `transpose`, `matchkeys`, `sum`.

use std::collections::BTreeMap;

use super::{arg_int, arg_num, arg_str, arity, arity_n, err, FResult, FuncError};
use crate::drift::eval::values_equal;
use crate::drift::value::{convert, unify, unify_types, Number, Type, Value};

/// Dispatches a collection function; `None` if `name` is not one.
pub fn call(name: &str, a: &[Value]) -> Option<FResult> {
    Some(match name {
        "length" => with_first("length", a),
        "merge" => merge(a),
        "concat" => concat(a),
        "lookup" => with_first("lookup", a),
        "element" => with_first("element", a),
        "keys" => keys(a),
        "values" => values(a),
        "contains" => with_first("contains", a),
        "distinct" => distinct(a),
        "flatten" => flatten(a),
        "compact" => compact(a),
        "coalesce" => coalesce(a),
        "coalescelist" => coalescelist(a),
        "zipmap" => zipmap(a),
        "range" => range(a),
        "one" => one(a),
        "setunion" | "setintersection" | "setsubtract" => setop(name, a),
        "setproduct" => setproduct(a),
        "chunklist" => chunklist(a),
        "reverse" => reverse(a),
        "sort" => sort(a),
        "slice" => slice(a),
        "index" => with_first("index", a),
        "alltrue" | "anytrue" => alltrue(name, a),
        "transpose" => transpose(a),
        "matchkeys" => matchkeys(a),
        "sum" => sum(a),
        _ => return None,
    })
}

/// Calls one of the functions whose first argument may be borrowed from the scope.
fn with_first(name: &str, a: &[Value]) -> FResult {
    match a.split_first() {
        Some((first, rest)) => call_ref(name, first, rest).unwrap_or_else(|| err("unreachable")),
        None => arity(name, a, 1, usize::MAX).map(|_| Value::Null),
    }
}

/// `length`, `lookup`, `element`, `contains`, `index` with the collection borrowed: the
/// evaluator passes `var.big` by reference, so a lookup per instance does not copy the map.
/// `None` if `name` is not one of them.
pub fn call_ref(name: &str, first: &Value, rest: &[Value]) -> Option<FResult> {
    let n = 1 + rest.len();
    let check = |min, max| arity_n(name, n, min, max);
    // an unknown collection (or key) makes the result unknown; unknown elements stay inside
    if let Some(u) = std::iter::once(first).chain(rest).find(|v| v.is_unknown()) {
        return Some(Ok(u.clone()));
    }
    Some(match name {
        "length" => check(1, 1).and_then(|_| length(first)),
        "lookup" => check(2, 3).and_then(|_| lookup(first, rest)),
        "element" => check(2, 2).and_then(|_| element(first, rest)),
        "contains" | "index" => check(2, 2).and_then(|_| {
            if name == "contains" && rest[0].first_unknown().is_none() {
                if let Some(u) = first.first_unknown() {
                    // A known element equal to the value decides; else an unknown one may be.
                    let known: Vec<Value> = seq_of(first, "list")?
                        .iter()
                        .filter(|x| x.first_unknown().is_none())
                        .cloned()
                        .collect();
                    let found = contains(&same_kind(first, known), &rest[0])?;
                    return Ok(if found == Value::Bool(true) {
                        found
                    } else {
                        Value::Unknown(u.clone())
                    });
                }
            }
            if let Some(u) = first.first_unknown().or(rest[0].first_unknown()) {
                return Ok(Value::Unknown(u.clone()));
            }
            if name == "contains" {
                contains(first, &rest[0])
            } else {
                index(first, &rest[0])
            }
        }),
        _ => return None,
    })
}

fn seq_of<'a>(v: &'a Value, param: &str) -> Result<&'a [Value], FuncError> {
    seq(std::slice::from_ref(v), 0, param)
}

fn seq<'a>(a: &'a [Value], i: usize, param: &str) -> Result<&'a [Value], FuncError> {
    match a.get(i) {
        Some(v) => match v.as_seq() {
            Some(s) => Ok(s),
            None if v.is_null() => err(format!(
                "Invalid value for \"{param}\" parameter: argument must not be null"
            )),
            None => err(format!(
                "Invalid value for \"{param}\" parameter: list, set or tuple required, got {}",
                v.kind()
            )),
        },
        None => err(format!("missing argument {param:?}")),
    }
}

/// A list of these elements, converted to their common type.
pub(crate) fn list_of(items: Vec<Value>) -> FResult {
    convert(Value::List(items), &Type::List(Box::new(Type::Dynamic)))
        .map_err(|e| FuncError(format!("all elements must have the same type: {e}")))
}

/// The same kind of sequence as `like` (list stays list, set stays set, tuple stays tuple).
fn same_kind(like: &Value, items: Vec<Value>) -> Value {
    match like {
        Value::List(_) => Value::List(items),
        Value::Set(_) => Value::set(items),
        _ => Value::Tuple(items),
    }
}

fn length(v: &Value) -> FResult {
    match v {
        Value::String(s) => Ok(Value::int(grapheme_count(s) as i128)),
        // A set with unknown elements may hold fewer: two of them may turn out equal.
        Value::Set(_) if v.first_unknown().is_some() => {
            Ok(v.first_unknown().cloned().map_or(Value::Null, Value::Unknown))
        }
        Value::List(v) | Value::Set(v) | Value::Tuple(v) => Ok(Value::int(v.len() as i128)),
        Value::Map(m) | Value::Object(m) => Ok(Value::int(m.len() as i128)),
        Value::Null => err("Invalid value for \"value\" parameter: argument must not be null"),
        Value::Unknown(_) => Ok(v.clone()),
        other => err(format!(
            "Invalid value for \"value\" parameter: collection or structural type is required, got {}",
            other.kind()
        )),
    }
}

/// Characters, counting a combining mark with the character before it (an approximation of
/// Unicode grapheme clusters, which Terraform counts).
pub(crate) fn grapheme_count(s: &str) -> usize {
    s.chars().filter(|c| !is_combining(*c)).count()
}

pub(crate) fn is_combining(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F | 0x200D | 0xFE0F)
}

fn merge(a: &[Value]) -> FResult {
    let mut out = BTreeMap::new();
    let mut any_object = false;
    for v in a {
        match v {
            Value::Null => {}
            Value::Map(m) => out.extend(m.clone()),
            Value::Object(m) => {
                any_object = true;
                out.extend(m.clone());
            }
            other => {
                return err(format!(
                    "arguments must be maps or objects, got {}",
                    other.kind()
                ))
            }
        }
    }
    if any_object {
        return Ok(Value::Object(out));
    }
    convert(Value::Map(out.clone()), &Type::Map(Box::new(Type::Dynamic))).or(Ok(Value::Object(out)))
}

fn concat(a: &[Value]) -> FResult {
    arity("concat", a, 1, usize::MAX)?;
    let mut items = Vec::new();
    let mut all_lists = true;
    let mut elem_types = Vec::new();
    for (i, v) in a.iter().enumerate() {
        match v {
            Value::List(x) | Value::Set(x) => {
                elem_types.push(v.ty());
                items.extend(x.iter().cloned())
            }
            Value::Tuple(x) => {
                all_lists = false;
                items.extend(x.iter().cloned())
            }
            Value::Unknown(_) => return Ok(v.clone()),
            other => {
                return err(format!(
                    "Invalid value for \"seqs\" parameter: all arguments must be lists or tuples; got {} for argument {}",
                    other.kind(),
                    i + 1
                ))
            }
        }
    }
    if all_lists {
        return list_of(items);
    }
    Ok(Value::Tuple(items))
}

fn lookup(first: &Value, rest: &[Value]) -> FResult {
    let key = arg_str(rest, 0, "key")?;
    let m = match first {
        Value::Map(m) | Value::Object(m) => m,
        other => {
            return err(format!(
                "Invalid value for \"inputMap\" parameter: map or object required, got {}",
                other.kind()
            ))
        }
    };
    match (m.get(&key), rest.get(1)) {
        (Some(v), None) => Ok(v.clone()),
        (Some(v), Some(d)) => {
            if let (Value::Map(_), Some(t)) = (first, unify(&[v.clone(), d.clone()])) {
                return convert(v.clone(), &t).map_err(FuncError);
            }
            Ok(v.clone())
        }
        (None, Some(d)) => {
            if let Value::Map(_) = first {
                if let Some(Type::Map(et)) = Some(first.ty()) {
                    if *et != Type::Dynamic {
                        return convert(d.clone(), &et).map_err(FuncError);
                    }
                }
            }
            Ok(d.clone())
        }
        (None, None) => err(format!("lookup failed to find key {key:?}")),
    }
}

fn element(first: &Value, rest: &[Value]) -> FResult {
    let s = seq_of(first, "list")?;
    if matches!(first, Value::Set(_)) {
        return err("Invalid value for \"list\" parameter: list or tuple required, got set");
    }
    let i = arg_int(rest, 0, "index")?;
    if s.is_empty() {
        return err("cannot use element function with an empty list");
    }
    // negative indexes count from the end (Terraform 1.x's element)
    Ok(s[i.rem_euclid(s.len() as i64) as usize].clone())
}

fn map_arg<'a>(
    a: &'a [Value],
    i: usize,
    param: &str,
) -> Result<&'a BTreeMap<String, Value>, FuncError> {
    match a.get(i) {
        Some(v) => v.as_map().map_or_else(
            || {
                err(format!(
                    "Invalid value for \"{param}\" parameter: map or object required, got {}",
                    v.kind()
                ))
            },
            Ok,
        ),
        None => err(format!("missing argument {param:?}")),
    }
}

fn keys(a: &[Value]) -> FResult {
    arity("keys", a, 1, 1)?;
    let m = map_arg(a, 0, "inputMap")?;
    let ks: Vec<Value> = m.keys().map(|k| Value::String(k.clone())).collect();
    Ok(match &a[0] {
        Value::Object(_) => Value::Tuple(ks),
        _ => Value::List(ks),
    })
}

fn values(a: &[Value]) -> FResult {
    arity("values", a, 1, 1)?;
    let m = map_arg(a, 0, "mapping")?;
    let vs: Vec<Value> = m.values().cloned().collect();
    Ok(match &a[0] {
        Value::Object(_) => Value::Tuple(vs),
        _ => Value::List(vs),
    })
}

fn contains(first: &Value, v: &Value) -> FResult {
    let s = seq_of(first, "list")?;
    // Terraform compares without converting: `contains(tolist(["1"]), 1)` is false.
    Ok(Value::Bool(s.iter().any(|x| values_equal(x, v))))
}

fn distinct(a: &[Value]) -> FResult {
    arity("distinct", a, 1, 1)?;
    let lst = list_of(seq(a, 0, "list")?.to_vec())?;
    let mut out: Vec<Value> = Vec::new();
    for x in lst.as_seq().unwrap_or(&[]) {
        if !out.contains(x) {
            out.push(x.clone());
        }
    }
    list_of(out)
}

fn flatten(a: &[Value]) -> FResult {
    arity("flatten", a, 1, 1)?;
    /// Flattens into `out`; an unknown element (it may be a list itself) or a set holding
    /// one leaves the length unknown: that unknown is returned. Objects with unknown
    /// attributes are elements like any other.
    fn go(v: &[Value], out: &mut Vec<Value>) -> Option<Value> {
        for x in v {
            match x {
                Value::Unknown(_) => return Some(x.clone()),
                Value::Set(_) if x.first_unknown().is_some() => {
                    return x.first_unknown().cloned().map(Value::Unknown)
                }
                Value::List(i) | Value::Set(i) | Value::Tuple(i) => {
                    if let Some(u) = go(i, out) {
                        return Some(u);
                    }
                }
                other => out.push(other.clone()),
            }
        }
        None
    }
    let s = seq(a, 0, "list")?;
    if let Value::Set(_) = &a[0] {
        if let Some(u) = a[0].first_unknown() {
            return Ok(Value::Unknown(u.clone()));
        }
    }
    let mut out = Vec::new();
    if let Some(u) = go(s, &mut out) {
        return Ok(u);
    }
    Ok(Value::Tuple(out))
}

fn compact(a: &[Value]) -> FResult {
    arity("compact", a, 1, 1)?;
    let s = seq(a, 0, "list")?;
    let mut out = Vec::new();
    for x in s {
        match x {
            Value::Null => {}
            Value::String(t) if t.is_empty() => {}
            other => match convert(other.clone(), &Type::String) {
                Ok(v) => out.push(v),
                Err(e) => return err(format!("Invalid value for \"list\" parameter: {e}")),
            },
        }
    }
    Ok(Value::List(out))
}

fn coalesce(a: &[Value]) -> FResult {
    // With an unknown argument the result type is not known (the unknown's type joins the
    // unification): a string before every unknown is the result all the same, as any
    // primitive unifies to a string.
    if let Some(pos) = a.iter().position(Value::is_unknown) {
        let first = a[..pos].iter().find(|v| match v {
            Value::Null => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        });
        return Ok(match first {
            Some(v @ Value::String(_)) => v.clone(),
            _ => a[pos].clone(),
        });
    }
    let t = unify(a).ok_or_else(|| FuncError("all arguments must have the same type".into()))?;
    for v in a {
        let v = convert(v.clone(), &t).map_err(FuncError)?;
        match &v {
            Value::Unknown(_) => return Ok(v),
            Value::Null => {}
            Value::String(s) if s.is_empty() => {}
            _ => return Ok(v),
        }
    }
    err("no non-null, non-empty-string arguments")
}

fn coalescelist(a: &[Value]) -> FResult {
    for (i, v) in a.iter().enumerate() {
        match v.as_seq() {
            Some(s) if !s.is_empty() => return Ok(v.clone()),
            Some(_) => {}
            None if v.is_null() => {}
            None => {
                return err(format!(
                    "coalescelist arguments must be lists or tuples, got {} for argument {}",
                    v.kind(),
                    i + 1
                ))
            }
        }
    }
    err("no non-null arguments")
}

fn zipmap(a: &[Value]) -> FResult {
    arity("zipmap", a, 2, 2)?;
    let ks = seq(a, 0, "keys")?;
    let vs = seq(a, 1, "values")?;
    // Unknown values stay in the map; an unknown key leaves the map unknown.
    if let Some(u) = ks.iter().find_map(Value::first_unknown) {
        return Ok(Value::Unknown(u.clone()));
    }
    // A set with unknown elements has no known length (two of them may turn out equal).
    if let (Value::Set(_), Some(u)) = (&a[1], a[1].first_unknown()) {
        return Ok(Value::Unknown(u.clone()));
    }
    if ks.len() != vs.len() {
        return err(format!(
            "number of keys ({}) does not match number of values ({})",
            ks.len(),
            vs.len()
        ));
    }
    let mut m = BTreeMap::new();
    for (k, v) in ks.iter().zip(vs) {
        let k = match convert(k.clone(), &Type::String) {
            Ok(Value::String(s)) => s,
            _ => return err("keys must be strings"),
        };
        m.insert(k, v.clone());
    }
    Ok(match &a[1] {
        Value::Tuple(_) => Value::Object(m),
        _ => Value::Map(m),
    })
}

fn range(a: &[Value]) -> FResult {
    arity("range", a, 1, 3)?;
    let (start, end, step) = match a.len() {
        1 => (Number::ZERO, arg_num(a, 0, "limit")?, None),
        2 => (arg_num(a, 0, "start")?, arg_num(a, 1, "limit")?, None),
        _ => (
            arg_num(a, 0, "start")?,
            arg_num(a, 1, "limit")?,
            Some(arg_num(a, 2, "step")?),
        ),
    };
    let step = step.unwrap_or(if end < start {
        Number::from_i128(-1)
    } else {
        Number::from_i128(1)
    });
    if step == Number::ZERO {
        return err("step must not be zero");
    }
    if (step.is_negative() && end > start) || (!step.is_negative() && end < start) {
        return err(if step.is_negative() {
            "for a negative step, the start value must be greater than the limit"
        } else {
            "for a positive step, the start value must be less than the limit"
        });
    }
    let mut out = Vec::new();
    let mut cur = start;
    while (step.is_negative() && cur > end) || (!step.is_negative() && cur < end) {
        if out.len() >= 1024 {
            return err("more than 1024 values were generated; either decrease the difference between start and end or use a smaller step");
        }
        out.push(Value::Number(cur));
        cur = cur
            .checked_add(step)
            .ok_or_else(|| FuncError("overflow".into()))?;
    }
    Ok(Value::List(out))
}

fn one(a: &[Value]) -> FResult {
    arity("one", a, 1, 1)?;
    let s = seq(a, 0, "list")?;
    // a set with an unknown element has no known length
    if let (Value::Set(_), Some(u)) = (&a[0], a[0].first_unknown()) {
        return Ok(Value::Unknown(u.clone()));
    }
    match s {
        [] => Ok(Value::Null),
        [x] => Ok(x.clone()),
        _ => err("Invalid function argument: must be a list, set, or tuple value with either zero or one elements"),
    }
}

fn as_set(v: &Value, param: &str) -> Result<Vec<Value>, FuncError> {
    match convert(v.clone(), &Type::Set(Box::new(Type::Dynamic))) {
        Ok(Value::Set(s)) => Ok(s),
        _ => err(format!(
            "Invalid value for \"{param}\" parameter: set of any single type required"
        )),
    }
}

fn setop(name: &str, a: &[Value]) -> FResult {
    arity(name, a, 1, usize::MAX)?;
    let all: Vec<Value> = a
        .iter()
        .flat_map(|v| v.as_seq().unwrap_or(&[]).to_vec())
        .collect();
    let t = unify(&all)
        .ok_or_else(|| FuncError("given sets must all have compatible element types".into()))?;
    let mut sets = Vec::new();
    for v in a {
        let s = as_set(v, "sets")?;
        sets.push(
            s.into_iter()
                .map(|x| convert(x, &t).map_err(FuncError))
                .collect::<Result<Vec<_>, _>>()?,
        );
    }
    let mut it = sets.into_iter();
    let mut acc = it.next().unwrap_or_default();
    for s in it {
        match name {
            "setunion" => acc.extend(s),
            "setintersection" => acc.retain(|x| s.contains(x)),
            _ => acc.retain(|x| !s.contains(x)),
        }
    }
    Ok(Value::set(acc))
}

fn setproduct(a: &[Value]) -> FResult {
    arity("setproduct", a, 2, usize::MAX)?;
    let any_set = a.iter().any(|v| matches!(v, Value::Set(_)));
    let mut acc: Vec<Vec<Value>> = vec![vec![]];
    for (i, v) in a.iter().enumerate() {
        let s = seq(a, i, "sets")?;
        let _ = v;
        let mut next = Vec::new();
        for prefix in &acc {
            for x in s {
                let mut p = prefix.clone();
                p.push(x.clone());
                next.push(p);
            }
        }
        acc = next;
    }
    // lists when every argument has the same element type, tuples otherwise
    let etypes: Vec<Type> = a
        .iter()
        .map(|v| match v.ty() {
            Type::List(t) | Type::Set(t) => *t,
            t => unify_types(&match t {
                Type::Tuple(ts) => ts,
                _ => vec![],
            })
            .unwrap_or(Type::Dynamic),
        })
        .collect();
    let same = etypes.windows(2).all(|w| w[0] == w[1]);
    let items: Vec<Value> = acc
        .into_iter()
        .map(|p| {
            if same {
                Value::List(
                    p.into_iter()
                        .map(|x| convert(x.clone(), &etypes[0]).unwrap_or(x))
                        .collect(),
                )
            } else {
                Value::Tuple(
                    p.into_iter()
                        .zip(&etypes)
                        .map(|(x, t)| convert(x.clone(), t).unwrap_or(x))
                        .collect(),
                )
            }
        })
        .collect();
    if any_set {
        Ok(Value::set(items))
    } else {
        list_of(items)
    }
}

fn chunklist(a: &[Value]) -> FResult {
    arity("chunklist", a, 2, 2)?;
    let s = seq(a, 0, "list")?;
    let n = arg_int(a, 1, "size")?;
    if n < 0 {
        return err("the size argument must be positive");
    }
    let lst = list_of(s.to_vec())?;
    let items = lst.as_seq().unwrap_or(&[]).to_vec();
    if n == 0 {
        return Ok(Value::List(vec![Value::List(items)]));
    }
    Ok(Value::List(
        items
            .chunks(n as usize)
            .map(|c| Value::List(c.to_vec()))
            .collect(),
    ))
}

fn reverse(a: &[Value]) -> FResult {
    arity("reverse", a, 1, 1)?;
    let s = seq(a, 0, "list")?;
    let mut out = s.to_vec();
    out.reverse();
    Ok(match &a[0] {
        Value::Set(_) => Value::List(out),
        other => same_kind(other, out),
    })
}

fn sort(a: &[Value]) -> FResult {
    arity("sort", a, 1, 1)?;
    let s = seq(a, 0, "list")?;
    let mut out = Vec::new();
    for x in s {
        match convert(x.clone(), &Type::String) {
            Ok(Value::String(t)) => out.push(t),
            Ok(Value::Null) => {
                return err("given list element is null; a null value cannot be used as a sort key")
            }
            _ => return err("Invalid value for \"list\" parameter: list of string required"),
        }
    }
    out.sort();
    Ok(Value::List(out.into_iter().map(Value::String).collect()))
}

fn slice(a: &[Value]) -> FResult {
    arity("slice", a, 3, 3)?;
    let s = seq(a, 0, "list")?;
    let start = arg_int(a, 1, "start_index")?;
    let end = arg_int(a, 2, "end_index")?;
    if start < 0 {
        return err(
            "Invalid value for \"start_index\" parameter: start index must not be less than zero",
        );
    }
    if end > s.len() as i64 {
        return err("Invalid value for \"end_index\" parameter: end index must not be greater than the length of the list");
    }
    if start > end {
        return err("Invalid value for \"start_index\" parameter: start index must not be greater than end index");
    }
    let out = s[start as usize..end as usize].to_vec();
    Ok(match &a[0] {
        Value::Tuple(_) => Value::Tuple(out),
        _ => Value::List(out),
    })
}

fn index(first: &Value, item: &Value) -> FResult {
    let s = seq_of(first, "list")?;
    for (i, x) in s.iter().enumerate() {
        // no conversion either: `index(tolist(["1"]), 1)` finds nothing
        if values_equal(x, item) {
            return Ok(Value::int(i as i128));
        }
    }
    err("item not found")
}

fn alltrue(name: &str, a: &[Value]) -> FResult {
    arity(name, a, 1, 1)?;
    let s = seq(a, 0, "list")?;
    let mut bs = Vec::new();
    for x in s {
        match convert(x.clone(), &Type::Bool) {
            Ok(Value::Bool(b)) => bs.push(b),
            Ok(Value::Null) if name == "anytrue" => bs.push(false),
            Ok(Value::Null) => {
                return err("Invalid value for \"list\" parameter: argument must not be null")
            }
            _ => return err("Invalid value for \"list\" parameter: list of bool required"),
        }
    }
    Ok(Value::Bool(if name == "alltrue" {
        bs.iter().all(|b| *b)
    } else {
        bs.iter().any(|b| *b)
    }))
}

fn transpose(a: &[Value]) -> FResult {
    arity("transpose", a, 1, 1)?;
    let m = map_arg(a, 0, "values")?;
    let mut out: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (k, v) in m {
        let Some(s) = v.as_seq() else {
            return err("Invalid value for \"values\" parameter: map of list of string required");
        };
        for x in s {
            match convert(x.clone(), &Type::String) {
                Ok(Value::String(t)) => out.entry(t).or_default().push(Value::String(k.clone())),
                _ => {
                    return err(
                        "Invalid value for \"values\" parameter: map of list of string required",
                    )
                }
            }
        }
    }
    Ok(Value::Map(
        out.into_iter().map(|(k, v)| (k, Value::List(v))).collect(),
    ))
}

fn matchkeys(a: &[Value]) -> FResult {
    arity("matchkeys", a, 3, 3)?;
    let vals = seq(a, 0, "values")?;
    let ks = seq(a, 1, "keys")?;
    let search = seq(a, 2, "searchset")?;
    if vals.len() != ks.len() {
        return err("length of keys and values should be equal");
    }
    let mut out = Vec::new();
    for (v, k) in vals.iter().zip(ks) {
        if search.iter().any(|s| values_equal(s, k)) {
            out.push(v.clone());
        }
    }
    list_of(out)
}

fn sum(a: &[Value]) -> FResult {
    arity("sum", a, 1, 1)?;
    let s = seq(a, 0, "list")?;
    if s.is_empty() {
        return err("cannot sum an empty list");
    }
    let mut acc = Number::ZERO;
    for (i, x) in s.iter().enumerate() {
        let n = arg_num(s, i, "list")?;
        let _ = x;
        acc = acc
            .checked_add(n)
            .ok_or_else(|| FuncError("overflow".into()))?;
    }
    Ok(Value::Number(acc))
}
