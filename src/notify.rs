//! systemd's readiness protocol (`sd_notify`), written by hand: one datagram per state change
//! to the unix socket named by `NOTIFY_SOCKET` (a path, or `@name` for the abstract namespace).
//! Without `NOTIFY_SOCKET` (not started by systemd with `Type=notify`) every call is a no-op.
//!
//! What `tfops run` sends: `READY=1` once the supervisor is up; on SIGHUP
//! `RELOADING=1` with `MONOTONIC_USEC=<now>` (as `Type=notify-reload` expects), then
//! `READY=1` again; `STOPPING=1` on SIGTERM/SIGINT. A leaf: it imports nothing from the crate.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Why a notification could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET={socket:?} is not a usable socket address: {source}")]
    Address { socket: String, source: io::Error },
    #[error("cannot send to NOTIFY_SOCKET={socket:?}: {source}")]
    Send { socket: String, source: io::Error },
}

/// The socket address `NOTIFY_SOCKET` names.
fn address(socket: &str) -> io::Result<SocketAddr> {
    match socket.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt as _;
            SocketAddr::from_abstract_name(name.as_bytes())
        }
        None => SocketAddr::from_pathname(socket),
    }
}

/// Sends `state` (newline-separated `KEY=VALUE` assignments) to `socket`.
///
/// # Errors
/// When the address is not valid or the datagram cannot be sent.
pub fn send_to(socket: &str, state: &str) -> Result<(), NotifyError> {
    let addr = address(socket).map_err(|source| NotifyError::Address {
        socket: socket.to_string(),
        source,
    })?;
    let s = UnixDatagram::unbound().map_err(|source| NotifyError::Send {
        socket: socket.to_string(),
        source,
    })?;
    s.send_to_addr(state.as_bytes(), &addr)
        .map_err(|source| NotifyError::Send {
            socket: socket.to_string(),
            source,
        })?;
    Ok(())
}

/// Sends `state` to `NOTIFY_SOCKET` when it is set; `Ok(false)` when it is not.
///
/// # Errors
/// As [`send_to`].
pub fn notify(state: &str) -> Result<bool, NotifyError> {
    match std::env::var("NOTIFY_SOCKET") {
        Ok(socket) if !socket.is_empty() => send_to(&socket, state).map(|()| true),
        _ => Ok(false),
    }
}

/// `CLOCK_MONOTONIC` in microseconds, as `MONOTONIC_USEC` wants it.
pub fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_MONOTONIC always exists.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// The message for "reloading now".
pub fn reloading_message(monotonic_usec: u64) -> String {
    format!("RELOADING=1\nMONOTONIC_USEC={monotonic_usec}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_reach_a_path_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        send_to(path.to_str().unwrap(), "READY=1").unwrap();
        let mut buf = [0u8; 256];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn datagrams_reach_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt as _;
        let name = format!("tfops-notify-test-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
            .unwrap();
        send_to(&format!("@{name}"), "STOPPING=1").unwrap();
        let mut buf = [0u8; 256];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }

    #[test]
    fn a_missing_socket_is_an_error_naming_it() {
        let e = send_to("/nonexistent/tfops.sock", "READY=1").unwrap_err();
        assert!(e.to_string().contains("/nonexistent/tfops.sock"), "{e}");
    }

    #[test]
    fn reloading_carries_the_monotonic_clock() {
        let a = monotonic_usec();
        let b = monotonic_usec();
        assert!(a > 0 && b >= a);
        assert_eq!(reloading_message(42), "RELOADING=1\nMONOTONIC_USEC=42");
    }
}
