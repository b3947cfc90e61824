//! [`DockerHost`]: emulated EC2 instances as Docker containers that boot systemd, with their own
//! IP on a VPC's bridge network and their own dockerd (its data on a named volume).
//!
//! Owns the Docker side only: container, volume and network names, the container's settings,
//! the boot script that runs before systemd. Must not decide anything EC2 decides (ids,
//! addresses, limits come in a [`LaunchSpec`]). The settings are those found to work on a
//! Docker host without `--privileged` (shared/reference/fleet.md): every capability but
//! CAP_SYS_RESOURCE, no seccomp/AppArmor/masked paths, all devices, tmpfs on /run and /tmp.
//!
//! Danger this module guards against: systemd inside mounts any cgroup-v1 controller the host
//! left unmounted, which creates a new kernel-wide hierarchy and breaks `docker stats` for every
//! container on the machine. The boot script covers each such controller path with a read-only
//! tmpfs before it execs /sbin/init, so systemd finds them "already mounted" and skips them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{
    ContainerCreateBody, DeviceMapping, EndpointIpamConfig, EndpointSettings, HostConfig, Ipam,
    IpamConfig, Mount, MountType, NetworkCreateRequest, NetworkingConfig, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListImagesOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptionsBuilder, StopContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use futures_util::future::BoxFuture;

use self::tar::tar_archive;
use super::host::{
    AMI_ID_LABEL, AMI_NAME_LABEL, AmiImage, HostError, HostState, InstanceFile, InstanceHost,
    LaunchSpec, MANAGED_LABEL, USER_DATA_PATH, VpcNetwork,
};

mod tar;

/// Where 169.254.169.254 traffic is caught inside an instance.
const IMDS_ADDR: &str = "169.254.169.254";
/// How long `stop` waits for systemd to shut down before Docker kills the instance.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs instances on the local Docker Engine.
#[derive(Debug, Clone)]
pub struct DockerHost {
    docker: Docker,
    name_prefix: String,
    stop_timeout: Duration,
}

impl DockerHost {
    /// Connects to the local Docker Engine (`DOCKER_HOST` or /var/run/docker.sock) and checks
    /// that it answers.
    pub async fn connect() -> Result<Self, HostError> {
        let docker = Docker::connect_with_local_defaults().map_err(|e| {
            HostError::Unavailable(format!("cannot use the Docker Engine's socket: {e}"))
        })?;
        docker.version().await.map_err(|e| {
            HostError::Unavailable(format!(
                "no Docker Engine answers on its socket ({e}); start Docker (systemctl start docker)"
            ))
        })?;
        Ok(Self::with_docker(docker))
    }

    /// Uses an existing client.
    pub fn with_docker(docker: Docker) -> Self {
        DockerHost {
            docker,
            name_prefix: "ec2-".into(),
            stop_timeout: DEFAULT_STOP_TIMEOUT,
        }
    }

    /// Names containers `<prefix><instance id>` instead of `ec2-<instance id>` (tests use their
    /// own prefix so parallel runs cannot collide).
    pub fn with_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.name_prefix = prefix.into();
        self
    }

    /// How long [`InstanceHost::stop`] lets systemd shut down before Docker kills it.
    pub fn with_stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }

    /// The container name of an instance.
    pub fn container_name(&self, instance_id: &str) -> String {
        format!("{}{instance_id}", self.name_prefix)
    }

    /// The volume holding an instance's `/var/lib/docker`.
    pub fn volume_name(&self, instance_id: &str) -> String {
        format!("{}-docker", self.container_name(instance_id))
    }

    /// Checks that this machine can start a container with an instance's settings (capabilities,
    /// security options, devices), by running `/bin/true` in `image` without a network. Fails
    /// with [`HostError::Unavailable`] saying what is missing.
    pub async fn preflight(&self, image: &str) -> Result<(), HostError> {
        let name = format!("{}preflight-{}", self.name_prefix, std::process::id());
        let mut host_config = instance_host_config(None, &self.volume_name("preflight"), 0, 0);
        host_config.mounts = None;
        host_config.network_mode = Some("none".into());
        let body = ContainerCreateBody {
            image: Some(image.into()),
            entrypoint: Some(vec!["/bin/true".into()]),
            labels: Some(HashMap::from([(MANAGED_LABEL.into(), "preflight".into())])),
            host_config: Some(host_config),
            ..Default::default()
        };
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = self.docker.create_container(Some(options), body).await;
        let started = match created {
            Ok(_) => self.docker.start_container(&name, None).await,
            Err(e) => Err(e),
        };
        let _ = self.remove_container(&name).await;
        started.map_err(|e| {
            let message = docker_message(&e);
            if message.contains("caps") || message.contains("operation not permitted") {
                HostError::Unavailable(format!(
                    "Docker cannot start a container with --cap-add ALL --cap-drop SYS_RESOURCE, \
                     seccomp/apparmor/systempaths unconfined and /dev/fuse ({message}); instances \
                     need a Docker Engine run as root with (nearly) every capability"
                ))
            } else {
                HostError::Docker {
                    action: format!("starting preflight container {name} from {image}"),
                    message,
                }
            }
        })
    }

    async fn remove_container(&self, name: &str) -> Result<(), HostError> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.docker.remove_container(name, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(docker_error(format!("removing container {name}"), &e)),
        }
    }

    /// Launches an instance, or leaves nothing behind: a failure after the volume exists
    /// removes what this call created. An instance that exists already is refused untouched.
    async fn do_launch(&self, spec: &LaunchSpec) -> Result<(), HostError> {
        let invalid = |reason: String| HostError::Invalid {
            instance_id: spec.instance_id.clone(),
            reason,
        };
        if spec.imds.ip().is_loopback() {
            return Err(invalid(format!(
                "the metadata service address {} is a loopback address: an instance has its \
                 own loopback; give an address on the VPC network (its gateway)",
                spec.imds
            )));
        }
        let archive = tar_archive(&instance_files(spec)).map_err(invalid)?;
        if self.state(&spec.instance_id).await? != HostState::Gone {
            return Err(invalid(format!(
                "container {} exists already",
                self.container_name(&spec.instance_id)
            )));
        }
        let result = self.create_and_start(spec, archive).await;
        if result.is_err()
            && let Err(e) = self.terminate(&spec.instance_id).await
        {
            tracing::warn!(instance_id = %spec.instance_id, error = %e, "cleaning up a failed launch");
        }
        result
    }

    async fn create_and_start(&self, spec: &LaunchSpec, archive: Vec<u8>) -> Result<(), HostError> {
        let name = self.container_name(&spec.instance_id);
        let volume = self.volume_name(&spec.instance_id);
        let labels = labels_for(&spec.labels, &spec.instance_id);
        self.docker
            .create_volume(VolumeCreateRequest {
                name: Some(volume.clone()),
                labels: Some(labels.clone()),
                ..Default::default()
            })
            .await
            .map_err(|e| docker_error(format!("creating volume {volume}"), &e))?;
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        self.docker
            .create_container(Some(options), container_body(spec, &volume, labels))
            .await
            .map_err(|e| docker_error(format!("creating container {name}"), &e))?;
        let upload = UploadToContainerOptionsBuilder::default().path("/").build();
        self.docker
            .upload_to_container(&name, Some(upload), bollard::body_full(archive.into()))
            .await
            .map_err(|e| docker_error(format!("writing files into container {name}"), &e))?;
        self.docker
            .start_container(&name, None)
            .await
            .map_err(|e| docker_error(format!("starting container {name}"), &e))?;
        tracing::info!(instance_id = %spec.instance_id, container = %name, ip = %spec.private_ip, "instance launched");
        Ok(())
    }
}

impl InstanceHost for DockerHost {
    fn ensure_network<'a>(&'a self, vpc: &'a VpcNetwork) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            match self.docker.inspect_network(&vpc.name, None).await {
                Ok(existing) => {
                    let subnets: Vec<String> = existing
                        .ipam
                        .and_then(|i| i.config)
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|c| c.subnet)
                        .collect();
                    if subnets.iter().any(|s| s == &vpc.cidr) {
                        Ok(())
                    } else {
                        Err(HostError::NetworkMismatch {
                            name: vpc.name.clone(),
                            found: subnets.join(", "),
                            wanted: vpc.cidr.clone(),
                        })
                    }
                }
                Err(e) if is_not_found(&e) => {
                    let request = NetworkCreateRequest {
                        name: vpc.name.clone(),
                        driver: Some("bridge".into()),
                        ipam: Some(Ipam {
                            config: Some(vec![IpamConfig {
                                subnet: Some(vpc.cidr.clone()),
                                gateway: Some(vpc.gateway.to_string()),
                                ..Default::default()
                            }]),
                            ..Default::default()
                        }),
                        labels: Some(labels_for(&vpc.labels, &vpc.name)),
                        ..Default::default()
                    };
                    self.docker.create_network(request).await.map_err(|e| {
                        docker_error(format!("creating network {} ({})", vpc.name, vpc.cidr), &e)
                    })?;
                    tracing::info!(network = %vpc.name, cidr = %vpc.cidr, "VPC network created");
                    Ok(())
                }
                Err(e) => Err(docker_error(format!("inspecting network {}", vpc.name), &e)),
            }
        })
    }

    fn images(&self) -> BoxFuture<'_, Result<Vec<AmiImage>, HostError>> {
        Box::pin(async move {
            let filters = HashMap::from([("label".to_string(), vec![AMI_ID_LABEL.to_string()])]);
            let options = ListImagesOptionsBuilder::default()
                .filters(&filters)
                .build();
            let images = self
                .docker
                .list_images(Some(options))
                .await
                .map_err(|e| docker_error("listing instance images".into(), &e))?;
            Ok(images
                .into_iter()
                .filter_map(|image| {
                    let image_id = image.labels.get(AMI_ID_LABEL)?.clone();
                    let name = image
                        .labels
                        .get(AMI_NAME_LABEL)
                        .cloned()
                        .unwrap_or_default();
                    let reference = image
                        .repo_tags
                        .iter()
                        .find(|t| *t != "<none>:<none>")
                        .cloned()
                        .unwrap_or(image.id);
                    Some(AmiImage {
                        image_id,
                        name,
                        reference,
                        created: rfc3339(image.created),
                    })
                })
                .collect())
        })
    }

    fn launch<'a>(&'a self, spec: &'a LaunchSpec) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(self.do_launch(spec))
    }

    fn stop<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            let name = self.container_name(instance_id);
            let seconds = i32::try_from(self.stop_timeout.as_secs()).unwrap_or(i32::MAX);
            let options = StopContainerOptionsBuilder::default().t(seconds).build();
            match self.docker.stop_container(&name, Some(options)).await {
                Ok(()) => Ok(()),
                Err(e) if is_not_found(&e) => Err(HostError::NoSuchInstance(instance_id.into())),
                Err(e) => Err(docker_error(format!("stopping container {name}"), &e)),
            }
        })
    }

    fn start<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            let name = self.container_name(instance_id);
            match self.docker.start_container(&name, None).await {
                Ok(()) => Ok(()),
                Err(e) if is_not_found(&e) => Err(HostError::NoSuchInstance(instance_id.into())),
                Err(e) => Err(docker_error(format!("starting container {name}"), &e)),
            }
        })
    }

    fn terminate<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            self.remove_container(&self.container_name(instance_id))
                .await?;
            let volume = self.volume_name(instance_id);
            let options = RemoveVolumeOptionsBuilder::default().force(true).build();
            match self.docker.remove_volume(&volume, Some(options)).await {
                Ok(()) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(docker_error(format!("removing volume {volume}"), &e)),
            }
        })
    }

    fn state<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<HostState, HostError>> {
        Box::pin(async move {
            let name = self.container_name(instance_id);
            match self.docker.inspect_container(&name, None).await {
                Ok(c) => Ok(if c.state.and_then(|s| s.running).unwrap_or(false) {
                    HostState::Running
                } else {
                    HostState::Stopped
                }),
                Err(e) if is_not_found(&e) => Ok(HostState::Gone),
                Err(e) => Err(docker_error(format!("inspecting container {name}"), &e)),
            }
        })
    }

    fn remove_network<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        Box::pin(async move {
            match self.docker.remove_network(name).await {
                Ok(()) => Ok(()),
                Err(e) if is_not_found(&e) => Ok(()),
                Err(e) => Err(docker_error(format!("removing network {name}"), &e)),
            }
        })
    }
}

fn labels_for(
    labels: &std::collections::BTreeMap<String, String>,
    managed: &str,
) -> HashMap<String, String> {
    let mut all: HashMap<String, String> = labels.clone().into_iter().collect();
    all.insert(MANAGED_LABEL.into(), managed.into());
    all
}

/// The settings every instance container gets (fleet.md's working set, never `--privileged`).
fn instance_host_config(
    network: Option<&str>,
    volume: &str,
    nano_cpus: i64,
    memory_bytes: i64,
) -> HostConfig {
    let tmpfs = HashMap::from([
        (
            "/run".to_string(),
            "rw,nosuid,nodev,exec,mode=755".to_string(),
        ),
        (
            "/run/lock".to_string(),
            "rw,nosuid,nodev,noexec,size=5m".to_string(),
        ),
        (
            "/tmp".to_string(),
            "rw,nosuid,nodev,exec,mode=1777".to_string(),
        ),
    ]);
    HostConfig {
        cap_add: Some(vec!["ALL".into()]),
        cap_drop: Some(vec!["SYS_RESOURCE".into()]),
        security_opt: Some(vec![
            "seccomp=unconfined".into(),
            "apparmor=unconfined".into(),
        ]),
        // The CLI's `--security-opt systempaths=unconfined`: nothing masked, nothing read-only.
        masked_paths: Some(vec![]),
        readonly_paths: Some(vec![]),
        device_cgroup_rules: Some(vec!["a *:* rwm".into()]),
        devices: Some(vec![DeviceMapping {
            path_on_host: Some("/dev/fuse".into()),
            path_in_container: Some("/dev/fuse".into()),
            cgroup_permissions: Some("rwm".into()),
        }]),
        tmpfs: Some(tmpfs),
        mounts: Some(vec![Mount {
            target: Some("/var/lib/docker".into()),
            source: Some(volume.into()),
            typ: Some(MountType::VOLUME),
            ..Default::default()
        }]),
        network_mode: network.map(str::to_string),
        nano_cpus: (nano_cpus > 0).then_some(nano_cpus),
        memory: (memory_bytes > 0).then_some(memory_bytes),
        ..Default::default()
    }
}

/// The whole `docker create` request for an instance (pure: unit-tested).
fn container_body(
    spec: &LaunchSpec,
    volume: &str,
    labels: HashMap<String, String>,
) -> ContainerCreateBody {
    let mut host_config = instance_host_config(
        Some(&spec.network),
        volume,
        spec.nano_cpus,
        spec.memory_bytes,
    );
    host_config.extra_hosts = Some(
        spec.extra_hosts
            .iter()
            .map(|(host, ip)| format!("{host}:{ip}"))
            .collect(),
    );
    let endpoint = EndpointSettings {
        ipam_config: Some(EndpointIpamConfig {
            ipv4_address: Some(spec.private_ip.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        hostname: Some(spec.hostname.clone()),
        env: Some(vec!["container=docker".into()]),
        entrypoint: Some(vec![
            "/bin/sh".into(),
            "-c".into(),
            boot_script(spec.imds),
            "ec2-boot".into(),
        ]),
        cmd: Some(vec![]),
        labels: Some(labels),
        stop_signal: Some("SIGRTMIN+3".into()),
        host_config: Some(host_config),
        networking_config: Some(NetworkingConfig {
            endpoints_config: Some(HashMap::from([(spec.network.clone(), endpoint)])),
        }),
        ..Default::default()
    }
}

/// The instance's PID 1 until it execs systemd: makes /sys and the cgroup mounts writable,
/// covers cgroup-v1 controllers the host has not mounted (see the module doc), sends
/// 169.254.169.254:80 to `imds` for the instance and its inner containers, then runs systemd.
/// Runs at every start of the instance (its network namespace is new each time).
pub fn boot_script(imds: SocketAddr) -> String {
    format!(
        r#"set -eu
say() {{ echo "ec2-boot: $*" >&2; }}
fstype_mounts() {{
    awk -v t="$1" '{{ for (i = 7; i <= NF; i++) if ($i == "-") {{ if ($(i + 1) == t) print $5, $(i + 3); break }} }}' /proc/self/mountinfo
}}
mount -o remount,rw /sys
mount -o remount,rw /sys/fs/cgroup
for m in $(fstype_mounts cgroup | cut -d' ' -f1) $(fstype_mounts cgroup2 | cut -d' ' -f1); do
    mount -o remount,bind,rw "$m"
done
mounted=" $(fstype_mounts cgroup | cut -d' ' -f2 | tr ',\n' '  ') "
guard() {{
    mountpoint -q "$1" && return 0
    mkdir -p "$1"
    mount -t tmpfs -o ro,nosuid,nodev,noexec,size=4k,mode=0555 ec2-cgroup-guard "$1"
    say "covered $1: the host has no such cgroup hierarchy, systemd must not create one"
}}
for c in $(awk 'NR > 1 && $4 == 1 {{ print $1 }}' /proc/cgroups); do
    case "$mounted" in *" $c "*) ;; *) guard "/sys/fs/cgroup/$c" ;; esac
done
guard /sys/fs/cgroup/cpu,cpuacct
guard /sys/fs/cgroup/net_cls,net_prio
for chain in OUTPUT PREROUTING; do
    iptables -w -t nat -A "$chain" -d {IMDS_ADDR}/32 -p tcp --dport 80 -j DNAT --to-destination {imds}
done
say "instance metadata: {IMDS_ADDR}:80 -> {imds}"
exec /sbin/init
"#
    )
}

/// The files written into the instance before it boots: the user data, then the spec's files.
fn instance_files(spec: &LaunchSpec) -> Vec<InstanceFile> {
    let mut files = Vec::new();
    if let Some(data) = &spec.user_data {
        files.push(InstanceFile {
            path: USER_DATA_PATH.into(),
            contents: data.clone(),
            mode: 0o600,
        });
    }
    files.extend(spec.files.iter().cloned());
    files
}

/// Controller name -> hierarchy id from `/proc/cgroups` (0: enabled but mounted nowhere). A
/// machine where systemd in an instance escaped the guard shows new non-zero ids.
pub fn cgroup_hierarchies(proc_cgroups: &str) -> Vec<(String, u32)> {
    proc_cgroups
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let name = fields.next()?;
            let hierarchy = fields.next()?.parse().ok()?;
            Some((name.to_string(), hierarchy))
        })
        .collect()
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

fn docker_message(e: &BollardError) -> String {
    match e {
        BollardError::DockerResponseServerError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// A failed call: Docker's refusal says what and where; no answer at all means no Docker.
fn docker_error(action: String, e: &BollardError) -> HostError {
    match e {
        BollardError::HyperResponseError { .. }
        | BollardError::HttpClientError { .. }
        | BollardError::IOError { .. }
        | BollardError::SocketNotFoundError(_) => HostError::Unavailable(format!(
            "{action}: the Docker Engine did not answer ({e}); is Docker running?"
        )),
        _ => HostError::Docker {
            action,
            message: docker_message(e),
        },
    }
}

#[cfg(test)]
mod tests;
