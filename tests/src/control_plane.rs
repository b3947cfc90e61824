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

/// A control plane with the emulated ECR (`--ecr`): its registry runs from Debian's
/// `docker-registry` (or `$ECS_TEST_REGISTRY_BIN`) in a temporary directory. Dropping it stops the
/// control plane with SIGTERM, so that it stops its registry too, then deletes the directory.
#[derive(Debug)]
pub struct EcrControlPlane {
    /// The control plane (killed on drop if SIGTERM did not stop it).
    pub cp: ControlPlane,
    /// `127.0.0.1:PORT` of the ECR registry.
    pub registry_host: String,
    registry_dir: tempfile::TempDir,
}

impl EcrControlPlane {
    /// Starts the emulator with ECR tokens valid for `token_seconds`.
    pub fn start(token_seconds: u64) -> Result<Self> {
        let registry_dir = tempfile::Builder::new().prefix("ecs-e2e-ecr-").tempdir()?;
        let dir = registry_dir.path().display().to_string();
        let bin =
            std::env::var("ECS_TEST_REGISTRY_BIN").unwrap_or_else(|_| "docker-registry".into());
        let seconds = token_seconds.to_string();
        let cp = ControlPlane::start_with_args(
            &format!("127.0.0.1:{}", free_port()?),
            None,
            &[
                "--ecr",
                "--ecr-registry-bin",
                &bin,
                "--ecr-registry-dir",
                &dir,
                "--ecr-token-seconds",
                &seconds,
            ],
        )?;
        let token = cp.aws()?.run(&["ecr", "get-authorization-token"])?;
        let proxy = token["authorizationData"][0]["proxyEndpoint"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let registry_host = proxy.trim_start_matches("http://").to_string();
        anyhow::ensure!(!registry_host.is_empty(), "no proxyEndpoint in {token}");
        Ok(EcrControlPlane {
            cp,
            registry_host,
            registry_dir,
        })
    }

    /// The registry's log so far.
    pub fn registry_log(&self) -> String {
        std::fs::read_to_string(self.registry_dir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for EcrControlPlane {
    fn drop(&mut self) {
        if let Err(e) = self.cp.process.terminate(Duration::from_secs(10)) {
            eprintln!("the control plane did not stop on SIGTERM: {e:#}");
        }
    }
}
