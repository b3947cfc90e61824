//! Runs the `ecs-control-plane` binary on a free loopback port for a test.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::{AwsCli, ChildProcess, free_port, wait_until, workspace_bin};

/// A running emulator, killed on drop.
#[derive(Debug)]
pub struct ControlPlane {
    /// The process.
    pub process: ChildProcess,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Where its state lives, if anywhere.
    pub data_dir: Option<PathBuf>,
}

impl ControlPlane {
    /// Starts the emulator with a 1 s ACS heartbeat, state in `data_dir` (or memory).
    pub fn start(data_dir: Option<&Path>) -> Result<Self> {
        Self::start_on(&format!("127.0.0.1:{}", free_port()?), data_dir)
    }

    /// Starts it on a given address (a restart keeps the agent's endpoint).
    pub fn start_on(addr: &str, data_dir: Option<&Path>) -> Result<Self> {
        Self::start_with_args(addr, data_dir, &[])
    }

    /// As [`ControlPlane::start_on`], with extra command-line arguments.
    pub fn start_with_args(addr: &str, data_dir: Option<&Path>, args: &[&str]) -> Result<Self> {
        let mut cmd = Command::new(workspace_bin("ecs-control-plane"));
        cmd.args(["--listen", addr, "--heartbeat-seconds", "1"])
            .args(args)
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env("RUST_LOG", "info,ecs_control_plane=debug");
        if let Some(d) = data_dir {
            cmd.arg("--data-dir").arg(d);
        }
        let process = ChildProcess::spawn("ecs-control-plane", &mut cmd)?;
        wait_until(
            Duration::from_secs(20),
            "the control plane to listen",
            || TcpStream::connect(addr).is_ok(),
        )?;
        Ok(ControlPlane {
            process,
            addr: addr.to_string(),
            data_dir: data_dir.map(Path::to_path_buf),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The AWS CLI pointed at it.
    pub fn aws(&self) -> Result<AwsCli> {
        AwsCli::new(self.endpoint())
    }
}
