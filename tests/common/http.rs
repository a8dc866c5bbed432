//! Helpers for the HTTP tests (#14): a daemon with `--listen` on a free loopback port, and a
//! minimal HTTP/1.1 client over a TcpStream (no client crate needed for GETs).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::Duration;

use super::{wait_until, Ws};

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One response: status code, raw head, body.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub head: String,
    pub body: String,
}

/// `GET path` with `Connection: close` and extra header lines; `None` when nothing answered
/// within 10 s.
pub fn get(port: u16, path: &str, headers: &[&str]) -> Option<Resp> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some(Resp {
        status,
        head: head.to_string(),
        body: body.to_string(),
    })
}

/// `tfops run --listen 127.0.0.1:PORT` in the background, its log in `daemon.log`; stopped
/// with SIGTERM (then SIGKILL) when dropped.
pub struct HttpDaemon {
    pub child: Child,
    pub port: u16,
}

impl HttpDaemon {
    /// Starts it and waits (at most 20 s) until `/healthz` answers.
    pub fn start(ws: &Ws, env: &[(&str, &str)]) -> HttpDaemon {
        let port = free_port();
        let log = std::fs::File::create(ws.path("daemon.log")).unwrap();
        let mut c = ws.cmd();
        c.args(["run", "--listen", &format!("127.0.0.1:{port}")])
            .env_remove("TFOPS_HTTP_TOKEN")
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            c.env(k, v);
        }
        let child = c.spawn().expect("start tfops run");
        let d = HttpDaemon { child, port };
        let up = wait_until(Duration::from_secs(20), || {
            get(port, "/healthz", &[]).is_some_and(|r| r.status == 200)
        });
        assert!(
            up,
            "no /healthz on port {port}:\n{}",
            std::fs::read_to_string(ws.path("daemon.log")).unwrap_or_default()
        );
        d
    }

    /// SIGTERM, then its exit code (`None` when it was still running after 10 s).
    pub fn stop(&mut self) -> Option<i32> {
        if let Ok(Some(s)) = self.child.try_wait() {
            return s.code();
        }
        // SAFETY: signalling our own child, still running.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let mut code = None;
        wait_until(Duration::from_secs(10), || match self.child.try_wait() {
            Ok(Some(s)) => {
                code = s.code();
                true
            }
            _ => false,
        });
        code
    }

    pub fn get(&self, path: &str) -> Resp {
        get(self.port, path, &[]).unwrap_or_else(|| panic!("GET {path}: no answer"))
    }
}

impl Drop for HttpDaemon {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return; // already reaped: its pid may be someone else's now
        }
        // SAFETY: signalling our own child, still running.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let stopped = wait_until(Duration::from_secs(10), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if !stopped {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Sample lines of a Prometheus text scrape: `name{labels}` → value.
pub fn samples(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}
