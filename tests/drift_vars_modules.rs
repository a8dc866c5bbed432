//! `tfops drift` with variables from the command line and the `drift {}` block, and with child
//! modules: the addresses it plans, hand-checked against what Terraform 1.11 plans for the
//! same files (no state: every instance is a create).

mod common;

use common::{text, Ws};

fn ws_with(main_tf: &str) -> Ws {
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac")).unwrap();
    std::fs::write(ws.path("iac/main.tf"), main_tf).unwrap();
    ws
}

fn write(ws: &Ws, rel: &str, body: &str) {
    let p = ws.path(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, body).unwrap();
}

/// `drift --json` (exit 0 expected); the report.
fn report(ws: &Ws, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["drift", "--json"];
    all.extend_from_slice(args);
    let o = ws.run(&all);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)))
}

fn creates(r: &serde_json::Value) -> Vec<String> {
    r["create"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

fn unknown(r: &serde_json::Value) -> Vec<(String, String)> {
    r["unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["address"].as_str().unwrap().to_string(),
                u["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Writes `iac/terraform.tfstate` holding `terraform_data` objects at these addresses (root
/// module; `name` or `name[i]`), as Terraform 1.11 writes them (input null).
fn state_with(ws: &Ws, addrs: &[&str]) {
    let mut by_name: std::collections::BTreeMap<&str, Vec<Option<u64>>> = Default::default();
    for a in addrs {
        let a = a.strip_prefix("terraform_data.").unwrap();
        match a.split_once('[') {
            Some((n, i)) => by_name
                .entry(n)
                .or_default()
                .push(Some(i.trim_end_matches(']').parse().unwrap())),
            None => by_name.entry(a).or_default().push(None),
        }
    }
    let resources: Vec<serde_json::Value> = by_name
        .iter()
        .map(|(n, keys)| {
            let instances: Vec<serde_json::Value> = keys
                .iter()
                .map(|k| {
                    let mut i = serde_json::json!({"schema_version": 0, "attributes": {"id": "x", "input": null, "output": null, "triggers_replace": null}, "sensitive_attributes": []});
                    if let Some(k) = k {
                        i["index_key"] = (*k).into();
                    }
                    i
                })
                .collect();
            serde_json::json!({"mode": "managed", "type": "terraform_data", "name": n, "provider": "provider[\"terraform.io/builtin/terraform\"]", "instances": instances})
        })
        .collect();
    let st = serde_json::json!({"version": 4, "terraform_version": "1.11.4", "serial": 1, "lineage": "l", "outputs": {}, "resources": resources});
    std::fs::write(ws.path("iac/terraform.tfstate"), st.to_string()).unwrap();
}

const COUNTED: &str = r#"
variable "n" {
  type    = number
  default = 1
}
resource "terraform_data" "c" {
  count = var.n
}
"#;

#[test]
fn var_and_var_file_in_command_line_order() {
    let ws = ws_with(COUNTED);
    write(&ws, "iac/three.tfvars", "n = 3\n");
    write(&ws, "two.tfvars.json", "{\"n\": \"2\"}\n");
    let r = report(&ws, &[]);
    assert_eq!(creates(&r), ["terraform_data.c[0]"], "the default");
    let r = report(&ws, &["--var", "n=2"]);
    assert_eq!(creates(&r).len(), 2, "--var text converted to the number 2");
    // Later wins: the file after the value, then the value after the file.
    let three = ws.path("iac/three.tfvars");
    let three = three.to_str().unwrap();
    let r = report(&ws, &["--var", "n=2", "--var-file", three]);
    assert_eq!(creates(&r).len(), 3);
    let r = report(&ws, &["--var-file", three, "--var=n=4"]);
    assert_eq!(creates(&r).len(), 4);
    // A relative --var-file is read from the current folder.
    let o = ws
        .cmd()
        .current_dir(ws.root())
        .args(["drift", "--json", "--var-file", "two.tfvars.json"])
        .output()
        .unwrap();
    let r: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    assert_eq!(creates(&r).len(), 2, "{}", text(&o));
}

#[test]
fn config_vars_sit_after_tfvars_and_before_the_command_line() {
    let ws = ws_with(COUNTED);
    write(&ws, "iac/terraform.tfvars", "n = 2\n");
    write(&ws, "vars/five.tfvars", "n = 5\n");
    assert_eq!(creates(&report(&ws, &[])).len(), 2, "terraform.tfvars");
    ws.write_config("drift {\n  var_files = [\"vars/five.tfvars\"]\n}\n");
    assert_eq!(creates(&report(&ws, &[])).len(), 5, "drift.var_files");
    ws.write_config("drift {\n  var_files = [\"vars/five.tfvars\"]\n  vars = { n = 6 }\n}\n");
    assert_eq!(
        creates(&report(&ws, &[])).len(),
        6,
        "drift.vars after var_files"
    );
    assert_eq!(
        creates(&report(&ws, &["--var", "n=1"])).len(),
        1,
        "--var last"
    );
}

#[test]
fn bad_variables_are_errors_naming_file_line_or_name() {
    let ws = ws_with(COUNTED);
    write(&ws, "bad.tfvars", "n = 1\nm = var.x\n");
    let bad = ws.path("bad.tfvars");
    let o = ws.run(&["drift", "--var-file", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains(&format!("{}:2:1", bad.display())), "{err}");
    let o = ws.run(&["drift", "--var", "nope=1"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("\"nope\""),
        "{}",
        text(&o)
    );
    let o = ws.run(&["drift", "--var", "n=abc"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("\"n\""),
        "{}",
        text(&o)
    );
    let o = ws.run(&["drift", "--var", "novalue"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = ws.run(&["drift", "--var-file", "/nonexistent/x.tfvars"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("/nonexistent/x.tfvars"),
        "{}",
        text(&o)
    );
}

#[test]
fn a_sensitive_value_is_never_shown() {
    let ws = ws_with(
        "variable \"s\" {\n  type      = number\n  sensitive = true\n}\nresource \"terraform_data\" \"a\" {\n  input = var.s\n}\n",
    );
    let o = ws.run(&["drift", "--var", "s=hunter2-secret"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!text(&o).contains("hunter2"), "{}", text(&o));
}

#[test]
fn a_variable_without_a_value_makes_its_dependants_unknown() {
    let ws = ws_with(
        "variable \"v\" {}\nresource \"terraform_data\" \"a\" {\n  input = \"${var.v}-x\"\n}\nresource \"terraform_data\" \"b\" {\n  input = 1\n}\n",
    );
    // Without an object in the state, Terraform creates it whatever its value.
    let r = report(&ws, &[]);
    assert_eq!(creates(&r), ["terraform_data.a", "terraform_data.b"]);
    assert!(unknown(&r).is_empty());
    state_with(&ws, &["terraform_data.a"]);
    let r = report(&ws, &[]);
    assert_eq!(creates(&r), ["terraform_data.b"]);
    let u = unknown(&r);
    assert_eq!(u.len(), 1, "{u:?}");
    assert_eq!(u[0].0, "terraform_data.a");
    assert!(u[0].1.contains("var.v has no value"), "{}", u[0].1);
}

#[test]
fn local_modules_nested_with_count_for_each_inputs_and_outputs() {
    let ws = ws_with(
        r#"
locals {
  names = toset(["x", "y"])
}
module "a" {
  source   = "./modules/a"
  for_each = local.names
  prefix   = "p-${each.key}"
}
module "single" {
  source = "./modules/a"
  prefix = "s"
}
resource "terraform_data" "uses" {
  input = module.single.first
  count = length(module.a["x"].names)
}
resource "terraform_data" "sum" {
  input = [for k, m in module.a : m.first]
}
"#,
    );
    write(
        &ws,
        "iac/modules/a/main.tf",
        r#"
variable "prefix" {
  type = string
}
module "b" {
  source = "../b"
  count  = 2
  name   = "${var.prefix}-${count.index}"
}
output "names" {
  value = module.b[*].name
}
output "first" {
  value = module.b[0].name
}
"#,
    );
    write(
        &ws,
        "iac/modules/b/main.tf",
        r#"
variable "name" {}
resource "terraform_data" "t" {
  input = upper(var.name)
}
output "name" {
  value = terraform_data.t.input
}
"#,
    );
    let r = report(&ws, &[]);
    let want = [
        "module.a[\"x\"].module.b[0].terraform_data.t",
        "module.a[\"x\"].module.b[1].terraform_data.t",
        "module.a[\"y\"].module.b[0].terraform_data.t",
        "module.a[\"y\"].module.b[1].terraform_data.t",
        "module.single.module.b[0].terraform_data.t",
        "module.single.module.b[1].terraform_data.t",
    ];
    let root = [
        "terraform_data.sum",
        "terraform_data.uses[0]",
        "terraform_data.uses[1]",
    ];
    let c = creates(&r);
    for w in want.iter().chain(&root) {
        assert!(c.iter().any(|x| x == w), "{w} missing in {c:?}");
    }
    assert_eq!(c.len(), want.len() + root.len(), "{c:?}");
    assert!(unknown(&r).is_empty(), "{:?}", unknown(&r));
    // `name` is an attribute of a resource: known only after apply, so what uses it is
    // unknown once the state holds it (with the reason); `count = length(...)` of a list of
    // two unknowns is decided.
    state_with(&ws, &root);
    let r = report(&ws, &[]);
    assert_eq!(creates(&r).len(), want.len());
    let u = unknown(&r);
    let addrs: Vec<&str> = u.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(
        addrs,
        [
            "terraform_data.uses[0]",
            "terraform_data.uses[1]",
            "terraform_data.sum"
        ]
    );
    assert!(
        u.iter()
            .all(|(_, why)| why.contains("known only after apply: terraform_data.t.input")),
        "{u:?}"
    );
}

#[test]
fn module_outputs_of_known_values_are_used_by_the_parent() {
    let ws = ws_with(
        "module \"m\" {\n  source = \"./m\"\n  n      = 2\n}\nresource \"terraform_data\" \"r\" {\n  count = module.m.twice\n  input = module.m.label\n}\n",
    );
    write(
        &ws,
        "iac/m/main.tf",
        "variable \"n\" {\n  type = number\n}\noutput \"twice\" {\n  value = var.n * 2\n}\noutput \"label\" {\n  value = format(\"n=%d\", var.n)\n}\n",
    );
    let r = report(&ws, &[]);
    assert_eq!(
        creates(&r),
        [
            "terraform_data.r[0]",
            "terraform_data.r[1]",
            "terraform_data.r[2]",
            "terraform_data.r[3]"
        ]
    );
    assert!(unknown(&r).is_empty(), "{:?}", unknown(&r));
}

#[test]
fn registry_modules_need_terraform_init_unless_installed() {
    let ws = ws_with(
        "module \"vpc\" {\n  source  = \"terraform-aws-modules/vpc/aws\"\n  version = \"5.0.0\"\n}\n",
    );
    let r = report(&ws, &[]);
    let u = unknown(&r);
    assert_eq!(u.len(), 1, "{u:?}");
    assert_eq!(u[0].0, "module.vpc");
    assert!(u[0].1.contains("run terraform init"), "{}", u[0].1);
    // As `terraform init` installs it: `.terraform/modules/<key>` and the manifest.
    write(
        &ws,
        "iac/.terraform/modules/modules.json",
        r#"{"Modules":[{"Key":"","Source":"","Dir":"."},{"Key":"vpc","Source":"registry.terraform.io/terraform-aws-modules/vpc/aws","Version":"5.0.0","Dir":".terraform/modules/vpc"}]}"#,
    );
    write(
        &ws,
        "iac/.terraform/modules/vpc/main.tf",
        "resource \"terraform_data\" \"v\" {\n  input = path.module\n}\n",
    );
    let r = report(&ws, &[]);
    assert_eq!(creates(&r), ["module.vpc.terraform_data.v"]);
    assert!(unknown(&r).is_empty(), "{:?}", unknown(&r));
}

/// A `sensitive` variable's value, and what is computed from it (through locals, module inputs
/// and outputs, functions), never reaches an output: not in reasons, not as instance keys
/// (Terraform refuses a sensitive `for_each`, as its keys would show it; a sensitive `count`
/// it accepts). Checked by looking for the value, in any case, in the table, the JSON and
/// the files written under logs/.
#[test]
fn values_from_a_sensitive_variable_are_masked_everywhere() {
    let ws = ws_with(
        r#"
variable "secret" {
  type      = string
  sensitive = true
}
locals {
  derived = "${upper(var.secret)}-x"
  plain   = local.derived
  list    = [var.secret, "b"]
  other   = "abc"
}
resource "terraform_data" "keys" {
  for_each = toset([local.plain])
}
resource "terraform_data" "from_module" {
  for_each = toset([module.m.out])
}
resource "terraform_data" "not_secret" {
  for_each = toset([module.m.plain])
}
resource "terraform_data" "counted" {
  count = length(local.list)
}
resource "terraform_data" "num" {
  input = tonumber(local.derived)
}
resource "terraform_data" "idx" {
  input = element(local.list, local.plain)
}
resource "terraform_data" "shown" {
  input = tonumber(local.other)
}
module "m" {
  source = "./mod"
  x      = lower(local.plain)
}
module "per_secret" {
  source   = "./mod"
  for_each = toset([local.plain])
  x        = "1"
}
output "o" {
  value     = local.derived
  sensitive = true
}
"#,
    );
    write(
        &ws,
        "iac/mod/main.tf",
        r#"
variable "x" {
  type = string
}
locals {
  y = trimspace(var.x)
}
resource "terraform_data" "k" {
  for_each = toset([local.y])
}
resource "terraform_data" "n" {
  input = tonumber(var.x)
}
output "out" {
  value = local.y
}
output "plain" {
  value = "p"
}
"#,
    );
    let td = |name: &str, module: Option<&str>| {
        let mut r = serde_json::json!({"mode": "managed", "type": "terraform_data", "name": name,
            "provider": "provider[\"terraform.io/builtin/terraform\"]",
            "instances": [{"schema_version": 0, "attributes": {"id": "x", "input": null,
                "output": null, "triggers_replace": null}, "sensitive_attributes": []}]});
        if let Some(m) = module {
            r["module"] = m.into();
        }
        r
    };
    let st = serde_json::json!({"version": 4, "terraform_version": "1.11.4", "serial": 1,
        "lineage": "l", "outputs": {}, "resources": [td("num", None), td("idx", None),
        td("shown", None), td("n", Some("module.m"))]});
    std::fs::write(ws.path("iac/terraform.tfstate"), st.to_string()).unwrap();
    let secret = "s3cr3tvalue";
    let env = [("TF_VAR_secret", secret)];
    let run = |args: &[&str]| {
        let o = ws.cmd().args(args).envs(env).output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        o
    };
    let leaks = |what: &str, s: &str| {
        assert!(
            !s.to_lowercase().contains(secret),
            "{what} shows the sensitive value:\n{s}"
        );
    };
    let table = run(&["drift", "--no-color"]);
    leaks("the table", &text(&table));
    let json = run(&["drift", "--json"]);
    leaks("the JSON", &text(&json));
    for e in std::fs::read_dir(ws.path("logs")).unwrap() {
        let p = e.unwrap().path();
        leaks(
            &p.display().to_string(),
            &std::fs::read_to_string(&p).unwrap(),
        );
    }
    let r: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let u = unknown(&r);
    let reason = |a: &str| {
        u.iter()
            .find(|(x, _)| x == a)
            .unwrap_or_else(|| panic!("{a} not unknown: {r:#}"))
            .1
            .clone()
    };
    for a in [
        "terraform_data.keys",
        "terraform_data.from_module",
        "module.m.terraform_data.k",
        "module.per_secret",
    ] {
        assert!(reason(a).contains("sensitive"), "{a}: {}", reason(a));
    }
    for a in [
        "terraform_data.num",
        "terraform_data.idx",
        "module.m.terraform_data.n",
    ] {
        assert!(reason(a).contains("sensitive"), "{a}: {}", reason(a));
    }
    // What does not come from the secret is shown as before.
    assert!(reason("terraform_data.shown").contains("\"abc\""), "{r:#}");
    let c = creates(&r);
    for a in [
        "terraform_data.counted[0]",
        "terraform_data.counted[1]",
        "terraform_data.not_secret[\"p\"]",
    ] {
        assert!(c.contains(&a.to_string()), "{a} not created: {r:#}");
    }
}

/// However a reference to a sensitive variable is written — after a minus, spaced around its
/// dot, split by a comment or a line break — what is computed from it is still sensitive: a
/// `for_each` over it is refused (its keys would show the value), never expanded.
#[test]
fn a_sensitive_reference_is_followed_however_it_is_written() {
    let forms = [
        "10-var.secret",
        "-var.secret",
        "var . secret",
        "var.\n    secret",
        "var/* c */.secret",
    ];
    let mut tf = String::from(
        "variable \"secret\" {\n  type      = number\n  sensitive = true\n}\nlocals {\n",
    );
    for (i, f) in forms.iter().enumerate() {
        tf.push_str(&format!("  l{i} = ({f})\n"));
    }
    tf.push_str("}\n");
    for i in 0..forms.len() {
        tf.push_str(&format!(
            "resource \"terraform_data\" \"k{i}\" {{\n  for_each = toset([tostring(local.l{i})])\n}}\n"
        ));
    }
    let ws = ws_with(&tf);
    let o = ws
        .cmd()
        .args(["drift", "--json"])
        .env("TF_VAR_secret", "4242")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    // 4242 itself, 10 - 4242 and -4242.
    assert!(!out.contains("4242") && !out.contains("4232"), "{out}");
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let u = unknown(&r);
    for (i, f) in forms.iter().enumerate() {
        let a = format!("terraform_data.k{i}");
        let reason = u
            .iter()
            .find(|(x, _)| *x == a)
            .unwrap_or_else(|| panic!("{f}: {a} not unknown: {r:#}"));
        assert!(reason.1.contains("sensitive"), "{f}: {}", reason.1);
    }
    assert!(creates(&r).is_empty(), "{r:#}");
}

/// Comments written beside a setting are not part of it: a module output marked
/// `sensitive = true # why` stays sensitive (its value used as `for_each` keys is refused,
/// never shown), and `moved` / `removed` blocks with comments beside their addresses or
/// `destroy = false` still apply.
#[test]
fn comments_beside_settings_change_nothing() {
    let ws = ws_with(
        r#"
module "m" {
  source = "./mod"
}
resource "terraform_data" "keys" {
  for_each = toset([module.m.token])
}
resource "terraform_data" "b" {
  input = "x"
}
moved {
  from = terraform_data.a # the old name
  to   = /* new */ terraform_data.b
}
removed {
  from = terraform_data.old
  lifecycle {
    destroy = /* keep */ false
  }
}
"#,
    );
    write(
        &ws,
        "iac/mod/main.tf",
        r#"
output "token" {
  value     = "s3cr3tvalue"
  sensitive = /* always */ true # never shown
}
"#,
    );
    let td = |name: &str| {
        serde_json::json!({"mode": "managed", "type": "terraform_data", "name": name,
            "provider": "provider[\"terraform.io/builtin/terraform\"]",
            "instances": [{"schema_version": 0, "attributes": {"id": "x",
                "input": {"value": "x", "type": "string"}, "output": {"value": "x", "type": "string"},
                "triggers_replace": null}, "sensitive_attributes": []}]})
    };
    let st = serde_json::json!({"version": 4, "terraform_version": "1.11.4", "serial": 1,
        "lineage": "l", "outputs": {}, "resources": [td("a"), td("old")]});
    std::fs::write(ws.path("iac/terraform.tfstate"), st.to_string()).unwrap();
    let o = ws.run(&["drift", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("s3cr3tvalue"), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let u = unknown(&r);
    assert_eq!(u.len(), 1, "{r:#}");
    assert_eq!(u[0].0, "terraform_data.keys", "{r:#}");
    assert!(u[0].1.contains("sensitive"), "{r:#}");
    assert_eq!(r["moved"][0]["from"], "terraform_data.a", "{r:#}");
    assert_eq!(r["moved"][0]["to"], "terraform_data.b", "{r:#}");
    assert_eq!(
        r["forget"],
        serde_json::json!(["terraform_data.old"]),
        "{r:#}"
    );
    assert_eq!(r["summary"]["destroy"], 0, "{r:#}");
    assert_eq!(r["summary"]["create"], 0, "{r:#}");
}
