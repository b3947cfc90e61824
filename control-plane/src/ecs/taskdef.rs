//! The registered task definition as a typed value: parsed once, at RegisterTaskDefinition, then
//! shared (`Arc`) by placement, task creation, roles, health and the ACS conversion.
//!
//! Unknown members are kept, not refused: every member the emulator does not read lands in the
//! `rest` map of the definition or of its container (or port mapping, or volume) and is written
//! back unchanged, so DescribeTaskDefinition answers everything RegisterTaskDefinition was given
//! and a new ECS member needs no change here. Numeric members keep the JSON form they were given
//! ([`Num`]): an integer stays an integer, a task size stays the string `"0.5 vCPU"`.
//!
//! The persisted row is this struct serialised: the same JSON as the `serde_json::Value` that was
//! stored before the type existed, so an older data dir still loads. This module must not
//! validate (that is `task_definitions.rs` and `taskdef_check.rs`) nor build ACS payloads.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ecs::common::def_number;

/// A numeric member as given: a JSON number, or a string for task-level sizes (`"512"`,
/// `"1 GB"`). Kept in that form; read with [`Num::value`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Num(Value);

impl Num {
    /// The member as a number (task sizes parsed as `common::parse_task_size` does); `None` when
    /// it is neither a number nor a size.
    pub fn value(&self) -> Option<i64> {
        def_number(Some(&self.0))
    }

    /// The member when it was given as a string (task-level sizes are strings on the wire).
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_str()
    }
}

impl From<i64> for Num {
    fn from(n: i64) -> Self {
        Num(Value::from(n))
    }
}

/// A revision's lifecycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskDefinitionStatus {
    /// Usable by RunTask and services.
    #[default]
    Active,
    /// Deregistered: still described, no longer the latest of its family.
    Inactive,
}

impl TaskDefinitionStatus {
    /// What the wire says (`ACTIVE`, `INACTIVE`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskDefinitionStatus::Active => "ACTIVE",
            TaskDefinitionStatus::Inactive => "INACTIVE",
        }
    }
}

/// A registered revision (botocore's `TaskDefinition`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinition {
    /// The family.
    pub family: String,
    /// Set at registration.
    #[serde(default)]
    pub task_definition_arn: String,
    /// Set at registration.
    #[serde(default)]
    pub revision: u32,
    /// ACTIVE until deregistered.
    #[serde(default)]
    pub status: TaskDefinitionStatus,
    /// The containers, in the order given.
    #[serde(default)]
    pub container_definitions: Vec<ContainerDefinition>,
    /// `bridge` when absent (ECS's default on EC2 and EXTERNAL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// Task-level CPU units, as given (`"1024"`, `"1 vCPU"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Num>,
    /// Task-level memory, as given (`"2048"`, `"2 GB"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Num>,
    /// Launch types asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_compatibilities: Option<Vec<String>>,
    /// `{"type", "expression"}` objects, parsed by `placement::attrs`.
    #[serde(default)]
    pub placement_constraints: Vec<Value>,
    /// The task role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// The role the agent uses for pulls, secrets and logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Computed at registration (`acs_payload::requires_attributes`).
    #[serde(default)]
    pub requires_attributes: Vec<Value>,
    /// Computed at registration.
    #[serde(default)]
    pub compatibilities: Vec<String>,
    /// Seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<f64>,
    /// The registering principal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_by: Option<String>,
    /// Seconds since the epoch, once deregistered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deregistered_at: Option<f64>,
    /// Data volumes.
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// Every other member, kept as given.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One container of a definition (botocore's `ContainerDefinition`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDefinition {
    /// Unique in the definition (checked at registration).
    #[serde(default)]
    pub name: String,
    /// The image reference.
    #[serde(default)]
    pub image: String,
    /// CPU units (ECS stores 0 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Num>,
    /// Hard memory limit, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Num>,
    /// Soft memory limit, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<Num>,
    /// Whether the task stops when this container stops (ECS stores `true` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    /// Port mappings.
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    /// The Docker health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Start ordering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depends_on: Option<Vec<ContainerDependency>>,
    /// Environment variables from SSM or Secrets Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<Secret>>,
    /// Environment files in S3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_files: Option<Vec<EnvironmentFile>>,
    /// The log driver and its options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    /// Every other member (environment, mountPoints, linuxParameters, ...), as given.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A container's `healthCheck`; durations in seconds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// `["CMD-SHELL", "..."]` or `["CMD", ...]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Seconds between checks (ECS's default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Num>,
    /// Seconds a check may take (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Num>,
    /// Failures before UNHEALTHY (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<Num>,
    /// Grace period in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Num>,
    /// Every other member, as given.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One `dependsOn` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDependency {
    /// The container waited for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// START, COMPLETE, SUCCESS or HEALTHY (checked by `taskdef_check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Every other member, as given.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One secret (of a container or of its log driver).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// The variable (or log option) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An SSM parameter or Secrets Manager secret, by name or ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<String>,
    /// Every other member, as given.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One `environmentFiles` entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentFile {
    /// The S3 object ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `s3`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub file_type: Option<String>,
    /// Every other member, as given.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// A container's `logConfiguration`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    /// `json-file`, `awslogs`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<String>,
    /// Driver options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<Map<String, Value>>,
    /// Driver options read from SSM or Secrets Manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_options: Option<Vec<Secret>>,
    /// Every other member, as given.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One port mapping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// The container's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<Num>,
    /// The host's port; 0 or absent means dynamic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<Num>,
    /// `tcp` (stored when absent) or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Every other member (containerPortRange, name, appProtocol, ...), as given.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// One data volume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Required (checked at registration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Every other member (host, dockerVolumeConfiguration, ...), as given.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

impl TaskDefinition {
    /// The definition's JSON, as stored and described (the ACS conversion reads it).
    pub fn to_json(&self) -> Value {
        // Serialising strings, numbers and JSON maps cannot fail.
        serde_json::to_value(self).unwrap_or_default()
    }

    /// `networkMode`, `bridge` when absent.
    pub fn network_mode(&self) -> &str {
        self.network_mode.as_deref().unwrap_or("bridge")
    }

    /// Whether any container has secrets or log-driver secret options (they need an execution
    /// role).
    pub fn has_secrets(&self) -> bool {
        self.container_definitions.iter().any(|c| {
            c.secrets.as_ref().is_some_and(|s| !s.is_empty())
                || c.log_configuration
                    .as_ref()
                    .and_then(|l| l.secret_options.as_ref())
                    .is_some_and(|s| !s.is_empty())
        })
    }

    /// The container named `name`.
    pub fn container(&self, name: &str) -> Option<&ContainerDefinition> {
        self.container_definitions.iter().find(|c| c.name == name)
    }
}

impl ContainerDefinition {
    /// `essential`, `true` when absent.
    pub fn is_essential(&self) -> bool {
        self.essential.unwrap_or(true)
    }
}
