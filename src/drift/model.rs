//! The desired side: what the configuration of one module declares, as instance addresses with
//! their evaluated attribute values.
//!
//! Files: `*.tf` and `*.tf.json` (the JSON form is turned into the same model), override files
//! (`override.tf`, `*_override.tf`, and their `.json` forms) merged into the blocks they
//! override as Terraform merges them. Each file is parsed with hcl-edit (the parser hcl-rs
//! itself uses), keeping spans so that errors and unknowns name `file:line:column`.
//!
//! Evaluation: the evaluator here is hcl-rs with the Terraform functions registered below;
//! everything that touches it goes through [`Evaluator`], so that swapping in another
//! evaluator is local to this file. Input variables are resolved with Terraform's precedence
//! (default < `TF_VAR_name` < `terraform.tfvars` < `terraform.tfvars.json` <
//! `*.auto.tfvars(.json)`) and converted to their `type`; locals, `count.index`, `each.key` /
//! `each.value`, `path.module` and `terraform.workspace` are known. What cannot be evaluated
//! offline (a resource attribute, a data source, a variable given at plan time, a function
//! tfops does not have) makes its address `unknown` with the reason — never "in sync".
//!
//! Values carry Terraform's type where it matters (`terraform_data` stores its values with
//! their type, so `1` and `"1"` differ): a bare `var.x` has the variable's type, `toset`,
//! `tolist`, `tomap` make a set, list or map, and other values have the type Terraform infers
//! for them (tuples and objects for literal brackets and braces).

use std::collections::{BTreeMap, BTreeSet};

use hcl::eval::{Context as EvalContext, Evaluate, FuncArgs, FuncDef, ParamType};

/// `Evaluate::evaluate`, with a panic inside hcl-rs turned into an evaluation error: `8/0`
/// makes a non-finite number that hcl-primitives asserts against (found by fuzzing). What
/// cannot be evaluated is listed as unknown, never a crash.
pub(crate) trait GuardedEvaluate: Evaluate {
    fn evaluate_guarded(&self, ctx: &EvalContext) -> Result<Self::Output, hcl::eval::Error> {
        match crate::panic::catch(|| self.evaluate(ctx)) {
            Ok(r) => r,
            Err(p) => Err(hcl::eval::Error::from(hcl::eval::ErrorKind::from(format!(
                "the expression cannot be evaluated ({p})"
            )))),
        }
    }
}

impl<T: Evaluate> GuardedEvaluate for T {}
use hcl::Value as HclValue;
use hcl_edit::structure::{Block, Structure};
use hcl_edit::Span;
use serde_json::Value;

use super::error::DriftError;
use super::state::quote;
use crate::text::LineIndex;

/// Past this many instances, a `count` or `for_each` is not expanded: its resource is unknown.
pub const MAX_INSTANCES: u64 = 100_000;

/// Which attribute changes `lifecycle { ignore_changes = … }` hides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Ignore {
    #[default]
    Nothing,
    All,
    Attrs(BTreeSet<String>),
}

impl Ignore {
    /// True when a change of the top-level attribute `attr` is ignored.
    pub fn covers(&self, attr: &str) -> bool {
        match self {
            Ignore::Nothing => false,
            Ignore::All => true,
            Ignore::Attrs(a) => a.contains(attr),
        }
    }
}

/// An expression as written: its literal value when it needs no evaluation (the common case,
/// kept without converting), else the expression for the evaluator.
#[derive(Debug, Clone)]
pub struct Expr {
    /// `Some(v)` for a literal (`Value::Null` for `null`).
    literal: Option<Value>,
    expr: Option<hcl::Expression>,
    /// The source text, trimmed (for reasons).
    pub text: String,
    /// A bare `var.NAME` (its value has the variable's type).
    var_ref: Option<String>,
    /// `toset(…)`, `tolist(…)` or `tomap(…)` at the top.
    collection: Option<&'static str>,
}

impl Expr {
    fn new(e: &hcl_edit::expr::Expression) -> Expr {
        use hcl_edit::expr::Expression as E;
        let text = e.to_string().trim().to_string();
        let literal = direct_literal(e).map(|v| v.unwrap_or(Value::Null));
        let var_ref = match e {
            E::Traversal(t) => match (&t.expr, t.operators.as_slice()) {
                (E::Variable(v), [op]) if v.as_str() == "var" => match op.value() {
                    hcl_edit::expr::TraversalOperator::GetAttr(a) => Some(a.as_str().to_string()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        };
        let collection = match e {
            E::FuncCall(f) => match f.name.name.as_str() {
                "toset" => Some("set"),
                "tolist" => Some("list"),
                "tomap" => Some("map"),
                _ => None,
            },
            _ => None,
        };
        Expr {
            expr: literal.is_none().then(|| hcl::Expression::from(e.clone())),
            literal,
            text,
            var_ref,
            collection,
        }
    }
}

/// A `resource` or `data` block as written.
#[derive(Debug, Clone)]
pub struct Declared {
    pub data: bool,
    pub rtype: String,
    pub name: String,
    /// `file:line:column` of the block.
    pub at: String,
    count: Option<Expr>,
    for_each: Option<Expr>,
    /// Every attribute that is not a meta-argument.
    pub exprs: BTreeMap<String, Expr>,
    pub ignore: Ignore,
    /// Whether a `lifecycle` block set `ignore_changes` (for override merging).
    ignore_set: bool,
    /// `replace_triggered_by` references (resource addresses, attribute parts dropped).
    pub replace_triggered_by: Vec<String>,
}

impl Declared {
    /// `type.name` or `data.type.name`.
    pub fn address(&self) -> String {
        format!(
            "{}{}.{}",
            if self.data { "data." } else { "" },
            self.rtype,
            self.name
        )
    }
}

/// A `moved { from, to }` block.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Moved {
    pub from: String,
    pub to: String,
}

/// A `removed { from … }` block: `destroy = false` forgets (keeps the object, drops it from the
/// state) instead of destroying.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub from: String,
    pub destroy: bool,
}

/// A `variable` block.
#[derive(Debug, Clone)]
struct Variable {
    name: String,
    default: Option<hcl::Expression>,
    ty: Option<TypeC>,
}

/// An `output` block of the root module.
#[derive(Debug, Clone)]
struct Output {
    name: String,
    value: Option<Expr>,
    sensitive: bool,
    at: String,
}

/// What one configuration file declares.
#[derive(Debug, Clone, Default)]
pub struct FileModel {
    pub resources: Vec<Declared>,
    variables: Vec<Variable>,
    locals: Vec<(String, Expr)>,
    outputs: Vec<Output>,
    pub moved: Vec<Moved>,
    pub removed: Vec<Removed>,
    /// `module "name"` blocks, with their position.
    pub modules: Vec<(String, String)>,
    /// An override file (`override.tf`, `*_override.tf`, `.tf.json` forms).
    pub is_override: bool,
}

/// Something that cannot be decided offline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unknown {
    /// The resource (`type.name`), instance, module (`module.name`) or `output.name`.
    pub address: String,
    pub reason: String,
    /// `file:line:column` of its block.
    pub at: String,
}

/// One desired instance: its evaluated attributes (with their Terraform types).
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredInstance {
    pub data: bool,
    pub rtype: String,
    /// Every attribute the configuration sets (`null` included).
    pub attrs: BTreeMap<String, Value>,
    /// The Terraform type of each value of `attrs`.
    pub types: BTreeMap<String, Value>,
    pub ignore: Ignore,
    pub replace_triggered_by: Vec<String>,
}

/// A root output's desired value.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredOutput {
    pub value: Value,
    pub ty: Value,
    pub sensitive: bool,
}

/// The whole module's desired instances.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    pub instances: BTreeMap<String, DesiredInstance>,
    pub unknown: Vec<Unknown>,
    pub moved: Vec<Moved>,
    pub removed: Vec<Removed>,
    /// Resources declared with `count` (an unkeyed object in the state moves to `[0]`).
    pub with_count: BTreeSet<String>,
    /// Resources declared with neither `count` nor `for_each` (a `[0]` object moves to them).
    pub single: BTreeSet<String>,
    /// Root outputs whose value is known.
    pub outputs: BTreeMap<String, DesiredOutput>,
    /// Root outputs whose value is not known offline.
    pub unknown_outputs: BTreeSet<String>,
}

/// Meta-arguments: never compared.
const META: &[&str] = &["count", "for_each", "provider", "depends_on", "lifecycle"];

fn hcl_error(
    file: &str,
    lines: &LineIndex,
    span: Option<std::ops::Range<usize>>,
    msg: String,
) -> DriftError {
    let (line, column) = lines.position(span.map(|r| r.start).unwrap_or(0));
    DriftError::Hcl {
        file: file.to_string(),
        line,
        column,
        message: msg,
    }
}

/// True for an override file name (`override.tf`, `x_override.tf`, and the `.tf.json` forms).
pub fn is_override_name(name: &str) -> bool {
    let stem = name
        .strip_suffix(".tf.json")
        .or_else(|| name.strip_suffix(".tf"))
        .unwrap_or(name);
    stem == "override" || stem.ends_with("_override")
}

/// Parses one configuration file: `.tf` (HCL) or `.tf.json` (by the name `file`).
///
/// # Errors
/// As [`parse_file`]; for JSON, [`DriftError::Hcl`] naming the JSON error's position.
pub fn parse_any(text: &str, file: &str) -> Result<FileModel, DriftError> {
    let mut m = if file.ends_with(".json") {
        let hcl = json_to_hcl(text, file)?;
        parse_file(&hcl, file)?
    } else {
        parse_file(text, file)?
    };
    let base = file.rsplit('/').next().unwrap_or(file);
    m.is_override = is_override_name(base);
    Ok(m)
}

/// Parses one `.tf` file. `file` names it in errors (`iac/main.tf`).
///
/// # Errors
/// [`DriftError::Hcl`] with the position of the first syntax error, or of a `resource`/`data`
/// block without its two labels.
pub fn parse_file(text: &str, file: &str) -> Result<FileModel, DriftError> {
    let body = hcl_edit::parser::parse_body(text).map_err(|e| DriftError::Hcl {
        file: file.to_string(),
        line: e.location().line(),
        column: e.location().column(),
        message: format!("syntax error: {}", e.message()),
    })?;
    let lines = LineIndex::new(text);
    let mut out = FileModel::default();
    let at = |span: Option<std::ops::Range<usize>>| {
        let (l, c) = lines.position(span.map(|r| r.start).unwrap_or(0));
        format!("{file}:{l}:{c}")
    };
    let flat = |e: &hcl_edit::expr::Expression| {
        e.to_string()
            .split_whitespace()
            .collect::<String>()
            .trim_matches('"')
            .to_string()
    };
    for s in body.iter() {
        let Structure::Block(b) = s else { continue };
        match b.ident.as_str() {
            kind @ ("resource" | "data") => {
                let [t, n] = b.labels.as_slice() else {
                    return Err(hcl_error(
                        file,
                        &lines,
                        b.span(),
                        format!("a `{kind}` block needs two labels, like {kind} \"type\" \"name\" {{ … }}"),
                    ));
                };
                out.resources.push(declared(
                    b,
                    kind == "data",
                    t.as_str(),
                    n.as_str(),
                    at(b.span()),
                ));
            }
            "variable" => {
                if let [n] = b.labels.as_slice() {
                    let default = b
                        .body
                        .get_attribute("default")
                        .map(|a| hcl::Expression::from(a.value.clone()));
                    let ty = b
                        .body
                        .get_attribute("type")
                        .and_then(|a| TypeC::parse(&a.value));
                    out.variables.push(Variable {
                        name: n.as_str().to_string(),
                        default,
                        ty,
                    });
                }
            }
            "locals" => {
                for a in b.body.attributes() {
                    out.locals
                        .push((a.key.as_str().to_string(), Expr::new(&a.value)));
                }
            }
            "output" => {
                if let [n] = b.labels.as_slice() {
                    let sensitive = b
                        .body
                        .get_attribute("sensitive")
                        .is_some_and(|a| a.value.to_string().trim() == "true");
                    out.outputs.push(Output {
                        name: n.as_str().to_string(),
                        value: b.body.get_attribute("value").map(|a| Expr::new(&a.value)),
                        sensitive,
                        at: at(b.span()),
                    });
                }
            }
            "moved" => {
                let get = |k: &str| b.body.get_attribute(k).map(|a| flat(&a.value));
                match (get("from"), get("to")) {
                    (Some(from), Some(to)) => out.moved.push(Moved { from, to }),
                    _ => {
                        return Err(hcl_error(
                            file,
                            &lines,
                            b.span(),
                            "a `moved` block needs `from` and `to`".into(),
                        ))
                    }
                }
            }
            "removed" => {
                let Some(from) = b.body.get_attribute("from").map(|a| flat(&a.value)) else {
                    return Err(hcl_error(
                        file,
                        &lines,
                        b.span(),
                        "a `removed` block needs `from`".into(),
                    ));
                };
                let destroy = !b.body.get_blocks("lifecycle").any(|l| {
                    l.body
                        .get_attribute("destroy")
                        .is_some_and(|a| a.value.to_string().trim() == "false")
                });
                out.removed.push(Removed { from, destroy });
            }
            "module" => {
                if let [n] = b.labels.as_slice() {
                    out.modules.push((n.as_str().to_string(), at(b.span())));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn declared(b: &Block, data: bool, rtype: &str, name: &str, at: String) -> Declared {
    let mut d = Declared {
        data,
        rtype: rtype.to_string(),
        name: name.to_string(),
        at,
        count: None,
        for_each: None,
        exprs: BTreeMap::new(),
        ignore: Ignore::Nothing,
        ignore_set: false,
        replace_triggered_by: Vec::new(),
    };
    for a in b.body.attributes() {
        let key = a.key.as_str();
        match key {
            "count" => d.count = Some(Expr::new(&a.value)),
            "for_each" => d.for_each = Some(Expr::new(&a.value)),
            k if META.contains(&k) => {}
            _ => {
                d.exprs.insert(key.to_string(), Expr::new(&a.value));
            }
        }
    }
    for l in b.body.get_blocks("lifecycle") {
        if let Some(a) = l.body.get_attribute("ignore_changes") {
            d.ignore_set = true;
            d.ignore = ignore_of(&a.value);
        }
        if let Some(a) = l.body.get_attribute("replace_triggered_by") {
            if let hcl_edit::expr::Expression::Array(items) = &a.value {
                for x in items.iter() {
                    let t = x.to_string().split_whitespace().collect::<String>();
                    // `type.name[key].attr` → `type.name[key]`.
                    let mut parts = t.splitn(3, '.');
                    let (ty, rest) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    let name_key: String = rest.to_string();
                    d.replace_triggered_by.push(format!("{ty}.{name_key}"));
                }
            }
        }
    }
    d
}

fn ignore_of(e: &hcl_edit::expr::Expression) -> Ignore {
    use hcl_edit::expr::Expression as E;
    match e {
        E::Variable(v) if v.as_str() == "all" => Ignore::All,
        E::String(s) if s.value().as_str() == "all" => Ignore::All,
        E::Array(items) => Ignore::Attrs(
            items
                .iter()
                .filter_map(|x| {
                    let t = x.to_string();
                    let t = t.trim().trim_matches('"');
                    let first: String = t
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
                        .collect();
                    (!first.is_empty()).then_some(first)
                })
                .collect(),
        ),
        _ => Ignore::Nothing,
    }
}

/// Literal objects, arrays and primitives straight to JSON, without converting and
/// evaluating (the common case, and most of the parse cost on large modules). `None` when the
/// expression needs evaluation; `Some(None)` for a null.
fn direct_literal(e: &hcl_edit::expr::Expression) -> Option<Option<Value>> {
    use hcl_edit::expr::{Expression as E, ObjectKey};
    Some(Some(match e {
        E::String(s) => Value::String(s.value().to_string()),
        E::Bool(b) => Value::Bool(*b.value()),
        E::Null(_) => return Some(None),
        E::Number(n) => {
            let n = n.value();
            match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Value::from(i),
                (None, Some(u)) => Value::from(u),
                _ => serde_json::Number::from_f64(n.as_f64()?).map(Value::Number)?,
            }
        }
        E::Parenthesis(p) => return direct_literal(p.inner()),
        E::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for x in a.iter() {
                out.push(direct_literal(x)?.unwrap_or(Value::Null));
            }
            Value::Array(out)
        }
        E::Object(o) => {
            let mut out = serde_json::Map::new();
            for (k, v) in o.iter() {
                let key = match k {
                    ObjectKey::Ident(i) => i.as_str().to_string(),
                    ObjectKey::Expression(E::String(s)) => s.value().to_string(),
                    ObjectKey::Expression(_) => return None,
                };
                // A repeated key: the last one wins, as in Terraform.
                out.insert(key, direct_literal(v.expr())?.unwrap_or(Value::Null));
            }
            Value::Object(out)
        }
        _ => return None,
    }))
}

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/// A variable's `type` constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeC {
    Any,
    String,
    Number,
    Bool,
    List(Box<TypeC>),
    Set(Box<TypeC>),
    Map(Box<TypeC>),
    Tuple(Vec<TypeC>),
    Object(BTreeMap<String, TypeC>),
}

impl TypeC {
    fn parse(e: &hcl_edit::expr::Expression) -> Option<TypeC> {
        use hcl_edit::expr::{Expression as E, ObjectKey};
        Some(match e {
            E::Variable(v) => match v.as_str() {
                "string" => TypeC::String,
                "number" => TypeC::Number,
                "bool" => TypeC::Bool,
                "any" => TypeC::Any,
                _ => return None,
            },
            E::FuncCall(f) => {
                let args: Vec<&E> = f.args.iter().collect();
                let first = args.first()?;
                match f.name.name.as_str() {
                    "list" => TypeC::List(Box::new(TypeC::parse(first)?)),
                    "set" => TypeC::Set(Box::new(TypeC::parse(first)?)),
                    "map" => TypeC::Map(Box::new(TypeC::parse(first)?)),
                    "tuple" => match first {
                        E::Array(a) => {
                            TypeC::Tuple(a.iter().map(TypeC::parse).collect::<Option<Vec<_>>>()?)
                        }
                        _ => return None,
                    },
                    "object" => match first {
                        E::Object(o) => {
                            let mut m = BTreeMap::new();
                            for (k, v) in o.iter() {
                                let k = match k {
                                    ObjectKey::Ident(i) => i.as_str().to_string(),
                                    ObjectKey::Expression(E::String(s)) => s.value().to_string(),
                                    _ => return None,
                                };
                                m.insert(k, TypeC::parse(v.expr())?);
                            }
                            TypeC::Object(m)
                        }
                        _ => return None,
                    },
                    _ => return None,
                }
            }
            _ => return None,
        })
    }

    /// True for `string`, `number` and `bool`... and `any` (whose values from the command
    /// line or the environment stay strings).
    fn is_primitive_string_like(&self) -> bool {
        matches!(self, TypeC::String | TypeC::Any)
    }
}

/// The type Terraform infers for a value written without a type constraint.
pub fn infer_type(v: &Value) -> Value {
    match v {
        Value::Null => Value::from("dynamic"),
        Value::Bool(_) => Value::from("bool"),
        Value::Number(_) => Value::from("number"),
        Value::String(_) => Value::from("string"),
        Value::Array(a) => {
            serde_json::json!(["tuple", a.iter().map(infer_type).collect::<Vec<_>>()])
        }
        Value::Object(o) => {
            let m: serde_json::Map<String, Value> =
                o.iter().map(|(k, v)| (k.clone(), infer_type(v))).collect();
            serde_json::json!(["object", m])
        }
    }
}

/// The one type all `types` unify to (Terraform's rule for a collection's elements, reduced to
/// the cases tfops decides: all equal, or primitives that all convert to string).
fn unify(types: &[Value]) -> Option<Value> {
    let first = types.first()?;
    if types.iter().all(|t| t == first) {
        return Some(first.clone());
    }
    if types.iter().all(|t| t.is_string()) {
        return Some(Value::from("string"));
    }
    None
}

/// Converts `v` to the collection `kind` (`set`, `list`, `map`), returning the value and type.
fn to_collection(kind: &str, v: Value) -> Option<(Value, Value)> {
    match (kind, v) {
        ("set" | "list", Value::Array(items)) => {
            let tys: Vec<Value> = items.iter().map(infer_type).collect();
            let ety = if items.is_empty() {
                Value::from("dynamic")
            } else {
                unify(&tys)?
            };
            let mut items: Vec<Value> = items
                .into_iter()
                .map(|x| {
                    if ety == "string" {
                        to_string_value(x)
                    } else {
                        x
                    }
                })
                .collect();
            if kind == "set" {
                items.sort_by_key(canonical_key);
                items.dedup();
            }
            Some((Value::Array(items), serde_json::json!([kind, ety])))
        }
        ("map", Value::Object(o)) => {
            let tys: Vec<Value> = o.values().map(infer_type).collect();
            let ety = if o.is_empty() {
                Value::from("dynamic")
            } else {
                unify(&tys)?
            };
            let o = o
                .into_iter()
                .map(|(k, x)| {
                    (
                        k,
                        if ety == "string" {
                            to_string_value(x)
                        } else {
                            x
                        },
                    )
                })
                .collect();
            Some((Value::Object(o), serde_json::json!(["map", ety])))
        }
        _ => None,
    }
}

fn canonical_key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A primitive as Terraform converts it to a string (`1` → `"1"`, `true` → `"true"`).
pub fn to_string_value(v: Value) -> Value {
    match v {
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        other => other,
    }
}

/// Converts a value to a type constraint as Terraform converts variable values; returns the
/// value and its type, or why it does not convert.
pub fn convert(v: Value, ty: &TypeC) -> Result<(Value, Value), String> {
    let bad = |v: &Value, want: &str| Err(format!("{v} is not a {want}"));
    match ty {
        TypeC::Any => {
            let t = infer_type(&v);
            Ok((v, t))
        }
        _ if v.is_null() => Ok((Value::Null, type_json(ty))),
        TypeC::String => match v {
            Value::String(_) | Value::Bool(_) | Value::Number(_) => {
                Ok((to_string_value(v), Value::from("string")))
            }
            other => bad(&other, "string"),
        },
        TypeC::Number => match &v {
            Value::Number(_) => Ok((v, Value::from("number"))),
            Value::String(s) => match s.parse::<i64>() {
                Ok(i) => Ok((Value::from(i), Value::from("number"))),
                Err(_) => match s.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                    Some(n) => Ok((Value::Number(n), Value::from("number"))),
                    None => bad(&v, "number"),
                },
            },
            _ => bad(&v, "number"),
        },
        TypeC::Bool => match &v {
            Value::Bool(_) => Ok((v, Value::from("bool"))),
            Value::String(s) if s == "true" || s == "false" => {
                Ok((Value::Bool(s == "true"), Value::from("bool")))
            }
            _ => bad(&v, "bool"),
        },
        TypeC::List(e) | TypeC::Set(e) => match v {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for x in items {
                    out.push(convert(x, e)?.0);
                }
                if matches!(ty, TypeC::Set(_)) {
                    out.sort_by_key(canonical_key);
                    out.dedup();
                }
                Ok((Value::Array(out), type_json(ty)))
            }
            other => bad(&other, "list"),
        },
        TypeC::Map(e) => match v {
            Value::Object(o) => {
                let mut out = serde_json::Map::new();
                for (k, x) in o {
                    out.insert(k, convert(x, e)?.0);
                }
                Ok((Value::Object(out), type_json(ty)))
            }
            other => bad(&other, "map"),
        },
        TypeC::Tuple(ts) => match v {
            Value::Array(items) if items.len() == ts.len() => {
                let mut out = Vec::new();
                for (x, t) in items.into_iter().zip(ts) {
                    out.push(convert(x, t)?.0);
                }
                Ok((Value::Array(out), type_json(ty)))
            }
            other => bad(&other, "tuple of the declared length"),
        },
        TypeC::Object(fields) => match v {
            Value::Object(mut o) => {
                let mut out = serde_json::Map::new();
                for (k, t) in fields {
                    let x = o.remove(k).unwrap_or(Value::Null);
                    out.insert(k.clone(), convert(x, t)?.0);
                }
                Ok((Value::Object(out), type_json(ty)))
            }
            other => bad(&other, "object"),
        },
    }
}

fn type_json(ty: &TypeC) -> Value {
    match ty {
        TypeC::Any => Value::from("dynamic"),
        TypeC::String => Value::from("string"),
        TypeC::Number => Value::from("number"),
        TypeC::Bool => Value::from("bool"),
        TypeC::List(e) => serde_json::json!(["list", type_json(e)]),
        TypeC::Set(e) => serde_json::json!(["set", type_json(e)]),
        TypeC::Map(e) => serde_json::json!(["map", type_json(e)]),
        TypeC::Tuple(ts) => {
            serde_json::json!(["tuple", ts.iter().map(type_json).collect::<Vec<_>>()])
        }
        TypeC::Object(f) => {
            let m: serde_json::Map<String, Value> =
                f.iter().map(|(k, t)| (k.clone(), type_json(t))).collect();
            serde_json::json!(["object", m])
        }
    }
}

// ---------------------------------------------------------------------------------------------
// JSON configuration (`*.tf.json`)
// ---------------------------------------------------------------------------------------------

/// Turns a `.tf.json` file into HCL text with the same meaning (strings are templates, as in
/// Terraform's JSON syntax; a string that is one `${…}` is that expression).
///
/// # Errors
/// [`DriftError::Hcl`] when the JSON does not parse or is not an object.
pub fn json_to_hcl(text: &str, file: &str) -> Result<String, DriftError> {
    let bad = |line: usize, column: usize, m: String| DriftError::Hcl {
        file: file.to_string(),
        line,
        column,
        message: m,
    };
    let v: Value = serde_json::from_str(text)
        .map_err(|e| bad(e.line(), e.column(), format!("invalid JSON: {e}")))?;
    let Value::Object(top) = v else {
        return Err(bad(1, 1, "a .tf.json file must hold a JSON object".into()));
    };
    let mut out = String::new();
    let items = |v: &Value| -> Vec<Value> {
        match v {
            Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        }
    };
    for (kind, v) in &top {
        match kind.as_str() {
            "resource" | "data" => {
                for (t, by_name) in v.as_object().into_iter().flatten() {
                    for (n, bodies) in by_name.as_object().into_iter().flatten() {
                        for body in items(bodies) {
                            out.push_str(&format!("{kind} {} {} {{\n", quote(t), quote(n)));
                            json_body(&body, &mut out, true);
                            out.push_str("}\n");
                        }
                    }
                }
            }
            "variable" | "output" | "module" => {
                for (n, bodies) in v.as_object().into_iter().flatten() {
                    for body in items(bodies) {
                        out.push_str(&format!("{kind} {} {{\n", quote(n)));
                        if kind == "variable" {
                            for (k, x) in body.as_object().into_iter().flatten() {
                                match k.as_str() {
                                    "type" => out.push_str(&format!(
                                        "  type = {}\n",
                                        x.as_str()
                                            .map(|s| unwrap_interp(s).unwrap_or(s).to_string())
                                            .unwrap_or_default()
                                    )),
                                    _ => out.push_str(&format!("  {k} = {}\n", json_expr(x))),
                                }
                            }
                        } else {
                            json_body(&body, &mut out, false);
                        }
                        out.push_str("}\n");
                    }
                }
            }
            "locals" => {
                for body in items(v) {
                    out.push_str("locals {\n");
                    json_body(&body, &mut out, false);
                    out.push_str("}\n");
                }
            }
            "moved" | "removed" => {
                for body in items(v) {
                    out.push_str(&format!("{kind} {{\n"));
                    for (k, x) in body.as_object().into_iter().flatten() {
                        match (k.as_str(), x) {
                            ("from" | "to", Value::String(s)) => {
                                out.push_str(&format!("  {k} = {s}\n"))
                            }
                            ("lifecycle", l) => {
                                for l in items(l) {
                                    out.push_str("  lifecycle {\n");
                                    json_body(&l, &mut out, false);
                                    out.push_str("  }\n");
                                }
                            }
                            _ => {}
                        }
                    }
                    out.push_str("}\n");
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The attributes of a JSON body; in a resource, `lifecycle` is a block whose
/// `ignore_changes` / `replace_triggered_by` strings are references.
fn json_body(body: &Value, out: &mut String, resource: bool) {
    for (k, x) in body.as_object().into_iter().flatten() {
        if k == "//" {
            continue;
        }
        if resource && k == "lifecycle" {
            let ls = match x {
                Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            };
            for l in ls {
                out.push_str("  lifecycle {\n");
                for (lk, lv) in l.as_object().into_iter().flatten() {
                    let refs = |v: &Value| -> String {
                        match v {
                            Value::Array(a) => format!(
                                "[{}]",
                                a.iter()
                                    .filter_map(Value::as_str)
                                    .map(|s| unwrap_interp(s).unwrap_or(s).to_string())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                            Value::String(s) => unwrap_interp(s).unwrap_or(s).to_string(),
                            other => json_expr(other),
                        }
                    };
                    out.push_str(&format!("    {lk} = {}\n", refs(lv)));
                }
                out.push_str("  }\n");
            }
            continue;
        }
        if resource && matches!(k.as_str(), "provisioner" | "connection" | "dynamic") {
            continue;
        }
        if is_identifier_like(k) {
            out.push_str(&format!("  {k} = {}\n", json_expr(x)));
        } else {
            out.push_str(&format!("  {} = {}\n", quote(k), json_expr(x)));
        }
    }
}

fn is_identifier_like(s: &str) -> bool {
    crate::state::model::is_identifier(s)
}

/// `${ expr }` alone → `expr`.
fn unwrap_interp(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("${")?.strip_suffix('}')?;
    (!inner.contains("${") && !inner.contains('}')).then_some(inner.trim())
}

fn json_expr(v: &Value) -> String {
    match v {
        Value::String(s) => match unwrap_interp(s) {
            Some(e) => format!("({e})"),
            // A template: JSON's escapes are HCL's, and `${`/`%{` keep their meaning.
            None => quote(s),
        },
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(json_expr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(o) => format!(
            "{{ {} }}",
            o.iter()
                .map(|(k, x)| format!("{} = {}", quote(k), json_expr(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// The evaluation context for `count`, `for_each`, variable defaults and locals: the registered
/// Terraform functions only.
pub fn functions() -> EvalContext<'static> {
    let mut ctx = EvalContext::new();
    let any = || FuncDef::builder().param(ParamType::Any);
    ctx.declare_func("toset", any().build(f_toset));
    ctx.declare_func("tomap", any().build(f_tomap));
    ctx.declare_func("tolist", any().build(f_tolist));
    ctx.declare_func("length", any().build(f_length));
    ctx.declare_func("keys", any().build(f_keys));
    ctx.declare_func("values", any().build(f_values));
    ctx.declare_func(
        "range",
        FuncDef::builder()
            .variadic_param(ParamType::Number)
            .build(f_range),
    );
    ctx.declare_func(
        "merge",
        FuncDef::builder()
            .variadic_param(ParamType::Any)
            .build(f_merge),
    );
    ctx.declare_func(
        "concat",
        FuncDef::builder()
            .variadic_param(ParamType::Any)
            .build(f_concat),
    );
    ctx
}

fn f_toset(args: FuncArgs) -> Result<HclValue, String> {
    match args.into_values().into_iter().next() {
        Some(HclValue::Array(items)) => {
            let mut out: Vec<HclValue> = Vec::new();
            for v in items {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            if out.iter().all(HclValue::is_string) {
                out.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
            Ok(HclValue::Array(out))
        }
        Some(other) => Err(format!("toset: expected a list, got `{other}`")),
        None => Err("toset: one argument expected".into()),
    }
}

fn f_tomap(args: FuncArgs) -> Result<HclValue, String> {
    match args.into_values().into_iter().next() {
        Some(v @ HclValue::Object(_)) => Ok(v),
        Some(other) => Err(format!("tomap: expected an object, got `{other}`")),
        None => Err("tomap: one argument expected".into()),
    }
}

fn f_tolist(args: FuncArgs) -> Result<HclValue, String> {
    match args.into_values().into_iter().next() {
        Some(v @ HclValue::Array(_)) => Ok(v),
        Some(other) => Err(format!("tolist: expected a list or set, got `{other}`")),
        None => Err("tolist: one argument expected".into()),
    }
}

fn f_length(args: FuncArgs) -> Result<HclValue, String> {
    let n = match args.first() {
        Some(HclValue::Array(a)) => a.len(),
        Some(HclValue::Object(o)) => o.len(),
        Some(HclValue::String(s)) => s.chars().count(),
        Some(other) => return Err(format!("length: cannot take the length of `{other}`")),
        None => return Err("length: one argument expected".into()),
    };
    Ok(HclValue::from(n as u64))
}

fn f_keys(args: FuncArgs) -> Result<HclValue, String> {
    match args.first() {
        Some(HclValue::Object(o)) => {
            let mut k: Vec<&String> = o.keys().collect();
            k.sort();
            Ok(HclValue::Array(
                k.into_iter().map(|s| HclValue::String(s.clone())).collect(),
            ))
        }
        _ => Err("keys: expected a map".into()),
    }
}

fn f_values(args: FuncArgs) -> Result<HclValue, String> {
    match args.first() {
        Some(HclValue::Object(o)) => {
            let mut kv: Vec<(&String, &HclValue)> = o.iter().collect();
            kv.sort_by(|a, b| a.0.cmp(b.0));
            Ok(HclValue::Array(
                kv.into_iter().map(|(_, v)| v.clone()).collect(),
            ))
        }
        _ => Err("values: expected a map".into()),
    }
}

fn f_range(args: FuncArgs) -> Result<HclValue, String> {
    let n: Vec<f64> = args
        .iter()
        .map(|v| {
            v.as_f64()
                .ok_or_else(|| format!("range: `{v}` is not a number"))
        })
        .collect::<Result<_, _>>()?;
    let (start, end, step) = match n.as_slice() {
        [e] => (0.0, *e, 1.0),
        [s, e] => (*s, *e, if s <= e { 1.0 } else { -1.0 }),
        [s, e, st] => (*s, *e, *st),
        _ => return Err("range: one to three arguments expected".into()),
    };
    if step == 0.0 || (step > 0.0 && start > end) || (step < 0.0 && start < end) {
        return Err("range: the step must move start towards end".into());
    }
    let mut out = Vec::new();
    let mut x = start;
    while (step > 0.0 && x < end) || (step < 0.0 && x > end) {
        if out.len() >= 1_000_000 {
            return Err("range: more than 1000000 elements".into());
        }
        out.push(num(x));
        x += step;
    }
    Ok(HclValue::Array(out))
}

fn num(x: f64) -> HclValue {
    if x.fract() == 0.0 && x.abs() < 9e15 {
        HclValue::from(x as i64)
    } else {
        hcl::Number::from_f64(x)
            .map(HclValue::Number)
            .unwrap_or(HclValue::Null)
    }
}

fn f_merge(args: FuncArgs) -> Result<HclValue, String> {
    let mut out = hcl::Map::new();
    for v in args.into_values() {
        match v {
            HclValue::Object(o) => out.extend(o),
            HclValue::Null => {}
            other => return Err(format!("merge: `{other}` is not a map")),
        }
    }
    Ok(HclValue::Object(out))
}

fn f_concat(args: FuncArgs) -> Result<HclValue, String> {
    let mut out = Vec::new();
    for v in args.into_values() {
        match v {
            HclValue::Array(a) => out.extend(a),
            other => return Err(format!("concat: `{other}` is not a list")),
        }
    }
    Ok(HclValue::Array(out))
}

/// Everything that decides variable values besides the configuration: tfvars files and the
/// environment's `TF_VAR_name` values.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub tfvars: Tfvars,
    /// `TF_VAR_name` values by name.
    pub env: BTreeMap<String, String>,
}

impl Inputs {
    /// `TF_VAR_*` from this process's environment.
    pub fn env_vars() -> BTreeMap<String, String> {
        std::env::vars()
            .filter_map(|(k, v)| k.strip_prefix("TF_VAR_").map(|n| (n.to_string(), v)))
            .collect()
    }
}

/// The evaluator: what the planner asks of it (values with their types, or why not). The only
/// place that knows the evaluator is hcl-rs.
struct Evaluator {
    vars: hcl::Map<String, HclValue>,
    var_types: BTreeMap<String, Value>,
    locals: hcl::Map<String, HclValue>,
    known_vars: BTreeSet<String>,
    known_locals: BTreeSet<String>,
}

impl Evaluator {
    fn context(&self, count: Option<u64>, each: Option<(&str, &HclValue)>) -> EvalContext<'static> {
        let mut ctx = functions();
        ctx.declare_var("var", HclValue::Object(self.vars.clone()));
        ctx.declare_var("local", HclValue::Object(self.locals.clone()));
        let mut path = hcl::Map::new();
        path.insert("module".to_string(), HclValue::from("."));
        path.insert("root".to_string(), HclValue::from("."));
        ctx.declare_var("path", HclValue::Object(path));
        let mut tf = hcl::Map::new();
        tf.insert("workspace".to_string(), HclValue::from("default"));
        ctx.declare_var("terraform", HclValue::Object(tf));
        if let Some(i) = count {
            let mut c = hcl::Map::new();
            c.insert("index".to_string(), HclValue::from(i));
            ctx.declare_var("count", HclValue::Object(c));
        }
        if let Some((k, v)) = each {
            let mut c = hcl::Map::new();
            c.insert("key".to_string(), HclValue::from(k));
            c.insert("value".to_string(), v.clone());
            ctx.declare_var("each", HclValue::Object(c));
        }
        ctx
    }

    /// The value and type of `e`, or why it cannot be known offline.
    fn eval(&self, e: &Expr, ctx: Option<&EvalContext>) -> Result<(Value, Value), String> {
        if let Some(v) = &e.literal {
            return Ok((v.clone(), infer_type(v)));
        }
        let Some(x) = &e.expr else {
            return Ok((Value::Null, Value::from("dynamic")));
        };
        let own;
        let ctx = match ctx {
            Some(c) => c,
            None => {
                own = self.context(None, None);
                &own
            }
        };
        let v = x.evaluate_guarded(ctx).map_err(|err| {
            why_unknown(&e.text, &self.known_vars, &self.known_locals).unwrap_or_else(|| {
                format!(
                    "`{}` cannot be evaluated offline: {}",
                    e.text,
                    first_line(&err.to_string())
                )
            })
        })?;
        let v = serde_json::to_value(v).map_err(|err| err.to_string())?;
        if let Some(name) = &e.var_ref {
            if let Some(t) = self.var_types.get(name) {
                return Ok((v, t.clone()));
            }
        }
        if let Some(kind) = e.collection {
            if let Some(r) = to_collection(kind, v.clone()) {
                return Ok(r);
            }
        }
        let t = infer_type(&v);
        Ok((v, t))
    }
}

/// Expands the module's files (in file order) into desired instances.
///
/// # Errors
/// [`DriftError::Duplicate`] when a resource is declared twice.
pub fn expand(files: Vec<FileModel>) -> Result<Desired, DriftError> {
    expand_inputs(files, Inputs::default())
}

/// As [`expand`], with variable values from `terraform.tfvars` / `*.auto.tfvars`
/// ([`load_tfvars`]) taking precedence over defaults, as Terraform does.
///
/// # Errors
/// As [`expand`].
pub fn expand_with(files: Vec<FileModel>, tfvars: Tfvars) -> Result<Desired, DriftError> {
    expand_inputs(
        files,
        Inputs {
            tfvars,
            env: BTreeMap::new(),
        },
    )
}

/// Merges an override file's resource into the block it overrides (Terraform's rule: each
/// argument set in the override replaces the original's; a `lifecycle` setting replaces it).
fn merge_override(base: &mut Declared, o: Declared) {
    if o.count.is_some() {
        base.count = o.count;
        base.for_each = None;
    }
    if o.for_each.is_some() {
        base.for_each = o.for_each;
        base.count = None;
    }
    base.exprs.extend(o.exprs);
    if o.ignore_set {
        base.ignore = o.ignore;
        base.ignore_set = true;
    }
    if !o.replace_triggered_by.is_empty() {
        base.replace_triggered_by = o.replace_triggered_by;
    }
}

/// One instance of a resource: its key suffix, `count.index`, and `each.key` / `each.value`.
type InstanceKey = (String, Option<u64>, Option<(String, HclValue)>);

/// Expands the module's files with every input.
///
/// # Errors
/// As [`expand`].
pub fn expand_inputs(files: Vec<FileModel>, inputs: Inputs) -> Result<Desired, DriftError> {
    let funcs = functions();
    let mut out = Desired::default();
    let mut declared: Vec<Declared> = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut variables: Vec<Variable> = Vec::new();
    let mut locals_src: Vec<(String, Expr)> = Vec::new();
    let mut outputs: Vec<Output> = Vec::new();
    let (base_files, overrides): (Vec<FileModel>, Vec<FileModel>) =
        files.into_iter().partition(|f| !f.is_override);
    for f in base_files {
        variables.extend(f.variables);
        locals_src.extend(f.locals);
        outputs.extend(f.outputs);
        out.moved.extend(f.moved);
        out.removed.extend(f.removed);
        for (name, at) in f.modules {
            out.unknown.push(Unknown {
                address: format!("module.{name}"),
                reason: "child module: its configuration is not read by tfops".into(),
                at,
            });
        }
        for d in f.resources {
            let addr = d.address();
            if let Some(first) = seen.get(&addr) {
                return Err(DriftError::Duplicate {
                    address: addr,
                    at: d.at,
                    first: first.clone(),
                });
            }
            seen.insert(addr, d.at.clone());
            declared.push(d);
        }
    }
    for f in overrides {
        for v in f.variables {
            match variables.iter_mut().find(|x| x.name == v.name) {
                Some(x) => {
                    if v.default.is_some() {
                        x.default = v.default;
                    }
                    if v.ty.is_some() {
                        x.ty = v.ty;
                    }
                }
                None => variables.push(v),
            }
        }
        for (n, e) in f.locals {
            match locals_src.iter_mut().find(|x| x.0 == n) {
                Some(x) => x.1 = e,
                None => locals_src.push((n, e)),
            }
        }
        for o in f.outputs {
            match outputs.iter_mut().find(|x| x.name == o.name) {
                Some(x) => {
                    if o.value.is_some() {
                        x.value = o.value;
                    }
                    x.sensitive |= o.sensitive;
                }
                None => outputs.push(o),
            }
        }
        for d in f.resources {
            let addr = d.address();
            if let Some(base) = declared.iter_mut().find(|b| b.address() == addr) {
                merge_override(base, d);
            }
        }
    }

    // Variables: default < TF_VAR_name < tfvars files (in their order), then the type.
    let mut vars = hcl::Map::new();
    let mut var_types = BTreeMap::new();
    let mut unset = BTreeSet::new();
    for v in &variables {
        let mut value: Option<Value> = v
            .default
            .as_ref()
            .and_then(|e| e.evaluate_guarded(&funcs).ok())
            .and_then(|x| serde_json::to_value(x).ok());
        if let Some(s) = inputs.env.get(&v.name) {
            let string_like = v.ty.as_ref().is_none_or(TypeC::is_primitive_string_like);
            value = if string_like {
                Some(Value::String(s.clone()))
            } else {
                hcl_edit::parser::parse_expr(s)
                    .ok()
                    .and_then(|e| hcl::Expression::from(e).evaluate_guarded(&funcs).ok())
                    .and_then(|x| serde_json::to_value(x).ok())
            };
        }
        if let Some(x) = inputs.tfvars.0.get(&v.name) {
            value = serde_json::to_value(x).ok();
        }
        if inputs.tfvars.1.contains(&v.name) {
            value = None;
        }
        let Some(value) = value else {
            unset.insert(v.name.clone());
            continue;
        };
        let converted = match &v.ty {
            Some(t) => convert(value, t),
            None => {
                let t = infer_type(&value);
                Ok((value, t))
            }
        };
        match converted {
            Ok((value, ty)) => {
                if let Ok(h) = serde_json::from_value::<HclValue>(value) {
                    vars.insert(v.name.clone(), h);
                    var_types.insert(v.name.clone(), ty);
                }
            }
            Err(_) => {
                unset.insert(v.name.clone());
            }
        }
    }
    // Locals: evaluate until no more become known (they may refer to each other).
    let mut locals = hcl::Map::new();
    let mut pending = locals_src;
    let mut ev = Evaluator {
        vars,
        var_types,
        locals: hcl::Map::new(),
        known_vars: BTreeSet::new(),
        known_locals: BTreeSet::new(),
    };
    loop {
        ev.locals = locals.clone();
        let ctx = ev.context(None, None);
        let before = pending.len();
        pending.retain(|(name, e)| {
            let r = match (&e.literal, &e.expr) {
                (Some(v), _) => serde_json::from_value::<HclValue>(v.clone()).ok(),
                (None, Some(x)) => x.evaluate_guarded(&ctx).ok(),
                (None, None) => None,
            };
            match r {
                Some(v) => {
                    locals.insert(name.clone(), v);
                    false
                }
                None => true,
            }
        });
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    ev.locals = locals;
    ev.known_vars = ev.vars.keys().cloned().collect();
    ev.known_locals = ev.locals.keys().cloned().collect();
    let base_ctx = ev.context(None, None);

    for d in declared {
        let base = d.address();
        let at = d.at.clone();
        let unknown = |reason: String| Unknown {
            address: base.clone(),
            reason,
            at: at.clone(),
        };
        if d.data {
            // Data sources are read at plan time and never reported.
            continue;
        }
        // (key suffix, count.index, each.key, each.value)
        let keys: Vec<InstanceKey> = match (&d.count, &d.for_each) {
            (Some(_), Some(_)) => {
                out.unknown
                    .push(unknown("both `count` and `for_each` are set".into()));
                continue;
            }
            (Some(e), None) => {
                out.with_count.insert(base.clone());
                match ev.eval(e, Some(&base_ctx)) {
                    // A string converts to a number, as Terraform converts `count` (a
                    // `TF_VAR_n` without a type is a string).
                    Ok((v, _)) => match v.as_f64().or_else(|| v.as_str()?.trim().parse().ok()) {
                        Some(n) if n > MAX_INSTANCES as f64 && n.fract() == 0.0 => {
                            out.unknown.push(unknown(format!(
                                "count = {} is more than {MAX_INSTANCES} instances; not expanded",
                                e.text
                            )));
                            continue;
                        }
                        Some(n) if n >= 0.0 && n.fract() == 0.0 => (0..n as u64)
                            .map(|i| (format!("[{i}]"), Some(i), None))
                            .collect(),
                        _ => {
                            out.unknown.push(unknown(format!(
                                "count = {} is not a whole number ≥ 0",
                                e.text
                            )));
                            continue;
                        }
                    },
                    Err(why) => {
                        out.unknown.push(unknown(format!(
                            "count = {} cannot be known offline: {why}",
                            e.text
                        )));
                        continue;
                    }
                }
            }
            (None, Some(e)) => {
                let v = match ev.eval(e, Some(&base_ctx)) {
                    Ok((v, _)) => v,
                    Err(why) => {
                        out.unknown.push(unknown(format!(
                            "for_each = {} cannot be known offline: {why}",
                            e.text
                        )));
                        continue;
                    }
                };
                let len = match &v {
                    Value::Object(o) => o.len(),
                    Value::Array(a) => a.len(),
                    _ => 0,
                };
                if len as u64 > MAX_INSTANCES {
                    out.unknown.push(unknown(format!(
                        "for_each = {} is more than {MAX_INSTANCES} instances; not expanded",
                        e.text
                    )));
                    continue;
                }
                match v {
                    Value::Object(o) => o
                        .into_iter()
                        .map(|(k, x)| {
                            let h = serde_json::from_value(x).unwrap_or(HclValue::Null);
                            (format!("[{}]", quote(&k)), None, Some((k, h)))
                        })
                        .collect(),
                    Value::Array(a) if a.iter().all(Value::is_string) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .map(|k| {
                            (
                                format!("[{}]", quote(k)),
                                None,
                                Some((k.to_string(), HclValue::from(k))),
                            )
                        })
                        .collect(),
                    _ => {
                        out.unknown.push(unknown(format!(
                            "for_each = {} is not a map or a set of strings",
                            e.text
                        )));
                        continue;
                    }
                }
            }
            (None, None) => {
                out.single.insert(base.clone());
                vec![(String::new(), None, None)]
            }
        };
        let all_literal = d.exprs.values().all(|e| e.literal.is_some());
        for (suffix, index, each) in keys {
            let addr = format!("{base}{suffix}");
            let mut attrs = BTreeMap::new();
            let mut types = BTreeMap::new();
            let mut why = None;
            let ctx = (!all_literal && (index.is_some() || each.is_some()))
                .then(|| ev.context(index, each.as_ref().map(|(k, v)| (k.as_str(), v))));
            for (k, e) in &d.exprs {
                match ev.eval(e, Some(ctx.as_ref().unwrap_or(&base_ctx))) {
                    Ok((v, t)) => {
                        attrs.insert(k.clone(), v);
                        types.insert(k.clone(), t);
                    }
                    Err(reason) if !d.ignore.covers(k) => {
                        why = Some(format!("{k} = {}: {reason}", e.text));
                        break;
                    }
                    Err(_) => {}
                }
            }
            if let Some(reason) = why {
                out.unknown.push(Unknown {
                    address: addr,
                    reason,
                    at: d.at.clone(),
                });
                continue;
            }
            out.instances.insert(
                addr,
                DesiredInstance {
                    data: false,
                    rtype: d.rtype.clone(),
                    attrs,
                    types,
                    ignore: d.ignore.clone(),
                    replace_triggered_by: d.replace_triggered_by.clone(),
                },
            );
        }
    }
    for o in outputs {
        let Some(e) = &o.value else { continue };
        match ev.eval(e, Some(&base_ctx)) {
            Ok((value, ty)) => {
                out.outputs.insert(
                    o.name,
                    DesiredOutput {
                        value,
                        ty,
                        sensitive: o.sensitive,
                    },
                );
            }
            Err(reason) => {
                out.unknown.push(Unknown {
                    address: format!("output.{}", o.name),
                    reason,
                    at: o.at.clone(),
                });
                out.unknown_outputs.insert(o.name);
            }
        }
    }
    let _ = unset;
    Ok(out)
}

/// The first reference in an expression's text that makes it unknowable offline.
fn why_unknown(text: &str, vars: &BTreeSet<String>, locals: &BTreeSet<String>) -> Option<String> {
    let mut in_string = false;
    let mut tokens = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c == '"' {
            in_string = !in_string;
        }
        if !in_string && (c.is_alphanumeric() || c == '_' || c == '-' || c == '.') {
            cur.push(c);
        } else if !cur.is_empty() {
            tokens.push(std::mem::take(&mut cur));
        }
    }
    tokens.push(cur);
    for t in tokens {
        let parts: Vec<&str> = t.split('.').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            ["var", name, ..] if !vars.contains(*name) => {
                return Some(format!(
                    "var.{name} has no literal default or tfvars value (it is given at plan time)"
                ))
            }
            ["local", name, ..] if !locals.contains(*name) => {
                return Some(format!("local.{name} is not a literal value"))
            }
            ["data", t, n, ..] => {
                return Some(format!("it depends on data.{t}.{n}, read at plan time"))
            }
            ["module", m, ..] => return Some(format!("it depends on the outputs of module.{m}")),
            [root, n, ..]
                if !matches!(
                    *root,
                    "var" | "local" | "count" | "each" | "path" | "terraform" | "self"
                ) && root.contains('_') =>
            {
                return Some(format!("it depends on {root}.{n}, known only after apply"))
            }
            _ => {}
        }
    }
    None
}

/// Literal variable values from tfvars files, and the names set there to something that is not
/// literal (unknown).
pub type Tfvars = (hcl::Map<String, HclValue>, Vec<String>);

/// Variable values from `terraform.tfvars`, `terraform.tfvars.json`, then `*.auto.tfvars`
/// and `*.auto.tfvars.json` in name order (later files win), as Terraform loads them. A value
/// that is not literal makes its variable unknown (its default would be a guess).
///
/// # Errors
/// [`DriftError::Hcl`] for a tfvars file that does not parse, [`DriftError::Io`] when one
/// cannot be read.
pub fn load_tfvars(dir: &std::path::Path, dir_display: &str) -> Result<Tfvars, DriftError> {
    let mut names: Vec<String> = Vec::new();
    let rd = std::fs::read_dir(dir).map_err(|e| DriftError::io(dir, e))?;
    for e in rd {
        let e = e.map_err(|e| DriftError::io(dir, e))?;
        let n = e.file_name().to_string_lossy().into_owned();
        if n.ends_with(".auto.tfvars") || n.ends_with(".auto.tfvars.json") {
            names.push(n);
        }
    }
    names.sort();
    for first in ["terraform.tfvars.json", "terraform.tfvars"] {
        if dir.join(first).is_file() {
            names.insert(0, first.to_string());
        }
    }
    let funcs = functions();
    let mut out = hcl::Map::new();
    let mut not_literal = Vec::new();
    for n in &names {
        let p = dir.join(n);
        let display = format!("{dir_display}/{n}");
        let text = std::fs::read_to_string(&p).map_err(|e| DriftError::io(&p, e))?;
        if n.ends_with(".json") {
            let m: serde_json::Map<String, Value> =
                serde_json::from_str(&text).map_err(|e| DriftError::Hcl {
                    file: display.clone(),
                    line: e.line(),
                    column: e.column(),
                    message: format!("invalid JSON: {e}"),
                })?;
            for (k, v) in m {
                match serde_json::from_value::<HclValue>(v) {
                    Ok(v) => {
                        out.insert(k, v);
                    }
                    Err(_) => not_literal.push(k),
                }
            }
            continue;
        }
        let body = hcl_edit::parser::parse_body(&text).map_err(|e| DriftError::Hcl {
            file: display.clone(),
            line: e.location().line(),
            column: e.location().column(),
            message: format!("syntax error: {}", e.message()),
        })?;
        for a in body.attributes() {
            match hcl::Expression::from(a.value.clone()).evaluate_guarded(&funcs) {
                Ok(v) => {
                    out.insert(a.key.as_str().to_string(), v);
                }
                Err(_) => not_literal.push(a.key.as_str().to_string()),
            }
        }
    }
    Ok((out, not_literal))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(text: &str) -> Desired {
        expand(vec![parse_file(text, "t.tf").unwrap()]).unwrap()
    }

    #[test]
    fn count_for_each_and_locals() {
        let d = desired(
            r#"
variable "n" { default = 2 }
locals {
  names = toset(["b", "a", "a"])
  m     = tomap({ x = 1, y = 2 })
  n2    = length(local.names) + var.n
}
resource "null_resource" "c" { count = var.n }
resource "null_resource" "r" { count = length(range(1, 4)) }
resource "null_resource" "s" { for_each = local.names }
resource "null_resource" "m" { for_each = local.m }
resource "null_resource" "l" { count = local.n2 }
data "null_data_source" "d" {}
"#,
        );
        let k: Vec<_> = d.instances.keys().cloned().collect();
        assert_eq!(
            k,
            [
                "null_resource.c[0]",
                "null_resource.c[1]",
                "null_resource.l[0]",
                "null_resource.l[1]",
                "null_resource.l[2]",
                "null_resource.l[3]",
                "null_resource.m[\"x\"]",
                "null_resource.m[\"y\"]",
                "null_resource.r[0]",
                "null_resource.r[1]",
                "null_resource.r[2]",
                "null_resource.s[\"a\"]",
                "null_resource.s[\"b\"]",
            ]
        );
        assert!(d.unknown.is_empty(), "{:?}", d.unknown);
    }

    #[test]
    fn unknown_is_listed_never_guessed() {
        let d = desired(
            "variable \"n\" {}\nresource \"null_resource\" \"a\" {\n  count = var.n\n}\nresource \"null_resource\" \"b\" {\n  for_each = null_resource.a[*].id\n}\n",
        );
        assert!(d.instances.is_empty());
        assert_eq!(d.unknown.len(), 2);
        assert_eq!(d.unknown[0].address, "null_resource.a");
        assert_eq!(d.unknown[0].at, "t.tf:2:1");
        assert!(
            d.unknown[0].reason.contains("var.n"),
            "{}",
            d.unknown[0].reason
        );
    }

    #[test]
    fn attributes_are_evaluated_or_unknown() {
        let d = desired(
            "variable \"x\" {\n  default = \"v\"\n}\nresource \"x\" \"y\" {\n  a = 1\n  b = \"s\"\n  c = { k = \"v\" }\n  d = var.x\n  e = \"${var.x}-e\"\n  provider = x.y\n  depends_on = []\n  g = [1, \"2\"]\n  lifecycle {\n    ignore_changes = []\n  }\n}\nresource \"x\" \"z\" {\n  f = upper(\"a\")\n}\n",
        );
        let i = &d.instances["x.y"];
        let keys: Vec<_> = i.attrs.keys().cloned().collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e", "g"]);
        assert_eq!(i.attrs["e"], "v-e");
        assert_eq!(
            i.types["g"],
            serde_json::json!(["tuple", ["number", "string"]])
        );
        // A function tfops does not have: unknown with the reason, never in sync.
        assert!(!d.instances.contains_key("x.z"));
        assert_eq!(d.unknown.len(), 1, "{:?}", d.unknown);
        assert_eq!(d.unknown[0].address, "x.z");
        assert!(
            d.unknown[0].reason.contains("upper"),
            "{}",
            d.unknown[0].reason
        );
    }

    #[test]
    fn tfvars_override_defaults_and_reasons_are_plain() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("terraform.tfvars"),
            "n = 3\nm = upper(\"x\")\n",
        )
        .unwrap();
        std::fs::write(d.path().join("b.auto.tfvars.json"), "{\"n\": 2}").unwrap();
        let tfvars = load_tfvars(d.path(), "iac").unwrap();
        let text = "variable \"n\" {\n  default = 5\n}\nvariable \"m\" {\n  default = 1\n}\nresource \"a\" \"n\" {\n  count = var.n\n}\nresource \"a\" \"m\" {\n  count = var.m\n}\nresource \"a\" \"r\" {\n  count = length(aws_instance.x.ids)\n}\n";
        let d = expand_with(vec![parse_file(text, "t.tf").unwrap()], tfvars).unwrap();
        assert!(d.instances.contains_key("a.n[1]") && !d.instances.contains_key("a.n[2]"));
        assert_eq!(d.unknown.len(), 2, "{:?}", d.unknown);
        assert!(
            d.unknown[0].reason.contains("var.m has no literal default"),
            "{}",
            d.unknown[0].reason
        );
        assert!(
            d.unknown[1]
                .reason
                .contains("aws_instance.x, known only after apply"),
            "{}",
            d.unknown[1].reason
        );
    }

    /// HCL that Terraform accepts and unpatched hcl-edit 0.10 refused (vendor/hcl-edit): values
    /// as `terraform console` gives them (`{ "k" = 2 }`, `{ "a" = 1 }`).
    #[test]
    fn hcl_terraform_accepts_is_read() {
        let text = "resource \"terraform_data\" \"a\" {\n  input = { k = 1, k = 2 }\n}\nresource \"terraform_data\" \"b\" {\n  input = { for x in [\"a\"] : x => x == \"a\"\n    ? 1\n    : 2 }\n}\n";
        let d = desired(text);
        assert_eq!(
            d.instances["terraform_data.a"].attrs["input"],
            serde_json::json!({"k": 2})
        );
        assert_eq!(
            d.instances["terraform_data.b"].attrs["input"],
            serde_json::json!({"a": 1})
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let e = parse_file("resource \"a\" \"b\" {\n  x = \n}\n", "iac/main.tf").unwrap_err();
        let s = e.to_string();
        assert!(
            s.starts_with("iac/main.tf:3:1") || s.starts_with("iac/main.tf:2:"),
            "{s}"
        );
    }

    #[test]
    fn duplicates_are_errors() {
        let a = parse_file("resource \"a\" \"b\" {}\n", "a.tf").unwrap();
        let b = parse_file("\nresource \"a\" \"b\" {}\n", "b.tf").unwrap();
        let e = expand(vec![a, b]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "b.tf:2:1: a.b is declared twice (first at a.tf:1:1)"
        );
    }

    #[test]
    fn moved_blocks() {
        let d = desired("moved {\n  from = null_resource.a\n  to   = null_resource.b[0]\n}\n");
        assert_eq!(
            d.moved,
            [Moved {
                from: "null_resource.a".into(),
                to: "null_resource.b[0]".into()
            }]
        );
    }
}
