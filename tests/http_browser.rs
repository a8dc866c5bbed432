//! The status page in a real headless Chromium (#14), driven over the DevTools protocol on a
//! pipe (`--remote-debugging-pipe`: JSON messages separated by NUL bytes on fds 3 and 4), since
//! a page with an open event stream never finishes loading and `--dump-dom` would hang.
//!
//! The test removes a service's marker and reads the rendered DOM until the page shows the
//! service down, without a reload; then puts the marker back and waits for it to show up
//! again. It prints how long each took and saves screenshots (desktop and phone widths) under
//! `target/http-page/`.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::http::HttpDaemon;
use common::{tools_required, which, Ws};
use serde_json::{json, Value};

fn chromium() -> Option<PathBuf> {
    let p = which("chromium").or_else(|| which("chromium-browser"));
    if p.is_none() && tools_required() {
        panic!("chromium is required here (CI): scripts/test.sh installs Debian's chromium");
    }
    if p.is_none() {
        eprintln!("SKIP: no chromium (apt-get install chromium, or run scripts/test.sh)");
    }
    p
}

/// A pipe whose two ends are numbered 10 or above (so that placing them at 3 and 4 in the
/// child cannot clobber one another), close-on-exec.
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 fills two fds we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let high = |fd: i32| {
        // SAFETY: duplicating an fd we own to a new one we own, then closing the old.
        let h = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) };
        assert!(h >= 10);
        unsafe { libc::close(fd) };
        unsafe { OwnedFd::from_raw_fd(h) }
    };
    (high(fds[0]), high(fds[1]))
}

/// Chromium with a DevTools connection on a pipe; killed when dropped.
struct Browser {
    child: Child,
    to: File,
    from: mpsc::Receiver<Value>,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn launch(bin: &PathBuf, url: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let (to_read, to_write) = pipe(); // we write, Chromium reads on fd 3
        let (from_read, from_write) = pipe(); // Chromium writes on fd 4, we read
        let (r3, w4) = (to_read.as_raw_fd(), from_write.as_raw_fd());
        let mut cmd = Command::new(bin);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
            "--window-size=1280,900",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        // SAFETY: only async-signal-safe calls (dup2) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::dup2(r3, 3) < 0 || libc::dup2(w4, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("start chromium");
        drop(to_read);
        drop(from_write);
        let (tx, rx) = mpsc::channel();
        let reader = File::from(from_read);
        std::thread::spawn(move || {
            let mut r = BufReader::new(reader);
            let mut buf = Vec::new();
            while r.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
                buf.clear();
            }
        });
        Browser {
            child,
            to: File::from(to_write),
            from: rx,
            next_id: 0,
            _profile: profile,
        }
    }

    /// Sends a command (to a page session when given) and waits at most 30 s for its answer.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no answer from chromium to {method}"));
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Base64 (standard alphabet, with padding) to bytes.
fn base64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.as_bytes().chunks(4) {
        let data: Vec<u8> = chunk
            .iter()
            .copied()
            .filter(|c| *c != b'=')
            .map(val)
            .collect();
        let mut n = 0u32;
        for (i, v) in data.iter().enumerate() {
            n |= u32::from(*v) << (18 - 6 * i);
        }
        for i in 0..data.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

struct Page {
    browser: Browser,
    session: String,
}

impl Page {
    fn eval(&mut self, expr: &str) -> Value {
        let s = self.session.clone();
        let r = self.browser.call(
            Some(&s),
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    fn state_of(&mut self, service: &str) -> Value {
        self.eval(&format!(
            "(() => {{ const r = document.querySelector('[data-service=\"{service}\"]'); return r ? r.dataset.state : null; }})()"
        ))
    }

    /// Waits (at most `limit`) until the page shows `service` in `state`; how long it took.
    fn wait_state(&mut self, service: &str, state: &str, limit: Duration) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if self.state_of(service) == json!(state) {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn screenshot(&mut self, path: &PathBuf, width: u32, height: u32, mobile: bool) {
        let s = self.session.clone();
        self.browser.call(
            Some(&s),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": if mobile { 2 } else { 1 }, "mobile": mobile}),
        );
        std::thread::sleep(Duration::from_millis(1500));
        let r = self.browser.call(
            Some(&s),
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": false}),
        );
        let png = base64(r["data"].as_str().expect("screenshot data"));
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png).unwrap();
        println!("screenshot: {}", path.display());
    }
}

fn open_page(bin: &PathBuf, url: &str) -> Page {
    let mut browser = Browser::launch(bin, url);
    // The page target Chromium opened for the URL.
    let deadline = Instant::now() + Duration::from_secs(30);
    let target = loop {
        let r = browser.call(None, "Target.getTargets", json!({}));
        let found = r["targetInfos"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["type"] == "page" && t["url"].as_str().is_some_and(|u| u.starts_with(url)))
            .map(|t| t["targetId"].as_str().unwrap().to_string());
        if let Some(t) = found {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "chromium opened no page for {url}: {r}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let r = browser.call(
        None,
        "Target.attachToTarget",
        json!({"targetId": target, "flatten": true}),
    );
    let session = r["sessionId"].as_str().unwrap().to_string();
    Page { browser, session }
}

#[test]
fn the_page_shows_a_service_going_down_and_up_live_in_chromium() {
    let Some(bin) = chromium() else { return };
    let ws = Ws::bundled();
    let d = HttpDaemon::start(&ws, &[]);
    let url = format!("http://127.0.0.1:{}/", d.port);
    let mut page = open_page(&bin, &url);
    let t = page.wait_state("service_2", "up", Duration::from_secs(30));
    assert!(t.is_some(), "the page never showed service_2 up");
    // Some traffic for the counters and the sparkline.
    for _ in 0..4 {
        let o = ws.run(&["requests", "generate", "300"]);
        assert!(o.status.success());
        std::thread::sleep(Duration::from_millis(700));
    }

    std::fs::remove_file(ws.path("balanceador/service_2/service_2.txt")).unwrap();
    let down = page.wait_state("service_2", "down", Duration::from_secs(10));
    println!("page showed service_2 down after {down:?} (no reload)");
    assert!(
        down.is_some(),
        "the page did not show service_2 down within 10 s"
    );
    // Without a reload: the page's own marker set at load is still there.
    let loads = page.eval("performance.getEntriesByType('navigation').length");
    assert_eq!(loads, json!(1));
    let events = page.eval("document.getElementById('events').textContent");
    assert!(
        events
            .as_str()
            .unwrap_or("")
            .contains("service_2 UP → DOWN"),
        "no health event on the page: {events}"
    );
    let dir = common::repo_root().join("target/http-page");
    std::fs::create_dir_all(&dir).unwrap();
    page.screenshot(&dir.join("desktop-service-down.png"), 1280, 900, false);
    page.screenshot(&dir.join("phone-service-down.png"), 390, 844, true);

    std::fs::write(ws.path("balanceador/service_2/service_2.txt"), "").unwrap();
    let up = page.wait_state("service_2", "up", Duration::from_secs(10));
    println!("page showed service_2 up again after {up:?}");
    assert!(
        up.is_some(),
        "the page did not show service_2 up again within 10 s"
    );
    page.screenshot(&dir.join("desktop-all-up.png"), 1280, 900, false);
}
