//! `replace_triggered_by` against the real Terraform (1.4 or later, `terraform_data` needs no
//! provider download): each case is applied, edited, planned with
//! `terraform plan -refresh=false -json`, and `tfops drift` must plan the same action for
//! every address. Chains of triggers, an instance with an update of its own, references to
//! one attribute (which fire only when that attribute changes, one known only after apply
//! included), and `[count.index]` / `[each.key]` in the reference; comments in the lists
//! (`ignore_changes` too); the forms Terraform refuses.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::{text, Ws};
use serde_json::Value;

/// Address → action, as `tfops drift --json` plans it.
fn tfops_plan(ws: &Ws) -> BTreeMap<String, String> {
    let o = ws.run(&["drift", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["summary"]["unknown"], 0, "{r:#}");
    let mut m = BTreeMap::new();
    for a in ["create", "destroy"] {
        for x in r[a].as_array().unwrap() {
            m.insert(x.as_str().unwrap().to_string(), a.to_string());
        }
    }
    for a in ["update", "replace"] {
        for x in r[a].as_array().unwrap() {
            m.insert(x["address"].as_str().unwrap().to_string(), a.to_string());
        }
    }
    m
}

/// (name, configuration applied, edits made before the plan: `(from, to)`, addresses taken
/// out of the state before the plan: they are to create)
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
);

const CASES: &[Case] = &[
    (
        "a chain, and an instance with an update of its own",
        r#"
resource "terraform_data" "a" {
  input = "a1"
}
resource "terraform_data" "b" {
  input = "b1"
  lifecycle {
    replace_triggered_by = [terraform_data.a]
  }
}
resource "terraform_data" "c" {
  input = "c1"
  lifecycle {
    replace_triggered_by = [terraform_data.b]
  }
}
resource "terraform_data" "d" {
  input = "d1"
  lifecycle {
    replace_triggered_by = [terraform_data.a.input]
  }
}
resource "terraform_data" "e" {
  input = "e1"
  lifecycle {
    replace_triggered_by = [terraform_data.a.triggers_replace]
  }
}
resource "terraform_data" "quiet" {
  input = "q"
  lifecycle {
    replace_triggered_by = [terraform_data.e]
  }
}
"#,
        &[("\"a1\"", "\"a2\""), ("\"b1\"", "\"b2\"")],
        &[],
    ),
    (
        "references to one attribute of a replaced and of an updated resource",
        r#"
resource "terraform_data" "a" {
  input            = "a1"
  triggers_replace = "t1"
}
resource "terraform_data" "u" {
  input = "u1"
}
resource "terraform_data" "r_input" {
  input = "x"
  lifecycle { replace_triggered_by = [terraform_data.a.input] }
}
resource "terraform_data" "r_output" {
  input = "x"
  lifecycle { replace_triggered_by = [terraform_data.a.output] }
}
resource "terraform_data" "r_id" {
  input = "x"
  lifecycle { replace_triggered_by = [terraform_data.a.id] }
}
resource "terraform_data" "u_input" {
  input = "x"
  lifecycle { replace_triggered_by = [terraform_data.u.input] }
}
resource "terraform_data" "u_output" {
  input = "x"
  lifecycle { replace_triggered_by = [terraform_data.u.output] }
}
resource "terraform_data" "u_id" {
  input = "x"
  lifecycle { replace_triggered_by = [terraform_data.u.id] }
}
resource "terraform_data" "u_tr" {
  input = "x"
  lifecycle { replace_triggered_by = [terraform_data.u.triggers_replace] }
}
"#,
        &[("\"t1\"", "\"t2\""), ("\"u1\"", "\"u2\"")],
        &[],
    ),
    (
        "count.index and each.key in the reference",
        r#"
resource "terraform_data" "a" {
  count = 2
  input = "a${count.index}"
}
resource "terraform_data" "b" {
  count = 2
  input = "b"
  lifecycle { replace_triggered_by = [terraform_data.a[count.index]] }
}
resource "terraform_data" "k" {
  for_each = toset(["x", "y"])
  input    = each.key
}
resource "terraform_data" "e" {
  for_each = toset(["x", "y"])
  input    = "e"
  lifecycle { replace_triggered_by = [terraform_data.k[each.key].input] }
}
"#,
        &[
            (
                "\"a${count.index}\"",
                "count.index == 0 ? \"changed\" : \"a1\"",
            ),
            (
                "input    = each.key",
                "input    = each.key == \"y\" ? \"yy\" : each.key",
            ),
        ],
        &[],
    ),
    (
        "comments, spacing and a legacy index in the list",
        r#"
resource "terraform_data" "a" {
  for_each = toset(["x", "y"])
  input    = "a-${each.key}"
}
resource "terraform_data" "n" {
  count = 2
  input = "n"
}
resource "terraform_data" "b" {
  for_each = toset(["x", "y"])
  input    = "b"
  lifecycle {
    replace_triggered_by = [
      # the a of the same key
      terraform_data.a[ each.key ], # trailing
    ]
  }
}
resource "terraform_data" "c" {
  input = "c"
  lifecycle {
    replace_triggered_by = [/* one */ terraform_data.a["y"] . input /* two */]
  }
}
resource "terraform_data" "d" {
  input = "d"
  lifecycle {
    replace_triggered_by = [terraform_data.n.1]
  }
}
resource "terraform_data" "ig" {
  input = "ig1"
  lifecycle {
    ignore_changes = [
      # set by hand
      input, # see the runbook
    ]
  }
}
"#,
        &[
            (
                "\"a-${each.key}\"",
                "each.key == \"x\" ? \"changed\" : \"a-${each.key}\"",
            ),
            ("input = \"n\"", "input = count.index == 1 ? \"n1\" : \"n\""),
            ("\"ig1\"", "\"ig2\""),
        ],
        &[],
    ),
    (
        "a referenced resource to create triggers nothing",
        r#"
resource "terraform_data" "a" {
  input = "a"
}
resource "terraform_data" "b" {
  input = "b"
  lifecycle { replace_triggered_by = [terraform_data.a] }
}
resource "terraform_data" "c" {
  input = "c"
  lifecycle { replace_triggered_by = [terraform_data.a.input] }
}
resource "terraform_data" "d" {
  input = "d1"
}
resource "terraform_data" "e" {
  input = "e"
  lifecycle { replace_triggered_by = [terraform_data.d] }
}
"#,
        &[("\"d1\"", "\"d2\"")],
        &["terraform_data.a"],
    ),
];

#[test]
fn replace_triggered_by_agrees_with_terraform() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    for (name, applied, edits, forget) in CASES {
        let ws = Ws::empty();
        let iac = ws.path("iac");
        std::fs::create_dir_all(&iac).unwrap();
        std::fs::write(iac.join("main.tf"), applied).unwrap();
        common::terraform_ok(&bin, &iac, &["init", "-input=false", "-no-color"]);
        common::terraform_ok(
            &bin,
            &iac,
            &["apply", "-auto-approve", "-input=false", "-no-color"],
        );
        let mut planned = applied.to_string();
        for (from, to) in edits.iter() {
            assert!(planned.contains(from), "{name}: {from}");
            planned = planned.replacen(from, to, 1);
        }
        std::fs::write(iac.join("main.tf"), &planned).unwrap();
        for a in forget.iter() {
            common::terraform_ok(&bin, &iac, &["state", "rm", a]);
        }
        let want = common::planned_actions(&bin, &iac);
        assert!(
            want.values().any(|a| a == "replace"),
            "{name}: the case replaces nothing: {want:?}"
        );
        let got = tfops_plan(&ws);
        assert_eq!(
            got, want,
            "{name}: tfops (left) and terraform (right) disagree"
        );
    }
}

/// Terraform refuses a `replace_triggered_by` that is not a list of resource references
/// indexed by constants, `count.index` or `each.key`: its plan fails. tfops cannot plan such
/// a resource either and says why (unknown), instead of counting it in sync; the forms
/// Terraform accepts stay decided.
#[test]
fn triggers_terraform_refuses_are_unknown_with_the_reason() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    let config = |lifecycle: &str| {
        format!(
            r#"
variable "k" {{
  default = "x"
}}
locals {{
  l = 1
}}
resource "terraform_data" "a" {{
  for_each = {{ x = "y", y = "x" }}
  input    = each.key
}}
resource "terraform_data" "b" {{
  for_each = {{ x = "y", y = "x" }}
  input    = each.key
  lifecycle {{
    replace_triggered_by = {lifecycle}
  }}
}}
"#
        )
    };
    let ws = Ws::empty();
    let iac = ws.path("iac");
    std::fs::create_dir_all(&iac).unwrap();
    std::fs::write(iac.join("main.tf"), config("[]")).unwrap();
    common::terraform_ok(&bin, &iac, &["init", "-input=false", "-no-color"]);
    let plan_ok = |iac: &Path| {
        let rc = iac.join("empty.tfrc");
        Command::new(&bin)
            .current_dir(iac)
            .args(["plan", "-refresh=false", "-input=false", "-no-color"])
            .env("TF_CLI_CONFIG_FILE", &rc)
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .unwrap()
    };
    let cases: &[(&str, bool)] = &[
        ("[terraform_data.a[each.value]]", false),
        ("[terraform_data.a[var.k]]", false),
        ("[var.k]", false),
        ("[local.l]", false),
        ("[upper(terraform_data.a[\"x\"].id)]", false),
        ("[terraform_data.a[*].id]", false),
        ("terraform_data.a", false),
        ("[terraform_data.a[ each.key ].input]", true),
        ("[terraform_data.a[\"x\"], terraform_data.a]", true),
    ];
    for (lifecycle, accepted) in cases {
        std::fs::write(iac.join("main.tf"), config(lifecycle)).unwrap();
        let o = plan_ok(&iac);
        assert_eq!(
            o.status.success(),
            *accepted,
            "{lifecycle}: terraform plan: {}",
            text(&o)
        );
        let o = ws.run(&["drift", "--json"]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let r: Value = serde_json::from_slice(&o.stdout).unwrap();
        let unknown: Vec<&Value> = r["unknown"].as_array().unwrap().iter().collect();
        if *accepted {
            assert!(unknown.is_empty(), "{lifecycle}: {r:#}");
            assert_eq!(r["summary"]["create"], 4, "{lifecycle}: {r:#}");
        } else {
            assert_eq!(unknown.len(), 1, "{lifecycle}: {r:#}");
            assert_eq!(unknown[0]["address"], "terraform_data.b", "{lifecycle}");
            let reason = unknown[0]["reason"].as_str().unwrap();
            assert!(
                reason.starts_with("replace_triggered_by") && reason.contains("Terraform refuses"),
                "{lifecycle}: {reason}"
            );
        }
    }
}

/// `ignore_changes` entries naming a part of an attribute (`input.a`, `input["k"]`,
/// `input[0]`, nested) hide only that part, with Terraform's rules for objects, maps, lists
/// and tuples: every case is one resource of one workspace, applied, edited and planned once.
#[test]
fn ignore_changes_paths_agree_with_terraform() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    // (value applied, value planned, ignore_changes entry)
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"{ a = "1", b = "2" }"#,
            r#"{ a = "1", b = "3" }"#,
            "input.a",
        ),
        (
            r#"{ a = "1", b = "2" }"#,
            r#"{ a = "9", b = "2" }"#,
            "input.a",
        ),
        (
            r#"{ a = "1", b = "2" }"#,
            r#"{ a = "1", b = "3" }"#,
            r#"input["a"]"#,
        ),
        (
            r#"tomap({ a = "1", b = "2" })"#,
            r#"tomap({ a = "1", b = "3" })"#,
            r#"input["a"]"#,
        ),
        (
            r#"tomap({ a = "1", b = "2" })"#,
            r#"tomap({ a = "9", b = "2" })"#,
            r#"input["a"]"#,
        ),
        (
            r#"tomap({ a = "1", b = "2" })"#,
            r#"tomap({ a = "9", b = "2" })"#,
            "input.a",
        ),
        (
            r#"tomap({ b = "2" })"#,
            r#"tomap({ a = "1", b = "2" })"#,
            r#"input["a"]"#,
        ),
        (
            r#"tomap({ a = "1", b = "2" })"#,
            r#"tomap({ b = "2" })"#,
            r#"input["a"]"#,
        ),
        (r#"tolist(["1", "2"])"#, r#"tolist(["9", "2"])"#, "input[0]"),
        (r#"tolist(["1", "2"])"#, r#"tolist(["1", "3"])"#, "input[0]"),
        (r#"["1", "2"]"#, r#"["1", "2", "3"]"#, "input[0]"),
        (r#"["1", "2"]"#, r#"["9", "2"]"#, "input.0"),
        (r#""s""#, r#""t""#, "input.a"),
        (
            r#"{ a = { x = "1", y = "2" }, b = "2" }"#,
            r#"{ a = { x = "1", y = "3" }, b = "2" }"#,
            "input.a.x",
        ),
        (
            r#"{ a = { x = "1", y = "2" }, b = "2" }"#,
            r#"{ a = { x = "9", y = "2" }, b = "2" }"#,
            "input.a.x",
        ),
        (
            r#"{ a = "1", b = "2" }"#,
            r#"{ a = "9", b = "2" }"#,
            "triggers_replace.a",
        ),
    ];
    let config = |planned: bool| {
        let mut s = String::new();
        for (i, (before, after, path)) in cases.iter().enumerate() {
            let v = if planned { after } else { before };
            let (input, trig) = if path.starts_with("triggers_replace") {
                ("\"x\"", *v)
            } else {
                (*v, "\"x\"")
            };
            s.push_str(&format!(
                "resource \"terraform_data\" \"c{i}\" {{\n  input = {input}\n  triggers_replace = {trig}\n  lifecycle {{\n    ignore_changes = [{path}]\n  }}\n}}\n"
            ));
        }
        s
    };
    let ws = Ws::empty();
    let iac = ws.path("iac");
    std::fs::create_dir_all(&iac).unwrap();
    std::fs::write(iac.join("main.tf"), config(false)).unwrap();
    common::terraform_ok(&bin, &iac, &["init", "-input=false", "-no-color"]);
    common::terraform_ok(
        &bin,
        &iac,
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    );
    std::fs::write(iac.join("main.tf"), config(true)).unwrap();
    let want = common::planned_actions(&bin, &iac);
    // Both outcomes are in the cases, so the test can tell them apart.
    assert!(want.len() >= 4 && want.len() <= cases.len() - 4, "{want:?}");
    let got = tfops_plan(&ws);
    assert_eq!(got, want, "tfops (left) and terraform (right) disagree");
}

/// `import` blocks (Terraform 1.5): a `terraform_data` imports as its ID alone, so what the
/// plan does with it is known offline — imported, and updated or replaced where the
/// configuration sets values. A target already in the state ignores its block. Compared
/// with Terraform's own plan, address by address, the IDs included; an import-only plan is
/// drift for `--detailed-exitcode`, as it is for Terraform.
#[test]
fn import_blocks_agree_with_terraform() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    let applied = r#"
resource "terraform_data" "e" {
  input = "e"
}
"#;
    let planned = r#"
variable "suffix" {
  default = "x"
}
resource "terraform_data" "a" {
  input = "set"
}
resource "terraform_data" "b" {
  triggers_replace = "t"
}
resource "terraform_data" "c" {
}
resource "terraform_data" "d" {
  input = null
}
resource "terraform_data" "e" {
  input = "e"
}
resource "terraform_data" "g" {
  for_each = toset(["k", "l"])
}
module "m" {
  source = "./m"
}
import {
  to = terraform_data.a
  id = "a-id"
}
import {
  to = terraform_data.b
  id = "b-id"
}
import {
  to = terraform_data.c # with a comment
  id = "c-${upper(var.suffix)}"
}
import {
  to = terraform_data.d
  id = "d"
}
import {
  to = terraform_data.e
  id = "another-id"
}
import {
  to = terraform_data.g["k"]
  id = "g-k"
}
import {
  to = module.m.terraform_data.inner
  id = "inner-id"
}
"#;
    let ws = Ws::empty();
    let iac = ws.path("iac");
    std::fs::create_dir_all(iac.join("m")).unwrap();
    std::fs::write(iac.join("main.tf"), applied).unwrap();
    std::fs::write(
        iac.join("m/main.tf"),
        "resource \"terraform_data\" \"inner\" {\n  input = 1\n}\n",
    )
    .unwrap();
    common::terraform_ok(&bin, &iac, &["init", "-input=false", "-no-color"]);
    common::terraform_ok(
        &bin,
        &iac,
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    );
    std::fs::write(iac.join("main.tf"), planned).unwrap();
    common::terraform_ok(&bin, &iac, &["init", "-input=false", "-no-color"]);
    let out = common::terraform_ok(
        &bin,
        &iac,
        &["plan", "-refresh=false", "-input=false", "-json"],
    );
    let mut want = BTreeSet::new();
    for line in String::from_utf8_lossy(&out).lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["type"] == "planned_change" {
            let c = &v["change"];
            let addr = c["resource"]["addr"].as_str().unwrap();
            if let Some(id) = c["importing"]["id"].as_str() {
                want.insert(format!("import {addr} {id}"));
            }
            match c["action"].as_str().unwrap() {
                "import" => {}
                a => {
                    want.insert(format!("{a} {addr}"));
                }
            }
        }
    }
    let o = ws.run(&["drift", "--json", "--detailed-exitcode"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["summary"]["unknown"], 0, "{r:#}");
    let mut got = BTreeSet::new();
    for i in r["import"].as_array().unwrap() {
        got.insert(format!(
            "import {} {}",
            i["address"].as_str().unwrap(),
            i["id"].as_str().unwrap()
        ));
    }
    for a in ["create", "destroy"] {
        for x in r[a].as_array().unwrap() {
            got.insert(format!("{a} {}", x.as_str().unwrap()));
        }
    }
    for a in ["update", "replace"] {
        for x in r[a].as_array().unwrap() {
            got.insert(format!("{a} {}", x["address"].as_str().unwrap()));
        }
    }
    assert!(want.len() >= 8, "{want:?}");
    assert_eq!(got, want, "tfops (left) and terraform (right) disagree");
    // The table shows each import and counts them in its last line.
    let o = ws.run(&["drift", "--no-color"]);
    let t = text(&o);
    assert!(
        t.contains("<= terraform_data.c") && t.contains("will be imported (id \"c-X\")"),
        "{t}"
    );
    assert!(t.contains(" in sync, 6 to import."), "{t}");
}

/// An override file's `replace_triggered_by` is not merged: Terraform keeps the original
/// block's triggers (or none), whatever the override lists.
#[test]
fn an_override_files_replace_triggered_by_is_not_merged() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    let main = r#"
resource "terraform_data" "a" {
  input = "a1"
}
resource "terraform_data" "c" {
  input = "c"
}
resource "terraform_data" "b" {
  input = "b"
  lifecycle {
    replace_triggered_by = [terraform_data.c]
  }
}
resource "terraform_data" "d" {
  input = "d"
}
resource "terraform_data" "e" {
  input = "e"
  lifecycle {
    replace_triggered_by = [terraform_data.a]
  }
}
"#;
    let overrides = r#"
resource "terraform_data" "b" {
  lifecycle {
    replace_triggered_by = [terraform_data.a]
  }
}
resource "terraform_data" "d" {
  lifecycle {
    replace_triggered_by = [terraform_data.a]
  }
}
resource "terraform_data" "e" {
  lifecycle {
    replace_triggered_by = [terraform_data.c]
  }
}
"#;
    let ws = Ws::empty();
    let iac = ws.path("iac");
    std::fs::create_dir_all(&iac).unwrap();
    std::fs::write(iac.join("main.tf"), main).unwrap();
    common::terraform_ok(&bin, &iac, &["init", "-input=false", "-no-color"]);
    common::terraform_ok(
        &bin,
        &iac,
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    );
    std::fs::write(iac.join("main.tf"), main.replacen("a1", "a2", 1)).unwrap();
    std::fs::write(iac.join("override.tf"), overrides).unwrap();
    let want = common::planned_actions(&bin, &iac);
    assert!(want.values().any(|a| a == "replace"), "{want:?}");
    let got = tfops_plan(&ws);
    assert_eq!(got, want, "tfops (left) and terraform (right) disagree");
}
