//! `tfops requests generate N [--prefix P]`: writes N requests into the intake, each written
//! under a dot name and renamed into place without overwriting (safe to run twice, and safe
//! beside a running supervisor: it never sees a half-written request).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Local;

use crate::fsutil::{json_ts, name_ts, rename_noreplace};
use crate::workspace::ConfiguredWorkspace;

/// # Errors
/// When the intake cannot be written (the message names it).
pub fn generate(ctx: &ConfiguredWorkspace, n: u64, prefix: &str) -> anyhow::Result<i32> {
    if prefix.is_empty() || prefix.contains('/') || prefix.starts_with('.') || prefix.contains('\0')
    {
        anyhow::bail!(
            "--prefix {prefix:?} cannot be used in a file name; use letters, digits, - or _"
        );
    }
    let dir = ctx.ws.intake();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create {}; check its permissions", dir.display()))?;
    let pid = std::process::id();
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let mut written = 0u64;
    for i in 1..=n {
        let now = Local::now();
        let ts = name_ts(now);
        let tmp = dir.join(format!(".tfops-gen-{pid}-{i}.tmp"));
        {
            // A fresh file, never written through a link planted at the temp name.
            let _ = std::fs::remove_file(&tmp);
            let mut f = {
                use std::os::unix::fs::OpenOptionsExt;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o644)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&tmp)
            }
            .with_context(|| format!("cannot write into {}", dir.display()))?;
            writeln!(f, "request {i} of {n}, generated at {}", json_ts(now))
                .and_then(|_| f.flush())
                .with_context(|| format!("cannot write {}", tmp.display()))?;
        }
        let mut k = 1u32;
        loop {
            let name = if k == 1 {
                format!("{prefix}_{ts}_{i}.txt")
            } else {
                format!("{prefix}_{ts}_{i}-{k}.txt")
            };
            match rename_noreplace(&tmp, &dir.join(&name)) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => k += 1,
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(e)
                        .with_context(|| format!("cannot create {name} in {}", dir.display()));
                }
            }
        }
        written += 1;
        if tty && !crate::cli::logging::quiet() && last_progress.elapsed() >= Duration::from_secs(1)
        {
            last_progress = Instant::now();
            eprint!("\r{written}/{n} requests written");
        }
    }
    if tty && !crate::cli::logging::quiet() && started.elapsed() >= Duration::from_secs(1) {
        eprintln!();
    }
    println!("{written} requests written to {}", ctx.ws.rel(&dir));
    Ok(0)
}
