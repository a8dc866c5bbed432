//! Terraform's built-in functions on [`Value`]s, tested against `terraform console`.
//!
//! One file per group, as Terraform's documentation groups them: [`collection`], [`types`]
//! (`tostring`, `toset`, …; `try` and `can` live in the evaluator), [`string`], [`numeric`],
//! [`encoding`], [`crypto`], [`network`], [`fs`] (files relative to the module folder,
//! bounded in size, regular files only, never blocking on a FIFO).
//!
//! An argument that is (or contains) an unknown makes the result unknown with the same reason,
//! except where Terraform decides without it (`length` of a list with unknown elements).
//! Impure functions (`timestamp`, `uuid`, `bcrypt`, …) are unknown: Terraform fixes their value
//! only at apply. A function this library does not have is unknown too, naming the function, so
//! that what depends on it is never guessed. [`SUPPORTED`] lists what is implemented.

use super::eval::Scope;
use super::value::Value;

pub mod collection;
pub mod crypto;
pub mod encoding;
pub mod fs;
pub mod network;
pub mod numeric;
pub mod string;
pub mod types;

/// Why a function call failed, in Terraform's words.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FuncError(pub String);

/// The result of a function.
pub type FResult = Result<Value, FuncError>;

pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, FuncError> {
    Err(FuncError(msg.into()))
}

/// Functions whose value Terraform knows only at apply.
pub const IMPURE: &[&str] = &["timestamp", "plantimestamp", "uuid", "bcrypt", "rsadecrypt"];

/// Every function this library implements.
pub const SUPPORTED: &[&str] = &[
    // collection
    "length",
    "merge",
    "concat",
    "lookup",
    "element",
    "keys",
    "values",
    "contains",
    "distinct",
    "flatten",
    "compact",
    "coalesce",
    "coalescelist",
    "zipmap",
    "range",
    "one",
    "setunion",
    "setintersection",
    "setsubtract",
    "setproduct",
    "chunklist",
    "reverse",
    "sort",
    "slice",
    "index",
    "alltrue",
    "anytrue",
    "transpose",
    "matchkeys",
    "sum",
    // type
    "toset",
    "tolist",
    "tomap",
    "tostring",
    "tonumber",
    "tobool",
    "try",
    "can",
    // string
    "format",
    "formatlist",
    "join",
    "split",
    "replace",
    "lower",
    "upper",
    "title",
    "trimspace",
    "trim",
    "trimprefix",
    "trimsuffix",
    "substr",
    "regex",
    "regexall",
    "startswith",
    "endswith",
    "strrev",
    "indent",
    "chomp",
    "strcontains",
    // numeric
    "min",
    "max",
    "abs",
    "ceil",
    "floor",
    "pow",
    "parseint",
    "signum",
    "log",
    // encoding
    "jsonencode",
    "jsondecode",
    "base64encode",
    "base64decode",
    "urlencode",
    "csvdecode",
    "yamlencode",
    "yamldecode",
    "textencodebase64",
    "textdecodebase64",
    // hash and crypto
    "md5",
    "sha1",
    "sha256",
    "sha512",
    "base64sha256",
    "base64sha512",
    "uuidv5",
    // network
    "cidrsubnet",
    "cidrhost",
    "cidrnetmask",
    "cidrsubnets",
    // filesystem
    "file",
    "fileexists",
    "templatefile",
    "fileset",
    "filebase64",
    "filemd5",
    "filesha1",
    "filesha256",
    "filesha512",
    "basename",
    "dirname",
    "abspath",
    "pathexpand",
];

/// Functions that see unknown arguments themselves instead of returning unknown at once.
const UNKNOWN_AWARE: &[&str] = &[
    "length", "coalesce", "tolist", "toset", "tomap", "concat", "lookup", "element", "contains",
    "index",
];

/// Functions that keep unknowns found inside their arguments (a map's values, a list's
/// elements) where they are: `keys` of a map with unknown values is known, as Terraform knows
/// it. An argument that is itself unknown still makes the result unknown.
const ELEMENT_AWARE: &[&str] = &["keys", "values", "merge", "zipmap", "flatten", "one"];

/// Calls the function `name` with evaluated arguments.
///
/// # Errors
/// When Terraform would fail the call (wrong arguments, wrong types, values out of range).
pub fn call(name: &str, args: Vec<Value>, scope: &Scope) -> FResult {
    if IMPURE.contains(&name) {
        return Ok(Value::unknown(format!(
            "{name}() is known only after apply"
        )));
    }
    if !UNKNOWN_AWARE.contains(&name) && !ELEMENT_AWARE.contains(&name) {
        if let Some(u) = args.iter().find_map(Value::first_unknown) {
            return Ok(Value::Unknown(u.clone()));
        }
    } else if let Some(u) = args
        .iter()
        .find(|a| a.is_unknown())
        .filter(|_| name != "coalesce")
    {
        // (`coalesce` sees its unknown arguments: one after a non-null string does not
        // matter)
        return Ok(u.clone());
    }
    if let Some(r) = collection::call(name, &args) {
        return r;
    }
    if let Some(r) = types::call(name, &args) {
        return r;
    }
    if let Some(r) = string::call(name, &args) {
        return r;
    }
    if let Some(r) = numeric::call(name, &args) {
        return r;
    }
    if let Some(r) = encoding::call(name, &args) {
        return r;
    }
    if let Some(r) = crypto::call(name, &args) {
        return r;
    }
    if let Some(r) = network::call(name, &args) {
        return r;
    }
    if let Some(r) = fs::call(name, &args, scope) {
        return r;
    }
    Ok(Value::unknown(format!(
        "function {name}() is not evaluated by tfops"
    )))
}

/// Checks the argument count.
pub(crate) fn arity(name: &str, args: &[Value], min: usize, max: usize) -> Result<(), FuncError> {
    arity_n(name, args.len(), min, max)
}

/// Checks an argument count `n`.
pub(crate) fn arity_n(name: &str, n: usize, min: usize, max: usize) -> Result<(), FuncError> {
    if n < min {
        return err(format!(
            "Not enough function arguments: function {name:?} expects at least {min} argument(s)"
        ));
    }
    if n > max {
        return err(format!(
            "Too many function arguments: function {name:?} expects only {max} argument(s)"
        ));
    }
    Ok(())
}

/// The argument as a string (numbers and bools converted).
pub(crate) fn arg_str(args: &[Value], i: usize, param: &str) -> Result<String, FuncError> {
    match args.get(i) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(Value::Bool(b)) => Ok(b.to_string()),
        Some(Value::Null) => err(format!(
            "Invalid value for \"{param}\" parameter: argument must not be null"
        )),
        Some(v) => err(format!(
            "Invalid value for \"{param}\" parameter: string required, got {}",
            v.kind()
        )),
        None => err(format!("missing argument {param:?}")),
    }
}

/// The argument as a number (strings converted).
pub(crate) fn arg_num(
    args: &[Value],
    i: usize,
    param: &str,
) -> Result<super::value::Number, FuncError> {
    match args.get(i).cloned() {
        Some(Value::Null) => err(format!(
            "Invalid value for \"{param}\" parameter: argument must not be null"
        )),
        Some(v) => match super::value::convert(v, &super::value::Type::Number) {
            Ok(Value::Number(n)) => Ok(n),
            Ok(_) => err(format!(
                "Invalid value for \"{param}\" parameter: number required"
            )),
            Err(e) => err(format!("Invalid value for \"{param}\" parameter: {e}")),
        },
        None => err(format!("missing argument {param:?}")),
    }
}

/// The argument as an integer that fits `i64`.
pub(crate) fn arg_int(args: &[Value], i: usize, param: &str) -> Result<i64, FuncError> {
    let n = arg_num(args, i, param)?;
    match n.to_i64() {
        Some(v) => Ok(v),
        None => err(format!(
            "Invalid value for \"{param}\" parameter: value must be a whole number, got {n}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn impure_and_missing_functions_are_unknown_with_a_reason() {
        let s = Scope::new(Path::new("."));
        let v = call("timestamp", vec![], &s).unwrap();
        assert!(v.is_unknown());
        let v = call("nosuchfunction", vec![], &s).unwrap();
        assert_eq!(
            v.first_unknown().map(|u| u.reason.as_str()),
            Some("function nosuchfunction() is not evaluated by tfops")
        );
    }

    fn u(r: &str) -> Value {
        Value::unknown(r)
    }

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::Object(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn unknown_values_inside_maps_leave_keys_known() {
        let s = Scope::new(Path::new("."));
        let m = obj(&[("a", u("r")), ("b", Value::String("z".into()))]);
        let ks = call("keys", vec![m.clone()], &s).unwrap();
        assert_eq!(
            ks,
            Value::Tuple(vec![Value::String("a".into()), Value::String("b".into())])
        );
        let vs = call("values", vec![m.clone()], &s).unwrap();
        assert_eq!(vs, Value::Tuple(vec![u("r"), Value::String("z".into())]));
        let merged = call("merge", vec![m.clone(), obj(&[("c", u("q"))])], &s).unwrap();
        assert_eq!(
            merged,
            obj(&[
                ("a", u("r")),
                ("b", Value::String("z".into())),
                ("c", u("q"))
            ])
        );
        let l = Value::Tuple(vec![u("r"), Value::String("y".into())]);
        let keys = Value::Tuple(vec![Value::String("p".into()), Value::String("q".into())]);
        let z = call("zipmap", vec![keys, l.clone()], &s).unwrap();
        assert_eq!(z, obj(&[("p", u("r")), ("q", Value::String("y".into()))]));
        // an unknown key, or an argument itself unknown, leaves the result unknown
        let z = call(
            "zipmap",
            vec![l, Value::Tuple(vec![Value::int(1), Value::int(2)])],
            &s,
        );
        assert_eq!(z.unwrap(), u("r"));
        assert_eq!(call("merge", vec![m, u("w")], &s).unwrap(), u("w"));
        assert_eq!(call("keys", vec![u("k")], &s).unwrap(), u("k"));
    }

    #[test]
    fn flatten_keeps_objects_with_unknowns_and_not_unknown_elements() {
        let s = Scope::new(Path::new("."));
        let o = obj(&[("v", u("r"))]);
        let nested = Value::Tuple(vec![
            Value::Tuple(vec![o.clone()]),
            Value::String("a".into()),
        ]);
        assert_eq!(
            call("flatten", vec![nested], &s).unwrap(),
            Value::Tuple(vec![o, Value::String("a".into())])
        );
        // an unknown element may be a list: the length is not known
        let with_unknown = Value::Tuple(vec![Value::Tuple(vec![u("e")]), Value::int(1)]);
        assert_eq!(call("flatten", vec![with_unknown], &s).unwrap(), u("e"));
    }

    #[test]
    fn coalesce_contains_and_one_decide_around_unknowns_where_terraform_does() {
        let s = Scope::new(Path::new("."));
        let z = Value::String("z".into());
        let c = |args: Vec<Value>| call("coalesce", args, &s).unwrap();
        assert_eq!(c(vec![Value::Null, z.clone(), u("r")]), z);
        assert_eq!(c(vec![u("r"), z.clone()]), u("r"));
        // a number before an unknown: its type (string if the unknown is one) is not known
        assert_eq!(c(vec![Value::int(1), u("r")]), u("r"));
        let l = Value::List(vec![u("r"), z.clone()]);
        let has = |v: Value| call("contains", vec![l.clone(), v], &s).unwrap();
        assert_eq!(has(z.clone()), Value::Bool(true));
        assert_eq!(has(Value::String("q".into())), u("r"));
        // compared without conversion: "1" is not 1 (an unknown string is not either, but
        // tfops does not know the unknown's type)
        let l1 = Value::List(vec![u("r"), Value::String("1".into())]);
        assert_eq!(
            call("contains", vec![l1, Value::int(1)], &s).unwrap(),
            u("r")
        );
        let one = |v: Value| call("one", vec![v], &s).unwrap();
        let o = obj(&[("a", u("r"))]);
        assert_eq!(one(Value::Tuple(vec![o.clone()])), o);
        assert_eq!(one(Value::set(vec![u("r"), z])), u("r"));
    }

    #[test]
    fn a_set_with_unknown_elements_has_no_known_length() {
        // Two unknown elements may turn out equal, or equal to a known one: Terraform refuses
        // `count = length(toset([x.id, "a"]))` as not known until apply.
        let s = Scope::new(Path::new("."));
        let set = call(
            "toset",
            vec![Value::Tuple(vec![u("r"), Value::String("a".into())])],
            &s,
        )
        .unwrap();
        assert!(matches!(set, Value::Set(_)), "{set:?}");
        assert_eq!(call("length", vec![set.clone()], &s).unwrap(), u("r"));
        assert_eq!(call("tolist", vec![set], &s).unwrap(), u("r"));
        // a list keeps its length
        let l = Value::List(vec![u("r"), Value::String("a".into())]);
        assert_eq!(call("length", vec![l], &s).unwrap(), Value::int(2));
    }

    #[test]
    fn unknown_arguments_make_unknown_results() {
        let s = Scope::new(Path::new("."));
        let v = call("upper", vec![Value::unknown("r")], &s).unwrap();
        assert_eq!(v, Value::unknown("r"));
    }
}
