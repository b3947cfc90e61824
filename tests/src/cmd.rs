//! Running an external command to completion under a deadline, with its output captured.
//!
//! Long-running processes (the agent, the control plane, the registry) are not run here but with
//! [`crate::ChildProcess`].

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// What a finished command printed and how it exited.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// The command line, for messages.
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The exit code, or `None` when a signal ended the command.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Ok(stdout) when the command exited 0, otherwise an error with the exit status and stderr.
    pub fn into_stdout(self) -> Result<String> {
        if self.success() {
            Ok(self.stdout)
        } else {
            bail!(
                "`{}` failed ({}):\nstderr: {}\nstdout: {}",
                self.command,
                self.status,
                self.stderr.trim_end(),
                self.stdout.trim_end()
            )
        }
    }
}

/// The command line of `cmd` as one string, for messages (not for a shell).
pub fn command_line(cmd: &Command) -> String {
    let mut line = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs `cmd` with stdin closed and waits for it, at most `timeout`, then kills it and fails.
///
/// A non-zero exit is not an error here (see [`run`] for that): the caller gets the status.
pub fn output(cmd: &mut Command, timeout: Duration) -> Result<CmdOutput> {
    let command = command_line(cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{command}`"))?;
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());

    let status = match wait_with_deadline(&mut child, timeout) {
        Ok(status) => status,
        Err(e) => {
            // Give the readers a moment: what the command printed so far says why it hung.
            let so_far = stderr
                .recv_timeout(Duration::from_secs(1))
                .unwrap_or_default();
            return Err(e).with_context(|| {
                format!(
                    "`{command}` did not finish; stderr so far: {}",
                    so_far.trim_end()
                )
            });
        }
    };
    // The child has exited, so its pipes close unless it left a grandchild holding them.
    let collect = |rx: mpsc::Receiver<String>, name: &str| {
        rx.recv_timeout(Duration::from_secs(10))
            .with_context(|| format!("`{command}` exited but its {name} stayed open"))
    };
    Ok(CmdOutput {
        stdout: collect(stdout, "stdout")?,
        stderr: collect(stderr, "stderr")?,
        command,
        status,
    })
}

/// Runs `cmd` like [`output`] and returns its stdout, or an error with the stderr if it failed.
pub fn run(cmd: &mut Command, timeout: Duration) -> Result<String> {
    output(cmd, timeout)?.into_stdout()
}

fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            // A read error only truncates what we show; the exit status still tells the outcome.
            let _ = pipe.read_to_end(&mut bytes);
        }
        let _ = tx.send(String::from_utf8_lossy(&bytes).into_owned());
    });
    rx
}

/// Waits for `child` to exit, killing it (and failing) when `timeout` passes first.
pub(crate) fn wait_with_deadline(child: &mut Child, timeout: Duration) -> Result<ExitStatus> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait().context("cannot wait for child process")? {
            return Ok(status);
        }
        let now = Instant::now();
        if now >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("killed after {timeout:?}");
        }
        // std has no wait-with-timeout; poll, quickly at first since most commands are short.
        thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
