//! Numeric functions: `min`, `max`, `abs`, `ceil`, `floor`, `pow`, `parseint`, `signum`, `log`
//! (`sum` is with the collection functions, where Terraform lists it).
//!
//! `pow` and `log` compute with doubles, as Terraform does (`pow(2, 70)` prints
//! `1180591620717411300000` there too).

use super::{arg_int, arg_num, arg_str, arity, err, FResult, FuncError};
use crate::drift::value::{Number, Value};

/// Dispatches a numeric function; `None` if `name` is not one.
pub fn call(name: &str, a: &[Value]) -> Option<FResult> {
    Some(match name {
        "min" | "max" => minmax(name, a),
        "abs" => one(name, a, |n| Ok(n.abs())),
        "ceil" => one(name, a, |n| Ok(n.ceil())),
        "floor" => one(name, a, |n| Ok(n.floor())),
        "signum" => one(name, a, |n| {
            Ok(Number::from_i128(if n == Number::ZERO {
                0
            } else if n.is_negative() {
                -1
            } else {
                1
            }))
        }),
        "pow" => pow(a),
        "log" => log(a),
        "parseint" => parseint(a),
        _ => return None,
    })
}

fn one(name: &str, a: &[Value], f: impl Fn(Number) -> Result<Number, FuncError>) -> FResult {
    arity(name, a, 1, 1)?;
    Ok(Value::Number(f(arg_num(a, 0, "num")?)?))
}

fn minmax(name: &str, a: &[Value]) -> FResult {
    if a.is_empty() {
        return err("must pass at least one number");
    }
    let mut best = arg_num(a, 0, "numbers")?;
    for i in 1..a.len() {
        let n = arg_num(a, i, "numbers")?;
        if (name == "min" && n < best) || (name == "max" && n > best) {
            best = n;
        }
    }
    Ok(Value::Number(best))
}

fn from_f64(x: f64) -> FResult {
    Number::from_f64(x)
        .map(Value::Number)
        .ok_or_else(|| FuncError("the result is not a finite number".into()))
}

fn pow(a: &[Value]) -> FResult {
    arity("pow", a, 2, 2)?;
    let b = arg_num(a, 0, "num")?;
    let e = arg_num(a, 1, "power")?;
    // small integer powers stay exact
    if let (Some(_), Some(k)) = (b.to_i128(), e.to_i64()) {
        if (0..=64).contains(&k) {
            let mut acc = Number::from_i128(1);
            let mut exact = true;
            for _ in 0..k {
                match acc.checked_mul(b) {
                    Some(x)
                        if x.to_i128().is_some() && x.to_f64().abs() < 9.007_199_254_740_992e15 =>
                    {
                        acc = x
                    }
                    _ => {
                        exact = false;
                        break;
                    }
                }
            }
            if exact {
                return Ok(Value::Number(acc));
            }
        }
    }
    from_f64(b.to_f64().powf(e.to_f64()))
}

fn log(a: &[Value]) -> FResult {
    arity("log", a, 2, 2)?;
    let x = arg_num(a, 0, "num")?.to_f64();
    let b = arg_num(a, 1, "base")?.to_f64();
    from_f64(x.ln() / b.ln())
}

fn parseint(a: &[Value]) -> FResult {
    arity("parseint", a, 2, 2)?;
    if !matches!(a[0], Value::String(_)) {
        return err("Invalid value for \"number\" parameter: string required");
    }
    let s = arg_str(a, 0, "number")?;
    let base = arg_int(a, 1, "base")?;
    if !(2..=62).contains(&base) {
        return err(format!("invalid base {base}; must be between 2 and 62"));
    }
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(&s)),
    };
    if digits.is_empty() {
        return err(format!("cannot parse {s:?} as a base {base} integer"));
    }
    let mut acc: i128 = 0;
    for c in digits.chars() {
        let d = match c {
            '0'..='9' => c as i128 - '0' as i128,
            'a'..='z' => c as i128 - 'a' as i128 + 10,
            'A'..='Z' if base <= 36 => c as i128 - 'A' as i128 + 10,
            'A'..='Z' => c as i128 - 'A' as i128 + 36,
            _ => -1,
        };
        if d < 0 || d >= i128::from(base) {
            return err(format!("cannot parse {s:?} as a base {base} integer"));
        }
        acc = acc
            .checked_mul(i128::from(base))
            .and_then(|x| x.checked_add(d))
            .ok_or_else(|| FuncError(format!("{s:?} is too large")))?;
    }
    Ok(Value::int(if neg { -acc } else { acc }))
}
