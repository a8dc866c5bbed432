//! The checks of the single blocks — `services`, `service "service_N"`, `balancer`, `state`, `http` —
//! each reporting its problems by position and filling its part of the [`Config`].

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use hcl_edit::expr::Expression;
use hcl_edit::structure::Block;
use hcl_edit::Span;

use super::{
    parse_duration, BalancerConfig, HttpConfig, Secret, ServiceSettings, ServicesConfig,
    StateConfig, Strategy, Validator,
};
use crate::service_id::ServiceId;

impl Validator<'_> {
    pub(super) fn services(&mut self, b: &Block, out: &mut ServicesConfig) {
        let a = self.attrs(b, &["count", "active"]);
        if let Some(n) = a.get("count").and_then(|a| self.integer(a, 1, 10_000)) {
            out.count = n as usize;
            // Default active: all of them.
            out.active = ServiceId::all(out.count).collect();
        }
        if let Some(attr) = a.get("active") {
            let Expression::Array(arr) = &attr.value else {
                self.at(
                    attr.value.span(),
                    "`active` must be a list of service numbers, like [1, 2, 3]",
                );
                return;
            };
            let mut act = Vec::new();
            for item in arr.iter() {
                let n = match item {
                    Expression::Number(n) => n.value().as_f64(),
                    _ => None,
                };
                match n {
                    Some(n) if n.fract() == 0.0 && n >= 1.0 && n <= out.count as f64 => {
                        let n = ServiceId(n as usize);
                        if act.contains(&n) {
                            self.at(item.span(), format!("service {} is listed twice in `active`", n.get()));
                        } else {
                            act.push(n);
                        }
                    }
                    _ => self.at(
                        item.span(),
                        format!(
                            "`active` entries must be service numbers from 1 to {} (services.count)",
                            out.count
                        ),
                    ),
                }
            }
            act.sort_unstable();
            out.active = act;
        }
    }

    pub(super) fn service(
        &mut self,
        b: &Block,
        count: usize,
        out: &mut BTreeMap<ServiceId, ServiceSettings>,
    ) {
        let label = match b.labels.as_slice() {
            [l] => l.as_str().to_string(),
            _ => {
                self.at(
                    b.span(),
                    "`service` needs one label, like service \"service_3\" { … }",
                );
                return;
            }
        };
        let Some(n) = label.parse::<ServiceId>().ok().filter(|n| n.get() <= count) else {
            self.at(
                b.labels[0].span(),
                format!("`service \"{label}\"`: no such service (service_1 … service_{count})"),
            );
            return;
        };
        if out.contains_key(&n) {
            self.at(b.span(), format!("`service \"{label}\"` is defined twice"));
            return;
        }
        let a = self.attrs(b, &["weight", "hourly_cost"]);
        let mut s = ServiceSettings::default();
        if let Some(w) = a.get("weight").and_then(|a| self.integer(a, 0, 1_000_000)) {
            s.weight = w as u32;
        }
        if let Some(attr) = a.get("hourly_cost") {
            if let Some(c) = self.number(attr) {
                if c >= 0.0 && c.is_finite() {
                    s.hourly_cost = c;
                } else {
                    self.at(attr.value.span(), "`hourly_cost` must be zero or more");
                }
            }
        }
        out.insert(n, s);
    }

    pub(super) fn balancer(&mut self, b: &Block, out: &mut BalancerConfig) {
        let a = self.attrs(
            b,
            &[
                "strategy",
                "rescan",
                "settle",
                "max_request_bytes",
                "recent_in_log",
            ],
        );
        if let Some(attr) = a.get("strategy") {
            if let Some(s) = self.string(attr) {
                match s.as_str() {
                    "round_robin" => out.strategy = Strategy::RoundRobin,
                    "least_backlog" => out.strategy = Strategy::LeastBacklog,
                    "weighted" => out.strategy = Strategy::Weighted,
                    other => self.at(
                        attr.value.span(),
                        format!("unknown strategy {other:?}: use round_robin, least_backlog or weighted"),
                    ),
                }
            }
        }
        if let Some(d) = a.get("rescan").and_then(|a| self.duration(a)) {
            out.rescan = d;
        }
        if let Some(attr) = a.get("settle") {
            if let Some(s) = self.string(attr) {
                // settle may be zero ("0s"): take files found by rescan at once.
                if super::is_zero_duration(&s) {
                    out.settle = Duration::ZERO;
                } else {
                    match parse_duration(&s) {
                        Ok(d) => out.settle = d,
                        Err(m) => self.at(attr.value.span(), format!("`settle`: {m}")),
                    }
                }
            }
        }
        if let Some(n) = a
            .get("max_request_bytes")
            .and_then(|a| self.integer(a, 1, 1 << 40))
        {
            out.max_request_bytes = n;
        }
        if let Some(n) = a
            .get("recent_in_log")
            .and_then(|a| self.integer(a, 0, 10_000_000))
        {
            out.recent_in_log = n as usize;
        }
    }

    pub(super) fn state(&mut self, b: &Block, out: &mut StateConfig, root: &Path) {
        let a = self.attrs(
            b,
            &[
                "path",
                "backups",
                "keep_last",
                "keep_daily",
                "keep_weekly",
                "keep_monthly",
                "grace",
                "auto_restore",
                "poll",
                "replicate",
            ],
        );
        if let Some(p) = a.get("path").and_then(|a| self.path(a, root)) {
            out.path = p;
        }
        if let Some(p) = a.get("backups").and_then(|a| self.path(a, root)) {
            out.backups = p;
        }
        if let Some(n) = a
            .get("keep_last")
            .and_then(|a| self.integer(a, 1, 1_000_000))
        {
            out.keep_last = n as usize;
        }
        if let Some(n) = a
            .get("keep_daily")
            .and_then(|a| self.integer(a, 0, 100_000))
        {
            out.keep_daily = n as usize;
        }
        if let Some(n) = a
            .get("keep_weekly")
            .and_then(|a| self.integer(a, 0, 100_000))
        {
            out.keep_weekly = n as usize;
        }
        if let Some(n) = a
            .get("keep_monthly")
            .and_then(|a| self.integer(a, 0, 100_000))
        {
            out.keep_monthly = n as usize;
        }
        if let Some(d) = a.get("grace").and_then(|a| self.duration(a)) {
            out.grace = d;
        }
        if let Some(v) = a.get("auto_restore").and_then(|a| self.boolean(a)) {
            out.auto_restore = v;
        }
        // #12: remote state polling and replicas.
        if let Some(d) = a.get("poll").and_then(|a| self.duration(a)) {
            out.poll = d;
        }
        if let Some(list) = a.get("replicate").and_then(|a| self.string_list(a)) {
            for (url, span) in list {
                match crate::state::replica::ReplicaUrl::parse(&url) {
                    Ok(_) => out.replicate.push(url),
                    Err(e) => self.at(span, format!("`replicate`: {e}")),
                }
            }
        }
    }

    /// `drift.ignore`: `.driftignore` rules, each checked where it is written.
    pub(super) fn drift_ignore(
        &mut self,
        a: &hcl_edit::structure::Attribute,
    ) -> Option<crate::drift::ignore::IgnoreRules> {
        use crate::drift::ignore::IgnoreRules;
        let list = self.string_list(a)?;
        let mut rules = IgnoreRules::default();
        let mut ok = true;
        for (i, (text, span)) in list.iter().enumerate() {
            // Each problem points at its own string.
            let source = format!("{}: drift.ignore[{i}]", self.file);
            if let Err(e) = rules.add_rule(text, i + 1, source) {
                ok = false;
                self.at(
                    span.clone(),
                    format!("`ignore`: {}: {:?}", e.message, e.text),
                );
            }
        }
        ok.then_some(rules)
    }

    pub(super) fn http(&mut self, b: &Block, out: &mut HttpConfig) {
        let a = self.attrs(b, &["listen", "token"]);
        if let Some(attr) = a.get("listen") {
            if let Some(s) = self.string(attr) {
                if !s.is_empty() {
                    match s.parse::<std::net::SocketAddr>() {
                        Ok(addr) => out.listen = Some(addr),
                        Err(_) => self.at(
                            attr.value.span(),
                            format!("`listen`: {s:?} is not an address and port, like \"127.0.0.1:9180\""),
                        ),
                    }
                }
            }
        }
        if let Some(attr) = a.get("token") {
            if let Some(s) = self.string(attr) {
                if !s.is_empty() {
                    out.token = Some(Secret(s));
                }
            }
        }
    }
}
