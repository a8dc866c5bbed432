//! Black-box tests of state protection inside the running daemon (`tfops run`): a changed
//! state is snapshotted by itself, SIGUSR1 snapshots, a deleted and a truncated state are put
//! back with `auto_restore`, SIGTERM exits 0. The actor-level tests in `state_actor.rs` cover
//! the same ground without the rest of the daemon.

mod common;

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::Ws;

struct Daemon {
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn signal(&self, sig: i32) {
        // SAFETY: plain kill(2) on our own child's pid.
        let r = unsafe { libc::kill(self.child.id() as libc::pid_t, sig) };
        assert_eq!(r, 0);
    }
}

/// Starts `tfops run`.
fn start(ws: &Ws) -> Daemon {
    let child = ws
        .cmd()
        .arg("run")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tfops run");
    let mut d = Daemon { child };
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(2) {
        if let Some(status) = d.child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = d.child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            panic!("tfops run exited at start ({status}): {err}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Do not let a full stderr pipe block the daemon.
    if let Some(mut e) = d.child.stderr.take() {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut e, &mut std::io::sink());
        });
    }
    d
}

fn state(ws: &Ws) -> PathBuf {
    ws.path("iac/terraform.tfstate")
}

fn reasons(ws: &Ws) -> Vec<String> {
    ws.snapshots()
        .iter()
        .filter_map(|d| std::fs::read(d.join("meta.json")).ok())
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|m| m["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn daemon_snapshots_changes_and_sigusr1_and_restores_lost_states() {
    let ws = Ws::bundled();
    ws.write_config("state {\n  grace        = \"1s\"\n  auto_restore = true\n}\n");
    let d = start(&ws);
    wait_for("a first snapshot", || !ws.snapshots().is_empty());
    let n = ws.snapshots().len();

    // A change, written in place as Terraform does.
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state(&ws)).unwrap()).unwrap();
    v["serial"] = 4.into();
    let changed = serde_json::to_vec_pretty(&v).unwrap();
    std::fs::write(state(&ws), &changed).unwrap();
    wait_for("a snapshot of the change", || ws.snapshots().len() > n);

    d.signal(libc::SIGUSR1);
    wait_for("a SIGUSR1 snapshot", || {
        reasons(&ws).iter().any(|r| r == "SIGUSR1")
    });

    std::fs::remove_file(state(&ws)).unwrap();
    wait_for("the deleted state back", || {
        std::fs::read(state(&ws)).ok().as_deref() == Some(changed.as_slice())
    });

    std::fs::write(state(&ws), &changed[..changed.len() / 2]).unwrap();
    wait_for("the truncated state back", || {
        std::fs::read(state(&ws)).ok().as_deref() == Some(changed.as_slice())
    });
    let corrupt = std::fs::read_dir(ws.path("iac"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("terraform.tfstate.corrupt-")
        })
        .count();
    assert_eq!(corrupt, 1);

    d.signal(libc::SIGTERM);
    let mut d = d;
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = d.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
}
