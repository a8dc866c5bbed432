//! Patterns taken from public Terraform modules (terraform-aws-modules' alb, lambda, eks,
//! s3-bucket), rewritten with `terraform_data` so that the real `terraform plan` can judge them
//! offline: with no state, tfops must plan the same creates, and leave unknown exactly the
//! resources Terraform refuses to plan ("Invalid count/for_each argument": not known until
//! apply). `terraform_data.x.output` stands for any attribute known only after apply.
//!
//! Terraform: `TFOPS_TERRAFORM_PLAN`, else `terraform` on PATH (>= 1.4, for `terraform_data`).
//! Under CI (`CI` or `TFOPS_REQUIRE_TOOLS=1`) a missing one fails the test.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{text, Ws};

const MAIN: &str = r#"
resource "terraform_data" "x" {
  input = "a"
}

locals {
  m    = { a = terraform_data.x.output, b = "z" }
  l    = [terraform_data.x.output, "b"]
  objs = [{ name = "n1", v = terraform_data.x.output }, { name = "n2", v = "k" }]
  s    = toset([terraform_data.x.output, "a"])
}

# alb: var.listeners has optional attributes; one listener holds a value known after apply
module "lb" {
  source = "./lb"
  listeners = {
    http  = { port = 80 }
    https = { port = 443, cert = terraform_data.x.output, rules = { r1 = { priority = 1 } } }
  }
}

# lambda's allowed_triggers: a map(any) of objects with different attributes
module "fn" {
  source = "./fn"
  allowed_triggers = {
    Config   = { principal = "config.amazonaws.com", principal_org_id = terraform_data.x.output }
    OneRule  = { principal = "events.amazonaws.com", source_arn = "arn:rule" }
    Gateway  = { service = "apigateway" }
  }
}

# a map whose values are known only after apply
resource "terraform_data" "triggers" {
  for_each = { for k, v in local.m : k => v if k != "" }
  input    = each.value
}

resource "terraform_data" "by_name" {
  for_each = { for o in local.objs : o.name => o }
}

# eks' policy attachments: merge() of maps with values known after apply
resource "terraform_data" "merged" {
  for_each = merge(local.m, { c = terraform_data.x.output })
}

# s3-bucket: count = length(keys(var.logging)) > 0 ? 1 : 0
resource "terraform_data" "logging" {
  count = length(keys(local.m)) > 0 ? 1 : 0
}

resource "terraform_data" "values" {
  count = length(values(local.m))
}

resource "terraform_data" "zip" {
  for_each = zipmap(["p", "q"], local.l)
}

# alb's listener rules: flatten() of objects that hold values known after apply
resource "terraform_data" "flat_objects" {
  for_each = { for o in flatten([[local.objs], [{ name = "n3", v = "w" }]]) : o.name => o }
}

# coalesce(var.name, ...), one(...), contains(...) around values known after apply
resource "terraform_data" "coalesced" {
  count = coalesce("", null, "z", terraform_data.x.output) == "z" ? 1 : 0
}

resource "terraform_data" "one" {
  count = one([local.m]) != null ? 1 : 0
}

resource "terraform_data" "contains" {
  count = contains(local.l, "b") ? 1 : 0
}

# an element of another type does not match: Terraform compares without converting
resource "terraform_data" "contains_other_type" {
  count = contains(tolist(["1", "b"]), 1) ? 1 : 0
}

# alb: for_each = local.create && var.target_groups != null ? var.target_groups : {}
resource "terraform_data" "not_null" {
  for_each = local.m != null ? local.m : {}
}

# Terraform refuses these: whether an unknown is null, or holds the value, or is the first
# non-null one, is unknown, and a set with an unknown element has no known length
resource "terraform_data" "maybe_contains" {
  count = contains(local.l, "q") ? 1 : 0
}

resource "terraform_data" "coalesce_unknown_first" {
  count = coalesce(terraform_data.x.output, "z") == "z" ? 1 : 0
}

resource "terraform_data" "unknown_vs_null" {
  count = local.m.a != null ? 1 : 0
}

resource "terraform_data" "set_length" {
  count = length(local.s)
}

resource "terraform_data" "set_as_list" {
  count = length(tolist(local.s))
}

# outputs the state does not hold yet are added, known or not
output "known" {
  value = keys(local.m)
}

output "after_apply" {
  value = terraform_data.x.output
}
"#;

const LB: &str = r#"
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
  default = {}
}

locals {
  rules  = flatten([for lk, lv in var.listeners : [for rk, rv in lv.rules : merge(rv, { lk = lk, rk = rk })]])
  extras = { for k, v in var.listeners : k => v if length(v.extra) == 0 }
}

resource "terraform_data" "rule" {
  for_each = { for v in local.rules : "${v.lk}/${v.rk}" => v }
  input    = each.value.tag
}

resource "terraform_data" "listener" {
  for_each = local.extras
}
"#;

const FN: &str = r#"
variable "allowed_triggers" {
  type    = map(any)
  default = {}
}

resource "terraform_data" "permission" {
  for_each = { for k, v in var.allowed_triggers : k => v }
  input    = try(each.value.service, each.value.principal)
}
"#;

/// Terraform's plan: addresses it plans to create, resources it refuses to plan, outputs it
/// plans to add.
struct Plan {
    creates: BTreeSet<String>,
    refused: BTreeSet<String>,
    outputs: BTreeSet<String>,
}

fn terraform_plan(bin: &Path, dir: &Path) -> Plan {
    let init = common::terraform_cmd(
        bin,
        &["init", "-input=false", "-no-color", "-backend=false"],
        dir,
    );
    assert!(init.status.success(), "terraform init: {}", text(&init));
    let plan = common::terraform_cmd(
        bin,
        &[
            "plan",
            "-refresh=false",
            "-input=false",
            "-no-color",
            "-json",
        ],
        dir,
    );
    let mut creates = BTreeSet::new();
    let mut refused = BTreeSet::new();
    let mut outputs = BTreeSet::new();
    for line in String::from_utf8_lossy(&plan.stdout).lines() {
        let Ok(m) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match m["type"].as_str() {
            Some("planned_change") if m["change"]["action"] == "create" => {
                creates.insert(
                    m["change"]["resource"]["addr"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            Some("outputs") => {
                for (name, o) in m["outputs"].as_object().unwrap() {
                    if o["action"] == "create" {
                        outputs.insert(name.clone());
                    }
                }
            }
            Some("diagnostic") if m["diagnostic"]["severity"] == "error" => {
                let d = &m["diagnostic"];
                let summary = d["summary"].as_str().unwrap_or("");
                assert!(
                    summary == "Invalid count argument" || summary == "Invalid for_each argument",
                    "terraform plan failed otherwise: {line}"
                );
                // the snippet's context is the block header: resource "T" "N"
                let ctx = d["snippet"]["context"].as_str().unwrap();
                let labels: Vec<&str> = ctx.split('"').skip(1).step_by(2).collect();
                refused.insert(format!("{}.{}", labels[0], labels[1]));
            }
            _ => {}
        }
    }
    Plan {
        creates,
        refused,
        outputs,
    }
}

#[test]
fn public_module_patterns_agree_with_terraform_plan() {
    let required = common::tools_required();
    let Some(bin) = common::terraform_1_4() else {
        assert!(
            !required,
            "terraform >= 1.4 is required under CI (set TFOPS_TERRAFORM_PLAN or put it on PATH)"
        );
        eprintln!("SKIP: no terraform >= 1.4 (set TFOPS_TERRAFORM_PLAN)");
        return;
    };
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac/lb")).unwrap();
    std::fs::write(ws.path("iac/main.tf"), MAIN).unwrap();
    std::fs::write(ws.path("iac/lb/main.tf"), LB).unwrap();
    std::fs::create_dir_all(ws.path("iac/fn")).unwrap();
    std::fs::write(ws.path("iac/fn/main.tf"), FN).unwrap();

    let o = ws.run(&["drift", "--json"]);
    assert!(o.status.code().is_some(), "{}", text(&o));
    let r: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    let ours: BTreeSet<String> = r["create"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let unknown: BTreeSet<String> = r["unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["address"].as_str().unwrap().to_string())
        .collect();

    let our_outputs: BTreeSet<String> = r["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["action"] == "create")
        .map(|o| o["name"].as_str().unwrap().to_string())
        .collect();

    let Plan {
        creates: theirs,
        refused,
        outputs,
    } = terraform_plan(&bin, &ws.path("iac"));
    // the configuration must exercise both sides
    assert!(
        theirs.len() > 10 && refused.len() == 5,
        "{theirs:?} {refused:?}"
    );
    assert_eq!(ours, theirs, "creates; tfops unknown: {}", r["unknown"]);
    assert_eq!(unknown, refused, "unknown: {}", r["unknown"]);
    assert_eq!(outputs.len(), 2, "{outputs:?}");
    assert_eq!(our_outputs, outputs, "outputs: {}", r["outputs"]);
}
