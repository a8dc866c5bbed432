//! Scripted drift scenarios: a scenario file (HCL, `config/scenarios/*.hcl`) lists steps that
//! rewrite the configuration (`rename`, `set`, `remove`, `add`) or damage the state
//! (`delete_state`, `corrupt_state`); then drift is detected and the `expect` block checked.
//!
//! The configuration is rewritten with hcl-edit, which keeps comments, blank lines and
//! indentation: an untouched line stays byte for byte, comments above a block belong to it
//! (they go when it is removed), and new blocks or attributes are parsed from text, never
//! built in code, so they carry their own layout. Every step is applied in memory first: a
//! step that cannot apply breaks the scenario (exit 3) before any file is touched.
//!
//! By default the result is written to a temporary copy of the module folder and the state,
//! so the workspace (and a running daemon) sees nothing. In place, every touched file is
//! journaled first ([`super::journal`]) and put back at the end, whatever happens.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::model::GuardedEvaluate;
use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, BlockLabel, Body, Structure};
use hcl_edit::{Decorate, Decorated, Span};

use super::journal::{Journal, JournalError};
use super::{detect_target, DriftError, Report, Target};
use crate::config::LineIndex;
use crate::workspace::{Context, Workspace};

/// Why a scenario could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The scenario itself is broken: a parse error or a step that cannot apply (exit 3).
    #[error("{at}: {message}")]
    Broken { at: String, message: String },
    /// The scenario file cannot be read.
    #[error("cannot read the scenario {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The in-place journal refused or failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

fn broken(at: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Broken {
        at: at.into(),
        message: message.into(),
    }
}

/// One step of a scenario.
#[derive(Debug, Clone)]
pub enum StepKind {
    Rename {
        from: String,
        to: String,
    },
    Set {
        address: String,
        attribute: String,
        value: Expression,
    },
    Remove {
        address: String,
    },
    Add {
        file: Option<String>,
        block: String,
    },
    DeleteState,
    CorruptState {
        truncate_to: usize,
    },
}

/// A step and where the scenario file writes it.
#[derive(Debug, Clone)]
pub struct Step {
    pub at: String,
    pub kind: StepKind,
}

impl Step {
    fn describe(&self) -> String {
        match &self.kind {
            StepKind::Rename { from, to } => format!("rename {from} -> {to}"),
            StepKind::Set {
                address, attribute, ..
            } => format!("set {address}.{attribute}"),
            StepKind::Remove { address } => format!("remove {address}"),
            StepKind::Add { .. } => "add a block".to_string(),
            StepKind::DeleteState => "delete the state".to_string(),
            StepKind::CorruptState { truncate_to } => {
                format!("corrupt the state (truncate to {truncate_to} bytes)")
            }
        }
    }
}

/// What an expectation wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    /// Exactly these addresses.
    List(Vec<String>),
    /// That many.
    Count(usize),
}

/// One key of the `expect` block.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// `create`, `destroy`, `update`, `renamed`, `unknown`, `in_sync` or `exit_code`.
    pub key: String,
    /// The value as written in the scenario file.
    pub written: String,
    pub want: Want,
}

/// A parsed scenario file.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub display: String,
    pub description: Option<String>,
    pub steps: Vec<Step>,
    pub expect: Vec<Expectation>,
}

/// Parses a scenario file's text. `display` names it in errors.
///
/// # Errors
/// [`ScenarioError::Broken`] naming `file:line:column` of the first problem.
pub fn parse_scenario(text: &str, display: &str) -> Result<Scenario, ScenarioError> {
    let body = hcl_edit::parser::parse_body(text).map_err(|e| {
        broken(
            format!(
                "{display}:{}:{}",
                e.location().line(),
                e.location().column()
            ),
            format!("syntax error: {}", e.message()),
        )
    })?;
    let lines = LineIndex::new(text);
    let at = |span: Option<std::ops::Range<usize>>| {
        let (l, c) = lines.position(span.map(|r| r.start).unwrap_or(0));
        format!("{display}:{l}:{c}")
    };
    let mut s = Scenario {
        display: display.to_string(),
        description: None,
        steps: Vec::new(),
        expect: Vec::new(),
    };
    let mut seen_expect = false;
    for st in body.iter() {
        match st {
            Structure::Attribute(a) if a.key.as_str() == "description" => {
                s.description =
                    Some(string(&a.value).ok_or_else(|| {
                        broken(at(a.value.span()), "`description` must be a string")
                    })?);
            }
            Structure::Attribute(a) => {
                return Err(broken(
                    at(a.span()),
                    format!(
                        "unknown key `{}` (known: description, and the step blocks)",
                        a.key.as_str()
                    ),
                ))
            }
            Structure::Block(b) => {
                let here = at(b.span());
                let known: &[&str] = match b.ident.as_str() {
                    "rename" => &["from", "to"],
                    "set" => &["address", "attribute", "value"],
                    "remove" => &["address"],
                    "add" => &["file", "block"],
                    "delete_state" => &[],
                    "corrupt_state" => &["truncate_to"],
                    "expect" => &["create", "destroy", "update", "renamed", "unknown", "in_sync", "exit_code"],
                    other => {
                        return Err(broken(
                            here,
                            format!("unknown block `{other}` (known: rename, set, remove, add, delete_state, corrupt_state, expect)"),
                        ))
                    }
                };
                if !b.labels.is_empty() {
                    return Err(broken(
                        here,
                        format!("`{}` takes no label", b.ident.as_str()),
                    ));
                }
                for inner in b.body.iter() {
                    match inner {
                        Structure::Attribute(a) if known.contains(&a.key.as_str()) => {}
                        Structure::Attribute(a) => {
                            return Err(broken(
                                at(a.span()),
                                format!(
                                    "unknown key `{}` in `{}` (known: {})",
                                    a.key.as_str(),
                                    b.ident.as_str(),
                                    known.join(", ")
                                ),
                            ))
                        }
                        Structure::Block(ib) => {
                            return Err(broken(
                                at(ib.span()),
                                format!("`{}` takes no nested block", b.ident.as_str()),
                            ))
                        }
                    }
                }
                let req = |k: &str| -> Result<String, ScenarioError> {
                    let a = b.body.get_attribute(k).ok_or_else(|| {
                        broken(here.clone(), format!("`{}` needs `{k}`", b.ident.as_str()))
                    })?;
                    string(&a.value).ok_or_else(|| {
                        broken(at(a.value.span()), format!("`{k}` must be a string"))
                    })
                };
                let kind = match b.ident.as_str() {
                    "rename" => StepKind::Rename {
                        from: req("from")?,
                        to: req("to")?,
                    },
                    "set" => StepKind::Set {
                        address: req("address")?,
                        attribute: req("attribute")?,
                        value: b
                            .body
                            .get_attribute("value")
                            .map(|a| a.value.clone())
                            .ok_or_else(|| broken(here.clone(), "`set` needs `value`"))?,
                    },
                    "remove" => StepKind::Remove {
                        address: req("address")?,
                    },
                    "add" => StepKind::Add {
                        file: match b.body.get_attribute("file") {
                            Some(_) => Some(req("file")?),
                            None => None,
                        },
                        block: req("block")?,
                    },
                    "delete_state" => StepKind::DeleteState,
                    "corrupt_state" => {
                        let a = b.body.get_attribute("truncate_to").ok_or_else(|| {
                            broken(here.clone(), "`corrupt_state` needs `truncate_to`")
                        })?;
                        let n = whole(&a.value).ok_or_else(|| {
                            broken(
                                at(a.value.span()),
                                "`truncate_to` must be a whole number ≥ 0",
                            )
                        })?;
                        StepKind::CorruptState { truncate_to: n }
                    }
                    _ => {
                        if seen_expect {
                            return Err(broken(
                                here,
                                "`expect` is repeated; there can be only one",
                            ));
                        }
                        seen_expect = true;
                        for a in b.body.attributes() {
                            let key = a.key.as_str();
                            let written = a
                                .value
                                .to_string()
                                .split_whitespace()
                                .collect::<Vec<_>>()
                                .join(" ");
                            let want = if key == "exit_code" || key == "in_sync" {
                                whole(&a.value).map(Want::Count)
                            } else if let Some(n) = whole(&a.value) {
                                Some(Want::Count(n))
                            } else {
                                list(&a.value, key == "renamed").map(Want::List)
                            };
                            let want = want.ok_or_else(|| {
                                broken(
                                    at(a.value.span()),
                                    format!("`{key}` must be a list of addresses or a number"),
                                )
                            })?;
                            s.expect.push(Expectation {
                                key: key.to_string(),
                                written,
                                want,
                            });
                        }
                        continue;
                    }
                };
                s.steps.push(Step { at: here, kind });
            }
        }
    }
    Ok(s)
}

/// The value of a literal string or heredoc (no interpolation).
fn string(e: &Expression) -> Option<String> {
    match e {
        Expression::String(s) => Some(s.value().to_string()),
        Expression::HeredocTemplate(_) | Expression::StringTemplate(_) => {
            match hcl::Expression::from(e.clone())
                .evaluate_guarded(&hcl::eval::Context::new())
                .ok()?
            {
                hcl::Value::String(s) => Some(s),
                _ => None,
            }
        }
        _ => None,
    }
}

fn whole(e: &Expression) -> Option<usize> {
    match e {
        Expression::Number(n) => n.value().as_u64().map(|n| n as usize),
        _ => None,
    }
}

/// A list of address strings; for `renamed`, also `{ from = "a", to = "b" }` objects,
/// normalized to `"a -> b"`.
fn list(e: &Expression, pairs: bool) -> Option<Vec<String>> {
    let Expression::Array(a) = e else { return None };
    let mut out = Vec::new();
    for item in a.iter() {
        if let Some(s) = string(item) {
            out.push(s.split_whitespace().collect::<Vec<_>>().join(" "));
        } else if pairs {
            let v = hcl::Expression::from(item.clone())
                .evaluate_guarded(&hcl::eval::Context::new())
                .ok()?;
            let from = v.as_object()?.get("from")?.as_str()?.to_string();
            let to = v.as_object()?.get("to")?.as_str()?.to_string();
            out.push(format!("{from} -> {to}"));
        } else {
            return None;
        }
    }
    Some(out)
}

/// A rewritten or removed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub path: PathBuf,
    /// New content; `None` removes the file.
    pub new: Option<Vec<u8>>,
    pub state: bool,
}

/// The steps applied in memory.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
    /// One line per step: what it did and to which file.
    pub log: Vec<String>,
}

struct Doc {
    path: PathBuf,
    display: String,
    body: Body,
    touched: bool,
}

/// `(data, type, name)` of a block address such as `null_resource.a` or `data.x.y`.
fn parse_addr(a: &str) -> Option<(bool, &str, &str)> {
    let (data, rest) = match a.strip_prefix("data.") {
        Some(r) => (true, r),
        None => (false, a),
    };
    let (t, n) = rest.split_once('.')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    };
    (ok(t) && ok(n)).then_some((data, t, n))
}

fn addr_of<'a>(a: &'a str, at: &str) -> Result<(bool, &'a str, &'a str), ScenarioError> {
    parse_addr(a).ok_or_else(|| {
        broken(
            at,
            format!("{a:?} is not a resource address like type.name or data.type.name"),
        )
    })
}

fn is_block(b: &Block, data: bool, t: &str, n: &str) -> bool {
    b.ident.as_str() == if data { "data" } else { "resource" }
        && b.labels.len() == 2
        && b.labels[0].as_str() == t
        && b.labels[1].as_str() == n
}

fn find(docs: &[Doc], addr: (bool, &str, &str)) -> Option<(usize, usize)> {
    docs.iter().enumerate().find_map(|(di, d)| {
        d.body
            .iter()
            .position(|s| matches!(s, Structure::Block(b) if is_block(b, addr.0, addr.1, addr.2)))
            .map(|si| (di, si))
    })
}

fn block_mut(docs: &mut [Doc], (di, si): (usize, usize)) -> &mut Block {
    docs[di].touched = true;
    match docs[di].body.get_mut(si) {
        Some(Structure::Block(b)) => b,
        _ => unreachable!("find returned a block index"),
    }
}

fn load_docs(t: &Target) -> Result<Vec<Doc>, ScenarioError> {
    let files =
        super::tf_files(&t.dir).map_err(|e| broken(t.dir_display.clone(), e.to_string()))?;
    let mut docs = Vec::new();
    for p in files {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let display = format!("{}/{name}", t.dir_display);
        let text = std::fs::read_to_string(&p)
            .map_err(|e| broken(display.clone(), format!("cannot read: {e}")))?;
        let body = hcl_edit::parser::parse_body(&text).map_err(|e| {
            broken(
                format!(
                    "{display}:{}:{}",
                    e.location().line(),
                    e.location().column()
                ),
                format!("syntax error: {}", e.message()),
            )
        })?;
        docs.push(Doc {
            path: p,
            display,
            body,
            touched: false,
        });
    }
    Ok(docs)
}

/// Applies the scenario's steps in memory against `t` (read only).
///
/// # Errors
/// [`ScenarioError::Broken`] for the first step that cannot apply (an address that does not
/// exist, a name already taken, a bad snippet, no state to damage…), naming the step.
pub fn plan(s: &Scenario, t: &Target) -> Result<Plan, ScenarioError> {
    let mut out = Plan::default();
    let mut docs: Option<Vec<Doc>> = None;
    // None: untouched; Some(None): deleted; Some(Some(b)): rewritten.
    let mut state: Option<Option<Vec<u8>>> = None;
    for step in &s.steps {
        let at = step.at.as_str();
        match &step.kind {
            StepKind::DeleteState | StepKind::CorruptState { .. } => {
                let cur = match &state {
                    Some(c) => c.clone(),
                    None => match std::fs::read(&t.state) {
                        Ok(b) => Some(b),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                        Err(e) => {
                            return Err(broken(at, format!("cannot read {}: {e}", t.state_display)))
                        }
                    },
                };
                let Some(cur) = cur else {
                    return Err(broken(
                        at,
                        format!("there is no state at {} to damage", t.state_display),
                    ));
                };
                match step.kind {
                    StepKind::CorruptState { truncate_to } => {
                        if truncate_to >= cur.len() {
                            return Err(broken(
                                at,
                                format!(
                                    "truncate_to = {truncate_to}, but the state has only {} bytes",
                                    cur.len()
                                ),
                            ));
                        }
                        state = Some(Some(cur[..truncate_to].to_vec()));
                    }
                    _ => state = Some(None),
                }
                out.log
                    .push(format!("{} ({})", step.describe(), t.state_display));
                continue;
            }
            _ => {}
        }
        if docs.is_none() {
            docs = Some(load_docs(t)?);
        }
        let docs = docs.as_mut().unwrap_or_else(|| unreachable!());
        let missing = |a: &str| broken(at, format!("no resource {a} in {}/*.tf", t.dir_display));
        match &step.kind {
            StepKind::Rename { from, to } => {
                let f = addr_of(from, at)?;
                let tt = addr_of(to, at)?;
                if (f.0, f.1) != (tt.0, tt.1) {
                    return Err(broken(
                        at,
                        format!("rename changes the name only: {from} and {to} differ in type"),
                    ));
                }
                if find(docs, tt).is_some() {
                    return Err(broken(at, format!("{to} already exists")));
                }
                let pos = find(docs, f).ok_or_else(|| missing(from))?;
                let file = docs[pos.0].display.clone();
                let b = block_mut(docs, pos);
                let decor = b.labels[1].decor().clone();
                let mut label = Decorated::new(tt.2.to_string());
                *label.decor_mut() = decor;
                b.labels[1] = BlockLabel::String(label);
                out.log.push(format!("{} ({file})", step.describe()));
            }
            StepKind::Set {
                address,
                attribute,
                value,
            } => {
                let a = addr_of(address, at)?;
                if hcl_edit::Ident::try_new(attribute.as_str()).is_err() {
                    return Err(broken(
                        at,
                        format!("{attribute:?} is not an attribute name"),
                    ));
                }
                let pos = find(docs, a).ok_or_else(|| missing(address))?;
                let file = docs[pos.0].display.clone();
                let b = block_mut(docs, pos);
                if let Some(mut attr) = b.body.get_attribute_mut(attribute) {
                    let decor = attr.get().value.decor().clone();
                    let mut v = value.clone();
                    *v.decor_mut() = decor;
                    *attr.value_mut() = v;
                } else {
                    let mut text = value.to_string();
                    text = text.trim().to_string();
                    let snippet = hcl_edit::parser::parse_body(&format!("{attribute} = {text}\n"))
                        .map_err(|e| {
                            broken(
                                at,
                                format!("cannot build `{attribute} = …`: {}", e.message()),
                            )
                        })?;
                    let Some(mut st) = snippet.into_iter().next() else {
                        return Err(broken(at, "empty value"));
                    };
                    // A blank line before it keeps `terraform fmt`'s alignment groups intact.
                    let prefix = if b.body.is_empty() { "  " } else { "\n  " };
                    st.decor_mut().set_prefix(prefix);
                    b.body.set_prefer_oneline(false);
                    b.body.push(st);
                }
                out.log.push(format!("{} ({file})", step.describe()));
            }
            StepKind::Remove { address } => {
                let a = addr_of(address, at)?;
                let (di, si) = find(docs, a).ok_or_else(|| missing(address))?;
                docs[di].touched = true;
                remove_structure(&mut docs[di].body, si);
                out.log
                    .push(format!("{} ({})", step.describe(), docs[di].display));
            }
            StepKind::Add { file, block } => {
                let snippet = hcl_edit::parser::parse_body(block).map_err(|e| {
                    broken(
                        at,
                        format!(
                            "the block does not parse (line {}, column {} of the snippet): {}",
                            e.location().line(),
                            e.location().column(),
                            e.message()
                        ),
                    )
                })?;
                if snippet.is_empty() {
                    return Err(broken(at, "`block` is empty"));
                }
                for st in snippet.iter() {
                    if let Structure::Block(b) = st {
                        if let [t1, n1] = b.labels.as_slice() {
                            let data = b.ident.as_str() == "data";
                            if matches!(b.ident.as_str(), "resource" | "data")
                                && find(docs, (data, t1.as_str(), n1.as_str())).is_some()
                            {
                                return Err(broken(
                                    at,
                                    format!(
                                        "{}{}.{} already exists",
                                        if data { "data." } else { "" },
                                        t1.as_str(),
                                        n1.as_str()
                                    ),
                                ));
                            }
                        }
                    }
                }
                let di = match file {
                    Some(f) => {
                        if f.contains('/') || !f.ends_with(".tf") {
                            return Err(broken(at, format!("file = {f:?}: a .tf file name in {} expected", t.dir_display)));
                        }
                        match docs.iter().position(|d| d.path.file_name().is_some_and(|n| n.to_string_lossy() == *f)) {
                            Some(i) => i,
                            None => {
                                docs.push(Doc {
                                    path: t.dir.join(f),
                                    display: format!("{}/{f}", t.dir_display),
                                    body: Body::new(),
                                    touched: true,
                                });
                                docs.len() - 1
                            }
                        }
                    }
                    None => docs
                        .iter()
                        .position(|d| d.body.iter().any(|s| matches!(s, Structure::Block(b) if b.ident.as_str() == "resource")))
                        .or(if docs.is_empty() { None } else { Some(0) })
                        .ok_or_else(|| broken(at, format!("no .tf file in {}; name one with `file`", t.dir_display)))?,
                };
                let added: Vec<String> = snippet
                    .iter()
                    .map(|st| match st {
                        Structure::Block(b) => match (b.ident.as_str(), b.labels.as_slice()) {
                            ("resource", [t1, n1]) => format!("{}.{}", t1.as_str(), n1.as_str()),
                            ("data", [t1, n1]) => format!("data.{}.{}", t1.as_str(), n1.as_str()),
                            (other, _) => format!("a `{other}` block"),
                        },
                        Structure::Attribute(a) => format!("`{}`", a.key.as_str()),
                    })
                    .collect();
                let d = &mut docs[di];
                d.touched = true;
                for (i, mut st) in snippet.into_iter().enumerate() {
                    if i == 0 && !d.body.is_empty() {
                        let p = st
                            .decor()
                            .prefix()
                            .map(|p| p.to_string())
                            .unwrap_or_default();
                        st.decor_mut()
                            .set_prefix(format!("\n{}", p.trim_start_matches('\n')));
                    }
                    d.body.push(st);
                }
                d.body.set_prefer_omit_trailing_newline(false);
                out.log
                    .push(format!("add {} ({})", added.join(", "), d.display));
            }
            StepKind::DeleteState | StepKind::CorruptState { .. } => unreachable!("handled above"),
        }
    }
    for d in docs.into_iter().flatten().filter(|d| d.touched) {
        let new = d.body.to_string();
        // The steps must leave HCL that detection can read: an `add` block whose label held
        // NUL bytes passed hcl-edit but not the model (found by fuzzing).
        if let Err(e) = super::model::parse_file(&new, &d.display) {
            return Err(broken(
                s.display.clone(),
                format!("the steps would leave {} unreadable: {e}", d.display),
            ));
        }
        out.changes.push(Change {
            path: d.path,
            new: Some(new.into_bytes()),
            state: false,
        });
    }
    if let Some(st) = state {
        out.changes.push(Change {
            path: t.state.clone(),
            new: st,
            state: true,
        });
    }
    Ok(out)
}

/// Removes structure `si` with the comments directly above it (they belong to it). Comments
/// separated from it by a blank line (a file header, a section note) stay, moved onto the
/// structure that follows (or after the one before, at the end of the file), and the file
/// never starts with a blank line.
fn remove_structure(body: &mut Body, si: usize) {
    let removed = body.remove(si);
    let prefix = removed
        .decor()
        .prefix()
        .map(|p| p.to_string())
        .unwrap_or_default();
    // Split after the last blank line: what is above it is detached from the block.
    let mut cut = 0;
    let mut pos = 0;
    for line in prefix.split_inclusive('\n') {
        pos += line.len();
        if line.trim().is_empty() && line.ends_with('\n') {
            cut = pos;
        }
    }
    let detached = &prefix[..cut];
    let has_comment = !detached.trim().is_empty();
    if let Some(next) = body.get_mut(si) {
        let p = next
            .decor()
            .prefix()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let p = if has_comment {
            format!("{detached}{}", p.trim_start_matches('\n'))
        } else if si == 0 {
            p.trim_start_matches('\n').to_string()
        } else {
            p
        };
        next.decor_mut().set_prefix(p);
    } else if has_comment && si > 0 {
        if let Some(prev) = body.get_mut(si - 1) {
            let sfx = prev
                .decor()
                .suffix()
                .map(|p| p.to_string())
                .unwrap_or_default();
            prev.decor_mut()
                .set_suffix(format!("{sfx}\n{}", detached.trim_end_matches('\n')));
        }
    }
}

/// Writes the changes of a plan (mapping each path through `map`).
fn apply(changes: &[Change], map: impl Fn(&Path) -> PathBuf) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for c in changes {
        let p = map(&c.path);
        match &c.new {
            Some(bytes) => {
                let mode = std::fs::metadata(&p)
                    .map(|m| m.permissions().mode() & 0o7777)
                    .unwrap_or(if c.state { 0o600 } else { 0o644 });
                crate::fsutil::write_atomic(&p, bytes, mode, false)?;
            }
            None => match std::fs::remove_file(&p) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            },
        }
    }
    Ok(())
}

/// The result of one expectation.
#[derive(Debug, Clone)]
pub struct Checked {
    pub expectation: Expectation,
    pub held: bool,
    /// What was found, when it did not hold.
    pub got: String,
}

/// The outcome of a scenario run.
#[derive(Debug)]
pub struct Outcome {
    pub plan: Plan,
    /// The detection: a report, or why there is none.
    pub detection: Result<Report, DriftError>,
    pub checks: Vec<Checked>,
    /// True when SIGINT/SIGTERM arrived (in place: the files were put back).
    pub interrupted: bool,
    /// `.orig` files left by `--keep`.
    pub kept: Vec<PathBuf>,
}

impl Outcome {
    /// 0 every expectation held, 1 one did not.
    pub fn exit_code(&self) -> i32 {
        if self.checks.iter().all(|c| c.held) {
            0
        } else {
            1
        }
    }
}

/// Checks expectations against a detection.
pub fn check(expect: &[Expectation], detection: &Result<Report, DriftError>) -> Vec<Checked> {
    expect
        .iter()
        .map(|e| {
            let exit = match detection {
                Ok(r) => r.exit_code(),
                Err(_) => 1,
            };
            let got: Option<Vec<String>> = match (e.key.as_str(), detection) {
                ("exit_code", _) => None,
                (_, Err(_)) => Some(Vec::new()),
                ("create", Ok(r)) => Some(r.create.clone()),
                ("destroy", Ok(r)) => Some(r.destroy.clone()),
                ("update", Ok(r)) => Some(r.update.iter().map(|u| u.address.clone()).collect()),
                ("renamed", Ok(r)) => Some(
                    r.renamed
                        .iter()
                        .map(|x| format!("{} -> {}", x.from, x.to))
                        .collect(),
                ),
                ("unknown", Ok(r)) => Some(r.unknown.iter().map(|u| u.address.clone()).collect()),
                (_, Ok(r)) => Some(vec![String::new(); r.summary.in_sync]),
            };
            let (held, found) = match (&e.want, got) {
                (Want::Count(n), None) => (exit as usize == *n, exit.to_string()),
                (Want::List(_), None) => (false, exit.to_string()),
                (_, Some(_)) if detection.is_err() => (
                    false,
                    format!(
                        "no report ({})",
                        detection
                            .as_ref()
                            .err()
                            .map(|e| e.to_string())
                            .unwrap_or_default()
                    ),
                ),
                (Want::Count(n), Some(g)) => (g.len() == *n, g.len().to_string()),
                (Want::List(l), Some(g)) => {
                    let want: BTreeSet<&String> = l.iter().collect();
                    let have: BTreeSet<&String> = g.iter().collect();
                    (want == have && l.len() == g.len(), format!("{g:?}"))
                }
            };
            Checked {
                expectation: e.clone(),
                held,
                got: found,
            }
        })
        .collect()
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT/SIGTERM set a flag while an in-place run is on (the files are put back, then exit).
struct SignalGuard;

impl SignalGuard {
    fn install() -> SignalGuard {
        INTERRUPTED.store(false, Ordering::SeqCst);
        let h = on_signal as extern "C" fn(libc::c_int);
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, h as libc::sighandler_t);
            libc::signal(libc::SIGTERM, h as libc::sighandler_t);
        }
        SignalGuard
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        // SAFETY: restoring the default disposition.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGTERM, libc::SIG_DFL);
        }
    }
}

/// Test hook: `TFOPS_TEST_SCENARIO_PAUSE_MS` pauses after the files are written (interruptible).
fn test_pause() {
    let Some(ms) = std::env::var("TFOPS_TEST_SCENARIO_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return;
    };
    log::debug!("pausing {ms} ms (TFOPS_TEST_SCENARIO_PAUSE_MS)");
    let end = std::time::Instant::now() + Duration::from_millis(ms);
    while std::time::Instant::now() < end && !INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A private temp folder removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let p = std::env::temp_dir().join(format!("tfops-scenario-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&p)?;
        crate::fsutil::create_dir_mode(&p, 0o700)?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a scenario on a temporary copy of `t` (module `*.tf` and state): nothing of `t` is
/// touched.
///
/// # Errors
/// [`ScenarioError::Broken`] when a step cannot apply; I/O errors making the copy.
pub fn run_on_copy(s: &Scenario, t: &Target) -> Result<Outcome, ScenarioError> {
    let plan = plan(s, t)?;
    // Ctrl-C stops the run but still removes the temporary copy.
    let _guard = SignalGuard::install();
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScenarioError::Io { path, source }
    };
    let tmp = TempDir::new().map_err(io(&std::env::temp_dir()))?;
    let dir = tmp.0.join(
        t.dir
            .file_name()
            .unwrap_or_else(|| std::ffi::OsStr::new("module")),
    );
    std::fs::create_dir(&dir).map_err(io(&dir))?;
    for f in
        super::module_files(&t.dir).map_err(|e| broken(t.dir_display.clone(), e.to_string()))?
    {
        if let Some(n) = f.file_name() {
            std::fs::copy(&f, dir.join(n)).map_err(io(&f))?;
        }
    }
    let state = tmp.0.join("state").join(
        t.state
            .file_name()
            .unwrap_or_else(|| std::ffi::OsStr::new("terraform.tfstate")),
    );
    std::fs::create_dir(tmp.0.join("state")).map_err(io(&tmp.0))?;
    match std::fs::copy(&t.state, &state) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&t.state)(e)),
        _ => {}
    }
    let map = |p: &Path| {
        if p == t.state {
            state.clone()
        } else {
            dir.join(p.file_name().unwrap_or_default())
        }
    };
    apply(&plan.changes, map).map_err(io(&tmp.0))?;
    test_pause();
    if INTERRUPTED.load(Ordering::SeqCst) {
        return Ok(Outcome {
            plan,
            detection: Err(DriftError::StateInvalid {
                state: t.state_display.clone(),
                reason: "not detected: the run was interrupted".into(),
            }),
            checks: Vec::new(),
            interrupted: true,
            kept: Vec::new(),
        });
    }
    let copy = Target {
        dir: dir.clone(),
        state: state.clone(),
        dir_display: t.dir_display.clone(),
        state_display: t.state_display.clone(),
    };
    let detection = detect_target(&copy);
    let checks = check(&s.expect, &detection);
    Ok(Outcome {
        plan,
        detection,
        checks,
        interrupted: false,
        kept: Vec::new(),
    })
}

/// Runs a scenario on the live workspace: journals every touched file, writes the steps'
/// result, detects, checks, then puts every file back byte for byte — pass, fail, error or
/// SIGINT/SIGTERM — unless `keep`, which leaves the result with `<file>.orig` beside each.
///
/// # Errors
/// [`ScenarioError::Broken`] (nothing touched), a journal that refuses (another run, a kept
/// scenario) or fails.
pub fn run_in_place(
    ws: &Workspace,
    s: &Scenario,
    t: &Target,
    keep: bool,
) -> Result<Outcome, ScenarioError> {
    super::journal::ensure_free(ws)?;
    let plan = plan(s, t)?;
    if plan.changes.is_empty() {
        // Nothing to touch, nothing to journal: just detect.
        let detection = detect_target(t);
        let checks = check(&s.expect, &detection);
        return Ok(Outcome {
            plan,
            detection,
            checks,
            interrupted: false,
            kept: Vec::new(),
        });
    }
    let files: Vec<(PathBuf, bool)> = plan
        .changes
        .iter()
        .map(|c| (c.path.clone(), c.state))
        .collect();
    if keep {
        super::journal::ensure_no_orig(&files)?;
    }
    let guard = SignalGuard::install();
    let mut journal = Journal::begin(ws, &s.display, &files)?;
    let applied = apply(&plan.changes, Path::to_path_buf);
    if applied.is_ok() {
        test_pause();
    }
    let interrupted = INTERRUPTED.load(Ordering::SeqCst);
    let detection = match (&applied, interrupted) {
        (Ok(()), false) => detect_target(t),
        _ => Err(DriftError::StateInvalid {
            state: t.state_display.clone(),
            reason: "not detected: the run was interrupted or a file could not be written".into(),
        }),
    };
    let checks = check(&s.expect, &detection);
    let interrupted = interrupted || INTERRUPTED.load(Ordering::SeqCst);
    let mut kept = Vec::new();
    if keep && applied.is_ok() && !interrupted {
        kept = journal.keep(ws)?;
    } else {
        journal.restore(ws)?;
    }
    drop(guard);
    if let Err(e) = applied {
        return Err(ScenarioError::Io {
            path: t.dir.clone(),
            source: e,
        });
    }
    Ok(Outcome {
        plan,
        detection,
        checks,
        interrupted,
        kept,
    })
}

/// Finds a scenario file: as given (relative to the current folder), relative to ROOT, or by
/// name in `config/scenarios/` (with or without `.hcl`).
pub fn resolve(ws: &Workspace, file: &Path) -> PathBuf {
    let mut cands = vec![
        file.to_path_buf(),
        ws.root.join(file),
        ws.scenarios_dir().join(file),
    ];
    let mut with_ext = file.as_os_str().to_owned();
    with_ext.push(".hcl");
    cands.push(ws.scenarios_dir().join(with_ext));
    cands
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .unwrap_or_else(|| file.to_path_buf())
}

/// Loads and parses a scenario file.
///
/// # Errors
/// [`ScenarioError::Io`] when it cannot be read, [`ScenarioError::Broken`] when it does not parse.
pub fn load(ws: &Workspace, file: &Path) -> Result<Scenario, ScenarioError> {
    let path = resolve(ws, file);
    let text = std::fs::read_to_string(&path).map_err(|source| ScenarioError::Io {
        path: path.clone(),
        source,
    })?;
    let display = match path.canonicalize() {
        Ok(p) => ws.rel(&p).into_owned(),
        Err(_) => path.display().to_string(),
    };
    parse_scenario(&text, &display)
}

/// Runs a scenario file (for the CLI and the demo): on a copy, or in place (`keep` leaves the
/// result). Returns the parsed scenario and its outcome.
///
/// # Errors
/// As [`run_on_copy`] and [`run_in_place`], and [`load`].
pub fn run(
    ws: &Workspace,
    cfg: &crate::config::Config,
    file: &Path,
    in_place: bool,
    keep: bool,
) -> Result<(Scenario, Outcome), ScenarioError> {
    let s = load(ws, file)?;
    let t = Target::of(ws, cfg);
    let o = if in_place || keep {
        run_in_place(ws, &s, &t, keep)?
    } else {
        run_on_copy(&s, &t)?
    };
    Ok((s, o))
}

/// Human form of an outcome.
pub fn render(s: &Scenario, o: &Outcome, where_: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Scenario {}{}",
        s.display,
        s.description
            .as_ref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default()
    );
    let _ = writeln!(out, "{where_}");
    for (i, l) in o.plan.log.iter().enumerate() {
        let _ = writeln!(out, "  step {}: {l}", i + 1);
    }
    let _ = writeln!(out);
    match &o.detection {
        Ok(r) => out.push_str(&r.table()),
        Err(e) => {
            let _ = writeln!(out, "Drift detection failed (exit code 1): {e}");
        }
    }
    if !o.checks.is_empty() {
        let _ = writeln!(out, "\nExpectations:");
        for c in &o.checks {
            let e = &c.expectation;
            let res = if c.held {
                "held".to_string()
            } else {
                format!("DID NOT HOLD (got {})", c.got)
            };
            let _ = writeln!(out, "  {} = {}  {res}", e.key, e.written);
        }
        let failed = o.checks.iter().filter(|c| !c.held).count();
        if failed == 0 {
            let _ = writeln!(out, "All {} expectations held.", o.checks.len());
        } else {
            let _ = writeln!(
                out,
                "{failed} of {} expectations did not hold.",
                o.checks.len()
            );
        }
    } else {
        let _ = writeln!(out, "\nNo expectations to check.");
    }
    out
}

/// `tfops scenario run`: prints the steps, the drift table and each expectation with its
/// result; returns 0 all held, 1 one did not, 3 the scenario is broken, 130 interrupted.
///
/// # Errors
/// Failures outside the scenario (unreadable file, journal refused or failing).
pub fn run_cli(ctx: &Context, file: &Path, in_place: bool, keep: bool) -> anyhow::Result<i32> {
    let t = Target::of(&ctx.ws, &ctx.config);
    let where_ = if keep {
        format!("In place, kept: {} and {} keep the result, originals beside them as <file>.orig (`tfops scenario revert` puts them back).", t.dir_display, t.state_display)
    } else if in_place {
        format!(
            "In place (a drill): {} and {} are journaled in .tfops/ and put back at the end.",
            t.dir_display, t.state_display
        )
    } else {
        format!(
            "On a temporary copy of {} and {}: the workspace is not touched.",
            t.dir_display, t.state_display
        )
    };
    match run(&ctx.ws, &ctx.config, file, in_place, keep) {
        Ok((s, o)) => {
            if !o.interrupted {
                print!("{}", render(&s, &o, &where_));
            }
            if o.interrupted {
                if in_place {
                    eprintln!("interrupted: every touched file was put back");
                } else {
                    eprintln!("interrupted: the temporary copy was removed; the workspace was never touched");
                }
                return Ok(130);
            }
            if !o.kept.is_empty() || (keep && !o.plan.changes.is_empty()) {
                println!(
                    "Kept. Originals: {}",
                    o.kept
                        .iter()
                        .map(|p| ctx.ws.rel(p).into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            } else if in_place {
                println!("Every touched file was put back.");
            }
            Ok(o.exit_code())
        }
        Err(ScenarioError::Broken { at, message }) => {
            eprintln!("the scenario is broken: {at}: {message}; fix the scenario file (nothing was changed)");
            Ok(3)
        }
        Err(ScenarioError::Io { path, source }) if !path.exists() => Err(anyhow::anyhow!(
            "no scenario file {} ({source}); the shipped ones are in config/scenarios/",
            path.display()
        )),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}

/// Puts back the originals left by `scenario run --keep` (for the CLI and the demo). Returns
/// the kept journal that was undone, `None` when nothing was kept.
///
/// # Errors
/// [`JournalError::Busy`] while a run is in place; when an original cannot be put back.
pub fn revert(ws: &Workspace) -> Result<Option<super::journal::Journal>, JournalError> {
    match super::journal::read(ws)? {
        Some(j) if j.phase == super::journal::Phase::Kept => {
            j.restore(ws)?;
            Ok(Some(j))
        }
        Some(j) => Err(JournalError::Busy {
            pid: j.pid,
            scenario: j.scenario,
        }),
        None => Ok(None),
    }
}

/// `tfops scenario revert`: puts back the originals left by `scenario run --keep`.
///
/// # Errors
/// When the journal cannot be read or an original cannot be put back.
pub fn revert_cli(ctx: &Context) -> anyhow::Result<i32> {
    match revert(&ctx.ws) {
        Ok(Some(j)) => {
            println!("Reverted {}: {} file(s) put back.", j.scenario, j.entries.len());
            Ok(0)
        }
        Ok(None) => {
            println!("Nothing to revert: no scenario was kept.");
            Ok(0)
        }
        Err(JournalError::Busy { pid, scenario }) => Err(anyhow::anyhow!(
            "a scenario ({scenario}, pid {pid}) is running in place; it puts its files back when it ends"
        )),
        Err(e) => Err(anyhow::anyhow!("{e}; the journal in .tfops/ is kept, run `tfops scenario revert` again once fixed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn removed(text: &str, addr: &str) -> String {
        let mut body = hcl_edit::parser::parse_body(text).unwrap();
        let (d, t, n) = parse_addr(addr).unwrap();
        let si = body
            .iter()
            .position(|s| matches!(s, Structure::Block(b) if is_block(b, d, t, n)))
            .unwrap();
        remove_structure(&mut body, si);
        body.to_string()
    }

    #[test]
    fn comments_directly_above_belong_to_the_block() {
        let t = "# header\n\nresource \"a\" \"x\" {}\n\n# section\n\n# about y\nresource \"a\" \"y\" {}\n\n# about z\nresource \"a\" \"z\" {}\n";
        assert_eq!(
            removed(t, "a.x"),
            "# header\n\n# section\n\n# about y\nresource \"a\" \"y\" {}\n\n# about z\nresource \"a\" \"z\" {}\n"
        );
        assert_eq!(
            removed(t, "a.y"),
            "# header\n\nresource \"a\" \"x\" {}\n\n# section\n\n# about z\nresource \"a\" \"z\" {}\n"
        );
        assert_eq!(
            removed(t, "a.z"),
            "# header\n\nresource \"a\" \"x\" {}\n\n# section\n\n# about y\nresource \"a\" \"y\" {}\n"
        );
        let t2 = "resource \"a\" \"x\" {}\n\n# section at the end\n\n# about y\nresource \"a\" \"y\" {}\n";
        assert_eq!(
            removed(t2, "a.y"),
            "resource \"a\" \"x\" {}\n\n# section at the end\n"
        );
        let t3 = "# about x\nresource \"a\" \"x\" {}\n\nresource \"a\" \"y\" {}\n";
        assert_eq!(removed(t3, "a.x"), "resource \"a\" \"y\" {}\n");
    }
}
