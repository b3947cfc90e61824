//! Emulated EC2 instances for end-to-end tests: the instance image, a guard that removes what a
//! test created (also when it fails), a precheck, and waits inside instances.
//!
//! Instances are containers that boot systemd (`ecs_control_plane::ec2::docker_host`); the tests
//! create them through `DockerHost` and check them with the `docker` CLI, as a person would.
//! Everything a test creates carries its [`Fleet`]'s run label, and only that is removed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::{cmd, docker, docker_with_timeout, random_id, wait_until, workspace_bin_path};

/// Label (key) on every container, volume and network of a fleet test; its value is the run.
pub const FLEET_RUN_LABEL: &str = "ecs-e2e-fleet.run";

/// How long building the image may take: a cold base (debootstrap) is a few minutes.
const IMAGE_BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// The instance image (`packaging/instance-image/build`), built or reused once per test process;
/// returns its Docker reference. Needs the debug binaries (`cargo build --workspace --bins`).
pub fn instance_image() -> Result<String> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    IMAGE
        .get_or_init(|| build_instance_image().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

fn build_instance_image() -> Result<String> {
    let agent = workspace_bin_path("ecs-agent");
    let profile_dir = agent.parent().map(PathBuf::from).unwrap_or_default();
    if profile_dir.file_name().is_none_or(|n| n != "debug") {
        bail!(
            "the instance image packages the debug binaries; run the fleet tests from a debug \
             build (not {})",
            profile_dir.display()
        );
    }
    for bin in ["ecs-agent", "ecs-control-plane"] {
        if !workspace_bin_path(bin).is_file() {
            bail!(
                "{} is missing: the instance image packages it; build the binaries first with \
                 `cargo build --workspace --bins` (same CARGO_TARGET_DIR as the tests)",
                workspace_bin_path(bin).display()
            );
        }
    }
    let target_dir = profile_dir.parent().map(PathBuf::from).unwrap_or_default();
    let script = crate::manifest_dir().join("../packaging/instance-image/build");
    let out = cmd::output(
        Command::new(&script).env("CARGO_TARGET_DIR", &target_dir),
        IMAGE_BUILD_TIMEOUT,
    )?;
    if !out.success() {
        bail!(
            "{} failed ({}):\n{}",
            script.display(),
            out.status,
            out.stderr.trim_end()
        );
    }
    eprint!("{}", out.stderr);
    let image = out.stdout.trim().to_string();
    anyhow::ensure!(!image.is_empty(), "{} printed no image", script.display());
    Ok(image)
}

/// Fails at once, saying what is missing, when this machine cannot run instances: no Docker
/// Engine, no debootstrap (and no cached base image), or a Docker Engine that cannot grant the
/// capabilities instances need. Builds the image if needed; returns its reference.
pub fn precheck() -> Result<String> {
    docker_with_timeout(
        &["version", "--format", "{{.Server.Version}}"],
        Duration::from_secs(15),
    )
    .context("no Docker Engine answers: emulated EC2 instances are Docker containers")?;
    let has_base = !docker(&[
        "image",
        "ls",
        "-q",
        "--filter",
        "label=ecs-agent-rs.instance-base",
    ])?
    .is_empty();
    let has_debootstrap = ["/usr/sbin/debootstrap", "/usr/bin/debootstrap"]
        .iter()
        .any(|p| std::path::Path::new(p).is_file());
    if !has_base && !has_debootstrap {
        bail!(
            "debootstrap is missing (the instance image is built with it): apt-get install debootstrap"
        );
    }
    let image = instance_image()?;
    let run = format!("{FLEET_RUN_LABEL}=precheck-{}", random_id());
    let out = cmd::output(
        Command::new("docker").args([
            "run",
            "--rm",
            "--label",
            &run,
            "--network",
            "none",
            "--cap-add",
            "ALL",
            "--cap-drop",
            "SYS_RESOURCE",
            "--security-opt",
            "seccomp=unconfined",
            "--security-opt",
            "apparmor=unconfined",
            "--security-opt",
            "systempaths=unconfined",
            "--device",
            "/dev/fuse",
            "--entrypoint",
            "/bin/true",
            &image,
        ]),
        Duration::from_secs(60),
    )?;
    if !out.success() {
        bail!(
            "Docker cannot start a container with the settings instances need (--cap-add ALL \
             --cap-drop SYS_RESOURCE, unconfined seccomp/apparmor/systempaths, /dev/fuse): {}",
            out.stderr.trim()
        );
    }
    Ok(image)
}

/// One test's fleet: a run id whose label goes on everything the test creates; dropping it
/// (also on panic) removes every container, volume and network with that label.
#[derive(Debug)]
pub struct Fleet {
    run: String,
}

impl Fleet {
    /// A new run id.
    pub fn new() -> Self {
        Fleet { run: random_id() }
    }

    /// The run id (10 hex digits).
    pub fn run(&self) -> &str {
        &self.run
    }

    /// Labels for `LaunchSpec::labels` and `VpcNetwork::labels`.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(FLEET_RUN_LABEL.to_string(), self.run.clone())])
    }

    /// Container name prefix for `DockerHost::with_name_prefix`: `e2e-<run>-`.
    pub fn name_prefix(&self) -> String {
        format!("e2e-{}-", self.run)
    }

    /// What still carries this run's label: `container NAME`, `volume NAME`, `network NAME`.
    pub fn leftovers(&self) -> Result<Vec<String>> {
        let filter = format!("label={FLEET_RUN_LABEL}={}", self.run);
        let mut left = Vec::new();
        for (kind, args) in [
            ("container", vec!["ps", "-a", "--format", "{{.Names}}"]),
            ("volume", vec!["volume", "ls", "--format", "{{.Name}}"]),
            ("network", vec!["network", "ls", "--format", "{{.Name}}"]),
        ] {
            let mut args = args;
            args.extend(["--filter", &filter]);
            for name in docker(&args)?.lines().filter(|l| !l.trim().is_empty()) {
                left.push(format!("{kind} {name}"));
            }
        }
        Ok(left)
    }

    /// Removes everything with this run's label: containers, then volumes, then networks.
    pub fn clean(&self) -> Result<()> {
        let filter = format!("label={FLEET_RUN_LABEL}={}", self.run);
        let ids = docker(&["ps", "-aq", "--filter", &filter])?;
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.lines());
            docker(&args)?;
        }
        let volumes = docker(&["volume", "ls", "-q", "--filter", &filter])?;
        if !volumes.is_empty() {
            let mut args = vec!["volume", "rm", "-f"];
            args.extend(volumes.lines());
            docker(&args)?;
        }
        let networks = docker(&["network", "ls", "-q", "--filter", &filter])?;
        if !networks.is_empty() {
            let mut args = vec!["network", "rm"];
            args.extend(networks.lines());
            docker(&args)?;
        }
        Ok(())
    }
}

impl Default for Fleet {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if std::env::var_os("ECS_TEST_KEEP_FLEET").is_some() {
            eprintln!(
                "ECS_TEST_KEEP_FLEET: leaving label {FLEET_RUN_LABEL}={}",
                self.run
            );
            return;
        }
        if let Err(e) = self.clean() {
            eprintln!("fleet {}: cleanup failed: {e:#}", self.run);
        }
    }
}

/// `docker exec CONTAINER sh -c SCRIPT` (at most 2 minutes); its output, status not checked.
pub fn exec_output(container: &str, script: &str) -> Result<cmd::CmdOutput> {
    cmd::output(
        Command::new("docker").args(["exec", container, "sh", "-c", script]),
        Duration::from_secs(120),
    )
}

/// `docker exec CONTAINER sh -c SCRIPT`; its stdout, trimmed, or an error with its stderr.
pub fn exec(container: &str, script: &str) -> Result<String> {
    Ok(exec_output(container, script)?
        .into_stdout()?
        .trim()
        .to_string())
}

/// What the container's log ends with (the boot script's and systemd's console output).
pub fn logs_tail(container: &str) -> String {
    cmd::output(
        Command::new("docker").args(["logs", "--tail", "40", container]),
        Duration::from_secs(20),
    )
    .map(|o| format!("{}{}", o.stdout, o.stderr))
    .unwrap_or_else(|e| format!("(no logs: {e:#})"))
}

/// Waits until the container runs and systemd inside says `running` or `degraded`; returns which
/// (`degraded` comes with `systemctl --failed`). Fails at once, with its log, if the container
/// stops.
pub fn wait_system_running(container: &str, timeout: Duration) -> Result<String> {
    let outcome = wait_until(
        timeout,
        &format!("systemd in {container} to be running"),
        || {
            let running = docker(&["inspect", "--format", "{{.State.Running}}", container])?;
            if running != "true" {
                return Ok(Some(Err(format!(
                    "{container} is not running; its log:\n{}",
                    logs_tail(container)
                ))));
            }
            let state = exec_output(container, "systemctl is-system-running")?;
            match state.stdout.trim() {
                "running" => Ok(Some(Ok("running".to_string()))),
                "degraded" => {
                    let failed = exec(container, "systemctl --failed --no-legend --plain")?;
                    Ok(Some(Ok(format!("degraded; failed units: {failed}"))))
                }
                other => {
                    anyhow::Result::<Option<_>>::Err(anyhow::anyhow!("system state {other:?}"))
                }
            }
        },
    )?;
    outcome.map_err(anyhow::Error::msg)
}

/// Waits until `systemctl is-active UNIT` says `active`; on timeout the unit's status is shown.
pub fn wait_unit_active(container: &str, unit: &str, timeout: Duration) -> Result<()> {
    wait_until(
        timeout,
        &format!("{unit} to be active in {container}"),
        || {
            let out = exec_output(container, &format!("systemctl is-active {unit}"))?;
            if out.stdout.trim() == "active" {
                return Ok(());
            }
            let status = exec_output(
                container,
                &format!("systemctl status --no-pager -n 20 {unit}"),
            )?;
            Err(anyhow::anyhow!("{}: {}", out.stdout.trim(), status.stdout))
        },
    )
}

/// Makes a one-file image of Debian's static busybox (`$ECS_TEST_BUSYBOX`, default
/// `/bin/busybox`) in the instance's own Docker Engine, without a registry; returns its name.
/// Run its applets as `/busybox APPLET ...`.
pub fn inner_busybox_image(container: &str) -> Result<String> {
    let busybox = std::env::var("ECS_TEST_BUSYBOX").unwrap_or_else(|_| "/bin/busybox".into());
    // /root is on the instance's disk: `docker cp` into a tmpfs path would be invisible.
    docker(&["cp", &busybox, &format!("{container}:/root/busybox")])
        .with_context(|| format!("copying {busybox} (install busybox-static) into {container}"))?;
    let image = "fleet-e2e/busybox:1";
    exec(
        container,
        &format!(
            "mkdir -p /root/bb && mv /root/busybox /root/bb/busybox && \
             tar -C /root/bb -c . | docker import - {image} >/dev/null"
        ),
    )?;
    Ok(image.to_string())
}
