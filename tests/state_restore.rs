//! Black-box tests of `tfops restore`: every path (valid, missing, empty and invalid live state,
//! --latest, --dry-run), every refusal (no id without a terminal, a path as id, an unknown id,
//! an invalid snapshot, another lineage, Terraform's lock), masking of secrets, Terraform reading
//! the result, and kill -9 in the middle.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{text, Ws};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(common::repo_root().join("tests/fixtures/state").join(name)).unwrap()
}

fn ok(ws: &Ws, args: &[&str]) -> String {
    let o = ws.run(args);
    assert!(o.status.success(), "{args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs and expects exit 1; returns stderr.
fn refused(ws: &Ws, args: &[&str]) -> String {
    let o = ws.run(args);
    assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn state(ws: &Ws) -> PathBuf {
    ws.path("iac/terraform.tfstate")
}

/// Snapshot ids, oldest first.
fn ids(ws: &Ws) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&ok(ws, &["backups", "--json"])).unwrap();
    v["snapshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

fn snapshot_bytes(ws: &Ws, id: &str) -> Vec<u8> {
    std::fs::read(ws.path("backups").join(id).join("terraform.tfstate")).unwrap()
}

fn set_serial(ws: &Ws, serial: u64) -> Vec<u8> {
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state(ws)).unwrap()).unwrap();
    v["serial"] = serial.into();
    if let Some(r) = v["resources"].as_array_mut() {
        r.pop();
    }
    let b = serde_json::to_vec_pretty(&v).unwrap();
    std::fs::write(state(ws), &b).unwrap();
    b
}

fn corrupt_files(ws: &Ws) -> Vec<PathBuf> {
    std::fs::read_dir(ws.path("iac"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("terraform.tfstate.corrupt-")
        })
        .collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn latest_restores_the_newest_valid_and_keeps_the_current_one() {
    let ws = Ws::bundled();
    let original = std::fs::read(state(&ws)).unwrap();
    ok(&ws, &["backup"]);
    let changed = set_serial(&ws, 4); // serial 4, one resource fewer
    let out = ok(&ws, &["restore", "--latest", "--yes"]);
    assert!(out.contains("+ terraform_data.service_3"), "{out}");
    assert!(out.contains("serial: 4 -> 3"), "{out}");
    assert_eq!(std::fs::read(state(&ws)).unwrap(), original);
    assert_eq!(mode(&state(&ws)), 0o600);
    // The pre-restore snapshot holds what was live; --latest chose before it was taken.
    let ids = ids(&ws);
    assert_eq!(ids.len(), 2);
    assert_eq!(snapshot_bytes(&ws, &ids[1]), changed);
    let m: serde_json::Value = serde_json::from_slice(
        &std::fs::read(ws.path("backups").join(&ids[1]).join("meta.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(m["reason"], "pre-restore");
    assert!(
        out.contains(&format!("kept as snapshot {}", ids[1])),
        "{out}"
    );
}

#[test]
fn restore_by_id_and_dry_run() {
    let ws = Ws::bundled();
    ok(&ws, &["backup"]);
    let first = ids(&ws)[0].clone();
    let changed = set_serial(&ws, 7);
    let out = ok(&ws, &["restore", &first, "--dry-run"]);
    assert!(out.contains("dry run"), "{out}");
    assert!(
        out.contains("---") && out.contains("+++"),
        "a unified diff: {out}"
    );
    assert_eq!(
        std::fs::read(state(&ws)).unwrap(),
        changed,
        "dry run changes nothing"
    );
    assert_eq!(ids(&ws).len(), 1, "and snapshots nothing");
    ok(&ws, &["restore", &first, "--yes"]);
    assert_eq!(
        std::fs::read(state(&ws)).unwrap(),
        snapshot_bytes(&ws, &first)
    );
}

/// A live state our reader accepts but the preview cannot parse (nested deeper than the JSON
/// parser's limit): the plan says the preview cannot be computed, never "no change".
#[test]
fn a_preview_that_cannot_be_computed_says_so() {
    let ws = Ws::bundled();
    ok(&ws, &["backup"]);
    let first = ids(&ws)[0].clone();
    let mut text = std::fs::read_to_string(state(&ws)).unwrap();
    let deep = format!("{}0{}", "[".repeat(300), "]".repeat(300));
    let at = text
        .find("\"attributes\": {")
        .expect("an attributes object")
        + 15;
    text.insert_str(at, &format!("\"deep\": {deep}, "));
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_err(),
        "the planted attribute must be too deep for a default parse"
    );
    std::fs::write(state(&ws), &text).unwrap();
    let out = ok(&ws, &["restore", &first, "--dry-run"]);
    assert!(
        out.contains("preview: cannot be computed: the live state cannot be read here"),
        "{out}"
    );
    assert!(!out.contains("no change by address"), "{out}");
    assert_eq!(std::fs::read_to_string(state(&ws)).unwrap(), text);
    ok(&ws, &["restore", &first, "--yes"]);
    assert_eq!(
        std::fs::read(state(&ws)).unwrap(),
        snapshot_bytes(&ws, &first)
    );
}

#[test]
fn missing_state_is_restored() {
    let ws = Ws::bundled();
    ok(&ws, &["backup"]);
    std::fs::remove_file(state(&ws)).unwrap();
    let out = ok(&ws, &["restore", "--latest", "--yes"]);
    assert!(out.contains("missing"), "{out}");
    assert_eq!(
        std::fs::read(state(&ws)).unwrap(),
        snapshot_bytes(&ws, &ids(&ws)[0])
    );
    assert_eq!(ids(&ws).len(), 1, "nothing to snapshot first");
}

#[test]
fn empty_and_invalid_states_are_kept_as_corrupt() {
    for (what, bad) in [
        ("empty", Vec::new()),
        ("truncated", fixture("truncated.tfstate")),
        ("version 5", fixture("version5.tfstate")),
        ("missing lineage", fixture("missing_lineage.tfstate")),
        ("serial as a string", fixture("serial_string.tfstate")),
    ] {
        let ws = Ws::bundled();
        ok(&ws, &["backup"]);
        std::fs::write(state(&ws), &bad).unwrap();
        let out = ok(&ws, &["restore", "--latest", "--yes"]);
        assert!(out.contains("the bad state is kept as"), "{what}: {out}");
        let c = corrupt_files(&ws);
        assert_eq!(c.len(), 1, "{what}");
        assert_eq!(std::fs::read(&c[0]).unwrap(), bad, "{what}");
        assert_eq!(mode(&c[0]), 0o600, "{what}");
        assert_eq!(
            std::fs::read(state(&ws)).unwrap(),
            snapshot_bytes(&ws, &ids(&ws)[0]),
            "{what}"
        );
        assert_eq!(ids(&ws).len(), 1, "{what}: a bad state is not snapshotted");
    }
}

#[test]
fn no_id_without_a_terminal_is_a_clear_error() {
    let ws = Ws::bundled();
    ok(&ws, &["backup"]);
    let err = refused(&ws, &["restore"]);
    assert!(
        err.contains("no terminal") && err.contains("--latest"),
        "{err}"
    );
    // Confirmation without a terminal is refused too, not assumed.
    let err = refused(&ws, &["restore", "--latest"]);
    assert!(err.contains("--yes"), "{err}");
}

#[test]
fn an_id_must_be_a_snapshot_name() {
    let ws = Ws::bundled();
    ok(&ws, &["backup"]);
    let id = ids(&ws)[0].clone();
    for bad in [
        "../iac".to_string(),
        format!("backups/{id}"),
        format!("{}/backups/{id}", ws.root().display()),
        "/etc".to_string(),
        format!("{id}/terraform.tfstate"),
    ] {
        let err = refused(&ws, &["restore", &bad, "--yes"]);
        assert!(
            err.contains("not a snapshot name") && err.contains("tfops backups"),
            "{bad}: {err}"
        );
    }
    let err = refused(
        &ws,
        &["restore", "tfstate_2001-01-01_00-00-00.backup", "--yes"],
    );
    assert!(
        err.contains(
            "no snapshot named tfstate_2001-01-01_00-00-00.backup; `tfops backups` lists them"
        ),
        "{err}"
    );
}

#[test]
fn an_invalid_snapshot_is_refused_even_with_force() {
    let ws = Ws::bundled();
    ok(&ws, &["backup"]);
    let id = ids(&ws)[0].clone();
    let f = ws.path("backups").join(&id).join("terraform.tfstate");
    let mut b = std::fs::read(&f).unwrap();
    b.truncate(b.len() / 2);
    // Keep the size so the cheap listing still believes it; only the full check sees it.
    b.resize(std::fs::metadata(&f).unwrap().len() as usize, b' ');
    std::fs::write(&f, &b).unwrap();
    set_serial(&ws, 4);
    let err = refused(&ws, &["restore", &id, "--yes", "--force"]);
    assert!(err.contains(&id) && err.contains("not valid"), "{err}");
    let err = refused(&ws, &["restore", "--latest", "--yes"]);
    assert!(err.contains("no valid snapshot"), "{err}");
}

#[test]
fn another_lineage_is_refused_unless_forced() {
    let ws = Ws::bundled();
    std::fs::write(state(&ws), fixture("other_lineage.tfstate")).unwrap();
    ok(&ws, &["backup"]);
    let other = ids(&ws)[0].clone();
    std::fs::write(state(&ws), fixture("sensitive.tfstate")).unwrap();
    let live = std::fs::read(state(&ws)).unwrap();
    let err = refused(&ws, &["restore", &other, "--yes"]);
    assert!(err.contains("lineage") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(state(&ws)).unwrap(), live);
    let out = ok(&ws, &["restore", &other, "--yes", "--force"]);
    assert!(out.contains("another state"), "{out}");
    assert_eq!(
        std::fs::read(state(&ws)).unwrap(),
        fixture("other_lineage.tfstate")
    );
}

#[test]
fn terraform_lock_info_is_respected_unless_forced() {
    let ws = Ws::bundled();
    ok(&ws, &["backup"]);
    set_serial(&ws, 4);
    std::fs::write(
        ws.path("iac/.terraform.tfstate.lock.info"),
        r#"{"ID":"5e2b","Operation":"OperationTypeApply","Info":"","Who":"alice@build-7","Version":"1.0.3","Created":"2026-11-28T14:59:01.123Z","Path":"terraform.tfstate"}"#,
    )
    .unwrap();
    let err = refused(&ws, &["restore", "--latest", "--yes"]);
    for part in [
        "alice@build-7",
        "OperationTypeApply",
        "2026-11-28T14:59:01.123Z",
        "--force",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
    ok(&ws, &["restore", "--latest", "--yes", "--force"]);
    assert_eq!(
        std::fs::read(state(&ws)).unwrap(),
        snapshot_bytes(&ws, &ids(&ws)[0])
    );
}

/// Holds an fcntl write lock on `path` from this process, as Terraform does.
struct FcntlLock(#[allow(dead_code)] std::fs::File);

impl FcntlLock {
    fn take(path: &Path) -> FcntlLock {
        use std::os::fd::AsRawFd;
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        let r = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETLK, &fl) };
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
        FcntlLock(f)
    }
}

#[test]
fn terraform_fcntl_lock_is_respected_unless_forced() {
    let ws = Ws::bundled();
    ok(&ws, &["backup"]);
    set_serial(&ws, 4);
    let lock = FcntlLock::take(&state(&ws));
    let err = refused(&ws, &["restore", "--latest", "--yes"]);
    assert!(
        err.contains("Terraform holds the state") && err.contains("--force"),
        "{err}"
    );
    ok(&ws, &["restore", "--latest", "--yes", "--force"]);
    drop(lock);
}

#[test]
fn sensitive_values_are_never_printed() {
    let ws = Ws::bundled();
    std::fs::write(state(&ws), fixture("sensitive.tfstate")).unwrap();
    ok(&ws, &["backup"]);
    let id = ids(&ws)[0].clone();
    // Change the secret and something visible, then preview and restore.
    let live = String::from_utf8(fixture("sensitive.tfstate"))
        .unwrap()
        .replace("attr-secret-4410", "attr-secret-9999")
        .replace("out-secret-7731", "out-secret-0000")
        .replace("\"port\": 5432", "\"port\": 6543")
        .replace("\"serial\": 2", "\"serial\": 5");
    std::fs::write(state(&ws), &live).unwrap();
    for args in [
        vec!["restore", id.as_str(), "--dry-run"],
        vec!["restore", id.as_str(), "--yes"],
    ] {
        let o = ws.run(&args);
        assert!(o.status.success(), "{}", text(&o));
        let all = text(&o);
        for secret in [
            "attr-secret",
            "out-secret",
            "eyJzY2hlbWFfdmVyc2lvbiI6IjEifQ",
        ] {
            assert!(!all.contains(secret), "{secret} printed:\n{all}");
        }
        assert!(all.contains("~ aws_db_instance.main"), "{all}");
        assert!(
            all.contains("6543") && all.contains("5432"),
            "visible values show: {all}"
        );
    }
}

#[test]
fn terraform_reads_the_restored_state() {
    let Some(tf) = common::terraform() else {
        return;
    };
    let ws = Ws::bundled();
    std::fs::write(state(&ws), fixture("sensitive.tfstate")).unwrap();
    ok(&ws, &["backup"]);
    let id = ids(&ws)[0].clone();
    std::fs::remove_file(state(&ws)).unwrap();
    ok(&ws, &["restore", &id, "--yes"]);
    let o = common::terraform_cmd(
        &tf,
        &["state", "list", "-state=terraform.tfstate"],
        &ws.path("iac"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let mut listed: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            "aws_db_instance.main",
            "null_resource.service_1",
            "null_resource.service_2",
            "null_resource.service_3"
        ]
    );
}

fn big_state(mb: usize, serial: u64, tag: &str) -> Vec<u8> {
    let mut s = format!(
        "{{\"version\": 4, \"terraform_version\": \"1.0.3\", \"serial\": {serial}, \"lineage\": \"6c1a0c2e-52b1-4a4b-9d6e-3f1c9a7b2d10\", \"outputs\": {{}}, \"resources\": ["
    );
    let pad = tag.repeat(900 / tag.len());
    let mut i = 0;
    while s.len() < mb << 20 {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"mode\": \"managed\", \"type\": \"null_resource\", \"name\": \"r{i}\", \"instances\": [{{\"attributes\": {{\"id\": \"{i}\", \"triggers\": {{\"pad\": \"{pad}\"}}}}}}]}}"
        ));
        i += 1;
    }
    s.push_str("]}\n");
    s.into_bytes()
}

fn restore_tmp_exists(ws: &Ws) -> bool {
    std::fs::read_dir(ws.path("iac")).unwrap().any(|e| {
        let n = e.unwrap().file_name().to_string_lossy().into_owned();
        n.starts_with(".terraform.tfstate.tfops-restore-") && n.ends_with(".tmp")
    })
}

#[test]
fn kill_9_during_restore_leaves_old_or_new_never_a_mix() {
    let ws = Ws::bundled();
    let old = big_state(20, 1, "a");
    std::fs::write(state(&ws), &old).unwrap();
    ok(&ws, &["backup"]);
    let id = ids(&ws)[0].clone();
    let new = big_state(20, 2, "b");
    let mut outcomes = Vec::new();
    // Kill at fixed moments, and at moments after the temp file appears (mid-write).
    let rounds: [(bool, u64); 6] = [
        (false, 100),
        (false, 700),
        (true, 0),
        (true, 2),
        (true, 10),
        (true, 40),
    ];
    for (wait_tmp, delay_ms) in rounds {
        // Put the live state back to `new` for each round.
        std::fs::write(state(&ws), &new).unwrap();
        let mut child = ws
            .cmd()
            .args(["restore", &id, "--yes", "--force"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut saw_tmp = false;
        if wait_tmp {
            let t0 = std::time::Instant::now();
            while t0.elapsed() < Duration::from_secs(60) && child.try_wait().unwrap().is_none() {
                if restore_tmp_exists(&ws) {
                    saw_tmp = true;
                    break;
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let now = std::fs::read(state(&ws)).unwrap();
        assert!(
            now == old || now == new,
            "after kill ({wait_tmp}, {delay_ms} ms) the state is neither old nor new ({} bytes)",
            now.len()
        );
        outcomes.push((delay_ms, saw_tmp, status.success(), now == old));
    }
    // The next command cleans whatever the killed restores left.
    ok(&ws, &["restore", &id, "--yes", "--force"]);
    assert_eq!(std::fs::read(state(&ws)).unwrap(), old);
    let leftovers: Vec<String> = std::fs::read_dir(ws.path("iac"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?} ({outcomes:?})");
    let hidden: Vec<String> = std::fs::read_dir(ws.path("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
    eprintln!("kill -9 rounds (delay ms, killed mid-write, finished, state is the snapshot): {outcomes:?}");
}

#[test]
fn folders_of_the_original_rsync_scripts_are_listed_and_restorable() {
    let ws = Ws::bundled();
    let legacy = ws.path("backups/tfstate_2025-06-01_12-00-00.backup");
    std::fs::create_dir_all(&legacy).unwrap();
    let original = std::fs::read(state(&ws)).unwrap();
    std::fs::write(legacy.join("terraform.tfstate"), &original).unwrap();
    let v: serde_json::Value = serde_json::from_str(&ok(&ws, &["backups", "--json"])).unwrap();
    let s = &v["snapshots"][0];
    assert_eq!(s["id"], "tfstate_2025-06-01_12-00-00.backup");
    assert_eq!(s["valid"], true);
    assert_eq!(s["serial"], 3);
    set_serial(&ws, 9);
    ok(
        &ws,
        &["restore", "tfstate_2025-06-01_12-00-00.backup", "--yes"],
    );
    assert_eq!(std::fs::read(state(&ws)).unwrap(), original);
}
