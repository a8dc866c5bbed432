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
//! Rules are split on dots (`\.` is a literal dot, as in driftctl; dots inside `["…"]` keys
//! stay). Each part may use `*` and `?` wildcards. A rule that does not start with `module.`
//! applies to resources of every module; one that does is matched against the full address.
//! As in driftctl, an exception (`!`) wins over any rule, whatever their order. A rule naming
//! a resource ignores all its attributes; a rule with an attribute path ignores that
//! attribute and what is below it.
//!
//! Not here: reading the file (the caller reads `.driftignore` and passes its text), counting
//! ignored findings (the report does).

/// A parsed set of rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IgnoreRules {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    negate: bool,
    /// `module.<name>` parts (name possibly with a key), if the rule is module-qualified.
    modules: Option<Vec<String>>,
    /// `data`, or not.
    data: bool,
    ty: String,
    name: String,
    attr: Vec<String>,
    /// The rule's text, for reports.
    text: String,
}

/// A rule that cannot be understood.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}: {text:?}")]
pub struct IgnoreError {
    /// 1-based line (or list position).
    pub line: usize,
    /// The rule as written.
    pub text: String,
    /// What is wrong.
    pub message: String,
}

/// Splits on unescaped dots outside `[...]`, unescaping `\.`.
fn split_parts(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    let mut in_q = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'.') => {
                cur.push('.');
                chars.next();
            }
            '"' if depth > 0 => {
                in_q = !in_q;
                cur.push(c);
            }
            '[' if !in_q => {
                depth += 1;
                cur.push(c);
            }
            ']' if !in_q => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 && !in_q => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// `*` and `?` wildcards over one part.
fn wild(p: &[char], s: &[char]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some('*') => (0..=s.len()).any(|i| wild(&p[1..], &s[i..])),
        Some('?') => !s.is_empty() && wild(&p[1..], &s[1..]),
        Some(c) => s.first() == Some(c) && wild(&p[1..], &s[1..]),
    }
}

fn part_match(pat: &str, s: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let c: Vec<char> = s.chars().collect();
    wild(&p, &c)
}

/// A name part: a rule without an instance key matches every instance.
fn name_match(pat: &str, name: &str) -> bool {
    if part_match(pat, name) {
        return true;
    }
    if !pat.contains('[') {
        if let Some(i) = name.find('[') {
            return part_match(pat, &name[..i]);
        }
    }
    false
}

/// A parsed address: module parts, data or not, type, name (with key).
struct Addr {
    modules: Vec<String>,
    data: bool,
    ty: String,
    name: String,
}

fn parse_addr(address: &str) -> Option<Addr> {
    let parts = split_parts(address);
    let mut i = 0;
    let mut modules = Vec::new();
    while parts.get(i).map(String::as_str) == Some("module") {
        modules.push(parts.get(i + 1)?.clone());
        i += 2;
    }
    let data = parts.get(i).map(String::as_str) == Some("data");
    if data {
        i += 1;
    }
    Some(Addr {
        modules,
        data,
        ty: parts.get(i)?.clone(),
        name: parts.get(i + 1)?.clone(),
    })
}

impl IgnoreRules {
    /// Parses `.driftignore` text: one rule a line, `#` starts a comment, blank lines skipped.
    ///
    /// # Errors
    /// A rule with no resource name part (`terraform_data` alone).
    pub fn parse(text: &str) -> Result<IgnoreRules, IgnoreError> {
        let mut rules = IgnoreRules::default();
        for (n, line) in text.lines().enumerate() {
            let line = strip_comment(line);
            if line.is_empty() {
                continue;
            }
            rules.add(line, n + 1)?;
        }
        Ok(rules)
    }

    /// Rules from a list (`drift { ignore = [...] }`), same syntax as the file's lines.
    ///
    /// # Errors
    /// As [`IgnoreRules::parse`]; `line` is the 1-based list position.
    pub fn from_list<S: AsRef<str>>(items: &[S]) -> Result<IgnoreRules, IgnoreError> {
        let mut rules = IgnoreRules::default();
        for (n, s) in items.iter().enumerate() {
            let s = s.as_ref().trim();
            if !s.is_empty() {
                rules.add(s, n + 1)?;
            }
        }
        Ok(rules)
    }

    /// Adds the rules of `other` after these.
    pub fn extend(&mut self, other: IgnoreRules) {
        self.rules.extend(other.rules);
    }

    /// No rules at all?
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn add(&mut self, line: &str, n: usize) -> Result<(), IgnoreError> {
        let (negate, body) = match line.strip_prefix('!') {
            Some(b) => (true, b.trim()),
            None => (false, line),
        };
        let bad = |m: &str| IgnoreError {
            line: n,
            text: line.to_string(),
            message: m.to_string(),
        };
        let parts = split_parts(body);
        if parts.len() == 1 && parts[0] == "*" {
            self.rules.push(Rule {
                negate,
                modules: None,
                data: false,
                ty: "*".into(),
                name: "*".into(),
                attr: vec![],
                text: line.to_string(),
            });
            return Ok(());
        }
        let mut i = 0;
        let mut modules = None;
        while parts.get(i).map(String::as_str) == Some("module") {
            let m = parts
                .get(i + 1)
                .ok_or_else(|| bad("module without a name"))?;
            modules.get_or_insert_with(Vec::new).push(m.clone());
            i += 2;
        }
        let data = parts.get(i).map(String::as_str) == Some("data");
        if data {
            i += 1;
        }
        let ty = parts.get(i).ok_or_else(|| bad("no resource type"))?;
        let name = parts
            .get(i + 1)
            .ok_or_else(|| bad("a rule names a resource as type.name (or type.*)"))?;
        if ty.is_empty() || name.is_empty() {
            return Err(bad("empty part"));
        }
        self.rules.push(Rule {
            negate,
            modules,
            data,
            ty: ty.clone(),
            name: name.clone(),
            attr: parts[i + 2..].to_vec(),
            text: line.to_string(),
        });
        Ok(())
    }

    fn rule_matches(r: &Rule, a: &Addr, attr: &[String]) -> bool {
        let whole = r.ty == "*" && r.name == "*" && r.modules.is_none() && r.attr.is_empty();
        if !whole {
            if let Some(ms) = &r.modules {
                if ms.len() != a.modules.len()
                    || !ms.iter().zip(&a.modules).all(|(p, m)| name_match(p, m))
                {
                    return false;
                }
            }
            if r.data != a.data || !part_match(&r.ty, &a.ty) || !name_match(&r.name, &a.name) {
                return false;
            }
        }
        // the rule's attribute path must be a prefix of the finding's
        r.attr.len() <= attr.len() && r.attr.iter().zip(attr).all(|(p, s)| part_match(p, s))
    }

    /// Whether a finding is ignored: `attr_path` empty for the whole resource (created,
    /// destroyed, replaced), else the changed attribute's path (`["input", "tags"]`).
    pub fn is_ignored(&self, address: &str, attr_path: &[String]) -> bool {
        self.matching_rule(address, attr_path).is_some()
    }

    /// The rule that ignores this finding, for the report; `None` if it is not ignored.
    pub fn matching_rule(&self, address: &str, attr_path: &[String]) -> Option<&str> {
        let a = parse_addr(address)?;
        if self
            .rules
            .iter()
            .any(|r| r.negate && Self::rule_matches(r, &a, attr_path))
        {
            return None;
        }
        self.rules
            .iter()
            .find(|r| !r.negate && Self::rule_matches(r, &a, attr_path))
            .map(|r| r.text.as_str())
    }
}

fn strip_comment(line: &str) -> &str {
    let mut in_q = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_q = !in_q,
            '#' if !in_q => return line[..i].trim(),
            _ => {}
        }
    }
    line.trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(path: &[&str]) -> Vec<String> {
        path.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn driftctl_syntax() {
        let r = IgnoreRules::parse(
            "# comment\n\nterraform_data.app   # trailing\nnull_resource.*\nterraform_data.*.input.tags\n",
        )
        .unwrap();
        assert!(r.is_ignored("terraform_data.app", &[]));
        assert!(r.is_ignored("terraform_data.app[0]", &[]));
        assert!(r.is_ignored("terraform_data.app[\"k\"]", &p(&["input"])));
        assert!(r.is_ignored("null_resource.x", &[]));
        assert!(!r.is_ignored("terraform_data.other", &[]));
        assert!(r.is_ignored("terraform_data.other", &p(&["input", "tags"])));
        assert!(r.is_ignored("terraform_data.other", &p(&["input", "tags", "env"])));
        assert!(!r.is_ignored("terraform_data.other", &p(&["input", "name"])));
        assert!(!r.is_ignored("terraform_data.other", &p(&["input"])));
        // rules without module. apply in every module
        assert!(r.is_ignored("module.a.null_resource.x", &[]));
    }

    #[test]
    fn exceptions_win_in_any_order() {
        let r = IgnoreRules::parse("!terraform_data.keep\n*\n").unwrap();
        assert!(r.is_ignored("terraform_data.x", &[]));
        assert!(!r.is_ignored("terraform_data.keep", &[]));
        assert!(!r.is_ignored("terraform_data.keep[1]", &p(&["input"])));
        assert_eq!(r.matching_rule("null_resource.y", &[]), Some("*"));
    }

    #[test]
    fn instances_modules_and_escapes() {
        let r = IgnoreRules::parse(
            "terraform_data.app[0]\nmodule.net.terraform_data.x\nterraform_data.k[\"a.b\"]\ndata.d.*\n",
        )
        .unwrap();
        assert!(r.is_ignored("terraform_data.app[0]", &[]));
        assert!(!r.is_ignored("terraform_data.app[1]", &[]));
        assert!(r.is_ignored("module.net.terraform_data.x", &[]));
        assert!(!r.is_ignored("terraform_data.x", &[]));
        assert!(!r.is_ignored("module.other.terraform_data.x", &[]));
        assert!(r.is_ignored("terraform_data.k[\"a.b\"]", &[]));
        assert_eq!(split_parts("a.b\\.c"), vec!["a", "b.c"]);
        assert!(r.is_ignored("data.d.anything", &[]));
        assert!(!r.is_ignored("d.anything", &[]));
    }

    #[test]
    fn bad_rules_name_their_line() {
        let e = IgnoreRules::parse("ok.x\nterraform_data\n").unwrap_err();
        assert_eq!(e.line, 2);
        let r = IgnoreRules::from_list(&["terraform_data.a", ""]).unwrap();
        assert!(r.is_ignored("terraform_data.a", &[]));
    }
}
