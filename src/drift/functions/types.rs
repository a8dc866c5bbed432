//! Type conversion functions: `tostring`, `tonumber`, `tobool`, `tolist`, `toset`, `tomap`
//! (`try` and `can` are in the evaluator: they see their arguments unevaluated), and
//! `sensitive` / `nonsensitive`, which leave the value as it is.

use super::{arity, err, FResult};
use crate::drift::value::{convert, Type, Value};

/// Dispatches a type function; `None` if `name` is not one.
pub fn call(name: &str, a: &[Value]) -> Option<FResult> {
    if matches!(name, "sensitive" | "nonsensitive") {
        // sensitivity marks only what is printed; the value compared is the same
        return Some(arity(name, a, 1, 1).map(|_| a[0].clone()));
    }
    let t = match name {
        "tostring" => Type::String,
        "tonumber" => Type::Number,
        "tobool" => Type::Bool,
        "tolist" => Type::List(Box::new(Type::Dynamic)),
        "toset" => Type::Set(Box::new(Type::Dynamic)),
        "tomap" => Type::Map(Box::new(Type::Dynamic)),
        _ => return None,
    };
    Some(to(name, a, &t))
}

fn to(name: &str, a: &[Value], t: &Type) -> FResult {
    arity(name, a, 1, 1)?;
    match convert(a[0].clone(), t) {
        Ok(v) => Ok(v),
        Err(e) => err(format!("Invalid value for \"v\" parameter: {e}")),
    }
}
