//! Runs the `ecs-agent` binary against a test control plane.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Result;

use crate::{ChildProcess, ControlPlane, free_port, http_get, wait_until, workspace_bin};

/// A dynamic host port range of its own for each agent a test process starts.
///
/// Agents running side by side on one host each probe the host for a free port, and between one
/// agent's probe and Docker publishing the port another agent can probe the same port and see it
/// free; Docker then refuses the second container ("port is already allocated"). On a real host
/// one agent owns the range; here every agent gets a slice of 200 ports (a test's `env` may still
/// set `ECS_DYNAMIC_HOST_PORT_RANGE` itself).
fn own_dynamic_port_range() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 33_000;
    const WIDTH: u32 = 200;
    const SLICES: u32 = 100;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // The process id spreads test binaries apart too; within one, agents take slices in turn.
    let slice = (std::process::id() + NEXT.fetch_add(1, Ordering::Relaxed)) % SLICES;
    let first = FIRST + slice * WIDTH;
    format!("{first}-{}", first + WIDTH - 1)
}

/// A running agent, killed (SIGKILL) on drop; task containers it started are the test's to remove.
#[derive(Debug)]
pub struct Agent {
    /// The process.
    pub process: ChildProcess,
    /// Introspection address `127.0.0.1:PORT`.
    pub introspection: String,
    /// Task credentials and metadata address `127.0.0.1:PORT` (`run --credentials-listen`).
    pub credentials: String,
    /// ECS_DATADIR.
    pub data_dir: PathBuf,
    /// Cluster name.
    pub cluster: String,
}

impl Agent {
    /// Starts an agent registered into `cluster` on `cp`, state in `data_dir`, with extra `env`.
    pub fn start(
        cp: &ControlPlane,
        cluster: &str,
        data_dir: &Path,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let introspection = format!("127.0.0.1:{}", free_port()?);
        Self::start_with(cp, cluster, data_dir, &introspection, env)
    }

    /// As [`Agent::start`], with extra arguments for `ecs-agent run`.
    pub fn start_with_run_args(
        cp: &ControlPlane,
        cluster: &str,
        data_dir: &Path,
        env: &[(&str, &str)],
        run_args: &[&str],
    ) -> Result<Self> {
        let introspection = format!("127.0.0.1:{}", free_port()?);
        let credentials = format!("127.0.0.1:{}", free_port()?);
        Self::start_inner(
            cp,
            cluster,
            data_dir,
            &introspection,
            &credentials,
            env,
            run_args,
            "",
        )
    }

    /// As [`Agent::start`], with `config` as the `ecs.config` it reads (`--config-file`).
    pub fn start_with_config(
        cp: &ControlPlane,
        cluster: &str,
        data_dir: &Path,
        config: &str,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let introspection = format!("127.0.0.1:{}", free_port()?);
        let credentials = format!("127.0.0.1:{}", free_port()?);
        Self::start_inner(
            cp,
            cluster,
            data_dir,
            &introspection,
            &credentials,
            env,
            &[],
            config,
        )
    }

    /// As [`Agent::start`], on a given introspection address (a restart keeps it).
    pub fn start_with(
        cp: &ControlPlane,
        cluster: &str,
        data_dir: &Path,
        introspection: &str,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let credentials = format!("127.0.0.1:{}", free_port()?);
        Self::start_on(cp, cluster, data_dir, introspection, &credentials, env)
    }

    /// As [`Agent::start_with`], with the credentials/metadata server on `credentials` too.
    /// The audit log goes to `data_dir/audit.log`, the agent's log file to
    /// `data_dir/ecs-agent.log` (never the default `/var/log/ecs`).
    pub fn start_on(
        cp: &ControlPlane,
        cluster: &str,
        data_dir: &Path,
        introspection: &str,
        credentials: &str,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        Self::start_inner(
            cp,
            cluster,
            data_dir,
            introspection,
            credentials,
            env,
            &[],
            "",
        )
    }

    #[allow(clippy::too_many_arguments)] // the private union of the public starts
    fn start_inner(
        cp: &ControlPlane,
        cluster: &str,
        data_dir: &Path,
        introspection: &str,
        credentials: &str,
        env: &[(&str, &str)],
        run_args: &[&str],
        config: &str,
    ) -> Result<Self> {
        let empty = data_dir.join("empty.config");
        std::fs::write(&empty, "")?;
        let user_config = data_dir.join("ecs.config");
        std::fs::write(&user_config, config)?;
        let mut cmd = Command::new(workspace_bin("ecs-agent"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info,ecs_agent=debug")
            .env("ECS_CLUSTER", cluster)
            .env("ECS_BACKEND_HOST", cp.endpoint())
            .env("ECS_DATADIR", data_dir)
            .env("ECS_EXTERNAL", "true")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
            .env(
                "AWS_SECRET_ACCESS_KEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            )
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("ECS_CONTAINER_STOP_TIMEOUT", "5s")
            .env("ECS_AUDIT_LOGFILE", data_dir.join("audit.log"))
            .env("ECS_LOGFILE", data_dir.join("ecs-agent.log"))
            .env("ECS_DYNAMIC_HOST_PORT_RANGE", own_dynamic_port_range());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.arg("--config-file")
            .arg(&user_config)
            .arg("--instance-config-file")
            .arg(&empty)
            .arg("run")
            .arg("--introspection-listen")
            .arg(introspection)
            .arg("--credentials-listen")
            .arg(credentials)
            .args(run_args);
        let process = ChildProcess::spawn("ecs-agent", &mut cmd)?;
        let agent = Agent {
            process,
            introspection: introspection.to_string(),
            credentials: credentials.to_string(),
            data_dir: data_dir.to_path_buf(),
            cluster: cluster.to_string(),
        };
        agent.wait_registered(Duration::from_secs(60))?;
        Ok(agent)
    }

    /// `GET /v1/metadata` until it reports a container instance ARN.
    pub fn wait_registered(&self, timeout: Duration) -> Result<String> {
        wait_until(timeout, "the agent to register", || {
            let r = http_get(&format!("http://{}/v1/metadata", self.introspection))?;
            let v = r.json()?;
            anyhow::Ok(v["ContainerInstanceArn"].as_str().map(String::from))
        })
    }

    /// `GET /v1/tasks`.
    pub fn tasks(&self) -> Result<serde_json::Value> {
        http_get(&format!("http://{}/v1/tasks", self.introspection))?.json()
    }
}
