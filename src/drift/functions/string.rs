//! String functions: `format`, `formatlist`, `join`, `split`, `replace`, `lower`, `upper`,
//! `title`, `trimspace`, `trim`, `trimprefix`, `trimsuffix`, `substr`, `regex`, `regexall`,
//! `startswith`, `endswith`, `strrev`, `indent`, `chomp`, `strcontains`.
//!
//! Regular expressions use Rust's `regex` crate, whose syntax is RE2's (Terraform's) for
//! everything but a few rarely used classes.

use std::collections::BTreeMap;

use super::collection::{is_combining, list_of};
use super::{arg_int, arg_str, arity, err, FResult, FuncError};
use crate::drift::value::{convert, quote, Type, Value};

/// Dispatches a string function; `None` if `name` is not one.
pub fn call(name: &str, a: &[Value]) -> Option<FResult> {
    Some(match name {
        "format" => format_fn(a),
        "formatlist" => formatlist(a),
        "join" => join(a),
        "split" => split(a),
        "replace" => replace(a),
        "lower" => unary(name, a, |s| map_chars(s, |c| c.to_lowercase())),
        "upper" => unary(name, a, |s| map_chars(s, |c| c.to_uppercase())),
        "title" => unary(name, a, title),
        "trimspace" => unary(name, a, |s| s.trim().to_string()),
        "chomp" => unary(name, a, |s| s.trim_end_matches(['\n', '\r']).to_string()),
        "strrev" => unary(name, a, strrev),
        "trim" => binary(name, a, |s, cut| {
            s.trim_matches(|c| cut.contains(c)).to_string()
        }),
        "trimprefix" => binary(name, a, |s, p| s.strip_prefix(p).unwrap_or(s).to_string()),
        "trimsuffix" => binary(name, a, |s, p| s.strip_suffix(p).unwrap_or(s).to_string()),
        "startswith" => pred(name, a, |s, p| s.starts_with(p)),
        "endswith" => pred(name, a, |s, p| s.ends_with(p)),
        "strcontains" => pred(name, a, |s, p| s.contains(p)),
        "substr" => substr(a),
        "regex" => regex_fn(a, false),
        "regexall" => regex_fn(a, true),
        "indent" => indent(a),
        _ => return None,
    })
}

fn unary(name: &str, a: &[Value], f: impl Fn(&str) -> String) -> FResult {
    arity(name, a, 1, 1)?;
    Ok(Value::String(f(&arg_str(a, 0, "str")?)))
}

fn binary(name: &str, a: &[Value], f: impl Fn(&str, &str) -> String) -> FResult {
    arity(name, a, 2, 2)?;
    Ok(Value::String(f(
        &arg_str(a, 0, "str")?,
        &arg_str(a, 1, "str")?,
    )))
}

fn pred(name: &str, a: &[Value], f: impl Fn(&str, &str) -> bool) -> FResult {
    arity(name, a, 2, 2)?;
    Ok(Value::Bool(f(
        &arg_str(a, 0, "str")?,
        &arg_str(a, 1, "str")?,
    )))
}

/// Case mapping one character to one, as Go does (`ß` stays `ß` in `upper`).
fn map_chars<I: Iterator<Item = char> + ExactSizeIterator>(
    s: &str,
    f: impl Fn(char) -> I,
) -> String {
    s.chars()
        .map(|c| {
            let mut m = f(c);
            if m.len() == 1 {
                m.next().unwrap_or(c)
            } else {
                c
            }
        })
        .collect()
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_' || c == '\'');
    }
    out
}

/// Grapheme-ish clusters: a character and the combining marks after it.
fn clusters(s: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        if is_combining(c) && start.is_some() {
            continue;
        }
        if let Some(st) = start {
            out.push(&s[st..i]);
        }
        start = Some(i);
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    out
}

fn strrev(s: &str) -> String {
    clusters(s).into_iter().rev().collect()
}

fn join(a: &[Value]) -> FResult {
    arity("join", a, 2, usize::MAX)?;
    let sep = arg_str(a, 0, "separator")?;
    let mut parts = Vec::new();
    for v in &a[1..] {
        let Some(s) = v.as_seq() else {
            return err(format!(
                "Invalid value for \"lists\" parameter: list of string required, got {}",
                v.kind()
            ));
        };
        for x in s {
            match x {
                Value::Null => {
                    return err("Invalid value for \"lists\" parameter: element is null; cannot concatenate null values")
                }
                x => match convert(x.clone(), &Type::String) {
                    Ok(Value::String(t)) => parts.push(t),
                    _ => return err("Invalid value for \"lists\" parameter: list of string required"),
                },
            }
        }
    }
    Ok(Value::String(parts.join(&sep)))
}

fn split(a: &[Value]) -> FResult {
    arity("split", a, 2, 2)?;
    let sep = arg_str(a, 0, "separator")?;
    let s = arg_str(a, 1, "str")?;
    let parts: Vec<Value> = if s.is_empty() {
        vec![Value::String(String::new())]
    } else if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep.as_str())
            .map(|p| Value::String(p.to_string()))
            .collect()
    };
    Ok(Value::List(parts))
}

fn compile(pattern: &str) -> Result<regex::Regex, FuncError> {
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| FuncError(format!("invalid regular expression pattern: {e}")))
}

fn replace(a: &[Value]) -> FResult {
    arity("replace", a, 3, 3)?;
    let s = arg_str(a, 0, "str")?;
    let sub = arg_str(a, 1, "substr")?;
    let rep = arg_str(a, 2, "replace")?;
    if sub.len() > 1 && sub.starts_with('/') && sub.ends_with('/') {
        let re = compile(&sub[1..sub.len() - 1])?;
        return Ok(Value::String(re.replace_all(&s, rep.as_str()).into_owned()));
    }
    if sub.is_empty() {
        // Go's strings.Replace with an empty old string inserts between every character
        let mut out = rep.clone();
        for c in s.chars() {
            out.push(c);
            out.push_str(&rep);
        }
        return Ok(Value::String(out));
    }
    Ok(Value::String(s.replace(&sub, &rep)))
}

fn substr(a: &[Value]) -> FResult {
    arity("substr", a, 3, 3)?;
    let s = arg_str(a, 0, "str")?;
    let mut off = arg_int(a, 1, "offset")?;
    let len = arg_int(a, 2, "length")?;
    let cl = clusters(&s);
    let n = cl.len() as i64;
    if off < 0 {
        off += n;
        if off < 0 {
            off = 0;
        }
    }
    if off > n {
        return Ok(Value::String(String::new()));
    }
    let end = if len < 0 || off + len > n {
        n
    } else {
        off + len
    };
    Ok(Value::String(cl[off as usize..end as usize].concat()))
}

fn regex_fn(a: &[Value], all: bool) -> FResult {
    let name = if all { "regexall" } else { "regex" };
    arity(name, a, 2, 2)?;
    let re = compile(&arg_str(a, 0, "pattern")?)?;
    let s = arg_str(a, 1, "string")?;
    let names: Vec<Option<&str>> = re.capture_names().skip(1).collect();
    let named = names.iter().any(Option::is_some);
    if named && names.iter().any(Option::is_none) {
        return err(
            "invalid regular expression pattern: can't mix both named and unnamed capture groups",
        );
    }
    let one = |caps: regex::Captures| -> Value {
        let g = |i: usize| {
            caps.get(i)
                .map(|m| Value::String(m.as_str().to_string()))
                .unwrap_or(Value::Null)
        };
        if names.is_empty() {
            g(0)
        } else if named {
            Value::Object(
                names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| (n.unwrap_or_default().to_string(), g(i + 1)))
                    .collect::<BTreeMap<_, _>>(),
            )
        } else {
            Value::Tuple((1..=names.len()).map(g).collect())
        }
    };
    if all {
        let items: Vec<Value> = re.captures_iter(&s).map(one).collect();
        return list_of(items);
    }
    match re.captures(&s) {
        Some(c) => Ok(one(c)),
        None => err("pattern did not match any part of the given string"),
    }
}

fn indent(a: &[Value]) -> FResult {
    arity("indent", a, 2, 2)?;
    let n = arg_int(a, 0, "spaces")?;
    let s = arg_str(a, 1, "str")?;
    let pad = " ".repeat(n.clamp(0, 1 << 16) as usize);
    Ok(Value::String(s.replace('\n', &format!("\n{pad}"))))
}

fn formatlist(a: &[Value]) -> FResult {
    arity("formatlist", a, 1, usize::MAX)?;
    let mut n: Option<usize> = None;
    for v in &a[1..] {
        if let Some(s) = v.as_seq() {
            match n {
                Some(m) if m != s.len() => {
                    return err(format!(
                        "argument has length {}, which is inconsistent with {m}",
                        s.len()
                    ))
                }
                _ => n = Some(s.len()),
            }
        }
    }
    let n = n.unwrap_or(1);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut row = vec![a[0].clone()];
        for v in &a[1..] {
            row.push(match v.as_seq() {
                Some(s) => s[i].clone(),
                None => v.clone(),
            });
        }
        out.push(format_fn(&row)?);
    }
    Ok(Value::List(out))
}

struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn pad(s: String, sp: &Spec, numeric: bool) -> String {
    let Some(w) = sp.width else { return s };
    let len = s.chars().count();
    if len >= w {
        return s;
    }
    let fill = w - len;
    if sp.minus {
        format!("{s}{}", " ".repeat(fill))
    } else if sp.zero && numeric {
        let (sign, rest) = match s.strip_prefix(['-', '+']) {
            Some(r) => (&s[..1], r),
            None => ("", s.as_str()),
        };
        format!("{sign}{}{rest}", "0".repeat(fill))
    } else {
        format!("{}{s}", " ".repeat(fill))
    }
}

fn format_fn(a: &[Value]) -> FResult {
    arity("format", a, 1, usize::MAX)?;
    let f = arg_str(a, 0, "format")?;
    let args = &a[1..];
    let mut out = String::new();
    let mut next = 0usize;
    let mut used = vec![false; args.len()];
    let chars: Vec<char> = f.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let mut sp = Spec {
            minus: false,
            plus: false,
            space: false,
            zero: false,
            sharp: false,
            width: None,
            prec: None,
        };
        while i < chars.len() {
            match chars[i] {
                '-' => sp.minus = true,
                '+' => sp.plus = true,
                ' ' => sp.space = true,
                '0' => sp.zero = true,
                '#' => sp.sharp = true,
                _ => break,
            }
            i += 1;
        }
        if i < chars.len() && chars[i] == '[' {
            let close = chars[i..].iter().position(|c| *c == ']');
            let Some(close) = close else {
                return err("unterminated argument index");
            };
            let idx: String = chars[i + 1..i + close].iter().collect();
            let idx: usize = idx
                .parse()
                .map_err(|_| FuncError("invalid argument index".into()))?;
            if idx == 0 || idx > args.len() {
                return err(format!("invalid argument index {idx}"));
            }
            next = idx - 1;
            i += close + 1;
        }
        let num = |i: &mut usize| -> Option<usize> {
            let st = *i;
            while *i < chars.len() && chars[*i].is_ascii_digit() {
                *i += 1;
            }
            (st < *i).then(|| {
                chars[st..*i]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
            })
        };
        sp.width = num(&mut i);
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            sp.prec = Some(num(&mut i).unwrap_or(0));
        }
        let Some(&verb) = chars.get(i) else {
            return err("format string ends with an unterminated verb");
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(next) else {
            return err(format!("not enough arguments for \"%{verb}\" at {}", i - 1));
        };
        used[next] = true;
        next += 1;
        out.push_str(&format_one(verb, arg, &sp)?);
    }
    if let Some(k) = used.iter().position(|u| !*u) {
        if next <= k || used.iter().filter(|u| !**u).count() > 0 {
            return err(format!(
                "too many arguments; only {} used by format string",
                used.iter().filter(|u| **u).count()
            ));
        }
    }
    Ok(Value::String(out))
}

fn format_one(verb: char, arg: &Value, sp: &Spec) -> Result<String, FuncError> {
    let to_s = |v: &Value| -> Result<String, FuncError> {
        match convert(v.clone(), &Type::String) {
            Ok(Value::String(s)) => Ok(s),
            Ok(Value::Null) => err("unsupported value for \"%s\": null value cannot be formatted"),
            _ => err(format!(
                "unsupported value for \"%{verb}\": string required"
            )),
        }
    };
    let num = |v: &Value| -> Result<crate::drift::value::Number, FuncError> {
        match convert(v.clone(), &Type::Number) {
            Ok(Value::Number(n)) => Ok(n),
            _ => err(format!(
                "unsupported value for \"%{verb}\": number required"
            )),
        }
    };
    let signed = |s: String, neg: bool| -> String {
        if neg {
            s
        } else if sp.plus {
            format!("+{s}")
        } else if sp.space {
            format!(" {s}")
        } else {
            s
        }
    };
    Ok(match verb {
        's' => {
            let mut s = to_s(arg)?;
            if let Some(p) = sp.prec {
                s = s.chars().take(p).collect();
            }
            pad(s, sp, false)
        }
        'q' => pad(quote(&to_s(arg)?), sp, false),
        'v' => {
            let s = match arg {
                Value::Null => "null".to_string(),
                Value::String(_) | Value::Number(_) | Value::Bool(_) if !sp.sharp => to_s(arg)?,
                other => other.to_json().to_string(),
            };
            pad(s, sp, false)
        }
        't' => match convert(arg.clone(), &Type::Bool) {
            Ok(Value::Bool(b)) => pad(b.to_string(), sp, false),
            _ => return err("unsupported value for \"%t\": bool required"),
        },
        'd' | 'b' | 'o' | 'x' | 'X' => {
            if matches!(verb, 'x' | 'X') {
                if let Value::String(s) = arg {
                    let h: String = s.bytes().map(|b| format!("{b:02x}")).collect();
                    return Ok(pad(
                        if verb == 'X' { h.to_uppercase() } else { h },
                        sp,
                        false,
                    ));
                }
            }
            let n = num(arg)?;
            let Some(i) = n.to_i128() else {
                return err(format!(
                    "unsupported value for \"%{verb}\": an integer is required"
                ));
            };
            let mag = i.unsigned_abs();
            let body = match verb {
                'd' => mag.to_string(),
                'b' => format!("{mag:b}"),
                'o' => format!("{mag:o}"),
                'x' => format!("{mag:x}"),
                _ => format!("{mag:X}"),
            };
            let body = if i < 0 { format!("-{body}") } else { body };
            pad(signed(body, i < 0), sp, true)
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            let n = num(arg)?;
            let x = n.to_f64();
            let s = match verb {
                'f' | 'F' => format!("{:.*}", sp.prec.unwrap_or(6), x),
                'e' | 'E' => {
                    let s = go_exp(x, sp.prec.unwrap_or(6));
                    if verb == 'E' {
                        s.to_uppercase()
                    } else {
                        s
                    }
                }
                _ => match sp.prec {
                    None => n.to_string(),
                    Some(p) => format!("{:.*}", p.saturating_sub(1), x),
                },
            };
            pad(signed(s, x < 0.0), sp, true)
        }
        other => return err(format!("unsupported format verb %{other}")),
    })
}

/// `%e` as Go writes it: `1.500000e+00`.
fn go_exp(x: f64, prec: usize) -> String {
    let s = format!("{x:.prec$e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::string(x)
    }

    #[test]
    fn format_verbs() {
        let f = |args: Vec<Value>| format_fn(&args).unwrap();
        assert_eq!(f(vec![s("%s-%d"), s("a"), Value::int(3)]), s("a-3"));
        assert_eq!(
            f(vec![s("%05d|%-4s|"), Value::int(-42), s("ab")]),
            s("-0042|ab  |")
        );
        assert_eq!(f(vec![s("%.2f"), Value::string("3.14159")]), s("3.14"));
        assert_eq!(f(vec![s("%q %%"), s("x")]), s("\"x\" %"));
        assert_eq!(f(vec![s("%[2]s %[1]s"), s("a"), s("b")]), s("b a"));
        assert!(format_fn(&[s("%s")]).is_err());
        assert!(format_fn(&[s("%s"), s("a"), s("b")]).is_err());
    }

    #[test]
    fn substr_and_clusters() {
        let v = substr(&[s("hello world"), Value::int(-5), Value::int(3)]).unwrap();
        assert_eq!(v, s("wor"));
        assert_eq!(strrev("abc"), "cba");
    }
}
