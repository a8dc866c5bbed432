//! The steps of a scenario applied in memory: one function per step kind, each given the
//! parsed `.tf` files (or the state bytes) and returning the line that describes what it did.
//! [`plan`] runs them in order and returns the changed files; nothing is written here. A step
//! that cannot apply is [`ScenarioError::Broken`], naming the step, before any file is touched.

use std::path::PathBuf;

use hcl_edit::expr::Expression;
use hcl_edit::structure::{Block, BlockLabel, Body, Structure};
use hcl_edit::{Decorate, Decorated};

use super::{broken, Change, Plan, Scenario, ScenarioError, Step, StepKind};
use crate::drift::Target;

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
        crate::drift::tf_files(&t.dir).map_err(|e| broken(t.dir_display.clone(), e.to_string()))?;
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

/// What the steps have done so far: the `.tf` files (parsed on the first step that needs them)
/// and the state (`None`: untouched; `Some(None)`: deleted; `Some(Some(b))`: rewritten).
struct Work<'t> {
    t: &'t Target,
    docs: Option<Vec<Doc>>,
    state: Option<Option<Vec<u8>>>,
}

impl Work<'_> {
    fn docs(&mut self) -> Result<&mut Vec<Doc>, ScenarioError> {
        if self.docs.is_none() {
            self.docs = Some(load_docs(self.t)?);
        }
        Ok(self.docs.get_or_insert_with(Vec::new))
    }

    /// The state as the steps so far left it; `None` when there is none.
    fn current_state(&self, at: &str) -> Result<Option<Vec<u8>>, ScenarioError> {
        match &self.state {
            Some(c) => Ok(c.clone()),
            None => match std::fs::read(&self.t.state) {
                Ok(b) => Ok(Some(b)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(broken(
                    at,
                    format!("cannot read {}: {e}", self.t.state_display),
                )),
            },
        }
    }
}

/// Applies the scenario's steps in memory against `t` (read only).
///
/// # Errors
/// [`ScenarioError::Broken`] for the first step that cannot apply (an address that does not
/// exist, a name already taken, a bad snippet, no state to damage…), naming the step.
pub fn plan(s: &Scenario, t: &Target) -> Result<Plan, ScenarioError> {
    let mut w = Work {
        t,
        docs: None,
        state: None,
    };
    let mut out = Plan::default();
    for step in &s.steps {
        let line = match &step.kind {
            StepKind::DeleteState => damage_state(&mut w, step, None)?,
            StepKind::CorruptState { truncate_to } => {
                damage_state(&mut w, step, Some(*truncate_to))?
            }
            StepKind::Rename { from, to } => rename(&mut w, step, from, to)?,
            StepKind::Set {
                address,
                attribute,
                value,
            } => set(&mut w, step, address, attribute, value)?,
            StepKind::Remove { address } => remove(&mut w, step, address)?,
            StepKind::Add { file, block } => add(&mut w, step, file.as_deref(), block)?,
        };
        out.log.push(line);
    }
    for d in w.docs.into_iter().flatten().filter(|d| d.touched) {
        let new = d.body.to_string();
        // The steps must leave HCL that detection can read: an `add` block whose label held
        // NUL bytes passed hcl-edit but not the model (found by fuzzing).
        if let Err(e) = crate::drift::model::parse_file(&new, &d.display) {
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
    if let Some(st) = w.state {
        out.changes.push(Change {
            path: t.state.clone(),
            new: st,
            state: true,
        });
    }
    Ok(out)
}

fn missing(step: &Step, t: &Target, a: &str) -> ScenarioError {
    broken(
        step.at.as_str(),
        format!("no resource {a} in {}/*.tf", t.dir_display),
    )
}

/// `delete_state` (`truncate_to` = `None`) and `corrupt_state`.
fn damage_state(
    w: &mut Work,
    step: &Step,
    truncate_to: Option<usize>,
) -> Result<String, ScenarioError> {
    let at = step.at.as_str();
    let Some(cur) = w.current_state(at)? else {
        return Err(broken(
            at,
            format!("there is no state at {} to damage", w.t.state_display),
        ));
    };
    match truncate_to {
        Some(truncate_to) => {
            if truncate_to >= cur.len() {
                return Err(broken(
                    at,
                    format!(
                        "truncate_to = {truncate_to}, but the state has only {} bytes",
                        cur.len()
                    ),
                ));
            }
            w.state = Some(Some(cur[..truncate_to].to_vec()));
        }
        None => w.state = Some(None),
    }
    Ok(format!("{} ({})", step.describe(), w.t.state_display))
}

/// `rename`: the block's name label changes, its layout stays.
fn rename(w: &mut Work, step: &Step, from: &str, to: &str) -> Result<String, ScenarioError> {
    let at = step.at.as_str();
    let t = w.t;
    let docs = w.docs()?;
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
    let pos = find(docs, f).ok_or_else(|| missing(step, t, from))?;
    let file = docs[pos.0].display.clone();
    let b = block_mut(docs, pos);
    let decor = b.labels[1].decor().clone();
    let mut label = Decorated::new(tt.2.to_string());
    *label.decor_mut() = decor;
    b.labels[1] = BlockLabel::String(label);
    Ok(format!("{} ({file})", step.describe()))
}

/// `set`: replaces an attribute's value (keeping its decoration) or appends the attribute.
fn set(
    w: &mut Work,
    step: &Step,
    address: &str,
    attribute: &str,
    value: &Expression,
) -> Result<String, ScenarioError> {
    let at = step.at.as_str();
    let t = w.t;
    let docs = w.docs()?;
    let a = addr_of(address, at)?;
    if hcl_edit::Ident::try_new(attribute).is_err() {
        return Err(broken(
            at,
            format!("{attribute:?} is not an attribute name"),
        ));
    }
    let pos = find(docs, a).ok_or_else(|| missing(step, t, address))?;
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
        let snippet =
            hcl_edit::parser::parse_body(&format!("{attribute} = {text}\n")).map_err(|e| {
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
    Ok(format!("{} ({file})", step.describe()))
}

/// `remove`: the block and the comments directly above it.
fn remove(w: &mut Work, step: &Step, address: &str) -> Result<String, ScenarioError> {
    let at = step.at.as_str();
    let t = w.t;
    let docs = w.docs()?;
    let a = addr_of(address, at)?;
    let (di, si) = find(docs, a).ok_or_else(|| missing(step, t, address))?;
    docs[di].touched = true;
    remove_structure(&mut docs[di].body, si);
    Ok(format!("{} ({})", step.describe(), docs[di].display))
}

/// `add`: a snippet parsed from text, appended to `file` (created if new) or to the first
/// file with a resource.
fn add(
    w: &mut Work,
    step: &Step,
    file: Option<&str>,
    block: &str,
) -> Result<String, ScenarioError> {
    let at = step.at.as_str();
    let t = w.t;
    let docs = w.docs()?;
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
                return Err(broken(
                    at,
                    format!(
                        "file = {f:?}: a .tf file name in {} expected",
                        t.dir_display
                    ),
                ));
            }
            match docs
                .iter()
                .position(|d| d.path.file_name().is_some_and(|n| n.to_string_lossy() == f))
            {
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
            .position(|d| {
                d.body
                    .iter()
                    .any(|s| matches!(s, Structure::Block(b) if b.ident.as_str() == "resource"))
            })
            .or(if docs.is_empty() { None } else { Some(0) })
            .ok_or_else(|| {
                broken(
                    at,
                    format!("no .tf file in {}; name one with `file`", t.dir_display),
                )
            })?,
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
    Ok(format!("add {} ({})", added.join(", "), d.display))
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
