//! The container runtime seen by the task engine: a narrow trait over Docker, one real
//! implementation (bollard, in `docker.rs`) and a recording fake (`fake.rs`) for unit tests.
//! This module is the only place that knows about bollard; it holds no task state.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use ecs_protocol::docker_config::{ContainerConfigOverlay, HostConfigOverlay};

pub mod docker;
pub mod docker_pull;
pub mod fake;
pub mod logging;
pub mod spec;
pub mod volumes;

/// Transport protocol of a port binding.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// One published port: `host_ip:host_port -> container_port/protocol`. `host_port` is always a
/// concrete port the agent allocated (never 0).
///
/// What the agent asks for has no `host_ip` (published on every address, as the reference
/// publishes); what Docker reports has one per address it bound, so a port published on a host
/// with IPv6 comes back twice, `0.0.0.0` and `::`. Records persisted before the address was kept
/// have none either.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortSpec {
    /// Port inside the container.
    pub container_port: u16,
    /// Port on the host.
    pub host_port: u16,
    /// tcp or udp.
    pub protocol: Protocol,
    /// The host address bound, once Docker says; `None`: every address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<std::net::IpAddr>,
}

impl PortSpec {
    /// The address ECS is told the port is bound to: Docker's, or `0.0.0.0` before Docker has
    /// said (the reference reports only what Docker said; a record of a port not yet inspected
    /// is reported with the IPv4 any-address, as before addresses were kept).
    pub fn bind_ip(&self) -> std::net::IpAddr {
        self.host_ip
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }
}

/// Everything needed to create one container. Built by [`spec::container_spec`]. `Debug` shows
/// the environment's names only: values include secrets ([`crate::secrets`]).
#[derive(Clone, PartialEq, Default)]
pub struct ContainerSpec {
    /// Docker name: `ecs-<family>-<version>-<name>-<hex>`.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    /// Overrides the image's CMD when set.
    pub cmd: Option<Vec<String>>,
    /// Overrides the image's ENTRYPOINT when set.
    pub entrypoint: Option<Vec<String>>,
    /// Labels (the five `com.amazonaws.ecs.*` ones plus dockerLabels).
    pub labels: BTreeMap<String, String>,
    /// Published ports.
    pub ports: Vec<PortSpec>,
    /// `bridge`, `host` or `none`.
    pub network_mode: String,
    /// Hard memory limit in bytes.
    pub memory_bytes: Option<i64>,
    /// CPU shares (already clamped to 2..=262144).
    pub cpu_shares: i64,
    /// Docker container-config fields from `dockerConfig.config` (User, Healthcheck, ...).
    pub config_overlay: Option<ContainerConfigOverlay>,
    /// Docker host-config fields from `dockerConfig.hostConfig` (MemoryReservation, LogConfig, ...).
    pub host_overlay: Option<HostConfigOverlay>,
    /// Mounts, container references and the task cgroup ([`volumes`], engine).
    pub task_resources: TaskResourceSpec,
}

impl std::fmt::Debug for ContainerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env_names: Vec<&str> = self
            .env
            .iter()
            .map(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k))
            .collect();
        let log_driver = self
            .host_overlay
            .as_ref()
            .and_then(|h| h.log_config.as_ref())
            .map(|l| l.kind.as_str());
        f.debug_struct("ContainerSpec")
            .field("name", &self.name)
            .field("image", &self.image)
            .field("env_names", &env_names)
            .field("cmd", &self.cmd)
            .field("entrypoint", &self.entrypoint)
            .field("labels", &self.labels)
            .field("ports", &self.ports)
            .field("network_mode", &self.network_mode)
            .field("memory_bytes", &self.memory_bytes)
            .field("cpu_shares", &self.cpu_shares)
            .field("log_driver", &log_driver)
            .field("task_resources", &self.task_resources)
            .finish_non_exhaustive()
    }
}

/// The parts of a container's Docker config that come from the task rather than the container
/// definition: mounts, references to sibling containers by Docker name, the task cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TaskResourceSpec {
    /// `HostConfig.Binds`: `<host path or volume name>:<container path>[:ro]`.
    pub binds: Vec<String>,
    /// `HostConfig.VolumesFrom`: `<docker name>[:ro]`.
    pub volumes_from: Vec<String>,
    /// `HostConfig.Links`: `<docker name>:<alias>`.
    pub links: Vec<String>,
    /// `HostConfig.CgroupParent`: the task cgroup (`/ecs/<task id>`), when task limits apply.
    pub cgroup_parent: Option<String>,
}

/// A Docker volume to create.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeSpec {
    /// Volume name.
    pub name: String,
    /// Driver (`local` when empty).
    pub driver: String,
    /// Driver options.
    pub driver_opts: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// What Docker says about a volume.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeInfo {
    /// Volume name.
    pub name: String,
    /// Driver.
    pub driver: String,
    /// Driver options as created.
    pub driver_opts: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Where it lives on the host.
    pub mountpoint: String,
}

/// Docker health status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Health {
    /// `starting`.
    Starting,
    /// `healthy`.
    Healthy,
    /// `unhealthy`.
    Unhealthy,
}

/// What Docker says about a container.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerInfo {
    /// Full id.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// Image reference as created.
    pub image: String,
    /// Image id (`sha256:...`).
    pub image_id: String,
    /// Docker state: `created`, `running`, `exited`, ...
    pub status: String,
    /// Exit code once exited.
    pub exit_code: Option<i64>,
    /// Killed by the OOM killer.
    pub oom_killed: bool,
    /// Docker's error text for a failed start, if any.
    pub error: Option<String>,
    /// Published ports as Docker bound them.
    pub ports: Vec<PortSpec>,
    /// Health, if the container has a health check.
    pub health: Option<Health>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// IPv4 addresses on its networks (task metadata `Networks[].IPv4Addresses`).
    pub ipv4_addresses: Vec<String>,
}

impl ContainerInfo {
    /// Docker says it is running.
    pub fn running(&self) -> bool {
        self.status == "running"
    }
}

/// A container event from Docker's event stream (only containers with the ECS task-arn label).
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeEvent {
    /// `start`.
    Started {
        /// Container id.
        id: String,
    },
    /// `die` with its exit code.
    Died {
        /// Container id.
        id: String,
        /// Exit code from the event's attributes.
        exit_code: Option<i64>,
    },
    /// `oom`.
    Oom {
        /// Container id.
        id: String,
    },
    /// `health_status: healthy|unhealthy`.
    Health {
        /// Container id.
        id: String,
        /// New health.
        health: Health,
    },
    /// `destroy`.
    Destroyed {
        /// Container id.
        id: String,
    },
}

/// Docker's version answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeVersion {
    /// e.g. `20.10.24+dfsg1`.
    pub version: String,
    /// e.g. `1.41`.
    pub api_version: String,
}

/// Credentials for one registry, sent to Docker with a pull. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryAuth {
    /// User name (`AWS` for ECR).
    pub username: String,
    /// Password or token: secret.
    pub password: String,
    /// The registry, e.g. `127.0.0.1:5000` or ECR's proxyEndpoint.
    pub server_address: String,
}

impl std::fmt::Debug for RegistryAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryAuth")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("server_address", &self.server_address)
            .finish()
    }
}

/// A stopped container the agent did not create, as untracked cleanup sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmanagedContainer {
    /// Docker id.
    pub id: String,
    /// When it stopped (epoch seconds); 0 when it never ran (`created`), as Docker's
    /// `0001-01-01T00:00:00Z` reads to the reference.
    pub finished_at: i64,
}

/// What Docker says about an image.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageInfo {
    /// Image id (`sha256:...`).
    pub id: String,
    /// `repo:tag` references.
    pub repo_tags: Vec<String>,
    /// `repo@sha256:...` references.
    pub repo_digests: Vec<String>,
    /// Size in bytes.
    pub size: i64,
    /// Creation time, seconds since the epoch.
    pub created: i64,
}

/// What the registry says an image reference points at (Docker's `DistributionInspect`
/// descriptor): the manifest's digest and media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestDescriptor {
    /// `sha256:...` of the manifest (or index) the reference resolves to.
    pub digest: String,
    /// e.g. `application/vnd.oci.image.index.v1+json`.
    pub media_type: String,
}

/// A runtime failure, with Docker's own words in `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The container or image does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A call exceeded its deadline.
    #[error("timed out after {0:?}: {1}")]
    Timeout(Duration, String),
    /// Docker refused or failed.
    #[error("{0}")]
    Docker(String),
}

/// A boxed future, for trait methods (the engine is generic, the fake is used in unit tests).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A stream of runtime events.
pub type EventStream =
    Pin<Box<dyn futures_util::Stream<Item = Result<RuntimeEvent, RuntimeError>> + Send>>;

/// A stream of a container's stats samples, each Docker's stats JSON.
pub type StatsStream =
    Pin<Box<dyn futures_util::Stream<Item = Result<serde_json::Value, RuntimeError>> + Send>>;

/// The container runtime. Every call has its own timeout inside the implementation.
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Docker's version (also proves it answers).
    fn version(&self) -> BoxFuture<'_, Result<RuntimeVersion, RuntimeError>>;
    /// Pulls `image`, with `auth` for its registry if given; returns its repo digest
    /// (`sha256:...`) when Docker reports one.
    fn pull<'a>(
        &'a self,
        image: &'a str,
        auth: Option<&'a RegistryAuth>,
    ) -> BoxFuture<'a, Result<Option<String>, RuntimeError>>;
    /// Asks the registry, through Docker, which manifest `image` resolves to (no layers are
    /// fetched), with `auth` for its registry if given; `None` when the engine is too old to ask
    /// (the reference resolves digests only from API 1.35 on). No deadline inside: the caller
    /// bounds it (`ECS_MANIFEST_PULL_TIMEOUT`) and decides the retries.
    fn manifest<'a>(
        &'a self,
        image: &'a str,
        auth: Option<&'a RegistryAuth>,
    ) -> BoxFuture<'a, Result<Option<ManifestDescriptor>, RuntimeError>>;
    /// Tags the local image `source` (a reference or id) as `target` (`repo:tag`).
    fn tag_image<'a>(
        &'a self,
        source: &'a str,
        target: &'a str,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// Inspects an image by reference or id; `None` if it does not exist.
    fn inspect_image<'a>(
        &'a self,
        image: &'a str,
    ) -> BoxFuture<'a, Result<Option<ImageInfo>, RuntimeError>>;
    /// Every local image.
    fn list_images(&self) -> BoxFuture<'_, Result<Vec<ImageInfo>, RuntimeError>>;
    /// Removes (untags) an image reference, or an image by id. Never forced: Docker refuses an
    /// image a container uses.
    fn remove_image<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// Whether `image` is present locally.
    fn image_exists<'a>(&'a self, image: &'a str) -> BoxFuture<'a, Result<bool, RuntimeError>>;
    /// Creates a container; returns its id.
    fn create<'a>(&'a self, spec: &'a ContainerSpec)
    -> BoxFuture<'a, Result<String, RuntimeError>>;
    /// Starts a created container.
    fn start<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// Stops with SIGTERM, then SIGKILL after `timeout`. Stopping a stopped container is Ok.
    fn stop<'a>(
        &'a self,
        id: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// Removes a container (and its anonymous volumes). Removing a missing one is Ok.
    fn remove<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;
    /// Inspects by id or name; `None` if it does not exist.
    fn inspect<'a>(
        &'a self,
        id_or_name: &'a str,
    ) -> BoxFuture<'a, Result<Option<ContainerInfo>, RuntimeError>>;
    /// Every container (running or not) carrying the `com.amazonaws.ecs.task-arn` label.
    fn list_managed(&self) -> BoxFuture<'_, Result<Vec<ContainerInfo>, RuntimeError>>;
    /// Containers without the `com.amazonaws.ecs.task-arn` label that are `exited`, `dead` or
    /// `created` (the ones the reference's untracked cleanup may remove), with when they stopped.
    fn list_stopped_unmanaged(
        &self,
    ) -> BoxFuture<'_, Result<Vec<UnmanagedContainer>, RuntimeError>>;
    /// Docker's event stream, filtered to managed containers, from now on.
    fn events(&self) -> EventStream;
    /// Creates a volume (Docker answers with the existing one when the name is taken).
    fn create_volume<'a>(
        &'a self,
        spec: &'a VolumeSpec,
    ) -> BoxFuture<'a, Result<VolumeInfo, RuntimeError>>;
    /// Inspects a volume; `None` if it does not exist.
    fn inspect_volume<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, Result<Option<VolumeInfo>, RuntimeError>>;
    /// Removes a volume. Removing a missing one is Ok.
    fn remove_volume<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), RuntimeError>>;

    /// One sample of a container's resource usage, as Docker's stats JSON (task metadata
    /// `/stats`); `None` when the container is gone. Runtimes without stats say so.
    fn stats<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, RuntimeError>> {
        Box::pin(async move {
            Err(RuntimeError::Docker(format!(
                "stats of {id} are not available from this runtime"
            )))
        })
    }

    /// Docker's stats stream of a container (about one sample a second), for the metrics
    /// collector ([`crate::stats`]). It ends when the container stops or is removed; an error item
    /// ends it too. Runtimes without stats give a stream of one error.
    fn stats_stream(&self, id: &str) -> StatsStream {
        let error =
            RuntimeError::Docker(format!("stats of {id} are not available from this runtime"));
        Box::pin(futures_util::stream::once(async move { Err(error) }))
    }
}
