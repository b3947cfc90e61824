//! A real forward proxy for the proxy tests: Debian's `squid` on a free loopback port, with a
//! configuration written by the test, killed on drop (a failing test included).
//!
//! Names in its hosts file resolve for squid only: an agent given such a name as its endpoint
//! can reach it through the proxy and in no other way. Its access log says what went through it
//! (a `CONNECT` is logged when its tunnel closes).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::{ChildProcess, free_port, wait_until};

/// A running squid. Field order is drop order: the process dies before its directory goes.
#[derive(Debug)]
pub struct ForwardProxy {
    /// The squid process.
    pub process: ChildProcess,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    dir: TempDir,
}

/// `$ECS_TEST_SQUID_BIN`, else Debian's `/usr/sbin/squid`, else `squid` on the PATH.
fn squid_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("ECS_TEST_SQUID_BIN") {
        return bin.into();
    }
    let debian = PathBuf::from("/usr/sbin/squid");
    if debian.exists() {
        debian
    } else {
        PathBuf::from("squid")
    }
}

impl ForwardProxy {
    /// Starts squid on a free loopback port; `hosts` are `(name, address)` pairs only it
    /// resolves. It forwards plain HTTP and tunnels `CONNECT` to any port, for loopback clients.
    pub fn start(hosts: &[(&str, &str)]) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("ecs-e2e-squid-")
            .tempdir()
            .context("cannot create squid's directory")?;
        // Run as root, squid drops to its own user, which must write its logs here.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))?;
        let path = |name: &str| dir.path().join(name);
        let hosts_text: String = hosts
            .iter()
            .map(|(name, addr)| format!("{addr} {name}\n"))
            .collect();
        std::fs::write(path("hosts"), hosts_text)?;
        let addr = format!("127.0.0.1:{}", free_port()?);
        let config = format!(
            "http_port {addr}\n\
             hosts_file {hosts}\n\
             http_access allow all\n\
             cache deny all\n\
             access_log stdio:{access}\n\
             cache_log {cache}\n\
             coredump_dir {dir}\n\
             pid_filename none\n\
             pinger_enable off\n\
             shutdown_lifetime 0 seconds\n",
            hosts = path("hosts").display(),
            access = path("access.log").display(),
            cache = path("cache.log").display(),
            dir = dir.path().display(),
        );
        std::fs::write(path("squid.conf"), config)?;
        let mut cmd = Command::new(squid_bin());
        cmd.arg("-N").arg("-d1").arg("-f").arg(path("squid.conf"));
        let mut process = ChildProcess::spawn("squid", &mut cmd).context(
            "cannot start squid: install Debian's squid (scripts/test does) or set ECS_TEST_SQUID_BIN",
        )?;
        wait_until(Duration::from_secs(30), "squid to listen", || {
            anyhow::ensure!(process.is_running(), "squid exited: {}", process.tail());
            anyhow::Ok(TcpStream::connect(&addr).is_ok())
        })?;
        Ok(ForwardProxy { process, addr, dir })
    }

    /// `http://127.0.0.1:PORT`, for `HTTP_PROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What squid has logged so far, one line per request or tunnel.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// `GET url` through the proxy (plain HTTP, HTTP/1.0); the answer's status line.
    pub fn get(&self, url: &str) -> Result<String> {
        let mut stream = TcpStream::connect(&self.addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        write!(stream, "GET {url} HTTP/1.0\r\n\r\n")?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        let answer = String::from_utf8_lossy(&answer);
        Ok(answer.lines().next().unwrap_or_default().to_string())
    }
}
