//! The desired side: what the `*.tf` files of one module declare, as instance addresses.
//!
//! Each file is parsed with hcl-edit (the parser hcl-rs itself uses, re-exported as
//! `hcl::edit`), keeping spans so that errors and unknowns name `file:line:column`; the few
//! expressions that matter are converted to hcl-rs expressions and evaluated with hcl-rs.
//! `count` and `for_each` are expanded when their value is known offline: literals, the
//! Terraform functions registered here (`toset`, `tomap`, `tolist`, `range`, `length`, `keys`,
//! `values`, `merge`, `concat`), literal `variable` defaults and `locals`. Anything else (a
//! resource attribute, a variable without a default, a data source) goes to `unknown` with the
//! reason, never guessed. Child modules are not read: their addresses are listed as unknown.
//!
//! Only attributes written with a literal value are kept for comparison; meta-arguments and
//! nested blocks (lifecycle, provisioner, dynamic) never are.

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

/// A `resource` or `data` block as written.
#[derive(Debug, Clone)]
pub struct Declared {
    pub data: bool,
    pub rtype: String,
    pub name: String,
    /// `file:line:column` of the block.
    pub at: String,
    count: Option<(hcl::Expression, String)>,
    for_each: Option<(hcl::Expression, String)>,
    /// Attributes with a literal value.
    pub attrs: BTreeMap<String, Value>,
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

/// What one `.tf` file declares.
#[derive(Debug, Clone, Default)]
pub struct FileModel {
    pub resources: Vec<Declared>,
    variables: Vec<(String, Option<hcl::Expression>)>,
    locals: Vec<(String, hcl::Expression)>,
    pub moved: Vec<Moved>,
    /// `module "name"` blocks, with their position.
    pub modules: Vec<(String, String)>,
}

/// Something whose instances cannot be known offline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unknown {
    /// The resource (`type.name`) or module (`module.name`) whose instances are unknown.
    pub address: String,
    pub reason: String,
    /// `file:line:column` of its block.
    pub at: String,
}

/// One desired instance.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredInstance {
    pub data: bool,
    pub rtype: String,
    /// Attributes with a literal value.
    pub attrs: BTreeMap<String, Value>,
}

/// The whole module's desired instances.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    pub instances: BTreeMap<String, DesiredInstance>,
    pub unknown: Vec<Unknown>,
    pub moved: Vec<Moved>,
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
    let empty = EvalContext::new();
    let mut out = FileModel::default();
    let at = |span: Option<std::ops::Range<usize>>| {
        let (l, c) = lines.position(span.map(|r| r.start).unwrap_or(0));
        format!("{file}:{l}:{c}")
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
                    &empty,
                ));
            }
            "variable" => {
                if let [n] = b.labels.as_slice() {
                    let default = b
                        .body
                        .get_attribute("default")
                        .map(|a| hcl::Expression::from(a.value.clone()));
                    out.variables.push((n.as_str().to_string(), default));
                }
            }
            "locals" => {
                for a in b.body.attributes() {
                    out.locals.push((
                        a.key.as_str().to_string(),
                        hcl::Expression::from(a.value.clone()),
                    ));
                }
            }
            "moved" => {
                let get = |k: &str| {
                    b.body
                        .get_attribute(k)
                        .map(|a| a.value.to_string().split_whitespace().collect::<String>())
                };
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

fn declared(
    b: &Block,
    data: bool,
    rtype: &str,
    name: &str,
    at: String,
    empty: &EvalContext,
) -> Declared {
    let mut d = Declared {
        data,
        rtype: rtype.to_string(),
        name: name.to_string(),
        at,
        count: None,
        for_each: None,
        attrs: BTreeMap::new(),
    };
    for a in b.body.attributes() {
        let key = a.key.as_str();
        let text = || a.value.to_string().trim().to_string();
        match key {
            "count" => d.count = Some((hcl::Expression::from(a.value.clone()), text())),
            "for_each" => d.for_each = Some((hcl::Expression::from(a.value.clone()), text())),
            k if META.contains(&k) => {}
            _ => {
                if let Some(v) = literal(&a.value, empty) {
                    d.attrs.insert(key.to_string(), v);
                }
            }
        }
    }
    d
}

/// The value of an expression that needs no variable and no function, as JSON; `None`
/// otherwise. Nulls count as "not set" and are not compared.
fn literal(e: &hcl_edit::expr::Expression, empty: &EvalContext) -> Option<Value> {
    use hcl_edit::expr::Expression as E;
    // Fast paths for the common literal forms.
    match e {
        E::String(s) => return Some(Value::String(s.value().to_string())),
        E::Bool(b) => return Some(Value::Bool(*b.value())),
        E::Null(_) => return None,
        E::Variable(_) | E::Traversal(_) | E::FuncCall(_) | E::ForExpr(_) | E::Conditional(_) => {
            return None
        }
        _ => {}
    }
    if let Some(direct) = direct_literal(e) {
        return direct;
    }
    let v = hcl::Expression::from(e.clone())
        .evaluate_guarded(empty)
        .ok()?;
    if v.is_null() {
        return None;
    }
    serde_json::to_value(v).ok()
}

/// Literal objects, arrays and primitives straight to JSON, without converting and
/// evaluating (the common case, and most of the parse cost on large modules). `None` when the
/// expression needs evaluation; `Some(None)` for a null (not compared).
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
                out.insert(key, direct_literal(v.expr())?.unwrap_or(Value::Null));
            }
            Value::Object(out)
        }
        _ => return None,
    }))
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

/// Expands the module's files (in file order) into desired instances.
///
/// # Errors
/// [`DriftError::Duplicate`] when a resource is declared twice.
pub fn expand(files: Vec<FileModel>) -> Result<Desired, DriftError> {
    expand_with(files, (hcl::Map::new(), Vec::new()))
}

/// As [`expand`], with variable values from `terraform.tfvars` / `*.auto.tfvars`
/// ([`load_tfvars`]) taking precedence over defaults, as Terraform does.
///
/// # Errors
/// As [`expand`].
pub fn expand_with(files: Vec<FileModel>, tfvars: Tfvars) -> Result<Desired, DriftError> {
    let funcs = functions();
    // Variables: literal defaults, then the tfvars files.
    let mut vars = hcl::Map::new();
    let mut locals_src = Vec::new();
    let mut out = Desired::default();
    let mut declared: Vec<Declared> = Vec::new();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for f in files {
        for (name, default) in f.variables {
            if let Some(v) = default.and_then(|e| e.evaluate_guarded(&funcs).ok()) {
                vars.insert(name, v);
            }
        }
        locals_src.extend(f.locals);
        out.moved.extend(f.moved);
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
    vars.extend(tfvars.0);
    for name in tfvars.1 {
        vars.shift_remove(&name);
    }
    // Locals: evaluate until no more become known (they may refer to each other).
    let mut locals = hcl::Map::new();
    let mut pending = locals_src;
    loop {
        let mut ctx = functions();
        ctx.declare_var("var", HclValue::Object(vars.clone()));
        ctx.declare_var("local", HclValue::Object(locals.clone()));
        let before = pending.len();
        pending.retain(|(name, e)| match e.evaluate_guarded(&ctx) {
            Ok(v) => {
                locals.insert(name.clone(), v);
                false
            }
            Err(_) => true,
        });
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    let known_vars: BTreeSet<String> = vars.keys().cloned().collect();
    let known_locals: BTreeSet<String> = locals.keys().cloned().collect();
    let why = |text: &str, err: &hcl::eval::Error| {
        why_unknown(text, &known_vars, &known_locals)
            .unwrap_or_else(|| first_line(&err.to_string()))
    };
    let mut ctx = functions();
    ctx.declare_var("var", HclValue::Object(vars));
    ctx.declare_var("local", HclValue::Object(locals));
    for d in declared {
        let base = d.address();
        let at = d.at.clone();
        let unknown = |reason: String| Unknown {
            address: base.clone(),
            reason,
            at: at.clone(),
        };
        let keys: Vec<String> = match (&d.count, &d.for_each) {
            (Some(_), Some(_)) => {
                out.unknown
                    .push(unknown("both `count` and `for_each` are set".into()));
                continue;
            }
            (Some((e, text)), None) => match e.evaluate_guarded(&ctx) {
                Ok(v) => match v.as_f64() {
                    // As `range`: past a million instances, listed as unknown rather than
                    // expanded (a literal `count = 22222222226` aborted on the allocation;
                    // found by fuzzing).
                    Some(n) if n > 1_000_000.0 && n.fract() == 0.0 => {
                        out.unknown.push(unknown(format!(
                            "count = {text} is more than 1000000 instances; not expanded"
                        )));
                        continue;
                    }
                    Some(n) if n >= 0.0 && n.fract() == 0.0 => {
                        (0..n as u64).map(|i| format!("[{i}]")).collect()
                    }
                    _ => {
                        out.unknown
                            .push(unknown(format!("count = {text} is not a whole number ≥ 0")));
                        continue;
                    }
                },
                Err(e) => {
                    out.unknown.push(unknown(format!(
                        "count = {text} cannot be known offline: {}",
                        why(text, &e)
                    )));
                    continue;
                }
            },
            (None, Some((e, text))) => match e.evaluate_guarded(&ctx) {
                Ok(HclValue::Object(o)) => o.keys().map(|k| format!("[{}]", quote(k))).collect(),
                Ok(HclValue::Array(a)) if a.iter().all(HclValue::is_string) => a
                    .iter()
                    .filter_map(HclValue::as_str)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .map(|k| format!("[{}]", quote(k)))
                    .collect(),
                Ok(_) => {
                    out.unknown.push(unknown(format!(
                        "for_each = {text} is not a map or a set of strings"
                    )));
                    continue;
                }
                Err(e) => {
                    out.unknown.push(unknown(format!(
                        "for_each = {text} cannot be known offline: {}",
                        why(text, &e)
                    )));
                    continue;
                }
            },
            (None, None) => vec![String::new()],
        };
        let n = keys.len();
        let mut attrs = Some(d.attrs);
        for (i, k) in keys.into_iter().enumerate() {
            // The last instance takes the attributes; the others get copies.
            let attrs = if i + 1 == n {
                attrs.take().unwrap_or_default()
            } else {
                attrs.clone().unwrap_or_default()
            };
            out.instances.insert(
                format!("{base}{k}"),
                DesiredInstance {
                    data: d.data,
                    rtype: d.rtype.clone(),
                    attrs,
                },
            );
        }
    }
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
                "data.null_data_source.d",
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
    fn literal_attributes_only() {
        let d = desired(
            "resource \"x\" \"y\" {\n  a = 1\n  b = \"s\"\n  c = { k = \"v\" }\n  d = var.x\n  e = \"${var.x}\"\n  f = upper(\"a\")\n  provider = x.y\n  depends_on = []\n  g = [1, \"2\"]\n  lifecycle {\n    ignore_changes = []\n  }\n}\n",
        );
        let i = &d.instances["x.y"];
        let keys: Vec<_> = i.attrs.keys().cloned().collect();
        assert_eq!(keys, ["a", "b", "c", "g"]);
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
