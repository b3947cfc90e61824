//! Long-running child processes (control plane, agent, registry) that die with their test.
//!
//! The process's stdout and stderr go, interleaved, to one log file in a temporary directory.
//! When the owning test panics, dropping the [`ChildProcess`] prints the log's tail, so a failed
//! test shows what the agent said. Set `ECS_TEST_KEEP_LOGS=1` to keep the log files.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use tempfile::TempDir;

use crate::cmd::{self, command_line};

/// How much of the log a failing test prints.
const LOG_TAIL_BYTES: usize = 16 * 1024;

/// A child process that is killed (SIGKILL) and reaped when dropped.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    command: String,
    child: Child,
    log_path: PathBuf,
    log_dir: Option<TempDir>,
}

impl ChildProcess {
    /// Starts `cmd` with stdin closed and stdout + stderr to a log file; `name` labels messages.
    ///
    /// Start the program itself, not a shell around it (or have the shell `exec` it): only the
    /// direct child is killed on drop.
    pub fn spawn(name: &str, cmd: &mut Command) -> Result<Self> {
        let command = command_line(cmd);
        let log_dir = tempfile::Builder::new()
            .prefix(&format!("ecs-e2e-{name}-"))
            .tempdir()
            .context("cannot create a log directory")?;
        let log_path = log_dir.path().join("output.log");
        let log = File::create(&log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let log_err = log
            .try_clone()
            .context("cannot duplicate the log file handle")?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .with_context(|| format!("cannot start {name}: `{command}`"))?;
        Ok(Self {
            name: name.to_owned(),
            command,
            child,
            log_path,
            log_dir: Some(log_dir),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The file holding the process's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the process has printed so far (stdout and stderr, interleaved).
    pub fn output(&self) -> String {
        fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    /// The exit status if the process has exited, without waiting.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>> {
        self.child
            .try_wait()
            .with_context(|| format!("cannot check whether {} is running", self.name))
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.try_status(), Ok(None))
    }

    /// Sends a signal by name (`TERM`, `INT`, `HUP`, `KILL`, ...) with the `kill` command.
    pub fn signal(&self, signal: &str) -> Result<()> {
        cmd::run(
            Command::new("kill")
                .args(["-s", signal])
                .arg(self.id().to_string()),
            Duration::from_secs(10),
        )
        .with_context(|| format!("cannot send SIG{signal} to {}", self.name))?;
        Ok(())
    }

    /// Waits at most `timeout` for the process to exit on its own; fails (leaving it running)
    /// with its output's tail if it does not.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let name = self.name.clone();
        let child = &mut self.child;
        // try_wait fails only for a child that is not ours; treat that as still running.
        crate::wait_until(timeout, &format!("{name} to exit"), || {
            child.try_wait().ok().flatten()
        })
        .map_err(|e| e.context(format!("output of {name}:\n{}", self.tail())))
    }

    /// Sends SIGTERM and waits at most `timeout` for the process to exit.
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus> {
        self.signal("TERM")?;
        self.wait_exit(timeout)
    }

    /// Kills the process (SIGKILL) if it still runs, and reaps it.
    pub fn kill(&mut self) -> Result<ExitStatus> {
        if let Some(status) = self.try_status()? {
            return Ok(status);
        }
        // The process may exit between the check and the kill; wait() tells the outcome anyway.
        let _ = self.child.kill();
        self.child
            .wait()
            .with_context(|| format!("cannot reap {} (`{}`)", self.name, self.command))
    }

    /// The last part of the output, for failure messages.
    pub fn tail(&self) -> String {
        let output = self.output();
        let mut start = output.len().saturating_sub(LOG_TAIL_BYTES);
        while !output.is_char_boundary(start) {
            start += 1;
        }
        output[start..].to_owned()
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let status = self.kill();
        let keep = std::env::var_os("ECS_TEST_KEEP_LOGS").is_some_and(|v| v == "1");
        if std::thread::panicking() {
            eprintln!(
                "--- {} (`{}`, {:?}) output, last {} KiB ---\n{}\n--- end of {} output ---",
                self.name,
                self.command,
                status.ok(),
                LOG_TAIL_BYTES / 1024,
                self.tail(),
                self.name
            );
        }
        if keep && let Some(dir) = self.log_dir.take() {
            eprintln!("{} log kept at {}", self.name, dir.keep().display());
        }
    }
}
