//! Paths trusted by name: whoever can write requests, links or files inside the workspace must
//! not make tfops read, deliver, truncate, append to or chmod anything outside it.
//!
//! These drive the library directly (the desk, the health log, the folder helpers), one hostile
//! layout at a time; the races (a file swapped for a link thousands of times while the desk
//! moves it) are in `tests/reliability.rs`, which records them in the summary.

use std::ffi::OsString;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::Local;
use tfops::service_id::ServiceId;
use tfops::spool::desk::{DeliveryOutcome, Desk, Limits};
use tfops::workspace::Workspace;

const LIM: Limits = Limits {
    max_request_bytes: 1 << 20,
    recent_in_log: 10,
};

/// A workspace with service_1, and a folder outside it holding `secret.txt`.
struct Setup {
    _d: tempfile::TempDir,
    ws: Workspace,
    outside: PathBuf,
}

const SECRET: &[u8] = b"outside data without a final newline";

fn setup() -> Setup {
    let d = tempfile::tempdir().unwrap();
    let ws = Workspace::new(d.path().join("ws"));
    std::fs::create_dir_all(ws.root.join("iac")).unwrap();
    ws.ensure_runtime_dirs().unwrap();
    std::fs::create_dir_all(ws.service_dir(ServiceId(1))).unwrap();
    let outside = d.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("secret.txt"), SECRET).unwrap();
    Setup { _d: d, ws, outside }
}

impl Setup {
    fn secret(&self) -> PathBuf {
        self.outside.join("secret.txt")
    }
    fn assert_outside_untouched(&self) {
        assert_eq!(std::fs::read(self.secret()).unwrap(), SECRET);
        let names: Vec<_> = std::fs::read_dir(&self.outside)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            vec![OsString::from("secret.txt")],
            "outside folder changed"
        );
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn error_reason(ws: &Workspace, name: &str) -> Option<String> {
    let b = std::fs::read(ws.errors().join(format!("{name}.error.json"))).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
    v["reason"].as_str().map(str::to_string)
}

#[test]
fn a_symlinked_load_log_is_never_truncated_through() {
    let s = setup();
    std::fs::create_dir_all(s.ws.bal_logs()).unwrap();
    symlink(s.secret(), s.ws.load_jsonl(ServiceId(1))).unwrap();
    let r = Desk::open(&s.ws, ServiceId(1), LIM);
    assert!(r.is_err(), "a symlinked load_1.jsonl was opened");
    s.assert_outside_untouched();
}

#[test]
fn a_symlinked_delivery_journal_is_never_truncated_through() {
    let s = setup();
    std::fs::create_dir_all(s.ws.dot_tfops()).unwrap();
    symlink(s.secret(), s.ws.delivery_journal(ServiceId(1))).unwrap();
    let r = Desk::open(&s.ws, ServiceId(1), LIM);
    assert!(r.is_err(), "a symlinked journal was opened");
    s.assert_outside_untouched();
}

#[test]
fn a_symlinked_checkpoint_or_summary_is_replaced_not_written_through() {
    let s = setup();
    let mut desk = Desk::open(&s.ws, ServiceId(1), LIM).unwrap();
    drop(desk);
    let _ = std::fs::remove_file(s.ws.load_json(ServiceId(1)));
    symlink(s.secret(), s.ws.load_json(ServiceId(1))).unwrap();
    desk = Desk::open(&s.ws, ServiceId(1), LIM).unwrap();
    std::fs::write(s.ws.intake().join("a"), "x").unwrap();
    desk.deliver_batch(&["a".into()], Local::now());
    desk.flush().unwrap();
    s.assert_outside_untouched();
    assert!(!std::fs::symlink_metadata(s.ws.load_json(ServiceId(1)))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_symlinked_health_log_is_never_appended_through() {
    let s = setup();
    symlink(s.secret(), s.ws.health_log()).unwrap();
    let v = tfops::health::check(&s.ws, ServiceId(1), true);
    let r = tfops::health::log_transition(&s.ws, ServiceId(1), &v, Local::now());
    assert!(r.is_err());
    s.assert_outside_untouched();
}

#[test]
fn a_symlinked_inbox_gets_nothing() {
    let s = setup();
    let mut desk = Desk::open(&s.ws, ServiceId(1), LIM).unwrap();
    std::fs::remove_dir(s.ws.service_dir(ServiceId(1))).unwrap();
    symlink(&s.outside, s.ws.service_dir(ServiceId(1))).unwrap();
    std::fs::write(s.ws.intake().join("a"), "x").unwrap();
    let out = desk.deliver_batch(&["a".into()], Local::now());
    assert!(
        matches!(
            out[0],
            DeliveryOutcome::Failed {
                service_fault: true,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(s.ws.intake().join("a").exists());
    s.assert_outside_untouched();
    // And the health check calls it down.
    let v = tfops::health::check(&s.ws, ServiceId(1), true);
    assert_eq!(v.state, tfops::health::ServiceState::Down);
    // `services.active` gives it no marker through the link, and does not fail the start.
    let cfg = tfops::config::Config::defaults(&s.ws.root);
    tfops::health::apply_active(&s.ws, &cfg, &Default::default()).unwrap();
    s.assert_outside_untouched();
}

#[test]
fn a_symlinked_intake_is_not_drained() {
    let s = setup();
    let mut desk = Desk::open(&s.ws, ServiceId(1), LIM).unwrap();
    std::fs::remove_dir(s.ws.intake()).unwrap();
    symlink(&s.outside, s.ws.intake()).unwrap();
    let out = desk.deliver_batch(&["secret.txt".into()], Local::now());
    assert!(matches!(out[0], DeliveryOutcome::Failed { .. }), "{out:?}");
    s.assert_outside_untouched();
    assert_eq!(names(&s.ws.service_dir(ServiceId(1))), Vec::<String>::new());
    // A start refuses such a workspace outright.
    let e = s.ws.ensure_runtime_dirs().unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");
}

#[test]
fn a_hard_link_to_an_outside_file_is_rejected_not_delivered() {
    let s = setup();
    let mut desk = Desk::open(&s.ws, ServiceId(1), LIM).unwrap();
    std::fs::hard_link(s.secret(), s.ws.intake().join("h.txt")).unwrap();
    let out = desk.deliver_batch(&["h.txt".into()], Local::now());
    assert!(
        matches!(out[0], DeliveryOutcome::Rejected { .. }),
        "{out:?}"
    );
    assert_eq!(error_reason(&s.ws, "h.txt").as_deref(), Some("hard_link"));
    assert_eq!(names(&s.ws.service_dir(ServiceId(1))), Vec::<String>::new());
    assert_eq!(std::fs::read(s.secret()).unwrap(), SECRET);
}

#[test]
fn long_rejected_names_get_their_error_file_and_stay_utf8() {
    let s = setup();
    let mut desk = Desk::open(&s.ws, ServiceId(1), LIM).unwrap();
    let ascii = format!("{}.txt", "a".repeat(240));
    // 2-byte characters: a byte cut lands mid-character unless done on a boundary.
    let utf8 = format!("{}x.txt", "é".repeat(123));
    for n in [&ascii, &utf8] {
        std::fs::write(s.ws.intake().join(n), [0xffu8]).unwrap();
    }
    let out = desk.deliver_batch(&[ascii.clone().into(), utf8.clone().into()], Local::now());
    for o in &out {
        let DeliveryOutcome::Rejected { file, .. } = o else {
            panic!("{out:?}")
        };
        let f = file.to_str().expect("a UTF-8 name stays UTF-8");
        assert!(
            s.ws.errors().join(format!("{f}.error.json")).exists(),
            "no error file for {f}"
        );
    }
    for e in names(&s.ws.errors()) {
        assert!(!e.contains('\u{fffd}'), "cut mid-character: {e}");
    }
    assert!(names(&s.ws.intake()).is_empty());
}

#[test]
fn existing_folders_are_never_chmodded() {
    let d = tempfile::tempdir().unwrap();
    let shared = d.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    tfops::fsutil::create_dir_mode(&shared, 0o700).unwrap();
    assert_eq!(std::fs::metadata(&shared).unwrap().mode() & 0o7777, 0o1777);
    // Through a link: refused, target untouched.
    let link = d.path().join("link");
    symlink(&shared, &link).unwrap();
    assert!(tfops::fsutil::create_dir_mode(&link, 0o700).is_err());
    assert_eq!(std::fs::metadata(&shared).unwrap().mode() & 0o7777, 0o1777);
    // What it creates gets the mode whatever the umask.
    let new = d.path().join("new");
    tfops::fsutil::create_dir_mode(&new, 0o700).unwrap();
    assert_eq!(std::fs::metadata(&new).unwrap().mode() & 0o7777, 0o700);
}

#[test]
fn a_planted_link_at_an_atomic_writes_temp_name_is_not_followed() {
    let s = setup();
    let target = s.ws.bal_logs().join("status.json");
    let tmp =
        s.ws.bal_logs()
            .join(format!(".status.json.tfops-{}.tmp", std::process::id()));
    symlink(s.secret(), &tmp).unwrap();
    tfops::fsutil::write_atomic(&target, b"{}", 0o644, false).unwrap();
    s.assert_outside_untouched();
    assert_eq!(std::fs::read(&target).unwrap(), b"{}");
}
