//! systemd readiness notification (`sd_notify(3)`): one `READY=1` datagram to `$NOTIFY_SOCKET`
//! once the agent is registered, so that `Type=notify` in `ecs.service` makes `systemctl start`
//! return when the container instance exists, not when the process has merely started.
//!
//! Owns only the notification protocol (a unix datagram socket, path or abstract name). It must
//! not block, retry or fail the agent: outside systemd (no `$NOTIFY_SOCKET`) it does nothing, and
//! a failed send is logged and otherwise ignored.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

/// The variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Tells systemd the agent is ready (registered). A no-op when not started by systemd.
pub fn ready() {
    let socket = std::env::var_os(NOTIFY_SOCKET);
    match notify(socket.as_deref(), "READY=1") {
        Ok(true) => tracing::debug!("told systemd the agent is ready"),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "cannot tell systemd the agent is ready"),
    }
}

/// Sends `state` (newline-separated `KEY=VALUE` assignments) to the notification socket `socket`
/// (the value of `$NOTIFY_SOCKET`: a path, or `@name` for the abstract namespace). `Ok(false)`
/// when there is no socket to send to.
pub fn notify(socket: Option<&OsStr>, state: &str) -> io::Result<bool> {
    let Some(socket) = socket.filter(|s| !s.is_empty()) else {
        return Ok(false);
    };
    let sender = UnixDatagram::unbound()?;
    let bytes = socket.as_bytes();
    let sent = if let Some(name) = bytes.strip_prefix(b"@") {
        send_abstract(&sender, name, state)?
    } else if bytes.starts_with(b"/") {
        sender.send_to(state.as_bytes(), socket)?
    } else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{NOTIFY_SOCKET}={} is neither a path nor an @abstract name",
                socket.display()
            ),
        ));
    };
    if sent != state.len() {
        return Err(io::Error::new(io::ErrorKind::WriteZero, "short datagram"));
    }
    Ok(true)
}

#[cfg(target_os = "linux")]
fn send_abstract(sender: &UnixDatagram, name: &[u8], state: &str) -> io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sender.send_to_addr(state.as_bytes(), &addr)
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_: &UnixDatagram, _: &[u8], _: &str) -> io::Result<usize> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract unix sockets exist only on Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_socket_nothing_is_sent() {
        assert!(!notify(None, "READY=1").unwrap());
        assert!(!notify(Some(OsStr::new("")), "READY=1").unwrap());
    }

    #[test]
    fn sends_ready_to_a_socket_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        assert!(notify(Some(path.as_os_str()), "READY=1").unwrap());
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_ready_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("ecs-agent-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let receiver = UnixDatagram::bind_addr(&addr).unwrap();
        let socket = format!("@{name}");
        assert!(notify(Some(OsStr::new(&socket)), "READY=1").unwrap());
        let mut buf = [0u8; 64];
        let n = receiver.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }

    #[test]
    fn a_relative_socket_is_an_error() {
        assert!(notify(Some(OsStr::new("relative/sock")), "READY=1").is_err());
    }
}
