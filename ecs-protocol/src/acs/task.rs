//! The task, container and volume model as ACS sends it in `PayloadMessage` (reference section 3.5;
//! member names from the ACS service model).
//!
//! Every member is optional, even the few the model calls required (the reference agent's Go types do
//! not enforce them either): the control plane leaves out what a task definition does not set, one
//! odd member must not fail a whole payload, and a decoded task re-encodes to the same JSON. Several task-definition settings are
//! not members here at all: `memoryReservation`, `healthCheck`, `logConfiguration`, `ulimits`, `user`
//! and friends travel inside [`DockerConfig`] as Docker JSON strings (see
//! [`crate::docker_config`]).
//!
//! This module must not apply defaults or validate: turning a wire task into a runnable one (network
//! mode `bridge` when absent, protocol `tcp`, `command` from `overrides`) is the agent's conversion.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::credentials::IamRoleCredentials;
use super::network::{Attachment, ElasticNetworkInterface};
use crate::status::DesiredStatus;
use crate::types::{NetworkMode, TransportProtocol, open_enum};

/// A task as ACS sends it (`Task`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// The task definition revision, as a string (`"1"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired_status: Option<DesiredStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<Container>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    /// Task role credentials. Secret parts are redacted in `Debug`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_credentials: Option<IamRoleCredentials>,
    /// Execution role credentials. Secret parts are redacted in `Debug`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_credentials: Option<IamRoleCredentials>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elastic_network_interfaces: Option<Vec<ElasticNetworkInterface>>,
    /// Task-level CPU in vCPU (a double, unlike a container's shares).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<f64>,
    /// Task-level memory in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<NetworkMode>,
    /// `host` or `task`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<String>,
    /// `host`, `task` or `none`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub associations: Option<Vec<Association>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_configuration: Option<ProxyConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    /// `EC2`, `EXTERNAL`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    /// Task overrides as a JSON string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Opaque agent configuration as a JSON string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_configuration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_fault_injection: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_execution_configuration: Option<TrustedExecutionConfiguration>,
}

impl Task {
    /// The containers, or none.
    pub fn containers(&self) -> &[Container] {
        self.containers.as_deref().unwrap_or_default()
    }

    /// The volumes, or none.
    pub fn volumes(&self) -> &[Volume] {
        self.volumes.as_deref().unwrap_or_default()
    }
}

/// A container as ACS sends it (`Container`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// CPU shares.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i64>,
    /// Hard memory limit in MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_point: Option<Vec<String>>,
    /// Values redacted in `Debug`: the model marks them sensitive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_files: Option<Vec<EnvironmentFile>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_mappings: Option<Vec<PortMapping>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_points: Option<Vec<MountPoint>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volumes_from: Option<Vec<VolumeFrom>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_config: Option<DockerConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_type: Option<HealthCheckType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_authentication: Option<RegistryAuthentication>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs_auth_strategy: Option<AuthStrategy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<Secret>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<ContainerDependency>>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_timeout: Option<i64>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firelens_configuration: Option<FirelensConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linux_parameters: Option<LinuxParameters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_agents: Option<Vec<ManagedAgent>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_specs: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_interface_names: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_requirements: Option<Vec<ResourceRequirement>>,
    /// Container overrides as a JSON string; see [`Container::parsed_overrides`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overrides: Option<String>,
}

impl Container {
    /// The port mappings, or none.
    pub fn port_mappings(&self) -> &[PortMapping] {
        self.port_mappings.as_deref().unwrap_or_default()
    }

    /// The mount points, or none.
    pub fn mount_points(&self) -> &[MountPoint] {
        self.mount_points.as_deref().unwrap_or_default()
    }

    /// The dependencies, or none.
    pub fn depends_on(&self) -> &[ContainerDependency] {
        self.depends_on.as_deref().unwrap_or_default()
    }

    /// The `overrides` JSON string decoded; absent or empty means no overrides.
    pub fn parsed_overrides(&self) -> Result<ContainerOverrides, serde_json::Error> {
        match self.overrides.as_deref().map(str::trim) {
            None | Some("") => Ok(ContainerOverrides::default()),
            Some(json) => serde_json::from_str(json),
        }
    }
}

/// What a container's `overrides` string carries that the agent uses.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerOverrides {
    /// Replaces the container's `command` when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
}

/// A container's environment (`EnvironmentVariables`): name to value, sorted by name.
///
/// The service model marks the values sensitive (people put secrets in them), so `Debug` prints the
/// names only.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Environment(pub BTreeMap<String, String>);

impl fmt::Debug for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|name| (name, "<redacted>")))
            .finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Environment {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Self(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

/// An environment file to fetch (`EnvironmentFile`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentFile {
    /// The S3 object ARN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<EnvironmentFileType>,
}

open_enum! {
    /// Where an environment file lives.
    pub enum EnvironmentFileType {
        S3 => "s3",
    }
}

/// A port mapping (`PortMapping`). `hostPort` absent or 0 means the agent picks one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i64>,
    /// A range such as `"8000-8010"`, instead of `containerPort`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port_range: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TransportProtocol>,
}

/// A volume mounted into a container (`MountPoint`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_volume: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// Volumes taken from another container of the task (`VolumeFrom`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeFrom {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// Docker settings the control plane translated from the task definition (`DockerConfig`).
///
/// `config` and `hostConfig` are JSON *strings* of Docker Engine API objects, laid over the config the
/// agent builds itself; [`crate::docker_config`] reads and writes them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerConfig {
    /// The minimum Docker API version the container needs, e.g. `"1.17"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Docker container config, as a JSON string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// Docker host config, as a JSON string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_config: Option<String>,
}

open_enum! {
    /// Who runs a container's health check (`healthCheckType`).
    pub enum HealthCheckType {
        Docker => "docker",
    }
}

/// How to authenticate an image pull (`RegistryAuthenticationData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryAuthentication {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<AuthenticationType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ecr_auth_data: Option<EcrAuthData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asm_auth_data: Option<AsmAuthData>,
}

open_enum! {
    /// The kind of registry authentication.
    pub enum AuthenticationType {
        Ecr => "ecr",
        Asm => "asm",
    }
}

/// Where to get an ECR token (`ECRAuthData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EcrAuthData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_override: Option<String>,
    /// Use the execution role's credentials rather than the instance's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_execution_role: Option<bool>,
}

/// Registry credentials kept in Secrets Manager (`ASMAuthData`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AsmAuthData {
    /// The secret's ARN (not the secret itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_parameter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

open_enum! {
    /// Whose credentials ship the container's logs (`logsAuthStrategy`).
    pub enum AuthStrategy {
        ExecutionRole => "ExecutionRole",
    }
}

/// A secret to inject (`Secret`). `valueFrom` is a reference (SSM parameter or Secrets Manager ARN),
/// never the value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<SecretType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<SecretProvider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<SecretTarget>,
}

open_enum! {
    /// How a secret reaches the container.
    pub enum SecretType {
        EnvironmentVariable => "ENVIRONMENT_VARIABLE",
        MountPoint => "MOUNT_POINT",
        Bootstrap => "BOOTSTRAP",
    }
}

open_enum! {
    /// Which service holds a secret.
    pub enum SecretProvider {
        Ssm => "ssm",
        Asm => "asm",
    }
}

open_enum! {
    /// Who consumes a secret.
    pub enum SecretTarget {
        Container => "CONTAINER",
        LogDriver => "LOG_DRIVER",
    }
}

/// A `dependsOn` entry (`ContainerDependency`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDependency {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<ContainerCondition>,
}

open_enum! {
    /// When a dependency counts as met.
    pub enum ContainerCondition {
        Start => "START",
        Complete => "COMPLETE",
        Success => "SUCCESS",
        Healthy => "HEALTHY",
    }
}

/// FireLens log router settings (`FirelensConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FirelensConfiguration {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<FirelensType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

open_enum! {
    /// The FireLens log router.
    pub enum FirelensType {
        Fluentd => "fluentd",
        Fluentbit => "fluentbit",
    }
}

/// Linux-specific settings (`LinuxParameters`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinuxParameters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<KernelCapabilities>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<Vec<Device>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_process_enabled: Option<bool>,
    /// MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shared_memory_size: Option<i64>,
    /// MiB of swap; 0 disables swap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_swap: Option<i64>,
    /// 0 to 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<Vec<Tmpfs>>,
}

/// A tmpfs mount of a container (`Tmpfs`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tmpfs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    /// MiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_options: Option<Vec<String>>,
}

/// Capabilities to add and drop (`KernelCapabilities`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KernelCapabilities {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub add: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drop: Option<Vec<String>>,
}

/// A host device exposed to the container (`Device`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<DevicePermission>>,
}

open_enum! {
    /// A cgroup device permission.
    pub enum DevicePermission {
        Read => "read",
        Write => "write",
        Mknod => "mknod",
    }
}

/// A managed agent to run in the container (`ManagedAgent`), e.g. ECS Exec.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedAgent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<ManagedAgentName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
}

open_enum! {
    /// The managed agents ECS knows.
    pub enum ManagedAgentName {
        ExecuteCommandAgent => "ExecuteCommandAgent",
    }
}

/// Container restart policy (`RestartPolicy`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RestartPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored_exit_codes: Option<Vec<i64>>,
    /// Seconds a container must run before a restart is attempted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_attempt_period: Option<i64>,
}

/// A resource requirement such as GPUs (`ResourceRequirement`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceRequirement {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// e.g. `GPU`: free-form in the model.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sharing_strategy: Option<SharingStrategy>,
}

/// How a GPU is shared (`SharingStrategy`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SharingStrategy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nvidia_mps: Option<NvidiaMpsAllocation>,
}

/// An NVIDIA MPS share (`NvidiaMpsAllocation`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NvidiaMpsAllocation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_compute_percent: Option<i64>,
}

/// A task volume (`Volume`). Which configuration applies follows [`Volume::effective_type`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<VolumeType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<HostVolumeProperties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_volume_configuration: Option<DockerVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efs_volume_configuration: Option<EfsVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fsx_windows_file_server_volume_configuration:
        Option<FsxWindowsFileServerVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ebs_volume_configuration: Option<EbsVolumeConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_driver_volume_configuration: Option<LogDriverVolumeConfiguration>,
}

impl Volume {
    /// The volume type, `host` when ACS leaves it out (as the reference agent assumes).
    pub fn effective_type(&self) -> VolumeType {
        self.kind.clone().unwrap_or(VolumeType::Host)
    }
}

open_enum! {
    /// The kind of a task volume.
    pub enum VolumeType {
        /// A bind mount of `host.sourcePath`, or a task-scoped local volume when that is empty.
        Host => "host",
        Docker => "docker",
        Efs => "efs",
        FsxWindowsFileServer => "fsxWindowsFileServer",
        Ebs => "ebs",
        LogDriverOutput => "logDriverOutput",
    }
}

/// A host volume (`HostVolumeProperties`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostVolumeProperties {
    /// Absent or empty: the agent makes a task-scoped Docker volume instead of a bind mount.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,
}

/// A Docker volume (`DockerVolumeConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DockerVolumeConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<VolumeScope>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoprovision: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

open_enum! {
    /// How long a Docker volume lives.
    pub enum VolumeScope {
        /// Created for the task, removed at task cleanup.
        Task => "task",
        /// Outlives the task.
        Shared => "shared",
    }
}

/// An EFS volume (`EFSVolumeConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EfsVolumeConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_system_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_encryption: Option<EfsSetting>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transit_encryption_port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_config: Option<EfsAuthorizationConfig>,
}

/// EFS access point and IAM settings (`EFSAuthorizationConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EfsAuthorizationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_point_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iam: Option<EfsSetting>,
}

open_enum! {
    /// An EFS switch (transit encryption, IAM authorization).
    pub enum EfsSetting {
        Enabled => "ENABLED",
        Disabled => "DISABLED",
    }
}

/// An FSx for Windows File Server volume (`FSxWindowsFileServerVolumeConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsxWindowsFileServerVolumeConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_system_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_config: Option<FsxWindowsFileServerAuthorizationConfig>,
}

/// FSx credentials reference and domain (`FSxWindowsFileServerAuthorizationConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsxWindowsFileServerAuthorizationConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_parameter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// An EBS volume attached for the task (`EBSVolumeConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EbsVolumeConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_on_termination: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filesystem_type: Option<String>,
}

/// A volume receiving a log driver's output (`LogDriverVolumeConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogDriverVolumeConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
}

/// An accelerator association (`Association`): elastic inference or GPU.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Association {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<AssociationType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<EncodedString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<String>>,
}

open_enum! {
    /// The kind of an [`Association`].
    pub enum AssociationType {
        ElasticInference => "elastic-inference",
        Gpu => "gpu",
    }
}

/// A string with its encoding (`EncodedString`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncodedString {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
}

open_enum! {
    /// How an [`EncodedString`] is encoded.
    pub enum Encoding {
        Identity => "identity",
        Base64 => "base64",
    }
}

/// App Mesh proxy settings (`ProxyConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProxyConfiguration {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ProxyConfigurationType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, String>>,
}

open_enum! {
    /// The proxy kind.
    pub enum ProxyConfigurationType {
        Appmesh => "APPMESH",
    }
}

/// Confidential-computing settings (`TrustedExecutionConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustedExecutionConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation_mode: Option<IsolationMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation_policy: Option<String>,
}

open_enum! {
    /// How strongly a task is isolated.
    pub enum IsolationMode {
        Shared => "SHARED",
        Exclusive => "EXCLUSIVE",
        IsolatedPartition => "ISOLATED_PARTITION",
        ConfidentialPartition => "CONFIDENTIAL_PARTITION",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_minimal_container_decodes_and_re_encodes_unchanged() {
        let wire = json!({
            "name": "web",
            "image": "nginx:1.27",
            "cpu": 256,
            "memory": 512,
            "essential": true,
            "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}],
            "environment": {"MODE": "prod"},
            "mountPoints": [],
            "volumesFrom": [],
            "links": []
        });
        let container: Container = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(
            container.port_mappings()[0].protocol,
            Some(TransportProtocol::Tcp)
        );
        assert_eq!(container.port_mappings()[0].host_port, Some(0));
        assert_eq!(serde_json::to_value(&container).unwrap(), wire);
    }

    #[test]
    fn linux_parameters_with_swap_and_tmpfs_re_encode_unchanged() {
        let wire = json!({
            "capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]},
            "devices": [{"hostPath": "/dev/null", "containerPath": "/dev/mynull", "permissions": ["read"]}],
            "initProcessEnabled": true,
            "sharedMemorySize": 64,
            "maxSwap": 0,
            "swappiness": 10,
            "tmpfs": [
                {"containerPath": "/tmp", "size": 64, "mountOptions": ["rw", "noexec"]},
                {"containerPath": "/run"}
            ]
        });
        let lp: LinuxParameters = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(lp.max_swap, Some(0));
        assert_eq!(lp.swappiness, Some(10));
        let tmpfs = lp.tmpfs.as_deref().unwrap();
        assert_eq!(tmpfs[0].size, Some(64));
        assert_eq!(
            tmpfs[1],
            Tmpfs {
                container_path: Some("/run".into()),
                ..Tmpfs::default()
            }
        );
        assert_eq!(serde_json::to_value(&lp).unwrap(), wire);
        // Absent members stay absent.
        assert_eq!(
            serde_json::to_value(LinuxParameters::default()).unwrap(),
            json!({})
        );
    }

    #[test]
    fn unknown_members_are_ignored() {
        let container: Container = serde_json::from_value(json!({
            "name": "web",
            "someFutureMember": {"nested": [1, 2, 3]}
        }))
        .unwrap();
        assert_eq!(container.name.as_deref(), Some("web"));
    }

    #[test]
    fn environment_values_are_redacted_in_debug() {
        let container = Container {
            environment: Some([("DB_PASSWORD", "hunter2")].into_iter().collect()),
            ..Container::default()
        };
        let shown = format!("{container:?}");
        assert!(shown.contains("DB_PASSWORD"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn task_credentials_are_redacted_in_debug() {
        let task = Task {
            role_credentials: Some(IamRoleCredentials {
                secret_access_key: Some("s3cr3t".into()),
                session_token: Some("t0k3n".into()),
                ..IamRoleCredentials::default()
            }),
            ..Task::default()
        };
        let shown = format!("{task:?}");
        assert!(
            !shown.contains("s3cr3t") && !shown.contains("t0k3n"),
            "{shown}"
        );
    }

    #[test]
    fn overrides_string_carries_a_command() {
        let mut container = Container {
            overrides: Some(r#"{"command":["sleep","60"]}"#.into()),
            ..Container::default()
        };
        let command = container.parsed_overrides().unwrap().command.unwrap();
        assert_eq!(command, ["sleep", "60"]);

        container.overrides = Some("{}".into());
        assert_eq!(
            container.parsed_overrides().unwrap(),
            ContainerOverrides::default()
        );
        container.overrides = Some(String::new());
        assert_eq!(
            container.parsed_overrides().unwrap(),
            ContainerOverrides::default()
        );
        container.overrides = Some("{not json".into());
        assert!(container.parsed_overrides().is_err());
    }

    #[test]
    fn volume_type_defaults_to_host() {
        let volume: Volume =
            serde_json::from_value(json!({"name": "data", "host": {"sourcePath": "/srv"}}))
                .unwrap();
        assert_eq!(volume.effective_type(), VolumeType::Host);
        assert_eq!(volume.host.unwrap().source_path.as_deref(), Some("/srv"));
    }

    #[test]
    fn volume_types_decode_with_their_configuration() {
        let docker: Volume = serde_json::from_value(json!({
            "name": "scratch",
            "type": "docker",
            "dockerVolumeConfiguration": {
                "scope": "shared", "autoprovision": true, "driver": "local",
                "driverOpts": {"type": "tmpfs"}, "labels": {"team": "a"}
            }
        }))
        .unwrap();
        assert_eq!(docker.effective_type(), VolumeType::Docker);
        let config = docker.docker_volume_configuration.unwrap();
        assert_eq!(config.scope, Some(VolumeScope::Shared));

        let efs: Volume = serde_json::from_value(json!({
            "name": "shared-fs",
            "type": "efs",
            "efsVolumeConfiguration": {
                "fileSystemId": "fs-1", "transitEncryption": "ENABLED",
                "authorizationConfig": {"accessPointId": "fsap-1", "iam": "DISABLED"}
            }
        }))
        .unwrap();
        let config = efs.efs_volume_configuration.unwrap();
        assert_eq!(config.transit_encryption, Some(EfsSetting::Enabled));
        assert_eq!(
            config.authorization_config.unwrap().iam,
            Some(EfsSetting::Disabled)
        );
    }

    #[test]
    fn an_unknown_volume_type_is_tolerated() {
        let volume: Volume =
            serde_json::from_value(json!({"name": "v", "type": "s3files", "s3Config": {}}))
                .unwrap();
        assert_eq!(
            volume.effective_type(),
            VolumeType::Unknown("s3files".into())
        );
    }

    #[test]
    fn secrets_and_dependencies_use_wire_enums() {
        let container: Container = serde_json::from_value(json!({
            "secrets": [{
                "name": "DB_PASSWORD",
                "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/db",
                "type": "ENVIRONMENT_VARIABLE", "provider": "ssm", "target": "CONTAINER",
                "region": "us-east-1"
            }],
            "dependsOn": [{"containerName": "db", "condition": "HEALTHY"}]
        }))
        .unwrap();
        let secret = &container.secrets.as_ref().unwrap()[0];
        assert_eq!(secret.kind, Some(SecretType::EnvironmentVariable));
        assert_eq!(secret.provider, Some(SecretProvider::Ssm));
        assert_eq!(
            container.depends_on()[0].condition,
            Some(ContainerCondition::Healthy)
        );
    }
}
