//! References between resources, against the real Terraform (1.4 or later on PATH): with
//! `-refresh=false`, a resource the plan leaves as it is has the state's values, so what
//! refers to it is decided. Each case is applied, edited, planned with `terraform plan
//! -refresh=false -json`, and `tfops drift` must plan the same action for every address it
//! decides, decide the addresses the case names, and leave unknown only what it names.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{text, Ws};
use serde_json::Value;

/// (address → action for what tfops decides to change, the addresses it leaves unknown, the
/// whole report).
fn tfops_plan(ws: &Ws) -> (BTreeMap<String, String>, BTreeSet<String>, Value) {
    let o = ws.run(&["drift", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
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
    let unknown = r["unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["address"].as_str().unwrap().to_string())
        .collect();
    (m, unknown, r)
}

struct Case {
    name: &'static str,
    /// `main.tf` as applied.
    main: &'static str,
    /// `m/main.tf`, a child module, when the case has one.
    module: &'static str,
    /// Edits made to `main.tf` before the plan, after [`REFERENCES`].
    edits: &'static [(&'static str, &'static str)],
    /// What tfops leaves unknown (all else is decided and must agree with Terraform).
    unknown: &'static [&'static str],
}

const CHAIN: &str = r#"
resource "terraform_data" "a" {
  input = "x"
}
resource "terraform_data" "b" {
  input = terraform_data.a.output
}
resource "terraform_data" "c" {
  count = 2
  input = "${terraform_data.b.id}-${count.index}"
}
resource "terraform_data" "d" {
  for_each = toset(["x", "y"])
  input    = terraform_data.c[1].input
}
resource "terraform_data" "e" {
  input = {
    n    = length(terraform_data.c)
    keys = sort(keys(terraform_data.d))
    map  = terraform_data.d["y"].output
  }
}
module "m" {
  source = "./m"
  in     = terraform_data.e.output.n
}
resource "terraform_data" "f" {
  input = module.m.out
}
"#;

/// Terraform applies only counts and `for_each` keys it knows: the chain is applied with
/// literals, then these make them references (to values in the state: still no change).
const REFERENCES: &[(&str, &str)] = &[
    (
        "count = 2\n",
        "count = terraform_data.b.output == \"x\" ? 2 : 0\n",
    ),
    (
        "for_each = toset([\"x\", \"y\"])\n",
        "for_each = toset([terraform_data.a.output, \"y\"])\n",
    ),
];

const CHILD: &str = r#"
variable "in" {}
resource "terraform_data" "x" {
  input = var.in
}
resource "terraform_data" "y" {
  input = "${terraform_data.x.output}-y"
}
output "out" {
  value = terraform_data.y.output
}
"#;

const CASES: &[Case] = &[
    Case {
        name: "an unchanged chain through count, for_each, a module and back",
        main: CHAIN,
        module: CHILD,
        edits: &[],
        unknown: &[],
    },
    Case {
        name: "a change in the middle: what follows it waits for apply",
        main: CHAIN,
        module: CHILD,
        edits: &[(
            "    n    = length(terraform_data.c)\n",
            "    n    = length(terraform_data.c) + 1\n",
        )],
        // e is an update: its output is known only after apply, for Terraform too (which
        // plans updates of what follows, with values known after apply); tfops leaves them
        // unknown, and says so.
        unknown: &[
            "module.m.terraform_data.x",
            "module.m.terraform_data.y",
            "terraform_data.f",
        ],
    },
    Case {
        name: "a downstream edit is decided through references to resources in sync",
        main: CHAIN,
        module: CHILD,
        edits: &[(
            "input = module.m.out\n",
            "input = \"${module.m.out}/${terraform_data.a.id}\"\n",
        )],
        unknown: &[],
    },
];

#[test]
fn references_to_resources_in_sync_are_decided_as_terraform_decides() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    for case in CASES {
        let ws = Ws::empty();
        let dir = ws.path("iac");
        std::fs::create_dir_all(dir.join("m")).unwrap();
        std::fs::write(dir.join("main.tf"), case.main).unwrap();
        std::fs::write(dir.join("m/main.tf"), case.module).unwrap();
        common::terraform_ok(&bin, &dir, &["init", "-input=false"]);
        common::terraform_ok(&bin, &dir, &["apply", "-auto-approve", "-input=false"]);
        let mut main = case.main.to_string();
        for (from, to) in REFERENCES.iter().chain(case.edits) {
            assert!(main.contains(from), "{}: {from}", case.name);
            main = main.replacen(from, to, 1);
        }
        std::fs::write(dir.join("main.tf"), &main).unwrap();
        let (mine, unknown, report) = tfops_plan(&ws);
        let want_unknown: BTreeSet<String> = case.unknown.iter().map(|s| s.to_string()).collect();
        assert_eq!(unknown, want_unknown, "{}: {report:#}", case.name);
        // Every address tfops decides is planned as Terraform plans it (no-op: left out of
        // both); the unknown ones are left out of the comparison.
        let mut theirs = common::planned_actions(&bin, &dir);
        theirs.retain(|a, _| {
            !unknown
                .iter()
                .any(|u| a == u || a.starts_with(&format!("{u}[")))
        });
        assert_eq!(mine, theirs, "{}: {report:#}", case.name);
    }
}

/// A resource whose state marks a value sensitive is never given to references: what refers
/// to it stays unknown, and its value never reaches the report.
#[test]
fn a_sensitive_resource_is_not_given_to_references() {
    let Some(bin) = common::require_terraform_1_4() else {
        return;
    };
    let ws = Ws::empty();
    let dir = ws.path("iac");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("main.tf"),
        r#"
resource "terraform_data" "s" {
  input = sensitive("s3cret-value")
}
resource "terraform_data" "t" {
  input = "${terraform_data.s.output}-t"
}
resource "terraform_data" "plain" {
  input = "p"
}
resource "terraform_data" "u" {
  input = "${terraform_data.plain.output}-u"
}
"#,
    )
    .unwrap();
    common::terraform_ok(&bin, &dir, &["init", "-input=false"]);
    common::terraform_ok(&bin, &dir, &["apply", "-auto-approve", "-input=false"]);
    assert!(common::planned_actions(&bin, &dir).is_empty());
    let (mine, unknown, report) = tfops_plan(&ws);
    assert!(mine.is_empty(), "{report:#}");
    assert_eq!(
        unknown,
        BTreeSet::from(["terraform_data.t".to_string()]),
        "{report:#}"
    );
    assert_eq!(report["summary"]["in_sync"], 3, "{report:#}");
    let o = ws.run(&["drift"]);
    for out in [text(&o), report.to_string()] {
        assert!(!out.contains("s3cret"), "{out}");
    }
}
