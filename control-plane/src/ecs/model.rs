//! The emulator's persisted entities. They serialise (camelCase) both into the store and, for most
//! members, straight into API responses; computed members (counts, remaining resources) are added by
//! the describe operations.

use std::collections::BTreeMap;

use ecs_protocol::{BackendStatus, HealthStatus, ReportedStatus, StopCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `{key, value}` resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    #[serde(default)]
    pub value: String,
}

/// `{name, value, targetType, targetId}` attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Attribute value, absent for name-only capabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `container-instance` when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_type: Option<String>,
    /// The target's ARN or id when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

/// A cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// `arn:aws:ecs:<region>:<account>:cluster/<name>`.
    pub cluster_arn: String,
    /// The name.
    pub cluster_name: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Settings (`containerInsights`).
    #[serde(default)]
    pub settings: Vec<Value>,
}

/// A resource as ECS describes it (`CPU`, `MEMORY`, `PORTS`, `PORTS_UDP`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    /// Name.
    pub name: String,
    /// `INTEGER`, `LONG`, `DOUBLE` or `STRINGSET`.
    #[serde(rename = "type")]
    pub kind: String,
    /// For DOUBLE.
    #[serde(default)]
    pub double_value: f64,
    /// For LONG.
    #[serde(default)]
    pub long_value: i64,
    /// For INTEGER.
    #[serde(default)]
    pub integer_value: i64,
    /// For STRINGSET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_set_value: Option<Vec<String>>,
}

impl Resource {
    /// The numeric value whatever its type.
    pub fn number(&self) -> i64 {
        match self.kind.as_str() {
            "LONG" => self.long_value,
            // Truncation is what ECS does with fractional CPU for placement.
            #[allow(clippy::cast_possible_truncation)]
            "DOUBLE" => self.double_value as i64,
            _ => self.integer_value,
        }
    }
}

/// What the agent reported about itself (from the ACS query string).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// Agent version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    /// Agent git hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_hash: Option<String>,
    /// Docker version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
}

/// A registered container instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInstance {
    /// ARN.
    pub container_instance_arn: String,
    /// Cluster name it belongs to.
    pub cluster_name: String,
    /// EC2 instance id or managed instance id (`mi-...`).
    pub ec2_instance_id: String,
    /// Record version, increased on every change.
    pub version: i64,
    /// `ACTIVE`, `DRAINING`, `INACTIVE`, ...
    pub status: String,
    /// Resources as registered.
    pub registered_resources: Vec<Resource>,
    /// Attributes (capabilities, custom and ECS-added).
    pub attributes: Vec<Attribute>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Epoch seconds.
    pub registered_at: f64,
    /// Agent and Docker versions.
    #[serde(default)]
    pub version_info: VersionInfo,
    /// The `clientToken` of the registration that created it: a registration repeating it gets
    /// this instance back. Not shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// A container of a task, as DescribeTasks shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskContainer {
    /// Container ARN.
    pub container_arn: String,
    /// Task ARN.
    pub task_arn: String,
    /// Name from the task definition.
    pub name: String,
    /// Image.
    pub image: String,
    /// Image digest reported by the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// Docker id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_id: Option<String>,
    /// `PENDING`, `RUNNING`, `STOPPED` (another value an agent reports is kept as sent).
    pub last_status: ReportedStatus,
    /// Exit code once stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// Reason from the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Host port bindings.
    #[serde(default)]
    pub network_bindings: Vec<Value>,
    /// Always empty on bridge/host.
    #[serde(default)]
    pub network_interfaces: Vec<Value>,
    /// `HEALTHY`, `UNHEALTHY`, `UNKNOWN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_status: Option<HealthStatus>,
    /// CPU units as a string, as ECS shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Hard memory limit as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Soft memory limit as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<String>,
}

/// A task.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    /// ARN.
    pub task_arn: String,
    /// Cluster ARN.
    pub cluster_arn: String,
    /// Task definition ARN.
    pub task_definition_arn: String,
    /// Instance ARN.
    pub container_instance_arn: String,
    /// Overrides as given to RunTask/StartTask.
    pub overrides: Value,
    /// `PENDING`, `RUNNING` or `STOPPED` (the emulator has no `PROVISIONING`-like steps).
    pub last_status: BackendStatus,
    /// `RUNNING` or `STOPPED`.
    pub desired_status: BackendStatus,
    /// Task CPU as a string (units).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Task memory as a string (MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Containers.
    pub containers: Vec<TaskContainer>,
    /// `startedBy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_by: Option<String>,
    /// Record version.
    pub version: i64,
    /// Why it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_reason: Option<String>,
    /// Who or what stopped it (persisted and shown as ECS's string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_code: Option<StopCode>,
    /// `group` (default `family:<family>`).
    pub group: String,
    /// `EC2` or `EXTERNAL`.
    pub launch_type: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Timestamps (epoch seconds).
    pub created_at: f64,
    /// When the agent started pulling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_started_at: Option<f64>,
    /// When pulls finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_stopped_at: Option<f64>,
    /// When the task reached RUNNING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<f64>,
    /// When it was told to stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopping_at: Option<f64>,
    /// When it was reported STOPPED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_at: Option<f64>,
    /// When the first essential container stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_stopped_at: Option<f64>,
    /// Task health.
    pub health_status: HealthStatus,
    /// Reserved CPU units (placement), not shown.
    #[serde(default)]
    pub reserved_cpu: i64,
    /// Reserved memory MiB (placement), not shown.
    #[serde(default)]
    pub reserved_memory: i64,
    /// Reserved static TCP host ports, not shown.
    #[serde(default)]
    pub reserved_ports: Vec<u16>,
    /// Reserved static UDP host ports, not shown.
    #[serde(default)]
    pub reserved_ports_udp: Vec<u16>,
}

/// A message waiting for an agent's ack on the ACS websocket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboundMessage {
    /// `messageId` of the payload.
    pub message_id: String,
    /// The whole frame (JSON text).
    pub frame: String,
}

/// Monotonic counters, persisted one `seq/<instance ARN>` row each (an older `meta` row holding
/// them all is still read).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Last `seqNum` used in a payload, per container instance ARN.
    #[serde(default)]
    pub seq_nums: BTreeMap<String, i64>,
}

/// Serialises an entity for an API response, dropping the members only the emulator uses.
pub fn api_view(entity: &impl Serialize, internal: &[&str]) -> Value {
    let mut v = serde_json::to_value(entity).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        for key in internal {
            map.remove(*key);
        }
    }
    v
}

/// Members of [`Task`] that are not part of the ECS API.
pub const TASK_INTERNAL: &[&str] = &[
    "reservedCpu",
    "reservedMemory",
    "reservedPorts",
    "reservedPortsUdp",
];

/// Members of [`ContainerInstance`] that are not part of the ECS API.
pub const INSTANCE_INTERNAL: &[&str] = &["clusterName", "clientToken"];

/// `deploymentConfiguration` of a service (the members the REPLICA scheduler uses; the rest is kept
/// as given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfiguration {
    /// Upper limit of RUNNING + PENDING tasks during a deployment, in percent of desired.
    pub maximum_percent: u32,
    /// Lower limit of RUNNING tasks during a deployment, in percent of desired.
    pub minimum_healthy_percent: u32,
    /// `deploymentCircuitBreaker` as given (stored and shown, not acted on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_circuit_breaker: Option<Value>,
}

/// One deployment of a service: the tasks of one task definition it keeps, identified by
/// `ecs-svc/<19 digits>`, which is also the `startedBy` of its tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// `ecs-svc/<19 digits>`.
    pub id: String,
    /// `PRIMARY` (the one being kept) or `ACTIVE` (an older one still draining).
    pub status: String,
    /// Task definition ARN.
    pub task_definition: String,
    /// How many tasks this deployment should have.
    pub desired_count: u32,
    /// Consecutive tasks that stopped before reaching RUNNING (until one ran).
    pub failed_tasks: u32,
    /// Epoch seconds.
    pub created_at: f64,
    /// Epoch seconds.
    pub updated_at: f64,
    /// `EC2` or `EXTERNAL`.
    pub launch_type: String,
    /// `IN_PROGRESS`, `COMPLETED`.
    pub rollout_state: String,
    /// `ECS deployment <id> in progress.` / `... completed.`
    pub rollout_state_reason: String,
    /// A task of this deployment reached RUNNING: failures are no longer counted (not shown).
    #[serde(default)]
    pub ever_running: bool,
}

/// A service event (`events[]`, newest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceEvent {
    /// uuid.
    pub id: String,
    /// Epoch seconds.
    pub created_at: f64,
    /// `(service NAME) has ...`.
    pub message: String,
}

/// An ECS service (REPLICA or DAEMON scheduler), with its deployments and events.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// `arn:aws:ecs:<region>:<account>:service/<cluster>/<name>`.
    pub service_arn: String,
    /// Name.
    pub service_name: String,
    /// Cluster ARN.
    pub cluster_arn: String,
    /// `ACTIVE`, `DRAINING`, `INACTIVE`.
    pub status: String,
    /// Tasks to keep running.
    pub desired_count: u32,
    /// `EC2` or `EXTERNAL`.
    pub launch_type: String,
    /// Task definition ARN of the PRIMARY deployment.
    pub task_definition: String,
    /// Rolling update limits.
    pub deployment_configuration: DeploymentConfiguration,
    /// PRIMARY first, then older ACTIVE ones.
    pub deployments: Vec<Deployment>,
    /// Newest first, at most [`MAX_SERVICE_EVENTS`].
    pub events: Vec<ServiceEvent>,
    /// Epoch seconds.
    pub created_at: f64,
    /// `arn:aws:iam::<account>:root`.
    pub created_by: String,
    /// As given (`memberOf`, `distinctInstance`).
    #[serde(default)]
    pub placement_constraints: Vec<Value>,
    /// As given (stored and shown; placement spreads by free memory whatever it says).
    #[serde(default)]
    pub placement_strategy: Vec<Value>,
    /// As given: each `targetGroupArn`, `containerName`, `containerPort` (see
    /// `ecs::load_balancing`: the scheduler registers the tasks' host ports there).
    #[serde(default)]
    pub load_balancers: Vec<Value>,
    /// Seconds after a task starts during which failed ELB health checks do not replace it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_grace_period_seconds: Option<i64>,
    /// `REPLICA` or `DAEMON`.
    pub scheduling_strategy: String,
    /// `{type: ECS}`.
    pub deployment_controller: Value,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// Stored and shown.
    #[serde(rename = "enableECSManagedTags", default)]
    pub enable_ecs_managed_tags: bool,
    /// `NONE`, `SERVICE`, `TASK_DEFINITION`: stored and shown.
    pub propagate_tags: String,
    /// Stored and shown.
    #[serde(default)]
    pub enable_execute_command: bool,
    /// The cluster's name (not shown).
    pub cluster_name: String,
    /// CreateService's `clientToken` (not shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// Tasks this service started that have not been seen STOPPED yet (not shown).
    #[serde(default)]
    pub task_arns: std::collections::BTreeSet<String>,
    /// The steady-state event was recorded and nothing changed since (not shown).
    #[serde(default)]
    pub steady: bool,
    /// The last placement failure recorded, so it is not repeated until resolved (not shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_failure: Option<String>,
    /// When it became INACTIVE (not shown; purged an hour later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_at: Option<f64>,
    /// Tasks being deregistered from the service's target groups before they are told to stop,
    /// by task ARN (not shown).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub draining: BTreeMap<String, Draining>,
    /// The targets the scheduler registered in the service's target groups and has not seen
    /// deregistered yet (not shown).
    #[serde(default, skip_serializing_if = "std::collections::BTreeSet::is_empty")]
    pub lb_targets: std::collections::BTreeSet<LbTarget>,
}

/// A target a load-balanced service registers: one task container's host port in one target group
/// (see `ecs::load_balancing`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LbTarget {
    /// The target group.
    pub target_group_arn: String,
    /// Instance id.
    pub id: String,
    /// Host port.
    pub port: u16,
    /// The task behind it.
    pub task_arn: String,
}

/// A task of a load-balanced service on its way out: deregistered from its target groups, told
/// to stop once the deregistration delay ends. Meanwhile the task itself is unchanged (RUNNING,
/// desiredStatus RUNNING; ECS shows lastStatus DEACTIVATING and desiredStatus STOPPED, statuses
/// this emulator's task model does not have yet); the scheduler counts it as stopping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Draining {
    /// Epoch seconds when the stop request goes to the agent.
    pub stop_at: f64,
    /// The stop's `stoppedReason`.
    pub reason: String,
    /// The stop's `stopCode`.
    pub stop_code: StopCode,
}

/// ECS keeps the 100 most recent service events.
pub const MAX_SERVICE_EVENTS: usize = 100;

/// Members of [`Service`] that are not part of the ECS API.
pub const SERVICE_INTERNAL: &[&str] = &[
    "clusterName",
    "clientToken",
    "taskArns",
    "steady",
    "placementFailure",
    "inactiveAt",
    "draining",
    "lbTargets",
];

/// ELB's default `deregistration_delay.timeout_seconds`, used until the group's is known.
pub const DEFAULT_DEREGISTRATION_DELAY: f64 = 300.0;

/// One entry of a service's `loadBalancers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LbRef {
    /// The target group.
    pub target_group_arn: String,
    /// The container whose port is registered.
    pub container_name: String,
    /// Its container port.
    pub container_port: i64,
}

/// A target's health as ELB reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetState {
    /// `initial`, `healthy`, `unhealthy`, `unused`, `draining`, `unavailable`.
    pub state: String,
    /// ELB's reason code, if it gave one.
    pub reason: Option<String>,
}

/// The ELB facts the scheduler reads: the last round's health and delays (in memory; a restart
/// starts from "unknown", and the next round tells).
#[derive(Debug, Clone, Default)]
pub struct LbRuntime {
    /// Health per task, per target group.
    pub health: BTreeMap<String, BTreeMap<String, TargetState>>,
    /// Deregistration delay per target group.
    pub delays: BTreeMap<String, f64>,
}

impl LbRuntime {
    /// Whether every target of `task` in `groups` is healthy (health checks disabled count as
    /// healthy: ELB sends them traffic).
    pub fn healthy(&self, task: &str, groups: &[LbRef]) -> bool {
        let Some(h) = self.health.get(task) else {
            return groups.is_empty();
        };
        groups.iter().all(|g| {
            h.get(&g.target_group_arn)
                .is_some_and(|s| s.state == "healthy" || s.state == "unavailable")
        })
    }

    /// The first of `groups` in which `task`'s target failed its health checks.
    pub fn failed_in<'a>(&self, task: &str, groups: &'a [LbRef]) -> Option<&'a str> {
        let h = self.health.get(task)?;
        groups
            .iter()
            .find(|g| {
                h.get(&g.target_group_arn)
                    .is_some_and(|s| s.state == "unhealthy")
            })
            .map(|g| g.target_group_arn.as_str())
    }

    /// How long `groups` drain a deregistered target: the longest of their delays.
    pub fn delay(&self, groups: &[LbRef]) -> f64 {
        groups
            .iter()
            .map(|g| {
                self.delays
                    .get(&g.target_group_arn)
                    .copied()
                    .unwrap_or(DEFAULT_DEREGISTRATION_DELAY)
            })
            .fold(0.0, f64::max)
    }
}

/// Records a service event (newest first, at most [`MAX_SERVICE_EVENTS`]).
pub(crate) fn push_event(svc: &mut Service, message: String, now: f64) {
    svc.events.insert(
        0,
        ServiceEvent {
            id: uuid::Uuid::new_v4().to_string(),
            created_at: now,
            message,
        },
    );
    svc.events.truncate(MAX_SERVICE_EVENTS);
}
