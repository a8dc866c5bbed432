//! The real tools as oracles: HashiCorp's HCL parser (`@cdktf/hcl2json`) must find the same
//! resource blocks as ours on every fixture, and the real `terraform fmt -check` must accept
//! every file a scenario rewrites from a fmt-clean input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{text, Ws};

const H2J: &str = r#"
const { parse } = require('@cdktf/hcl2json');
const fs = require('fs');
(async () => {
  const out = {};
  for (const f of process.argv.slice(1)) {
    const j = await parse(f, fs.readFileSync(f, 'utf8'));
    const addrs = [];
    for (const [kind, prefix] of [['resource', ''], ['data', 'data.']]) {
      for (const [t, byName] of Object.entries(j[kind] || {})) {
        for (const n of Object.keys(byName)) addrs.push(prefix + t + '.' + n);
      }
    }
    out[f] = addrs.sort();
  }
  console.log(JSON.stringify(out));
})().catch(e => { console.error(String(e)); process.exit(1); });
"#;

/// Resource block addresses per file, by HashiCorp's parser.
fn hashicorp_blocks(dir: &Path, files: &[PathBuf]) -> serde_json::Value {
    let mut c = Command::new("node");
    c.arg("-e")
        .arg(H2J)
        .args(files)
        .env("NODE_PATH", dir.join("node_modules"));
    let o = c.output().expect("run node");
    assert!(o.status.success(), "hcl2json failed: {}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn ours(file: &Path) -> Vec<String> {
    let t = std::fs::read_to_string(file).unwrap();
    let m = tfops::drift::model::parse_file(&t, &file.display().to_string()).unwrap();
    let mut v: Vec<String> = m.resources.iter().map(|d| d.address()).collect();
    v.sort();
    v
}

#[test]
fn hashicorp_parser_agrees_on_resource_blocks() {
    let Some(dir) = common::hcl2json_dir() else {
        eprintln!("SKIP: no @cdktf/hcl2json (set TFOPS_HCL2JSON_DIR)");
        return;
    };
    let fx = common::repo_root().join("tests/fixtures/drift");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&fx)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf") && !p.ends_with("broken_hcl.tf"))
        .collect();
    files.push(common::repo_root().join("iac/main.tf"));
    files.sort();
    let theirs = hashicorp_blocks(&dir, &files);
    for f in &files {
        let t: Vec<String> = serde_json::from_value(theirs[f.to_str().unwrap()].clone()).unwrap();
        assert_eq!(ours(f), t, "{}", f.display());
    }
}

const RICH: &str = r#"# Header comment of the module.

terraform {
  required_version = ">= 1.0"
}

# The first service: two copies.
resource "null_resource" "first" {
  count = 2

  triggers = {
    name  = "first"
    owner = "ops"
  }
}

resource "null_resource" "second" {
  triggers = { name = "second" } # inline comment
}

/* A block comment above the last one. */
resource "null_resource" "last" {}
"#;

const OTHER: &str = r#"# Starts with a resource.
resource "null_resource" "top" {
  triggers = {
    name = "top"
  }
}

# A section note, apart from the block below: it stays when that block goes.

resource "null_resource" "bottom" {}
"#;

fn rich_ws() -> Ws {
    let ws = Ws::bundled();
    std::fs::write(ws.path("iac/main.tf"), RICH).unwrap();
    std::fs::write(ws.path("iac/other.tf"), OTHER).unwrap();
    ws
}

fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn terraform_fmt_accepts_every_rewritten_file() {
    let Some(tf) = common::terraform() else {
        return;
    };
    let ws = rich_ws();
    let fmt = |ws: &Ws| {
        common::terraform_cmd(
            &tf,
            &["fmt", "-check", "-diff", "-list=true", "."],
            &ws.path("iac"),
        )
    };
    let pre = fmt(&ws);
    assert!(
        pre.status.success(),
        "the input must be fmt-clean: {}",
        text(&pre)
    );
    let steps = [
        ("rename_first", "rename {\n  from = \"null_resource.first\"\n  to   = \"null_resource.renamed\"\n}\n"),
        ("set_existing_multiline", "set {\n  address   = \"null_resource.second\"\n  attribute = \"triggers\"\n  value = {\n    name    = \"second\"\n    version = \"2\"\n  }\n}\n"),
        ("set_existing_oneline", "set {\n  address   = \"null_resource.top\"\n  attribute = \"triggers\"\n  value     = { v = 1 }\n}\n"),
        ("set_new_attribute", "set {\n  address   = \"null_resource.first\"\n  attribute = \"description\"\n  value     = \"new\"\n}\n"),
        ("set_into_empty_block", "set {\n  address   = \"null_resource.last\"\n  attribute = \"triggers\"\n  value     = { a = \"b\" }\n}\n"),
        ("remove_middle", "remove {\n  address = \"null_resource.second\"\n}\n"),
        ("remove_last", "remove {\n  address = \"null_resource.last\"\n}\n"),
        ("remove_last_keeps_section_note", "remove {\n  address = \"null_resource.bottom\"\n}\n"),
        ("remove_first_of_file", "remove {\n  address = \"null_resource.top\"\n}\n"),
        ("add_default_file", "add {\n  block = <<EOT\n# Added.\nresource \"null_resource\" \"added\" {\n  triggers = {\n    name = \"added\"\n  }\n}\nEOT\n}\n"),
        ("add_new_file", "add {\n  file  = \"extra.tf\"\n  block = <<EOT\nresource \"null_resource\" \"extra\" {}\nEOT\n}\n"),
        ("add_indented_heredoc", "add {\n  file  = \"other.tf\"\n  block = <<-EOT\n    resource \"null_resource\" \"indented\" {\n      count = 1\n    }\n  EOT\n}\n"),
        ("everything", "rename {\n  from = \"null_resource.top\"\n  to   = \"null_resource.top2\"\n}\nremove {\n  address = \"null_resource.bottom\"\n}\nset {\n  address   = \"null_resource.top2\"\n  attribute = \"triggers\"\n  value     = {}\n}\ndelete_state {}\n"),
    ];
    let before = snapshot(&ws.path("iac"));
    // Every rewritten file is kept here for HashiCorp's parser too.
    let rewritten = tempfile::tempdir().unwrap();
    for (name, body) in steps {
        let file = ws.path(&format!("{name}.hcl"));
        std::fs::write(&file, body).unwrap();
        let o = ws.run(&["scenario", "run", file.to_str().unwrap(), "--keep"]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o));
        let after = snapshot(&ws.path("iac"));
        assert_ne!(before, after, "{name}: nothing changed");
        if name == "remove_last_keeps_section_note" {
            let other = std::fs::read_to_string(ws.path("iac/other.tf")).unwrap();
            assert!(
                other.contains("# A section note") && !other.contains("bottom"),
                "{other}"
            );
        }
        for (file, bytes) in snapshot(&ws.path("iac")) {
            if file.ends_with(".tf") && !before.contains(&(file.clone(), bytes.clone())) {
                std::fs::write(rewritten.path().join(format!("{name}__{file}")), bytes).unwrap();
            }
        }
        let f = fmt(&ws);
        assert!(
            f.status.success(),
            "{name}: terraform fmt -check rejects the result:\n{}\n{}",
            text(&f),
            std::fs::read_to_string(ws.path("iac/main.tf")).unwrap()
        );
        // Our own parser (and Terraform's, through fmt) still reads every file.
        let o = ws.run(&["scenario", "revert"]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o));
        assert_eq!(
            snapshot(&ws.path("iac")),
            before,
            "{name}: revert is not byte-identical"
        );
    }
    if let Some(dir) = common::hcl2json_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(rewritten.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(files.len() >= steps.len() - 1, "{files:?}");
        let theirs = hashicorp_blocks(&dir, &files);
        for f in &files {
            let t: Vec<String> =
                serde_json::from_value(theirs[f.to_str().unwrap()].clone()).unwrap();
            assert_eq!(ours(f), t, "{}", f.display());
        }
    }
}

#[test]
fn terraform_state_list_agrees_on_recorded_addresses() {
    let Some(tf) = common::terraform() else {
        return;
    };
    let fx = common::repo_root().join("tests/fixtures/drift");
    let mut checked = 0;
    // An empty folder: Terraform reads the configuration of the current one.
    let empty = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&fx).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        if p.extension().is_none_or(|x| x != "tfstate") || bytes.is_empty() {
            continue;
        }
        let o = common::terraform_cmd(
            &tf,
            &["state", "list", &format!("-state={}", p.display())],
            empty.path(),
        );
        assert!(o.status.success(), "{}: {}", p.display(), text(&o));
        let mut theirs: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        theirs.sort();
        let r = tfops::drift::state::parse_state(&bytes, "s").unwrap();
        let ours: Vec<String> = r.instances.keys().cloned().collect();
        assert_eq!(ours, theirs, "{}", p.display());
        checked += 1;
    }
    assert!(checked >= 10);
}

#[test]
fn the_suggested_state_mv_makes_terraform_and_tfops_agree() {
    let Some(tf) = common::terraform() else {
        return;
    };
    let ws = Ws::bundled();
    let o = ws.run(&["scenario", "run", "rename_service_1", "--keep"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = ws.run(&["drift", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = &report["renamed"][0];
    assert_eq!(
        r["state_mv"],
        "terraform state mv 'terraform_data.service_1' 'terraform_data.service_1_drift'"
    );
    // Run the suggestion with the real Terraform (offline: -state on the local file).
    let from = r["from"].as_str().unwrap();
    let to = r["to"].as_str().unwrap();
    let state = ws.path("iac/terraform.tfstate");
    let mv = common::terraform_cmd(
        &tf,
        &[
            "state",
            "mv",
            &format!("-state={}", state.display()),
            from,
            to,
        ],
        &ws.path("iac"),
    );
    assert!(mv.status.success(), "{}", text(&mv));
    let o = ws.run(&["drift", "--detailed-exitcode"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "in sync after the move: {}",
        text(&o)
    );
    // Terraform's backup file beside the state is no .tf file: it changes nothing.
    let o = ws.run(&["scenario", "revert"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
