//! Keeps `docs/reference.md` true (#13): fails when a command, a flag or a configuration key
//! exists in the code but not in the reference. The lists come from the code itself: clap's
//! command tree (what `--help`, completions and the man page are built from) and the
//! configuration validator's known keys (asked by feeding it a probe key in every block).

use std::collections::BTreeMap;

use clap::CommandFactory as _;

fn reference() -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference.md");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The text under a heading (`## Title` or `### Title`) up to the next heading of any level
/// at or above it.
fn section<'a>(doc: &'a str, heading: &str) -> Option<&'a str> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let start = doc.lines().position(|l| l.trim_end() == heading)?;
    let lines: Vec<&str> = doc.lines().collect();
    let from: usize = lines[..=start].iter().map(|l| l.len() + 1).sum();
    let end = lines[start + 1..]
        .iter()
        .position(|l| {
            let n = l.chars().take_while(|c| *c == '#').count();
            n > 0 && n <= level && l.chars().nth(n) == Some(' ')
        })
        .map(|i| lines[..start + 1 + i].iter().map(|l| l.len() + 1).sum())
        .unwrap_or(doc.len());
    doc.get(from..end.min(doc.len()))
}

/// Every leaf command (`["scenario", "run"]`) with the flags and arguments it takes itself.
fn leaves(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<(Vec<String>, clap::Command)>) {
    let subs: Vec<&clap::Command> = cmd.get_subcommands().collect();
    if subs.is_empty() && !path.is_empty() {
        out.push((path, cmd.clone()));
        return;
    }
    for s in subs {
        let mut p = path.clone();
        p.push(s.get_name().to_string());
        leaves(s, p, out);
    }
}

fn is_builtin(a: &clap::Arg) -> bool {
    matches!(a.get_id().as_str(), "help" | "version")
}

#[test]
fn every_command_and_flag_is_in_the_reference() {
    let doc = reference();
    let cli = tfops::cli::Cli::command();
    let mut all = Vec::new();
    leaves(&cli, Vec::new(), &mut all);
    assert!(
        all.len() >= 15,
        "the command tree looks wrong: {}",
        all.len()
    );
    let mut missing = Vec::new();
    for (path, cmd) in &all {
        let name = format!("tfops {}", path.join(" "));
        let heading = format!("### `{name}`");
        let Some(text) = section(&doc, &heading) else {
            missing.push(format!("a section `{heading}`"));
            continue;
        };
        for a in cmd
            .get_arguments()
            .filter(|a| !a.is_global_set() && !is_builtin(a))
        {
            if let Some(long) = a.get_long() {
                if !text.contains(&format!("--{long}")) {
                    missing.push(format!("{name}: --{long}"));
                }
            } else {
                let values: Vec<String> = a
                    .get_possible_values()
                    .iter()
                    .map(|v| v.get_name().to_string())
                    .collect();
                let wanted = if values.is_empty() {
                    vec![a.get_id().as_str().to_uppercase()]
                } else {
                    values
                };
                for w in wanted {
                    if !text.contains(&w) {
                        missing.push(format!("{name}: argument {w}"));
                    }
                }
            }
        }
    }
    let globals = section(&doc, "## Global flags").expect("a `## Global flags` section");
    for a in cli.get_arguments().filter(|a| !is_builtin(a)) {
        if let Some(long) = a.get_long() {
            if !globals.contains(&format!("--{long}")) {
                missing.push(format!("global --{long}"));
            }
        }
        if let Some(short) = a.get_short() {
            if !globals.contains(&format!("-{short}")) {
                missing.push(format!("global -{short}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/reference.md lacks:\n  {}",
        missing.join("\n  ")
    );
}

/// The validator's complaint about `probe`, one line per problem.
fn problems(text: &str) -> Vec<String> {
    let root = tempfile::tempdir().unwrap();
    match tfops::config::parse_config(text, "probe.hcl", root.path()) {
        Ok(_) => Vec::new(),
        Err(e) => e.to_string().lines().map(str::to_string).collect(),
    }
}

/// The comma-separated list after `(known: ` in a message.
fn known_list(msg: &str) -> Option<Vec<String>> {
    let rest = &msg[msg.find("(known: ")? + "(known: ".len()..];
    let list = &rest[..rest.find(')')?];
    Some(list.split(',').map(|s| s.trim().to_string()).collect())
}

/// Blocks and their keys, as the validator knows them.
fn config_keys() -> BTreeMap<String, Vec<String>> {
    let blocks = problems("zz_probe_block {\n}\n")
        .iter()
        .find_map(|l| known_list(l))
        .expect("the validator names its known blocks for an unknown one");
    let mut out = BTreeMap::new();
    for b in blocks {
        let mut keys = None;
        for text in [
            format!("{b} {{\n  zz_probe = 1\n}}\n"),
            format!("{b} \"service_1\" {{\n  zz_probe = 1\n}}\n"),
        ] {
            if let Some(k) = problems(&text)
                .iter()
                .filter(|l| l.contains("zz_probe"))
                .find_map(|l| known_list(l))
            {
                keys = Some(k);
                break;
            }
        }
        let keys = keys.unwrap_or_else(|| panic!("the validator did not list the keys of `{b}`"));
        out.insert(b, keys);
    }
    out
}

#[test]
fn every_config_key_is_in_the_reference_with_its_default() {
    let doc = reference();
    let cfg = section(&doc, "## Configuration: `config/tfops.hcl`")
        .expect("a `## Configuration: `config/tfops.hcl`` section");
    let keys = config_keys();
    assert!(keys.len() >= 7, "blocks found: {keys:?}");
    let mut missing = Vec::new();
    for (block, ks) in &keys {
        assert!(!ks.is_empty(), "{block}: no keys found");
        for k in ks {
            // A table row: | `block.key` | default | meaning |
            let row = cfg
                .lines()
                .find(|l| l.starts_with(&format!("| `{block}.{k}` |")));
            match row {
                None => missing.push(format!("{block}.{k}")),
                Some(r) => {
                    let cells: Vec<&str> = r.split(" | ").collect();
                    if cells.len() < 3 || cells[1].trim().is_empty() {
                        missing.push(format!("{block}.{k} (its default)"));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/reference.md's configuration table lacks:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn exit_codes_are_in_the_reference() {
    let doc = reference();
    let codes = section(&doc, "## Exit codes").expect("a `## Exit codes` section");
    for c in ["| 0 |", "| 1 |", "| 2 |", "| 3 |"] {
        assert!(codes.contains(c), "exit code row {c}");
    }
}

#[test]
fn the_probes_see_a_known_key_and_a_missing_one() {
    // The test above cannot pass vacuously: the probe finds keys that exist…
    let keys = config_keys();
    assert!(keys["state"].iter().any(|k| k == "keep_last"), "{keys:?}");
    assert!(keys["balancer"].iter().any(|k| k == "settle"), "{keys:?}");
    // …and the row lookup misses a key that is not documented.
    let doc = reference();
    assert!(!doc.contains("| `state.zz_not_a_key` |"));
    assert!(section(&doc, "### `tfops zz-not-a-command`").is_none());
}
