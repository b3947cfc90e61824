//! Emulated EC2 instances for end-to-end tests: the instance image, a guard that removes what a
//! test created (also when it fails), a precheck, and waits inside instances; and what the
//! fleet tests share on the AWS side: the control plane started with `--fleet`
//! ([`start_control_plane`]), instances launched with `aws ec2 run-instances` and awaited until
//! their agents register ([`run_instances`], [`wait_registered`]), the test image served to
//! instances from a registry mirror on the VPC's gateway ([`TaskImage`]), and a cluster's tasks
//! by desired status ([`tasks`]).
//!
//! Instances are containers that boot systemd (`ecs_control_plane::ec2::docker_host`); the tests
//! create them through the emulated EC2 API (or `DockerHost`) and check them with the `docker`
//! CLI, as a person would. Everything a test creates carries its [`Fleet`]'s run label, and only
//! that is removed.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::{
    AwsCli, ControlPlane, Registry, cmd, container_instances, docker, docker_with_timeout,
    free_port, random_id, wait_until, workspace_bin_path,
};

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

/// This project's agent `.deb` with version `version`, made from the debug binaries as
/// `packaging/instance-image/build` makes the image's (`cargo deb -p ecs-agent --profile dev
/// --no-build`, with `--deb-version`): a package to upgrade an instance's agent with. Returns the
/// directory holding it as `ecs-agent.deb` (removed on drop).
pub fn agent_deb(version: &str) -> Result<tempfile::TempDir> {
    // The image build installed cargo-deb if it was missing.
    instance_image()?;
    let target_dir = workspace_bin_path("ecs-agent")
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let out_dir = tempfile::tempdir()?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = cmd::output(
        Command::new(cargo)
            .current_dir(crate::manifest_dir().join(".."))
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args([
                "deb",
                "-p",
                "ecs-agent",
                "--profile",
                "dev",
                "--no-build",
                "--fast",
            ])
            .args(["--deb-version", version, "--output"])
            .arg(out_dir.path().join("ecs-agent.deb")),
        Duration::from_secs(300),
    )?;
    if !out.success() {
        bail!(
            "cargo deb --deb-version {version} failed ({}):\n{}{}",
            out.status,
            out.stdout.trim_end(),
            out.stderr.trim_end()
        );
    }
    Ok(out_dir)
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

/// The control plane with a fleet (`--fleet`) on a random 10.x.0.0/16 VPC (another one if Docker
/// says the network overlaps one it has), its instances named and labelled after `fleet`;
/// returns it and the VPC's CIDR.
pub fn start_control_plane(fleet: &Fleet) -> Result<(ControlPlane, String)> {
    start_control_plane_with(fleet, &[])
}

/// [`start_control_plane`] with `extra` arguments (e.g. `--admin-listen`).
pub fn start_control_plane_with(fleet: &Fleet, extra: &[&str]) -> Result<(ControlPlane, String)> {
    let mut last = String::new();
    for _ in 0..4 {
        let x = 128 + uuid::Uuid::new_v4().as_bytes()[0] % 120;
        let cidr = format!("10.{x}.0.0/16");
        let label = format!("{FLEET_RUN_LABEL}={}", fleet.run());
        let network = format!("{}vpc", fleet.name_prefix());
        let prefix = fleet.name_prefix();
        let imds_port = free_port()?.to_string();
        let mut args = vec![
            "--fleet",
            "--vpc-cidr",
            &cidr,
            "--fleet-network",
            &network,
            "--fleet-name-prefix",
            &prefix,
            "--fleet-label",
            &label,
            "--imds-port",
            &imds_port,
        ];
        args.extend_from_slice(extra);
        match ControlPlane::start_with_args(&format!("127.0.0.1:{}", free_port()?), None, &args) {
            Ok(cp) => return Ok((cp, cidr)),
            Err(e) => last = format!("{e:#}"),
        }
    }
    bail!("the control plane did not start with a fleet: {last}")
}

/// The VPC's gateway (`X.Y.0.1` of an `X.Y.0.0/16`): where the control plane's API, the
/// instance metadata service and a test's registry mirror listen for instances.
pub fn gateway(cidr: &str) -> Result<IpAddr> {
    let prefix = cidr
        .strip_suffix(".0.0/16")
        .with_context(|| format!("{cidr} is not an X.Y.0.0/16"))?;
    Ok(format!("{prefix}.0.1").parse()?)
}

/// The AMI id DescribeImages shows for the instance image (its `ecs-agent-rs.ami-id` label).
pub fn ami_of(image: &str) -> Result<String> {
    let id = docker(&[
        "image",
        "inspect",
        "--format",
        "{{index .Config.Labels \"ecs-agent-rs.ami-id\"}}",
        image,
    ])?;
    if !id.starts_with("ami-") {
        bail!("image {image} has no ami id label: {id:?}");
    }
    Ok(id)
}

/// A subnet of the default VPC: its id and availability zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub id: String,
    pub zone: String,
}

/// `aws ec2 describe-subnets`: the default VPC's subnets, one per zone.
pub fn subnets(aws: &AwsCli) -> Result<Vec<Subnet>> {
    let out = aws.run(&["ec2", "describe-subnets"])?;
    Ok(out["Subnets"]
        .as_array()
        .context("Subnets")?
        .iter()
        .map(|s| Subnet {
            id: s["SubnetId"].as_str().unwrap_or_default().to_string(),
            zone: s["AvailabilityZone"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
        .collect())
}

/// An instance a test launched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// `i-...`.
    pub id: String,
    /// Its availability zone.
    pub zone: String,
    /// Its Docker container (`<fleet prefix><id>`), for [`exec`].
    pub container: String,
}

/// The user data that makes an instance's agent join `cluster`, as the ECS documentation writes
/// it.
pub fn cluster_user_data(cluster: &str) -> String {
    format!("#!/bin/bash\necho ECS_CLUSTER={cluster} >> /etc/ecs/ecs.config\n")
}

/// `aws ec2 run-instances` of `ami` (t3.small, the `ecsInstanceRole` instance profile, tag
/// `Name=NAME`), one instance in each of `subnets`, with user data joining `cluster`; checks
/// that each starts `pending` in its subnet's zone, then waits (`aws ec2 wait instance-running`)
/// until all run.
pub fn run_instances(
    aws: &AwsCli,
    fleet: &Fleet,
    ami: &str,
    cluster: &str,
    subnets: &[Subnet],
    name: &str,
) -> Result<Vec<Instance>> {
    // The AWS CLI base64-encodes --user-data itself, as it does for EC2.
    let user_data = cluster_user_data(cluster);
    let tags = format!("ResourceType=instance,Tags=[{{Key=Name,Value={name}}}]");
    let mut launched = Vec::new();
    for subnet in subnets {
        let run = aws.run(&[
            "ec2",
            "run-instances",
            "--image-id",
            ami,
            "--instance-type",
            "t3.small",
            "--count",
            "1",
            "--subnet-id",
            &subnet.id,
            "--user-data",
            &user_data,
            "--iam-instance-profile",
            "Name=ecsInstanceRole",
            "--tag-specifications",
            &tags,
        ])?;
        let i = &run["Instances"][0];
        anyhow::ensure!(
            i["State"]["Name"] == "pending" && i["Placement"]["AvailabilityZone"] == *subnet.zone,
            "RunInstances in {subnet:?} answered {i}"
        );
        let id = i["InstanceId"].as_str().context("InstanceId")?.to_string();
        launched.push(Instance {
            container: format!("{}{id}", fleet.name_prefix()),
            id,
            zone: subnet.zone.clone(),
        });
    }
    let mut wait = vec!["ec2", "wait", "instance-running", "--instance-ids"];
    wait.extend(launched.iter().map(|i| i.id.as_str()));
    aws.run(&wait)?;
    Ok(launched)
}

/// Waits until `cluster` has exactly one connected container instance for each of `instances`
/// (their agents register on their own); returns them (DescribeContainerInstances). On timeout
/// the error carries each instance's `ecs` and `cloud-final` journal.
pub fn wait_registered(
    aws: &AwsCli,
    cluster: &str,
    instances: &[Instance],
    timeout: Duration,
) -> Result<Vec<Value>> {
    let registered = wait_until(
        timeout,
        &format!("{} connected container instance(s)", instances.len()),
        || {
            let all = container_instances(aws, cluster)?;
            let ready = all.len() == instances.len()
                && all.iter().all(|i| {
                    i["agentConnected"] == true
                        && instances.iter().any(|x| i["ec2InstanceId"] == *x.id)
                });
            anyhow::Ok(ready.then_some(all))
        },
    );
    registered.map_err(|e| {
        let mut why = format!("{e:#}");
        for i in instances {
            why.push_str(&format!(
                "\n--- {}: journalctl -u ecs -u cloud-final\n{}",
                i.container,
                exec(
                    &i.container,
                    "journalctl --no-pager -n 40 -u ecs -u cloud-final 2>&1"
                )
                .unwrap_or_default()
            ));
        }
        anyhow::anyhow!(why)
    })
}

/// The test image ([`Registry::push_test_image`]) as instances pull it: pushed to a registry on
/// loopback, served by a mirror of that registry on the VPC's gateway. Both stop on drop.
#[derive(Debug)]
pub struct TaskImage {
    /// The reference task definitions use (`GATEWAY:PORT/ecs-e2e/httpd:TAG`).
    pub image: String,
    // Field order is drop order: the mirror before the registry whose storage it serves.
    _mirror: Registry,
    _registry: Registry,
}

impl TaskImage {
    /// Registers `family`: one container of this image (32 MiB) that runs until SIGTERM; its
    /// task definition ARN.
    pub fn register_sleeper(&self, aws: &AwsCli, family: &str) -> Result<String> {
        crate::register_task_definition(
            aws,
            family,
            &serde_json::json!([{"name": "main", "image": self.image, "memory": 32,
                "entryPoint": ["sh", "-c"],
                "command": ["trap 'exit 0' TERM; while true; do sleep 1; done"]}]),
        )
    }

    /// Pushes the test image and serves it on `gateway` ([`gateway`]).
    pub fn on_gateway(gateway: IpAddr) -> Result<Self> {
        let registry = Registry::start()?;
        let pushed = registry.push_test_image()?;
        let mirror = registry.mirror_on(gateway)?;
        let image = pushed.replacen(registry.host(), mirror.host(), 1);
        Ok(TaskImage {
            image,
            _mirror: mirror,
            _registry: registry,
        })
    }
}
