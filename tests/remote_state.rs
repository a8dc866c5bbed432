//! Remote state and replicas against a real S3-protocol server (moto, on 127.0.0.1, started
//! and stopped by each test) and real Terraform 1.11 with `backend "s3"`: the disaster alarm
//! and restore on remote state, Terraform's lock object, the conditional put against a
//! concurrent writer, total loss restored from a replica in a fresh checkout, kill -9 during an
//! upload, a store that is down while local snapshots go on, and credentials that never show.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{text, wait_until, Ws};

const KEY_ID: &str = "AKIATFOPSTESTKEYID42";
const SECRET: &str = "tfopsTestSecret0DoNotLeak9zQ";
const STATE_KEY: &str = "lab/terraform.tfstate";

// ---------------------------------------------------------------------------------------------
// moto

fn moto_bin() -> Option<PathBuf> {
    let venv = common::repo_root().join(".tools/venv/bin/moto_server");
    let found = if venv.is_file() {
        Some(venv)
    } else {
        common::which("moto_server")
    };
    if found.is_none() && common::tools_required() {
        panic!("moto_server is required here (CI): run scripts/test.sh, which installs it");
    }
    if found.is_none() {
        eprintln!("SKIP: no moto_server (run scripts/test.sh)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Moto {
    child: Option<Child>,
    port: u16,
    bin: PathBuf,
}

impl Moto {
    fn start() -> Option<Moto> {
        let bin = moto_bin()?;
        let mut m = Moto {
            child: None,
            port: free_port(),
            bin,
        };
        m.restart();
        Some(m)
    }

    /// (Re)starts the server on the same port (a fresh, empty store).
    fn restart(&mut self) {
        self.stop();
        let child = Command::new(&self.bin)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn moto_server");
        self.child = Some(child);
        let port = self.port;
        assert!(
            wait_until(Duration::from_secs(30), || TcpStream::connect((
                "127.0.0.1",
                port
            ))
            .is_ok()),
            "moto_server did not start"
        );
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn signal(&self, sig: i32) {
        if let Some(c) = &self.child {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as libc::pid_t, sig) };
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One plain HTTP request; (status, body). moto does not check signatures, but treats a
    /// request without any Authorization as anonymous (refused on objects of another owner),
    /// so this one names a helper key of its own (not the credentials tfops gets).
    fn http(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect moto");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIAHELPER0000000000/20261202/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("http head");
        let head = String::from_utf8_lossy(&resp[..split]).to_string();
        let status: u16 = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut body = resp[split + 4..].to_vec();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            body = dechunk(&body);
        }
        (status, body)
    }

    fn create_bucket(&self, bucket: &str, versioned: bool) {
        let (st, b) = self.http("PUT", &format!("/{bucket}"), b"");
        assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
        if versioned {
            let xml = br#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#;
            let (st, b) = self.http("PUT", &format!("/{bucket}?versioning"), xml);
            assert_eq!(st, 200, "{}", String::from_utf8_lossy(&b));
        }
    }

    fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let (st, b) = self.http("GET", &format!("/{bucket}/{key}"), b"");
        (st == 200).then_some(b)
    }

    fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        let (st, b) = self.http("PUT", &format!("/{bucket}/{key}"), body);
        assert_eq!(st, 200, "put {key}: {}", String::from_utf8_lossy(&b));
    }

    fn delete(&self, bucket: &str, key: &str) {
        let (st, _) = self.http("DELETE", &format!("/{bucket}/{key}"), b"");
        assert!(st == 204 || st == 200, "delete {key}: {st}");
    }

    /// Keys under `prefix` (ListObjectsV2).
    fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let (st, b) = self.http(
            "GET",
            &format!("/{bucket}?list-type=2&prefix={prefix}"),
            b"",
        );
        assert_eq!(st, 200);
        let x = String::from_utf8_lossy(&b).to_string();
        x.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split("</Key>").next())
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        self.stop();
    }
}

fn dechunk(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let Some(nl) = b[i..].windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let n =
            usize::from_str_radix(String::from_utf8_lossy(&b[i..i + nl]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        let start = i + nl + 2;
        out.extend_from_slice(&b[start..(start + n).min(b.len())]);
        i = start + n + 2;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Workspaces

fn terraform11() -> Option<PathBuf> {
    // The S3 backend settings used here (endpoints, use_path_style, use_lockfile) need a
    // recent Terraform: the one on PATH, not the 1.0.3 that TFOPS_TERRAFORM may name.
    let tf = common::which("terraform");
    if tf.is_none() && common::tools_required() {
        panic!("terraform (>= 1.10) is required on PATH here (CI)");
    }
    if tf.is_none() {
        eprintln!("SKIP: no terraform on PATH");
    }
    tf
}

fn backend_block(m: &Moto, extra: &str) -> String {
    backend_block_at(&m.endpoint(), extra)
}

fn backend_block_at(endpoint: &str, extra: &str) -> String {
    format!(
        r#"terraform {{
  backend "s3" {{
    bucket                      = "tfstate"
    key                         = "{STATE_KEY}"
    region                      = "us-east-1"
    endpoints                   = {{ s3 = "{}" }}
    use_path_style              = true
    skip_credentials_validation = true
    skip_requesting_account_id  = true
    skip_metadata_api_check     = true
    skip_region_validation      = true
{extra}
  }}
}}

resource "terraform_data" "service_1" {{
  input = "service_1"
}}

resource "terraform_data" "service_2" {{
  input = "service_2"
}}
"#,
        endpoint
    )
}

fn remote_ws(m: &Moto, extra: &str, config: &str) -> Ws {
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac")).unwrap();
    std::fs::write(ws.path("iac/main.tf"), backend_block(m, extra)).unwrap();
    ws.write_config(config);
    ws
}

fn aws_env(c: &mut Command) -> &mut Command {
    c.env("AWS_ACCESS_KEY_ID", KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .env_remove("TF_WORKSPACE")
}

fn tf(tf: &Path, ws: &Ws, args: &[&str]) -> Output {
    let rc = ws.path(".terraformrc");
    let _ = std::fs::write(&rc, "");
    let mut c = Command::new(tf);
    c.args(args)
        .current_dir(ws.path("iac"))
        .env("TF_CLI_CONFIG_FILE", &rc)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1");
    aws_env(&mut c).output().expect("run terraform")
}

fn tfops(ws: &Ws, args: &[&str]) -> Output {
    let mut c = ws.cmd();
    aws_env(&mut c);
    c.args(args).output().expect("run tfops")
}

/// Every output so far, for the credentials check.
#[derive(Default)]
struct Seen(String);

impl Seen {
    fn add(&mut self, o: &Output) -> String {
        let t = text(o);
        self.0.push_str(&t);
        t
    }
}

/// No credential in any text given, nor in any file under `dir`.
fn assert_no_credentials(outputs: &str, dir: &Path) {
    assert_no_secrets(outputs, dir, &[KEY_ID, SECRET]);
}

/// None of `secrets` in any text given, nor in any file under `dir`.
fn assert_no_secrets(outputs: &str, dir: &Path, secrets: &[&str]) {
    for c in secrets {
        assert!(!outputs.contains(c), "a credential appeared in the output");
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                // Terraform's own provider cache and init record are not ours.
                if p.file_name().is_some_and(|n| n == ".terraform") {
                    continue;
                }
                stack.push(p);
            } else if ft.is_file() {
                let b = std::fs::read(&p).unwrap_or_default();
                let s = String::from_utf8_lossy(&b);
                for c in secrets {
                    assert!(!s.contains(c), "a credential is stored in {}", p.display());
                }
            }
        }
    }
}

struct Daemon {
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_daemon(ws: &Ws, log: &Path) -> Daemon {
    let f = std::fs::File::create(log).unwrap();
    let mut c = ws.cmd();
    aws_env(&mut c);
    let child = c
        .args(["-vv", "run"])
        .stdout(Stdio::null())
        .stderr(f)
        .spawn()
        .expect("spawn tfops run");
    let d = Daemon { child };
    assert!(
        wait_until(Duration::from_secs(10), || ws
            .path(".tfops/run.pid")
            .exists()),
        "tfops run did not start: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    d
}

fn alarms(ws: &Ws) -> Vec<(String, String)> {
    let o = tfops(ws, &["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v["alarms"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["kind"].as_str().unwrap_or("").to_string(),
                a["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn state_alarm(ws: &Ws) -> Option<String> {
    alarms(ws)
        .into_iter()
        .find(|(k, _)| k == "state")
        .map(|(_, d)| d)
}

fn metas(dir: &Path) -> Vec<serde_json::Value> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("meta.json").exists())
        .collect();
    v.sort();
    v.iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p.join("meta.json")).unwrap()).unwrap())
        .collect()
}

/// A valid state of `n` resources, about `pad` bytes of attribute text each.
fn big_state(serial: u64, n: usize, pad: usize) -> Vec<u8> {
    let filler = "x".repeat(pad);
    let res: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"mode":"managed","type":"terraform_data","name":"r{i}","provider":"provider[\"terraform.io/builtin/terraform\"]","instances":[{{"schema_version":0,"attributes":{{"id":"{i}","input":{{"value":"{filler}","type":"string"}},"output":null,"triggers_replace":null}}}}]}}"#
            )
        })
        .collect();
    format!(
        r#"{{"version":4,"terraform_version":"1.11.4","serial":{serial},"lineage":"big-lineage","outputs":{{}},"resources":[{}]}}"#,
        res.join(",")
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn terraform_s3_state_lost_then_garbage_alarm_restore_and_plan_is_clean() {
    let Some(m) = Moto::start() else { return };
    let Some(tfb) = terraform11() else { return };
    m.create_bucket("tfstate", true);
    let ws = remote_ws(
        &m,
        "    use_lockfile = true",
        "state {\n  grace = \"1s\"\n  poll = \"200ms\"\n}\n",
    );
    let mut seen = Seen::default();
    let o = tf(&tfb, &ws, &["init", "-input=false", "-no-color"]);
    assert!(o.status.success(), "{}", seen.add(&o));
    let o = tf(
        &tfb,
        &ws,
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    );
    assert!(o.status.success(), "{}", seen.add(&o));
    assert!(
        m.get("tfstate", STATE_KEY).is_some(),
        "terraform wrote no state to moto"
    );

    // backup pulls the object; the meta names its source, ETag and version id.
    let o = tfops(&ws, &["backup"]);
    let t = seen.add(&o);
    assert!(o.status.success(), "{t}");
    let ms = metas(&ws.path("backups"));
    assert_eq!(ms.len(), 1, "{t}");
    assert_eq!(ms[0]["source"], format!("s3://tfstate/{STATE_KEY}"));
    assert!(ms[0]["etag"].as_str().is_some_and(|e| !e.is_empty()));
    assert!(ms[0]["version_id"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(ms[0]["resources"], 2);

    // drift reads the remote state: both resources are found there (none "to create"). The
    // values of terraform_data's `input` are the drift engine's business (#11), not read here.
    let o = tfops(&ws, &["drift", "--detailed-exitcode"]);
    let t = seen.add(&o);
    assert_ne!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("0 to create,"), "{t}");
    assert!(t.contains("0 to destroy,"), "{t}");

    let log = ws.path("daemon.log");
    // The daemon's drift check reads the remote state too: with the command's report gone,
    // the daemon's first report finds both resources (none "to create").
    for e in std::fs::read_dir(ws.path("logs")).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("drift_") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    {
        let _d = start_daemon(&ws, &log);
        let mut last = serde_json::Value::Null;
        let found = wait_until(Duration::from_secs(30), || {
            let o = tfops(&ws, &["status", "--json"]);
            last = serde_json::from_slice::<serde_json::Value>(&o.stdout)
                .map(|v| v["last_drift"].clone())
                .unwrap_or_default();
            !last.is_null()
        });
        assert!(found, "no drift report from the daemon");
        assert_eq!(last["summary"]["create"], 0, "{last}");
        assert_eq!(last["summary"]["in_sync"], 2, "{last}");
        // Deleted: the alarm is raised after grace.
        m.delete("tfstate", STATE_KEY);
        assert!(
            wait_until(Duration::from_secs(30), || state_alarm(&ws)
                .is_some_and(|d| d.contains("missing"))),
            "no alarm for a deleted remote state: {:?}\n{}",
            alarms(&ws),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        let o = tfops(&ws, &["restore", "--latest", "--yes"]);
        let t = seen.add(&o);
        assert!(o.status.success(), "{t}");
        assert!(t.contains("If-None-Match"), "{t}");
        assert!(
            wait_until(Duration::from_secs(30), || state_alarm(&ws).is_none()),
            "alarm not cleared"
        );
        // Garbage: alarm again, restore again (the bad bytes are kept locally).
        m.put("tfstate", STATE_KEY, b"{\"version\": 4, garbage");
        assert!(
            wait_until(Duration::from_secs(30), || state_alarm(&ws)
                .is_some_and(|d| d.contains("invalid"))),
            "no alarm for a garbage remote state: {:?}",
            alarms(&ws)
        );
        let o = tfops(&ws, &["restore", "--latest", "--yes"]);
        let t = seen.add(&o);
        assert!(o.status.success(), "{t}");
        assert!(t.contains("the bad state is kept as"), "{t}");
    }
    seen.0
        .push_str(&std::fs::read_to_string(&log).unwrap_or_default());
    let o = tf(
        &tfb,
        &ws,
        &["plan", "-detailed-exitcode", "-input=false", "-no-color"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", seen.add(&o));
    let o = tfops(&ws, &["status", "--json"]);
    seen.add(&o);
    assert_no_credentials(&seen.0, ws.root());
}

#[test]
fn restore_is_refused_while_terraforms_lock_object_exists_naming_the_holder() {
    let Some(m) = Moto::start() else { return };
    m.create_bucket("tfstate", true);
    let ws = remote_ws(&m, "    use_lockfile = true", "");
    let state = big_state(3, 2, 10);
    m.put("tfstate", STATE_KEY, &state);
    let o = tfops(&ws, &["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let lock = br#"{"ID":"5f0c2d1e","Operation":"OperationTypeApply","Info":"","Who":"bob@ci-runner-7","Version":"1.11.4","Created":"2026-12-02T18:00:00Z","Path":"tfstate/lab/terraform.tfstate"}"#;
    m.put("tfstate", &format!("{STATE_KEY}.tflock"), lock);
    m.put("tfstate", STATE_KEY, b"");
    let o = tfops(&ws, &["restore", "--latest", "--yes"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("bob@ci-runner-7"), "the holder is named: {t}");
    assert!(t.contains("OperationTypeApply"), "{t}");
    assert_eq!(
        m.get("tfstate", STATE_KEY).unwrap(),
        b"",
        "nothing was written"
    );
    // --force overrides, saying so.
    let o = tfops(&ws, &["restore", "--latest", "--yes", "--force"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert_eq!(m.get("tfstate", STATE_KEY).unwrap(), state);
}

#[test]
fn s3_workspaces_live_under_the_key_prefix_with_their_own_backups() {
    let Some(m) = Moto::start() else { return };
    m.create_bucket("tfstate", true);
    let ws = remote_ws(&m, "    use_lockfile = true", "");
    m.put("tfstate", STATE_KEY, &big_state(1, 1, 10));
    let staging = format!("env:/staging/{STATE_KEY}");
    m.put("tfstate", &staging, &big_state(9, 2, 10));
    let mut c = ws.cmd();
    aws_env(&mut c).env("TF_WORKSPACE", "staging");
    let o = c.arg("backup").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let ms = metas(&ws.path("backups/staging"));
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0]["serial"], 9);
    assert_eq!(ms[0]["source"], format!("s3://tfstate/{staging}"));
    assert!(ws.snapshots().is_empty(), "default's snapshots stay apart");
    // Restoring the workspace writes its own object, never default's.
    m.delete("tfstate", &staging);
    let o = tfops(
        &ws,
        &["--workspace", "staging", "restore", "--latest", "--yes"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(m.get("tfstate", &staging).unwrap(), big_state(9, 2, 10));
    assert_eq!(m.get("tfstate", STATE_KEY).unwrap(), big_state(1, 1, 10));
}

#[test]
fn a_dynamodb_only_lock_is_invisible_so_restore_needs_force() {
    let Some(m) = Moto::start() else { return };
    m.create_bucket("tfstate", false);
    let ws = remote_ws(&m, "    dynamodb_table = \"tf-locks\"", "");
    m.put("tfstate", STATE_KEY, &big_state(1, 1, 10));
    assert!(tfops(&ws, &["backup"]).status.success());
    m.delete("tfstate", STATE_KEY);
    let o = tfops(&ws, &["restore", "--latest", "--yes"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("tf-locks") && t.contains("--force"), "{t}");
    assert!(m.get("tfstate", STATE_KEY).is_none());
    let o = tfops(&ws, &["restore", "--latest", "--yes", "--force"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(m.get("tfstate", STATE_KEY).is_some());
}

#[test]
fn a_concurrent_write_between_preview_and_put_fails_cleanly() {
    use tfops::state::backend::{Backend, S3Backend};
    use tfops::state::remote::{self, RemoteError, RemoteState};
    use tfops::state::restore::Target;
    let Some(m) = Moto::start() else { return };
    m.create_bucket("tfstate", true);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tfops::config::Config::defaults(dir.path());
    cfg.state.backups = dir.path().join("backups");
    let b = S3Backend {
        bucket: "tfstate".into(),
        key: STATE_KEY.into(),
        region: Some("us-east-1".into()),
        endpoint: Some(m.endpoint()),
        use_path_style: true,
        workspace_key_prefix: "env:".into(),
        use_lockfile: true,
        dynamodb_table: None,
        profile: Default::default(),
    };
    let _ = Backend::S3(b.clone());
    std::env::set_var("AWS_ACCESS_KEY_ID", KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET);
    let r = RemoteState::new(&b, "default").unwrap();
    let v1 = big_state(1, 1, 10);
    m.put("tfstate", STATE_KEY, &v1);
    remote::backup(&cfg, &r, "test").unwrap();

    // The object changes between the preview (If-Match on its ETag) and the put.
    let v2 = big_state(2, 1, 10);
    m.put("tfstate", STATE_KEY, &v2);
    let plan = remote::prepare_restore(&cfg, &r, &Target::Latest, false).unwrap();
    let v3 = big_state(3, 2, 10);
    m.put("tfstate", STATE_KEY, &v3);
    match remote::apply_restore(&cfg, &r, &plan, false) {
        Err(RemoteError::ChangedSincePreview { url }) => assert!(url.contains(STATE_KEY)),
        other => panic!("expected a refused conditional put, got {other:?}"),
    }
    assert_eq!(
        m.get("tfstate", STATE_KEY).unwrap(),
        v3,
        "the concurrent write survives"
    );

    // The object was gone at the preview (If-None-Match: *) and someone created it meanwhile.
    m.delete("tfstate", STATE_KEY);
    let plan = remote::prepare_restore(&cfg, &r, &Target::Latest, false).unwrap();
    m.put("tfstate", STATE_KEY, &v3);
    assert!(matches!(
        remote::apply_restore(&cfg, &r, &plan, false),
        Err(RemoteError::ChangedSincePreview { .. })
    ));
    assert_eq!(m.get("tfstate", STATE_KEY).unwrap(), v3);
    // Without interference a restore goes through. The newest snapshot is now v2: the first
    // attempt kept the state it previewed (v2) as a snapshot before its put was refused.
    let plan = remote::prepare_restore(&cfg, &r, &Target::Latest, false).unwrap();
    remote::apply_restore(&cfg, &r, &plan, false).unwrap();
    assert_eq!(m.get("tfstate", STATE_KEY).unwrap(), v2);
}

#[test]
fn total_loss_restored_from_an_s3_replica_in_a_fresh_checkout() {
    let Some(m) = Moto::start() else { return };
    let Some(tfb) = terraform11() else { return };
    m.create_bucket("tfstate", true);
    m.create_bucket("replica", false);
    let config = "state {\n  replicate = [\"s3://replica/team-a\"]\n}\n";
    let ws = remote_ws(&m, "    use_lockfile = true", config);
    let mut seen = Seen::default();
    let o = tf(&tfb, &ws, &["init", "-input=false", "-no-color"]);
    assert!(o.status.success(), "{}", seen.add(&o));
    let o = tf(
        &tfb,
        &ws,
        &["apply", "-auto-approve", "-input=false", "-no-color"],
    );
    assert!(o.status.success(), "{}", seen.add(&o));
    // The replica's endpoint comes from the standard AWS variable.
    let mut c = ws.cmd();
    aws_env(&mut c).env("AWS_ENDPOINT_URL", m.endpoint());
    let o = c.arg("backup").output().unwrap();
    let t = seen.add(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("replica s3://replica/team-a: up to date"), "{t}");
    let keys = m.keys("replica", "team-a/default/");
    assert_eq!(
        keys.iter().filter(|k| k.contains("/blobs/")).count(),
        1,
        "{keys:?}"
    );
    assert_eq!(
        keys.iter().filter(|k| k.contains("/snapshots/")).count(),
        1,
        "{keys:?}"
    );

    // The machine is gone: its backups, its workspace; the state object is lost too.
    let iac_tf = std::fs::read_to_string(ws.path("iac/main.tf")).unwrap();
    drop(ws);
    m.delete("tfstate", STATE_KEY);

    let fresh = Ws::empty();
    std::fs::create_dir_all(fresh.path("iac")).unwrap();
    std::fs::write(fresh.path("iac/main.tf"), iac_tf).unwrap();
    fresh.write_config(config);
    let mut c = fresh.cmd();
    aws_env(&mut c).env("AWS_ENDPOINT_URL", m.endpoint());
    let o = c.args(["backups", "--remote", "--json"]).output().unwrap();
    let t = seen.add(&o);
    assert!(o.status.success(), "{t}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["replicas"][0]["snapshots"].as_array().unwrap().len(), 1);
    let mut c = fresh.cmd();
    aws_env(&mut c).env("AWS_ENDPOINT_URL", m.endpoint());
    let o = c
        .args([
            "restore",
            "--from",
            "s3://replica/team-a",
            "--latest",
            "--yes",
        ])
        .output()
        .unwrap();
    let t = seen.add(&o);
    assert!(o.status.success(), "{t}");
    assert!(m.get("tfstate", STATE_KEY).is_some());
    let o = tf(&tfb, &fresh, &["init", "-input=false", "-no-color"]);
    assert!(o.status.success(), "{}", seen.add(&o));
    let o = tf(
        &tfb,
        &fresh,
        &["plan", "-detailed-exitcode", "-input=false", "-no-color"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", seen.add(&o));
    assert_no_credentials(&seen.0, fresh.root());
}

#[test]
fn kill_9_during_an_upload_leaves_no_half_snapshot_and_the_next_run_finishes() {
    let Some(m) = Moto::start() else { return };
    m.create_bucket("replica", false);
    // A local-backend workspace with a ~24 MB state, replicated to S3.
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac")).unwrap();
    ws.write_config("state {\n  replicate = [\"s3://replica/p\"]\n}\n");
    std::fs::write(ws.path("iac/terraform.tfstate"), big_state(1, 200, 120_000)).unwrap();
    let mut c = ws.cmd();
    aws_env(&mut c).env("AWS_ENDPOINT_URL", m.endpoint());
    // The server stops answering: the upload is certainly under way when tfops is killed.
    m.signal(libc::SIGSTOP);
    let mut child = c
        .arg("backup")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || !ws.snapshots().is_empty()),
        "no local snapshot"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "backup ended early");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    m.signal(libc::SIGCONT);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        m.keys("replica", "p/default/snapshots/").is_empty(),
        "no snapshot document may be visible without its blob"
    );
    // The next run finishes the job.
    let mut c = ws.cmd();
    aws_env(&mut c).env("AWS_ENDPOINT_URL", m.endpoint());
    let o = c.arg("backup").output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let mut c = ws.cmd();
    aws_env(&mut c).env("AWS_ENDPOINT_URL", m.endpoint());
    let o = c.args(["verify", "--remote"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("2 replica snapshots verified"),
        "{}",
        text(&o)
    );
    // Two snapshots of one state: one blob.
    assert_eq!(m.keys("replica", "p/default/blobs/").len(), 1);
}

#[test]
fn with_the_store_down_local_snapshots_continue_and_replication_catches_up() {
    let Some(mut m) = Moto::start() else { return };
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac")).unwrap();
    ws.write_config("state {\n  grace = \"1s\"\n  replicate = [\"s3://replica/p\"]\n}\n");
    std::fs::write(ws.path("iac/terraform.tfstate"), big_state(1, 1, 10)).unwrap();
    m.stop();
    let log = ws.path("daemon.log");
    let f = std::fs::File::create(&log).unwrap();
    let mut c = ws.cmd();
    aws_env(&mut c).env("AWS_ENDPOINT_URL", m.endpoint());
    let child = c
        .args(["-v", "run"])
        .stdout(Stdio::null())
        .stderr(f)
        .spawn()
        .unwrap();
    let _d = Daemon { child };
    assert!(wait_until(Duration::from_secs(10), || ws.snapshots().len() == 1));
    for serial in 2..=3 {
        std::fs::write(ws.path("iac/terraform.tfstate"), big_state(serial, 1, 10)).unwrap();
        assert!(
            wait_until(Duration::from_secs(10), || ws.snapshots().len()
                == serial as usize),
            "local snapshots must go on while the store is down"
        );
    }
    let status = || {
        let o = tfops(&ws, &["status", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap_or_default()
    };
    assert!(
        wait_until(Duration::from_secs(20), || {
            let v = status();
            let r = &v["replication"]["replicas"][0];
            r["pending"].as_array().is_some_and(|p| p.len() == 3)
                && r["last_error"].as_str().is_some()
        }),
        "status shows what is not replicated and why: {}",
        status()
    );
    let o = tfops(&ws, &["status"]);
    assert!(text(&o).contains("3 not replicated yet"), "{}", text(&o));
    // The store comes back; the next snapshot's kick (or the retry) catches everything up.
    m.restart();
    m.create_bucket("replica", false);
    std::fs::write(ws.path("iac/terraform.tfstate"), big_state(4, 1, 10)).unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || m
            .keys("replica", "p/default/snapshots/")
            .len()
            == 4),
        "replication did not catch up: {}\n{}",
        status(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    assert!(wait_until(Duration::from_secs(10), || status()
        ["replication"]["replicas"][0]["pending"]
        .as_array()
        .is_some_and(|p| p.is_empty())));
}

#[test]
fn local_workspaces_use_their_own_state_and_backups_folder() {
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac/terraform.tfstate.d/staging")).unwrap();
    std::fs::write(ws.path("iac/terraform.tfstate"), big_state(1, 1, 10)).unwrap();
    std::fs::write(
        ws.path("iac/terraform.tfstate.d/staging/terraform.tfstate"),
        big_state(7, 3, 10),
    )
    .unwrap();
    let o = ws.run(&["--workspace", "staging", "backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let ms = metas(&ws.path("backups/staging"));
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0]["serial"], 7);
    assert!(ws.snapshots().is_empty(), "default's folder untouched");
    // TF_WORKSPACE, then .terraform/environment, select it too.
    let o = ws
        .cmd()
        .env("TF_WORKSPACE", "staging")
        .args(["backups", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["snapshots"].as_array().unwrap().len(), 1);
    std::fs::create_dir_all(ws.path("iac/.terraform")).unwrap();
    std::fs::write(ws.path("iac/.terraform/environment"), "staging").unwrap();
    let o = ws
        .cmd()
        .env_remove("TF_WORKSPACE")
        .args(["backups", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["snapshots"][0]["serial"], 7);
    // The default workspace is still there when asked for.
    let o = ws.run(&["--workspace", "default", "backup"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(ws.snapshots().len(), 1);
    let o = ws.run(&["--workspace", "../x", "backups"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn verify_names_snapshots_that_share_one_damaged_file() {
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac")).unwrap();
    std::fs::write(ws.path("iac/terraform.tfstate"), big_state(1, 1, 10)).unwrap();
    for _ in 0..3 {
        assert!(ws.run(&["backup"]).status.success());
    }
    let snaps = ws.snapshots();
    assert_eq!(snaps.len(), 3);
    // One bad write to one of them shows in all three (hard links of identical content).
    let f = snaps[1].join("terraform.tfstate");
    let mut b = std::fs::read(&f).unwrap();
    b[10] ^= 1;
    std::fs::write(&f, b).unwrap();
    let o = ws.run(&["verify"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("3 snapshots share ONE damaged file"),
        "verify says it is one file: {t}"
    );
}

// ---------------------------------------------------------------------------------------------
// Profile files and checksum verification (the requests are seen through a recording proxy)

/// One HTTP request as the proxy saw it.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    path: String,
    /// The access key id named in `Authorization` (`None`: unsigned).
    key_id: Option<String>,
    /// Lowercase header names.
    headers: Vec<String>,
}

/// What clients sent on one connection.
type Sent = std::sync::Arc<std::sync::Mutex<Vec<u8>>>;

/// A TCP proxy in front of moto that keeps what clients send, to tell which requests were
/// made (moto keeps no request log).
struct Proxy {
    port: u16,
    conns: std::sync::Arc<std::sync::Mutex<Vec<Sent>>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        use std::net::{Shutdown, TcpListener};
        use std::sync::{Arc, Mutex};
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let all = conns.clone();
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(client) = c else { break };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let seen: Sent = Arc::default();
                all.lock().unwrap().push(seen.clone());
                let (mut from_client, mut to_server) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let mut b = vec![0u8; 64 * 1024];
                    loop {
                        match from_client.read(&mut b) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                seen.lock().unwrap().extend_from_slice(&b[..n]);
                                if to_server.write_all(&b[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = to_server.shutdown(Shutdown::Write);
                });
                let (mut from_server, mut to_client) = (server, client);
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_server, &mut to_client);
                    let _ = to_client.shutdown(Shutdown::Write);
                });
            }
        });
        Proxy { port, conns }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn clear(&self) {
        self.conns.lock().unwrap().clear();
    }

    /// Every request so far (request lines and their headers; bodies are skipped as they
    /// never hold a line of the form `METHOD /path HTTP/1.1`).
    fn requests(&self) -> Vec<Req> {
        let mut out = Vec::new();
        for c in self.conns.lock().unwrap().iter() {
            let bytes = c.lock().unwrap().clone();
            let text = String::from_utf8_lossy(&bytes);
            let mut lines = text.split("\r\n");
            while let Some(l) = lines.next() {
                let parts: Vec<&str> = l.split(' ').collect();
                let is_request = parts.len() == 3
                    && ["GET", "HEAD", "PUT", "POST", "DELETE"].contains(&parts[0])
                    && parts[1].starts_with('/')
                    && parts[2].starts_with("HTTP/1.");
                if !is_request {
                    continue;
                }
                let mut r = Req {
                    method: parts[0].to_string(),
                    path: parts[1].to_string(),
                    key_id: None,
                    headers: Vec::new(),
                };
                for h in lines.by_ref() {
                    if h.is_empty() {
                        break;
                    }
                    let Some((name, value)) = h.split_once(':') else {
                        continue;
                    };
                    let name = name.trim().to_ascii_lowercase();
                    if name == "authorization" {
                        r.key_id = value
                            .split("Credential=")
                            .nth(1)
                            .and_then(|c| c.split('/').next())
                            .map(str::to_string);
                    }
                    r.headers.push(name);
                }
                out.push(r);
            }
        }
        out
    }
}

/// The first line and the header lines of one request, as a [`Faulty`] rule sees them.
struct Head {
    method: String,
    path: String,
    /// Lowercase header names.
    headers: Vec<String>,
}

type Rule = Box<dyn Fn(&Head) -> Option<String> + Send + Sync>;

/// An HTTP proxy in front of moto that answers some requests itself (a `rule` returning a
/// whole response), as a store that does not behave like moto would, and forwards the others.
/// One request per connection: every answer says `Connection: close`.
struct Faulty {
    port: u16,
}

impl Faulty {
    fn start(upstream: u16, rule: Rule) -> Faulty {
        use std::sync::Arc;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let rule: Arc<Rule> = Arc::new(rule);
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut client) = c else { break };
                let rule = rule.clone();
                std::thread::spawn(move || {
                    let _ = Self::serve(&mut client, upstream, &rule);
                });
            }
        });
        Faulty { port }
    }

    fn serve(client: &mut TcpStream, upstream: u16, rule: &Rule) -> std::io::Result<()> {
        let mut got = Vec::new();
        let mut b = [0u8; 8192];
        let end = loop {
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = client.read(&mut b)?;
            if n == 0 {
                return Ok(());
            }
            got.extend_from_slice(&b[..n]);
        };
        let head_text = String::from_utf8_lossy(&got[..end]).to_string();
        let mut lines = head_text.split("\r\n");
        let first: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
        let mut header_lines = Vec::new();
        let mut length = 0usize;
        for h in lines.filter(|h| !h.is_empty()) {
            let (name, value) = h.split_once(':').unwrap_or((h, ""));
            let name = name.trim().to_ascii_lowercase();
            if name == "content-length" {
                length = value.trim().parse().unwrap_or(0);
            }
            if name != "connection" {
                header_lines.push(h.to_string());
            }
        }
        let head = Head {
            method: first.first().unwrap_or(&"").to_string(),
            path: first.get(1).unwrap_or(&"").to_string(),
            headers: header_lines
                .iter()
                .map(|h| {
                    h.split(':')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase()
                })
                .collect(),
        };
        let mut body = got[end..].to_vec();
        while body.len() < length {
            let n = client.read(&mut b)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&b[..n]);
        }
        if let Some(answer) = rule(&head) {
            client.write_all(answer.as_bytes())?;
            return client.shutdown(std::net::Shutdown::Both);
        }
        let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
        let mut req = format!("{}\r\n", first.join(" "));
        for h in &header_lines {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("Connection: close\r\n\r\n");
        server.write_all(req.as_bytes())?;
        server.write_all(&body)?;
        let mut resp = Vec::new();
        server.read_to_end(&mut resp)?;
        // The answer's own Connection header is replaced by ours.
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(resp.len());
        let rhead = String::from_utf8_lossy(&resp[..split]).to_string();
        let mut out = String::new();
        for (i, h) in rhead.split("\r\n").enumerate() {
            if i > 0 && h.to_ascii_lowercase().starts_with("connection:") {
                continue;
            }
            out.push_str(h);
            out.push_str("\r\n");
        }
        out.push_str("Connection: close\r\n");
        client.write_all(out.as_bytes())?;
        client.write_all(resp.get(split + 2..).unwrap_or(&[]))?;
        client.shutdown(std::net::Shutdown::Both)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The Python of moto's venv (it has boto3), for what only an AWS SDK does.
fn boto3_python(m: &Moto) -> PathBuf {
    let py = m.bin.parent().unwrap().join("python");
    assert!(py.is_file(), "no python beside {}", m.bin.display());
    py
}

/// Overwrites `key` through boto3 with a correct SHA-256 checksum of the new bytes.
fn boto3_put_with_checksum(m: &Moto, bucket: &str, key: &str, body: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("body");
    std::fs::write(&f, body).unwrap();
    let script = r#"
import sys, boto3
ep, bucket, key, path = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=ep, region_name="us-east-1",
                  aws_access_key_id="AKIAHELPER0000000000", aws_secret_access_key="helper")
r = s3.put_object(Bucket=bucket, Key=key, Body=open(path, "rb").read(), ChecksumAlgorithm="SHA256")
assert r.get("ChecksumSHA256"), r
"#;
    let o = Command::new(boto3_python(m))
        .arg("-c")
        .arg(script)
        .args([&m.endpoint(), bucket, key, &f.display().to_string()])
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(o.status.success(), "boto3 put: {}", text(&o));
}

#[test]
fn verify_remote_uses_the_stores_checksum_and_downloads_only_blobs_without_one() {
    let Some(m) = Moto::start() else { return };
    m.create_bucket("replica", false);
    let px = Proxy::start(m.port);
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac")).unwrap();
    ws.write_config("state {\n  replicate = [\"s3://replica/p\"]\n}\n");
    let run = |args: &[&str]| {
        let mut c = ws.cmd();
        aws_env(&mut c).env("AWS_ENDPOINT_URL", px.endpoint());
        c.args(args).output().unwrap()
    };
    let states = [big_state(1, 1, 10), big_state(2, 2, 10)];
    for s in &states {
        std::fs::write(ws.path("iac/terraform.tfstate"), s).unwrap();
        let o = run(&["backup"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let blobs = m.keys("replica", "p/default/blobs/");
    assert_eq!(blobs.len(), 2, "{blobs:?}");
    let blob_of = |s: &[u8]| format!("p/default/blobs/{}", tfops::state::snapshot::sha256_hex(s));
    let (blob1, blob2) = (blob_of(&states[0]), blob_of(&states[1]));
    assert!(blobs.contains(&blob1) && blobs.contains(&blob2));
    // The uploads carried the checksum.
    assert!(
        px.requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.contains("/blobs/"))
            .all(|r| r.headers.iter().any(|h| h == "x-amz-checksum-sha256")),
        "{:?}",
        px.requests()
    );

    let blob_gets = |px: &Proxy| -> Vec<String> {
        px.requests()
            .into_iter()
            .filter(|r| r.method == "GET" && r.path.contains("/blobs/"))
            .map(|r| r.path)
            .collect()
    };

    // Both blobs: checked by the stored checksum, with a signed HEAD, nothing downloaded.
    px.clear();
    let o = run(&["verify", "--remote"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert_eq!(
        t.matches("by the store's SHA-256 checksum)").count(),
        2,
        "{t}"
    );
    assert!(
        t.contains("blobs: 2 checked by the store's SHA-256 checksum, 0 read and hashed"),
        "{t}"
    );
    assert!(t.contains("2 replica snapshots verified"), "{t}");
    assert_eq!(
        blob_gets(&px),
        Vec::<String>::new(),
        "no blob was downloaded"
    );
    let heads: Vec<Req> = px
        .requests()
        .into_iter()
        .filter(|r| r.method == "HEAD" && r.path.contains("/blobs/"))
        .collect();
    assert_eq!(heads.len(), 2, "{heads:?}");
    for h in &heads {
        assert_eq!(h.key_id.as_deref(), Some(KEY_ID), "signed: {h:?}");
        assert!(
            h.headers.iter().any(|x| x == "x-amz-checksum-mode"),
            "{h:?}"
        );
    }

    // Tampered: other bytes, stored with a correct checksum of those bytes. The checksum
    // disagrees with the blob's name: BAD, still without a download.
    boto3_put_with_checksum(&m, "replica", &blob2, &big_state(3, 1, 10));
    px.clear();
    let o = run(&["verify", "--remote"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    let bad: Vec<&str> = t.lines().filter(|l| l.starts_with("BAD")).collect();
    assert_eq!(bad.len(), 1, "{t}");
    assert!(
        bad[0].contains("the store's SHA-256 checksum of its blob is"),
        "{t}"
    );
    assert!(
        t.contains("1 of 2 replica snapshots failed verification"),
        "{t}"
    );
    assert_eq!(
        blob_gets(&px),
        Vec::<String>::new(),
        "no blob was downloaded"
    );

    // A blob stored without a checksum (an older upload) is downloaded and hashed.
    m.put("replica", &blob1, &states[0]);
    boto3_put_with_checksum(&m, "replica", &blob2, &states[1]);
    px.clear();
    let o = run(&["verify", "--remote"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("blobs: 1 checked by the store's SHA-256 checksum, 1 read and hashed"),
        "{t}"
    );
    let sha1 = tfops::state::snapshot::sha256_hex(&states[0]);
    assert!(
        t.contains(&format!("(blob {}: downloaded and hashed)", &sha1[..12])),
        "{t}"
    );
    assert_eq!(blob_gets(&px), vec![format!("/replica/{blob1}")]);
    // ... and a damaged one of those is still caught by its hash.
    m.put("replica", &blob1, b"{\"version\": 4, garbage");
    let o = run(&["verify", "--remote"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains("its blob hashes to"), "{t}");
}

/// A store that does not know the checksum mode (it answers the checksum HEAD with 501):
/// each blob falls back to a download and says why; a blob whose download fails too is
/// reported as not checked, while the others are still checked, and the exit code is 1.
#[test]
fn verify_remote_falls_back_to_a_download_when_the_checksum_head_fails_and_goes_on() {
    let Some(m) = Moto::start() else { return };
    m.create_bucket("replica", false);
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac")).unwrap();
    ws.write_config("state {\n  replicate = [\"s3://replica/p\"]\n}\n");
    let run = |endpoint: &str, args: &[&str]| {
        let mut c = ws.cmd();
        aws_env(&mut c).env("AWS_ENDPOINT_URL", endpoint);
        c.args(args).output().unwrap()
    };
    let states = [
        big_state(1, 1, 10),
        big_state(2, 2, 10),
        big_state(3, 3, 10),
    ];
    for s in &states {
        std::fs::write(ws.path("iac/terraform.tfstate"), s).unwrap();
        let o = run(&m.endpoint(), &["backup"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let sha = |s: &[u8]| tfops::state::snapshot::sha256_hex(s);
    let shas: Vec<String> = states.iter().map(|s| sha(s)).collect();
    assert_eq!(m.keys("replica", "p/default/blobs/").len(), 3);

    // Every checksum HEAD: 501.
    let not_implemented =
        "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let fx = Faulty::start(
        m.port,
        Box::new(move |h: &Head| {
            (h.method == "HEAD" && h.headers.iter().any(|x| x == "x-amz-checksum-mode"))
                .then(|| not_implemented.to_string())
        }),
    );
    let o = run(&fx.endpoint(), &["verify", "--remote"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for s in &shas {
        assert!(
            t.contains(&format!(
                "(blob {}: store gave no checksum (HTTP 501): downloaded and hashed)",
                &s[..12]
            )),
            "{t}"
        );
    }
    assert!(
        t.contains("blobs: 0 checked by the store's SHA-256 checksum, 3 read and hashed"),
        "{t}"
    );
    assert!(t.contains("3 replica snapshots verified"), "{t}");

    // The same, and the download of the second blob is refused as well: that one is not
    // checked, the other two are, and the exit code says something failed.
    let refused = format!("/replica/p/default/blobs/{}", shas[1]);
    let doc = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
    let denied = format!(
        "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{doc}",
        doc.len()
    );
    let fx = Faulty::start(
        m.port,
        Box::new(move |h: &Head| {
            if h.method == "HEAD" && h.headers.iter().any(|x| x == "x-amz-checksum-mode") {
                return Some(not_implemented.to_string());
            }
            (h.method == "GET" && h.path == refused).then(|| denied.clone())
        }),
    );
    let o = run(&fx.endpoint(), &["verify", "--remote"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    let lines: Vec<&str> = t.lines().collect();
    for (i, s) in shas.iter().enumerate() {
        let l = lines
            .iter()
            .find(|l| l.contains(&format!("(blob {}:", &s[..12])))
            .unwrap_or_else(|| panic!("no line for blob {i}: {t}"));
        if i == 1 {
            assert!(l.starts_with("ERR  s3://replica/p "), "{t}");
            assert!(
                l.contains("store gave no checksum (HTTP 501): not checked): downloading its blob"),
                "{t}"
            );
            assert!(l.contains("403"), "{t}");
        } else {
            assert!(l.starts_with("ok   s3://replica/p "), "{t}");
        }
    }
    assert!(
        t.contains("blobs: 0 checked by the store's SHA-256 checksum, 2 read and hashed, 0 missing, 1 could not be checked"),
        "{t}"
    );
    assert!(
        t.contains("1 of 3 replica snapshots could not be checked"),
        "{t}"
    );
    assert!(!t.contains("failed verification"), "{t}");
    assert_no_credentials(&t, ws.root());
}

/// A blob gone from the replica is reported and counted as missing (not as checked by the
/// store's checksum), whether the store's HEAD or the download finds it gone; exit 1.
#[test]
fn verify_remote_reports_and_counts_a_missing_blob_as_missing() {
    let Some(m) = Moto::start() else { return };
    m.create_bucket("replica", false);
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac")).unwrap();
    ws.write_config("state {\n  replicate = [\"s3://replica/p\"]\n}\n");
    let run = |endpoint: &str, args: &[&str]| {
        let mut c = ws.cmd();
        aws_env(&mut c).env("AWS_ENDPOINT_URL", endpoint);
        c.args(args).output().unwrap()
    };
    let states = [big_state(1, 1, 10), big_state(2, 2, 10)];
    for s in &states {
        std::fs::write(ws.path("iac/terraform.tfstate"), s).unwrap();
        let o = run(&m.endpoint(), &["backup"]);
        assert!(o.status.success(), "{}", text(&o));
    }
    let gone = tfops::state::snapshot::sha256_hex(&states[0]);
    m.delete("replica", &format!("p/default/blobs/{gone}"));
    assert_eq!(m.keys("replica", "p/default/blobs/").len(), 1);

    let check = |t: &str, how: &str| {
        let bad: Vec<&str> = t.lines().filter(|l| l.starts_with("BAD")).collect();
        assert_eq!(bad.len(), 1, "{t}");
        assert!(
            bad[0].contains(&format!(
                "(blob {}: {how}missing from the replica): its blob {} is missing",
                &gone[..12],
                &gone[..12]
            )),
            "{t}"
        );
        assert!(
            t.contains("1 of 2 replica snapshots have lost their blob"),
            "{t}"
        );
        assert!(!t.contains("failed verification"), "{t}");
    };
    // The HEAD finds it gone.
    let o = run(&m.endpoint(), &["verify", "--remote"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    check(&t, "");
    assert!(
        t.contains("blobs: 1 checked by the store's SHA-256 checksum, 0 read and hashed, 1 missing, 0 could not be checked"),
        "{t}"
    );
    // A store that gives no checksum: the download finds it gone.
    let fx = Faulty::start(
        m.port,
        Box::new(|h: &Head| {
            (h.method == "HEAD" && h.headers.iter().any(|x| x == "x-amz-checksum-mode")).then(
                || {
                    "HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_string()
                },
            )
        }),
    );
    let o = run(&fx.endpoint(), &["verify", "--remote"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    check(&t, "store gave no checksum (HTTP 501): ");
    assert!(
        t.contains("blobs: 0 checked by the store's SHA-256 checksum, 1 read and hashed, 1 missing, 0 could not be checked"),
        "{t}"
    );
}

/// With several replicas, one that cannot be reached at all (its listing fails) is an ERR
/// line, and the others are still checked; exit 1. (No S3 server needed: nothing listens.)
#[test]
fn verify_remote_checks_the_other_replicas_when_one_cannot_be_read() {
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac")).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let file_url = format!("file://{}/r", folder.path().display());
    ws.write_config(&format!(
        "state {{\n  replicate = [\"s3://replica/p\", \"{file_url}\"]\n}}\n"
    ));
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let run = |args: &[&str]| {
        let mut c = ws.cmd();
        aws_env(&mut c).env("AWS_ENDPOINT_URL", &nobody);
        c.args(args).output().unwrap()
    };
    std::fs::write(ws.path("iac/terraform.tfstate"), big_state(1, 1, 10)).unwrap();
    let o = run(&["backup"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&["verify", "--remote"]);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.lines().any(|l| l.starts_with("ERR  s3://replica/p: ")),
        "{t}"
    );
    let ok: Vec<&str> = t
        .lines()
        .filter(|l| l.starts_with(&format!("ok   {file_url} ")))
        .collect();
    assert_eq!(ok.len(), 1, "{t}");
    assert!(ok[0].contains(": read and hashed)"), "{t}");
    assert!(
        t.contains("the replica s3://replica/p could not be read"),
        "{t}"
    );
    assert_no_credentials(&t, ws.root());
}

#[test]
fn credentials_only_in_profile_files_reach_the_state_and_the_replicas_and_never_show() {
    let Some(m) = Moto::start() else { return };
    let Some(tfb) = terraform11() else { return };
    m.create_bucket("tfstate", true);
    m.create_bucket("replica", false);
    let px = Proxy::start(m.port);
    const DEFAULT_KEY: &str = "AKIADEFAULTPROFILE77";
    const DEFAULT_SECRET: &str = "defaultProfileSecret0NeverShown3";
    const ENV_KEY: &str = "AKIAFROMENVIRONMENT1";
    const ENV_SECRET: &str = "envSecretThatMustNotShow5";
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/credentials"),
        format!(
            "# test profiles\n[default]\naws_access_key_id = {DEFAULT_KEY}\naws_secret_access_key = {DEFAULT_SECRET}\n\n[team]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        home.path().join(".aws/config"),
        "[profile team]\nregion = us-east-1\n[default]\nregion = us-east-1\n",
    )
    .unwrap();
    let ws = Ws::empty();
    std::fs::create_dir_all(ws.path("iac")).unwrap();
    std::fs::write(
        ws.path("iac/main.tf"),
        backend_block_at(
            &px.endpoint(),
            "    profile      = \"team\"\n    use_lockfile = true",
        ),
    )
    .unwrap();
    ws.write_config("state {\n  replicate = [\"s3://replica/p\"]\n}\n");
    // Nothing in the environment: only the files under HOME.
    let only_files = |c: &mut Command| {
        for k in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_CONFIG_FILE",
            "AWS_REGION",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL_S3",
            "TF_WORKSPACE",
        ] {
            c.env_remove(k);
        }
        c.env("HOME", home.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", px.endpoint());
    };
    let mut seen = Seen::default();
    let tf_run = |args: &[&str]| {
        let rc = ws.path(".terraformrc");
        let _ = std::fs::write(&rc, "");
        let mut c = Command::new(&tfb);
        c.args(args)
            .current_dir(ws.path("iac"))
            .env("TF_CLI_CONFIG_FILE", &rc)
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_IN_AUTOMATION", "1");
        only_files(&mut c);
        c.output().unwrap()
    };
    let tfops_run = |args: &[&str], extra: &[(&str, &str)]| {
        let mut c = ws.cmd();
        only_files(&mut c);
        for (k, v) in extra {
            c.env(k, v);
        }
        c.args(args).output().unwrap()
    };
    let o = tf_run(&["init", "-input=false", "-no-color"]);
    assert!(o.status.success(), "{}", seen.add(&o));
    let o = tf_run(&["apply", "-auto-approve", "-input=false", "-no-color"]);
    assert!(o.status.success(), "{}", seen.add(&o));
    assert!(m.get("tfstate", STATE_KEY).is_some());

    // The state with the backend's profile ("team"), the replica with the default profile.
    px.clear();
    let o = tfops_run(&["-vv", "backup"], &[]);
    let t = seen.add(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("replica s3://replica/p: up to date"), "{t}");
    assert!(
        t.contains("credentials from the AWS profile \"team\""),
        "the debug log says where credentials came from: {t}"
    );
    let reqs = px.requests();
    let state_reqs: Vec<&Req> = reqs
        .iter()
        .filter(|r| r.path.starts_with("/tfstate"))
        .collect();
    let replica_reqs: Vec<&Req> = reqs
        .iter()
        .filter(|r| r.path.starts_with("/replica"))
        .collect();
    assert!(
        !state_reqs.is_empty() && !replica_reqs.is_empty(),
        "{reqs:?}"
    );
    assert!(
        state_reqs
            .iter()
            .all(|r| r.key_id.as_deref() == Some(KEY_ID)),
        "{state_reqs:?}"
    );
    assert!(
        replica_reqs
            .iter()
            .all(|r| r.key_id.as_deref() == Some(DEFAULT_KEY)),
        "{replica_reqs:?}"
    );
    assert_eq!(
        tfops::state::snapshot::sha256_hex(&m.get("tfstate", STATE_KEY).unwrap()),
        metas(&ws.path("backups"))[0]["sha256"].as_str().unwrap()
    );
    let o = tfops_run(&["verify", "--remote"], &[]);
    let t = seen.add(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("by the store's SHA-256 checksum)"), "{t}");

    // AWS_PROFILE chooses the replicas' profile; one that is not there is a clear error.
    px.clear();
    let o = tfops_run(&["backups", "--remote"], &[("AWS_PROFILE", "team")]);
    let t = seen.add(&o);
    assert!(o.status.success(), "{t}");
    let reqs = px.requests();
    assert!(
        reqs.iter().any(|r| r.path.starts_with("/replica"))
            && reqs.iter().all(|r| r.key_id.as_deref() == Some(KEY_ID)),
        "the replica signed with AWS_PROFILE's keys: {reqs:?}"
    );
    let o = tfops_run(&["backups", "--remote"], &[("AWS_PROFILE", "nope")]);
    let t = seen.add(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(
        t.contains("the AWS profile \"nope\" is not in")
            && t.contains(&home.path().join(".aws/credentials").display().to_string()),
        "{t}"
    );
    // Credentials in the environment win over the profile.
    px.clear();
    let o = tfops_run(
        &["backups", "--remote"],
        &[
            ("AWS_ACCESS_KEY_ID", ENV_KEY),
            ("AWS_SECRET_ACCESS_KEY", ENV_SECRET),
        ],
    );
    let t = seen.add(&o);
    assert!(o.status.success(), "{t}");
    let reqs = px.requests();
    assert!(
        !reqs.is_empty() && reqs.iter().all(|r| r.key_id.as_deref() == Some(ENV_KEY)),
        "{reqs:?}"
    );
    // A profile file that is a fifo is refused, never waited on.
    let fifo_home = tempfile::tempdir().unwrap();
    std::fs::create_dir(fifo_home.path().join(".aws")).unwrap();
    let fifo = fifo_home.path().join(".aws/credentials");
    let cpath = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo(3) on a path in our own temporary folder.
    assert_eq!(unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) }, 0);
    let fifo_home_s = fifo_home.path().display().to_string();
    let o = tfops_run(&["backups", "--remote"], &[("HOME", fifo_home_s.as_str())]);
    let t = seen.add(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains(&fifo.display().to_string()), "{t}");

    let o = tf_run(&["plan", "-detailed-exitcode", "-input=false", "-no-color"]);
    assert_eq!(o.status.code(), Some(0), "{}", seen.add(&o));
    assert_no_secrets(
        &seen.0,
        ws.root(),
        &[
            KEY_ID,
            SECRET,
            DEFAULT_KEY,
            DEFAULT_SECRET,
            ENV_KEY,
            ENV_SECRET,
        ],
    );
}

/// A configured S3 backend that cannot be used (its named AWS profile does not exist) is a
/// state alarm naming the profile; the daemon never falls back to the local file Terraform
/// does not use (no false "missing" alarm, no restore there), and its drift check fails rather
/// than report everything to create. Once the profile exists, a reload (SIGHUP) protects the
/// object: the alarm clears and the state is snapshotted.
#[test]
fn an_s3_backend_that_cannot_be_used_is_an_alarm_never_a_local_fallback() {
    let Some(m) = Moto::start() else { return };
    m.create_bucket("tfstate", true);
    m.put("tfstate", STATE_KEY, &big_state(3, 2, 0));
    let ws = remote_ws(
        &m,
        "    profile = \"nope\"",
        "state {\n  grace = \"1s\"\n  auto_restore = true\n}\ndrift {\n  interval = \"1s\"\n}\n",
    );
    let home = tempfile::tempdir().unwrap();
    let with_home = |c: &mut Command| {
        aws_env(c).env("HOME", home.path());
        for k in [
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_CONFIG_FILE",
        ] {
            c.env_remove(k);
        }
    };
    let status = || -> serde_json::Value {
        let mut c = ws.cmd();
        with_home(&mut c);
        let o = c.args(["status", "--json"]).output().unwrap();
        serde_json::from_slice(&o.stdout).unwrap_or_default()
    };
    let alarm = |v: &serde_json::Value, kind: &str| -> Option<String> {
        v["alarms"].as_array().into_iter().flatten().find_map(|a| {
            (a["kind"] == kind).then(|| a["detail"].as_str().unwrap_or("").to_string())
        })
    };
    let log = ws.path("daemon.log");
    let mut c = ws.cmd();
    with_home(&mut c);
    let child = c
        .args(["-vv", "run"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let d = Daemon { child };
    let mut last = serde_json::Value::Null;
    let both = wait_until(Duration::from_secs(30), || {
        last = status();
        alarm(&last, "state").is_some() && alarm(&last, "drift").is_some()
    });
    let daemon_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        both,
        "state and drift alarms expected: {last}\n{}",
        daemon_log()
    );
    let state = alarm(&last, "state").unwrap();
    assert!(
        state.contains("nope") && state.contains("cannot be used"),
        "{state}"
    );
    let drift = alarm(&last, "drift").unwrap();
    assert!(drift.contains("cannot be used"), "{drift}");
    // Past the grace several times over: still nothing done to the local side.
    std::thread::sleep(Duration::from_secs(3));
    last = status();
    assert!(alarm(&last, "state").unwrap().contains("nope"), "{last}");
    assert!(alarm(&last, "state_restored").is_none(), "{last}");
    assert!(
        !ws.path("iac/terraform.tfstate").exists(),
        "no local fallback state"
    );
    assert!(
        ws.snapshots().is_empty(),
        "nothing snapshotted while broken"
    );
    // The profile appears; a reload protects the object.
    std::fs::create_dir(home.path().join(".aws")).unwrap();
    std::fs::write(
        home.path().join(".aws/credentials"),
        format!("[nope]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"),
    )
    .unwrap();
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(d.child.id() as libc::pid_t, libc::SIGHUP) };
    let healed = wait_until(Duration::from_secs(30), || {
        last = status();
        alarm(&last, "state").is_none()
            && alarm(&last, "drift").is_none()
            && ws.snapshots().len() == 1
    });
    assert!(healed, "after the reload: {last}\n{}", daemon_log());
    drop(d);
    assert!(!ws.path("iac/terraform.tfstate").exists());
    assert_no_credentials(&daemon_log(), ws.root());
}
