//! Parsing a scenario file: `description`, one block per step (`rename`, `set`, `remove`,
//! `add`, `delete_state`, `corrupt_state`) and the `expect` block, every problem named by
//! `file:line:column`. [`load`] finds and reads the file; [`parse_scenario`] parses text.

use std::path::{Path, PathBuf};

use hcl_edit::expr::Expression;
use hcl_edit::structure::Structure;
use hcl_edit::Span;

use super::{broken, Expectation, Scenario, ScenarioError, Step, StepKind, Want};
use crate::text::LineIndex;
use crate::workspace::Workspace;

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
                    "expect" => &["create", "destroy", "update", "renamed", "unknown", "ignored", "in_sync", "exit_code"],
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

/// An empty scope: scenario values are literals.
fn literal_scope() -> crate::drift::eval::Scope {
    crate::drift::eval::Scope::new(std::path::Path::new("."))
}

/// The value of a literal string or heredoc (no interpolation).
fn string(e: &Expression) -> Option<String> {
    match e {
        Expression::String(s) => Some(s.value().to_string()),
        Expression::HeredocTemplate(_) | Expression::StringTemplate(_) => {
            match crate::drift::eval::eval(e, &literal_scope()).ok()? {
                crate::drift::value::Value::String(s) => Some(s),
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
            let v = crate::drift::eval::eval(item, &literal_scope()).ok()?;
            let text = |k: &str| match v.as_map()?.get(k)? {
                crate::drift::value::Value::String(s) => Some(s.clone()),
                _ => None,
            };
            let (from, to) = (text("from")?, text("to")?);
            out.push(format!("{from} -> {to}"));
        } else {
            return None;
        }
    }
    Some(out)
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
