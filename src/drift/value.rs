//! Typed values as Terraform's type system (cty) has them: the currency of expression
//! evaluation ([`super::eval`]), of the function library ([`super::functions`]) and of the
//! comparison between configuration and state.
//!
//! - Numbers are exact decimals ([`Number`]): `12345678901234567890` and `…891` differ, `1.10`
//!   equals `1.1`, `0.1 + 0.2` is `0.3` as in Terraform. Results that are not exact decimals
//!   (`1/3`, `pow(2, 0.5)`) are rounded to the nearest double; Terraform keeps 512 bits there,
//!   so such results may print with fewer digits than Terraform prints.
//! - A `Set` is kept as Terraform orders it (strings lexically, numbers ascending, `false`
//!   before `true`), without duplicates; build one with [`Value::set`].
//! - `Unknown` stands for what cannot be known offline and carries the reason.
//! - [`Type`] is a cty type; [`Value::cty_type`] and [`Type::to_json`] write it as Terraform
//!   writes types in state and plan JSON, [`Type::from_json`] reads it back.
//! - [`convert`] is Terraform's automatic type conversion (`"2"` to a number, a tuple to a
//!   list, an object to a map, …) and [`unify`] finds the common type of several values.
//!
//! Not here: typed nulls and typed unknowns (a `null` or an unknown has no type of its own).

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

/// An exact decimal number: `mant × 10^exp`, normalised (no trailing zeros in `mant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Number {
    mant: i128,
    exp: i32,
}

/// Largest decimal exponent kept; beyond it a number is refused as Terraform's 512-bit floats
/// would be unprintable anyway.
const MAX_EXP: i32 = 100_000;

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Number {
    /// Zero.
    pub const ZERO: Number = Number { mant: 0, exp: 0 };

    fn norm(mut mant: i128, mut exp: i32) -> Number {
        if mant == 0 {
            return Number::ZERO;
        }
        while mant % 10 == 0 {
            mant /= 10;
            exp += 1;
        }
        Number { mant, exp }
    }

    /// A number from an integer.
    pub fn from_i128(v: i128) -> Number {
        Number::norm(v, 0)
    }

    /// A number from a double: its shortest decimal form (`0.1` is `0.1`). `None` for NaN and
    /// infinities.
    pub fn from_f64(v: f64) -> Option<Number> {
        if !v.is_finite() {
            return None;
        }
        Number::parse(&format!("{v:e}"))
    }

    /// Parses a decimal number as Terraform does (`1`, `-1.5`, `1e3`, `.5`); `None` otherwise
    /// (hex, spaces, `inf`, empty).
    pub fn parse(s: &str) -> Option<Number> {
        let (neg, body) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (num, e) = match body.find(['e', 'E']) {
            Some(i) => {
                let e: i64 = body[i + 1..]
                    .strip_prefix('+')
                    .unwrap_or(&body[i + 1..])
                    .parse()
                    .ok()?;
                (&body[..i], e)
            }
            None => (body, 0),
        };
        let (int, frac) = match num.find('.') {
            Some(i) => (&num[..i], &num[i + 1..]),
            None => (num, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return None;
        }
        let digits = format!("{int}{frac}");
        let digits = digits.trim_start_matches('0');
        let mut exp = e - frac.len() as i64;
        let mut mant: i128 = 0;
        for (i, b) in digits.bytes().enumerate() {
            if i >= 38 {
                // keep 38 significant digits, round half up on the first dropped
                if i == 38 && b >= b'5' {
                    mant += 1;
                }
                exp += 1;
                continue;
            }
            mant = mant * 10 + i128::from(b - b'0');
        }
        if exp.abs() > i64::from(MAX_EXP) + 40 {
            return if mant == 0 { Some(Number::ZERO) } else { None };
        }
        let n = Number::norm(if neg { -mant } else { mant }, exp as i32);
        if n.exp.abs() > MAX_EXP {
            return None;
        }
        Some(n)
    }

    /// The nearest double.
    pub fn to_f64(&self) -> f64 {
        format!("{}e{}", self.mant, self.exp)
            .parse()
            .unwrap_or(f64::NAN)
    }

    /// Whether the number has no fractional part.
    pub fn is_integer(&self) -> bool {
        self.exp >= 0
    }

    /// The value as an `i64` when it is an integer in range.
    pub fn to_i64(&self) -> Option<i64> {
        self.to_i128().and_then(|v| i64::try_from(v).ok())
    }

    /// The value as an `i128` when it is an integer in range.
    pub fn to_i128(&self) -> Option<i128> {
        if self.exp < 0 {
            return None;
        }
        self.mant.checked_mul(pow10(self.exp as u32)?)
    }

    /// Negative (not zero)?
    pub fn is_negative(&self) -> bool {
        self.mant < 0
    }

    /// The two mantissas at a common exponent, if that fits.
    fn align(a: Number, b: Number) -> Option<(i128, i128, i32)> {
        let e = a.exp.min(b.exp);
        let am = a.mant.checked_mul(pow10((a.exp - e) as u32)?)?;
        let bm = b.mant.checked_mul(pow10((b.exp - e) as u32)?)?;
        Some((am, bm, e))
    }

    fn via_f64(v: f64) -> Option<Number> {
        Number::from_f64(v)
    }

    /// `self + o`; `None` when the result is not finite.
    pub fn checked_add(self, o: Number) -> Option<Number> {
        if self.mant == 0 {
            return Some(o);
        }
        if o.mant == 0 {
            return Some(self);
        }
        match Number::align(self, o).and_then(|(a, b, e)| Some((a.checked_add(b)?, e))) {
            Some((m, e)) => Some(Number::norm(m, e)),
            None => Number::via_f64(self.to_f64() + o.to_f64()),
        }
    }

    /// `self - o`.
    pub fn checked_sub(self, o: Number) -> Option<Number> {
        self.checked_add(o.negate())
    }

    /// `-self`.
    pub fn negate(self) -> Number {
        Number {
            mant: -self.mant,
            exp: self.exp,
        }
    }

    /// `self × o`.
    pub fn checked_mul(self, o: Number) -> Option<Number> {
        match self.mant.checked_mul(o.mant) {
            Some(m) => {
                let n = Number::norm(m, self.exp + o.exp);
                (n.exp.abs() <= MAX_EXP).then_some(n)
            }
            None => Number::via_f64(self.to_f64() * o.to_f64()),
        }
    }

    /// `self / o`; exact when the quotient is a decimal of at most 38 digits. `None` on
    /// division by zero.
    pub fn checked_div(self, o: Number) -> Option<Number> {
        if o.mant == 0 {
            return None;
        }
        for k in 0..=38u32 {
            let Some(n) = pow10(k).and_then(|p| self.mant.checked_mul(p)) else {
                break;
            };
            if n % o.mant == 0 {
                return Some(Number::norm(n / o.mant, self.exp - k as i32 - o.exp));
            }
        }
        Number::via_f64(self.to_f64() / o.to_f64())
    }

    /// `self % o` (the sign of the dividend, as Terraform). `None` when `o` is zero.
    pub fn checked_rem(self, o: Number) -> Option<Number> {
        if o.mant == 0 {
            return None;
        }
        match Number::align(self, o) {
            Some((a, b, e)) => Some(Number::norm(a % b, e)),
            None => Number::via_f64(self.to_f64() % o.to_f64()),
        }
    }

    /// Rounds towards negative infinity.
    pub fn floor(self) -> Number {
        if self.exp >= 0 {
            return self;
        }
        match pow10((-self.exp) as u32) {
            Some(p) => Number::norm(self.mant.div_euclid(p), 0),
            None => {
                if self.mant < 0 {
                    Number::from_i128(-1)
                } else {
                    Number::ZERO
                }
            }
        }
    }

    /// Rounds towards positive infinity.
    pub fn ceil(self) -> Number {
        self.negate().floor().negate()
    }

    /// Absolute value.
    pub fn abs(self) -> Number {
        Number {
            mant: self.mant.abs(),
            exp: self.exp,
        }
    }
}

impl Ord for Number {
    fn cmp(&self, o: &Number) -> Ordering {
        match Number::align(*self, *o) {
            Some((a, b, _)) => a.cmp(&b),
            None => self
                .to_f64()
                .partial_cmp(&o.to_f64())
                .unwrap_or(Ordering::Equal),
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, o: &Number) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl fmt::Display for Number {
    /// As Terraform prints numbers: plain decimal notation, no exponent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mant.unsigned_abs().to_string();
        let sign = if self.mant < 0 { "-" } else { "" };
        if self.exp >= 0 {
            write!(f, "{sign}{digits}{}", "0".repeat(self.exp as usize))
        } else {
            let point = digits.len() as i64 + i64::from(self.exp);
            if point > 0 {
                let (i, d) = digits.split_at(point as usize);
                write!(f, "{sign}{i}.{d}")
            } else {
                write!(f, "{sign}0.{}{digits}", "0".repeat((-point) as usize))
            }
        }
    }
}

/// Why a value is not known offline, as the report says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// e.g. "known only after apply: terraform_data.a.output".
    pub reason: String,
}

impl Unknown {
    /// An unknown with this reason.
    pub fn new(reason: impl Into<String>) -> Unknown {
        Unknown {
            reason: reason.into(),
        }
    }
}

/// A value as Terraform has it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Terraform's `null` (untyped here).
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An exact number.
    Number(Number),
    /// A string.
    String(String),
    /// A list: elements of one type.
    List(Vec<Value>),
    /// A set: one type, sorted as Terraform sorts, no duplicates (build with [`Value::set`]).
    Set(Vec<Value>),
    /// A tuple: what `[a, b]` makes; elements of any types.
    Tuple(Vec<Value>),
    /// A map: values of one type.
    Map(BTreeMap<String, Value>),
    /// An object: what `{ a = 1 }` makes; attributes of any types.
    Object(BTreeMap<String, Value>),
    /// Not decidable offline.
    Unknown(Unknown),
}

/// A cty type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Type {
    /// `any` / "dynamic": the type of `null` and of unknowns here.
    Dynamic,
    /// `string`.
    String,
    /// `number`.
    Number,
    /// `bool`.
    Bool,
    /// `list(T)`.
    List(Box<Type>),
    /// `set(T)`.
    Set(Box<Type>),
    /// `map(T)`.
    Map(Box<Type>),
    /// `tuple([...])`.
    Tuple(Vec<Type>),
    /// `object({...})`.
    Object(BTreeMap<String, Type>),
}

impl Type {
    /// The type as Terraform writes it in JSON: `"string"`, `["list","string"]`, …
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Type::Dynamic => json!("dynamic"),
            Type::String => json!("string"),
            Type::Number => json!("number"),
            Type::Bool => json!("bool"),
            Type::List(t) => json!(["list", t.to_json()]),
            Type::Set(t) => json!(["set", t.to_json()]),
            Type::Map(t) => json!(["map", t.to_json()]),
            Type::Tuple(ts) => json!(["tuple", ts.iter().map(Type::to_json).collect::<Vec<_>>()]),
            Type::Object(m) => {
                let o: serde_json::Map<String, serde_json::Value> =
                    m.iter().map(|(k, t)| (k.clone(), t.to_json())).collect();
                json!(["object", o])
            }
        }
    }

    /// Reads a type written by [`Type::to_json`]; `None` if it is not one.
    pub fn from_json(j: &serde_json::Value) -> Option<Type> {
        use serde_json::Value as J;
        match j {
            J::String(s) => match s.as_str() {
                "dynamic" => Some(Type::Dynamic),
                "string" => Some(Type::String),
                "number" => Some(Type::Number),
                "bool" => Some(Type::Bool),
                _ => None,
            },
            J::Array(a) if a.len() == 2 => {
                let kind = a[0].as_str()?;
                match kind {
                    "list" => Some(Type::List(Box::new(Type::from_json(&a[1])?))),
                    "set" => Some(Type::Set(Box::new(Type::from_json(&a[1])?))),
                    "map" => Some(Type::Map(Box::new(Type::from_json(&a[1])?))),
                    "tuple" => Some(Type::Tuple(
                        a[1].as_array()?
                            .iter()
                            .map(Type::from_json)
                            .collect::<Option<_>>()?,
                    )),
                    "object" => Some(Type::Object(
                        a[1].as_object()?
                            .iter()
                            .map(|(k, t)| Some((k.clone(), Type::from_json(t)?)))
                            .collect::<Option<_>>()?,
                    )),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Is this a primitive type (string, number, bool)?
    pub fn is_primitive(&self) -> bool {
        matches!(self, Type::String | Type::Number | Type::Bool)
    }
}

impl fmt::Display for Type {
    /// As Terraform's console `type()` prints it, on one line: `list(string)`,
    /// `tuple([number,string,])`, `object({a:number,})`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Dynamic => write!(f, "dynamic"),
            Type::String => write!(f, "string"),
            Type::Number => write!(f, "number"),
            Type::Bool => write!(f, "bool"),
            // Terraform ends a multi-line element type with a comma
            Type::List(t) => write!(f, "list({t}{})", multiline_comma(t)),
            Type::Set(t) => write!(f, "set({t}{})", multiline_comma(t)),
            Type::Map(t) => write!(f, "map({t}{})", multiline_comma(t)),
            Type::Tuple(ts) => {
                write!(f, "tuple([")?;
                for t in ts {
                    write!(f, "{t},")?;
                }
                write!(f, "])")
            }
            Type::Object(m) => {
                write!(f, "object({{")?;
                for (k, t) in m {
                    write!(f, "{k}:{t},")?;
                }
                write!(f, "}})")
            }
        }
    }
}

fn multiline_comma(t: &Type) -> &'static str {
    match t {
        Type::Tuple(v) if !v.is_empty() => ",",
        Type::Object(m) if !m.is_empty() => ",",
        _ => "",
    }
}

fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Bool(_) => 0,
        Value::Number(_) => 1,
        Value::String(_) => 2,
        Value::Null => 9,
        Value::Unknown(_) => 10,
        _ => 5,
    }
}

/// The order of a set's elements as Terraform prints them.
pub fn set_order(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => type_rank(a)
            .cmp(&type_rank(b))
            .then_with(|| a.to_json().to_string().cmp(&b.to_json().to_string())),
    }
}

impl Value {
    /// A string value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A number value from an integer.
    pub fn int(v: i128) -> Value {
        Value::Number(Number::from_i128(v))
    }

    /// An unknown value with this reason.
    pub fn unknown(reason: impl Into<String>) -> Value {
        Value::Unknown(Unknown::new(reason))
    }

    /// A set of these elements: sorted as Terraform sorts, duplicates removed.
    pub fn set(mut elems: Vec<Value>) -> Value {
        elems.sort_by(set_order);
        elems.dedup();
        Value::Set(elems)
    }

    /// Is this `null`?
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Is this (shallowly) unknown?
    pub fn is_unknown(&self) -> bool {
        matches!(self, Value::Unknown(_))
    }

    /// Elements of a list, set or tuple.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Some(v),
            _ => None,
        }
    }

    /// Entries of a map or object.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) | Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// A short name of the value's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Tuple(_) => "tuple",
            Value::Map(_) => "map",
            Value::Object(_) => "object",
            Value::Unknown(_) => "unknown",
        }
    }

    /// The value's cty type.
    pub fn ty(&self) -> Type {
        match self {
            Value::Null | Value::Unknown(_) => Type::Dynamic,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List(v) => Type::List(Box::new(elem_type(v))),
            Value::Set(v) => Type::Set(Box::new(elem_type(v))),
            Value::Map(m) => Type::Map(Box::new(elem_type(m.values()))),
            Value::Tuple(v) => Type::Tuple(v.iter().map(Value::ty).collect()),
            Value::Object(m) => Type::Object(m.iter().map(|(k, v)| (k.clone(), v.ty())).collect()),
        }
    }

    /// The type as Terraform writes it in state/plan JSON.
    pub fn cty_type(&self) -> serde_json::Value {
        self.ty().to_json()
    }

    /// The value as Terraform writes it in state JSON (unknowns as `null`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null | Value::Unknown(_) => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Number(n) => number_to_json(n),
            Value::String(s) => J::String(s.clone()),
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                J::Array(v.iter().map(Value::to_json).collect())
            }
            Value::Map(m) | Value::Object(m) => {
                J::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }

    /// `terraform_data`'s state wrapper: `{"value": …, "type": …}`.
    pub fn to_state_wrapper(&self) -> serde_json::Value {
        serde_json::json!({"value": self.to_json(), "type": self.cty_type()})
    }

    /// Reads `terraform_data`'s `{"value", "type"}` wrapper; `None` if `j` is not one.
    pub fn from_state_wrapper(j: &serde_json::Value) -> Option<Value> {
        let o = j.as_object()?;
        let ty = o.get("type")?;
        Type::from_json(ty)?;
        Some(Value::from_json_typed(o.get("value")?, ty))
    }

    /// Reads a value Terraform wrote with the type `ty` (cty JSON type). A value that does not
    /// match its type is read untyped.
    pub fn from_json_typed(v: &serde_json::Value, ty: &serde_json::Value) -> Value {
        match Type::from_json(ty) {
            Some(t) => from_json_as(v, &t),
            None => Value::from_json(v),
        }
    }

    /// Reads a value without a type: arrays as tuples, objects as objects.
    pub fn from_json(v: &serde_json::Value) -> Value {
        use serde_json::Value as J;
        match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => json_number(n),
            J::String(s) => Value::String(s.clone()),
            J::Array(a) => Value::Tuple(a.iter().map(Value::from_json).collect()),
            J::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// The first unknown inside this value (deep).
    pub fn first_unknown(&self) -> Option<&Unknown> {
        match self {
            Value::Unknown(u) => Some(u),
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                v.iter().find_map(Value::first_unknown)
            }
            Value::Map(m) | Value::Object(m) => m.values().find_map(Value::first_unknown),
            _ => None,
        }
    }

    /// Equality as Terraform's `==`: types must match (`1 != "1"`), numbers by value.
    /// `None` when an unknown decides it.
    pub fn tf_equals(&self, o: &Value) -> Option<bool> {
        if self.first_unknown().is_some() || o.first_unknown().is_some() {
            return None;
        }
        Some(self == o)
    }
}

fn elem_type<'a>(vs: impl IntoIterator<Item = &'a Value>) -> Type {
    vs.into_iter()
        .map(Value::ty)
        .find(|t| *t != Type::Dynamic)
        .unwrap_or(Type::Dynamic)
}

fn number_to_json(n: &Number) -> serde_json::Value {
    if let Some(i) = n.to_i128() {
        if let Ok(i) = i64::try_from(i) {
            return serde_json::Value::from(i);
        }
        if let Ok(u) = u64::try_from(i) {
            return serde_json::Value::from(u);
        }
    }
    serde_json::Number::from_f64(n.to_f64())
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

fn json_number(n: &serde_json::Number) -> Value {
    if let Some(i) = n.as_i64() {
        return Value::int(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Value::int(i128::from(u));
    }
    match Number::parse(&n.to_string()) {
        Some(x) => Value::Number(x),
        None => Value::Null,
    }
}

fn from_json_as(v: &serde_json::Value, t: &Type) -> Value {
    use serde_json::Value as J;
    match (t, v) {
        (_, J::Null) => Value::Null,
        (Type::List(et), J::Array(a)) => {
            Value::List(a.iter().map(|x| from_json_as(x, et)).collect())
        }
        (Type::Set(et), J::Array(a)) => Value::set(a.iter().map(|x| from_json_as(x, et)).collect()),
        (Type::Tuple(ts), J::Array(a)) if ts.len() == a.len() => {
            Value::Tuple(a.iter().zip(ts).map(|(x, t)| from_json_as(x, t)).collect())
        }
        (Type::Map(et), J::Object(o)) => Value::Map(
            o.iter()
                .map(|(k, x)| (k.clone(), from_json_as(x, et)))
                .collect(),
        ),
        (Type::Object(ts), J::Object(o)) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    let v = match ts.get(k) {
                        Some(t) => from_json_as(x, t),
                        None => Value::from_json(x),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        (Type::Dynamic, x) => {
            // "dynamic" values are written as a nested {"value","type"} pair
            Value::from_state_wrapper(x).unwrap_or_else(|| Value::from_json(x))
        }
        _ => Value::from_json(v),
    }
}

/// Why a conversion failed, in Terraform's words.
pub type ConvError = String;

/// Converts `v` to the type `t` as Terraform converts automatically.
///
/// # Errors
/// When Terraform would refuse the conversion, e.g. `"x"` to a number.
pub fn convert(v: Value, t: &Type) -> Result<Value, ConvError> {
    match (&v, t) {
        (_, Type::Dynamic) | (Value::Null, _) | (Value::Unknown(_), _) => Ok(v),
        (Value::String(_), Type::String)
        | (Value::Number(_), Type::Number)
        | (Value::Bool(_), Type::Bool) => Ok(v),
        (Value::Number(n), Type::String) => Ok(Value::String(n.to_string())),
        (Value::Bool(b), Type::String) => Ok(Value::String(b.to_string())),
        (Value::String(s), Type::Number) => Number::parse(s).map(Value::Number).ok_or_else(|| {
            format!(
                "cannot convert {} to number; given string must be a decimal representation of a number",
                quote(s)
            )
        }),
        (Value::String(s), Type::Bool) => match s.as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!(
                "cannot convert {} to bool; only the strings \"true\" or \"false\" are allowed",
                quote(s)
            )),
        },
        // A set with unknown elements has no known order, nor length (two of them may turn
        // out equal): as a list or tuple it is unknown.
        (Value::Set(_), Type::List(_) | Type::Tuple(_)) if v.first_unknown().is_some() => {
            Ok(Value::Unknown(v.first_unknown().cloned().unwrap_or_else(|| {
                Unknown::new("a set with unknown elements")
            })))
        }
        (Value::List(_) | Value::Set(_) | Value::Tuple(_), Type::List(et) | Type::Set(et)) => {
            let elems = match v {
                Value::List(e) | Value::Set(e) | Value::Tuple(e) => e,
                _ => unreachable!(),
            };
            let et = if **et == Type::Dynamic {
                unify(&elems).ok_or_else(|| "all elements must be of the same type".to_string())?
            } else {
                (**et).clone()
            };
            let out = elems
                .into_iter()
                .map(|e| convert(e, &et))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(t, Type::Set(_)) {
                Value::set(out)
            } else {
                Value::List(out)
            })
        }
        (Value::List(e) | Value::Set(e) | Value::Tuple(e), Type::Tuple(ts)) => {
            if e.len() != ts.len() {
                return Err(format!("tuple required with {} elements", ts.len()));
            }
            let e = e.clone();
            Ok(Value::Tuple(
                e.into_iter()
                    .zip(ts)
                    .map(|(x, t)| convert(x, t))
                    .collect::<Result<_, _>>()?,
            ))
        }
        (Value::Map(_) | Value::Object(_), Type::Map(et)) => {
            let m = match v {
                Value::Map(m) | Value::Object(m) => m,
                _ => unreachable!(),
            };
            let et = if **et == Type::Dynamic {
                let vals: Vec<Value> = m.values().cloned().collect();
                unify(&vals).ok_or_else(|| "all map elements must have the same type".to_string())?
            } else {
                (**et).clone()
            };
            Ok(Value::Map(
                m.into_iter()
                    .map(|(k, x)| Ok((k, convert(x, &et)?)))
                    .collect::<Result<_, ConvError>>()?,
            ))
        }
        (Value::Map(m) | Value::Object(m), Type::Object(ts)) => {
            let mut out = BTreeMap::new();
            for (k, at) in ts {
                match m.get(k) {
                    Some(x) => {
                        out.insert(k.clone(), convert(x.clone(), at)?);
                    }
                    None => return Err(format!("attribute {} is required", quote(k))),
                }
            }
            Ok(Value::Object(out))
        }
        _ => Err(format!("{} required", type_noun(t))),
    }
}

fn type_noun(t: &Type) -> String {
    match t {
        Type::List(_) => "list of any single type".into(),
        Type::Set(_) => "set of any single type".into(),
        Type::Map(_) => "map of any single type".into(),
        Type::Object(_) => "object".into(),
        Type::Tuple(_) => "tuple".into(),
        other => other.to_string(),
    }
}

/// Quotes a string as Terraform shows it in messages.
pub fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// The common type all `vals` convert to (Terraform's unification), or `None`.
pub fn unify(vals: &[Value]) -> Option<Type> {
    let types: Vec<Type> = vals.iter().map(Value::ty).collect();
    unify_types(&types)
}

/// The common type of `types`, or `None`.
pub fn unify_types(types: &[Type]) -> Option<Type> {
    let known: Vec<&Type> = types.iter().filter(|t| **t != Type::Dynamic).collect();
    let Some(first) = known.first() else {
        return Some(Type::Dynamic);
    };
    if known.iter().all(|t| t == first) {
        return Some((*first).clone());
    }
    if known.iter().all(|t| t.is_primitive()) {
        if known.contains(&&Type::String) {
            return Some(Type::String);
        }
        return None;
    }
    // A list or set with tuples: the tuples convert to the collection when all the elements
    // unify (`coalesce(tolist(["a"]), [])` is a `list(string)`).
    let list = known.iter().any(|t| matches!(t, Type::List(_)));
    let set = known.iter().any(|t| matches!(t, Type::Set(_)));
    if (list != set) && known.iter().any(|t| matches!(t, Type::Tuple(_))) {
        let mut elems = Vec::new();
        for t in &known {
            match t {
                Type::List(e) | Type::Set(e) => elems.push((**e).clone()),
                Type::Tuple(v) => elems.extend(v.iter().cloned()),
                _ => return None,
            }
        }
        let e = Box::new(unify_types(&elems)?);
        return Some(if list { Type::List(e) } else { Type::Set(e) });
    }
    let inner = |f: fn(&Type) -> Option<&Type>| -> Option<Type> {
        let els: Option<Vec<Type>> = known.iter().map(|t| f(t).cloned()).collect();
        unify_types(&els?)
    };
    match first {
        Type::List(_) => inner(|t| match t {
            Type::List(e) => Some(e),
            _ => None,
        })
        .map(|e| Type::List(Box::new(e))),
        Type::Set(_) => inner(|t| match t {
            Type::Set(e) => Some(e),
            _ => None,
        })
        .map(|e| Type::Set(Box::new(e))),
        Type::Map(_) | Type::Object(_) => {
            // objects with the same attributes unify attribute-wise; else all values to a map
            let objs: Option<Vec<&BTreeMap<String, Type>>> = known
                .iter()
                .map(|t| match t {
                    Type::Object(m) => Some(m),
                    _ => None,
                })
                .collect();
            if let Some(objs) = objs {
                if objs.iter().all(|m| m.keys().eq(objs[0].keys())) {
                    let mut out = BTreeMap::new();
                    for k in objs[0].keys() {
                        let ts: Vec<Type> = objs.iter().map(|m| m[k].clone()).collect();
                        out.insert(k.clone(), unify_types(&ts)?);
                    }
                    return Some(Type::Object(out));
                }
                // Objects with different attributes unify as a map of what all their
                // attribute values unify to (`{a = "x"}` and `{b = "y"}`: `map(string)`).
                let attrs: Vec<Type> = objs.iter().flat_map(|m| m.values().cloned()).collect();
                return unify_types(&attrs).map(|e| Type::Map(Box::new(e)));
            }
            let mut all = Vec::new();
            for t in &known {
                match t {
                    Type::Map(e) => all.push((**e).clone()),
                    Type::Object(m) => all.extend(m.values().cloned()),
                    _ => return None,
                }
            }
            unify_types(&all).map(|e| Type::Map(Box::new(e)))
        }
        Type::Tuple(_) => {
            let tups: Option<Vec<&Vec<Type>>> = known
                .iter()
                .map(|t| match t {
                    Type::Tuple(v) => Some(v),
                    _ => None,
                })
                .collect();
            let tups = tups?;
            if tups.iter().all(|v| v.len() == tups[0].len()) {
                let mut out = Vec::new();
                for i in 0..tups[0].len() {
                    let ts: Vec<Type> = tups.iter().map(|v| v[i].clone()).collect();
                    out.push(unify_types(&ts)?);
                }
                return Some(Type::Tuple(out));
            }
            // Tuples of different lengths unify as a list of what all their elements unify
            // to (`[1]` and `["a", "b"]`: `list(string)`), as objects as a map.
            let elems: Vec<Type> = tups.iter().flat_map(|v| v.iter().cloned()).collect();
            unify_types(&elems).map(|e| Type::List(Box::new(e)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn n(s: &str) -> Number {
        Number::parse(s).unwrap()
    }

    #[test]
    fn numbers_are_exact_decimals() {
        assert_ne!(n("12345678901234567890"), n("12345678901234567891"));
        assert_eq!(n("1.10"), n("1.1"));
        assert_eq!(n("0.1").checked_add(n("0.2")).unwrap().to_string(), "0.3");
        assert_eq!(n("7").checked_div(n("2")).unwrap().to_string(), "3.5");
        assert_eq!(n("-5").checked_rem(n("3")).unwrap().to_string(), "-2");
        assert_eq!(n("5.5").checked_rem(n("2")).unwrap().to_string(), "1.5");
        assert_eq!(n("1e20").to_string(), "100000000000000000000");
        assert_eq!(n("1e-7").to_string(), "0.0000001");
        assert_eq!(
            n("1e300")
                .checked_mul(n("1e300"))
                .unwrap()
                .to_string()
                .len(),
            601
        );
        assert_eq!(n("-1.5").floor().to_string(), "-2");
        assert_eq!(n("-1.5").ceil().to_string(), "-1");
        assert!(Number::parse("0x10").is_none());
        assert!(Number::parse(" 1").is_none());
        assert!(Number::parse("").is_none());
        assert!(n("2") < n("10"));
    }

    #[test]
    fn one_and_string_one_differ() {
        assert_ne!(Value::int(1), Value::string("1"));
        assert_eq!(Value::int(1).tf_equals(&Value::string("1")), Some(false));
    }

    #[test]
    fn sets_sort_as_terraform() {
        let s = Value::set(vec![
            Value::string("b"),
            Value::string("a"),
            Value::string("b"),
        ]);
        assert_eq!(s, Value::Set(vec![Value::string("a"), Value::string("b")]));
        let s = Value::set(vec![Value::int(10), Value::int(2)]);
        assert_eq!(s, Value::Set(vec![Value::int(2), Value::int(10)]));
    }

    #[test]
    fn state_wrapper_round_trips() {
        let j = json!({"value": {"a": [1, 2], "b": "x"},
                       "type": ["object", {"a": ["list", "number"], "b": "string"}]});
        let v = Value::from_state_wrapper(&j).unwrap();
        assert_eq!(
            v,
            Value::Object(BTreeMap::from([
                ("a".into(), Value::List(vec![Value::int(1), Value::int(2)])),
                ("b".into(), Value::string("x")),
            ]))
        );
        assert_eq!(v.to_state_wrapper(), j);
        let big = json!({"value": 12345678901234567890u64, "type": "number"});
        assert_eq!(
            Value::from_state_wrapper(&big).unwrap().to_state_wrapper(),
            big
        );
    }

    #[test]
    fn conversion_as_terraform() {
        assert_eq!(
            convert(Value::string("2"), &Type::Number),
            Ok(Value::int(2))
        );
        assert!(convert(Value::string("x"), &Type::Number).is_err());
        assert_eq!(
            convert(Value::int(1), &Type::String),
            Ok(Value::string("1"))
        );
        let t = Value::Tuple(vec![Value::int(1), Value::string("a")]);
        assert_eq!(
            convert(t, &Type::List(Box::new(Type::Dynamic))),
            Ok(Value::List(vec![Value::string("1"), Value::string("a")]))
        );
        let bad = Value::Tuple(vec![Value::int(1), Value::Bool(true)]);
        assert!(convert(bad, &Type::List(Box::new(Type::Dynamic))).is_err());
    }
}
