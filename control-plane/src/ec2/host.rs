//! Where emulated EC2 instances run: the narrow interface the EC2 service drives (networks for
//! VPCs, images for AMIs, containers for instances), and the types it speaks in.
//!
//! Owns no state and knows nothing of EC2's API: the EC2 service decides ids, addresses and
//! limits and hands them over in a [`LaunchSpec`]. The real implementation is
//! [`super::docker_host::DockerHost`] (one Docker container per instance, systemd inside); tests
//! of the EC2 service can implement [`InstanceHost`] with a recording fake.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use futures_util::future::BoxFuture;

/// Label on every network, volume and container an [`InstanceHost`] creates (value: the
/// instance id, or the network name), so leaks can be found: `docker ps -a --filter label=...`.
pub const MANAGED_LABEL: &str = "ecs-agent-rs.ec2";
/// Label of instance images (AMIs): their `ami-...` id.
pub const AMI_ID_LABEL: &str = "ecs-agent-rs.ami-id";
/// Label of instance images: their name (`ecs-agent-rs-optimized-<version>`).
pub const AMI_NAME_LABEL: &str = "ecs-agent-rs.ami-name";
/// Where the user data is written in the instance; cloud-final.service runs it once.
pub const USER_DATA_PATH: &str = "/var/lib/cloud/instance/user-data.txt";

/// The network an emulated VPC's instances live on (one Docker bridge network per VPC; subnets
/// are ranges in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcNetwork {
    /// Docker network name.
    pub name: String,
    /// The VPC's CIDR, e.g. `172.31.0.0/16`.
    pub cidr: String,
    /// The host side of the network (the `.1` address): the instances' default route, where
    /// the control plane and the instance metadata service can listen.
    pub gateway: Ipv4Addr,
    /// Put on the network (with [`MANAGED_LABEL`]).
    pub labels: BTreeMap<String, String>,
}

/// Everything needed to start one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// `i-0123456789abcdef0`; the container is named `ec2-<instance_id>` (the host's name
    /// prefix, see `DockerHost::with_name_prefix`).
    pub instance_id: String,
    /// Docker image reference of the AMI.
    pub image: String,
    /// [`VpcNetwork::name`].
    pub network: String,
    /// The instance's address on that network.
    pub private_ip: Ipv4Addr,
    /// `ip-172-31-5-9.ec2.internal`.
    pub hostname: String,
    /// CPU limit of the instance type, in billionths of a CPU.
    pub nano_cpus: i64,
    /// Memory limit of the instance type.
    pub memory_bytes: i64,
    /// Already base64-decoded; written to [`USER_DATA_PATH`].
    pub user_data: Option<Vec<u8>>,
    /// Extra files written before the first boot (e.g. a systemd drop-in).
    pub files: Vec<InstanceFile>,
    /// Where 169.254.169.254:80 goes (DNAT inside the instance, for its own processes and for
    /// the containers of its inner Docker).
    pub imds: SocketAddr,
    /// `/etc/hosts` entries.
    pub extra_hosts: Vec<(String, Ipv4Addr)>,
    /// Put on the container and its volume (with [`MANAGED_LABEL`]).
    pub labels: BTreeMap<String, String>,
}

/// A file written into an instance before it boots.
#[derive(Clone, PartialEq, Eq)]
pub struct InstanceFile {
    /// Absolute path inside the instance (not under a tmpfs: /run, /tmp).
    pub path: String,
    /// Its bytes.
    pub contents: Vec<u8>,
    /// Unix permission bits, e.g. `0o644`.
    pub mode: u32,
}

impl std::fmt::Debug for InstanceFile {
    // Contents may be credentials (a drop-in with keys): never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceFile")
            .field("path", &self.path)
            .field("contents", &format_args!("<{} bytes>", self.contents.len()))
            .field("mode", &format_args!("{:o}", self.mode))
            .finish()
    }
}

/// What the host sees of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostState {
    /// Its container runs (systemd may still be booting).
    Running,
    /// Its container exists and is not running.
    Stopped,
    /// No container.
    Gone,
}

/// An instance image the host can launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmiImage {
    /// `ami-` and 17 hex digits.
    pub image_id: String,
    /// `ecs-agent-rs-optimized-<version>`.
    pub name: String,
    /// Docker image reference to launch it by.
    pub reference: String,
    /// Creation time, RFC 3339.
    pub created: String,
}

/// Why the host could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The machine cannot run instances at all (no Docker, missing capabilities, ...).
    #[error("this machine cannot run emulated EC2 instances: {0}")]
    Unavailable(String),
    /// A Docker call failed.
    #[error("docker: {action}: {message}")]
    Docker {
        /// What was being done, e.g. "creating container ec2-i-0123".
        action: String,
        /// Docker's message.
        message: String,
    },
    /// A network exists with another subnet than the VPC's.
    #[error("docker network {name} exists with subnet {found}, not {wanted}")]
    NetworkMismatch {
        /// The network.
        name: String,
        /// Its subnet(s).
        found: String,
        /// The VPC's CIDR.
        wanted: String,
    },
    /// An instance is not known to the host.
    #[error("no instance {0} on this host")]
    NoSuchInstance(String),
    /// One operation failed, in the host's own words (fakes in tests use it).
    #[error("{0}")]
    Failed(String),
    /// A request the host cannot carry out as given.
    #[error("invalid launch request for {instance_id}: {reason}")]
    Invalid {
        /// The instance.
        instance_id: String,
        /// What is wrong.
        reason: String,
    },
}

/// Runs emulated EC2 instances. All methods are idempotent where EC2's operations are.
pub trait InstanceHost: Send + Sync + 'static {
    /// Creates the VPC's network if missing (labelled); fine if it exists with that subnet.
    fn ensure_network<'a>(&'a self, vpc: &'a VpcNetwork) -> BoxFuture<'a, Result<(), HostError>>;
    /// Local images labelled [`AMI_ID_LABEL`].
    fn images(&self) -> BoxFuture<'_, Result<Vec<AmiImage>, HostError>>;
    /// Creates the instance's volume and container, writes its files, starts it; returns once
    /// the container runs (not waiting for systemd inside).
    fn launch<'a>(&'a self, spec: &'a LaunchSpec) -> BoxFuture<'a, Result<(), HostError>>;
    /// Clean shutdown (SIGRTMIN+3 to systemd, then a timeout); the container is kept.
    fn stop<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<(), HostError>>;
    /// Starts a stopped instance again: same IP, same volume, same disk.
    fn start<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<(), HostError>>;
    /// Removes the container and its volume; fine if already gone.
    fn terminate<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<(), HostError>>;
    /// Whether the instance's container runs.
    fn state<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<HostState, HostError>>;
    /// Removes a network; fine if already gone.
    fn remove_network<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), HostError>>;
}

/// An [`InstanceHost`] that writes `files` into every instance it launches, after the spec's
/// own: what the control plane adds to every instance besides EC2's launch (its TLS CA
/// certificate and the drop-in naming it, see `lib.rs`). Everything else is the inner host's.
pub struct WithFiles {
    inner: std::sync::Arc<dyn InstanceHost>,
    files: Vec<InstanceFile>,
}

impl WithFiles {
    /// `inner`, writing `files` into each instance it launches.
    pub fn new(inner: std::sync::Arc<dyn InstanceHost>, files: Vec<InstanceFile>) -> Self {
        WithFiles { inner, files }
    }
}

impl std::fmt::Debug for WithFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WithFiles")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl InstanceHost for WithFiles {
    fn ensure_network<'a>(&'a self, vpc: &'a VpcNetwork) -> BoxFuture<'a, Result<(), HostError>> {
        self.inner.ensure_network(vpc)
    }
    fn images(&self) -> BoxFuture<'_, Result<Vec<AmiImage>, HostError>> {
        self.inner.images()
    }
    fn launch<'a>(&'a self, spec: &'a LaunchSpec) -> BoxFuture<'a, Result<(), HostError>> {
        let mut spec = spec.clone();
        spec.files.extend(self.files.iter().cloned());
        Box::pin(async move { self.inner.launch(&spec).await })
    }
    fn stop<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        self.inner.stop(instance_id)
    }
    fn start<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        self.inner.start(instance_id)
    }
    fn terminate<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        self.inner.terminate(instance_id)
    }
    fn state<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<HostState, HostError>> {
        self.inner.state(instance_id)
    }
    fn remove_network<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), HostError>> {
        self.inner.remove_network(name)
    }
}
