//! Encoding functions: `jsonencode`, `jsondecode`, `yamlencode`, `yamldecode`, `base64encode`,
//! `base64decode`, `textencodebase64`, `textdecodebase64` (UTF-8 only), `urlencode`,
//! `csvdecode`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine as _;

use super::{arg_str, arity, err, FResult, FuncError};
use crate::drift::value::{Number, Value};

/// Dispatches an encoding function; `None` if `name` is not one.
pub fn call(name: &str, a: &[Value]) -> Option<FResult> {
    Some(match name {
        "jsonencode" => arity(name, a, 1, 1).map(|_| Value::String(json_encode(&a[0]))),
        "jsondecode" => (|| {
            arity(name, a, 1, 1)?;
            json_decode(&arg_str(a, 0, "str")?)
        })(),
        "yamlencode" => arity(name, a, 1, 1).map(|_| Value::String(yaml_encode(&a[0]))),
        "yamldecode" => (|| {
            arity(name, a, 1, 1)?;
            yaml_decode(&arg_str(a, 0, "src")?)
        })(),
        "base64encode" => (|| {
            arity(name, a, 1, 1)?;
            let s = arg_str(a, 0, "str")?;
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(s.as_bytes()),
            ))
        })(),
        "base64decode" => (|| {
            arity(name, a, 1, 1)?;
            let s = arg_str(a, 0, "str")?;
            let b = base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|_| FuncError(format!("failed to decode base64 data {s:?}")))?;
            String::from_utf8(b).map(Value::String).map_err(|_| {
                FuncError("the result of decoding the provided string is not valid UTF-8".into())
            })
        })(),
        "textencodebase64" | "textdecodebase64" => (|| {
            arity(name, a, 2, 2)?;
            let enc = arg_str(a, 1, "encoding")?;
            if !enc.eq_ignore_ascii_case("utf-8") && !enc.eq_ignore_ascii_case("utf8") {
                return Ok(Value::unknown(format!(
                    // The argument is not quoted: it may come from a sensitive value.
                    "{name}() with an encoding other than UTF-8 is not evaluated by tfops"
                )));
            }
            call(
                if name == "textencodebase64" {
                    "base64encode"
                } else {
                    "base64decode"
                },
                &a[..1],
            )
            .unwrap_or_else(|| err("unreachable"))
        })(),
        "urlencode" => (|| {
            arity(name, a, 1, 1)?;
            Ok(Value::String(url_encode(&arg_str(a, 0, "str")?)))
        })(),
        "csvdecode" => (|| {
            arity(name, a, 1, 1)?;
            csv_decode(&arg_str(a, 0, "str")?)
        })(),
        _ => return None,
    })
}

/// A JSON string as Go writes it (`<`, `>`, `&` escaped as `\u003c`…).
fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// `jsonencode`: compact JSON with keys sorted, as Terraform writes it.
pub fn json_encode(v: &Value) -> String {
    let mut out = String::new();
    enc(&mut out, v);
    out
}

fn enc(out: &mut String, v: &Value) {
    match v {
        Value::Null | Value::Unknown(_) => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => json_str(out, s),
        Value::List(x) | Value::Set(x) | Value::Tuple(x) => {
            out.push('[');
            for (i, e) in x.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                enc(out, e);
            }
            out.push(']');
        }
        Value::Map(m) | Value::Object(m) => {
            out.push('{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_str(out, k);
                out.push(':');
                enc(out, e);
            }
            out.push('}');
        }
    }
}

fn json_decode(s: &str) -> FResult {
    let j: serde_json::Value = serde_json::from_str(s)
        .map_err(|e| FuncError(format!("Invalid value for \"str\" parameter: {e}")))?;
    // numbers keep their text where serde_json would round them
    Ok(from_json_exact(&j))
}

fn from_json_exact(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(|i| Value::int(i128::from(i)))
            .or_else(|| n.as_u64().map(|u| Value::int(i128::from(u))))
            .or_else(|| Number::parse(&n.to_string()).map(Value::Number))
            .unwrap_or(Value::Null),
        serde_json::Value::Array(a) => Value::Tuple(a.iter().map(from_json_exact).collect()),
        serde_json::Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), from_json_exact(v)))
                .collect(),
        ),
        other => Value::from_json(other),
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

fn csv_records(s: &str) -> Result<Vec<Vec<String>>, FuncError> {
    let mut recs = Vec::new();
    let mut rec = Vec::new();
    let mut field = String::new();
    let mut chars = s.chars().peekable();
    let mut in_q = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if in_q {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_q = false,
                c => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() => in_q = true,
            ',' => rec.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                rec.push(std::mem::take(&mut field));
                recs.push(std::mem::take(&mut rec));
                any = false;
            }
            c => field.push(c),
        }
    }
    if in_q {
        return err("extraneous or missing \" in quoted-field");
    }
    if any {
        rec.push(field);
        recs.push(rec);
    }
    Ok(recs)
}

fn csv_decode(s: &str) -> FResult {
    let recs = csv_records(s)?;
    let Some((head, rows)) = recs.split_first() else {
        return err("missing header line");
    };
    let mut out = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if r.len() != head.len() {
            return err(format!("record on line {}: wrong number of fields", i + 2));
        }
        let m: BTreeMap<String, Value> = head
            .iter()
            .cloned()
            .zip(r.iter().map(|f| Value::String(f.clone())))
            .collect();
        out.push(Value::Object(m));
    }
    Ok(Value::List(out))
}

/// Terraform's YAML writer double-quotes every string.
fn yaml_str(s: &str) -> String {
    json_encode(&Value::String(s.to_string()))
        .replace("\\u003c", "<")
        .replace("\\u003e", ">")
        .replace("\\u0026", "&")
}

/// `yamlencode`: block style, keys sorted, as Terraform writes it for common values.
pub fn yaml_encode(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::List(x) | Value::Set(x) | Value::Tuple(x) if !x.is_empty() => yseq(&mut out, x, 0),
        Value::Map(m) | Value::Object(m) if !m.is_empty() => ymap(&mut out, m, 0),
        other => {
            out.push_str(&yinline(other));
            out.push('\n');
        }
    }
    out
}

fn yinline(v: &Value) -> String {
    match v {
        Value::Null | Value::Unknown(_) => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_str(s),
        Value::List(_) | Value::Set(_) | Value::Tuple(_) => "[]".into(),
        Value::Map(_) | Value::Object(_) => "{}".into(),
    }
}

fn yseq(out: &mut String, x: &[Value], ind: usize) {
    for e in x {
        out.push_str(&" ".repeat(ind));
        out.push_str("- ");
        match e {
            Value::List(y) | Value::Set(y) | Value::Tuple(y) if !y.is_empty() => {
                out.push('\n');
                yseq(out, y, ind + 2);
            }
            Value::Map(m) | Value::Object(m) if !m.is_empty() => {
                let mut sub = String::new();
                ymap(&mut sub, m, ind + 2);
                out.push_str(sub.trim_start());
            }
            other => {
                out.push_str(&yinline(other));
                out.push('\n');
            }
        }
    }
}

fn ymap(out: &mut String, m: &BTreeMap<String, Value>, ind: usize) {
    for (k, e) in m {
        out.push_str(&" ".repeat(ind));
        out.push_str(&yaml_str(k));
        out.push(':');
        match e {
            Value::List(y) | Value::Set(y) | Value::Tuple(y) if !y.is_empty() => {
                out.push('\n');
                yseq(out, y, ind);
            }
            Value::Map(n) | Value::Object(n) if !n.is_empty() => {
                out.push('\n');
                ymap(out, n, ind + 2);
            }
            other => {
                out.push(' ');
                out.push_str(&yinline(other));
                out.push('\n');
            }
        }
    }
}

fn yaml_decode(s: &str) -> FResult {
    let y: serde_yaml::Value = serde_yaml::from_str(s).map_err(|e| {
        FuncError(format!(
            "on line {}: {e}",
            e.location().map_or(0, |l| l.line())
        ))
    })?;
    from_yaml(y)
}

fn from_yaml(y: serde_yaml::Value) -> FResult {
    use serde_yaml::Value as Y;
    Ok(match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => Number::parse(&n.to_string())
            .map(Value::Number)
            .ok_or_else(|| FuncError(format!("cannot represent {n} as a number")))?,
        Y::String(s) => Value::String(s),
        Y::Sequence(v) => Value::Tuple(v.into_iter().map(from_yaml).collect::<Result<_, _>>()?),
        Y::Mapping(m) => {
            let mut out = BTreeMap::new();
            for (k, v) in m {
                let k = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    _ => return err("only string keys are supported in YAML mappings"),
                };
                out.insert(k, from_yaml(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => from_yaml(t.value)?,
    })
}
