//! Smoke tests of the process, polling and binary-finding helpers.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Result;
use ecs_e2e_tests::{
    ChildProcess, run, target_profile_dir, wait_until, workspace_bin, workspace_bin_path,
};

#[test]
fn wait_until_returns_the_ready_value() -> Result<()> {
    let mut calls = 0;
    let value = wait_until(Duration::from_secs(5), "the third call", || {
        calls += 1;
        (calls == 3).then_some(calls * 10)
    })?;
    assert_eq!(value, 30);
    wait_until(Duration::from_secs(5), "true", || true)?;
    Ok(())
}

#[test]
fn wait_until_times_out_saying_what_it_waited_for_and_the_last_error() {
    let start = Instant::now();
    let err = wait_until(Duration::from_millis(300), "the impossible", || {
        anyhow::ensure!(false, "still impossible");
        Ok(())
    })
    .err()
    .map(|e| format!("{e:#}"))
    .unwrap_or_default();
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(
        err.contains("timed out after 300ms waiting for the impossible"),
        "{err}"
    );
    assert!(err.contains("last error: still impossible"), "{err}");
}

#[test]
fn child_process_captures_output_and_dies_on_drop() -> Result<()> {
    let mut child = ChildProcess::spawn(
        "sleeper",
        Command::new("sh").args(["-c", "echo ready; echo oops >&2; exec sleep 600"]),
    )?;
    wait_until(Duration::from_secs(10), "the child to print", || {
        child.output().contains("ready\n") && child.output().contains("oops\n")
    })?;
    assert!(child.is_running());
    let pid = child.id();
    let proc_dir = format!("/proc/{pid}");
    assert!(std::path::Path::new(&proc_dir).exists());
    let log = child.log_path().to_owned();

    drop(child);
    // Drop kills and reaps, so the pid is gone at once (barring reuse, which is far off).
    assert!(
        !std::path::Path::new(&proc_dir).exists(),
        "{proc_dir} still exists"
    );
    assert!(!log.exists(), "the log directory should be removed");
    Ok(())
}

#[test]
fn child_process_terminates_on_sigterm_and_reports_the_status() -> Result<()> {
    let mut child = ChildProcess::spawn(
        "trapper",
        // `wait` returns when the trapped signal arrives; the trap also ends the sleep.
        Command::new("sh").args([
            "-c",
            "trap 'kill $!; echo bye; exit 7' TERM; sleep 600 & echo up; wait",
        ]),
    )?;
    wait_until(Duration::from_secs(10), "the trap to be set", || {
        child.output().contains("up")
    })?;
    let status = child.terminate(Duration::from_secs(10))?;
    assert_eq!(status.code(), Some(7));
    assert!(child.output().contains("bye"));
    Ok(())
}

#[test]
fn wait_exit_times_out_with_the_output() -> Result<()> {
    let mut child = ChildProcess::spawn(
        "stubborn",
        Command::new("sh").args(["-c", "echo not leaving; exec sleep 600"]),
    )?;
    wait_until(Duration::from_secs(10), "output", || {
        child.output().contains("not leaving")
    })?;
    let err = child
        .wait_exit(Duration::from_millis(200))
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(err.contains("waiting for stubborn to exit"), "{err}");
    assert!(err.contains("not leaving"), "{err}");
    Ok(())
}

#[test]
fn run_reports_the_failing_command_and_its_stderr() {
    let err = run(
        Command::new("sh").args(["-c", "echo broken >&2; exit 3"]),
        Duration::from_secs(10),
    )
    .err()
    .map(|e| format!("{e:#}"))
    .unwrap_or_default();
    assert!(
        err.contains("`sh -c echo broken >&2; exit 3` failed"),
        "{err}"
    );
    assert!(err.contains("exit status: 3"), "{err}");
    assert!(err.contains("broken"), "{err}");
}

#[test]
fn run_kills_a_command_past_its_deadline() {
    let start = Instant::now();
    let err = run(Command::new("sleep").arg("600"), Duration::from_millis(200))
        .err()
        .map(|e| format!("{e:#}"))
        .unwrap_or_default();
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(err.contains("did not finish"), "{err}");
}

#[test]
fn workspace_binaries_are_looked_up_beside_the_test_profile_dir() -> Result<()> {
    let exe = std::env::current_exe()?;
    // target/<profile>/deps/<this test> -> target/<profile>
    let profile = exe.parent().and_then(|deps| deps.parent());
    assert_eq!(Some(target_profile_dir().as_path()), profile);
    assert_eq!(
        workspace_bin_path("ecs-agent"),
        target_profile_dir().join("ecs-agent")
    );
    Ok(())
}

#[test]
#[should_panic(expected = "cargo build --workspace --bins")]
fn a_missing_workspace_binary_says_how_to_build_it() {
    workspace_bin("no-such-binary-in-this-workspace");
}
