//! 169.254.170.2 on this host, pointed at one test agent's credentials port with the real
//! `ecs-agent host-setup apply`, and taken down again with `host-setup remove`.
//!
//! The rules are host-wide (one 169.254.170.2:80 for every process and container), so every test
//! that installs them holds an exclusive flock on [`LINK_LOCAL_LOCK`] for as long as they exist;
//! concurrent tests wait their turn. [`LinkLocalRoutes`] removes its rules on drop, also when the
//! test fails, before it releases the lock.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::{run, workspace_bin};

/// The lock every test that routes 169.254.170.2 on this host holds while its rules exist.
pub const LINK_LOCAL_LOCK: &str = "/tmp/ecs-e2e-169-254-170-2.lock";

/// `host-setup apply --port PORT` under the lock; `host-setup remove` on drop.
#[derive(Debug)]
pub struct LinkLocalRoutes {
    port: u16,
    state_file: PathBuf,
    empty: PathBuf,
    // Dropped after `drop` has removed the rules.
    _lock: File,
}

fn host_setup(action: &str, port: u16, state_file: &Path, empty: &Path) -> Result<String> {
    let mut cmd = Command::new(workspace_bin("ecs-agent"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        // Log to standard error only, never to the default /var/log/ecs/ecs-agent.log.
        .env("ECS_LOGFILE", "")
        .arg("--config-file")
        .arg(empty)
        .arg("--instance-config-file")
        .arg(empty)
        .args(["host-setup", action, "--port", &port.to_string()])
        .arg("--state-file")
        .arg(state_file);
    run(&mut cmd, Duration::from_secs(60))
}

impl LinkLocalRoutes {
    /// Waits for the lock, then routes 169.254.170.2:80 (containers and host processes such as
    /// dockerd) to `127.0.0.1:port`. `dir` holds the saved `route_localnet` value.
    pub fn apply(port: u16, dir: &Path) -> Result<Self> {
        let lock = File::create(LINK_LOCAL_LOCK)
            .with_context(|| format!("cannot open {LINK_LOCAL_LOCK}"))?;
        lock.lock()
            .with_context(|| format!("cannot lock {LINK_LOCAL_LOCK}"))?;
        let empty = dir.join("host-setup-empty.config");
        std::fs::write(&empty, "")?;
        let routes = LinkLocalRoutes {
            port,
            state_file: dir.join("route_localnet.saved"),
            empty,
            _lock: lock,
        };
        host_setup("apply", port, &routes.state_file, &routes.empty)
            .context("ecs-agent host-setup apply (the test needs root and iptables)")?;
        Ok(routes)
    }

    /// Runs `host-setup apply` again with the same port and state file and returns its output,
    /// for a test to check that a second apply adds nothing (`0 iptables rule(s) added`).
    pub fn reapply(&self) -> Result<String> {
        host_setup("apply", self.port, &self.state_file, &self.empty)
    }
}

impl Drop for LinkLocalRoutes {
    fn drop(&mut self) {
        if let Err(e) = host_setup("remove", self.port, &self.state_file, &self.empty) {
            eprintln!("cannot remove the 169.254.170.2 rules: {e:#}");
        }
    }
}
