//! `tfops demo`: a guided tour on a throw-away copy of the workspace. The real workspace is
//! only read (its `iac/` and `config/scenarios/` are copied); everything happens in a temp
//! folder that is removed at the end.
//!
//! Each step says what it does, does it with the real machinery — a real `tfops run` daemon
//! for routing and failover, the cost reconciliation with a fake clock, a snapshot, a restore,
//! a drift scenario — and checks the result. Exit 0 only if every step did what it says.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{Local, TimeZone};

use crate::clock::{Clock, FakeClock};
use crate::config::parse_config;
use crate::service_id::ServiceId;
use crate::workspace::{ConfiguredWorkspace, Workspace};

/// Config of the copy: quick intervals so the tour takes seconds; no schedule (the schedule
/// step uses its own, with a fake clock, so the tour does the same at any hour).
const DEMO_CONFIG: &str = r#"balancer {
  rescan = "500ms"
  settle = "50ms"
}
health {
  interval = "500ms"
}
drift {
  interval = "1h"
}
"#;

const NIGHT_SCHEDULE: &str = r#"schedule "night" {
  services = ["service_3"]
  off      = "00:00-06:00"
}
"#;

struct Tour {
    ws: Workspace,
    results: Vec<(String, bool, Duration)>,
}

impl Tour {
    fn step(&mut self, title: &str, f: impl FnOnce(&Workspace) -> anyhow::Result<String>) {
        println!("\n== {} ==", title);
        let t = Instant::now();
        let ok = match f(&self.ws) {
            Ok(msg) => {
                println!("   ok: {msg}");
                true
            }
            Err(e) => {
                println!("   FAILED: {e:#}");
                false
            }
        };
        self.results.push((title.to_string(), ok, t.elapsed()));
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let t = to.join(e.file_name());
        let ft = e.file_type()?;
        if ft.is_dir() {
            copy_tree(&e.path(), &t)?;
        } else if ft.is_file() {
            std::fs::copy(e.path(), &t)?;
        }
    }
    Ok(())
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> anyhow::Result<()> {
    let t = Instant::now();
    while t.elapsed() < timeout {
        if f() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    anyhow::bail!("timed out after {:?} waiting for {what}", timeout)
}

fn processed(ws: &Workspace, n: ServiceId) -> usize {
    std::fs::read_dir(ws.service_dir(n))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("processed_"))
                .count()
        })
        .unwrap_or(0)
}

fn counts(ws: &Workspace) -> [usize; 3] {
    [1, 2, 3].map(|n| processed(ws, ServiceId(n)))
}

fn generate(ws: &Workspace, n: usize, prefix: &str) -> anyhow::Result<()> {
    let dir = ws.intake();
    std::fs::create_dir_all(&dir)?;
    for i in 1..=n {
        let name = format!("{prefix}_{i}.txt");
        let tmp = dir.join(format!(".{name}"));
        std::fs::write(&tmp, format!("demo request {i}\n"))?;
        crate::fsutil::rename_noreplace(&tmp, &dir.join(&name))?;
    }
    Ok(())
}

fn health_log(ws: &Workspace) -> String {
    std::fs::read_to_string(ws.health_log()).unwrap_or_default()
}

/// The state the running supervisor's `status.json` gives service `id` ("up", "down", "off").
/// The health log is written by the health check before the supervisor hears of it: only this
/// says that routing knows.
fn routing_state(ws: &Workspace, id: ServiceId) -> Option<String> {
    let b = std::fs::read(ws.status_json()).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&b).ok()?;
    let name = id.to_string();
    v["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name.as_str())
        .and_then(|s| s["state"].as_str().map(str::to_string))
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// # Errors
/// When the temp copy cannot be made; a failing step is reported and gives exit 1.
pub fn run(ctx: &ConfiguredWorkspace) -> anyhow::Result<i32> {
    let started = Instant::now();
    let tmp = std::env::temp_dir().join(format!("tfops-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    copy_tree(&ctx.ws.root.join("iac"), &tmp.join("iac"))
        .with_context(|| format!("cannot copy {}/iac", ctx.ws.root.display()))?;
    copy_tree(&ctx.ws.scenarios_dir(), &tmp.join("config/scenarios")).ok();
    std::fs::write(tmp.join("config/tfops.hcl"), DEMO_CONFIG)?;
    println!(
        "tfops demo: a tour on a throw-away copy in {} (the workspace {} is only read)",
        tmp.display(),
        ctx.ws.root.display()
    );
    let mut tour = Tour {
        ws: Workspace::new(&tmp),
        results: Vec::new(),
    };
    let exe = std::env::current_exe().context("cannot find the tfops binary")?;
    let mut daemon: Option<Daemon> = None;

    tour.step(
        "1. start the supervisor (tfops run) and route 9 requests",
        |ws| {
            let log = std::fs::File::create(ws.root.join("daemon.log"))?;
            let child = Command::new(&exe)
                .arg("--root")
                .arg(&ws.root)
                .arg("run")
                .env_remove("TFOPS_ROOT")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?;
            daemon = Some(Daemon(child));
            wait_until("the supervisor to start", Duration::from_secs(10), || {
                ws.status_json().exists()
            })?;
            generate(ws, 9, "demo_a")?;
            println!("   9 requests written to balanceador/incoming_requests/");
            wait_until("9 deliveries", Duration::from_secs(10), || {
                counts(ws).iter().sum::<usize>() == 9
            })?;
            let c = counts(ws);
            anyhow::ensure!(c == [3, 3, 3], "round robin gave {c:?}, expected [3, 3, 3]");
            Ok(format!("routed round robin: service_1..3 got {c:?}"))
        },
    );

    tour.step(
        "2. service_2 loses its marker: traffic moves away, then comes back",
        |ws| {
            std::fs::remove_file(ws.marker(ServiceId(2)))?;
            println!("   rm balanceador/service_2/service_2.txt");
            wait_until(
                "service_2 DOWN in health.log",
                Duration::from_secs(10),
                || health_log(ws).contains("service_2 DOWN"),
            )?;
            wait_until(
                "the supervisor to take service_2 off routing",
                Duration::from_secs(10),
                || routing_state(ws, ServiceId(2)).as_deref() == Some("down"),
            )?;
            let before = counts(ws);
            generate(ws, 6, "demo_b")?;
            wait_until("6 more deliveries", Duration::from_secs(10), || {
                counts(ws).iter().sum::<usize>() == 15
            })?;
            let during = counts(ws);
            anyhow::ensure!(
                during[1] == before[1],
                "service_2 got requests while down: {during:?}"
            );
            println!("   while down: {during:?} (service_2 got none)");
            std::fs::write(ws.marker(ServiceId(2)), "service_2 active\n")?;
            wait_until("service_2 UP again", Duration::from_secs(10), || {
                health_log(ws).matches("service_2 UP").count() >= 2
            })?;
            wait_until(
                "the supervisor to route to service_2 again",
                Duration::from_secs(10),
                || routing_state(ws, ServiceId(2)).as_deref() == Some("up"),
            )?;
            generate(ws, 3, "demo_c")?;
            wait_until("3 more deliveries", Duration::from_secs(10), || {
                counts(ws).iter().sum::<usize>() == 18
            })?;
            let after = counts(ws);
            anyhow::ensure!(after[1] > during[1], "service_2 not used again: {after:?}");
            Ok(format!("back up and used again: {after:?}"))
        },
    );

    tour.step("3. stop the supervisor gracefully (SIGTERM)", |_| {
        let Some(mut d) = daemon.take() else {
            anyhow::bail!("the supervisor did not start")
        };
        // SAFETY: signalling our own child.
        unsafe { libc::kill(d.0.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        loop {
            if let Some(s) = d.0.try_wait()? {
                anyhow::ensure!(s.success(), "exited with {s}");
                return Ok("exit 0, nothing half-moved, logs flushed".into());
            }
            anyhow::ensure!(
                t.elapsed() < Duration::from_secs(10),
                "did not stop within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    });

    tour.step(
        "4. the night schedule switches service_3 off and on (fake clock)",
        |ws| {
            let text = format!("{DEMO_CONFIG}{NIGHT_SCHEDULE}");
            let cfg =
                parse_config(&text, "demo config", &ws.root).map_err(|e| anyhow::anyhow!("{e}"))?;
            let today = Local::now().date_naive();
            let at = |h: u32| {
                Local
                    .from_local_datetime(&today.and_hms_opt(h, 0, 0).unwrap_or_default())
                    .earliest()
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .unwrap_or_else(chrono::Utc::now)
            };
            let clock = FakeClock::new(at(3));
            println!("   clock set to 03:00 local, schedule \"night\" off 00:00-06:00");
            let off = crate::schedule::reconcile::apply_now(ws, &cfg, &clock);
            anyhow::ensure!(off.contains(&ServiceId(3)), "service_3 not off at 03:00");
            anyhow::ensure!(
                ws.archived_dir(ServiceId(3)).is_dir(),
                "archived/service_3 missing"
            );
            anyhow::ensure!(
                !ws.service_dir(ServiceId(3)).exists(),
                "service_3 still in balanceador/"
            );
            let h = crate::health::check(ws, ServiceId(3), false);
            println!("   at 03:00: service_3 {} ({})", h.state.word(), h.reason);
            clock.set(at(7));
            let off = crate::schedule::reconcile::apply_now(ws, &cfg, &clock);
            anyhow::ensure!(!off.contains(&ServiceId(3)), "service_3 still off at 07:00");
            anyhow::ensure!(ws.service_dir(ServiceId(3)).is_dir(), "service_3 not back");
            let kept = processed(ws, ServiceId(3));
            let log = std::fs::read_to_string(ws.cost_log()).unwrap_or_default();
            for line in log.lines() {
                println!("   cost.log: {line}");
            }
            anyhow::ensure!(
                log.contains("service_3 OFF") && log.contains("service_3 ON"),
                "cost.log lacks the OFF/ON lines"
            );
            let _ = clock.now();
            Ok(format!(
                "archived at 03:00, back at 07:00 with its {kept} requests"
            ))
        },
    );

    let cfg = crate::config::Config::load(&tour.ws.config_file(), "config/tfops.hcl", &tmp)
        .map_err(|e| anyhow::anyhow!("{e}"))?;

    tour.step("5. snapshot the state", |_| {
        let t = crate::state::snapshot::take(&cfg, "demo")?;
        Ok(format!(
            "backups/{} (serial {}, {} resources)",
            t.id, t.meta.serial, t.meta.resources
        ))
    });

    tour.step(
        "6. the state file is deleted, then restored from the newest snapshot",
        |ws| {
            let state = ws.root.join("iac/terraform.tfstate");
            let before = std::fs::read(&state)?;
            std::fs::remove_file(&state)?;
            println!("   rm iac/terraform.tfstate");
            let r = crate::state::restore::restore(
                &cfg,
                &crate::state::restore::Target::Latest,
                false,
            )?;
            let after = std::fs::read(&state)?;
            anyhow::ensure!(
                after == before,
                "the restored state differs from the one deleted"
            );
            Ok(format!(
                "restored {} (serial {}), byte for byte",
                r.id, r.serial
            ))
        },
    );

    tour.step(
        "7. the original rename drift: detected, then reverted byte for byte",
        |ws| {
            let main_tf = ws.root.join("iac/main.tf");
            let before = std::fs::read(&main_tf)?;
            let file = ws.scenarios_dir().join("rename_service_1.hcl");
            let (s, o) = crate::drift::scenario::run(ws, &cfg, &file, true, false)?;
            print!(
                "{}",
                crate::cli::scenario::render(&s, &o, "in place on the demo copy")
                    .lines()
                    .map(|l| format!("   {l}\n"))
                    .collect::<String>()
            );
            anyhow::ensure!(o.exit_code() == 0, "an expectation did not hold");
            let report = o.detection.as_ref().map_err(|e| anyhow::anyhow!("{e}"))?;
            anyhow::ensure!(report.has_drift(), "the rename was not detected as drift");
            let after = std::fs::read(&main_tf)?;
            anyhow::ensure!(
                after == before,
                "iac/main.tf was not put back byte for byte"
            );
            Ok("create + destroy + renamed detected; iac/main.tf put back byte for byte".into())
        },
    );

    let _ = std::fs::remove_dir_all(&tmp);
    println!("\nSummary ({:.1} s):", started.elapsed().as_secs_f64());
    let mut all = true;
    for (title, ok, d) in &tour.results {
        all &= ok;
        println!(
            "  {} {title} ({:.2} s)",
            if *ok { "PASS" } else { "FAIL" },
            d.as_secs_f64()
        );
    }
    println!(
        "{}",
        if all {
            "Every step did what it says."
        } else {
            "Some steps failed (see above)."
        }
    );
    Ok(if all { 0 } else { 1 })
}
