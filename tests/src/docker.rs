//! The Docker CLI for test set-up and checks, and containers removed when their test ends.
//!
//! The agent talks to Docker through bollard; the tests use the `docker` command, the same way a
//! person checking the agent's work would.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Label on every container the helpers create, so leaks are easy to find and remove:
/// `docker rm -f $(docker ps -aq --filter label=ecs-e2e-tests)`.
pub const HELPER_LABEL: &str = "ecs-e2e-tests";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `docker ARGS...` (timeout 2 minutes) and returns its stdout, trimmed.
pub fn docker(args: &[&str]) -> Result<String> {
    docker_with_timeout(args, DEFAULT_TIMEOUT)
}

/// Runs `docker ARGS...` with a timeout and returns its stdout, trimmed.
pub fn docker_with_timeout(args: &[&str], timeout: Duration) -> Result<String> {
    let stdout = cmd::run(Command::new("docker").args(args), timeout)?;
    Ok(stdout.trim().to_owned())
}

/// Whether the local Docker Engine has an image with this reference or id.
pub fn image_exists(reference: &str) -> Result<bool> {
    let out = cmd::output(
        Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", reference]),
        DEFAULT_TIMEOUT,
    )?;
    if out.success() {
        Ok(true)
    } else if out.stderr.contains("No such image") || out.stderr.contains("No such object") {
        Ok(false)
    } else {
        out.into_stdout().map(|_| false)
    }
}

/// Force-removes (with anonymous volumes) every container that has `label` (`key` or
/// `key=value`); returns how many. For tests whose containers the agent created.
pub fn remove_containers_labeled(label: &str) -> Result<usize> {
    let filter = format!("label={label}");
    let ids = docker(&["ps", "-aq", "--filter", &filter])?;
    let ids: Vec<&str> = ids
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(&ids);
        docker(&args).with_context(|| format!("cannot remove containers labeled {label}"))?;
    }
    Ok(ids.len())
}

/// A container started by a test, force-removed (with its anonymous volumes) on drop.
#[derive(Debug)]
pub struct Container {
    id: String,
}

impl Container {
    /// `docker run -d --label ecs-e2e-tests ARGS...`: `args` are the options, the image
    /// (always a registry reference) and the command. Returns once Docker has started it.
    pub fn run(args: &[&str]) -> Result<Self> {
        let mut full = vec!["run", "-d", "--label", HELPER_LABEL];
        full.extend_from_slice(args);
        let id = docker(&full)?;
        if id.is_empty() {
            bail!("`docker {}` printed no container id", full.join(" "));
        }
        Ok(Self { id })
    }

    /// Takes ownership of an existing container: it is removed when this value drops.
    pub fn adopt(id: impl Into<String>) -> Self {
        Self { id: id.into() }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The host port Docker published for `container_port` (`"8080/tcp"` or `"8080"`) on IPv4.
    pub fn host_port(&self, container_port: &str) -> Result<u16> {
        let out = docker(&["port", &self.id, container_port])?;
        // Lines look like "127.0.0.1:49153" or "[::]:49153"; take an IPv4 one.
        out.lines()
            .filter(|l| !l.starts_with('['))
            .find_map(|l| l.rsplit(':').next()?.trim().parse().ok())
            .with_context(|| {
                format!(
                    "container {} publishes no IPv4 host port for {container_port}: {out:?}",
                    self.id
                )
            })
    }

    /// `docker inspect` of the container, as JSON (the object, not the one-element array).
    pub fn inspect(&self) -> Result<serde_json::Value> {
        let out = docker(&["inspect", "--type", "container", &self.id])?;
        let mut all: Vec<serde_json::Value> =
            serde_json::from_str(&out).context("docker inspect printed no JSON array")?;
        all.pop().context("docker inspect printed an empty array")
    }

    /// What the container printed (stdout and stderr).
    pub fn logs(&self) -> Result<String> {
        let out = cmd::output(
            Command::new("docker").args(["logs", &self.id]),
            DEFAULT_TIMEOUT,
        )?;
        let (stdout, stderr) = (out.stdout.clone(), out.stderr.clone());
        out.into_stdout()?;
        Ok(stdout + &stderr)
    }

    /// `docker stop -t SECS` and the container's exit code.
    pub fn stop(&self, grace: Duration) -> Result<i64> {
        let secs = grace.as_secs().to_string();
        docker_with_timeout(&["stop", "-t", &secs, &self.id], grace + DEFAULT_TIMEOUT)?;
        let state = self.inspect()?;
        state["State"]["ExitCode"]
            .as_i64()
            .with_context(|| format!("no State.ExitCode in the inspect output of {}", self.id))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Err(e) = docker(&["rm", "-f", "-v", &self.id]) {
            eprintln!("cannot remove test container {}: {e:#}", self.id);
        }
    }
}
