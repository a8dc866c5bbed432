//! The differential test: tfops drift against the real `terraform plan -refresh=false`.
//!
//! A seeded generator writes small workspaces of `terraform_data` resources (count, for_each,
//! variables with types, locals and templates, outputs, values of every type), real
//! `terraform apply` builds the state, then the generator edits the configuration (values,
//! removed attributes, count added or removed, `moved` and `removed` blocks, `ignore_changes`,
//! override files, `*.tf.json`, `TF_VAR_*`, `terraform.tfvars`, `-var` / `-var-file`,
//! Terraform's functions, a local module with count / for_each and a nested module below it,
//! outputs) and the real plan is
//! the oracle: every case must agree address by address and action by action, and nothing may
//! be left `unknown` (every feature generated here is one tfops decides). The share of
//! addresses decided is printed (and must be at least 95%). Each case is then checked once
//! more with a comment before and after every expression and after every argument (which
//! Terraform ignores; decorated files printed with `TFOPS_SHOW_DECORATED=1` passed
//! `terraform validate` when checked by hand — the test itself runs only tfops on them):
//! tfops must decide the same.
//!
//! Terraform: `TFOPS_TERRAFORM_PLAN`, else `terraform` on PATH (>= 1.4, for `terraform_data`).
//! Under CI (`CI` or `TFOPS_REQUIRE_TOOLS=1`) a missing one fails the test.
//! `TFOPS_DIFF_CASES=N` sets the number of cases (default 120); `TFOPS_DIFF_SEED=S` replays one.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

/// A small deterministic generator (xorshift64*), so that a seed replays a case exactly.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

fn value(r: &mut Rng, depth: u32) -> Value {
    match r.below(if depth > 1 { 7 } else { 10 }) {
        0 => json!(format!("s{}", r.below(4))),
        1 => json!(r.below(4)),
        2 => json!(r.below(4).to_string()),
        3 => json!(r.chance(50)),
        4 => json!(12345678901234567890u64 + r.below(2)),
        5 => json!(1.5),
        6 => json!(format!("{}", r.below(2))),
        7 => Value::Array((0..r.below(3)).map(|_| value(r, depth + 1)).collect()),
        _ => {
            let mut m = serde_json::Map::new();
            for i in 0..r.below(3) {
                m.insert(format!("k{i}"), value(r, depth + 1));
            }
            Value::Object(m)
        }
    }
}

fn hcl(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).unwrap(),
        Value::Array(a) => format!("[{}]", a.iter().map(hcl).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{ {} }}",
            o.iter()
                .map(|(k, x)| format!("{k} = {}", hcl(x)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

#[derive(Clone, Debug)]
enum Mode {
    Single,
    Count(u64),
    ForEach(Vec<String>),
}

#[derive(Clone, Debug)]
struct Res {
    name: String,
    mode: Mode,
    /// HCL text of `input` (None: not set).
    input: Option<String>,
    trig: Option<String>,
    ignore: Option<String>,
    /// Written to `extra.tf.json` instead of `main.tf` (literal values only).
    json: Option<(Option<Value>, Option<Value>)>,
}

#[derive(Clone, Debug, Default)]
struct Ws {
    vars: Vec<(String, Option<String>, Option<String>)>, // name, type, default (HCL)
    locals: Vec<(String, String)>,
    res: Vec<Res>,
    outputs: Vec<(String, String)>,
    moved: Vec<(String, String)>,
    removed: Vec<String>,
    overrides: Vec<(String, String)>, // resource name, input HCL
    tfvars: Vec<(String, String)>,
    env: BTreeMap<String, String>,
    /// A local module called from the root (`modules/m`, and `modules/inner` below it).
    module: Option<Module>,
    /// Command-line variables in order: `(true, FILE)` is `-var-file`, `(false, N=V)` `-var`.
    cli: Vec<(bool, String)>,
    /// `extra.tfvars`, for `-var-file`.
    var_file: Option<String>,
}

/// `module "m" { source = "./modules/m" … }` with `terraform_data.t` inside, an optional
/// nested `module "inner"` (`for_each`), and root `terraform_data.mo` and root outputs using
/// its outputs.
#[derive(Clone, Debug)]
struct Module {
    /// The block's label (`m`; renamed with a `moved` block by an edit).
    name: String,
    mode: Mode,
    /// HCL of the `x` argument (a string).
    arg: String,
    /// HCL of `terraform_data.t`'s input inside the module, over `var.x`.
    body: String,
    inner: bool,
    /// Root `terraform_data.mo` with `input` = the module's output.
    use_out: bool,
}

impl Module {
    fn files(&self) -> Vec<(String, String)> {
        let mut m = format!(
            "variable \"x\" {{\n  type = string\n}}\n\nresource \"terraform_data\" \"t\" {{\n  input = {}\n}}\n\noutput \"out\" {{\n  value = \"${{var.x}}-o\"\n}}\n",
            self.body
        );
        let mut files = Vec::new();
        if self.inner {
            m.push_str("\nmodule \"inner\" {\n  source   = \"../inner\"\n  for_each = toset([\"k1\", var.x])\n  y        = \"${var.x}-${each.key}\"\n}\n\noutput \"inner\" {\n  value = { for k, v in module.inner : k => v.len }\n}\n");
            files.push((
                "modules/inner/main.tf".to_string(),
                "variable \"y\" {\n  type = string\n}\n\nresource \"terraform_data\" \"u\" {\n  count = 1\n  input = [var.y, length(var.y)]\n}\n\noutput \"len\" {\n  value = length(var.y)\n}\n".to_string(),
            ));
        }
        files.push(("modules/m/main.tf".to_string(), m));
        files
    }

    /// The root's block and what uses its output.
    fn root(&self) -> String {
        let name = &self.name;
        let mut t = format!("module \"{name}\" {{\n  source = \"./modules/m\"\n");
        let one = match &self.mode {
            Mode::Single => format!("module.{name}"),
            Mode::Count(n) => {
                t.push_str(&format!("  count  = {n}\n"));
                format!("module.{name}[0]")
            }
            Mode::ForEach(k) => {
                t.push_str(&format!(
                    "  for_each = toset([{}])\n",
                    k.iter()
                        .map(|x| format!("\"{x}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                format!("module.{name}[\"{}\"]", k[0])
            }
        };
        t.push_str(&format!("  x      = {}\n}}\n\n", self.arg));
        if self.use_out {
            t.push_str(&format!(
                "resource \"terraform_data\" \"mo\" {{\n  input = {one}.out\n}}\n\noutput \"mo\" {{\n  value = {one}.out\n}}\n\n"
            ));
        }
        if self.inner {
            t.push_str(&format!(
                "output \"inner\" {{\n  value = {one}.inner\n}}\n\n"
            ));
        }
        t
    }
}

/// Inputs that call Terraform's functions over the variables and locals.
const FUNCTION_INPUTS: &[&str] = &[
    "upper(\"${var.s}x\")",
    "format(\"%s-%d\", var.s, var.n)",
    "max(var.n, 2)",
    "jsonencode({ a = var.s, b = [var.n] })",
    "md5(local.p)",
    "cidrsubnet(\"10.0.0.0/16\", 8, var.n)",
    "merge({ a = 1 }, { b = var.s })",
    "replace(local.p, \"p\", \"q\")",
    "concat([1], [var.n])",
    "coalesce(\"\", var.s)",
    "range(var.n)",
    "zipmap([\"a\"], [var.n])",
    "element([\"a\", \"b\", \"c\"], var.n)",
    "contains([\"1\"], var.s)",
    "lookup({ a = 1 }, var.s, 0)",
    "sort([\"b\", var.s])",
    "flatten([[var.n], [1, 2]])",
    "substr(local.p, 0, 1)",
    "split(\"p\", local.p)",
    "trimspace(\" ${var.s} \")",
    "ceil(var.n / 2)",
    "toset([var.s, \"a\", var.s])",
    "tomap({ a = var.s, b = \"x\" })",
    "sha256(var.s)",
    "base64encode(local.p)",
    "[for i in range(var.n) : \"${local.p}-${i}\"]",
    "try(tonumber(var.s), -1)",
    "length(var.s) > 0 ? \"long\" : \"short\"",
    "join(\",\", formatlist(\"<%s>\", [var.s, local.p]))",
    "templatefile(\"${path.module}/t.tpl\", { v = var.s })",
    "yamlencode({ a = [var.n] })",
    "cidrhost(\"10.1.0.0/24\", var.n)",
    "regex(\"[0-9]+\", \"a${var.n}b\")",
    "title(\"hello ${local.p}\")",
    "abs(0 - var.n)",
    "one([var.s])",
    "keys({ z = 1, a = var.n })",
    "alltrue([var.n > 0, true])",
    "setproduct([\"a\"], [var.n])",
];

/// Inside the module: inputs over `var.x` (a string).
const MODULE_BODIES: &[&str] = &[
    "var.x",
    "upper(var.x)",
    "\"${var.x}-t\"",
    "[var.x, length(var.x)]",
    "{ a = var.x, b = md5(var.x) }",
    "split(\"-\", var.x)",
    "format(\"%s!\", var.x)",
];

/// Module arguments (strings) from the root.
const MODULE_ARGS: &[&str] = &["var.s", "\"${local.p}-m\"", "\"lit\"", "upper(local.p)"];

impl Ws {
    fn files(&self) -> Vec<(String, String)> {
        let mut main = String::new();
        for (n, t, d) in &self.vars {
            main.push_str(&format!("variable \"{n}\" {{\n"));
            if let Some(t) = t {
                main.push_str(&format!("  type = {t}\n"));
            }
            if let Some(d) = d {
                main.push_str(&format!("  default = {d}\n"));
            }
            main.push_str("}\n\n");
        }
        if !self.locals.is_empty() {
            main.push_str("locals {\n");
            for (n, v) in &self.locals {
                main.push_str(&format!("  {n} = {v}\n"));
            }
            main.push_str("}\n\n");
        }
        let mut json_res = serde_json::Map::new();
        for r in &self.res {
            if let Some((input, trig)) = &r.json {
                let mut body = serde_json::Map::new();
                if let Some(i) = input {
                    body.insert("input".into(), i.clone());
                }
                if let Some(t) = trig {
                    body.insert("triggers_replace".into(), t.clone());
                }
                json_res.insert(r.name.clone(), Value::Object(body));
                continue;
            }
            main.push_str(&format!("resource \"terraform_data\" \"{}\" {{\n", r.name));
            match &r.mode {
                Mode::Single => {}
                Mode::Count(n) => main.push_str(&format!("  count = {n}\n")),
                Mode::ForEach(k) => main.push_str(&format!(
                    "  for_each = toset([{}])\n",
                    k.iter()
                        .map(|x| format!("\"{x}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
            if let Some(i) = &r.input {
                main.push_str(&format!("  input = {i}\n"));
            }
            if let Some(t) = &r.trig {
                main.push_str(&format!("  triggers_replace = {t}\n"));
            }
            if let Some(ig) = &r.ignore {
                main.push_str(&format!(
                    "  lifecycle {{\n    ignore_changes = {ig}\n  }}\n"
                ));
            }
            main.push_str("}\n\n");
        }
        if let Some(m) = &self.module {
            main.push_str(&m.root());
        }
        for (n, v) in &self.outputs {
            main.push_str(&format!("output \"{n}\" {{\n  value = {v}\n}}\n\n"));
        }
        for (f, t) in &self.moved {
            main.push_str(&format!("moved {{\n  from = {f}\n  to   = {t}\n}}\n\n"));
        }
        for f in &self.removed {
            main.push_str(&format!(
                "removed {{\n  from = {f}\n  lifecycle {{\n    destroy = false\n  }}\n}}\n\n"
            ));
        }
        let mut files = vec![("main.tf".to_string(), main)];
        if !json_res.is_empty() {
            files.push((
                "extra.tf.json".into(),
                serde_json::to_string_pretty(&json!({"resource": {"terraform_data": json_res}}))
                    .unwrap(),
            ));
        }
        if !self.overrides.is_empty() {
            let mut o = String::new();
            for (n, i) in &self.overrides {
                o.push_str(&format!(
                    "resource \"terraform_data\" \"{n}\" {{\n  input = {i}\n}}\n"
                ));
            }
            files.push(("override.tf".into(), o));
        }
        if !self.tfvars.is_empty() {
            let t: String = self
                .tfvars
                .iter()
                .map(|(k, v)| format!("{k} = {v}\n"))
                .collect();
            files.push(("terraform.tfvars".into(), t));
        }
        if let Some(m) = &self.module {
            files.extend(m.files());
        }
        if let Some(v) = &self.var_file {
            files.push(("extra.tfvars".into(), v.clone()));
        }
        files.push(("t.tpl".into(), "[%{ if v != \"\" }${v}%{ endif }]\n".into()));
        files
    }

    /// The command-line variables as Terraform takes them.
    fn tf_args(&self) -> Vec<String> {
        self.cli
            .iter()
            .map(|(file, v)| {
                if *file {
                    format!("-var-file={v}")
                } else {
                    format!("-var={v}")
                }
            })
            .collect()
    }

    /// The same for tfops (`dir` is the module folder).
    fn tfops_args(&self, dir: &Path) -> Vec<tfops::drift::vars::CliArg> {
        self.cli
            .iter()
            .map(|(file, v)| {
                if *file {
                    tfops::drift::vars::CliArg::VarFile(dir.join(v))
                } else {
                    tfops::drift::vars::CliArg::Var(v.clone())
                }
            })
            .collect()
    }
}

fn base(r: &mut Rng) -> Ws {
    let mut ws = Ws::default();
    let n = 1 + r.below(4);
    ws.vars.push(("v".into(), None, Some(hcl(&value(r, 1)))));
    ws.vars.push((
        "s".into(),
        Some("string".into()),
        Some(r.below(3).to_string()),
    ));
    ws.vars.push((
        "n".into(),
        Some("number".into()),
        Some((1 + r.below(2)).to_string()),
    ));
    ws.locals.push(("p".into(), format!("\"p{}\"", r.below(3))));
    for i in 0..n {
        let mode = match r.below(4) {
            0 => Mode::Count(1 + r.below(2)),
            1 => Mode::ForEach(vec!["a".into(), "b".into()]),
            _ => Mode::Single,
        };
        let input = match r.below(8) {
            0 => None,
            1 => Some("var.v".to_string()),
            2 => Some("\"${local.p}-x\"".to_string()),
            3 => Some("var.s".to_string()),
            4 | 5 => Some(function_input(r)),
            _ => Some(hcl(&value(r, 0))),
        };
        let trig = r.chance(25).then(|| hcl(&value(r, 1)));
        ws.res.push(Res {
            name: format!("r{i}"),
            mode,
            input,
            trig,
            ignore: None,
            json: None,
        });
    }
    if r.chance(50) {
        ws.outputs.push(("o".into(), hcl(&value(r, 1))));
    }
    if r.chance(40) {
        ws.module = Some(Module {
            name: "m".into(),
            mode: match r.below(3) {
                0 => Mode::Single,
                1 => Mode::Count(1 + r.below(2)),
                _ => Mode::ForEach(vec!["a".into(), "b".into()]),
            },
            arg: pick(r, MODULE_ARGS),
            body: pick(r, MODULE_BODIES),
            inner: r.chance(50),
            use_out: r.chance(50),
        });
    }
    ws
}

fn pick(r: &mut Rng, from: &[&str]) -> String {
    from[r.below(from.len() as u64) as usize].to_string()
}

fn function_input(r: &mut Rng) -> String {
    pick(r, FUNCTION_INPUTS)
}

/// One or two edits; returns the edited workspace and what was done (for the failure message).
fn edit(r: &mut Rng, ws: &Ws) -> (Ws, Vec<String>) {
    let mut w = ws.clone();
    let mut done = Vec::new();
    // One case in five: the only edit is an input that refers to another resource, left as
    // it is (so in sync: its values are the state's, which Terraform and tfops both read).
    if w.res.len() > 1 && r.chance(20) {
        let i = r.below(w.res.len() as u64) as usize;
        let j = (i + 1 + r.below(w.res.len() as u64 - 1) as usize) % w.res.len();
        let other = &w.res[j];
        let key = match &other.mode {
            Mode::Single => String::new(),
            Mode::Count(_) => "[0]".into(),
            Mode::ForEach(keys) => format!("[\"{}\"]", keys[0]),
        };
        let attr = pick(r, &["output", "input", "id"]);
        let reference = format!("terraform_data.{}{key}.{attr}", other.name);
        // (Only `id` is surely a string, which a template needs.)
        w.res[i].input = Some(if attr == "id" && r.chance(50) {
            format!("\"${{{reference}}}-x\"")
        } else {
            reference.clone()
        });
        done.push(format!("{}: input refers to {reference}", w.res[i].name));
        return (w, done);
    }
    for _ in 0..1 + r.below(2) {
        let i = r.below(w.res.len() as u64) as usize;
        let name = w.res[i].name.clone();
        match r.below(23) {
            17 => {
                w.res[i].input = Some(function_input(r));
                done.push(format!("{name}: input calls a function"));
            }
            18 => {
                let v = format!("s=c{}", r.below(3));
                w.cli.push((false, v.clone()));
                w.res[i].input = Some(if r.chance(50) {
                    "var.s".into()
                } else {
                    function_input(r)
                });
                done.push(format!("{name}: input over var.s, -var {v}"));
            }
            19 => {
                w.var_file = Some(format!("n = {}\ns = \"f{}\"\n", 1 + r.below(3), r.below(2)));
                w.cli.push((true, "extra.tfvars".into()));
                if r.chance(50) {
                    w.cli.push((false, format!("n={}", r.below(3))));
                }
                w.res[i].input = Some(function_input(r));
                done.push(format!(
                    "{name}: -var-file (and maybe -var after it) {:?}",
                    w.cli
                ));
            }
            20..=22 if w.module.is_some() => {
                let m = w.module.as_mut().unwrap();
                match r.below(6) {
                    5 => {
                        let new = format!("{}2", m.name);
                        w.moved
                            .push((format!("module.{}", m.name), format!("module.{new}")));
                        done.push(format!(
                            "module {}: renamed {new} with a moved block",
                            m.name
                        ));
                        m.name = new;
                    }
                    0 => {
                        m.arg = pick(r, MODULE_ARGS);
                        done.push(format!("module m: x = {}", m.arg));
                    }
                    1 => {
                        m.body = pick(r, MODULE_BODIES);
                        done.push(format!("module m: t.input = {}", m.body));
                    }
                    2 => {
                        m.mode = match &m.mode {
                            Mode::Single => Mode::Single,
                            Mode::Count(n) => Mode::Count(if *n > 1 { n - 1 } else { n + 1 }),
                            Mode::ForEach(_) => Mode::ForEach(vec!["b".into(), "c".into()]),
                        };
                        done.push(format!("module m: instances {:?}", m.mode));
                    }
                    3 => {
                        m.inner = !m.inner;
                        m.use_out = !m.use_out;
                        done.push(format!("module m: inner {}, mo {}", m.inner, m.use_out));
                    }
                    _ => {
                        w.module = None;
                        done.push("module m deleted".into());
                    }
                }
            }
            20..=22 => {
                w.module = Some(Module {
                    name: "m".into(),
                    mode: Mode::Count(1),
                    arg: pick(r, MODULE_ARGS),
                    body: pick(r, MODULE_BODIES),
                    inner: r.chance(50),
                    use_out: true,
                });
                done.push("module m added".into());
            }
            0 => {
                w.res[i].input = Some(hcl(&value(r, 0)));
                done.push(format!("{name}: new input"));
            }
            1 => {
                w.res[i].input = None;
                done.push(format!("{name}: input removed"));
            }
            2 => {
                w.res[i].trig = Some(hcl(&value(r, 1)));
                done.push(format!("{name}: new triggers_replace"));
            }
            3 => {
                w.res[i].mode = match w.res[i].mode {
                    Mode::Single => Mode::Count(1),
                    Mode::Count(1) => Mode::Single,
                    Mode::Count(n) => Mode::Count(n + 1),
                    Mode::ForEach(_) => Mode::ForEach(vec!["a".into(), "c".into()]),
                };
                done.push(format!("{name}: count/for_each changed"));
            }
            4 => {
                let new = format!("{name}_moved");
                w.res[i].name = new.clone();
                w.moved.push((
                    format!("terraform_data.{name}"),
                    format!("terraform_data.{new}"),
                ));
                done.push(format!("{name}: renamed with a moved block"));
            }
            5 => {
                w.res.remove(i);
                w.removed.push(format!("terraform_data.{name}"));
                done.push(format!("{name}: removed block, destroy = false"));
                if w.res.is_empty() {
                    break;
                }
            }
            6 => {
                w.res.remove(i);
                done.push(format!("{name}: deleted"));
                if w.res.is_empty() {
                    break;
                }
            }
            7 => {
                let n = w.res.len();
                w.res.push(Res {
                    name: format!("new{n}"),
                    mode: Mode::Single,
                    input: Some(hcl(&value(r, 0))),
                    trig: None,
                    ignore: None,
                    json: None,
                });
                done.push("a resource added".into());
            }
            8 => {
                w.res[i].ignore = Some(if r.chance(50) { "[input]" } else { "all" }.into());
                w.res[i].input = Some(hcl(&value(r, 0)));
                w.res[i].trig = Some(hcl(&value(r, 1)));
                done.push(format!("{name}: ignore_changes and new values"));
            }
            9 => {
                w.overrides.push((name.clone(), hcl(&value(r, 0))));
                done.push(format!("{name}: override.tf sets input"));
            }
            10 => {
                if matches!(w.res[i].mode, Mode::Single)
                    && w.res[i].ignore.is_none()
                    && w.res[i]
                        .input
                        .as_ref()
                        .is_none_or(|t| !t.contains("var.") && !t.contains("local."))
                {
                    let lit = |t: &Option<String>| {
                        t.as_ref().map(|t| {
                            let v: Value = hcl::from_str(&format!("x = {t}\n")).unwrap();
                            v["x"].clone()
                        })
                    };
                    let (a, b) = (lit(&w.res[i].input), lit(&w.res[i].trig));
                    w.res[i].json = Some((a, b));
                    done.push(format!("{name}: moved to extra.tf.json"));
                }
            }
            11 => {
                w.vars[0].2 = Some(hcl(&value(r, 1)));
                w.res[i].input = Some("var.v".into());
                done.push(format!("{name}: input = var.v, default changed"));
            }
            12 => {
                w.env.insert("v".into(), format!("e{}", r.below(3)));
                w.res[i].input = Some("var.v".into());
                done.push(format!("{name}: input = var.v, TF_VAR_v set"));
            }
            13 => {
                w.tfvars.retain(|(k, _)| k != "s");
                w.tfvars.push(("s".into(), format!("\"t{}\"", r.below(2))));
                w.res[i].input = Some("var.s".into());
                done.push(format!("{name}: input = var.s, terraform.tfvars"));
            }
            14 => {
                w.locals[0].1 = format!("\"q{}\"", r.below(2));
                w.res[i].input = Some("\"${local.p}-x\"".into());
                done.push(format!("{name}: template over a changed local"));
            }
            15 => {
                if w.outputs.is_empty() || r.chance(50) {
                    w.outputs = vec![("o".into(), hcl(&value(r, 1)))];
                    done.push("output o set".into());
                } else {
                    w.outputs.clear();
                    done.push("output o removed".into());
                }
            }
            _ => {
                w.res[i].input = Some(format!("var.n + {}", r.below(2)));
                w.env.insert("n".into(), (1 + r.below(2)).to_string());
                done.push(format!("{name}: input = var.n + k, TF_VAR_n"));
            }
        }
    }
    (w, done)
}

fn tf(
    bin: &Path,
    dir: &Path,
    args: &[&str],
    env: &BTreeMap<String, String>,
) -> Result<Vec<u8>, String> {
    let mut c = Command::new(bin);
    c.current_dir(dir)
        .args(args)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1");
    for (k, _) in std::env::vars() {
        if k.starts_with("TF_VAR_") {
            c.env_remove(k);
        }
    }
    for (k, v) in env {
        c.env(format!("TF_VAR_{k}"), v);
    }
    let o = c.output().map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(format!(
            "terraform {args:?} failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(o.stdout)
}

fn write(dir: &Path, ws: &Ws) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let n = p.file_name().unwrap().to_string_lossy().to_string();
        if n.ends_with(".tf") || n.ends_with(".tf.json") || n.ends_with(".tfvars") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let _ = std::fs::remove_dir_all(dir.join("modules"));
    for (n, t) in ws.files() {
        let p = dir.join(n);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, t).unwrap();
    }
}

/// Terraform's plan as a set of (kind, address, action) rows.
fn oracle(plan: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for rc in plan["resource_changes"].as_array().into_iter().flatten() {
        if rc["mode"] == "data" || rc.get("deposed").is_some() {
            continue;
        }
        let addr = rc["address"].as_str().unwrap();
        let acts: Vec<&str> = rc["change"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        if let Some(prev) = rc["previous_address"].as_str() {
            out.insert(format!("moved {prev} -> {addr}"));
        }
        let a = match acts.as_slice() {
            ["no-op"] | ["read"] => continue,
            ["create"] => "create",
            ["delete"] => "destroy",
            ["update"] => "update",
            ["forget"] => "forget",
            ["delete", "create"] | ["create", "delete"] => "replace",
            other => panic!("unexpected actions {other:?}"),
        };
        out.insert(format!("{a} {addr}"));
    }
    for (name, oc) in plan["output_changes"].as_object().into_iter().flatten() {
        let acts: Vec<&str> = oc["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        match acts.as_slice() {
            ["no-op"] => {}
            [a] => {
                out.insert(format!("output {name} {a}"));
            }
            other => {
                out.insert(format!("output {name} {other:?}"));
            }
        }
    }
    out
}

fn ours(r: &tfops::drift::Report) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for a in &r.create {
        out.insert(format!("create {a}"));
    }
    for a in &r.destroy {
        out.insert(format!("destroy {a}"));
    }
    for u in &r.update {
        out.insert(format!("update {}", u.address));
    }
    for u in &r.replace {
        out.insert(format!("replace {}", u.address));
    }
    for a in &r.forget {
        out.insert(format!("forget {a}"));
    }
    for m in &r.moved {
        out.insert(format!("moved {} -> {}", m.from, m.to));
    }
    for o in &r.outputs {
        out.insert(format!("output {} {}", o.name, o.action));
    }
    for u in &r.unknown {
        out.insert(format!("unknown {} ({})", u.address, u.reason));
    }
    out
}

/// `text` with a block comment before and after every expression and a line comment after
/// every argument: places where HCL allows comments and Terraform ignores them.
fn decorate(text: &str) -> Result<String, String> {
    use hcl_edit::expr::Expression;
    use hcl_edit::structure::{AttributeMut, Body};
    use hcl_edit::visit_mut::{visit_attr_mut, visit_expr_mut, VisitMut};
    use hcl_edit::Decorate;
    struct Commenter(u32);
    impl VisitMut for Commenter {
        fn visit_expr_mut(&mut self, e: &mut Expression) {
            visit_expr_mut(self, e);
            self.0 += 1;
            let n = self.0;
            let d = e.decor_mut();
            d.set_prefix(format!(" /* c{n} */ "));
            d.set_suffix(format!(" /* d{n} */ "));
        }
        fn visit_attr_mut(&mut self, mut a: AttributeMut) {
            a.decor_mut().set_suffix(" # why");
            visit_attr_mut(self, a);
        }
    }
    let mut body: Body = text.parse().map_err(|e| format!("{e}"))?;
    Commenter(0).visit_body_mut(&mut body);
    Ok(body.to_string())
}

/// What one agreeing case decided.
struct Outcome {
    /// Terraform planned a change.
    changed: bool,
    /// Addresses in tfops's report (in sync, changed or unknown).
    addresses: usize,
    /// Of those, unknown.
    unknown: usize,
    /// Features the case used: a module, a nested module, a function call, `-var`/`-var-file`,
    /// a module renamed with a `moved` block.
    features: [bool; 6],
}

/// Runs one case; `Err` describes the disagreement.
fn case(bin: &Path, root: &Path, seed: u64) -> Result<Outcome, String> {
    let mut r = Rng::new(seed);
    let ws = base(&mut r);
    let (edited, done) = edit(&mut r, &ws);
    let dir = root.join(format!("case_{seed}"));
    std::fs::create_dir_all(&dir).unwrap();
    write(&dir, &ws);
    let init = ["init", "-input=false", "-no-color", "-backend=false"];
    if ws.module.is_some() {
        tf(bin, &dir, &init, &ws.env)?;
    }
    let mut apply: Vec<String> = ["apply", "-auto-approve", "-input=false", "-no-color"]
        .map(String::from)
        .to_vec();
    apply.extend(ws.tf_args());
    let apply: Vec<&str> = apply.iter().map(String::as_str).collect();
    tf(bin, &dir, &apply, &ws.env)?;
    write(&dir, &edited);
    if edited.module.is_some() {
        tf(bin, &dir, &init, &edited.env)?;
    }
    let mut plan: Vec<String> = [
        "plan",
        "-refresh=false",
        "-input=false",
        "-no-color",
        "-out=p.plan",
    ]
    .map(String::from)
    .to_vec();
    plan.extend(edited.tf_args());
    let plan: Vec<&str> = plan.iter().map(String::as_str).collect();
    tf(bin, &dir, &plan, &edited.env)?;
    let shown = tf(bin, &dir, &["show", "-json", "p.plan"], &edited.env)?;
    let plan: Value = serde_json::from_slice(&shown).map_err(|e| e.to_string())?;
    let theirs = oracle(&plan);
    let target = tfops::drift::Target {
        dir: dir.clone(),
        state: dir.join("terraform.tfstate"),
        dir_display: dir.display().to_string(),
        state_display: "terraform.tfstate".into(),
        vars: edited.tfops_args(&dir),
    };
    let report = tfops::drift::detect_target_env(&target, edited.env.clone())
        .map_err(|e| format!("tfops drift failed: {e}"))?;
    let mine = ours(&report);
    // The same configuration with comments around every expression and after every
    // argument, which Terraform ignores: tfops's verdicts must not change either.
    let mut decorated_files = 0;
    for (n, t) in edited.files() {
        if n.ends_with(".tf") {
            let d = decorate(&t).map_err(|e| format!("seed {seed}: {n} does not parse: {e}"))?;
            if std::env::var_os("TFOPS_SHOW_DECORATED").is_some() {
                println!("--- {n}\n{d}");
            }
            std::fs::write(dir.join(&n), d).unwrap();
            decorated_files += 1;
        }
    }
    if decorated_files > 0 {
        let again = tfops::drift::detect_target_env(&target, edited.env.clone())
            .map_err(|e| format!("seed {seed}: tfops drift failed with comments added: {e}"))?;
        let with_comments = ours(&again);
        if with_comments != mine {
            let files: String = edited
                .files()
                .iter()
                .filter(|(n, _)| n.ends_with(".tf"))
                .map(|(n, t)| format!("--- {n}\n{}", decorate(t).unwrap_or_default()))
                .collect();
            return Err(format!(
                "seed {seed}: comments changed tfops's verdicts\n  without: {mine:?}\n  with:    {with_comments:?}\n{files}"
            ));
        }
    }
    // The exit code as `terraform plan -detailed-exitcode` gives it.
    let tf_exit = if theirs.is_empty() { 0 } else { 2 };
    if theirs != mine || tf_exit != report.exit_code() {
        let files: String = edited
            .files()
            .iter()
            .map(|(n, t)| format!("--- {n}\n{t}"))
            .collect();
        return Err(format!(
            "seed {seed}: edits {done:?}\n  terraform: {theirs:?}\n  tfops:     {mine:?}\n  exit: terraform {tf_exit}, tfops {}\n  TF_VAR: {:?}\n  command line: {:?}\n{files}\n  replay: TFOPS_DIFF_SEED={seed} cargo test --test drift_differential -- --nocapture",
            report.exit_code(),
            edited.env,
            edited.tf_args(),
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let sm = &report.summary;
    Ok(Outcome {
        changed: !theirs.is_empty(),
        addresses: sm.in_sync
            + sm.create
            + sm.destroy
            + sm.update
            + sm.replace
            + sm.forget
            + sm.unknown,
        unknown: sm.unknown,
        features: [
            ws.module.is_some() || edited.module.is_some(),
            [&ws, &edited]
                .iter()
                .any(|w| w.module.as_ref().is_some_and(|m| m.inner)),
            [&ws, &edited].iter().any(|w| {
                w.res
                    .iter()
                    .any(|r| r.input.as_ref().is_some_and(|i| i.contains('(')))
            }),
            !edited.cli.is_empty(),
            edited.moved.iter().any(|(f, _)| f.starts_with("module.")),
            edited.res.iter().any(|r| {
                r.input
                    .as_ref()
                    .is_some_and(|i| i.contains("terraform_data."))
            }),
        ],
    })
}

#[test]
fn tfops_drift_agrees_with_terraform_plan() {
    let required = std::env::var_os("CI").is_some()
        || std::env::var("TFOPS_REQUIRE_TOOLS").is_ok_and(|v| v == "1");
    let Some(bin) = common::terraform_1_4() else {
        assert!(
            !required,
            "terraform >= 1.4 is required under CI (set TFOPS_TERRAFORM_PLAN or put it on PATH)"
        );
        eprintln!("SKIP: no terraform >= 1.4 (set TFOPS_TERRAFORM_PLAN)");
        return;
    };
    let seeds: Vec<u64> = match std::env::var("TFOPS_DIFF_SEED") {
        Ok(s) => vec![s.parse().expect("TFOPS_DIFF_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("TFOPS_DIFF_CASES")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(120);
            (1..=n).collect()
        }
    };
    let root = tempfile::tempdir().unwrap();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    let changed = std::sync::atomic::AtomicUsize::new(0);
    let addresses = std::sync::atomic::AtomicUsize::new(0);
    let unknown = std::sync::atomic::AtomicUsize::new(0);
    let features = std::sync::Mutex::new([0usize; 6]);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(seed) = seeds.get(i) else { break };
                match case(&bin, root.path(), *seed) {
                    Ok(o) => {
                        if o.changed {
                            changed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        addresses.fetch_add(o.addresses, std::sync::atomic::Ordering::Relaxed);
                        unknown.fetch_add(o.unknown, std::sync::atomic::Ordering::Relaxed);
                        let mut f = features.lock().unwrap();
                        for (n, used) in f.iter_mut().zip(o.features) {
                            *n += usize::from(used);
                        }
                    }
                    Err(e) => failures.lock().unwrap().push(e),
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let (addresses, unknown) = (addresses.into_inner(), unknown.into_inner());
    let f = features.into_inner().unwrap();
    let decided = addresses - unknown;
    let summary = format!(
        "differential: {} cases, {} agree ({} of them with changes planned), {} disagree (terraform: {})\n\
         differential: cases with a module {}, a nested module {}, a function call {}, -var/-var-file {}, a module moved {}, a reference to a resource {}\n\
         differential: {decided} of {addresses} addresses decided ({:.1}%), {unknown} unknown\n",
        seeds.len(),
        seeds.len() - failures.len(),
        changed.into_inner(),
        failures.len(),
        bin.display(),
        f[0],
        f[1],
        f[2],
        f[3],
        f[4],
        f[5],
        100.0 * decided as f64 / addresses.max(1) as f64
    );
    print!("{summary}");
    // scripts/test.sh prints this file at the end, pass or fail: the counts show in CI.
    let _ = std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("differential-summary.txt"),
        &summary,
    );
    for f in &failures {
        println!("{f}\n");
    }
    assert!(
        decided * 100 >= addresses * 95,
        "only {decided} of {addresses} addresses decided (goal: 95%)"
    );
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree with terraform plan",
        failures.len(),
        seeds.len()
    );
}
