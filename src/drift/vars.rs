//! Input variable values as Terraform gathers them for a plan, offline.
//!
//! Sources, lowest precedence first (a later one replaces an earlier one):
//!
//! 1. the `default` of the `variable` block;
//! 2. `TF_VAR_<name>` environment variables;
//! 3. `terraform.tfvars`, then `terraform.tfvars.json`;
//! 4. `*.auto.tfvars` and `*.auto.tfvars.json`, in the lexical order of their names;
//! 5. the command line: `--var-file FILE` and `--var NAME=VALUE`, in the order given.
//!
//! Values from `.tfvars` (HCL: literal values and functions, no references) and
//! `.tfvars.json` are typed already. Text from `TF_VAR_*` and `--var` is taken literally when
//! the variable's type is a primitive (`string`, `number`, `bool`: then `"2"` converts to the
//! number 2) or the variable is undeclared, and parsed as an HCL expression otherwise (`list`,
//! `map`, `object`, `any`), as Terraform does. Every value is then converted to the variable's
//! `type`. A variable with no value anywhere is unknown, naming the variable. A `sensitive`
//! variable is marked so that reports can mask it.
//!
//! Reading: only the named files, bounded in size, regular files only (never blocking on a FIFO).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hcl_edit::structure::Block;

use super::eval::{self, Scope, TypeConstraint};
use super::value::Value;

/// Why variables cannot be resolved (Terraform would refuse the plan too).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VarsError {
    /// A file could not be read.
    #[error("cannot read {}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A `.tfvars` / `.tfvars.json` file is not valid (`message` starts with `line:column: `
    /// where known).
    #[error("{}:{message}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// `--var` without `NAME=`.
    #[error("invalid --var {arg:?}: expected NAME=VALUE")]
    BadArg {
        /// The argument.
        arg: String,
    },
    /// `--var` for a variable the module does not declare.
    #[error("a value is given for {name:?} (with --var or drift.vars), but the module declares no such variable")]
    Undeclared {
        /// The variable.
        name: String,
    },
    /// A value that does not convert to the variable's type.
    #[error("invalid value for variable {name:?} (from {from}): {message}")]
    Invalid {
        /// The variable.
        name: String,
        /// Where the value came from.
        from: VarSource,
        /// Why.
        message: String,
    },
    /// A `variable` block Terraform would refuse (bad `type`, bad `default`).
    #[error("variable {name:?}: {message}")]
    Declaration {
        /// The variable.
        name: String,
        /// Why.
        message: String,
    },
}

/// Where a variable's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarSource {
    /// The `default` of its block.
    Default,
    /// `TF_VAR_<name>`.
    Env,
    /// A `.tfvars` / `.tfvars.json` file (automatic or `--var-file`).
    File(PathBuf),
    /// `--var NAME=VALUE`.
    CommandLine,
    /// Nowhere: the value is unknown.
    Unset,
}

impl std::fmt::Display for VarSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VarSource::Default => write!(f, "its default"),
            VarSource::Env => write!(f, "the environment"),
            VarSource::File(p) => write!(f, "{}", p.display()),
            VarSource::CommandLine => write!(f, "--var"),
            VarSource::Unset => write!(f, "nowhere"),
        }
    }
}

/// A `variable` block, as far as values are concerned.
#[derive(Debug, Clone, PartialEq)]
pub struct VarDecl {
    /// Its name.
    pub name: String,
    /// Its `type`, if given.
    pub ty: Option<TypeConstraint>,
    /// Its `default`, if given (already converted to the type).
    pub default: Option<Value>,
    /// `sensitive = true`?
    pub sensitive: bool,
    /// `nullable` (default true): when false a null value means the default.
    pub nullable: bool,
}

impl VarDecl {
    /// Reads a `variable "name" { ... }` block.
    ///
    /// # Errors
    /// A block without a name, an invalid `type`, a default that does not fit the type.
    pub fn from_block(block: &Block) -> Result<VarDecl, VarsError> {
        let name = block
            .labels
            .first()
            .map(|l| l.as_str().to_string())
            .ok_or_else(|| VarsError::Declaration {
                name: String::new(),
                message: "a variable block needs a name".into(),
            })?;
        let decl_err = |m: String| VarsError::Declaration {
            name: name.clone(),
            message: m,
        };
        let attr = |k: &str| {
            block
                .body
                .attributes()
                .find(|a| a.key.as_str() == k)
                .map(|a| a.value.clone())
        };
        let empty = Scope::new(Path::new("."));
        let ty = match attr("type") {
            Some(e) => Some(eval::parse_type_constraint(&e).map_err(|e| decl_err(e.to_string()))?),
            None => None,
        };
        let flag = |k: &str, dflt: bool| -> Result<bool, VarsError> {
            match attr(k) {
                None => Ok(dflt),
                Some(e) => match eval::eval(&e, &empty) {
                    Ok(Value::Bool(b)) => Ok(b),
                    _ => Err(decl_err(format!("{k} must be true or false"))),
                },
            }
        };
        let sensitive = flag("sensitive", false)?;
        let nullable = flag("nullable", true)?;
        let default = match attr("default") {
            Some(e) => {
                let v = eval::eval(&e, &empty).map_err(|e| decl_err(e.to_string()))?;
                Some(match &ty {
                    Some(t) => eval::convert(v, t)
                        .map_err(|e| decl_err(format!("invalid default value: {e}")))?,
                    None => v,
                })
            }
            None => None,
        };
        Ok(VarDecl {
            name,
            ty,
            default,
            sensitive,
            nullable,
        })
    }

    /// Whether `TF_VAR_*` / `--var` text is taken literally (primitive types) or parsed as HCL.
    pub fn parses_literally(&self) -> bool {
        matches!(
            self.ty,
            None | Some(TypeConstraint::String | TypeConstraint::Number | TypeConstraint::Bool)
        )
    }
}

/// One command-line item, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CliArg {
    /// `--var-file FILE` (relative to the module folder unless absolute).
    VarFile(PathBuf),
    /// `--var NAME=VALUE` as written.
    Var(String),
}

/// A variable's final value.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedVar {
    /// The value, converted to the variable's type; unknown when it has none.
    pub value: Value,
    /// Where it came from.
    pub source: VarSource,
    /// Marked `sensitive`: never print the value.
    pub sensitive: bool,
}

impl ResolvedVar {
    /// The value for a report: `(sensitive value)` when sensitive.
    pub fn shown(&self) -> String {
        if self.sensitive {
            "(sensitive value)".into()
        } else {
            super::functions::encoding::json_encode(&self.value)
        }
    }
}

/// True when `text` (an expression as written) refers to one of `sensitive`: references
/// written `var.NAME`, `local.NAME` or `module.NAME.OUTPUT` (an instance key or a splat after
/// the module's name allowed; the whole `module.NAME` object counts too). This is how a value
/// computed from a `sensitive` variable is followed through locals, module inputs and outputs
/// and function calls, as Terraform marks it: over-cautious (a mention in a string literal
/// counts), never showing less than Terraform hides.
pub fn mentions_sensitive(text: &str, sensitive: &std::collections::BTreeSet<String>) -> bool {
    sensitive.iter().any(|r| refers_to(text, r))
}

fn refers_to(text: &str, r: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let (head, output) = match r.strip_prefix("module.").and_then(|m| m.split_once('.')) {
        Some((m, o)) => (&r[.."module.".len() + m.len()], Some(o)),
        None => (r, None),
    };
    text.match_indices(head).any(|(i, _)| {
        if continues_identifier(&text[..i]) {
            return false;
        }
        let mut rest = &text[i + head.len()..];
        if rest.chars().next().is_some_and(ident) {
            return false;
        }
        let Some(o) = output else { return true };
        if let Some(after) = rest.strip_prefix('[') {
            match after.find(']') {
                Some(j) => rest = &after[j + 1..],
                None => return true,
            }
        }
        match rest.strip_prefix('.') {
            Some(after) => {
                let after = after.strip_prefix("*.").unwrap_or(after);
                after
                    .strip_prefix(o)
                    .is_some_and(|x| !x.chars().next().is_some_and(ident))
            }
            // The module's whole object, or an index into it.
            None => true,
        }
    })
}

/// True when a name starting right after `before` would be the end of a longer identifier
/// or an attribute (`x.`, `ab`, `my-`), not a reference of its own. A `-` continues an
/// identifier only after one (`my-var.s` is one name): after a number, an operand or
/// nothing it is a minus (`-var.s`, `10-var.s`).
fn continues_identifier(before: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    match before.chars().next_back() {
        None => false,
        Some('.') => true,
        Some('-') => {
            let run = before.trim_end_matches(word);
            let start = before[run.len()..].chars().next();
            // The run of name characters before it is a name only if it starts with a letter
            // or `_` (`a.b-var.s` reads `b-var`); `10-` is a number and a minus.
            start.is_some_and(|c| c.is_alphabetic() || c == '_')
        }
        Some(c) => word(c),
    }
}

/// Splits `NAME=VALUE` at the first `=`.
///
/// # Errors
/// Without `=` or with an empty name.
pub fn parse_var_arg(arg: &str) -> Result<(String, String), VarsError> {
    match arg.split_once('=') {
        Some((n, v)) if !n.trim().is_empty() => Ok((n.trim().to_string(), v.to_string())),
        _ => Err(VarsError::BadArg {
            arg: arg.to_string(),
        }),
    }
}

/// The `TF_VAR_<name>` pairs of an environment.
pub fn env_vars<I, K, V>(env: I) -> Vec<(String, String)>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    env.into_iter()
        .filter_map(|(k, v)| {
            k.as_ref()
                .strip_prefix("TF_VAR_")
                .filter(|n| !n.is_empty())
                .map(|n| (n.to_string(), v.as_ref().to_string()))
        })
        .collect()
}

/// A value given as text (`TF_VAR_*`, `--var`), read as Terraform reads it for `decl`.
///
/// # Errors
/// HCL that does not parse or refers to anything, for non-primitive types.
pub fn value_from_text(text: &str, decl: Option<&VarDecl>) -> Result<Value, String> {
    if decl.is_none_or(VarDecl::parses_literally) {
        return Ok(Value::String(text.to_string()));
    }
    literal_expr(text)
}

/// Evaluates an expression that may use functions but no references.
fn literal_expr(text: &str) -> Result<Value, String> {
    let e = hcl_edit::parser::parse_expr(text).map_err(|e| e.to_string())?;
    literal_value(&e)
}

fn literal_value(e: &hcl_edit::expr::Expression) -> Result<Value, String> {
    let v = eval::eval(e, &Scope::new(Path::new("."))).map_err(|e| e.to_string())?;
    if v.first_unknown().is_some() {
        return Err("variables may not be used here".into());
    }
    Ok(v)
}

/// Parses a `.tfvars` file (HCL attributes).
///
/// # Errors
/// Invalid HCL, blocks, references to variables.
pub fn parse_tfvars(text: &str, path: &Path) -> Result<Vec<(String, Value)>, VarsError> {
    let syn = |m: String| VarsError::Syntax {
        path: path.to_path_buf(),
        message: m,
    };
    let body = hcl_edit::parser::parse_body(text).map_err(|e| {
        let l = e.location();
        syn(format!("{}:{}: {}", l.line(), l.column(), e.message()))
    })?;
    let lines = crate::text::LineIndex::new(text);
    let at = |span: Option<std::ops::Range<usize>>| {
        let (l, c) = lines.position(span.map(|r| r.start).unwrap_or(0));
        format!("{l}:{c}")
    };
    if let Some(b) = body.blocks().next() {
        return Err(syn(format!(
            "{}: blocks are not allowed in a variables file ({})",
            at(hcl_edit::Span::span(b)),
            b.ident.as_str()
        )));
    }
    body.attributes()
        .map(|a| {
            let v = literal_value(&a.value).map_err(|m| {
                syn(format!(
                    "{}: {}: {m}",
                    at(hcl_edit::Span::span(a)),
                    a.key.as_str()
                ))
            })?;
            Ok((a.key.as_str().to_string(), v))
        })
        .collect()
}

/// Parses a `.tfvars.json` file (one JSON object).
///
/// # Errors
/// Invalid JSON, or not an object.
pub fn parse_tfvars_json(text: &str, path: &Path) -> Result<Vec<(String, Value)>, VarsError> {
    let syn = |m: String| VarsError::Syntax {
        path: path.to_path_buf(),
        message: m,
    };
    let j: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| syn(format!("{}:{}: invalid JSON: {e}", e.line(), e.column())))?;
    let serde_json::Value::Object(o) = j else {
        return Err(syn("1:1: the root must be a JSON object".into()));
    };
    let text = serde_json::Value::Object(o).to_string();
    // jsondecode keeps numbers exact where serde_json's f64 would not
    match super::functions::encoding::call("jsondecode", &[Value::String(text)]) {
        Some(Ok(Value::Object(m))) => Ok(m.into_iter().collect()),
        _ => Err(syn("1:1: invalid JSON".into())),
    }
}

/// Reads and parses one variables file, by its extension.
///
/// # Errors
/// Unreadable or invalid files.
pub fn load_file(path: &Path) -> Result<Vec<(String, Value)>, VarsError> {
    let bytes = super::functions::fs::read_path(path).map_err(|e| VarsError::Read {
        path: path.to_path_buf(),
        message: e.0,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| VarsError::Syntax {
        path: path.to_path_buf(),
        message: " not UTF-8".into(),
    })?;
    if path.to_string_lossy().ends_with(".json") {
        parse_tfvars_json(&text, path)
    } else {
        parse_tfvars(&text, path)
    }
}

/// The variables files Terraform loads by itself from `dir`, in order: `terraform.tfvars`,
/// `terraform.tfvars.json`, then `*.auto.tfvars(.json)` by name.
///
/// # Errors
/// When the folder cannot be listed.
pub fn auto_files(dir: &Path) -> Result<Vec<PathBuf>, VarsError> {
    let mut out = Vec::new();
    for n in ["terraform.tfvars", "terraform.tfvars.json"] {
        let p = dir.join(n);
        if p.is_file() {
            out.push(p);
        }
    }
    let rd = std::fs::read_dir(dir).map_err(|e| VarsError::Read {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut auto: Vec<String> = rd
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file() || t.is_symlink()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".auto.tfvars") || n.ends_with(".auto.tfvars.json"))
        .collect();
    auto.sort();
    out.extend(auto.into_iter().map(|n| dir.join(n)));
    Ok(out)
}

/// Every declared variable's value, by Terraform's precedence (see the module docs).
/// `env` is the `TF_VAR_*` pairs ([`env_vars`]), `cli` the command line in order.
///
/// # Errors
/// Unreadable or invalid files, `--var` for an undeclared variable, values that do not
/// convert to their variable's type.
pub fn resolve(
    decls: &[VarDecl],
    module_dir: &Path,
    env: &[(String, String)],
    cli: &[CliArg],
) -> Result<BTreeMap<String, ResolvedVar>, VarsError> {
    resolve_files(decls, &auto_files(module_dir)?, module_dir, env, cli)
}

/// As [`resolve`], with the automatic variables files given (`auto`, in their order) instead
/// of looked up; relative `--var-file` paths resolve in `module_dir`.
///
/// # Errors
/// As [`resolve`].
pub fn resolve_files(
    decls: &[VarDecl],
    auto: &[PathBuf],
    module_dir: &Path,
    env: &[(String, String)],
    cli: &[CliArg],
) -> Result<BTreeMap<String, ResolvedVar>, VarsError> {
    let by_name: BTreeMap<&str, &VarDecl> = decls.iter().map(|d| (d.name.as_str(), d)).collect();
    // raw values, later replaces earlier
    let mut raw: BTreeMap<String, (Value, VarSource)> = BTreeMap::new();
    let invalid = |name: &str, from: VarSource, message: String| VarsError::Invalid {
        name: name.to_string(),
        from,
        message,
    };
    for (n, text) in env {
        if let Some(d) = by_name.get(n.as_str()) {
            let v = value_from_text(text, Some(d)).map_err(|m| invalid(n, VarSource::Env, m))?;
            raw.insert(n.clone(), (v, VarSource::Env));
        }
    }
    let apply_file = |p: &Path, raw: &mut BTreeMap<String, (Value, VarSource)>| {
        for (n, v) in load_file(p)? {
            // Terraform warns about undeclared names in files and goes on
            if by_name.contains_key(n.as_str()) {
                raw.insert(n, (v, VarSource::File(p.to_path_buf())));
            }
        }
        Ok::<(), VarsError>(())
    };
    for p in auto {
        apply_file(p, &mut raw)?;
    }
    for a in cli {
        match a {
            CliArg::VarFile(p) => {
                let p = if p.is_absolute() {
                    p.clone()
                } else {
                    module_dir.join(p)
                };
                apply_file(&p, &mut raw)?;
            }
            CliArg::Var(s) => {
                let (n, text) = parse_var_arg(s)?;
                let Some(d) = by_name.get(n.as_str()) else {
                    return Err(VarsError::Undeclared { name: n });
                };
                let v = value_from_text(&text, Some(d))
                    .map_err(|m| invalid(&n, VarSource::CommandLine, m))?;
                raw.insert(n, (v, VarSource::CommandLine));
            }
        }
    }
    let mut out = BTreeMap::new();
    for d in decls {
        let (value, source) = match raw.remove(&d.name) {
            Some((Value::Null, _)) if !d.nullable && d.default.is_some() => {
                (d.default.clone().unwrap_or(Value::Null), VarSource::Default)
            }
            Some((v, src)) => {
                let v = match &d.ty {
                    Some(t) => eval::convert(v, t).map_err(|e| {
                        // The reason may quote the value: not for a sensitive variable.
                        let m = if d.sensitive {
                            "the value does not convert to the variable's type".to_string()
                        } else {
                            e.to_string()
                        };
                        invalid(&d.name, src.clone(), m)
                    })?,
                    None => v,
                };
                (v, src)
            }
            None => match &d.default {
                Some(v) => (v.clone(), VarSource::Default),
                None => (
                    Value::unknown(format!(
                        "var.{} has no value (no default, TF_VAR_{}, variables file or --var)",
                        d.name, d.name
                    )),
                    VarSource::Unset,
                ),
            },
        };
        out.insert(
            d.name.clone(),
            ResolvedVar {
                value,
                source,
                sensitive: d.sensitive,
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {

    #[test]
    fn sensitive_references_are_found_in_expressions() {
        let set: std::collections::BTreeSet<String> = ["var.s", "local.l", "module.m.out"]
            .iter()
            .map(|x| x.to_string())
            .collect();
        let yes = [
            "var.s",
            "upper(var.s)",
            "\"${var.s}-x\"",
            "[local.l, 1]",
            "module.m.out",
            "module.m[0].out",
            "module.m[\"k\"].out",
            "module.m[*].out",
            "module.m.*.out",
            "jsonencode(module.m)",
            "module.m[0]",
            "-var.s",
            "abs(-var.s)",
            "10-var.s",
            "(1)-local.l",
            "x[0]-var.s",
        ];
        for t in yes {
            assert!(mentions_sensitive(t, &set), "{t}");
        }
        let no = [
            "var.s2",
            "var.sx",
            "x.var.s",
            "local.l_2",
            "module.m.other",
            "module.m[0].outer",
            "module.mm.out",
            "var.t",
            "my-var.s",
            "a.b-var.s",
            "_x-local.l",
        ];
        for t in no {
            assert!(!mentions_sensitive(t, &set), "{t}");
        }
    }

    use super::*;

    fn decls(hcl: &str) -> Vec<VarDecl> {
        let body = hcl_edit::parser::parse_body(hcl).unwrap();
        body.blocks()
            .filter(|b| b.ident.as_str() == "variable")
            .map(|b| VarDecl::from_block(b).unwrap())
            .collect()
    }

    const DECLS: &str = r#"
variable "n" {
  type    = number
  default = 1
}
variable "s" {
  default = "d"
}
variable "l" {
  type = list(string)
}
variable "secret" {
  type      = string
  sensitive = true
  default   = "x"
}
variable "none" {}
"#;

    #[test]
    fn precedence_as_terraform() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        std::fs::write(dir.join("terraform.tfvars"), "n = 2\ns = \"tfvars\"\n").unwrap();
        std::fs::write(dir.join("terraform.tfvars.json"), r#"{"n": 3}"#).unwrap();
        std::fs::write(dir.join("b.auto.tfvars"), "n = 5\n").unwrap();
        std::fs::write(
            dir.join("a.auto.tfvars.json"),
            r#"{"n": 4, "undeclared": 1}"#,
        )
        .unwrap();
        std::fs::write(dir.join("extra.tfvars"), "n = 6\nl = [\"f\"]\n").unwrap();
        let decls = decls(DECLS);
        let env = env_vars([
            ("TF_VAR_n", "10"),
            ("TF_VAR_l", "[1, \"a\"]"),
            ("HOME", "/"),
        ]);

        let r = resolve(&decls, dir, &env, &[]).unwrap();
        assert_eq!(r["n"].value, Value::int(5), "b.auto.tfvars comes last");
        assert_eq!(r["n"].source, VarSource::File(dir.join("b.auto.tfvars")));
        assert_eq!(r["s"].value, Value::string("tfvars"));
        assert_eq!(
            r["l"].value,
            Value::List(vec![Value::string("1"), Value::string("a")]),
            "TF_VAR_ of a list type is HCL, converted to list(string)"
        );
        assert_eq!(r["l"].source, VarSource::Env);
        assert!(r["none"].value.is_unknown());
        assert_eq!(
            r["none"].value.first_unknown().unwrap().reason,
            "var.none has no value (no default, TF_VAR_none, variables file or --var)"
        );
        assert!(r["secret"].sensitive);
        assert_eq!(r["secret"].shown(), "(sensitive value)");

        // the command line in its order: the later wins
        let cli = [
            CliArg::Var("n=\"7\"".into()),
            CliArg::VarFile(PathBuf::from("extra.tfvars")),
        ];
        let r = resolve(&decls, dir, &env, &cli).unwrap();
        assert_eq!(r["n"].value, Value::int(6));
        assert_eq!(r["l"].value, Value::List(vec![Value::string("f")]));
        let cli = [
            CliArg::VarFile(PathBuf::from("extra.tfvars")),
            CliArg::Var("n=8".into()),
        ];
        let r = resolve(&decls, dir, &env, &cli).unwrap();
        assert_eq!(
            r["n"].value,
            Value::int(8),
            "\"8\" converted to the number 8"
        );
        assert_eq!(r["n"].source, VarSource::CommandLine);
    }

    #[test]
    fn literal_text_for_primitives_and_errors() {
        let decls = decls(DECLS);
        let d = tempfile::tempdir().unwrap();
        let r = resolve(&decls, d.path(), &[], &[CliArg::Var("s=[1, 2]".into())]).unwrap();
        assert_eq!(
            r["s"].value,
            Value::string("[1, 2]"),
            "untyped: taken literally"
        );
        let e = resolve(&decls, d.path(), &[], &[CliArg::Var("n=abc".into())]).unwrap_err();
        assert!(
            matches!(e, VarsError::Invalid { ref name, .. } if name == "n"),
            "{e}"
        );
        let e = resolve(&decls, d.path(), &[], &[CliArg::Var("zz=1".into())]).unwrap_err();
        assert_eq!(e, VarsError::Undeclared { name: "zz".into() });
        assert!(parse_var_arg("novalue").is_err());
        assert_eq!(parse_var_arg("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_tfvars("x = var.y\n", Path::new("t")).is_err());
        assert!(parse_tfvars("b {}\n", Path::new("t")).is_err());
        assert_eq!(
            parse_tfvars("x = upper(\"a\")\n", Path::new("t")).unwrap(),
            vec![("x".to_string(), Value::string("A"))]
        );
        assert_eq!(
            parse_tfvars_json(r#"{"big": 12345678901234567891}"#, Path::new("t")).unwrap(),
            vec![("big".to_string(), Value::int(12345678901234567891))]
        );
    }
}
