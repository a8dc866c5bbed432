//! Open-file budget: how many services fit under the process's open-file limit.
//!
//! A service costs descriptors for as long as it runs: its thread's event loop (an epoll and
//! an eventfd), its desk's `load_N.jsonl` and delivery journal, and for the length of a batch
//! the intake, inbox and errors folders. [`FDS_PER_SERVICE`] is that count with a margin (a
//! test measures the real cost and keeps it below the constant). [`RESERVE`] covers the rest
//! of the daemon (logs, watches, the state keeper, a Terraform child's pipes…).
//!
//! `run` raises the soft limit to the hard one at start ([`raise_nofile`]); `config check`
//! and a reload refuse a `services.count` that would not fit ([`check_services`]), so that
//! a big count is a clear refusal, not a crash when the thousandth service opens its files.

/// Descriptors one running service may hold at once (measured cost plus a margin).
pub const FDS_PER_SERVICE: u64 = 10;

/// Descriptors kept for everything that is not a service.
pub const RESERVE: u64 = 256;

/// The open-file limits after raising the soft one to the hard one, `(soft, hard)`.
///
/// Best effort: when the raise is refused the current limits are returned.
pub fn raise_nofile() -> (u64, u64) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let cur = getrlimit(Resource::Nofile);
    // Linux caps RLIMIT_NOFILE at fs.nr_open even when the hard limit says "infinity".
    let hard = cur.maximum.unwrap_or_else(nr_open);
    let soft = cur.current.unwrap_or(hard);
    if soft < hard {
        let want = Rlimit {
            current: Some(hard),
            maximum: cur.maximum,
        };
        if setrlimit(Resource::Nofile, want).is_ok() {
            return (hard, hard);
        }
    }
    (soft, hard)
}

fn nr_open() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 20)
}

/// Descriptors `count` services need, everything else included.
pub fn needed(count: usize) -> u64 {
    RESERVE + FDS_PER_SERVICE * count as u64
}

/// Why `count` services do not fit under a soft limit of `limit` open files, or `Ok`.
///
/// # Errors
/// A sentence naming the numbers and what to do.
pub fn fits(count: usize, limit: u64) -> Result<(), String> {
    let need = needed(count);
    if need <= limit {
        Ok(())
    } else {
        let max = limit.saturating_sub(RESERVE) / FDS_PER_SERVICE;
        Err(format!(
            "services.count = {count} needs about {need} open files, more than this process may \
             open ({limit}, the hard limit of `ulimit -n`); at most {max} services fit: lower \
             services.count or raise the limit (LimitNOFILE= in a systemd unit)"
        ))
    }
}

/// [`fits`] under the limit `run` would have (the soft limit raised to the hard one).
///
/// # Errors
/// As [`fits`].
pub fn check_services(count: usize) -> Result<(), String> {
    fits(count, raise_nofile().0)
}

/// Descriptors this process holds now (`/proc/self/fd`), for tests and diagnostics.
pub fn open_fds() -> Option<u64> {
    std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|rd| rd.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_fits() {
        assert!(fits(3, 1024).is_ok());
        let e = fits(1000, 1024).unwrap_err();
        assert!(e.contains("services.count = 1000"), "{e}");
        assert!(e.contains(&format!("at most {}", (1024 - RESERVE) / FDS_PER_SERVICE)));
        assert!(fits(((1024 - RESERVE) / FDS_PER_SERVICE) as usize, 1024).is_ok());
    }

    #[test]
    fn raising_never_lowers() {
        let before = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        let (soft, hard) = raise_nofile();
        assert!(soft >= before.current.unwrap_or(0));
        assert!(soft <= hard);
    }
}
