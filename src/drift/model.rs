//! The desired side: what the configuration declares — the root module and the child modules
//! it calls — as instance addresses with their evaluated attribute values.
//!
//! Files: `*.tf` and `*.tf.json` (the JSON form is turned into the same model), override files
//! (`override.tf`, `*_override.tf`, and their `.json` forms) merged into the blocks they
//! override as Terraform merges them. Each file is parsed with hcl-edit, keeping spans so that
//! errors and unknowns name `file:line:column`.
//!
//! Evaluation: [`super::eval`], Terraform's semantics over hcl-edit expressions (typed values,
//! Terraform's functions, unknowns with their reasons). Input variables of the root module are
//! resolved by [`super::vars`] with Terraform's precedence (default < `TF_VAR_name` <
//! `terraform.tfvars` < `terraform.tfvars.json` < `*.auto.tfvars(.json)` < the `drift {}`
//! block's `var_files` then `vars` < `--var-file` / `--var` in the order given) and converted to
//! their `type`; a child module's variables take the values its `module` block passes. Locals,
//! `count.index`, `each.key` / `each.value`, `path.*`, `terraform.workspace` and
//! `module.<name>.<output>` are known. What cannot be evaluated offline (a resource attribute,
//! a data source, a variable with no value, an impure function) makes its address `unknown`
//! with the reason — never "in sync".
//!
//! Modules: local sources (`./`, `../`) to any depth, installed ones through
//! `.terraform/modules/modules.json`; any other source is unknown ("run terraform init").
//! `count` and `for_each` on a module block expand it into instances addressed as Terraform
//! writes them: `module.a["k"].module.b.terraform_data.x[0]`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hcl_edit::structure::{Block, Structure};
use hcl_edit::Span;
use serde_json::Value;

use super::error::DriftError;
use super::eval::{self as tfeval, Scope};
use super::state::quote;
use super::value::Value as TfValue;
use super::vars::{self, CliArg, VarDecl};
use crate::text::LineIndex;

/// Past this many instances, a `count` or `for_each` is not expanded: its resource is unknown.
pub const MAX_INSTANCES: u64 = 100_000;

/// How many of the root module's parsed blocks are expanded between two shrinkings of the
/// vector they are taken from (its emptied end is given back to the allocator).
const RELEASE_EVERY: usize = 4096;

/// Deepest module nesting followed (`module.a.module.b…`).
pub const MAX_MODULE_DEPTH: usize = 64;

/// Most module instances expanded in one configuration.
pub const MAX_MODULE_INSTANCES: usize = 10_000;

/// Which attribute changes `lifecycle { ignore_changes = … }` hides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Ignore {
    #[default]
    Nothing,
    All,
    Attrs(BTreeSet<String>),
    /// Whole attributes, and paths below attributes (`input.a`, `tags["Name"]`), which hide
    /// only that part (see `ignore_changes::keep_prior`).
    Paths(Box<IgnorePaths>),
}

/// The entries of an `ignore_changes` list some of which name a part of an attribute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IgnorePaths {
    pub attrs: BTreeSet<String>,
    pub paths: BTreeMap<String, Vec<Vec<super::ignore_changes::Step>>>,
}

impl Ignore {
    /// True when a change of the top-level attribute `attr` is ignored.
    pub fn covers(&self, attr: &str) -> bool {
        match self {
            Ignore::Nothing => false,
            Ignore::All => true,
            Ignore::Attrs(a) => a.contains(attr),
            Ignore::Paths(p) => p.attrs.contains(attr),
        }
    }

    /// The paths below `attr` whose changes are ignored (none when the whole attribute is).
    pub fn paths(&self, attr: &str) -> &[Vec<super::ignore_changes::Step>] {
        match self {
            Ignore::Paths(p) if !p.attrs.contains(attr) => {
                p.paths.get(attr).map_or(&[], Vec::as_slice)
            }
            _ => &[],
        }
    }
}

/// An expression as written: its literal value when it needs no evaluation (the common case,
/// kept as JSON without evaluating), else the expression for the evaluator.
#[derive(Debug, Clone)]
pub struct Expr {
    /// `Some(v)` for a literal (`Value::Null` for `null`).
    literal: Option<Literal>,
    /// Boxed: most expressions are literals, and an unboxed syntax tree would make every
    /// `Expr` (and every map slot holding one) several times larger.
    expr: Option<Box<hcl_edit::expr::Expression>>,
    /// The source text, trimmed (for reasons); empty for a resource argument's literal, whose
    /// text no reason shows (see [`Expr::text`]).
    text: String,
}

/// A literal value as the parsed configuration keeps it until expansion: a scalar as it is,
/// an object or array as its JSON text. A `serde_json` object gives every literal object a
/// `BTreeMap` node sized for eleven entries plus a string per key; the text is a tenth of that,
/// and is read back (exactly: the numbers in it are integers) when an instance is built.
#[derive(Debug, Clone)]
enum Literal {
    Value(Value),
    Json(Box<str>),
}

/// Deeper literals stay values: the JSON reader stops at 128 levels.
const MAX_LITERAL_TEXT_DEPTH: usize = 100;

impl Literal {
    fn new(v: Value) -> Literal {
        let nested = matches!(v, Value::Array(_) | Value::Object(_));
        if nested && depth(&v) <= MAX_LITERAL_TEXT_DEPTH {
            if let Ok(t) = serde_json::to_string(&v) {
                // Copied at its exact size (a working buffer shrunk in place leaves a gap).
                return Literal::Json(t.as_str().into());
            }
        }
        Literal::Value(v)
    }

    /// The value (read back from its text for an object or array).
    fn value(&self) -> Value {
        match self {
            Literal::Value(v) => v.clone(),
            Literal::Json(t) => serde_json::from_str(t)
                .unwrap_or_else(|e| unreachable!("a literal's own JSON text is read back: {e}")),
        }
    }
}

/// How deeply arrays and objects nest in `v` (0 for a scalar).
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

impl Expr {
    fn new(e: &hcl_edit::expr::Expression) -> Expr {
        let text = e.to_string().trim().to_string();
        let literal = direct_literal(e).map(|v| Literal::new(v.unwrap_or(Value::Null)));
        Expr {
            expr: literal.is_none().then(|| Box::new(e.clone())),
            literal,
            text,
        }
    }

    /// A resource argument: its literal's source text is not kept (a literal argument is never
    /// the reason for an unknown; at 100,000 resources the text was 10 MB).
    fn argument(e: &hcl_edit::expr::Expression) -> Expr {
        let mut x = Expr::new(e);
        if x.literal.is_some() {
            x.text = String::new();
        }
        x
    }

    /// The source text, trimmed; for a literal whose text was not kept, its value as JSON.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match &self.literal {
            Some(l) if self.text.is_empty() => {
                std::borrow::Cow::Owned(serde_json::to_string(&l.value()).unwrap_or_default())
            }
            _ => std::borrow::Cow::Borrowed(&self.text),
        }
    }

    /// Evaluates in `scope`: the literal as it is, else through the evaluator.
    fn eval(&self, scope: &Scope) -> Result<TfValue, tfeval::EvalError> {
        match (&self.literal, &self.expr) {
            (Some(v), _) => Ok(TfValue::from_json(&v.value())),
            (None, Some(e)) => tfeval::eval(e.as_ref(), scope),
            (None, None) => Ok(TfValue::Null),
        }
    }

    /// True when the expression refers to one of `sensitive` (see [`mentions_sensitive`]):
    /// by its text, and by the references of its syntax tree written plainly, so that spacing
    /// or a comment inside a reference (`var . s`, `var/**/.s`) hides nothing. A call of
    /// `sensitive(…)` counts too: Terraform marks its result.
    fn mentions(&self, sensitive: &BTreeSet<String>) -> bool {
        if self.calls_sensitive() {
            return true;
        }
        if sensitive.is_empty() {
            return false;
        }
        if mentions_sensitive(&self.text, sensitive) {
            return true;
        }
        let Some(e) = &self.expr else { return false };
        let mut w = Written(String::new());
        hcl_edit::visit::Visit::visit_expr(&mut w, e.as_ref());
        mentions_sensitive(&w.0, sensitive)
    }

    /// `local.x` and `module.x` names the expression refers to (for evaluation order).
    fn refs(&self) -> Vec<(String, String)> {
        let mut r = Refs(Vec::new());
        if let Some(e) = &self.expr {
            hcl_edit::visit::Visit::visit_expr(&mut r, e.as_ref());
        }
        r.0
    }
}

/// Named expressions (a block's arguments) in key order: a sorted vector, sized to what it
/// holds. A block has a handful of arguments, often one; a `BTreeMap` node is sized for eleven
/// and at 100,000 resources that slack was the largest part of the parsed configuration.
#[derive(Debug, Clone, Default)]
pub struct ExprMap(Vec<(String, Expr)>);

impl ExprMap {
    /// Sets `key` (replacing an earlier value, as a map would).
    pub fn insert(&mut self, key: String, e: Expr) {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
            Ok(i) => self.0[i].1 = e,
            Err(i) => self.0.insert(i, (key, e)),
        }
    }

    /// Sets every entry of `other` (its values win).
    pub fn extend(&mut self, other: ExprMap) {
        for (k, e) in other.0 {
            self.insert(k, e);
        }
        self.shrink();
    }

    /// Gives back the unused capacity (once the map is built).
    pub fn shrink(&mut self) {
        self.0.shrink_to_fit();
    }

    pub fn get(&self, key: &str) -> Option<&Expr> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Expr)> {
        self.0.iter().map(|(k, e)| (k, e))
    }

    pub fn values(&self) -> impl Iterator<Item = &Expr> {
        self.0.iter().map(|(_, e)| e)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a ExprMap {
    type Item = (&'a String, &'a Expr);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (String, Expr)>,
        fn(&'a (String, Expr)) -> (&'a String, &'a Expr),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(k, e)| (k, e))
    }
}

/// Collects `local.NAME` and `module.NAME` references.
struct Refs(Vec<(String, String)>);

impl hcl_edit::visit::Visit for Refs {
    fn visit_traversal(&mut self, node: &hcl_edit::expr::Traversal) {
        if let hcl_edit::expr::Expression::Variable(v) = &node.expr {
            let root = v.as_str();
            if root == "local" || root == "module" {
                if let Some(hcl_edit::expr::TraversalOperator::GetAttr(a)) =
                    node.operators.first().map(|o| o.value())
                {
                    self.0.push((root.to_string(), a.as_str().to_string()));
                }
            }
        }
        hcl_edit::visit::visit_traversal(self, node);
    }
}

/// Whether an expression calls `sensitive(…)` (found in the syntax tree), other than inside
/// `nonsensitive(…)`, which takes the mark off.
struct CallsSensitive(bool);

impl hcl_edit::visit::Visit for CallsSensitive {
    fn visit_func_call(&mut self, node: &hcl_edit::expr::FuncCall) {
        if !node.name.namespace.is_empty() {
            return hcl_edit::visit::visit_func_call(self, node);
        }
        match node.name.name.as_str() {
            "sensitive" => self.0 = true,
            "nonsensitive" => {}
            _ => hcl_edit::visit::visit_func_call(self, node),
        }
    }
}

impl Expr {
    fn calls_sensitive(&self) -> bool {
        // The text first: most expressions do not name the function at all.
        let Some(e) = self
            .expr
            .as_ref()
            .filter(|_| self.text.contains("sensitive"))
        else {
            return false;
        };
        let mut c = CallsSensitive(false);
        hcl_edit::visit::Visit::visit_expr(&mut c, e.as_ref());
        c.0
    }
}

/// The references an expression makes, written plainly and each followed by a space:
/// `var.s`, `module.m[_].out`, `module.m[*].out` (an index's own expression is visited too).
struct Written(String);

impl hcl_edit::visit::Visit for Written {
    fn visit_traversal(&mut self, node: &hcl_edit::expr::Traversal) {
        use hcl_edit::expr::TraversalOperator as Op;
        if let hcl_edit::expr::Expression::Variable(v) = &node.expr {
            self.0.push_str(v.as_str());
            for o in &node.operators {
                match o.value() {
                    Op::GetAttr(a) => {
                        self.0.push('.');
                        self.0.push_str(a.as_str());
                    }
                    Op::Index(_) | Op::LegacyIndex(_) => self.0.push_str("[_]"),
                    Op::AttrSplat(_) => self.0.push_str(".*"),
                    Op::FullSplat(_) => self.0.push_str("[*]"),
                }
            }
            self.0.push(' ');
        }
        hcl_edit::visit::visit_traversal(self, node);
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
    /// Boxed, as `for_each`: most resources have neither, and each unboxed `Expr` made every
    /// parsed block larger.
    count: Option<Box<Expr>>,
    for_each: Option<Box<Expr>>,
    /// Every attribute that is not a meta-argument.
    pub exprs: ExprMap,
    pub ignore: Ignore,
    /// Whether a `lifecycle` block set `ignore_changes` (for override merging).
    ignore_set: bool,
    /// `replace_triggered_by` references as written (`type.name[key].attribute`), without
    /// spaces.
    pub replace_triggered_by: Vec<String>,
    /// Why Terraform refuses the `replace_triggered_by` as written (not a list, a reference
    /// to something other than a resource, an index other than a constant, `count.index` or
    /// `each.key`): the resource cannot be decided.
    trigger_refused: Option<Box<str>>,
    /// Why Terraform refuses the `ignore_changes` as written (an entry with a splat, a
    /// computed or negative index): the resource cannot be decided.
    ignore_refused: Option<Box<str>>,
    /// Nested blocks (and `dynamic` blocks).
    pub blocks: Vec<NestedBlock>,
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

/// An `output` block.
#[derive(Debug, Clone)]
struct Output {
    name: String,
    value: Option<Expr>,
    sensitive: bool,
    at: String,
}

/// A `module "name" { … }` block as written.
#[derive(Debug, Clone)]
pub struct ModuleBlock {
    pub name: String,
    /// `file:line:column` of the block.
    pub at: String,
    /// `source` as written (a literal string), if given.
    pub source: Option<String>,
    count: Option<Expr>,
    for_each: Option<Expr>,
    /// Input variables given to the module.
    args: ExprMap,
}

/// What one configuration file declares.
#[derive(Debug, Clone, Default)]
pub struct FileModel {
    pub resources: Vec<Declared>,
    variables: Vec<VarDecl>,
    locals: Vec<(String, Expr)>,
    outputs: Vec<Output>,
    pub moved: Vec<Moved>,
    pub removed: Vec<Removed>,
    /// `import { to, id }` blocks (Terraform reads them in the root module only).
    pub imports: Vec<ImportBlock>,
    /// `module "name"` blocks.
    pub modules: Vec<ModuleBlock>,
    /// An override file (`override.tf`, `*_override.tf`, `.tf.json` forms).
    pub is_override: bool,
}

/// An `import { to = ADDRESS, id = "…" }` block as written.
#[derive(Debug, Clone)]
pub struct ImportBlock {
    pub to: String,
    /// `to = "type.name"`: Terraform refuses a quoted address.
    quoted_to: bool,
    id: Option<Expr>,
    /// `for_each` on the block (Terraform 1.7): not expanded by tfops.
    for_each: bool,
    pub at: String,
}

/// What an `import` block asks for one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportTarget {
    /// The ID, or why it is not known offline.
    pub id: Result<String, String>,
    /// `file:line:column` of the block.
    pub at: String,
    /// Terraform refuses the plan whether or not the target is in the state (a second block
    /// for the same address, an empty ID): the reason is in `id`.
    pub refused: bool,
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
    pub attrs: AttrMap,
    /// The Terraform type of each evaluated value of `attrs`; a literal's is inferred from
    /// its value by [`DesiredInstance::type_of`] (not kept: at scale, one more map per
    /// instance).
    pub types: BTreeMap<String, Value>,
    pub ignore: Ignore,
    pub replace_triggered_by: Vec<String>,
    /// Nested blocks (`dynamic` ones expanded) by block type, in the order written, where
    /// their values are known.
    pub blocks: BTreeMap<String, Vec<BlockValue>>,
}

impl DesiredInstance {
    /// The Terraform type of attribute `k`: as evaluated, else inferred from its literal value.
    pub fn type_of(&self, k: &str) -> Option<std::borrow::Cow<'_, Value>> {
        match self.types.get(k) {
            Some(t) => Some(std::borrow::Cow::Borrowed(t)),
            None => self
                .attrs
                .get(k)
                .map(|v| std::borrow::Cow::Owned(infer_type(v))),
        }
    }
}

/// An instance's attribute values by name, in name order: a sorted vector sized to what it
/// holds. An instance sets a handful of attributes, often one, and a `BTreeMap` would give
/// each of them a node sized for eleven (600 bytes more per instance at 100,000 resources).
#[derive(Clone, PartialEq, Default)]
pub struct AttrMap(Vec<(String, Value)>);

impl AttrMap {
    /// Sets `key`, returning its earlier value (as a map would).
    pub fn insert(&mut self, key: String, v: Value) -> Option<Value> {
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&key)) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, v)),
            Err(i) => {
                self.0.insert(i, (key, v));
                None
            }
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The entries in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The names in order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Gives back the unused capacity (once the instance is built).
    fn shrink(&mut self) {
        self.0.shrink_to_fit();
    }
}

impl std::ops::Index<&str> for AttrMap {
    type Output = Value;
    /// # Panics
    /// When `key` is not set (as a map's index does).
    fn index(&self, key: &str) -> &Value {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no attribute {key}"),
        }
    }
}

impl std::fmt::Debug for AttrMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl FromIterator<(String, Value)> for AttrMap {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(it: I) -> AttrMap {
        let mut m = AttrMap::default();
        for (k, v) in it {
            m.insert(k, v);
        }
        m.shrink();
        m
    }
}

/// One nested block's evaluated content: what the configuration sets in it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BlockValue {
    /// Its arguments (unset and `null` ones left out).
    pub attrs: BTreeMap<String, Value>,
    /// Its own nested blocks, by type.
    pub blocks: BTreeMap<String, Vec<BlockValue>>,
}

/// A nested block as written (`ingress { … }`), or a `dynamic "ingress"` block's `content`.
#[derive(Debug, Clone)]
pub struct NestedBlock {
    /// The block type (`ingress`).
    pub kind: String,
    attrs: ExprMap,
    blocks: Vec<NestedBlock>,
    /// For `dynamic`: its `for_each` and the iterator's name.
    dynamic: Option<(Expr, String)>,
}

/// Reads the arguments and nested blocks of a block body (`dynamic` blocks included).
fn nested_body(body: &hcl_edit::structure::Body, kind: &str) -> NestedBlock {
    let mut n = NestedBlock {
        kind: kind.to_string(),
        attrs: ExprMap::default(),
        blocks: Vec::new(),
        dynamic: None,
    };
    for a in body.attributes() {
        n.attrs
            .insert(a.key.as_str().to_string(), Expr::new(&a.value));
    }
    n.attrs.shrink();
    n.blocks = nested_blocks(body);
    n
}

/// The nested blocks of a body, skipping the meta-blocks of a resource.
fn nested_blocks(body: &hcl_edit::structure::Body) -> Vec<NestedBlock> {
    let mut out = Vec::new();
    for b in body.blocks() {
        match b.ident.as_str() {
            "lifecycle" | "provisioner" | "connection" => {}
            "dynamic" => {
                let Some(kind) = b.labels.first().map(|l| l.as_str().to_string()) else {
                    continue;
                };
                let Some(fe) = b.body.get_attribute("for_each") else {
                    continue;
                };
                let iterator = b
                    .body
                    .get_attribute("iterator")
                    .map(|a| match &a.value {
                        hcl_edit::expr::Expression::Variable(v) => v.as_str().to_string(),
                        other => other.to_string().trim().to_string(),
                    })
                    .unwrap_or_else(|| kind.clone());
                let content = b.body.get_blocks("content").next();
                let mut n = match content {
                    Some(c) => nested_body(&c.body, &kind),
                    None => nested_body(&hcl_edit::structure::Body::default(), &kind),
                };
                n.dynamic = Some((Expr::new(&fe.value), iterator));
                out.push(n);
            }
            kind => out.push(nested_body(&b.body, kind)),
        }
    }
    out
}

/// Evaluates nested blocks (expanding `dynamic` ones) in `scope`; `Err` with the reason when
/// a value is not known offline.
fn eval_blocks(
    blocks: &[NestedBlock],
    ignore: &Ignore,
    scope: &mut Scope,
    sens: &BTreeSet<String>,
) -> Result<BTreeMap<String, Vec<BlockValue>>, String> {
    let mut out: BTreeMap<String, Vec<BlockValue>> = BTreeMap::new();
    for b in blocks.iter().filter(|b| !ignore.covers(&b.kind)) {
        let list = out.entry(b.kind.clone()).or_default();
        let Some((fe, iterator)) = &b.dynamic else {
            list.push(eval_block(b, scope, sens)?);
            continue;
        };
        let v = fe
            .eval(scope)
            .map_err(|e| format!("dynamic \"{}\" for_each: {}", b.kind, failure(fe, &e, sens)))?;
        if let Some(u) = v.first_unknown() {
            return Err(format!(
                "dynamic \"{}\" for_each = {}: {}",
                b.kind,
                fe.text(),
                u.reason
            ));
        }
        let items: Vec<(TfValue, TfValue)> = match v {
            TfValue::Map(m) | TfValue::Object(m) => m
                .into_iter()
                .map(|(k, x)| (TfValue::String(k), x))
                .collect(),
            TfValue::Set(xs) => xs.into_iter().map(|x| (x.clone(), x)).collect(),
            TfValue::List(xs) | TfValue::Tuple(xs) => xs
                .into_iter()
                .enumerate()
                .map(|(i, x)| (TfValue::int(i as i128), x))
                .collect(),
            TfValue::Null => {
                return Err(format!("dynamic \"{}\" for_each is null", b.kind));
            }
            other => {
                return Err(format!(
                    "dynamic \"{}\" for_each is a {}, not a collection",
                    b.kind,
                    other.kind()
                ))
            }
        };
        for (k, x) in items {
            let it = TfValue::Object(BTreeMap::from([
                ("key".to_string(), k),
                ("value".to_string(), x),
            ]));
            scope.set_bind(iterator, Some(it));
            let r = eval_block(b, scope, sens);
            scope.set_bind(iterator, None);
            list.push(r?);
        }
    }
    Ok(out)
}

fn eval_block(
    b: &NestedBlock,
    scope: &mut Scope,
    sens: &BTreeSet<String>,
) -> Result<BlockValue, String> {
    let mut v = BlockValue::default();
    for (k, e) in &b.attrs {
        let x = e
            .eval(scope)
            .map_err(|err| format!("{}.{k} = {}: {}", b.kind, e.text(), failure(e, &err, sens)))?;
        if let Some(u) = x.first_unknown() {
            return Err(format!("{}.{k} = {}: {}", b.kind, e.text(), u.reason));
        }
        if !x.is_null() {
            v.attrs.insert(k.clone(), x.to_json());
        }
    }
    v.blocks = eval_blocks(&b.blocks, &Ignore::Nothing, scope, sens)?;
    Ok(v)
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
    /// Instances (in `unknown`) whose address is known but some value is not: without an
    /// object in the state they are created whatever their values.
    pub unknown_values: BTreeSet<String>,
    /// `file:line:column` of each resource block (address without instance key) of a type
    /// whose schema tfops does not know, or with `replace_triggered_by`: the diff names it
    /// when it cannot decide.
    pub resource_at: BTreeMap<String, String>,
    /// The child module folders read (the module folder joined with their path).
    pub module_dirs: Vec<PathBuf>,
    /// Root `import` blocks by target address.
    pub imports: BTreeMap<String, ImportTarget>,
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
    // An address in a `moved` / `removed` block, from the syntax tree (its text carries the
    // comments written beside it).
    let flat = |e: &hcl_edit::expr::Expression| match e {
        hcl_edit::expr::Expression::String(s) => s.value().to_string(),
        other => reference_text(other),
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
                let v = VarDecl::from_block(b)
                    .map_err(|e| hcl_error(file, &lines, b.span(), e.to_string()))?;
                out.variables.push(v);
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
                        .is_some_and(|a| literal_bool(&a.value) == Some(true));
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
                        .is_some_and(|a| literal_bool(&a.value) == Some(false))
                });
                out.removed.push(Removed { from, destroy });
            }
            "import" => {
                let Some(to) = b.body.get_attribute("to").map(|a| flat(&a.value)) else {
                    return Err(hcl_error(
                        file,
                        &lines,
                        b.span(),
                        "an `import` block needs `to`".into(),
                    ));
                };
                let quoted_to = b.body.get_attribute("to").is_some_and(|a| {
                    matches!(
                        a.value,
                        hcl_edit::expr::Expression::String(_)
                            | hcl_edit::expr::Expression::StringTemplate(_)
                    )
                });
                out.imports.push(ImportBlock {
                    to,
                    quoted_to,
                    id: b.body.get_attribute("id").map(|a| Expr::new(&a.value)),
                    for_each: b.body.get_attribute("for_each").is_some(),
                    at: at(b.span()),
                });
            }
            "module" => {
                if let [n] = b.labels.as_slice() {
                    out.modules.push(module_block(b, n.as_str(), at(b.span())));
                }
            }
            _ => {}
        }
    }
    // Grown by doubling: give back the slack, as the model lives until the expansion.
    out.resources.shrink_to_fit();
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
        // Sized once for its arguments (grown and shrunk in place, it left gaps).
        exprs: ExprMap(Vec::with_capacity(
            b.body
                .attributes()
                .filter(|a| !META.contains(&a.key.as_str()))
                .count(),
        )),
        ignore: Ignore::Nothing,
        ignore_set: false,
        replace_triggered_by: Vec::new(),
        trigger_refused: None,
        ignore_refused: None,
        blocks: nested_blocks(&b.body),
    };
    for a in b.body.attributes() {
        let key = a.key.as_str();
        match key {
            "count" => d.count = Some(Box::new(Expr::new(&a.value))),
            "for_each" => d.for_each = Some(Box::new(Expr::new(&a.value))),
            k if META.contains(&k) => {}
            _ => {
                d.exprs.insert(key.to_string(), Expr::argument(&a.value));
            }
        }
    }
    d.exprs.shrink();
    for l in b.body.get_blocks("lifecycle") {
        if let Some(a) = l.body.get_attribute("ignore_changes") {
            d.ignore_set = true;
            d.ignore = ignore_of(&a.value);
            if let hcl_edit::expr::Expression::Array(items) = &a.value {
                d.ignore_refused = items.iter().find_map(|x| match x {
                    hcl_edit::expr::Expression::Traversal(t)
                        if ignore_steps(&t.operators).is_none() =>
                    {
                        Some(
                            format!(
                                "{}: Terraform refuses it: an entry must be a path of names and \
                                 constant keys or indexes",
                                reference_text(x)
                            )
                            .into(),
                        )
                    }
                    _ => None,
                });
            }
        }
        if let Some(a) = l.body.get_attribute("replace_triggered_by") {
            if let hcl_edit::expr::Expression::Array(items) = &a.value {
                for x in items.iter() {
                    if let Err(why) = trigger_reference(x) {
                        let text = x.to_string();
                        d.trigger_refused
                            .get_or_insert_with(|| format!("{}: {why}", text.trim()).into());
                    }
                    // The attribute part is kept: a reference to one attribute fires only
                    // when that attribute changes (see `diff::split_reference`).
                    d.replace_triggered_by.push(reference_text(x));
                }
            } else {
                d.trigger_refused =
                    Some("Terraform refuses it: it must be a list of resource references".into());
            }
        }
    }
    d
}

/// Whether Terraform accepts `x` as one `replace_triggered_by` entry: a reference to a
/// resource (`type.name`, then attributes and indexes), indexed only by constants,
/// `count.index` or `each.key`. The error says why not, as Terraform would.
fn trigger_reference(x: &hcl_edit::expr::Expression) -> Result<(), &'static str> {
    use hcl_edit::expr::{Expression as E, TraversalOperator as Op};
    const NOT_A_RESOURCE: &str =
        "Terraform refuses it: only resources, count.index and each.key may be used";
    let E::Traversal(t) = x else {
        return Err(match x {
            E::Variable(_) => NOT_A_RESOURCE,
            _ => "Terraform refuses it: an entry must be a reference to a resource",
        });
    };
    let E::Variable(root) = &t.expr else {
        return Err("Terraform refuses it: an entry must be a reference to a resource");
    };
    if matches!(
        root.value().as_str(),
        "var" | "local" | "module" | "self" | "path" | "terraform" | "count" | "each"
    ) {
        return Err(NOT_A_RESOURCE);
    }
    for op in t.operators.iter() {
        match op.value() {
            Op::GetAttr(_) | Op::LegacyIndex(_) => {}
            Op::AttrSplat(_) | Op::FullSplat(_) => {
                return Err("Terraform refuses it: a splat (`[*]`) is not a single reference")
            }
            Op::Index(E::String(_) | E::Number(_)) => {}
            Op::Index(E::Traversal(i)) => {
                let name = match (&i.expr, i.operators.first().map(|o| o.value())) {
                    (E::Variable(v), Some(Op::GetAttr(a))) if i.operators.len() == 1 => (
                        v.value().as_str().to_string(),
                        a.value().as_str().to_string(),
                    ),
                    _ => return Err(NOT_A_RESOURCE),
                };
                match (name.0.as_str(), name.1.as_str()) {
                    ("count", "index") | ("each", "key") => {}
                    ("each", _) => return Err("Terraform refuses it: only each.key may be used"),
                    ("count", _) => {
                        return Err("Terraform refuses it: only count.index may be used")
                    }
                    _ => return Err(NOT_A_RESOURCE),
                }
            }
            Op::Index(_) => return Err(NOT_A_RESOURCE),
        }
    }
    Ok(())
}

/// `true` / `false` as written (comments beside it are not part of it).
fn literal_bool(e: &hcl_edit::expr::Expression) -> Option<bool> {
    match e {
        hcl_edit::expr::Expression::Bool(b) => Some(*b.value()),
        _ => None,
    }
}

/// A reference as an address is written (`type.name["key"].attr`), whatever its spacing and
/// comments (`terraform_data.a[ each.key ], # why` is `terraform_data.a[each.key]`).
fn reference_text(x: &hcl_edit::expr::Expression) -> String {
    use hcl_edit::expr::{Expression as E, TraversalOperator as Op};
    match x {
        E::Variable(v) => v.value().as_str().to_string(),
        E::String(s) => quote(s.value()),
        E::Number(n) => n.value().to_string(),
        E::Traversal(t) => {
            let mut out = reference_text(&t.expr);
            for op in t.operators.iter() {
                match op.value() {
                    Op::GetAttr(a) => {
                        out.push('.');
                        out.push_str(a.value().as_str());
                    }
                    Op::LegacyIndex(i) => out.push_str(&format!("[{}]", i.value())),
                    Op::Index(i) => out.push_str(&format!("[{}]", reference_text(i))),
                    Op::AttrSplat(_) => out.push_str(".*"),
                    Op::FullSplat(_) => out.push_str("[*]"),
                }
            }
            out
        }
        // Refused by `trigger_reference`; kept only to name it.
        other => other.to_string().split_whitespace().collect(),
    }
}

/// Arguments of a `module` block that are not input variables.
const MODULE_META: &[&str] = &[
    "source",
    "version",
    "count",
    "for_each",
    "providers",
    "depends_on",
];

fn module_block(b: &Block, name: &str, at: String) -> ModuleBlock {
    let mut m = ModuleBlock {
        name: name.to_string(),
        at,
        source: None,
        count: None,
        for_each: None,
        args: ExprMap::default(),
    };
    for a in b.body.attributes() {
        match a.key.as_str() {
            "source" => {
                if let hcl_edit::expr::Expression::String(s) = &a.value {
                    m.source = Some(s.value().to_string());
                }
            }
            "count" => m.count = Some(Expr::new(&a.value)),
            "for_each" => m.for_each = Some(Expr::new(&a.value)),
            k if MODULE_META.contains(&k) => {}
            k => {
                m.args.insert(k.to_string(), Expr::new(&a.value));
            }
        }
    }
    m.args.shrink();
    m
}

fn ignore_of(e: &hcl_edit::expr::Expression) -> Ignore {
    use hcl_edit::expr::Expression as E;
    match e {
        E::Variable(v) if v.as_str() == "all" => Ignore::All,
        E::String(s) if s.value().as_str() == "all" => Ignore::All,
        E::Array(items) => {
            let mut out = IgnorePaths::default();
            // From the syntax tree: the text of an entry carries its comments and spacing
            // (`# why` on the line before made it read as nothing).
            for x in items.iter() {
                let (first, steps): (String, Option<Vec<_>>) = match x {
                    E::Variable(v) => (v.as_str().to_string(), None),
                    E::Traversal(t) => match &t.expr {
                        E::Variable(v) => (v.as_str().to_string(), ignore_steps(&t.operators)),
                        _ => continue,
                    },
                    // The older quoted form, `"tags"` or `"tags.Name"`: Terraform reads the
                    // string as the reference it holds (a path in it hides only that part).
                    E::String(s) => match s.value().parse::<E>() {
                        Ok(E::Variable(v)) => (v.as_str().to_string(), None),
                        Ok(E::Traversal(t)) => match &t.expr {
                            E::Variable(v) => (v.as_str().to_string(), ignore_steps(&t.operators)),
                            _ => continue,
                        },
                        _ => (
                            s.value()
                                .chars()
                                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
                                .collect(),
                            None,
                        ),
                    },
                    _ => continue,
                };
                if first.is_empty() {
                    continue;
                }
                match steps {
                    Some(p) if !p.is_empty() => out.paths.entry(first).or_default().push(p),
                    _ => {
                        out.attrs.insert(first);
                    }
                }
            }
            if out.paths.is_empty() {
                Ignore::Attrs(out.attrs)
            } else {
                Ignore::Paths(Box::new(out))
            }
        }
        _ => Ignore::Nothing,
    }
}

/// The steps of an `ignore_changes` entry below its attribute; `None` for a form tfops does
/// not follow step by step (a splat, a computed index), which then hides the whole attribute.
fn ignore_steps(
    ops: &[hcl_edit::Decorated<hcl_edit::expr::TraversalOperator>],
) -> Option<Vec<super::ignore_changes::Step>> {
    use super::ignore_changes::Step;
    use hcl_edit::expr::{Expression as E, TraversalOperator as Op};
    ops.iter()
        .map(|op| match op.value() {
            Op::GetAttr(a) => Some(Step::Attr(a.as_str().to_string())),
            Op::LegacyIndex(i) => Some(Step::Index(*i.value())),
            Op::Index(E::String(s)) => Some(Step::Key(s.value().to_string())),
            Op::Index(E::Number(n)) => n.value().as_u64().map(Step::Index),
            _ => None,
        })
        .collect()
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
                // Fractions and larger numbers: the evaluator keeps them exact.
                _ => return None,
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

/// A primitive as Terraform converts it to a string (`1` → `"1"`, `true` → `"true"`).
pub fn to_string_value(v: Value) -> Value {
    match v {
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        other => other,
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
            "import" => {
                for body in items(v) {
                    out.push_str("import {\n");
                    for (k, x) in body.as_object().into_iter().flatten() {
                        match (k.as_str(), x) {
                            ("to", Value::String(s)) => {
                                out.push_str(&format!("  to = {}\n", unwrap_interp(s).unwrap_or(s)))
                            }
                            ("id" | "for_each", x) => {
                                out.push_str(&format!("  {k} = {}\n", json_expr(x)))
                            }
                            _ => {}
                        }
                    }
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

/// A JSON string holding a template, as an HCL quoted template: the literal text escaped,
/// each `${…}` / `%{…}` sequence copied as written (quotes inside it are the expression's
/// own: `"i-${upper("x")}"`, where escaping them made HCL Terraform accepts unreadable).
fn quote_template(s: &str) -> String {
    // Sequences nested deeper than this are copied to the end as written (the HCL parser
    // then judges them); the scan never recurses without bound on hostile input.
    const DEEPEST: u32 = 64;
    // The end of the sequence whose body starts at `k` (just after `${` or `%{`).
    fn end_of_sequence(b: &[u8], mut k: usize, nest: u32) -> usize {
        if nest > DEEPEST {
            return b.len();
        }
        let mut depth = 1;
        while k < b.len() {
            match b[k] {
                b'"' => {
                    k = end_of_string(b, k + 1, nest + 1);
                    continue;
                }
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return k + 1;
                    }
                }
                _ => {}
            }
            k += 1;
        }
        b.len()
    }
    // The end of a quoted string inside a sequence whose text starts at `k`.
    fn end_of_string(b: &[u8], mut k: usize, nest: u32) -> usize {
        while k < b.len() {
            match b[k] {
                b'\\' => k += 2,
                b'"' => return k + 1,
                b'$' | b'%' if b.get(k + 1) == Some(&b'{') => {
                    k = end_of_sequence(b, k + 2, nest + 1)
                }
                _ => k += 1,
            }
        }
        b.len()
    }
    let b = s.as_bytes();
    let mut out = String::from("\"");
    let mut literal = String::new();
    let flush = |literal: &mut String, out: &mut String| {
        if !literal.is_empty() {
            let q = quote(literal);
            out.push_str(&q[1..q.len() - 1]);
            literal.clear();
        }
    };
    let mut i = 0;
    while i < b.len() {
        let rest = &s[i..];
        if rest.starts_with("$${") || rest.starts_with("%%{") {
            flush(&mut literal, &mut out);
            out.push_str(&rest[..3]);
            i += 3;
        } else if rest.starts_with("${") || rest.starts_with("%{") {
            flush(&mut literal, &mut out);
            let end = end_of_sequence(b, i + 2, 0);
            out.push_str(&s[i..end]);
            i = end;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            literal.push(c);
            i += c.len_utf8().max(1);
        }
    }
    flush(&mut literal, &mut out);
    out.push('"');
    out
}

fn json_expr(v: &Value) -> String {
    match v {
        Value::String(s) => match unwrap_interp(s) {
            Some(e) => format!("({e})"),
            // A template: JSON's escapes are HCL's, and `${`/`%{` keep their meaning.
            None => quote_template(s),
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

/// Everything that decides the root module's variable values besides the configuration, and
/// where the root module is.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// `TF_VAR_name` values by name.
    pub env: BTreeMap<String, String>,
    /// The root module's folder: its automatic variables files are read there, and module
    /// sources and the file functions resolve there. `None`: no folder (a configuration held
    /// in memory; no variables files, no child modules).
    pub dir: Option<PathBuf>,
    /// `dir` as shown in messages (`iac`).
    pub display: String,
    /// The `drift {}` block's `var_files` then `vars`, then `--var-file` / `--var` in the
    /// order given (relative files resolve in `dir`).
    pub cli: Vec<CliArg>,
    /// Resources whose references are known (see [`super::known`]), by address without an
    /// instance key; every other resource reference is known only after apply.
    pub known: super::known::Known,
}

impl Inputs {
    /// `TF_VAR_*` from this process's environment.
    pub fn env_vars() -> BTreeMap<String, String> {
        super::vars::env_vars(std::env::vars())
            .into_iter()
            .collect()
    }
}

/// Expands the root module's files (in file order) into desired instances.
///
/// # Errors
/// [`DriftError::Duplicate`] when a resource is declared twice.
pub fn expand(files: Vec<FileModel>) -> Result<Desired, DriftError> {
    expand_inputs(files, Inputs::default())
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
        base.ignore_refused = o.ignore_refused;
    }
    // `replace_triggered_by` in an override file is not merged: Terraform 1.11 keeps the
    // original's (checked with its plan), so the override's is dropped here too.
    // Blocks of a type the override writes replace all of that type.
    let kinds: BTreeSet<&str> = o.blocks.iter().map(|b| b.kind.as_str()).collect();
    base.blocks.retain(|b| !kinds.contains(b.kind.as_str()));
    base.blocks.extend(o.blocks);
}

/// One module's configuration, its files (override files included) merged.
#[derive(Debug, Clone, Default)]
struct ModuleConfig {
    resources: Vec<Declared>,
    variables: Vec<VarDecl>,
    locals: Vec<(String, Expr)>,
    outputs: Vec<Output>,
    moved: Vec<Moved>,
    removed: Vec<Removed>,
    imports: Vec<ImportBlock>,
    modules: Vec<ModuleBlock>,
}

fn merge_files(files: Vec<FileModel>) -> Result<ModuleConfig, DriftError> {
    let mut m = ModuleConfig::default();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let (base_files, overrides): (Vec<FileModel>, Vec<FileModel>) =
        files.into_iter().partition(|f| !f.is_override);
    // Sized once: growing by doubling would hold the old and the new buffer together.
    m.resources
        .reserve_exact(base_files.iter().map(|f| f.resources.len()).sum());
    for f in base_files {
        m.variables.extend(f.variables);
        m.locals.extend(f.locals);
        m.outputs.extend(f.outputs);
        m.moved.extend(f.moved);
        m.removed.extend(f.removed);
        m.imports.extend(f.imports);
        m.modules.extend(f.modules);
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
            m.resources.push(d);
        }
    }
    for f in overrides {
        for v in f.variables {
            match m.variables.iter_mut().find(|x| x.name == v.name) {
                Some(x) => {
                    if v.default.is_some() {
                        x.default = v.default;
                    }
                    if v.ty.is_some() {
                        x.ty = v.ty;
                    }
                    x.sensitive |= v.sensitive;
                }
                None => m.variables.push(v),
            }
        }
        for (n, e) in f.locals {
            match m.locals.iter_mut().find(|x| x.0 == n) {
                Some(x) => x.1 = e,
                None => m.locals.push((n, e)),
            }
        }
        for o in f.outputs {
            match m.outputs.iter_mut().find(|x| x.name == o.name) {
                Some(x) => {
                    if o.value.is_some() {
                        x.value = o.value;
                    }
                    x.sensitive |= o.sensitive;
                }
                None => m.outputs.push(o),
            }
        }
        for mb in f.modules {
            match m.modules.iter_mut().find(|x| x.name == mb.name) {
                Some(x) => {
                    if mb.source.is_some() {
                        x.source = mb.source;
                    }
                    if mb.count.is_some() {
                        x.count = mb.count;
                        x.for_each = None;
                    }
                    if mb.for_each.is_some() {
                        x.for_each = mb.for_each;
                        x.count = None;
                    }
                    x.args.extend(mb.args);
                }
                None => m.modules.push(mb),
            }
        }
        for d in f.resources {
            let addr = d.address();
            if let Some(base) = m.resources.iter_mut().find(|b| b.address() == addr) {
                merge_override(base, d);
            }
        }
    }
    Ok(m)
}

/// One instance of a resource or module: its key suffix (`[0]`, `["k"]` or nothing),
/// `count.index`, and `each.key` / `each.value`.
type InstanceKey = (String, Option<u64>, Option<(TfValue, TfValue)>);

/// The instances `count` / `for_each` make, or why they cannot be known offline.
fn instance_keys(
    count: Option<&Expr>,
    for_each: Option<&Expr>,
    scope: &Scope,
    sens: &BTreeSet<String>,
) -> Result<Vec<InstanceKey>, String> {
    match (count, for_each) {
        (Some(_), Some(_)) => Err("both `count` and `for_each` are set".into()),
        (Some(e), None) => {
            let v = e
                .eval(scope)
                .map_err(|err| format!("count = {}: {}", e.text(), failure(e, &err, sens)))?;
            if let Some(u) = v.first_unknown() {
                return Err(format!(
                    "count = {} cannot be known offline: {}",
                    e.text(),
                    u.reason
                ));
            }
            // A string converts to a number, as Terraform converts `count` (a `TF_VAR_n`
            // without a type is a string).
            let n = match &v {
                TfValue::Number(n) => Some(*n),
                TfValue::String(s) => super::value::Number::parse(s.trim()),
                _ => None,
            };
            match n
                .filter(|n| n.is_integer() && !n.is_negative())
                .and_then(|n| n.to_i128())
            {
                Some(n) if n > i128::from(MAX_INSTANCES) => Err(format!(
                    "count = {} is more than {MAX_INSTANCES} instances; not expanded",
                    e.text()
                )),
                Some(n) => Ok((0..n as u64)
                    .map(|i| (format!("[{i}]"), Some(i), None))
                    .collect()),
                None => Err(format!("count = {} is not a whole number ≥ 0", e.text())),
            }
        }
        (None, Some(e)) => {
            // Its keys would be in the addresses, for everyone to read.
            if e.mentions(sens) {
                return Err(format!(
                    "for_each = {} uses a sensitive value: Terraform refuses it, since the \
                     instance keys would show it",
                    e.text
                ));
            }
            let v = e
                .eval(scope)
                .map_err(|err| format!("for_each = {}: {err}", e.text()))?;
            // A map's keys make the instances: its values may be unknown (`each.value` is
            // then unknown), as Terraform allows. A set must be wholly known.
            let undecided = match &v {
                TfValue::Map(_) | TfValue::Object(_) => None,
                other => other.first_unknown(),
            };
            if let Some(u) = undecided {
                return Err(format!(
                    "for_each = {} cannot be known offline: {}",
                    e.text(),
                    u.reason
                ));
            }
            let len = match &v {
                TfValue::Map(m) | TfValue::Object(m) => m.len(),
                TfValue::Set(s) => s.len(),
                _ => 0,
            };
            if len as u64 > MAX_INSTANCES {
                return Err(format!(
                    "for_each = {} is more than {MAX_INSTANCES} instances; not expanded",
                    e.text()
                ));
            }
            match v {
                TfValue::Map(m) | TfValue::Object(m) => Ok(m
                    .into_iter()
                    .map(|(k, x)| {
                        (
                            format!("[{}]", quote(&k)),
                            None,
                            Some((TfValue::String(k), x)),
                        )
                    })
                    .collect()),
                TfValue::Set(items) if items.iter().all(|x| matches!(x, TfValue::String(_))) => {
                    Ok(items
                        .into_iter()
                        .filter_map(|x| match x {
                            TfValue::String(k) => Some((
                                format!("[{}]", quote(&k)),
                                None,
                                Some((TfValue::String(k.clone()), TfValue::String(k))),
                            )),
                            _ => None,
                        })
                        .collect())
                }
                _ => Err(format!(
                    "for_each = {} is not a map or a set of strings",
                    e.text()
                )),
            }
        }
        (None, None) => Ok(vec![(String::new(), None, None)]),
    }
}

/// A reference with `[count.index]` / `[each.key]` (which `replace_triggered_by` allows)
/// written as this instance's key.
fn instance_ref(r: &str, key: &InstanceKey) -> String {
    let mut r = r.to_string();
    if let Some(i) = key.1 {
        r = r.replace("[count.index]", &format!("[{i}]"));
    }
    if let Some((TfValue::String(k), _)) = &key.2 {
        r = r.replace("[each.key]", &format!("[{}]", quote(k)));
    }
    r
}

/// Sets `count.index` / `each` in `scope` for one instance.
fn enter(scope: &mut Scope, key: &InstanceKey) {
    scope.set_count_index(key.1);
    scope.set_each(key.2.clone());
}

fn leave(scope: &mut Scope) {
    scope.set_count_index(None);
    scope.set_each(None);
}

use super::vars::mentions_sensitive;

/// Why an expression could not be evaluated, without showing a sensitive value.
fn failure(e: &Expr, err: &tfeval::EvalError, sensitive: &BTreeSet<String>) -> String {
    if e.mentions(sensitive) {
        "it cannot be evaluated (the message is not shown: it involves a sensitive variable)".into()
    } else {
        format!("it cannot be evaluated: {err}")
    }
}

/// One module instance being expanded.
struct ModuleInstance<'a> {
    config: &'a ModuleConfig,
    /// The root's resources, taken out of `config` (consumed while expanding).
    owned_resources: Option<Vec<Declared>>,
    /// `path.module`: the folder relative to the root (`.` for the root).
    rel_dir: PathBuf,
    /// The address prefix: empty, or `module.a["k"].` (with the dot).
    prefix: String,
    /// The key of the module in `modules.json` (`a.b`); empty for the root.
    key: String,
    vars: BTreeMap<String, TfValue>,
    sensitive: BTreeSet<String>,
    depth: usize,
}

struct Expander {
    /// The root module's folder (`path.cwd`; relative paths resolve there).
    root_dir: PathBuf,
    display: String,
    /// `.terraform/modules/modules.json`, read when first needed.
    manifest: Option<BTreeMap<String, PathBuf>>,
    /// The module folders being expanded, outermost first (a folder calling one of them is
    /// a cycle).
    stack: Vec<PathBuf>,
    module_instances: usize,
    /// Child module configurations by folder, parsed once.
    parsed: BTreeMap<PathBuf, std::rc::Rc<ModuleConfig>>,
    /// [`Inputs::known`].
    known: super::known::Known,
    out: Desired,
}

/// Expands the root module's files with every input, and the child modules they call.
///
/// # Errors
/// As [`expand`]; [`DriftError::Config`] for variable values Terraform would refuse (a file
/// that does not parse, `--var` for an undeclared variable, a value of the wrong type) or an
/// invalid `modules.json`; a child module's broken HCL as [`DriftError::Hcl`].
pub fn expand_inputs(files: Vec<FileModel>, inputs: Inputs) -> Result<Desired, DriftError> {
    let mut config = merge_files(files)?;
    let resources = std::mem::take(&mut config.resources);
    let env: Vec<(String, String)> = inputs.env.into_iter().collect();
    let resolved = match &inputs.dir {
        Some(d) => {
            let auto = vars::auto_files(d).map_err(config_error)?;
            vars::resolve_files(&config.variables, &auto, d, &env, &inputs.cli)
        }
        None => vars::resolve_files(&config.variables, &[], Path::new("."), &env, &inputs.cli),
    }
    .map_err(config_error)?;
    let mut var_values = BTreeMap::new();
    let mut sensitive = BTreeSet::new();
    for (n, r) in resolved {
        if r.sensitive {
            sensitive.insert(format!("var.{n}"));
        }
        var_values.insert(n, r.value);
    }
    let mut x = Expander {
        root_dir: inputs.dir.clone().unwrap_or_else(|| PathBuf::from(".")),
        display: inputs.display.clone(),
        manifest: None,
        stack: vec![PathBuf::from(".")],
        module_instances: 0,
        parsed: BTreeMap::new(),
        known: inputs.known,
        out: Desired::default(),
    };
    x.module(ModuleInstance {
        config: &config,
        owned_resources: Some(resources),
        rel_dir: PathBuf::from("."),
        prefix: String::new(),
        key: String::new(),
        vars: var_values,
        sensitive,
        depth: 0,
    })?;
    x.out.module_dirs = x.parsed.keys().map(|r| x.root_dir.join(r)).collect();
    Ok(x.out)
}

fn config_error(e: vars::VarsError) -> DriftError {
    DriftError::Config {
        message: e.to_string(),
    }
}

/// A local or module name in the evaluation order of one module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Node {
    Local(usize),
    Module(usize),
}

/// Locals and module calls in an order where each comes after what it refers to (a cycle
/// is cut where it closes; its values end up unknown).
fn evaluation_order(m: &ModuleConfig) -> Vec<Node> {
    let locals: BTreeMap<&str, usize> = m
        .locals
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    let modules: BTreeMap<&str, usize> = m
        .modules
        .iter()
        .enumerate()
        .map(|(i, b)| (b.name.as_str(), i))
        .collect();
    let deps = |n: Node| -> Vec<Node> {
        let exprs: Vec<&Expr> = match n {
            Node::Local(i) => vec![&m.locals[i].1],
            Node::Module(i) => {
                let b = &m.modules[i];
                b.count
                    .iter()
                    .chain(b.for_each.iter())
                    .chain(b.args.values())
                    .collect()
            }
        };
        exprs
            .into_iter()
            .flat_map(Expr::refs)
            .filter_map(|(root, name)| match root.as_str() {
                "local" => locals.get(name.as_str()).map(|i| Node::Local(*i)),
                _ => modules.get(name.as_str()).map(|i| Node::Module(*i)),
            })
            .collect()
    };
    let all: Vec<Node> = (0..m.locals.len())
        .map(Node::Local)
        .chain((0..m.modules.len()).map(Node::Module))
        .collect();
    let mut done = BTreeSet::new();
    let mut order = Vec::with_capacity(all.len());
    for start in all {
        if done.contains(&start) {
            continue;
        }
        // Depth first without recursion: (node, its dependencies pushed?).
        let mut on_path = BTreeSet::new();
        let mut stack = vec![(start, false)];
        while let Some((n, expanded)) = stack.pop() {
            if done.contains(&n) {
                continue;
            }
            if expanded {
                on_path.remove(&n);
                done.insert(n);
                order.push(n);
                continue;
            }
            if !on_path.insert(n) {
                continue;
            }
            stack.push((n, true));
            for d in deps(n) {
                if !done.contains(&d) && !on_path.contains(&d) {
                    stack.push((d, false));
                }
            }
        }
    }
    order
}

impl Expander {
    fn unknown(&mut self, address: String, reason: String, at: &str) {
        self.out.unknown.push(Unknown {
            address,
            reason,
            at: at.to_string(),
        });
    }

    /// Expands one module instance; returns the object of its outputs, and the names of
    /// those whose value comes from a sensitive one.
    fn module(
        &mut self,
        mut inst: ModuleInstance,
    ) -> Result<(TfValue, BTreeSet<String>), DriftError> {
        let m = inst.config;
        let mut scope = Scope::new(&inst.rel_dir);
        scope.set_root(Path::new("."), &self.root_dir);
        // This module instance's resources that earlier passes found in sync.
        for (addr, v) in self
            .known
            .range(inst.prefix.clone()..)
            .take_while(|(a, _)| a.starts_with(&inst.prefix))
        {
            let rest = &addr[inst.prefix.len()..];
            if !rest.starts_with("module.") && !rest.starts_with("data.") {
                scope.set_resource(rest, v.clone());
            }
        }
        for (n, v) in &inst.vars {
            scope.set_var(n, v.clone());
        }
        // A module call read before it is evaluated is on a cycle of calls that refer to each
        // other (Terraform follows each input and output on its own; tfops evaluates a call as
        // a whole): what reads it is unknown, and says so.
        for b in &m.modules {
            scope.set_module(
                &b.name,
                TfValue::unknown(format!(
                    "module.{} is not known offline: it and another module call here refer to \
                     each other, and tfops evaluates a module call as a whole, not output \
                     by output",
                    b.name
                )),
            );
        }
        // What comes from a sensitive value is sensitive too (as Terraform marks it): locals
        // and module outputs join `inst.sensitive` in the order they are evaluated.
        for node in evaluation_order(m) {
            match node {
                Node::Local(i) => {
                    let (name, e) = &m.locals[i];
                    if e.mentions(&inst.sensitive) {
                        inst.sensitive.insert(format!("local.{name}"));
                    }
                    let v = match e.eval(&scope) {
                        Ok(v) => v,
                        Err(err) => TfValue::unknown(format!(
                            "local.{name} = {}: {}",
                            e.text(),
                            failure(e, &err, &inst.sensitive)
                        )),
                    };
                    scope.set_local(name, v);
                }
                Node::Module(i) => {
                    let b = &m.modules[i];
                    for o in self.call(b, &mut scope, &inst)? {
                        inst.sensitive.insert(format!("module.{}.{o}", b.name));
                    }
                }
            }
        }
        let sens = &inst.sensitive;

        // The root's resources are consumed one by one: the parsed blocks of a large module
        // are freed as its instances are built (peak memory).
        match inst.owned_resources.take() {
            Some(mut resources) => {
                // In the order written, taken off the end of the reversed vector, whose buffer
                // (30 MB at 100,000 resources) is given back as it empties.
                resources.reverse();
                while let Some(d) = resources.pop() {
                    self.resource(&d, &mut scope, &inst);
                    if resources.len() % RELEASE_EVERY == 0 {
                        resources.shrink_to_fit();
                    }
                }
            }
            None => {
                for d in &m.resources {
                    self.resource(d, &mut scope, &inst);
                }
            }
        }

        for mv in &m.moved {
            self.out.moved.push(Moved {
                from: format!("{}{}", inst.prefix, mv.from),
                to: format!("{}{}", inst.prefix, mv.to),
            });
        }
        for r in &m.removed {
            self.out.removed.push(Removed {
                from: format!("{}{}", inst.prefix, r.from),
                destroy: r.destroy,
            });
        }
        // Terraform reads `import` blocks in the root module only.
        if inst.depth == 0 {
            for i in &m.imports {
                let id = if i.quoted_to {
                    Err(
                        "its `to` is quoted (a string, not an address): Terraform refuses the plan"
                            .to_string(),
                    )
                } else if i.for_each {
                    Err("an import block with for_each is not expanded by tfops".to_string())
                } else {
                    match &i.id {
                        None => Err("the import block has no `id`".to_string()),
                        // The ID is shown in the report: never one made of a secret.
                        Some(e) if e.mentions(sens) => {
                            Err("its import id comes from a sensitive value".to_string())
                        }
                        Some(e) => match e.eval(&scope) {
                            Ok(TfValue::String(id)) if id.is_empty() => {
                                Err("its import id is empty: Terraform refuses the plan"
                                    .to_string())
                            }
                            Ok(TfValue::String(id)) => Ok(id),
                            // Terraform converts a number or a bool to its string.
                            Ok(v @ (TfValue::Number(_) | TfValue::Bool(_))) => {
                                match super::value::convert(v, &super::value::Type::String) {
                                    Ok(TfValue::String(id)) => Ok(id),
                                    _ => Err(format!("import id = {} is not a string", e.text())),
                                }
                            }
                            Ok(v) => match v.first_unknown() {
                                Some(u) => Err(format!("import id = {}: {}", e.text(), u.reason)),
                                None => Err(format!("import id = {} is not a string", e.text())),
                            },
                            Err(err) => Err(format!(
                                "import id = {}: {}",
                                e.text(),
                                failure(e, &err, sens)
                            )),
                        },
                    }
                };
                let refused = matches!(&id, Err(r) if r.ends_with("Terraform refuses the plan"));
                if let Some(first) = self.out.imports.get(&i.to) {
                    let reason = format!(
                        "a second import block for it (the first at {}): Terraform refuses the plan",
                        first.at
                    );
                    self.out.imports.insert(
                        i.to.clone(),
                        ImportTarget {
                            id: Err(reason),
                            at: i.at.clone(),
                            refused: true,
                        },
                    );
                    continue;
                }
                self.out.imports.insert(
                    i.to.clone(),
                    ImportTarget {
                        id,
                        at: i.at.clone(),
                        refused,
                    },
                );
            }
        } else {
            // Elsewhere Terraform refuses the plan: its target is not decided.
            for i in &m.imports {
                self.out.imports.insert(
                    format!("{}{}", inst.prefix, i.to),
                    ImportTarget {
                        id: Err(format!(
                            "an import block in {}: Terraform allows them only in the root \
                             module and refuses the plan",
                            inst.prefix.trim_end_matches('.')
                        )),
                        at: i.at.clone(),
                        refused: true,
                    },
                );
            }
        }

        let mut outputs = BTreeMap::new();
        let mut sensitive_outputs = BTreeSet::new();
        for o in &m.outputs {
            let Some(e) = &o.value else { continue };
            if o.sensitive || e.mentions(sens) {
                sensitive_outputs.insert(o.name.clone());
            }
            let v = match e.eval(&scope) {
                Ok(v) => v,
                Err(err) => TfValue::unknown(format!(
                    "output {} = {}: {}",
                    o.name,
                    e.text(),
                    failure(e, &err, sens)
                )),
            };
            if inst.depth == 0 {
                match v.first_unknown() {
                    None => {
                        self.out.outputs.insert(
                            o.name.clone(),
                            DesiredOutput {
                                value: v.to_json(),
                                ty: v.cty_type(),
                                sensitive: o.sensitive,
                            },
                        );
                    }
                    Some(u) => {
                        let reason = u.reason.clone();
                        self.unknown(format!("output.{}", o.name), reason, &o.at);
                        self.out.unknown_outputs.insert(o.name.clone());
                    }
                }
            }
            outputs.insert(o.name.clone(), v);
        }
        Ok((TfValue::Object(outputs), sensitive_outputs))
    }

    /// Expands one `resource` block of a module instance into `self.out`.
    fn resource(&mut self, d: &Declared, scope: &mut Scope, inst: &ModuleInstance) {
        let sens = &inst.sensitive;
        if d.data {
            // Data sources are read at plan time and never reported.
            return;
        }
        let base = format!("{}{}", inst.prefix, d.address());
        if !matches!(d.rtype.as_str(), "terraform_data" | "null_resource")
            || !d.replace_triggered_by.is_empty()
        {
            self.out.resource_at.insert(base.clone(), d.at.clone());
        }
        if let Some(why) = &d.trigger_refused {
            if d.count.is_some() && d.for_each.is_none() {
                self.out.with_count.insert(base.clone());
            }
            self.unknown(base, format!("replace_triggered_by = {why}"), &d.at);
            return;
        }
        if let Some(why) = &d.ignore_refused {
            if d.count.is_some() && d.for_each.is_none() {
                self.out.with_count.insert(base.clone());
            }
            self.unknown(base, format!("ignore_changes = {why}"), &d.at);
            return;
        }
        let keys = match instance_keys(d.count.as_deref(), d.for_each.as_deref(), scope, sens) {
            Ok(k) => k,
            Err(reason) => {
                if d.count.is_some() && d.for_each.is_none() {
                    self.out.with_count.insert(base.clone());
                }
                self.unknown(base, reason, &d.at);
                return;
            }
        };
        match (&d.count, &d.for_each) {
            (Some(_), None) => {
                self.out.with_count.insert(base.clone());
            }
            (None, None) => {
                self.out.single.insert(base.clone());
            }
            _ => {}
        }
        for key in &keys {
            let addr = format!("{base}{}", key.0);
            enter(scope, key);
            // At most one value per argument: sized once (a literal-only block fills it).
            let mut attrs = AttrMap(Vec::with_capacity(d.exprs.len()));
            let mut types = BTreeMap::new();
            let mut why = None;
            for (k, e) in &d.exprs {
                if let Some(v) = &e.literal {
                    // A literal's type is inferred when asked for (`type_of`): not stored.
                    attrs.insert(k.clone(), v.value());
                    continue;
                }
                let ignored = d.ignore.covers(k);
                match e.eval(scope) {
                    Ok(v) => match v.first_unknown() {
                        Some(u) if !ignored => {
                            why = Some(format!("{k} = {}: {}", e.text(), u.reason));
                            break;
                        }
                        Some(_) => {}
                        None => {
                            types.insert(k.clone(), v.cty_type());
                            attrs.insert(k.clone(), v.to_json());
                        }
                    },
                    Err(err) if !ignored => {
                        why = Some(format!("{k} = {}: {}", e.text(), failure(e, &err, sens)));
                        break;
                    }
                    Err(_) => {}
                }
            }
            let mut blocks = BTreeMap::new();
            if why.is_none() && !d.blocks.is_empty() {
                match eval_blocks(&d.blocks, &d.ignore, scope, sens) {
                    Ok(b) => blocks = b,
                    Err(reason) => why = Some(reason),
                }
            }
            leave(scope);
            if let Some(reason) = why {
                self.out.unknown_values.insert(addr.clone());
                self.unknown(addr, reason, &d.at);
                continue;
            }
            attrs.shrink();
            self.out.instances.insert(
                addr,
                DesiredInstance {
                    data: false,
                    rtype: d.rtype.clone(),
                    attrs,
                    types,
                    ignore: d.ignore.clone(),
                    replace_triggered_by: d
                        .replace_triggered_by
                        .iter()
                        .map(|r| format!("{}{}", inst.prefix, instance_ref(r, key)))
                        .collect(),
                    blocks,
                },
            );
        }
    }

    /// The folder of a module call relative to the root, or why it cannot be read.
    fn source_dir(&mut self, b: &ModuleBlock, parent: &ModuleInstance) -> Result<PathBuf, String> {
        let Some(src) = &b.source else {
            return Err("the module block has no literal `source`".into());
        };
        if super::modules::is_local(src) {
            let rel = super::modules::normalize(&parent.rel_dir.join(src));
            return if self.root_dir.join(&rel).is_dir() {
                Ok(rel)
            } else {
                Err(format!("its source folder {src} does not exist"))
            };
        }
        if self.manifest.is_none() {
            let p = crate::state::backend::data_dir(&self.root_dir).join("modules/modules.json");
            let m = if p.exists() {
                let bytes = super::functions::fs::read_path(&p).map_err(|e| e.0)?;
                super::modules::parse_manifest(&bytes, Path::new(".")).map_err(|e| {
                    let shown = p.strip_prefix(&self.root_dir).unwrap_or(&p);
                    format!("{}: {e}", shown.display())
                })?
            } else {
                BTreeMap::new()
            };
            self.manifest = Some(m);
        }
        let key = if parent.key.is_empty() {
            b.name.clone()
        } else {
            format!("{}.{}", parent.key, b.name)
        };
        match self.manifest.as_ref().and_then(|m| m.get(&key)) {
            Some(d) if self.root_dir.join(d).is_dir() => Ok(d.clone()),
            _ => Err(format!(
                "its source {src} is not installed: run terraform init"
            )),
        }
    }

    /// The parsed configuration of a child module folder (relative to the root).
    fn load(&mut self, rel: &Path) -> Result<std::rc::Rc<ModuleConfig>, DriftError> {
        if let Some(c) = self.parsed.get(rel) {
            return Ok(c.clone());
        }
        let dir = self.root_dir.join(rel);
        let shown = if self.display.is_empty() {
            rel.display().to_string()
        } else {
            format!("{}/{}", self.display, rel.display())
        };
        let mut models = Vec::new();
        for p in super::tf_files(&dir)? {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let display = format!("{shown}/{name}");
            let text = super::read_tf(&p, &display)?;
            models.push(parse_any(&text, &display)?);
        }
        let c = std::rc::Rc::new(merge_files(models)?);
        self.parsed.insert(rel.to_path_buf(), c.clone());
        Ok(c)
    }

    /// Expands a `module` block of `parent` (every instance) and sets `module.<name>` in
    /// `scope`. Returns the names of its outputs whose value comes from a sensitive one.
    fn call(
        &mut self,
        b: &ModuleBlock,
        scope: &mut Scope,
        parent: &ModuleInstance,
    ) -> Result<BTreeSet<String>, DriftError> {
        let base = format!("{}module.{}", parent.prefix, b.name);
        let fail = |x: &mut Expander, scope: &mut Scope, reason: String| {
            scope.set_module(&b.name, TfValue::unknown(format!("{base}: {reason}")));
            x.unknown(base.clone(), reason, &b.at);
        };
        let rel = match self.source_dir(b, parent) {
            Ok(r) => r,
            Err(reason) => {
                fail(self, scope, reason);
                return Ok(BTreeSet::new());
            }
        };
        if parent.depth + 1 > MAX_MODULE_DEPTH {
            fail(
                self,
                scope,
                format!("modules nested deeper than {MAX_MODULE_DEPTH}; not read"),
            );
            return Ok(BTreeSet::new());
        }
        if self.stack.contains(&rel) {
            fail(
                self,
                scope,
                format!("{} calls a module folder that contains it", rel.display()),
            );
            return Ok(BTreeSet::new());
        }
        let keys = match instance_keys(
            b.count.as_ref(),
            b.for_each.as_ref(),
            scope,
            &parent.sensitive,
        ) {
            Ok(k) => k,
            Err(reason) => {
                fail(self, scope, reason);
                return Ok(BTreeSet::new());
            }
        };
        if self.module_instances + keys.len() > MAX_MODULE_INSTANCES {
            fail(
                self,
                scope,
                format!("more than {MAX_MODULE_INSTANCES} module instances; not expanded"),
            );
            return Ok(BTreeSet::new());
        }
        self.module_instances += keys.len();
        let config = self.load(&rel)?;
        let key = if parent.key.is_empty() {
            b.name.clone()
        } else {
            format!("{}.{}", parent.key, b.name)
        };
        self.stack.push(rel.clone());
        let mut results: Vec<(InstanceKey, TfValue)> = Vec::with_capacity(keys.len());
        let mut sensitive_outputs = BTreeSet::new();
        for k in keys {
            enter(scope, &k);
            let mut vars = BTreeMap::new();
            let mut sensitive = BTreeSet::new();
            for d in &config.variables {
                let from_sensitive = b
                    .args
                    .get(&d.name)
                    .is_some_and(|e| e.mentions(&parent.sensitive));
                if d.sensitive || from_sensitive {
                    sensitive.insert(format!("var.{}", d.name));
                }
                let v = match b.args.get(&d.name) {
                    Some(e) => match e.eval(scope) {
                        Ok(TfValue::Null) if !d.nullable && d.default.is_some() => {
                            d.default.clone().unwrap_or(TfValue::Null)
                        }
                        // Converted even with unknowns inside: the defaults of `optional`
                        // attributes are filled in around them, as Terraform does.
                        Ok(v) => match &d.ty {
                            Some(t) => tfeval::convert(v, t).unwrap_or_else(|err| {
                                TfValue::unknown(format!(
                                    "var.{} of {base}: {}",
                                    d.name,
                                    if d.sensitive || e.mentions(&parent.sensitive) {
                                        "the value does not convert to its type".to_string()
                                    } else {
                                        err.to_string()
                                    }
                                ))
                            }),
                            None => v,
                        },
                        Err(err) => TfValue::unknown(format!(
                            "var.{} of {base} = {}: {}",
                            d.name,
                            e.text(),
                            failure(e, &err, &parent.sensitive)
                        )),
                    },
                    None => d.default.clone().unwrap_or_else(|| {
                        TfValue::unknown(format!("var.{} of {base} has no value", d.name))
                    }),
                };
                vars.insert(d.name.clone(), v);
            }
            leave(scope);
            let prefix = format!("{}module.{}{}.", parent.prefix, b.name, k.0);
            let (outputs, tainted) = self.module(ModuleInstance {
                config: &config,
                owned_resources: None,
                rel_dir: rel.clone(),
                prefix,
                key: key.clone(),
                vars,
                sensitive,
                depth: parent.depth + 1,
            })?;
            sensitive_outputs.extend(tainted);
            results.push((k, outputs));
        }
        self.stack.pop();
        let value = match (&b.count, &b.for_each) {
            (Some(_), _) => TfValue::Tuple(results.into_iter().map(|(_, v)| v).collect()),
            (None, Some(_)) => TfValue::Object(
                results
                    .into_iter()
                    .filter_map(|(k, v)| match k.2 {
                        Some((TfValue::String(key), _)) => Some((key, v)),
                        _ => None,
                    })
                    .collect(),
            ),
            (None, None) => results
                .into_iter()
                .next()
                .map(|(_, v)| v)
                .unwrap_or_else(|| TfValue::Object(BTreeMap::new())),
        };
        scope.set_module(&b.name, value);
        Ok(sensitive_outputs)
    }
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
            "variable \"x\" {\n  default = \"v\"\n}\nresource \"x\" \"y\" {\n  a = 1\n  b = \"s\"\n  c = { k = \"v\" }\n  d = var.x\n  e = \"${var.x}-e\"\n  provider = x.y\n  depends_on = []\n  g = [1, \"2\"]\n  lifecycle {\n    ignore_changes = []\n  }\n}\nresource \"x\" \"z\" {\n  f = upper(\"a\")\n}\nresource \"x\" \"t\" {\n  f = timestamp()\n}\n",
        );
        let i = &d.instances["x.y"];
        let keys: Vec<_> = i.attrs.keys().cloned().collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e", "g"]);
        assert_eq!(i.attrs["e"], "v-e");
        assert_eq!(
            i.type_of("g").map(|t| t.into_owned()),
            Some(serde_json::json!(["tuple", ["number", "string"]]))
        );
        assert_eq!(d.instances["x.z"].attrs["f"], "A");
        // A value known only during apply: unknown with the reason, never in sync.
        assert!(!d.instances.contains_key("x.t"));
        assert_eq!(d.unknown.len(), 1, "{:?}", d.unknown);
        assert_eq!(d.unknown[0].address, "x.t");
        assert!(
            d.unknown[0].reason.contains("timestamp"),
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
        std::fs::write(d.path().join("b.auto.tfvars.json"), "{\"n\": \"2\"}").unwrap();
        let text = "variable \"n\" {\n  type    = number\n  default = 5\n}\nvariable \"m\" {}\nvariable \"u\" {}\nresource \"a\" \"n\" {\n  count = var.n\n}\nresource \"a\" \"m\" {\n  x = var.m\n}\nresource \"a\" \"u\" {\n  count = var.u\n}\nresource \"a\" \"r\" {\n  count = length(aws_instance.x.ids)\n}\n";
        let inputs = Inputs {
            dir: Some(d.path().to_path_buf()),
            ..Inputs::default()
        };
        let d = expand_inputs(vec![parse_file(text, "t.tf").unwrap()], inputs).unwrap();
        // "2" from the JSON file (last) converted to the number 2.
        assert!(d.instances.contains_key("a.n[1]") && !d.instances.contains_key("a.n[2]"));
        assert_eq!(d.instances["a.m"].attrs["x"], "X", "a function in tfvars");
        assert_eq!(d.unknown.len(), 2, "{:?}", d.unknown);
        assert_eq!(d.unknown[0].address, "a.u");
        assert!(
            d.unknown[0].reason.contains("var.u has no value"),
            "{}",
            d.unknown[0].reason
        );
        assert_eq!(d.unknown[1].address, "a.r");
        assert!(
            d.unknown[1]
                .reason
                .contains("known only after apply: aws_instance.x"),
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

    /// Expands `main.tf` in a temp folder holding `files` (relative paths) too.
    fn expand_dir(main: &str, files: &[(&str, &str)]) -> Desired {
        let d = tempfile::tempdir().unwrap();
        for (n, t) in files {
            let p = d.path().join(n);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        }
        let inputs = Inputs {
            dir: Some(d.path().to_path_buf()),
            display: "iac".into(),
            ..Inputs::default()
        };
        expand_inputs(vec![parse_file(main, "iac/main.tf").unwrap()], inputs).unwrap()
    }

    #[test]
    fn moved_and_removed_inside_module_instances() {
        let d = expand_dir(
            "module \"m\" {\n  source = \"./m\"\n  count  = 2\n}\n",
            &[(
                "m/main.tf",
                "resource \"terraform_data\" \"b\" {}\nmoved {\n  from = terraform_data.a\n  to   = terraform_data.b\n}\nremoved {\n  from = terraform_data.old\n  lifecycle {\n    destroy = false\n  }\n}\n",
            )],
        );
        assert_eq!(
            d.moved,
            [
                Moved {
                    from: "module.m[0].terraform_data.a".into(),
                    to: "module.m[0].terraform_data.b".into()
                },
                Moved {
                    from: "module.m[1].terraform_data.a".into(),
                    to: "module.m[1].terraform_data.b".into()
                }
            ]
        );
        assert_eq!(d.removed[1].from, "module.m[1].terraform_data.old");
        assert!(!d.removed[1].destroy);
        assert!(d.single.contains("module.m[1].terraform_data.b"));
    }

    #[test]
    fn optional_attribute_defaults_are_filled_in_around_unknowns() {
        // terraform-aws-alb's `var.listeners`: a listener holding a value known only after
        // apply still gets `rules = {}` and `extra = []` from its type (Terraform plans
        // e["a"], e["b"] and r["b/r1"]).
        let d = expand_dir(
            "resource \"terraform_data\" \"x\" {}\nmodule \"m\" {\n  source = \"./m\"\n  listeners = {\n    a = { port = 80 }\n    b = { port = 443, cert = terraform_data.x.output, rules = { r1 = { priority = 1 } } }\n  }\n}\n",
            &[(
                "m/main.tf",
                r#"
variable "listeners" {
  type = map(object({
    port  = number
    cert  = optional(string)
    extra = optional(list(string), [])
    rules = optional(map(object({
      priority = optional(number)
      tag      = optional(string, "t")
    })), {})
  }))
}
locals {
  rules  = flatten([for lk, lv in var.listeners : [for rk, rv in lv.rules : merge(rv, { lk = lk, rk = rk })]])
  extras = { for k, v in var.listeners : k => v if length(v.extra) == 0 }
}
resource "terraform_data" "r" {
  for_each = { for v in local.rules : "${v.lk}/${v.rk}" => v }
  input    = each.value.tag
}
resource "terraform_data" "e" {
  for_each = local.extras
}
"#,
            )],
        );
        assert!(d.unknown.is_empty(), "{:?}", d.unknown);
        let k: Vec<_> = d.instances.keys().cloned().collect();
        assert_eq!(
            k,
            [
                "module.m.terraform_data.e[\"a\"]",
                "module.m.terraform_data.e[\"b\"]",
                "module.m.terraform_data.r[\"b/r1\"]",
                "terraform_data.x",
            ]
        );
        assert_eq!(
            d.instances["module.m.terraform_data.r[\"b/r1\"]"].attrs["input"],
            "t"
        );
    }

    #[test]
    fn a_set_with_unknown_elements_passed_as_a_list_has_no_known_length() {
        // Terraform refuses `count = length(var.l)` when `var.l` is a list(string) given
        // toset([x.output, "a"]): the two elements may turn out equal
        let d = expand_dir(
            "resource \"terraform_data\" \"x\" {}\nmodule \"m\" {\n  source = \"./m\"\n  l      = toset([terraform_data.x.output, \"a\"])\n}\n",
            &[(
                "m/main.tf",
                "variable \"l\" {\n  type = list(string)\n}\nresource \"terraform_data\" \"n\" {\n  count = length(var.l)\n}\n",
            )],
        );
        let k: Vec<_> = d.instances.keys().cloned().collect();
        assert_eq!(k, ["terraform_data.x"], "{:?}", d.unknown);
        let u: Vec<_> = d.unknown.iter().map(|u| u.address.as_str()).collect();
        assert_eq!(u, ["module.m.terraform_data.n"], "{:?}", d.unknown);
        assert!(
            d.unknown[0].reason.contains("terraform_data.x.output"),
            "{}",
            d.unknown[0].reason
        );
    }

    #[test]
    fn for_each_over_a_map_needs_known_keys_not_known_values() {
        let d = desired(
            r#"
resource "x" "a" {}
resource "x" "m" {
  for_each = { p = x.a.id, q = "v" }
  v        = each.value
}
resource "x" "s" {
  for_each = toset([x.a.id, "v"])
}
"#,
        );
        let k: Vec<_> = d.instances.keys().cloned().collect();
        assert_eq!(k, ["x.a", "x.m[\"q\"]"]);
        assert_eq!(d.instances["x.m[\"q\"]"].attrs["v"], "v");
        // x.m["p"] is an instance (its value is what is unknown); a set's elements are its
        // keys: all must be known
        let u: Vec<_> = d.unknown.iter().map(|u| u.address.as_str()).collect();
        assert_eq!(u, ["x.m[\"p\"]", "x.s"], "{:?}", d.unknown);
        assert!(
            d.unknown[1].reason.starts_with("for_each = "),
            "{}",
            d.unknown[1].reason
        );
        assert!(
            d.unknown[1].reason.contains("x.a.id"),
            "{}",
            d.unknown[1].reason
        );
    }

    #[test]
    fn module_calls_that_refer_to_each_other_say_so() {
        // terraform-aws-s3-bucket's s3-analytics example: two buckets naming each other
        let d = expand_dir(
            "module \"a\" {\n  source = \"./m\"\n  n      = 1\n  peer   = module.b.name\n}\nmodule \"b\" {\n  source = \"./m\"\n  n      = 2\n  peer   = module.a.name\n}\n",
            &[(
                "m/main.tf",
                "variable \"n\" {}\nvariable \"peer\" {}\nresource \"terraform_data\" \"t\" {\n  count = var.n\n  input = var.peer\n}\noutput \"name\" {\n  value = \"m${var.n}\"\n}\n",
            )],
        );
        // one of the two is evaluated first and cannot read the other: the instances of
        // that one are unknown with the reason, the other's are known
        let mut u: Vec<_> = d
            .unknown
            .iter()
            .filter(|u| u.reason.contains("refer to each other"))
            .map(|u| u.address.clone())
            .collect();
        u.sort();
        assert_eq!(u.len(), d.unknown.len(), "{:?}", d.unknown);
        let known: Vec<_> = d.instances.keys().cloned().collect();
        let (first, second) = if known == ["module.a.terraform_data.t[0]"] {
            ("module.b", "module.a")
        } else {
            ("module.a", "module.b")
        };
        let want_unknown: Vec<String> = (0..if first == "module.b" { 2 } else { 1 })
            .map(|i| format!("{first}.terraform_data.t[{i}]"))
            .collect();
        assert_eq!(u, want_unknown, "{:?}", d.unknown);
        assert!(
            d.unknown[0]
                .reason
                .contains(&format!("{second} is not known offline")),
            "{}",
            d.unknown[0].reason
        );
    }

    #[test]
    fn a_module_calling_its_caller_is_unknown_and_errors_name_the_child_file() {
        let d = expand_dir(
            "module \"m\" {\n  source = \"./m\"\n}\n",
            &[("m/main.tf", "module \"back\" {\n  source = \"../\"\n}\n")],
        );
        assert_eq!(d.unknown.len(), 1, "{:?}", d.unknown);
        assert_eq!(d.unknown[0].address, "module.m.module.back");
        assert_eq!(d.unknown[0].at, "iac/m/main.tf:1:1");
        assert!(
            d.unknown[0].reason.contains("calls a module folder"),
            "{}",
            d.unknown[0].reason
        );

        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("m")).unwrap();
        std::fs::write(dir.path().join("m/main.tf"), "resource \"a\" {\n").unwrap();
        let inputs = Inputs {
            dir: Some(dir.path().to_path_buf()),
            display: "iac".into(),
            ..Inputs::default()
        };
        let main = parse_file("module \"m\" {\n  source = \"./m\"\n}\n", "iac/main.tf").unwrap();
        let e = expand_inputs(vec![main], inputs).unwrap_err();
        assert!(e.to_string().starts_with("iac/m/main.tf:"), "{e}");
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

    #[test]
    fn a_literal_kept_as_text_reads_back_as_the_same_value() {
        let values = [
            serde_json::json!({"b": [1, -2, 18446744073709551615u64, "x\"\\é"], "a": {"k": null, "t": true}}),
            serde_json::json!([]),
            serde_json::json!({}),
            serde_json::json!([[[-9223372036854775808i64]], {"": "😀"}]),
        ];
        for v in values {
            let l = Literal::new(v.clone());
            assert!(matches!(l, Literal::Json(_)), "{v}");
            assert_eq!(l.value(), v);
        }
        // Scalars stay values; so does a literal deeper than the JSON reader reads back.
        assert!(matches!(Literal::new(Value::from("s")), Literal::Value(_)));
        let mut deep = Value::from(1);
        for _ in 0..150 {
            deep = Value::Array(vec![deep]);
        }
        let l = Literal::new(deep.clone());
        assert!(matches!(l, Literal::Value(_)));
        assert_eq!(l.value(), deep);
        // Through the parser: the instance gets the literal's value; a count shows its text.
        let d = desired(
            "resource \"x\" \"y\" {\n  m = { b = [1, \"2\"], a = { c = null } }\n}\nresource \"x\" \"z\" {\n  count = { a = 1 }\n}\n",
        );
        assert_eq!(
            d.instances["x.y"].attrs["m"],
            serde_json::json!({"a": {"c": null}, "b": [1, "2"]})
        );
        assert!(
            d.unknown
                .iter()
                .any(|u| u.address == "x.z" && u.reason.contains("{ a = 1 }")),
            "{:?}",
            d.unknown
        );
    }

    #[test]
    fn a_resource_argument_literal_keeps_no_text_but_can_show_one() {
        let f = parse_file(
            "resource \"x\" \"y\" {\n  a = { k = [1, 2] }\n  b = \"s\"\n  c = upper(\"s\")\n}\n",
            "t.tf",
        )
        .unwrap();
        let e = &f.resources[0].exprs;
        assert!(e.get("a").unwrap().text.is_empty());
        assert_eq!(e.get("a").unwrap().text(), r#"{"k":[1,2]}"#);
        assert_eq!(e.get("b").unwrap().text(), r#""s""#);
        assert_eq!(e.get("c").unwrap().text(), r#"upper("s")"#);
    }

    #[test]
    fn attribute_maps_keep_name_order_and_replace_like_a_map() {
        let mut m = AttrMap::default();
        assert!(m.is_empty());
        assert_eq!(m.insert("b".into(), Value::from(1)), None);
        assert_eq!(m.insert("a".into(), Value::from(2)), None);
        assert_eq!(m.insert("c".into(), Value::Null), None);
        assert_eq!(m.insert("b".into(), Value::from(3)), Some(Value::from(1)));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(m.len(), 3);
        assert_eq!(m["b"], 3);
        assert_eq!(m.get("d"), None);
        assert!(m.contains_key("c") && !m.contains_key("d"));
        let same: BTreeMap<String, Value> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(format!("{m:?}"), format!("{same:?}"));
        let collected: AttrMap = same.into_iter().rev().collect();
        assert_eq!(collected, m);
    }
}
