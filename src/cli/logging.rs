//! Log setup: how much (by command, `-v`, `-q`, `RUST_LOG`) and in which form (a terminal or a
//! file gets timestamps; systemd's journal gets `<N>` priority prefixes and no timestamps).
//!
//! The daemon (`run`) logs at info by default. One-shot commands print their results on stdout
//! and log only with `-v` (warnings and errors always reach stderr). `-q` leaves errors only.
//! The demo's output is the tour alone.

use std::io::Write as _;
use std::os::fd::AsRawFd as _;

use std::sync::atomic::{AtomicBool, Ordering};

use log::LevelFilter;

use super::{Cli, Command};

/// The default level for a command line (before `RUST_LOG`).
pub fn level(cli: &Cli) -> LevelFilter {
    if cli.quiet {
        return LevelFilter::Error;
    }
    let base: usize = match &cli.command {
        Command::Run(a) if !a.once => 3,
        Command::Demo => 1,
        _ => 2,
    };
    const LEVELS: [LevelFilter; 6] = [
        LevelFilter::Off,
        LevelFilter::Error,
        LevelFilter::Warn,
        LevelFilter::Info,
        LevelFilter::Debug,
        LevelFilter::Trace,
    ];
    // The demo's -v shows what the tour's machinery logs (info), as for other one-shots.
    let base = if matches!(cli.command, Command::Demo) && cli.verbose > 0 {
        2
    } else {
        base
    };
    LEVELS[(base + cli.verbose as usize).min(LEVELS.len() - 1)]
}

/// The syslog priority of a level (as `sd-daemon.h`'s `SD_ERR`…).
pub fn priority(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

/// Whether stderr is connected to systemd's journal: `JOURNAL_STREAM` names the device and
/// inode of the stream systemd gave us, and stderr is still that stream (not redirected).
pub fn stderr_is_journal() -> bool {
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    let fd = std::io::stderr();
    let Ok(m) = rustix::fs::fstat(&fd) else {
        return false;
    };
    m.st_dev == dev && m.st_ino == ino
}

/// Installs the logger for this command line.
pub fn init(cli: &Cli) {
    QUIET.store(cli.quiet, Ordering::Relaxed);
    let mut b = env_logger::Builder::new();
    b.filter_level(level(cli));
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    if stderr_is_journal() {
        b.format(|buf, record| {
            writeln!(
                buf,
                "<{}>{}",
                priority(record.level()),
                record.args().to_string().replace('\n', " ")
            )
        });
    } else {
        b.format_timestamp_millis();
    }
    let _ = b.try_init();
}

static QUIET: AtomicBool = AtomicBool::new(false);

/// Whether `-q` was given: progress lines on stderr are not printed either.
pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Points stdout at /dev/null (`-q`): results, tables and progress go nowhere, errors still
/// reach stderr.
pub fn silence_stdout() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        // SAFETY: dup2 onto fd 1 with a descriptor we own; no Rust object owns fd 1.
        unsafe {
            libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn lvl(args: &[&str]) -> LevelFilter {
        let mut v = vec!["tfops"];
        v.extend_from_slice(args);
        level(&Cli::try_parse_from(v).unwrap())
    }

    #[test]
    fn one_shot_commands_log_only_with_v() {
        assert_eq!(lvl(&["backup"]), LevelFilter::Warn);
        assert_eq!(lvl(&["-v", "backup"]), LevelFilter::Info);
        assert_eq!(lvl(&["run", "--once"]), LevelFilter::Warn);
        assert_eq!(lvl(&["run"]), LevelFilter::Info);
        assert_eq!(lvl(&["run", "-v"]), LevelFilter::Debug);
        assert_eq!(lvl(&["-q", "run"]), LevelFilter::Error);
        assert_eq!(lvl(&["demo"]), LevelFilter::Error);
        assert_eq!(lvl(&["demo", "-v"]), LevelFilter::Info);
        assert_eq!(lvl(&["-vvvvv", "status"]), LevelFilter::Trace);
    }

    #[test]
    fn quiet_and_verbose_conflict() {
        assert!(Cli::try_parse_from(["tfops", "-q", "-v", "status"]).is_err());
    }

    #[test]
    fn priorities_are_syslogs() {
        assert_eq!(priority(log::Level::Error), 3);
        assert_eq!(priority(log::Level::Warn), 4);
        assert_eq!(priority(log::Level::Info), 6);
        assert_eq!(priority(log::Level::Debug), 7);
    }
}
