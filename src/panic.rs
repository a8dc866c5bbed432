//! Panics as values: [`catch`] turns a panic into an `Err` (handlers, and calls into libraries
//! that can panic on hostile input), and [`install_policy`] decides what an uncaught one does.
//!
//! The hook knows whether a [`catch`] frame is active on the panicking thread: a caught panic
//! is logged at debug level only (it is reported by whoever caught it); an uncaught one prints
//! as usual and, in the daemon, ends the process — actix would otherwise let the actor die
//! and the rest run on, silently degraded.
//!
//! For the binary, [`install_user_facing`] goes first: no panic output ever reaches a user,
//! only one sentence (unless `RUST_BACKTRACE` asks for the details), and a write to a closed
//! stdout (`tfops status | head -1`) ends the process quietly with exit 0.

use std::cell::Cell;

thread_local! {
    /// How many [`catch`] frames are active on this thread.
    static CATCHING: Cell<u32> = const { Cell::new(0) };
}

/// Exit code of a panic that no [`catch`] frame handles, in the daemon.
pub const EXIT_UNCAUGHT_PANIC: i32 = 101;

/// Runs `f`, turning a panic into `Err` with its message.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    CATCHING.with(|c| c.set(c.get() + 1));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(c.get().saturating_sub(1)));
    r.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string())
    })
}

/// What a panic's payload says.
fn payload_text(info: &std::panic::PanicHookInfo<'_>) -> String {
    let p = info.payload();
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

/// Whether a panic is `print!`'s on a closed stdout or stderr.
pub fn is_closed_output(msg: &str) -> bool {
    (msg.starts_with("failed printing to stdout") || msg.starts_with("failed printing to stderr"))
        && msg.contains("Broken pipe")
}

/// Installs the binary's hook: a closed stdout exits 0 silently; any other uncaught panic prints
/// one sentence on stderr (the full report only with `RUST_BACKTRACE` set) and unwinds on (the
/// command line turns it into exit 1). Caught panics ([`catch`]) print nothing.
/// [`install_policy`] may be installed on top (it chains to this one).
pub fn install_user_facing() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if CATCHING.with(|c| c.get()) > 0 {
            return;
        }
        let msg = payload_text(info);
        if is_closed_output(&msg) {
            std::process::exit(0);
        }
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            default(info);
            return;
        }
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let sentence = format!(
            "error: tfops hit an internal error ({}{at}); this is a bug: please report it with the command you ran (RUST_BACKTRACE=1 shows the details)\n",
            msg.replace('\n', " ")
        );
        let _ = std::io::Write::write_all(&mut std::io::stderr(), sentence.as_bytes());
    }));
}

/// Installs the panic hook. `exit_on_uncaught`: an uncaught panic ends the process with
/// [`EXIT_UNCAUGHT_PANIC`] (the daemon: every start recovers what a crash leaves).
pub fn install_policy(exit_on_uncaught: bool) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if CATCHING.with(|c| c.get()) > 0 {
            log::debug!("caught: {info}");
            return;
        }
        default(info);
        if exit_on_uncaught {
            log::error!("a panic outside a supervised handler; exiting, the next start recovers");
            std::process::exit(EXIT_UNCAUGHT_PANIC);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_output_panics_are_recognised() {
        assert!(is_closed_output(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(is_closed_output(
            "failed printing to stderr: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_output(
            "failed printing to stdout: No space left on device"
        ));
        assert!(!is_closed_output("index out of bounds"));
    }

    #[test]
    fn catch_turns_a_panic_into_its_message() {
        assert_eq!(catch(|| 1), Ok(1));
        assert_eq!(catch(|| -> i32 { panic!("boom") }), Err("boom".to_string()));
    }
}
