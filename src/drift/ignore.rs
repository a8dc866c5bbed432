//! Ignore rules as driftctl users write them, in `.driftignore` (or `drift { ignore = [...] }`):
//!
//! ```text
//! # a comment
//! terraform_data.app            # one resource, every instance (app[0], app["k"])
//! terraform_data.app[0]         # one instance
//! null_resource.*               # every resource of a type
//! terraform_data.*.input.tags   # an attribute path (and everything under it) on each
//! *                             # everything...
//! !terraform_data.keep          # ...except this: `!` makes an exception
//! module.net.terraform_data.x   # a resource in a child module
//! ```
//!
//! The semantics are driftctl's (a `.gitignore`-style matcher over `type.name.attr.path`):
//! - a rule is matched against the whole text of a finding: the address, then, for a changed
//!   attribute, its path joined by dots (`terraform_data.app.input.tags.env`, list elements by
//!   index); a rule also covers everything below what it names (`type.name` covers its
//!   attributes);
//! - `*` matches any run of characters, dots included (`*.input.tags` is that path on every
//!   resource); `?` matches one character; a backslash makes the next character literal
//!   (`\.`, `\*`, `\\`, `\#`); brackets are literal (they are instance keys: `app[0]`);
//! - `!` makes an exception; when several rules match, the **last** one decides;
//! - `#` starts a comment (a whole line, or after a space, outside a quoted key).
//!
//! Terraform's addresses add two things driftctl has no notion of: a rule without an instance
//! key covers every instance (`terraform_data.app` covers `app[0]` and `app["k"]`), and a rule
//! that does not start with `module.` applies in every module (`terraform_data.app` covers
//! `module.net.terraform_data.app`); one that starts with `module.` names the full address.
//!
//! [`apply`] takes the rules to a diff: what they cover moves from the diff to the list of
//! [`Ignored`] findings (each with the rules that matched), never silently dropped.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::diff::{self, Diff, Planned, Trigger, Update};
use super::model::{Desired, DesiredInstance};
use super::state::{Recorded, RecordedInstance};

/// Longest rule accepted, in characters.
pub const MAX_RULE: usize = 4096;

/// A parsed set of rules, in order (the last matching one decides).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Lit(char),
    /// `?`
    One,
    /// `*`
    Star,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    negate: bool,
    pat: Vec<Tok>,
    /// Starts with `module.`: matched against full addresses only.
    anchored: bool,
    origin: RuleRef,
}

/// A rule as written and where: what a report shows for an ignored finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RuleRef {
    /// The rule's text (without its comment).
    pub rule: String,
    /// `iac/.driftignore:3`, or `config/tfops.hcl: drift.ignore[0]`.
    pub source: String,
}

/// A rule that cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}: {message}: {text:?}")]
pub struct IgnoreError {
    /// The file and line, or the config key and index.
    pub source_name: String,
    /// 1-based line of the file (or 1-based position in the list).
    pub line: usize,
    /// The rule as written.
    pub text: String,
    /// What is wrong.
    pub message: String,
}

/// Cuts a comment: `#` at the start, or after whitespace, outside a quoted key and not
/// escaped.
fn strip_comment(line: &str) -> &str {
    let mut in_q = false;
    let mut prev_space = true;
    let mut esc = false;
    for (i, c) in line.char_indices() {
        if esc {
            esc = false;
            prev_space = false;
            continue;
        }
        match c {
            '\\' => esc = true,
            '"' => in_q = !in_q,
            '#' if !in_q && prev_space => return line[..i].trim(),
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    line.trim()
}

impl IgnoreRules {
    /// Parses `.driftignore` text: one rule a line, `#` comments, blank lines skipped.
    /// `source` names the file in errors and reports (`iac/.driftignore`).
    ///
    /// # Errors
    /// The first rule that cannot match any finding (no `.` and no `*`), a `!` with nothing
    /// after it, a trailing lone backslash, a control character, or a rule over [`MAX_RULE`].
    pub fn parse(text: &str, source: &str) -> Result<IgnoreRules, IgnoreError> {
        let mut rules = IgnoreRules::default();
        for (n, line) in text.lines().enumerate() {
            let rule = strip_comment(line);
            if rule.is_empty() {
                continue;
            }
            rules.add(rule, n + 1, format!("{source}:{}", n + 1))?;
        }
        Ok(rules)
    }

    /// Rules from a list (`drift { ignore = [...] }`), same syntax as the file's lines;
    /// `source` is the key (`config/tfops.hcl: drift.ignore`), `[i]` is added per rule.
    ///
    /// # Errors
    /// As [`IgnoreRules::parse`]; `line` is the 1-based list position.
    pub fn from_list<S: AsRef<str>>(items: &[S], source: &str) -> Result<IgnoreRules, IgnoreError> {
        let mut rules = IgnoreRules::default();
        for (n, s) in items.iter().enumerate() {
            rules.add_rule(s.as_ref(), n + 1, format!("{source}[{n}]"))?;
        }
        Ok(rules)
    }

    /// Adds one rule (a comment after it is cut; a blank one adds nothing). `line` is for
    /// errors, `source` names it in reports.
    ///
    /// # Errors
    /// As [`IgnoreRules::parse`].
    pub fn add_rule(&mut self, text: &str, line: usize, source: String) -> Result<(), IgnoreError> {
        let s = strip_comment(text);
        if s.is_empty() {
            return Ok(());
        }
        self.add(s, line, source)
    }

    /// Adds the rules of `other` after these (they decide over these when both match).
    pub fn extend(&mut self, other: IgnoreRules) {
        self.rules.extend(other.rules);
    }

    /// No rules at all?
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// How many rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    fn add(&mut self, line: &str, n: usize, source: String) -> Result<(), IgnoreError> {
        let bad = |m: &str| IgnoreError {
            source_name: source.clone(),
            line: n,
            text: line.chars().take(200).collect(),
            message: m.to_string(),
        };
        if line.chars().count() > MAX_RULE {
            return Err(bad(&format!("a rule is longer than {MAX_RULE} characters")));
        }
        // Rules are shown in reports and on terminals: nothing that could drive one.
        let bidi = |c: char| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if line.chars().any(|c| c.is_control() || bidi(c)) {
            return Err(bad(
                "a control or bidirectional-override character in a rule",
            ));
        }
        let (negate, body) = match line.strip_prefix('!') {
            Some(b) => (true, b.trim()),
            None => (false, line),
        };
        if body.is_empty() {
            return Err(bad("`!` with no rule after it"));
        }
        let mut pat = Vec::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            let t = match c {
                '\\' => Tok::Lit(
                    chars
                        .next()
                        .ok_or_else(|| bad("a backslash at the end escapes nothing"))?,
                ),
                '*' => Tok::Star,
                '?' => Tok::One,
                c => Tok::Lit(c),
            };
            if !(t == Tok::Star && pat.last() == Some(&Tok::Star)) {
                pat.push(t);
            }
        }
        if !pat.iter().any(|t| matches!(t, Tok::Star | Tok::Lit('.'))) {
            return Err(bad(
                "a rule names a resource as type.name, type.* or * (and attributes after it)",
            ));
        }
        let anchored = body.starts_with("module.");
        self.rules.push(Rule {
            negate,
            pat,
            anchored,
            origin: RuleRef {
                rule: line.to_string(),
                source,
            },
        });
        Ok(())
    }

    /// The rule that ignores this finding — `address`, and for an attribute change the path
    /// below it (`["input", "tags"]`) — or `None` when no rule matches or the last matching
    /// one is an exception.
    pub fn matching(&self, address: &str, path: &[String]) -> Option<&RuleRef> {
        if self.rules.is_empty() {
            return None;
        }
        let c = Candidates::new(address, path);
        for r in self.rules.iter().rev() {
            let hit = c.full.iter().any(|s| matches(&r.pat, s))
                || (!r.anchored && c.relative.iter().any(|s| matches(&r.pat, s)));
            if hit {
                return (!r.negate).then_some(&r.origin);
            }
        }
        None
    }

    /// Whether a finding is ignored (see [`IgnoreRules::matching`]).
    pub fn is_ignored(&self, address: &str, path: &[String]) -> bool {
        self.matching(address, path).is_some()
    }
}

/// The texts a finding is matched as: the full address with and without instance keys, and the
/// same relative to its module (for rules that do not start with `module.`), each followed by
/// the attribute path.
struct Candidates {
    full: Vec<Vec<char>>,
    relative: Vec<Vec<char>>,
}

impl Candidates {
    fn new(address: &str, path: &[String]) -> Candidates {
        let suffix: String = path.iter().map(|p| format!(".{p}")).collect();
        let with = |a: &str| -> Vec<char> { a.chars().chain(suffix.chars()).collect() };
        let mut full = vec![with(address)];
        let bare = strip_keys(address);
        if bare != address {
            full.push(with(&bare));
        }
        let mut relative = Vec::new();
        let rel = relative_to_module(address);
        if rel.len() != address.len() {
            relative.push(with(rel));
            let bare_rel = strip_keys(rel);
            if bare_rel != rel {
                relative.push(with(&bare_rel));
            }
        }
        Candidates { full, relative }
    }
}

/// Skips one `[...]` key starting at `chars[i] == '['`; returns the index after `]`.
fn skip_key(chars: &[char], mut i: usize) -> usize {
    let mut in_q = false;
    i += 1;
    while i < chars.len() {
        match chars[i] {
            '\\' if in_q => i += 1,
            '"' => in_q = !in_q,
            ']' if !in_q => return i + 1,
            _ => {}
        }
        i += 1;
    }
    i
}

/// `module.a[0].t.b["k"]` → `module.a.t.b`.
fn strip_keys(address: &str) -> String {
    let chars: Vec<char> = address.chars().collect();
    let mut out = String::with_capacity(address.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '[' {
            i = skip_key(&chars, i);
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// `module.a[0].module.b.t.x` → `t.x`; the address itself at the root.
fn relative_to_module(address: &str) -> &str {
    let mut rest = address;
    while let Some(after) = rest.strip_prefix("module.") {
        let chars: Vec<char> = after.chars().collect();
        let mut i = 0;
        while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
            i += 1;
        }
        if i < chars.len() && chars[i] == '[' {
            i = skip_key(&chars, i);
        }
        if chars.get(i) != Some(&'.') {
            return rest;
        }
        let bytes: usize = chars[..=i].iter().map(|c| c.len_utf8()).sum();
        rest = &after[bytes..];
    }
    rest
}

/// The pattern matches the whole text, or the text up to one of its dots (a rule covers what
/// is below what it names). `*` crosses dots, as in driftctl.
fn matches(pat: &[Tok], s: &[char]) -> bool {
    if glob(pat, s) {
        return true;
    }
    if pat.last() == Some(&Tok::Star) {
        return false; // a trailing `*` already covers every longer text
    }
    s.iter()
        .enumerate()
        .any(|(i, c)| *c == '.' && glob(pat, &s[..i]))
}

/// Wildcard match, linear in practice: on a mismatch, backtrack to the last `*` only.
fn glob(pat: &[Tok], s: &[char]) -> bool {
    let (mut p, mut i) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        match pat.get(p) {
            Some(Tok::Star) => {
                star = Some((p, i));
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                i += 1;
            }
            Some(Tok::Lit(c)) if *c == s[i] => {
                p += 1;
                i += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    pat[p.min(pat.len())..].iter().all(|t| *t == Tok::Star)
}

// ---------------------------------------------------------------------------------------------
// Applying rules to a diff

/// One finding the rules took out of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ignored {
    /// The address (for a move, where it moves to; for a root output, `output.NAME`).
    pub address: String,
    /// For a move: where it moves from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// What it was: `create`, `destroy`, `update`, `replace`, `moved`, `forget`, `output`,
    /// `unknown`.
    pub action: String,
    /// For an update or a replace: the attributes whose every change is ignored (the
    /// address may still be listed with its other attributes); empty for a whole finding.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// The rules that matched.
    pub rules: Vec<RuleRef>,
}

/// Attributes whose change means a replacement.
const REPLACING: &[&str] = &["triggers_replace", "triggers", "replace_triggered_by"];

/// Takes what `rules` cover out of `d` and returns it: whole findings (create, destroy,
/// moved, forget, outputs, unknown) by address, and each changed attribute of an update or a
/// replace by the paths that changed inside it (an attribute is ignored when every one of
/// them is). A replace whose replacing attributes are all ignored becomes an update of what
/// is left. Renamed pairs are kept only while both halves are still reported.
pub fn apply(
    rules: &IgnoreRules,
    d: &mut Diff,
    desired: &Desired,
    recorded: &Recorded,
) -> Vec<Ignored> {
    let mut out = Vec::new();
    if rules.is_empty() {
        return out;
    }
    let whole = |action: &str, address: &str, out: &mut Vec<Ignored>| -> bool {
        match rules.matching(address, &[]) {
            Some(r) => {
                out.push(Ignored {
                    address: address.to_string(),
                    from: None,
                    action: action.into(),
                    attributes: Vec::new(),
                    rules: vec![r.clone()],
                });
                true
            }
            None => false,
        }
    };
    d.create.retain(|a| !whole("create", a, &mut out));
    d.destroy.retain(|a| !whole("destroy", a, &mut out));
    d.forget.retain(|a| !whole("forget", a, &mut out));
    d.import.retain(|i| !whole("import", &i.address, &mut out));
    d.unknown
        .retain(|u| !whole("unknown", &u.address, &mut out));
    // Unknown only for blocks the configuration does not write: decided when the rules
    // cover every one of those block types (`*.root_block_device`).
    let unwritten = &d.unwritten;
    d.unknown.retain(|u| {
        let Some(paths) = unwritten.get(&u.address) else {
            return true;
        };
        let mut used: BTreeSet<RuleRef> = BTreeSet::new();
        for p in paths {
            let path: Vec<String> = p.split('.').map(str::to_string).collect();
            match rules.matching(&u.address, &path) {
                Some(r) => {
                    used.insert(r.clone());
                }
                None => return true,
            }
        }
        out.push(Ignored {
            address: u.address.clone(),
            from: None,
            action: "unknown".into(),
            attributes: paths.clone(),
            rules: used.into_iter().collect(),
        });
        false
    });
    d.outputs
        .retain(|o| !whole("output", &format!("output.{}", o.name), &mut out));
    let moves: std::collections::HashMap<String, String> = d
        .moved
        .iter()
        .map(|m| (m.to.clone(), m.from.clone()))
        .collect();
    d.moved.retain(|m| {
        let r = rules
            .matching(&m.to, &[])
            .or_else(|| rules.matching(&m.from, &[]));
        if let Some(r) = r {
            out.push(Ignored {
                address: m.to.clone(),
                from: Some(m.from.clone()),
                action: "moved".into(),
                attributes: Vec::new(),
                rules: vec![r.clone()],
            });
        }
        r.is_none()
    });
    // The recorded object of a desired address: where a move brings it from, else the same.
    let recorded_of = |addr: &str| -> Option<&RecordedInstance> {
        let from = moves.get(addr).map_or(addr, String::as_str);
        recorded.instances.get(from)
    };
    let mut attr_out: Vec<Ignored> = Vec::new();
    let mut still_update: Vec<Update> = Vec::new();
    let mut still_replace: Vec<Update> = Vec::new();
    for (action, list) in [
        ("update", std::mem::take(&mut d.update)),
        ("replace", std::mem::take(&mut d.replace)),
    ] {
        for mut u in list {
            let want = desired.instances.get(&u.address);
            let have = recorded_of(&u.address);
            let mut ignored_attrs = Vec::new();
            let mut used: BTreeSet<RuleRef> = BTreeSet::new();
            u.attributes.retain(|attr| {
                let paths = changed_paths(want, have, attr);
                let mut rs = Vec::with_capacity(paths.len());
                for p in &paths {
                    match rules.matching(&u.address, p) {
                        Some(r) => rs.push(r.clone()),
                        None => return true,
                    }
                }
                used.extend(rs);
                ignored_attrs.push(attr.clone());
                false
            });
            if ignored_attrs.is_empty() {
                if action == "update" {
                    still_update.push(u);
                } else {
                    still_replace.push(u);
                }
                continue;
            }
            attr_out.push(Ignored {
                address: u.address.clone(),
                from: None,
                action: action.into(),
                attributes: ignored_attrs,
                rules: used.into_iter().collect(),
            });
            u.sensitive.retain(|s| u.attributes.contains(s));
            if u.attributes.is_empty() {
                continue;
            }
            if action == "replace" && u.attributes.iter().any(|a| REPLACING.contains(&a.as_str())) {
                still_replace.push(u);
            } else {
                still_update.push(u);
            }
        }
    }
    untrigger(
        &d.triggered_by,
        desired,
        &mut still_update,
        &mut still_replace,
        &out,
        &mut attr_out,
    );
    still_update.sort_by(|a, b| a.address.cmp(&b.address));
    d.update = still_update;
    d.replace = still_replace;
    out.extend(attr_out);
    if !d.renamed.is_empty() {
        let create: std::collections::HashSet<&str> = d.create.iter().map(String::as_str).collect();
        let destroy: std::collections::HashSet<&str> =
            d.destroy.iter().map(String::as_str).collect();
        d.renamed
            .retain(|r| create.contains(r.to.as_str()) && destroy.contains(r.from.as_str()));
    }
    out
}

const TRIGGERED: &str = "replace_triggered_by";

/// Takes back the replaces `replace_triggered_by` made when none of their triggers changes
/// any more once the rules are applied (a trigger changes when something of it is still
/// reported, or when it is itself still replaced by its own trigger). Such a replace is
/// ignored by the rules that ignored its triggers; what is left of the instance (its own
/// changes) stays an update or a replace of its own.
fn untrigger(
    triggered_by: &std::collections::BTreeMap<String, Vec<Trigger>>,
    desired: &Desired,
    update: &mut Vec<Update>,
    replace: &mut Vec<Update>,
    whole: &[Ignored],
    attr_out: &mut Vec<Ignored>,
) {
    use std::collections::{BTreeMap, HashMap, HashSet};
    if triggered_by.is_empty() {
        return;
    }
    let rtype = |a: &str| desired.instances.get(a).map_or("", |i| i.rtype.as_str());
    // What is updated or replaced by itself, after the rules (a create triggers nothing).
    let mut changing: HashMap<&str, Planned<'_>> = HashMap::new();
    let mut pending: Vec<&str> = Vec::new();
    let listed = update
        .iter()
        .map(|u| (false, u))
        .chain(replace.iter().map(|u| (true, u)));
    for (is_replace, u) in listed {
        let triggered =
            u.attributes.iter().any(|a| a == TRIGGERED) && triggered_by.contains_key(&u.address);
        if triggered {
            pending.push(&u.address);
        }
        let own: Vec<String> = u
            .attributes
            .iter()
            .filter(|a| *a != TRIGGERED)
            .cloned()
            .collect();
        if !own.is_empty() || !triggered {
            let replaced =
                is_replace && (!triggered || own.iter().any(|a| REPLACING.contains(&a.as_str())));
            let p = Planned {
                rtype: rtype(&u.address),
                attrs: own,
                replaced,
            };
            changing.insert(&u.address, p);
        }
    }
    // Trigger by trigger, as in the diff: a replace that still fires is a change.
    let fires = |a: &str, changing: &HashMap<&str, Planned<'_>>| {
        triggered_by[a].iter().any(|t| {
            changing
                .get(t.address.as_str())
                .is_some_and(|p| p.fires(t.attribute.as_deref()))
        })
    };
    let mut fired: HashSet<&str> = HashSet::new();
    loop {
        let newly: Vec<&str> = pending
            .iter()
            .copied()
            .filter(|a| !fired.contains(a) && fires(a, &changing))
            .collect();
        if newly.is_empty() {
            break;
        }
        for a in newly {
            fired.insert(a);
            let attrs = changing.get(a).map(|p| p.attrs.clone()).unwrap_or_default();
            let p = Planned {
                rtype: rtype(a),
                attrs,
                replaced: true,
            };
            changing.insert(a, p);
        }
    }
    let dropped: Vec<&str> = pending
        .iter()
        .copied()
        .filter(|a| !fired.contains(a))
        .collect();
    if dropped.is_empty() {
        return;
    }
    // The rules that took each address's change out, followed down the chains of triggers.
    let mut rules_of: BTreeMap<String, BTreeSet<RuleRef>> = BTreeMap::new();
    for i in whole.iter().chain(attr_out.iter()) {
        rules_of
            .entry(i.address.clone())
            .or_default()
            .extend(i.rules.iter().cloned());
    }
    for _ in 0..dropped.len() {
        let mut grew = false;
        for a in &dropped {
            let mut rs: BTreeSet<RuleRef> = BTreeSet::new();
            for t in &triggered_by[*a] {
                if let Some(r) = rules_of.get(&t.address) {
                    rs.extend(r.iter().cloned());
                }
            }
            let have = rules_of.entry((*a).to_string()).or_default();
            let before = have.len();
            have.extend(rs);
            grew |= have.len() != before;
        }
        if !grew {
            break;
        }
    }
    let dropped: HashSet<String> = dropped.into_iter().map(str::to_string).collect();
    let mut left_update = Vec::new();
    let mut left_replace = Vec::new();
    for (was_replace, list) in [
        (false, std::mem::take(update)),
        (true, std::mem::take(replace)),
    ] {
        for mut u in list {
            if !dropped.contains(u.address.as_str()) {
                if was_replace {
                    left_replace.push(u);
                } else {
                    left_update.push(u);
                }
                continue;
            }
            let mut rules: Vec<RuleRef> = Vec::new();
            for t in &triggered_by[&u.address] {
                if let Some(r) = rules_of.get(&t.address) {
                    rules.extend(r.iter().cloned());
                }
            }
            rules.sort();
            rules.dedup();
            match attr_out.iter_mut().find(|i| i.address == u.address) {
                Some(i) => {
                    i.attributes.push(TRIGGERED.into());
                    i.rules.extend(rules);
                    i.rules.sort();
                    i.rules.dedup();
                }
                None => attr_out.push(Ignored {
                    address: u.address.clone(),
                    from: None,
                    action: "replace".into(),
                    attributes: vec![TRIGGERED.into()],
                    rules,
                }),
            }
            u.attributes.retain(|a| a != TRIGGERED);
            u.sensitive.retain(|s| u.attributes.contains(s));
            if u.attributes.is_empty() {
                continue;
            }
            if u.attributes.iter().any(|a| REPLACING.contains(&a.as_str())) {
                left_replace.push(u);
            } else {
                left_update.push(u);
            }
        }
    }
    *update = left_update;
    *replace = left_replace;
}

/// The paths (attribute first) where `attr` differs between the configuration and the state,
/// as deep as both sides have the same shape; the attribute alone when its values cannot be
/// walked (a sensitive attribute is never walked: its keys are part of its value).
fn changed_paths(
    want: Option<&DesiredInstance>,
    have: Option<&RecordedInstance>,
    attr: &str,
) -> Vec<Vec<String>> {
    let top = vec![vec![attr.to_string()]];
    let (Some(want), Some(have)) = (want, have) else {
        return top;
    };
    if have.sensitive.contains(attr) || attr == "replace_triggered_by" {
        return top;
    }
    let hv = have.attributes(&[attr]).pop().flatten();
    let wv = want.attrs.get(attr);
    let mut out = Vec::new();
    let mut path = vec![attr.to_string()];
    match want.rtype.as_str() {
        "terraform_data" => {
            let wt = want.type_of(attr);
            let (hval, htype) = match &hv {
                Some(h) if !h.is_null() => (h.get("value"), h.get("type")),
                _ => (None, None),
            };
            typed_walk(&mut path, wv, wt.as_deref(), hval, htype, &mut out);
        }
        "null_resource" => {
            let w = wv.map(|v| match v {
                Value::Object(o) => Value::Object(
                    o.iter()
                        .map(|(k, x)| (k.clone(), super::model::to_string_value(x.clone())))
                        .collect(),
                ),
                other => other.clone(),
            });
            loose_walk(&mut path, w.as_ref(), hv.as_ref(), &mut out);
        }
        _ => loose_walk(&mut path, wv, hv.as_ref(), &mut out),
    }
    if out.is_empty() {
        top
    } else {
        out
    }
}

fn is_null(v: Option<&Value>) -> bool {
    v.is_none_or(Value::is_null)
}

/// Walks a `terraform_data` value with its type (`["object", {...}]`, `["list", t]`…): a
/// difference in type or value is placed as deep as the two shapes agree.
fn typed_walk(
    path: &mut Vec<String>,
    wv: Option<&Value>,
    wt: Option<&Value>,
    hv: Option<&Value>,
    ht: Option<&Value>,
    out: &mut Vec<Vec<String>>,
) {
    if is_null(wv) && is_null(hv) {
        return;
    }
    let (Some(wv), Some(wt), Some(hv), Some(ht)) = (wv, wt, hv, ht) else {
        out.push(path.clone());
        return;
    };
    if wt == ht && diff::strict_equal(wv, hv) {
        return;
    }
    let kind = |t: &Value| t.get(0).and_then(Value::as_str).map(str::to_string);
    let sub = |t: &Value| t.get(1).cloned();
    match (kind(wt).as_deref(), kind(ht).as_deref(), wv, hv) {
        (Some("object"), Some("object"), Value::Object(w), Value::Object(h)) => {
            let (Some(Value::Object(wts)), Some(Value::Object(hts))) = (sub(wt), sub(ht)) else {
                out.push(path.clone());
                return;
            };
            let same_keys = w.len() == h.len()
                && w.keys().all(|k| h.contains_key(k))
                && wts.len() == hts.len()
                && wts.keys().all(|k| hts.contains_key(k));
            if !same_keys {
                out.push(path.clone());
                return;
            }
            for (k, x) in w {
                path.push(k.clone());
                typed_walk(path, Some(x), wts.get(k), h.get(k), hts.get(k), out);
                path.pop();
            }
        }
        (Some("tuple"), Some("tuple"), Value::Array(w), Value::Array(h)) => {
            let (Some(Value::Array(wts)), Some(Value::Array(hts))) = (sub(wt), sub(ht)) else {
                out.push(path.clone());
                return;
            };
            if w.len() != h.len() || wts.len() != w.len() || hts.len() != h.len() {
                out.push(path.clone());
                return;
            }
            for (i, x) in w.iter().enumerate() {
                path.push(i.to_string());
                typed_walk(path, Some(x), wts.get(i), h.get(i), hts.get(i), out);
                path.pop();
            }
        }
        (Some(a), Some(b), Value::Array(w), Value::Array(h))
            if a == b
                && (a == "list" || a == "set")
                && sub(wt) == sub(ht)
                && w.len() == h.len() =>
        {
            let et = sub(wt);
            for (i, x) in w.iter().enumerate() {
                path.push(i.to_string());
                typed_walk(path, Some(x), et.as_ref(), h.get(i), et.as_ref(), out);
                path.pop();
            }
        }
        (Some("map"), Some("map"), Value::Object(w), Value::Object(h))
            if sub(wt) == sub(ht) && w.len() == h.len() && w.keys().all(|k| h.contains_key(k)) =>
        {
            let et = sub(wt);
            for (k, x) in w {
                path.push(k.clone());
                typed_walk(path, Some(x), et.as_ref(), h.get(k), et.as_ref(), out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

/// Walks two untyped values (primitives compared after conversion to strings).
fn loose_walk(
    path: &mut Vec<String>,
    w: Option<&Value>,
    h: Option<&Value>,
    out: &mut Vec<Vec<String>>,
) {
    let (Some(w), Some(h)) = (w, h) else {
        if !(is_null(w) && is_null(h)) {
            out.push(path.clone());
        }
        return;
    };
    if diff::equal(w, h) {
        return;
    }
    match (w, h) {
        (Value::Object(a), Value::Object(b))
            if a.len() == b.len() && a.keys().all(|k| b.contains_key(k)) =>
        {
            for (k, x) in a {
                path.push(k.clone());
                loose_walk(path, Some(x), b.get(k), out);
                path.pop();
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, x) in a.iter().enumerate() {
                path.push(i.to_string());
                loose_walk(path, Some(x), b.get(i), out);
                path.pop();
            }
        }
        _ => out.push(path.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(path: &[&str]) -> Vec<String> {
        path.iter().map(|s| s.to_string()).collect()
    }

    fn rules(text: &str) -> IgnoreRules {
        IgnoreRules::parse(text, "iac/.driftignore").unwrap()
    }

    #[test]
    fn driftctl_syntax() {
        let r = rules(
            "# comment\n\nterraform_data.app   # trailing\nnull_resource.*\nterraform_data.*.input.tags\n",
        );
        assert!(r.is_ignored("terraform_data.app", &[]));
        assert!(r.is_ignored("terraform_data.app[0]", &[]));
        assert!(r.is_ignored("terraform_data.app[\"k\"]", &p(&["input"])));
        assert!(r.is_ignored("null_resource.x", &[]));
        assert!(!r.is_ignored("terraform_data.other", &[]));
        assert!(r.is_ignored("terraform_data.other", &p(&["input", "tags"])));
        assert!(r.is_ignored("terraform_data.other", &p(&["input", "tags", "env"])));
        assert!(!r.is_ignored("terraform_data.other", &p(&["input", "name"])));
        assert!(!r.is_ignored("terraform_data.other", &p(&["input"])));
        // a prefix of a part is not the part: `app` does not cover `apple`
        assert!(!r.is_ignored("terraform_data.apple", &[]));
        // rules without module. apply in every module
        assert!(r.is_ignored("module.a.null_resource.x", &[]));
        assert!(r.is_ignored("module.a[\"x.y\"].module.b[0].terraform_data.app[1]", &[]));
        let m = r
            .matching("terraform_data.o", &p(&["input", "tags"]))
            .unwrap();
        assert_eq!(m.rule, "terraform_data.*.input.tags");
        assert_eq!(m.source, "iac/.driftignore:5");
    }

    #[test]
    fn stars_cross_dots_as_in_driftctl() {
        let r = rules("*.input.tags\n*role.*Amazon*\n");
        assert!(r.is_ignored("terraform_data.x", &p(&["input", "tags"])));
        assert!(r.is_ignored("module.m.terraform_data.x[0]", &p(&["input", "tags", "a"])));
        assert!(!r.is_ignored("terraform_data.x", &p(&["input", "name"])));
        assert!(r.is_ignored("aws_iam_role.AmazonSSMRole", &[]));
        assert!(!r.is_ignored("aws_iam_user.AmazonSSMRole", &[]));
        let q = rules("terraform_data.a?\n");
        assert!(q.is_ignored("terraform_data.ab", &[]));
        assert!(!q.is_ignored("terraform_data.abc", &[]));
    }

    #[test]
    fn the_last_matching_rule_decides() {
        let r = rules("*\n!terraform_data.keep\n");
        assert!(r.is_ignored("terraform_data.x", &[]));
        assert!(!r.is_ignored("terraform_data.keep", &[]));
        assert!(!r.is_ignored("terraform_data.keep[1]", &p(&["input"])));
        assert_eq!(r.matching("null_resource.y", &[]).unwrap().rule, "*");
        // the other order: `*` comes last and wins, as in a .gitignore
        let r = rules("!terraform_data.keep\n*\n");
        assert!(r.is_ignored("terraform_data.keep", &[]));
        // an exception for one attribute under a whole-resource rule
        let r = rules("terraform_data.a\n!terraform_data.a.input.name\n");
        assert!(r.is_ignored("terraform_data.a", &p(&["input", "tags"])));
        assert!(!r.is_ignored("terraform_data.a", &p(&["input", "name"])));
        assert!(r.is_ignored("terraform_data.a", &[]));
    }

    #[test]
    fn instances_modules_and_escapes() {
        let r = rules(
            "terraform_data.app[0]\nmodule.net.terraform_data.x\nterraform_data.k[\"a.b\"]\nt.id\\.with\\.dots\nt.back\\\\slash\nt.star\\*\n",
        );
        assert!(r.is_ignored("terraform_data.app[0]", &[]));
        assert!(!r.is_ignored("terraform_data.app[1]", &[]));
        assert!(r.is_ignored("module.net.terraform_data.x", &[]));
        assert!(r.is_ignored("module.net[2].terraform_data.x", &[]));
        assert!(!r.is_ignored("terraform_data.x", &[]));
        assert!(!r.is_ignored("module.other.terraform_data.x", &[]));
        assert!(r.is_ignored("terraform_data.k[\"a.b\"]", &[]));
        assert!(!r.is_ignored("terraform_data.k[\"a\"]", &[]));
        assert!(r.is_ignored("t.id.with.dots", &[]));
        assert!(r.is_ignored("t.back\\slash", &[]));
        assert!(r.is_ignored("t.star*", &[]));
        assert!(!r.is_ignored("t.starx", &[]));
        assert_eq!(relative_to_module("module.a[\"x.y\"].module.b.t.n"), "t.n");
        assert_eq!(strip_keys("module.a[\"]x\"].t.n[0]"), "module.a.t.n");
    }

    #[test]
    fn comments_and_quoted_hashes() {
        let r = rules("  # indented comment\nt.a#b\nt.c \\#x\nt.k[\"#1\"] # key with a hash\n");
        assert!(r.is_ignored("t.a#b", &[]));
        assert!(r.is_ignored("t.c #x", &[]));
        assert!(r.is_ignored("t.k[\"#1\"]", &[]));
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn bad_rules_name_their_line() {
        let e = IgnoreRules::parse("ok.x\nterraform_data\n", "f").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.source_name, "f:2");
        for bad in [
            "!",
            "t.a\\",
            "t.\u{1b}[31m",
            "t.\u{202e}x",
            &"t.".repeat(3000),
        ] {
            assert!(IgnoreRules::parse(bad, "f").is_err(), "{bad:?}");
        }
        let r = IgnoreRules::from_list(&["terraform_data.a", ""], "cfg: drift.ignore").unwrap();
        assert!(r.is_ignored("terraform_data.a", &[]));
        assert_eq!(
            r.matching("terraform_data.a", &[]).unwrap().source,
            "cfg: drift.ignore[0]"
        );
        let e = IgnoreRules::from_list(&["a.b", "nodot"], "cfg").unwrap_err();
        assert_eq!((e.line, e.source_name.as_str()), (2, "cfg[1]"));
    }

    #[test]
    fn many_stars_stay_fast() {
        let r = rules(&format!("{}b\n", "*a".repeat(40)));
        let long = "a".repeat(5000);
        assert!(!r.is_ignored(&format!("t.{long}"), &[]));
    }

    #[test]
    fn apply_moves_findings_out_of_the_diff() {
        use crate::drift::model::{expand, parse_file};
        use crate::drift::state::parse_state;
        let tf = "resource \"terraform_data\" \"r\" {\n  input = \"new\"\n  triggers_replace = \"t2\"\n}\nresource \"null_resource\" \"b\" {\n  triggers = { n = \"1\" }\n}\noutput \"o\" {\n  value = \"2\"\n}\n";
        let st = r#"{"version":4,"lineage":"l","serial":1,"outputs":{"o":{"value":"1","type":"string"}},"resources":[
          {"mode":"managed","type":"terraform_data","name":"r","instances":[{"attributes":{"id":"1","input":{"value":"old","type":"string"},"triggers_replace":{"value":"t1","type":"string"}}}]},
          {"mode":"managed","type":"null_resource","name":"a","instances":[{"attributes":{"id":"2","triggers":{"n":"1"}}}]}]}"#;
        let desired = expand(vec![parse_file(tf, "t.tf").unwrap()]).unwrap();
        let recorded = parse_state(st.as_bytes(), "s").unwrap();
        let mut d = diff::diff(&desired, &recorded);
        assert_eq!(d.replace.len(), 1);
        assert_eq!(d.renamed.len(), 1, "{d:?}");
        let r = rules("terraform_data.r.triggers_replace\nnull_resource.b\noutput.o\n");
        let ig = apply(&r, &mut d, &desired, &recorded);
        // The replacement is ignored; what is left of it is an update of `input`.
        assert!(d.replace.is_empty(), "{d:?}");
        assert_eq!(d.update.len(), 1);
        assert_eq!(d.update[0].attributes, ["input"]);
        assert!(d.create.is_empty() && d.outputs.is_empty());
        assert_eq!(d.destroy, ["null_resource.a"]);
        // Half of the pair is ignored: no rename is suggested any more.
        assert!(d.renamed.is_empty());
        let got: Vec<(String, String, Vec<String>)> = ig
            .iter()
            .map(|i| (i.action.clone(), i.address.clone(), i.attributes.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("create".into(), "null_resource.b".into(), vec![]),
                ("output".into(), "output.o".into(), vec![]),
                (
                    "replace".into(),
                    "terraform_data.r".into(),
                    vec!["triggers_replace".to_string()]
                ),
            ]
        );
        assert_eq!(ig[2].rules[0].source, "iac/.driftignore:1");
        // No rules: nothing moves.
        let mut d2 = diff::diff(&desired, &recorded);
        assert!(apply(&IgnoreRules::default(), &mut d2, &desired, &recorded).is_empty());
        assert_eq!(d2, diff::diff(&desired, &recorded));
    }

    #[test]
    fn paths_are_placed_as_deep_as_the_shapes_agree() {
        use serde_json::json;
        let mut out = Vec::new();
        let t = |keys: &[(&str, Value)]| {
            json!([
                "object",
                keys.iter()
                    .cloned()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect::<serde_json::Map<_, _>>()
            ])
        };
        let tags_t = t(&[("env", json!("string"))]);
        let wt = t(&[("name", json!("string")), ("tags", tags_t.clone())]);
        let wv = json!({"name": "a", "tags": {"env": "prod"}});
        let hv = json!({"name": "a", "tags": {"env": "dev"}});
        typed_walk(
            &mut vec!["input".into()],
            Some(&wv),
            Some(&wt),
            Some(&hv),
            Some(&wt),
            &mut out,
        );
        assert_eq!(out, vec![p(&["input", "tags", "env"])]);
        // a key added: the type differs at `tags`, so the change is placed there
        out.clear();
        let ht = t(&[
            ("name", json!("string")),
            (
                "tags",
                t(&[("env", json!("string")), ("x", json!("string"))]),
            ),
        ]);
        let hv2 = json!({"name": "a", "tags": {"env": "prod", "x": "1"}});
        typed_walk(
            &mut vec!["input".into()],
            Some(&wv),
            Some(&wt),
            Some(&hv2),
            Some(&ht),
            &mut out,
        );
        assert_eq!(out, vec![p(&["input", "tags"])]);
        // a number against a string: the leaf, by type
        out.clear();
        typed_walk(
            &mut vec!["input".into()],
            Some(&json!(1)),
            Some(&json!("number")),
            Some(&json!("1")),
            Some(&json!("string")),
            &mut out,
        );
        assert_eq!(out, vec![p(&["input"])]);
        out.clear();
        loose_walk(
            &mut vec!["tags".into()],
            Some(&json!({"a": 1, "b": [1, 2]})),
            Some(&json!({"a": "1", "b": [1, 3]})),
            &mut out,
        );
        assert_eq!(out, vec![p(&["tags", "b", "1"])]);
    }
}
