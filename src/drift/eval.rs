//! Evaluation of HCL expressions and templates (parsed by hcl-edit) with Terraform's
//! semantics, offline: what Terraform would decide without asking a provider.
//!
//! - [`Scope`] holds what an expression can refer to: `var.*`, `local.*`, `count.index`,
//!   `each.key`/`each.value`, `path.module`/`path.root`/`path.cwd`, `terraform.workspace`,
//!   `module.<name>.<output>`, and resource values the caller knows.
//! - [`eval`] returns `Ok(Value::Unknown)` for what cannot be known offline (a resource
//!   attribute, a data source, a variable with no value, an impure function such as
//!   `timestamp()`), with the reason; `Err` where Terraform itself would fail (a type error,
//!   a bad function call), with Terraform's reason.
//! - Operators convert as Terraform does (`"1" + 1` is `2`, `1 == "1"` is false), conditionals
//!   unify their two results' types, `for` expressions make tuples and objects (grouping with
//!   `...`), splats make tuples, templates support `%{if}` / `%{for}` and `~` strip markers.
//! - [`parse_type_constraint`] reads a variable's `type` (`list(string)`,
//!   `object({ a = optional(string, "x") })`, `any`) and [`convert`] converts a value to it.
//!
//! Functions are in [`super::functions`]; `try` and `can` are here because they see their
//! arguments unevaluated.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl_edit::expr::{
    BinaryOperator, Expression, ForExpr, ObjectKey, TraversalOperator, UnaryOperator,
};
use hcl_edit::template::{Directive, Element, Template};

use super::functions;
use super::value::{self, unify, Number, Type, Value};

/// Why an expression cannot be evaluated: Terraform would fail on it too.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// A type or value error in the expression itself.
    #[error("{0}")]
    Invalid(String),
    /// A function call failed.
    #[error("call to function {name:?} failed: {message}")]
    Function {
        /// The function's name.
        name: String,
        /// Terraform's reason.
        message: String,
    },
    /// The expression cannot be parsed.
    #[error("cannot parse expression: {0}")]
    Parse(String),
}

fn invalid(msg: impl Into<String>) -> EvalError {
    EvalError::Invalid(msg.into())
}

/// What expressions of one module instance can refer to.
#[derive(Debug, Clone)]
pub struct Scope {
    module_dir: PathBuf,
    root_dir: PathBuf,
    cwd: PathBuf,
    workspace: String,
    vars: BTreeMap<String, Value>,
    locals: BTreeMap<String, Value>,
    count_index: Option<Value>,
    each: Option<(Value, Value)>,
    modules: BTreeMap<String, Value>,
    resources: BTreeMap<String, Value>,
    /// Other names in scope (a `dynamic` block's iterator).
    binds: BTreeMap<String, Value>,
}

impl Scope {
    /// An empty scope for the module in `module_dir` (also the root and the working folder
    /// until set otherwise); workspace `default`.
    pub fn new(module_dir: &Path) -> Scope {
        Scope {
            module_dir: module_dir.to_path_buf(),
            root_dir: module_dir.to_path_buf(),
            cwd: module_dir.to_path_buf(),
            workspace: "default".into(),
            vars: BTreeMap::new(),
            locals: BTreeMap::new(),
            count_index: None,
            each: None,
            modules: BTreeMap::new(),
            resources: BTreeMap::new(),
            binds: BTreeMap::new(),
        }
    }

    /// The folder of the module being evaluated (`path.module`; file functions read there).
    pub fn module_dir(&self) -> &Path {
        &self.module_dir
    }

    /// `path.cwd`: where relative paths of the file functions resolve.
    pub fn cwd(&self) -> &Path {
        &self.cwd
    }

    /// Sets `path.root` and `path.cwd`.
    pub fn set_root(&mut self, root: &Path, cwd: &Path) {
        self.root_dir = root.to_path_buf();
        self.cwd = cwd.to_path_buf();
    }

    /// Sets `terraform.workspace`.
    pub fn set_workspace(&mut self, name: &str) {
        self.workspace = name.to_string();
    }

    /// Sets `var.<name>` (already converted to the variable's type).
    pub fn set_var(&mut self, name: &str, v: Value) {
        self.vars.insert(name.to_string(), v);
    }

    /// Sets `local.<name>`.
    pub fn set_local(&mut self, name: &str, v: Value) {
        self.locals.insert(name.to_string(), v);
    }

    /// Sets `count.index` (`None` clears it).
    pub fn set_count_index(&mut self, i: Option<u64>) {
        self.count_index = i.map(|i| Value::int(i128::from(i)));
    }

    /// Sets `each.key` and `each.value` (`None` clears them).
    pub fn set_each(&mut self, each: Option<(Value, Value)>) {
        self.each = each;
    }

    /// Sets `module.<name>` to an object of its outputs (or an unknown with the reason).
    pub fn set_module(&mut self, name: &str, outputs: Value) {
        self.modules.insert(name.to_string(), outputs);
    }

    /// Sets one output of `module.<name>`.
    pub fn set_module_output(&mut self, module: &str, output: &str, v: Value) {
        let e = self
            .modules
            .entry(module.to_string())
            .or_insert_with(|| Value::Object(BTreeMap::new()));
        if let Value::Object(m) = e {
            m.insert(output.to_string(), v);
        }
    }

    /// Binds a name (a `dynamic` block's iterator, as `{ key, value }`); `None` unbinds it.
    pub fn set_bind(&mut self, name: &str, v: Option<Value>) {
        match v {
            Some(v) => self.binds.insert(name.to_string(), v),
            None => self.binds.remove(name),
        };
    }

    /// Gives a resource's value (`type.name`, as an object, or a tuple/object of instances for
    /// count/for_each) where the caller knows it; otherwise references are unknown.
    pub fn set_resource(&mut self, type_dot_name: &str, v: Value) {
        self.resources.insert(type_dot_name.to_string(), v);
    }
}

/// Local names bound by `for` expressions and template `for` directives: a chain of frames,
/// innermost first, so that entering a loop copies nothing.
struct Cx<'a> {
    scope: &'a Scope,
    parent: Option<&'a Cx<'a>>,
    binds: Vec<(String, Value)>,
    /// In `templatefile`: only these names are visible (no var./local.).
    template_only: bool,
}

impl<'a> Cx<'a> {
    fn lookup(&self, name: &str) -> Option<&Value> {
        self.binds
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .or_else(|| match self.parent {
                Some(p) => p.lookup(name),
                None if self.template_only => None,
                None => self.scope.binds.get(name),
            })
    }

    fn with<'b>(&'b self, binds: Vec<(String, Value)>) -> Cx<'b>
    where
        'a: 'b,
    {
        Cx {
            scope: self.scope,
            parent: Some(self),
            binds,
            template_only: self.template_only,
        }
    }
}

/// Evaluates an expression.
///
/// # Errors
/// Where Terraform would report an error for this expression.
pub fn eval(expr: &Expression, scope: &Scope) -> Result<Value, EvalError> {
    let cx = Cx {
        scope,
        parent: None,
        binds: Vec::new(),
        template_only: false,
    };
    ev(expr, &cx)
}

/// Parses and evaluates an expression's text (tests and command-line values).
///
/// # Errors
/// When the text does not parse or Terraform would fail on it.
pub fn eval_str(text: &str, scope: &Scope) -> Result<Value, EvalError> {
    let e = hcl_edit::parser::parse_expr(text).map_err(|e| EvalError::Parse(e.to_string()))?;
    eval(&e, scope)
}

/// Renders a template file's text with `vars` only (what `templatefile` does).
///
/// # Errors
/// When the template does not parse or an expression in it fails.
pub fn render_template(
    text: &str,
    vars: &BTreeMap<String, Value>,
    scope: &Scope,
) -> Result<Value, EvalError> {
    let t = hcl_edit::parser::parse_template(text).map_err(|e| EvalError::Parse(e.to_string()))?;
    let cx = Cx {
        scope,
        parent: None,
        binds: vars.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        template_only: true,
    };
    template(&t, &cx, false, false)
}

fn ev(expr: &Expression, cx: &Cx) -> Result<Value, EvalError> {
    match expr {
        Expression::Null(_) => Ok(Value::Null),
        Expression::Bool(b) => Ok(Value::Bool(*b.value())),
        Expression::Number(n) => number_literal(n),
        Expression::String(s) => Ok(Value::String(s.value().to_string())),
        Expression::Array(a) => {
            let mut out = Vec::with_capacity(a.len());
            for e in a.iter() {
                out.push(ev(e, cx)?);
            }
            Ok(Value::Tuple(out))
        }
        Expression::Object(o) => {
            let mut out = BTreeMap::new();
            let mut unknown = None;
            for (k, v) in o.iter() {
                let key = match k {
                    ObjectKey::Ident(id) => Value::String(id.value().as_str().to_string()),
                    ObjectKey::Expression(Expression::Variable(id)) => {
                        Value::String(id.value().as_str().to_string())
                    }
                    ObjectKey::Expression(e) => ev(e, cx)?,
                };
                let key = match key {
                    Value::Unknown(u) => {
                        unknown.get_or_insert(u);
                        continue;
                    }
                    Value::Null => return Err(invalid("object key is null")),
                    k => value::convert(k, &Type::String)
                        .map_err(|e| invalid(format!("invalid object key: {e}")))?,
                };
                let Value::String(key) = key else {
                    return Err(invalid("invalid object key"));
                };
                out.insert(key, ev(v.expr(), cx)?);
            }
            if let Some(u) = unknown {
                return Ok(Value::Unknown(u));
            }
            Ok(Value::Object(out))
        }
        Expression::StringTemplate(t) => template(t, cx, false, false),
        Expression::HeredocTemplate(h) => template(&h.template, cx, false, false),
        Expression::Parenthesis(p) => ev(p.inner(), cx),
        Expression::Variable(id) => traversal(id.value().as_str(), &[], cx),
        Expression::Conditional(c) => {
            let cond = ev(&c.cond_expr, cx)?;
            let t = ev(&c.true_expr, cx);
            let f = ev(&c.false_expr, cx);
            // An unknown condition makes the result unknown; its own reason (what it waits
            // for) says more than a branch's, so it comes first.
            let cond_unknown = cond.first_unknown().cloned();
            let cond = match to_bool(cond, "condition")? {
                Some(b) => b,
                None => {
                    return Ok(match cond_unknown {
                        Some(u) => Value::Unknown(u),
                        None => first_unknown_of(&[&t, &f], "the condition is not known"),
                    })
                }
            };
            let (sel, other) = if cond { (t, f) } else { (f, t) };
            let sel = sel?;
            if let Ok(other) = other {
                if let Some(ty) = unify(&[sel.clone(), other]) {
                    if let Ok(v) = value::convert(sel.clone(), &ty) {
                        return Ok(v);
                    }
                }
            }
            Ok(sel)
        }
        Expression::FuncCall(f) => call(f, cx),
        Expression::Traversal(t) => match &t.expr {
            Expression::Variable(id) => traversal(id.value().as_str(), &t.operators, cx),
            other => {
                let base = ev(other, cx)?;
                apply_ops(base, &t.operators, cx)
            }
        },
        Expression::UnaryOp(u) => {
            let v = ev(&u.expr, cx)?;
            match u.operator.value() {
                UnaryOperator::Not => Ok(match to_bool(v.clone(), "operand")? {
                    Some(b) => Value::Bool(!b),
                    None => v,
                }),
                UnaryOperator::Neg => Ok(match to_num(v.clone(), "operand")? {
                    Some(n) => Value::Number(n.negate()),
                    None => v,
                }),
            }
        }
        Expression::BinaryOp(b) => {
            let l = ev(&b.lhs_expr, cx)?;
            let r = ev(&b.rhs_expr, cx)?;
            binary(*b.operator.value(), l, r)
        }
        Expression::ForExpr(f) => for_expr(f, cx),
    }
}

fn number_literal(n: &hcl_edit::Formatted<hcl_edit::Number>) -> Result<Value, EvalError> {
    // the source text keeps digits a u64/f64 would lose
    if let Some(repr) = n.as_repr() {
        if let Some(x) = Number::parse(repr.trim()) {
            return Ok(Value::Number(x));
        }
    }
    let v = n.value();
    if let Some(i) = v.as_i64() {
        return Ok(Value::int(i128::from(i)));
    }
    if let Some(u) = v.as_u64() {
        return Ok(Value::int(i128::from(u)));
    }
    v.as_f64()
        .and_then(Number::from_f64)
        .map(Value::Number)
        .ok_or_else(|| invalid("invalid number"))
}

fn first_unknown_of(rs: &[&Result<Value, EvalError>], reason: &str) -> Value {
    for v in rs.iter().copied().flatten() {
        if let Some(u) = v.first_unknown() {
            return Value::Unknown(u.clone());
        }
    }
    Value::unknown(reason)
}

/// `Some(bool)`, `None` for unknown; errors for null and non-bools.
fn to_bool(v: Value, what: &str) -> Result<Option<bool>, EvalError> {
    match v {
        Value::Unknown(_) => Ok(None),
        Value::Null => Err(invalid(format!("the {what} is null; a bool is required"))),
        v => match value::convert(v, &Type::Bool) {
            Ok(Value::Bool(b)) => Ok(Some(b)),
            Ok(_) => Err(invalid(format!("a bool is required for the {what}"))),
            Err(e) => Err(invalid(format!("invalid {what}: {e}"))),
        },
    }
}

fn to_num(v: Value, what: &str) -> Result<Option<Number>, EvalError> {
    match v {
        Value::Unknown(_) => Ok(None),
        Value::Null => Err(invalid(format!("the {what} is null; a number is required"))),
        v => match value::convert(v, &Type::Number) {
            Ok(Value::Number(n)) => Ok(Some(n)),
            Ok(_) => Err(invalid(format!("a number is required for the {what}"))),
            Err(e) => Err(invalid(format!("invalid {what}: {e}"))),
        },
    }
}

fn binary(op: BinaryOperator, l: Value, r: Value) -> Result<Value, EvalError> {
    use BinaryOperator as B;
    match op {
        B::Eq | B::NotEq => {
            // Against null, a value that is itself known (a map with unknowns inside) is
            // known not to be null: `var.target_groups != null` is true, as Terraform has it.
            let null_vs_known =
                (l.is_null() && !r.is_unknown()) || (r.is_null() && !l.is_unknown());
            if null_vs_known {
                let eq = l.is_null() && r.is_null();
                return Ok(Value::Bool(if op == B::Eq { eq } else { !eq }));
            }
            if let Some(u) = l.first_unknown().or(r.first_unknown()) {
                return Ok(Value::Unknown(u.clone()));
            }
            let eq = values_equal(&l, &r);
            Ok(Value::Bool(if op == B::Eq { eq } else { !eq }))
        }
        B::And | B::Or => {
            let a = to_bool(l.clone(), "left operand")?;
            let b = to_bool(r.clone(), "right operand")?;
            let short = op == B::Or; // the value that decides alone
            if a == Some(short) || b == Some(short) {
                return Ok(Value::Bool(short));
            }
            match (a, b) {
                (Some(x), Some(y)) => Ok(Value::Bool(if short { x || y } else { x && y })),
                _ => Ok(if l.is_unknown() { l } else { r }),
            }
        }
        _ => {
            let a = to_num(l.clone(), "left operand")?;
            let b = to_num(r.clone(), "right operand")?;
            let (Some(a), Some(b)) = (a, b) else {
                return Ok(if l.is_unknown() { l } else { r });
            };
            let overflow = || invalid("the result of the arithmetic is not a finite number");
            Ok(match op {
                B::Plus => Value::Number(a.checked_add(b).ok_or_else(overflow)?),
                B::Minus => Value::Number(a.checked_sub(b).ok_or_else(overflow)?),
                B::Mul => Value::Number(a.checked_mul(b).ok_or_else(overflow)?),
                B::Div => Value::Number(a.checked_div(b).ok_or_else(|| invalid("divide by zero"))?),
                B::Mod => Value::Number(a.checked_rem(b).ok_or_else(|| invalid("divide by zero"))?),
                B::Less => Value::Bool(a < b),
                B::LessEq => Value::Bool(a <= b),
                B::Greater => Value::Bool(a > b),
                B::GreaterEq => Value::Bool(a >= b),
                B::Eq | B::NotEq | B::And | B::Or => unreachable!(),
            })
        }
    }
}

/// Terraform's `==` on known values: same type and same value. Null equals only null.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Null, _) | (_, Value::Null) => false,
        _ => a.ty() == b.ty() && a == b,
    }
}

fn template(t: &Template, cx: &Cx, trim_first: bool, trim_last: bool) -> Result<Value, EvalError> {
    let els: Vec<&Element> = t.iter().collect();
    // "${x}" alone is x itself, with its type (HCL's template unwrapping)
    if let [Element::Interpolation(ip)] = els.as_slice() {
        if !trim_first && !trim_last {
            return ev(&ip.expr, cx);
        }
    }
    let mut out = String::new();
    let mut unknown = None;
    for (i, el) in els.iter().enumerate() {
        match el {
            Element::Literal(s) => {
                let mut s: &str = s.value();
                let left = (i == 0 && trim_first) || (i > 0 && strips_after(els[i - 1]));
                let right = (i + 1 == els.len() && trim_last)
                    || (i + 1 < els.len() && strips_before(els[i + 1]));
                if left {
                    s = s.trim_start();
                }
                if right {
                    s = s.trim_end();
                }
                out.push_str(s);
            }
            Element::Interpolation(ip) => {
                let v = ev(&ip.expr, cx)?;
                match interp_string(v)? {
                    Ok(s) => out.push_str(&s),
                    Err(u) => {
                        unknown.get_or_insert(u);
                    }
                }
            }
            Element::Directive(d) => match d.as_ref() {
                Directive::If(d) => {
                    let c = ev(&d.if_expr.cond_expr, cx)?;
                    match to_bool(c.clone(), "condition")? {
                        None => {
                            unknown.get_or_insert(c);
                        }
                        Some(cond) => {
                            let else_strip = d.else_expr.as_ref().map(|e| e.strip);
                            let r = if cond {
                                let end = else_strip.unwrap_or(d.endif_expr.strip);
                                template(
                                    &d.if_expr.template,
                                    cx,
                                    d.if_expr.strip.strip_end(),
                                    end.strip_start(),
                                )?
                            } else if let Some(e) = &d.else_expr {
                                template(
                                    &e.template,
                                    cx,
                                    e.strip.strip_end(),
                                    d.endif_expr.strip.strip_start(),
                                )?
                            } else {
                                Value::String(String::new())
                            };
                            push_rendered(&mut out, &mut unknown, r);
                        }
                    }
                }
                Directive::For(d) => {
                    let f = &d.for_expr;
                    let coll = ev(&f.collection_expr, cx)?;
                    match iterate(coll)? {
                        Err(u) => {
                            unknown.get_or_insert(u);
                        }
                        Ok(items) => {
                            for (k, v) in items {
                                let mut binds = vec![(f.value_var.value().as_str().to_string(), v)];
                                if let Some(kv) = &f.key_var {
                                    binds.push((kv.value().as_str().to_string(), k));
                                }
                                let r = template(
                                    &f.template,
                                    &cx.with(binds),
                                    f.strip.strip_end(),
                                    d.endfor_expr.strip.strip_start(),
                                )?;
                                push_rendered(&mut out, &mut unknown, r);
                            }
                        }
                    }
                }
            },
        }
    }
    match unknown {
        Some(u) => Ok(u),
        None => Ok(Value::String(out)),
    }
}

fn push_rendered(out: &mut String, unknown: &mut Option<Value>, r: Value) {
    match r {
        Value::String(s) => out.push_str(&s),
        other => {
            unknown.get_or_insert(other);
        }
    }
}

fn strips_after(el: &Element) -> bool {
    match el {
        Element::Interpolation(i) => i.strip.strip_end(),
        Element::Directive(d) => match d.as_ref() {
            Directive::If(d) => d.endif_expr.strip.strip_end(),
            Directive::For(d) => d.endfor_expr.strip.strip_end(),
        },
        Element::Literal(_) => false,
    }
}

fn strips_before(el: &Element) -> bool {
    match el {
        Element::Interpolation(i) => i.strip.strip_start(),
        Element::Directive(d) => match d.as_ref() {
            Directive::If(d) => d.if_expr.strip.strip_start(),
            Directive::For(d) => d.for_expr.strip.strip_start(),
        },
        Element::Literal(_) => false,
    }
}

/// A value inside `${…}`: `Ok(Ok(text))`, `Ok(Err(unknown))`, or Terraform's error.
fn interp_string(v: Value) -> Result<Result<String, Value>, EvalError> {
    match v {
        Value::Unknown(_) => Ok(Err(v)),
        Value::Null => Err(invalid(
            "Invalid template interpolation value: the expression result is null",
        )),
        v => match value::convert(v, &Type::String) {
            Ok(Value::String(s)) => Ok(Ok(s)),
            _ => Err(invalid(
                "Invalid template interpolation value: cannot include the given value in a string template: string required",
            )),
        },
    }
}

type Items = Vec<(Value, Value)>;

/// The (key, value) pairs a `for` iterates; `Ok(Err(unknown))` when the collection is unknown.
fn iterate(coll: Value) -> Result<Result<Items, Value>, EvalError> {
    Ok(Ok(match coll {
        Value::Unknown(_) => return Ok(Err(coll)),
        Value::Null => {
            return Err(invalid(
                "a null value cannot be used as the collection in a 'for' expression",
            ))
        }
        Value::List(v) | Value::Tuple(v) => v
            .into_iter()
            .enumerate()
            .map(|(i, x)| (Value::int(i as i128), x))
            .collect(),
        Value::Set(v) => v.into_iter().map(|x| (x.clone(), x)).collect(),
        Value::Map(m) | Value::Object(m) => {
            m.into_iter().map(|(k, x)| (Value::String(k), x)).collect()
        }
        other => {
            return Err(invalid(format!(
                "a {} value cannot be used as the collection in a 'for' expression",
                other.kind()
            )))
        }
    }))
}

fn for_expr(f: &ForExpr, cx: &Cx) -> Result<Value, EvalError> {
    let coll = ev(&f.intro.collection_expr, cx)?;
    let items = match iterate(coll)? {
        Ok(i) => i,
        Err(u) => return Ok(u),
    };
    let mut tuple = Vec::new();
    let mut obj: BTreeMap<String, Value> = BTreeMap::new();
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for (k, v) in items {
        let mut binds = vec![(f.intro.value_var.value().as_str().to_string(), v)];
        if let Some(kv) = &f.intro.key_var {
            binds.push((kv.value().as_str().to_string(), k));
        }
        let icx = cx.with(binds);
        if let Some(c) = &f.cond {
            let cv = ev(&c.expr, &icx)?;
            match to_bool(cv.clone(), "'for' condition")? {
                None => return Ok(cv),
                Some(false) => continue,
                Some(true) => {}
            }
        }
        let val = ev(&f.value_expr, &icx)?;
        match &f.key_expr {
            None => tuple.push(val),
            Some(ke) => {
                let key = ev(ke, &icx)?;
                let key = match key {
                    Value::Unknown(_) => return Ok(key),
                    Value::Null => return Err(invalid("key expression in 'for' is null")),
                    k => match value::convert(k, &Type::String) {
                        Ok(Value::String(s)) => s,
                        _ => return Err(invalid("key expression in 'for' must be a string")),
                    },
                };
                if f.grouping {
                    groups.entry(key).or_default().push(val);
                } else {
                    match obj.entry(key) {
                        std::collections::btree_map::Entry::Occupied(e) => {
                            return Err(invalid(format!(
                                "Duplicate object key: two different items produced the key {} in this 'for' expression; use the ellipsis (...) after the value expression to group them",
                                value::quote(e.key())
                            )))
                        }
                        std::collections::btree_map::Entry::Vacant(e) => {
                            e.insert(val);
                        }
                    }
                }
            }
        }
    }
    Ok(match &f.key_expr {
        None => Value::Tuple(tuple),
        Some(_) if f.grouping => Value::Object(
            groups
                .into_iter()
                .map(|(k, v)| (k, Value::Tuple(v)))
                .collect(),
        ),
        Some(_) => Value::Object(obj),
    })
}

fn op_text(op: &TraversalOperator) -> String {
    match op {
        TraversalOperator::GetAttr(id) => format!(".{}", id.value().as_str()),
        TraversalOperator::Index(Expression::Number(n)) => format!("[{}]", n.value()),
        TraversalOperator::Index(Expression::String(s)) => format!("[{}]", value::quote(s.value())),
        TraversalOperator::Index(_) => "[…]".into(),
        TraversalOperator::LegacyIndex(i) => format!("[{}]", i.value()),
        TraversalOperator::AttrSplat(_) => ".*".into(),
        TraversalOperator::FullSplat(_) => "[*]".into(),
    }
}

fn attr_name(op: Option<&hcl_edit::Decorated<TraversalOperator>>) -> Option<&str> {
    match op.map(|o| o.value()) {
        Some(TraversalOperator::GetAttr(id)) => Some(id.value().as_str()),
        _ => None,
    }
}

fn traversal(
    root: &str,
    ops: &[hcl_edit::Decorated<TraversalOperator>],
    cx: &Cx,
) -> Result<Value, EvalError> {
    if let Some(v) = cx.lookup(root) {
        return finish(v, ops, cx);
    }
    if cx.template_only {
        return Err(invalid(format!(
            "unknown variable {root:?}: templatefile sees only the variables passed to it"
        )));
    }
    let s = cx.scope;
    let text = || {
        let mut t = root.to_string();
        for op in ops {
            t.push_str(&op_text(op.value()));
        }
        t
    };
    let a1 = attr_name(ops.first());
    let (base, used) = match (root, a1) {
        ("var", Some(n)) => match s.vars.get(n) {
            Some(v) => return finish(v, &ops[1..], cx),
            None => (Value::unknown(format!("variable \"{n}\" has no value")), 1),
        },
        ("local", Some(n)) => match s.locals.get(n) {
            Some(v) => return finish(v, &ops[1..], cx),
            None => (Value::unknown(format!("local.{n} is not known")), 1),
        },
        ("count", Some("index")) => match &s.count_index {
            Some(v) => (v.clone(), 1),
            None => return Err(invalid("count.index is only valid where count is set")),
        },
        ("each", Some(w @ ("key" | "value"))) => match &s.each {
            Some((k, v)) => (if w == "key" { k.clone() } else { v.clone() }, 1),
            None => return Err(invalid("each is only valid where for_each is set")),
        },
        ("path", Some(w @ ("module" | "root" | "cwd"))) => {
            let p = match w {
                "module" => &s.module_dir,
                "root" => &s.root_dir,
                _ => &s.cwd,
            };
            (Value::String(p.to_string_lossy().into_owned()), 1)
        }
        ("terraform", Some("workspace")) => (Value::String(s.workspace.clone()), 1),
        ("module", Some(n)) => match s.modules.get(n) {
            Some(v) => return finish(v, &ops[1..], cx),
            None => (
                Value::unknown(format!("module.{n} is not known offline")),
                1,
            ),
        },
        ("data", Some(_)) => {
            return Ok(Value::unknown(format!(
                "{}: a data source is read only during plan",
                text()
            )))
        }
        ("self", _) => {
            return Ok(Value::unknown(format!(
                "{}: known only after apply",
                text()
            )))
        }
        ("var" | "local" | "count" | "each" | "path" | "terraform" | "module", _) => {
            return Err(invalid(format!("invalid reference: {}", text())))
        }
        (_, Some(n)) => match s.resources.get(&format!("{root}.{n}")) {
            Some(v) => return finish(v, &ops[1..], cx),
            None => {
                return Ok(Value::unknown(format!(
                    "known only after apply: {}",
                    text()
                )));
            }
        },
        (_, None) => return Err(invalid(format!("unknown variable {root:?}"))),
    };
    apply_ops(base, &ops[used..], cx)
}

/// Follows attribute and index steps by reference as far as they go, then copies only what
/// they reach: `var.big_map[each.key]` must not copy the whole map once per resource.
fn finish(
    base: &Value,
    ops: &[hcl_edit::Decorated<TraversalOperator>],
    cx: &Cx,
) -> Result<Value, EvalError> {
    let (v, used) = walk_ref(base, ops, cx)?;
    apply_ops(v.clone(), &ops[used..], cx)
}

/// How far attribute and index steps go by reference from `base`: the value reached and the
/// number of steps taken.
fn walk_ref<'v>(
    base: &'v Value,
    ops: &[hcl_edit::Decorated<TraversalOperator>],
    cx: &Cx,
) -> Result<(&'v Value, usize), EvalError> {
    let mut v = base;
    let mut used = 0;
    for op in ops {
        let next = match op.value() {
            TraversalOperator::GetAttr(id) => match v {
                Value::Object(m) | Value::Map(m) => m.get(id.value().as_str()),
                _ => None,
            },
            TraversalOperator::Index(e) => {
                let k = ev(e, cx)?;
                index_ref(v, &k)
            }
            TraversalOperator::LegacyIndex(n) => index_ref(v, &Value::int(i128::from(*n.value()))),
            _ => None,
        };
        match next {
            Some(n) => {
                v = n;
                used += 1;
            }
            None => break,
        }
    }
    Ok((v, used))
}

/// An expression's value, borrowed from the scope when it is a plain reference (`var.m`,
/// `local.x.y`, a `for` variable), else evaluated.
fn ev_ref<'c>(e: &Expression, cx: &'c Cx) -> Result<Cow<'c, Value>, EvalError> {
    let (root, ops): (&str, &[hcl_edit::Decorated<TraversalOperator>]) = match e {
        Expression::Variable(id) => (id.value().as_str(), &[]),
        Expression::Traversal(t) => match &t.expr {
            Expression::Variable(id) => (id.value().as_str(), &t.operators),
            _ => return Ok(Cow::Owned(ev(e, cx)?)),
        },
        _ => return Ok(Cow::Owned(ev(e, cx)?)),
    };
    let s: &'c Scope = cx.scope;
    let (base, rest) = if let Some(v) = cx.lookup(root) {
        (Some(v), ops)
    } else if cx.template_only || ops.is_empty() {
        (None, ops)
    } else {
        match (root, attr_name(ops.first())) {
            ("var", Some(n)) => (s.vars.get(n), &ops[1..]),
            ("local", Some(n)) => (s.locals.get(n), &ops[1..]),
            ("module", Some(n)) => (s.modules.get(n), &ops[1..]),
            ("count" | "each" | "path" | "terraform" | "data" | "self", _) => (None, ops),
            (_, Some(n)) => (s.resources.get(&format!("{root}.{n}")), &ops[1..]),
            _ => (None, ops),
        }
    };
    if let Some(b) = base {
        let (v, used) = walk_ref(b, rest, cx)?;
        if used == rest.len() {
            return Ok(Cow::Borrowed(v));
        }
    }
    Ok(Cow::Owned(ev(e, cx)?))
}

/// `coll[key]` by reference when it plainly exists; `None` leaves the error or conversion to
/// [`index`].
fn index_ref<'v>(v: &'v Value, k: &Value) -> Option<&'v Value> {
    match (v, k) {
        (Value::List(items) | Value::Tuple(items), Value::Number(n)) => {
            items.get(usize::try_from(n.to_i64()?).ok()?)
        }
        (Value::Map(m) | Value::Object(m), Value::String(s)) => m.get(s),
        _ => None,
    }
}

fn apply_ops(
    mut v: Value,
    ops: &[hcl_edit::Decorated<TraversalOperator>],
    cx: &Cx,
) -> Result<Value, EvalError> {
    for (i, op) in ops.iter().enumerate() {
        match op.value() {
            TraversalOperator::AttrSplat(_) | TraversalOperator::FullSplat(_) => {
                let rest = &ops[i + 1..];
                return match v {
                    Value::Unknown(_) => Ok(v),
                    Value::Null => Ok(Value::Tuple(vec![])),
                    Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
                        let mut out = Vec::with_capacity(items.len());
                        for it in items {
                            out.push(apply_ops(it, rest, cx)?);
                        }
                        Ok(Value::Tuple(out))
                    }
                    other => Ok(Value::Tuple(vec![apply_ops(other, rest, cx)?])),
                };
            }
            TraversalOperator::GetAttr(id) => v = get_attr(v, id.value().as_str())?,
            TraversalOperator::Index(e) => {
                let k = ev(e, cx)?;
                v = index(v, k)?;
            }
            TraversalOperator::LegacyIndex(n) => v = index(v, Value::int(i128::from(*n.value())))?,
        }
    }
    Ok(v)
}

fn get_attr(v: Value, name: &str) -> Result<Value, EvalError> {
    match v {
        Value::Unknown(_) => Ok(v),
        Value::Null => Err(invalid(format!(
            "Attempt to get attribute \"{name}\" from a null value"
        ))),
        Value::Object(mut m) => m.remove(name).ok_or_else(|| {
            invalid(format!(
                "Unsupported attribute: this object does not have an attribute named \"{name}\""
            ))
        }),
        Value::Map(mut m) => m.remove(name).ok_or_else(|| {
            invalid(format!(
                "Missing map element: this map does not have an element with the key \"{name}\""
            ))
        }),
        other => Err(invalid(format!(
            "Unsupported attribute: can't access attribute \"{name}\" on a {} value",
            other.kind()
        ))),
    }
}

/// `coll[key]` as Terraform indexes.
///
/// # Errors
/// Out-of-range indexes, missing keys, indexing a set or a primitive.
pub fn index(v: Value, key: Value) -> Result<Value, EvalError> {
    if key.is_unknown() {
        return Ok(key);
    }
    if key.is_null() {
        return Err(invalid(
            "Invalid index: can't use a null value as an indexing key",
        ));
    }
    match v {
        Value::Unknown(_) => Ok(v),
        Value::Null => Err(invalid("Attempt to index null value")),
        Value::List(items) | Value::Tuple(items) => {
            let n = match value::convert(key, &Type::Number) {
                Ok(Value::Number(n)) => n,
                _ => return Err(invalid("Invalid index: a number is required")),
            };
            let i = n
                .to_i64()
                .filter(|i| *i >= 0 && (*i as usize) < items.len())
                .ok_or_else(|| invalid("Invalid index: the given key does not identify an element in this collection value"))?;
            Ok(items.into_iter().nth(i as usize).unwrap_or(Value::Null))
        }
        Value::Map(mut m) | Value::Object(mut m) => {
            let k = match value::convert(key, &Type::String) {
                Ok(Value::String(s)) => s,
                _ => return Err(invalid("Invalid index: a string key is required")),
            };
            m.remove(&k).ok_or_else(|| {
                invalid(format!(
                    "Invalid index: the given key does not identify an element in this collection value (key {})",
                    value::quote(&k)
                ))
            })
        }
        Value::Set(_) => Err(invalid(
            "Invalid index: elements of a set are identified only by their value and don't have any separate index or key to select with",
        )),
        other => Err(invalid(format!(
            "Invalid index: this value does not have any indices (a {})",
            other.kind()
        ))),
    }
}

/// Functions whose first argument is passed by reference (see [`functions::collection::call_ref`]).
const BORROWING: &[&str] = &["length", "lookup", "element", "contains", "index"];

fn call(f: &hcl_edit::expr::FuncCall, cx: &Cx) -> Result<Value, EvalError> {
    let name = f.name.name.value().as_str();
    if f.name.is_namespaced() {
        let ns: Vec<&str> = f
            .name
            .namespace
            .iter()
            .map(|n| n.value().as_str())
            .collect();
        return Ok(Value::unknown(format!(
            "{}::{name}: provider-defined functions are not evaluated offline",
            ns.join("::")
        )));
    }
    match name {
        "try" => {
            let mut last = None;
            for a in f.args.iter() {
                match ev(a, cx) {
                    Ok(v) => {
                        if let Some(u) = v.first_unknown() {
                            return Ok(Value::Unknown(u.clone()));
                        }
                        return Ok(v);
                    }
                    Err(e) => last = Some(e),
                }
            }
            return Err(EvalError::Function {
                name: "try".into(),
                message: match last {
                    Some(e) => format!("no expression succeeded; the last error: {e}"),
                    None => "at least one argument is required".into(),
                },
            });
        }
        "can" => {
            if f.args.len() != 1 {
                return Err(EvalError::Function {
                    name: "can".into(),
                    message: "function \"can\" expects exactly 1 argument".into(),
                });
            }
            return Ok(match f.args.iter().next().map(|a| ev(a, cx)) {
                Some(Ok(v)) => match v.first_unknown() {
                    Some(u) => Value::Unknown(u.clone()),
                    None => Value::Bool(true),
                },
                _ => Value::Bool(false),
            });
        }
        _ => {}
    }
    let mut args = Vec::with_capacity(f.args.len());
    let mut rest = f.args.iter();
    if BORROWING.contains(&name) && !f.args.expand_final() {
        if let Some(a0) = rest.next() {
            match ev_ref(a0, cx)? {
                Cow::Borrowed(first) => {
                    let others = rest.map(|a| ev(a, cx)).collect::<Result<Vec<_>, _>>()?;
                    return functions::collection::call_ref(name, first, &others)
                        .unwrap_or_else(|| Ok(Value::unknown(format!("{name}() is not evaluated"))))
                        .map_err(|e| EvalError::Function {
                            name: name.to_string(),
                            message: e.to_string(),
                        });
                }
                Cow::Owned(v) => args.push(v),
            }
        }
    }
    for a in rest {
        args.push(ev(a, cx)?);
    }
    if f.args.expand_final() {
        match args.pop() {
            Some(Value::List(v) | Value::Tuple(v) | Value::Set(v)) => args.extend(v),
            Some(u @ Value::Unknown(_)) => return Ok(u),
            _ => {
                return Err(EvalError::Function {
                    name: name.into(),
                    message: "the final argument expanded with ... must be a list, set or tuple"
                        .into(),
                })
            }
        }
    }
    functions::call(name, args, cx.scope).map_err(|e| EvalError::Function {
        name: name.to_string(),
        message: e.to_string(),
    })
}

/// A variable's `type`: like [`Type`], with `any` and optional object attributes.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeConstraint {
    /// `any`: the value keeps its own type.
    Any,
    /// `string`.
    String,
    /// `number`.
    Number,
    /// `bool`.
    Bool,
    /// `list(T)`.
    List(Box<TypeConstraint>),
    /// `set(T)`.
    Set(Box<TypeConstraint>),
    /// `map(T)`.
    Map(Box<TypeConstraint>),
    /// `tuple([...])`.
    Tuple(Vec<TypeConstraint>),
    /// `object({...})`.
    Object(BTreeMap<String, ObjectAttr>),
}

/// One attribute of an `object({...})` constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectAttr {
    /// Its type.
    pub ty: TypeConstraint,
    /// `optional(...)`?
    pub optional: bool,
    /// `optional(T, default)`'s default.
    pub default: Option<Value>,
}

/// Reads a variable's `type` expression.
///
/// # Errors
/// When the expression is not a type Terraform knows.
pub fn parse_type_constraint(expr: &Expression) -> Result<TypeConstraint, EvalError> {
    let bad = || invalid("invalid type specification");
    match expr {
        Expression::Variable(id) => match id.value().as_str() {
            "string" => Ok(TypeConstraint::String),
            "number" => Ok(TypeConstraint::Number),
            "bool" => Ok(TypeConstraint::Bool),
            "any" => Ok(TypeConstraint::Any),
            other => Err(invalid(format!(
                "the keyword {other:?} is not a valid type"
            ))),
        },
        Expression::Parenthesis(p) => parse_type_constraint(p.inner()),
        Expression::FuncCall(f) => {
            let args: Vec<&Expression> = f.args.iter().collect();
            let name = f.name.name.value().as_str();
            let one = || -> Result<TypeConstraint, EvalError> {
                match args.as_slice() {
                    [a] => parse_type_constraint(a),
                    _ => Err(invalid(format!("{name}(...) takes exactly one type"))),
                }
            };
            match name {
                "list" => Ok(TypeConstraint::List(Box::new(one()?))),
                "set" => Ok(TypeConstraint::Set(Box::new(one()?))),
                "map" => Ok(TypeConstraint::Map(Box::new(one()?))),
                "tuple" => match args.as_slice() {
                    [Expression::Array(a)] => Ok(TypeConstraint::Tuple(
                        a.iter()
                            .map(parse_type_constraint)
                            .collect::<Result<_, _>>()?,
                    )),
                    _ => Err(bad()),
                },
                "object" => match args.as_slice() {
                    [Expression::Object(o)] => {
                        let mut m = BTreeMap::new();
                        for (k, v) in o.iter() {
                            let key = match k {
                                ObjectKey::Ident(id) => id.value().as_str().to_string(),
                                ObjectKey::Expression(Expression::Variable(id)) => {
                                    id.value().as_str().to_string()
                                }
                                ObjectKey::Expression(Expression::String(s)) => {
                                    s.value().to_string()
                                }
                                _ => return Err(bad()),
                            };
                            m.insert(key, parse_attr(v.expr())?);
                        }
                        Ok(TypeConstraint::Object(m))
                    }
                    _ => Err(bad()),
                },
                _ => Err(invalid(format!("{name:?} is not a valid type constructor"))),
            }
        }
        _ => Err(bad()),
    }
}

fn parse_attr(e: &Expression) -> Result<ObjectAttr, EvalError> {
    if let Expression::FuncCall(f) = e {
        if f.name.name.value().as_str() == "optional" {
            let args: Vec<&Expression> = f.args.iter().collect();
            let (ty, default) = match args.as_slice() {
                [t] => (parse_type_constraint(t)?, None),
                [t, d] => {
                    let ty = parse_type_constraint(t)?;
                    let dv = eval(d, &Scope::new(Path::new(".")))?;
                    (ty.clone(), Some(convert(dv, &ty)?))
                }
                _ => {
                    return Err(invalid(
                        "optional(...) takes a type and an optional default",
                    ))
                }
            };
            return Ok(ObjectAttr {
                ty,
                optional: true,
                default,
            });
        }
    }
    Ok(ObjectAttr {
        ty: parse_type_constraint(e)?,
        optional: false,
        default: None,
    })
}

fn has_any(tc: &TypeConstraint) -> bool {
    match tc {
        TypeConstraint::Any => true,
        TypeConstraint::List(t) | TypeConstraint::Set(t) | TypeConstraint::Map(t) => has_any(t),
        TypeConstraint::Tuple(ts) => ts.iter().any(has_any),
        TypeConstraint::Object(m) => m.values().any(|a| has_any(&a.ty)),
        _ => false,
    }
}

/// Converts a variable's value to its `type` as Terraform does (`"2"` to `2` for `number`,
/// defaults of `optional` attributes filled in, extra object attributes dropped).
///
/// # Errors
/// When Terraform would refuse the value for this type.
pub fn convert(v: Value, tc: &TypeConstraint) -> Result<Value, EvalError> {
    let err = |m: String| invalid(format!("Invalid value for variable: {m}"));
    if v.is_null() || v.is_unknown() {
        return Ok(v);
    }
    // A set with unknown elements has no known length (two of them may turn out equal): as a
    // list or tuple it is unknown, as `tolist` makes it.
    if let (Value::Set(_), TypeConstraint::List(_) | TypeConstraint::Tuple(_), Some(u)) =
        (&v, tc, v.first_unknown())
    {
        return Ok(Value::Unknown(u.clone()));
    }
    match tc {
        TypeConstraint::Any => Ok(v),
        TypeConstraint::String => value::convert(v, &Type::String).map_err(err),
        TypeConstraint::Number => value::convert(v, &Type::Number).map_err(err),
        TypeConstraint::Bool => value::convert(v, &Type::Bool).map_err(err),
        TypeConstraint::List(et) | TypeConstraint::Set(et) => {
            let items = match v {
                Value::List(i) | Value::Set(i) | Value::Tuple(i) => i,
                other => {
                    return Err(err(format!(
                        "{} required, got {}",
                        if matches!(tc, TypeConstraint::List(_)) {
                            "list"
                        } else {
                            "set"
                        },
                        other.kind()
                    )))
                }
            };
            let conv = items
                .into_iter()
                .map(|x| convert(x, et))
                .collect::<Result<Vec<_>, _>>()?;
            let is_set = matches!(tc, TypeConstraint::Set(_));
            let out = if is_set {
                Value::set(conv)
            } else {
                Value::List(conv)
            };
            if has_any(et) {
                let t = if is_set {
                    Type::Set(Box::new(Type::Dynamic))
                } else {
                    Type::List(Box::new(Type::Dynamic))
                };
                return value::convert(out, &t).map_err(err);
            }
            Ok(out)
        }
        TypeConstraint::Map(et) => {
            let m = match v {
                Value::Map(m) | Value::Object(m) => m,
                other => return Err(err(format!("map required, got {}", other.kind()))),
            };
            let conv = m
                .into_iter()
                .map(|(k, x)| Ok((k, convert(x, et)?)))
                .collect::<Result<BTreeMap<_, _>, EvalError>>()?;
            if has_any(et) {
                return value::convert(Value::Map(conv), &Type::Map(Box::new(Type::Dynamic)))
                    .map_err(err);
            }
            Ok(Value::Map(conv))
        }
        TypeConstraint::Tuple(ts) => {
            let items = match v {
                Value::List(i) | Value::Set(i) | Value::Tuple(i) => i,
                other => return Err(err(format!("tuple required, got {}", other.kind()))),
            };
            if items.len() != ts.len() {
                return Err(err(format!("tuple required with {} elements", ts.len())));
            }
            Ok(Value::Tuple(
                items
                    .into_iter()
                    .zip(ts)
                    .map(|(x, t)| convert(x, t))
                    .collect::<Result<_, _>>()?,
            ))
        }
        TypeConstraint::Object(attrs) => {
            let mut m = match v {
                Value::Map(m) | Value::Object(m) => m,
                other => return Err(err(format!("object required, got {}", other.kind()))),
            };
            let mut out = BTreeMap::new();
            for (k, a) in attrs {
                let x = m.remove(k);
                let x = match x {
                    Some(Value::Null) | None if a.optional => {
                        a.default.clone().unwrap_or(Value::Null)
                    }
                    Some(x) => convert(x, &a.ty)?,
                    None => return Err(err(format!("attribute {} is required", value::quote(k)))),
                };
                out.insert(k.clone(), x);
            }
            Ok(Value::Object(out))
        }
    }
}

#[cfg(test)]
mod tests;
