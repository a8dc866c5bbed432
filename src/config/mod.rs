//! The configuration: `config/tfops.hcl` turned into a validated, typed [`Config`].
//!
//! Validation walks the hcl-edit syntax tree rather than deserializing with hcl-rs serde: the
//! tree keeps spans, so every problem (unknown key, repeated single block, bad value) is reported
//! as `file:line:column`, all of them at once. hcl-rs serde would silently merge two `health`
//! blocks and report unknown fields without a position. This module only reads and checks: it
//! does no I/O beyond reading the one file, and knows nothing of actors.
//!
//! The types and loading are here, with the validator's value readers, the top-level walk and
//! the small `health` and `drift` blocks; the other blocks' checks are in `blocks`
//! (`services`, `service`, `balancer`, `state`, `http`) and `schedule_block`. Schedules parse into [`crate::schedule::Schedule`], which this module
//! does not define.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hcl_edit::expr::Expression;
use hcl_edit::structure::{Attribute, Block, Body, Structure};
use hcl_edit::Span;

use crate::schedule::Schedule;
use crate::service_id::ServiceId;
use crate::text::LineIndex;

mod blocks;
mod schedule_block;

/// Routing strategy of the balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Each up service in turn.
    #[default]
    RoundRobin,
    /// The service with the fewest requests in its inbox; ties in round-robin order.
    LeastBacklog,
    /// Smooth weighted round robin by `weight`.
    Weighted,
}

impl Strategy {
    /// The name used in the configuration file.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "round_robin",
            Strategy::LeastBacklog => "least_backlog",
            Strategy::Weighted => "weighted",
        }
    }
}

/// `services { }`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServicesConfig {
    /// Number of services, `service_1 … service_count`.
    pub count: usize,
    /// The services given a marker at start and on reload.
    pub active: Vec<ServiceId>,
}

/// `service "service_N" { }`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSettings {
    pub weight: u32,
    pub hourly_cost: f64,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            weight: 1,
            hourly_cost: 0.10,
        }
    }
}

/// `balancer { }`.
#[derive(Debug, Clone, PartialEq)]
pub struct BalancerConfig {
    pub strategy: Strategy,
    pub rescan: Duration,
    pub settle: Duration,
    pub max_request_bytes: u64,
    pub recent_in_log: usize,
}

/// `health { }`.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    pub interval: Duration,
}

/// `state { }`. Paths are absolute (resolved against the workspace root).
#[derive(Debug, Clone, PartialEq)]
pub struct StateConfig {
    pub path: PathBuf,
    pub backups: PathBuf,
    pub keep_last: usize,
    pub keep_daily: usize,
    pub keep_weekly: usize,
    pub keep_monthly: usize,
    pub grace: Duration,
    pub auto_restore: bool,
    /// How often a remote (S3) state's ETag is polled (#12).
    pub poll: Duration,
    /// Replica URLs (`s3://bucket/prefix`, `file:///dir`) snapshots are copied to (#12).
    pub replicate: Vec<String>,
    /// Not a setting: the folder the state file must stay in when the `.tf` files chose it
    /// (`backend "local" { path }`). Restores then reach its folder from here without
    /// following a link, so a folder swapped for a link after the check cannot lead out.
    pub confine: Option<PathBuf>,
}

/// `drift { }`. `dir` is absolute.
#[derive(Debug, Clone, PartialEq)]
pub struct DriftConfig {
    pub dir: PathBuf,
    pub interval: Duration,
    pub keep_reports: usize,
    /// `var_files`: variables files read after the module's automatic ones (absolute).
    pub var_files: Vec<PathBuf>,
    /// `vars`: `NAME` and its value as `--var NAME=VALUE` text (a string's content, else the
    /// expression as written), in the order written.
    pub vars: Vec<(String, String)>,
    /// `ignore`: `.driftignore` rules applied to every detection (before the module's own
    /// `.driftignore`).
    pub ignore: crate::drift::ignore::IgnoreRules,
}

/// `http { }`: the HTTP endpoints of `run` (#14). `listen` is checked to be an address here;
/// whether a non-loopback one has a token is decided when `run` starts (`TFOPS_HTTP_TOKEN`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpConfig {
    /// Where to listen; `None` (the default, `listen = ""`) is off.
    pub listen: Option<std::net::SocketAddr>,
    /// The bearer token; never printed (its `Debug` says `<redacted>`).
    pub token: Option<Secret>,
}

/// A string that is never shown: `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The whole validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it came from, `None` for built-in defaults (no file).
    pub source: Option<PathBuf>,
    pub services: ServicesConfig,
    /// Per-service settings; absent means defaults.
    pub service: BTreeMap<ServiceId, ServiceSettings>,
    pub balancer: BalancerConfig,
    pub health: HealthConfig,
    pub schedules: Vec<Schedule>,
    pub state: StateConfig,
    pub drift: DriftConfig,
    pub http: HttpConfig,
}

impl Config {
    /// The built-in defaults, paths resolved against `root`.
    pub fn defaults(root: &Path) -> Config {
        Config {
            source: None,
            services: ServicesConfig {
                count: 3,
                active: ServiceId::all(3).collect(),
            },
            service: BTreeMap::new(),
            balancer: BalancerConfig {
                strategy: Strategy::RoundRobin,
                rescan: Duration::from_secs(5),
                settle: Duration::from_millis(200),
                max_request_bytes: 1_048_576,
                recent_in_log: 1000,
            },
            health: HealthConfig {
                interval: Duration::from_secs(10),
            },
            schedules: Vec::new(),
            state: StateConfig {
                path: root.join("iac/terraform.tfstate"),
                backups: root.join("backups"),
                keep_last: 50,
                keep_daily: 0,
                keep_weekly: 0,
                keep_monthly: 0,
                grace: Duration::from_secs(5),
                auto_restore: false,
                poll: Duration::from_secs(10),
                replicate: Vec::new(),
                confine: None,
            },
            drift: DriftConfig {
                dir: root.join("iac"),
                interval: Duration::from_secs(60),
                keep_reports: 100,
                var_files: Vec::new(),
                vars: Vec::new(),
                ignore: crate::drift::ignore::IgnoreRules::default(),
            },
            http: HttpConfig::default(),
        }
    }

    /// Settings of service `id`, defaults when it has no block.
    pub fn service_settings(&self, id: ServiceId) -> ServiceSettings {
        self.service.get(&id).cloned().unwrap_or_default()
    }

    /// Loads `path`; a missing file gives the defaults.
    ///
    /// # Errors
    /// [`ConfigError::Io`] when the file exists but cannot be read, [`ConfigError::Invalid`]
    /// with every problem found when it does not validate.
    pub fn load(path: &Path, display: &str, root: &Path) -> Result<Config, ConfigError> {
        // Never blocks: a fifo in the file's place is refused, not waited on.
        let bytes = match crate::fsutil::read_regular(path, true) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::defaults(root))
            }
            Err(e) => {
                return Err(ConfigError::Io {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let (line, column) = crate::text::utf8_error_position(&e);
                return Err(ConfigError::Invalid(vec![Problem {
                    file: display.to_string(),
                    line,
                    column,
                    message: "the file is not valid UTF-8".into(),
                }]));
            }
        };
        let mut cfg = parse_config(&text, display, root)?;
        cfg.source = Some(path.to_path_buf());
        Ok(cfg)
    }
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", problems_text(.0))]
    Invalid(Vec<Problem>),
}

fn problems_text(p: &[Problem]) -> String {
    p.iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parses and validates configuration text. `display` names the file in messages; relative
/// paths in the text are resolved against `root`.
///
/// # Errors
/// [`ConfigError::Invalid`] listing every problem found.
pub fn parse_config(text: &str, display: &str, root: &Path) -> Result<Config, ConfigError> {
    let lines = LineIndex::new(text);
    let mut v = Validator {
        file: display,
        lines: &lines,
        problems: Vec::new(),
    };
    let body = match hcl_edit::parser::parse_body(text) {
        Ok(b) => b,
        Err(e) => {
            // The parser says where it noticed; point where the problem starts when we can
            // (the unclosed quote, the `{` never closed) and say what was expected.
            let loc = e.location();
            // A bracket left open shows as an error at the end of the text (the last line
            // with content, or after it): then the `{` never closed is the place to fix.
            let last_content_line = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .map(|(i, _)| i + 1)
                .last()
                .unwrap_or(0);
            let parser_at_end = loc.line() >= last_content_line;
            let hint = crate::syntax_hint::explain(text)
                .filter(|h| !h.message.starts_with("missing") || parser_at_end);
            let (line, column, message) = match hint {
                Some(h) => {
                    let (l, c) = lines.position(h.offset);
                    (l, c, format!("syntax error: {}", h.message))
                }
                None => (
                    loc.line(),
                    loc.column(),
                    format!("syntax error: {}", e.message()),
                ),
            };
            return Err(ConfigError::Invalid(vec![Problem {
                file: display.to_string(),
                line,
                column,
                message,
            }]));
        }
    };
    let cfg = v.config(&body, root);
    if v.problems.is_empty() {
        Ok(cfg)
    } else {
        v.problems.sort_by_key(|p| (p.line, p.column));
        Err(ConfigError::Invalid(v.problems))
    }
}

/// Parses a duration such as `"200ms"`, `"5s"`, `"1m"`, `"2h"`, `"1d"`: at least 1 ms (a
/// shorter one would be zero to the timers and spin a loop).
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let secs = duration_secs(s)?;
    if !(secs.is_finite() && secs < 1e9) || secs <= 0.0 {
        return Err(format!("{:?} must be a positive duration", s.trim()));
    }
    if secs < 0.001 {
        return Err(format!(
            "{:?} is shorter than 1ms, the shortest duration tfops takes",
            s.trim()
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Whether `s` is a zero duration written with a unit (`"0s"`, `"0ms"`…) or a bare `"0"`:
/// what `settle` takes to mean "at once".
pub fn is_zero_duration(s: &str) -> bool {
    s.trim() == "0" || duration_secs(s) == Ok(0.0)
}

/// The seconds a duration string says, not yet range-checked.
fn duration_secs(s: &str) -> Result<f64, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like \"200ms\", \"5s\", \"1m\" or \"1h\""))?;
    let mult = match unit.trim() {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => {
            return Err(format!(
                "{s:?} is not a duration: the unit must be ms, s, m, h or d"
            ))
        }
    };
    Ok(n * mult)
}

struct Validator<'a> {
    file: &'a str,
    lines: &'a LineIndex<'a>,
    problems: Vec<Problem>,
}

/// A literal value read from the tree.
enum Lit<'e> {
    Num(f64),
    Str(&'e str),
    Bool(bool),
}

impl<'a> Validator<'a> {
    fn at(&mut self, span: Option<std::ops::Range<usize>>, msg: impl Into<String>) {
        let (line, column) = self.lines.position(span.map(|r| r.start).unwrap_or(0));
        self.problems.push(Problem {
            file: self.file.to_string(),
            line,
            column,
            message: msg.into(),
        });
    }

    /// A literal value; anything else is reported as "expected EXPECTED, found `TEXT`".
    fn lit<'e>(&mut self, e: &'e Expression, key: &str, expected: &str) -> Option<Lit<'e>> {
        match e {
            Expression::Number(n) => n.value().as_f64().map(Lit::Num),
            Expression::String(s) => Some(Lit::Str(s.value().as_str())),
            Expression::Bool(b) => Some(Lit::Bool(*b.value())),
            Expression::Parenthesis(p) => self.lit(p.inner(), key, expected),
            _ => {
                let found = e
                    .span()
                    .and_then(|r| self.lines.text().get(r))
                    .map(|t| t.lines().next().unwrap_or(t).trim().to_string())
                    .unwrap_or_default();
                let found: String = found.chars().take(40).collect();
                self.at(
                    e.span(),
                    format!(
                        "`{key}`: expected {expected}, found `{found}` (values are literals: no variables or functions)"
                    ),
                );
                None
            }
        }
    }

    fn string(&mut self, a: &Attribute) -> Option<String> {
        match self.lit(&a.value, a.key.as_str(), "a string")? {
            Lit::Str(s) => Some(s.to_string()),
            _ => {
                self.at(
                    a.value.span(),
                    format!("`{}` must be a string", a.key.as_str()),
                );
                None
            }
        }
    }

    fn boolean(&mut self, a: &Attribute) -> Option<bool> {
        match self.lit(&a.value, a.key.as_str(), "true or false")? {
            Lit::Bool(b) => Some(b),
            _ => {
                self.at(
                    a.value.span(),
                    format!("`{}` must be true or false", a.key.as_str()),
                );
                None
            }
        }
    }

    fn number(&mut self, a: &Attribute) -> Option<f64> {
        match self.lit(&a.value, a.key.as_str(), "a number")? {
            Lit::Num(n) => Some(n),
            _ => {
                self.at(
                    a.value.span(),
                    format!("`{}` must be a number", a.key.as_str()),
                );
                None
            }
        }
    }

    fn integer(&mut self, a: &Attribute, min: u64, max: u64) -> Option<u64> {
        let n = self.number(a)?;
        if n.fract() != 0.0 || n < min as f64 || n > max as f64 {
            self.at(
                a.value.span(),
                format!(
                    "`{}` must be a whole number from {min} to {max}, not {n}",
                    a.key.as_str()
                ),
            );
            return None;
        }
        Some(n as u64)
    }

    fn duration(&mut self, a: &Attribute) -> Option<Duration> {
        let s = self.string(a)?;
        match parse_duration(&s) {
            Ok(d) => Some(d),
            Err(m) => {
                self.at(a.value.span(), format!("`{}`: {m}", a.key.as_str()));
                None
            }
        }
    }

    fn path(&mut self, a: &Attribute, root: &Path) -> Option<PathBuf> {
        let s = self.string(a)?;
        if s.is_empty() {
            self.at(
                a.value.span(),
                format!("`{}` must not be empty", a.key.as_str()),
            );
            return None;
        }
        Some(root.join(s))
    }

    /// `vars = { NAME = value, … }`: each value as `--var` text.
    fn var_values(&mut self, a: &Attribute) -> Vec<(String, String)> {
        let Expression::Object(o) = &a.value else {
            self.at(
                a.value.span(),
                "`vars` must be an object, like vars = { region = \"eu-west-1\" }".to_string(),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in o.iter() {
            let name = match k {
                hcl_edit::expr::ObjectKey::Ident(i) => i.as_str().to_string(),
                hcl_edit::expr::ObjectKey::Expression(Expression::String(s)) => {
                    s.value().to_string()
                }
                hcl_edit::expr::ObjectKey::Expression(e) => {
                    self.at(
                        e.span(),
                        "a variable name in `vars` must be a name".to_string(),
                    );
                    continue;
                }
            };
            let text = match v.expr() {
                Expression::String(s) => s.value().to_string(),
                e => e.to_string().trim().to_string(),
            };
            out.push((name, text));
        }
        out
    }

    pub(super) fn string_list(
        &mut self,
        a: &Attribute,
    ) -> Option<Vec<(String, Option<std::ops::Range<usize>>)>> {
        let Expression::Array(arr) = &a.value else {
            self.at(
                a.value.span(),
                format!("`{}` must be a list of strings", a.key.as_str()),
            );
            return None;
        };
        let mut out = Vec::new();
        for item in arr.iter() {
            match item {
                Expression::String(s) => out.push((s.value().to_string(), item.span())),
                _ => {
                    self.at(
                        item.span(),
                        format!("`{}` must be a list of strings", a.key.as_str()),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }

    /// Attributes of a block body, reporting nested blocks and unknown or repeated keys.
    fn attrs<'b>(&mut self, block: &'b Block, known: &[&str]) -> BTreeMap<String, &'b Attribute> {
        let mut out = BTreeMap::new();
        let what = block.ident.as_str().to_string();
        for s in block.body.iter() {
            match s {
                Structure::Attribute(a) => {
                    let k = a.key.as_str();
                    if !known.contains(&k) {
                        self.at(
                            a.span(),
                            format!(
                                "unknown key `{k}` in `{what}` (known: {})",
                                known.join(", ")
                            ),
                        );
                    } else if out.insert(k.to_string(), a).is_some() {
                        self.at(a.span(), format!("`{k}` is set twice in `{what}`"));
                    }
                }
                Structure::Block(b) => {
                    self.at(
                        b.span(),
                        format!("unexpected block `{}` inside `{what}`", b.ident.as_str()),
                    );
                }
            }
        }
        out
    }

    fn config(&mut self, body: &Body, root: &Path) -> Config {
        let mut cfg = Config::defaults(root);
        let single = ["services", "balancer", "health", "state", "drift", "http"];
        let mut seen: BTreeMap<&str, ()> = BTreeMap::new();
        let mut service_blocks: Vec<&Block> = Vec::new();
        let mut schedule_blocks: Vec<&Block> = Vec::new();
        let mut services_block = None;
        for s in body.iter() {
            let b = match s {
                Structure::Attribute(a) => {
                    self.at(
                        a.span(),
                        format!(
                            "unknown top-level key `{}`: settings live in blocks (services, service, balancer, health, schedule, state, drift)",
                            a.key.as_str()
                        ),
                    );
                    continue;
                }
                Structure::Block(b) => b,
            };
            let name = b.ident.as_str();
            if let Some(&k) = single.iter().find(|k| **k == name) {
                if !b.labels.is_empty() {
                    self.at(b.span(), format!("`{name}` takes no label"));
                }
                if seen.insert(k, ()).is_some() {
                    self.at(
                        b.span(),
                        format!("`{name}` block is repeated; there can be only one"),
                    );
                    continue;
                }
            }
            match name {
                "services" => services_block = Some(b),
                "service" => service_blocks.push(b),
                "schedule" => schedule_blocks.push(b),
                "balancer" => self.balancer(b, &mut cfg.balancer),
                "health" => {
                    let a = self.attrs(b, &["interval"]);
                    if let Some(d) = a.get("interval").and_then(|a| self.duration(a)) {
                        cfg.health.interval = d;
                    }
                }
                "state" => self.state(b, &mut cfg.state, root),
                "drift" => {
                    let a =
                        self.attrs(b, &["dir", "interval", "keep_reports", "var_files", "vars", "ignore"]);
                    if let Some(files) = a.get("var_files").and_then(|a| self.string_list(a)) {
                        cfg.drift.var_files = files.into_iter().map(|(f, _)| root.join(f)).collect();
                    }
                    if let Some(v) = a.get("vars") {
                        cfg.drift.vars = self.var_values(v);
                    }
                    if let Some(r) = a.get("ignore").and_then(|a| self.drift_ignore(a)) {
                        cfg.drift.ignore = r;
                    }
                    if let Some(p) = a.get("dir").and_then(|a| self.path(a, root)) {
                        cfg.drift.dir = p;
                    }
                    if let Some(d) = a.get("interval").and_then(|a| self.duration(a)) {
                        cfg.drift.interval = d;
                    }
                    if let Some(n) = a.get("keep_reports").and_then(|a| self.integer(a, 1, 1_000_000)) {
                        cfg.drift.keep_reports = n as usize;
                    }
                }
                "http" => self.http(b, &mut cfg.http),
                other => self.at(
                    b.span(),
                    format!(
                        "unknown block `{other}` (known: services, service, balancer, health, schedule, state, drift, http)"
                    ),
                ),
            }
        }
        if let Some(b) = services_block {
            self.services(b, &mut cfg.services);
        }
        let count = cfg.services.count;
        for b in service_blocks {
            self.service(b, count, &mut cfg.service);
        }
        for b in schedule_blocks {
            if let Some(s) = self.schedule(b, count, &cfg.schedules) {
                cfg.schedules.push(s);
            }
        }
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, Vec<Problem>> {
        parse_config(text, "config/tfops.hcl", Path::new("/ws")).map_err(|e| match e {
            ConfigError::Invalid(p) => p,
            ConfigError::Io { .. } => unreachable!(),
        })
    }

    #[test]
    fn empty_text_is_defaults() {
        assert_eq!(parse("").unwrap(), Config::defaults(Path::new("/ws")));
    }

    #[test]
    fn full_example_parses() {
        let cfg = parse(include_str!("../../config/tfops.hcl")).unwrap();
        assert_eq!(cfg.services.count, 3);
        assert_eq!(cfg.schedules.len(), 1);
        assert_eq!(cfg.schedules[0].services, vec![ServiceId(3)]);
        assert_eq!(cfg.state.path, Path::new("/ws/iac/terraform.tfstate"));
    }

    #[test]
    fn errors_name_line_and_column_all_at_once() {
        let p = parse(
            "services {\n  count = 0\n}\nhealth {\n  interval = \"5 parsecs\"\n  bogus = 1\n}\n",
        )
        .unwrap_err();
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!((p[0].line, p[0].column), (2, 11));
        assert!(p[0].message.contains("count"));
        assert_eq!(p[1].line, 5);
        assert!(p[1].message.contains("parsecs"));
        assert_eq!(p[2].line, 6);
        assert!(p[2].message.contains("bogus"));
        assert!(p[0].to_string().starts_with("config/tfops.hcl:2:11:"));
    }

    #[test]
    fn http_block_listen_and_token() {
        let c = parse("http {\n  listen = \"127.0.0.1:9180\"\n  token = \"s3cret\"\n}\n").unwrap();
        assert_eq!(c.http.listen, Some("127.0.0.1:9180".parse().unwrap()));
        assert_eq!(c.http.token, Some(Secret("s3cret".into())));
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "the token is never printed"
        );
        let off = parse("http {\n  listen = \"\"\n}\n").unwrap();
        assert_eq!(off.http, HttpConfig::default());
        let p = parse("http {\n  listen = \"localhost\"\n  port = 1\n}\n").unwrap_err();
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p
            .iter()
            .any(|p| p.line == 2 && p.message.contains("not an address")));
    }

    #[test]
    fn tiny_durations_and_a_fake_zero_settle_are_refused() {
        for bad in [
            "balancer {\n  settle = \"0xyz\"\n}\n",
            "balancer {\n  rescan = \"0.0000001ms\"\n}\n",
            "health {\n  interval = \"0.5ms\"\n}\n",
        ] {
            assert!(parse(bad).is_err(), "accepted: {bad}");
        }
        let c = parse("balancer {\n  settle = \"0s\"\n}\n").unwrap();
        assert_eq!(c.balancer.settle, Duration::ZERO);
    }

    #[test]
    fn repeated_single_block_is_an_error() {
        let p = parse("health {\n}\nhealth {\n  interval = \"1s\"\n}\n").unwrap_err();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, 3);
        assert!(p[0].message.contains("repeated"));
    }

    #[test]
    fn active_out_of_range_and_bad_window_and_timezone() {
        let p = parse(
            "services {\n  count = 2\n  active = [1, 3]\n}\nschedule \"n\" {\n  services = [\"service_2\"]\n  off = \"25:00-06:00\"\n  timezone = \"Mars/Olympus\"\n}\n",
        )
        .unwrap_err();
        let msgs: Vec<_> = p.iter().map(|p| (p.line, p.message.clone())).collect();
        assert_eq!(p.len(), 3, "{msgs:?}");
        assert_eq!(p[0].line, 3);
        assert_eq!(p[1].line, 7);
        assert_eq!(p[2].line, 8);
    }

    #[test]
    fn syntax_error_has_position() {
        let p = parse("services {\n  count = = 3\n}\n").unwrap_err();
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("syntax"));
        assert_eq!(p[0].line, 2);
        // A block never closed: where it opens, not where the file ends (#13).
        let p = parse("services {\n  count = 3\n\nhealth {\n}\n").unwrap_err();
        assert_eq!((p[0].line, p[0].column), (1, 10), "{p:?}");
        assert!(p[0].message.contains("missing `}`"), "{p:?}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("5 parsecs").is_err());
        // Under 1 ms would be zero to a timer (a loop that spins a core).
        for tiny in ["0.0000001ms", "0.5ms", "0.0000001s", "0s", "0ms"] {
            assert!(parse_duration(tiny).is_err(), "{tiny}");
        }
        assert_eq!(parse_duration("1ms").unwrap(), Duration::from_millis(1));
        for zero in ["0s", "0ms", "0", "0.0s"] {
            assert!(is_zero_duration(zero), "{zero}");
        }
        for not_zero in ["0xyz", "0sec", "00xs", "", "s"] {
            assert!(!is_zero_duration(not_zero), "{not_zero}");
        }
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn drift_ignore_rules_are_checked_where_written() {
        let c = parse("drift {\n  ignore = [\"terraform_data.scratch_*\", \"*.input.tags\"]\n}\n")
            .unwrap();
        assert_eq!(c.drift.ignore.len(), 2);
        let m = c
            .drift
            .ignore
            .matching("terraform_data.x", &["input".into(), "tags".into()])
            .unwrap();
        assert_eq!(m.source, "config/tfops.hcl: drift.ignore[1]");
        let p = parse("drift {\n  ignore = [\"a.b\", \"!\", 3]\n}\n").unwrap_err();
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!((p[0].line, p[0].column), (2, 25));
        assert!(p[0].message.contains("list of strings"), "{p:?}");
        let p = parse("drift {\n  ignore = [\"a.b\", \"nodot\"]\n}\n").unwrap_err();
        assert_eq!((p[0].line, p[0].column), (2, 20), "{p:?}");
        assert!(p[0].message.contains("nodot"), "{p:?}");
    }

    #[test]
    fn service_block_and_strategy() {
        let c = parse("balancer {\n  strategy = \"weighted\"\n}\nservice \"service_2\" {\n  weight = 3\n  hourly_cost = 0.5\n}\n").unwrap();
        assert_eq!(c.balancer.strategy, Strategy::Weighted);
        assert_eq!(c.service_settings(ServiceId(2)).weight, 3);
        assert_eq!(c.service_settings(ServiceId(1)).weight, 1);
        let p = parse("service \"service_9\" {}\n").unwrap_err();
        assert!(p[0].message.contains("no such service"));
    }
}
