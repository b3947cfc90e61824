//! Where emulated EC2 instances run: the interface the EC2 API drives ([`InstanceHost`]) and the
//! plain data it passes. `docker_host.rs` implements it with containers that boot systemd.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};

use futures_util::future::BoxFuture;

/// The network an emulated VPC's instances live on (one Docker bridge network per VPC; its
/// subnets are ranges in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcNetwork {
    /// The Docker network's name.
    pub name: String,
    /// The VPC's CIDR, e.g. `172.31.0.0/16`.
    pub cidr: String,
    /// The host side of the network (`.1`), where the control plane listens for instances.
    pub gateway: Ipv4Addr,
    /// Labels put on the network.
    pub labels: BTreeMap<String, String>,
}

/// One file written into an instance before it boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFile {
    /// Absolute path inside the instance.
    pub path: String,
    /// Its contents.
    pub contents: Vec<u8>,
    /// Its mode, e.g. `0o644`.
    pub mode: u32,
}

/// Everything needed to start one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// `i-0123456789abcdef0`.
    pub instance_id: String,
    /// The Docker image of the AMI.
    pub image: String,
    /// [`VpcNetwork::name`].
    pub network: String,
    /// The instance's private address.
    pub private_ip: Ipv4Addr,
    /// `ip-172-31-5-9.ec2.internal`.
    pub hostname: String,
    /// The instance type's CPUs, in billionths.
    pub nano_cpus: i64,
    /// The instance type's memory.
    pub memory_bytes: i64,
    /// The user data, decoded; written to `/var/lib/cloud/instance/user-data.txt`.
    pub user_data: Option<Vec<u8>>,
    /// Files written before boot (e.g. a systemd drop-in).
    pub files: Vec<InstanceFile>,
    /// Where `169.254.169.254:80` goes, for the instance and its containers.
    pub imds: SocketAddr,
    /// Extra `/etc/hosts` entries.
    pub extra_hosts: Vec<(String, Ipv4Addr)>,
    /// Labels put on the container and its volume.
    pub labels: BTreeMap<String, String>,
}

/// What the host knows of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostState {
    /// It runs.
    Running,
    /// It exists and does not run.
    Stopped,
    /// The host has no such instance.
    Gone,
}

/// A machine image the host can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmiImage {
    /// `ami-...`.
    pub image_id: String,
    /// Its name.
    pub name: String,
    /// The Docker image reference.
    pub reference: String,
    /// When it was built (ISO 8601).
    pub created: String,
}

/// Why the host could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The host cannot run instances at all.
    #[error("this machine cannot run emulated instances: {0}")]
    Unavailable(String),
    /// One operation failed.
    #[error("{0}")]
    Failed(String),
}

/// Where instances run.
pub trait InstanceHost: Send + Sync + 'static {
    /// Creates the VPC's network if it is missing.
    fn ensure_network<'a>(&'a self, vpc: &'a VpcNetwork) -> BoxFuture<'a, Result<(), HostError>>;
    /// The images instances can be launched from.
    fn images(&self) -> BoxFuture<'_, Result<Vec<AmiImage>, HostError>>;
    /// Creates and starts an instance; returns once it runs (not once it has booted).
    fn launch<'a>(&'a self, spec: &'a LaunchSpec) -> BoxFuture<'a, Result<(), HostError>>;
    /// Shuts an instance down, keeping it.
    fn stop<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<(), HostError>>;
    /// Starts a stopped instance (same address, same disk).
    fn start<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<(), HostError>>;
    /// Removes an instance and its disk; fine if it is gone.
    fn terminate<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<(), HostError>>;
    /// What the host knows of an instance.
    fn state<'a>(&'a self, instance_id: &'a str) -> BoxFuture<'a, Result<HostState, HostError>>;
    /// Removes a VPC's network.
    fn remove_network<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Result<(), HostError>>;
}
