//! The ECS API calls the agent makes to the control plane (AWS JSON 1.1, target prefix
//! `AmazonEC2ContainerServiceV20141113`): RegisterContainerInstance, DiscoverPollEndpoint,
//! SubmitTaskStateChange, SubmitContainerStateChange, SubmitAttachmentStateChanges.
//!
//! Member names are botocore's `service-2.json` names, plus three the reference agent sends from its
//! own copy of the model that the public SDKs lack: `clientToken` (RegisterContainerInstance),
//! `zoneId` (DiscoverPollEndpoint) and `systemLogsEndpoint` (its response). Timestamps are epoch
//! seconds as JSON numbers ([`Timestamp`]). Members the model requires are plain fields, so a request
//! without them fails to decode (the emulator answers with a client error); everything else is
//! `Option` and left out when `None`.
//!
//! This module holds shapes only: no HTTP, no signing, no error envelopes.

use serde::{Deserialize, Serialize};

use crate::acs::ManagedAgentName;
use crate::status::ReportedStatus;
use crate::types::{Timestamp, TransportProtocol, open_enum};

/// `RegisterContainerInstance` request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterContainerInstanceRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Present when re-registering an instance the agent registered before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    /// The EC2 identity document; the reference agent sends `""` on external instances.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_identity_document: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_identity_document_signature: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_resources: Option<Vec<Resource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_info: Option<VersionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<Attribute>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform_devices: Option<Vec<PlatformDevice>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    /// Idempotency token, fresh for each registration. Not in the public SDK models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
}

/// `RegisterContainerInstance` response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterContainerInstanceResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<ContainerInstance>,
}

/// A container instance as the ECS API describes it (`ContainerInstance`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInstance {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ec2_instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_provider_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_info: Option<VersionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_resources: Option<Vec<Resource>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_resources: Option<Vec<Resource>>,
    /// `REGISTERING`, `ACTIVE`, `DRAINING`, `INACTIVE`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_connected: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_tasks_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_tasks_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_update_status: Option<String>,
    /// Must echo every attribute the agent registered, or the reference agent exits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<Attribute>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<Attachment>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_status: Option<ContainerInstanceHealthStatus>,
}

/// An attachment of a container instance (`Attachment` in the ECS API, not the ACS one).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<KeyValuePair>>,
}

/// A `{name, value}` pair.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyValuePair {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A container instance's health (`ContainerInstanceHealthStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInstanceHealthStatus {
    /// `OK`, `IMPAIRED`, `INSUFFICIENT_DATA` or `INITIALIZING`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overall_status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<InstanceHealthCheckResult>>,
}

/// One health check of a container instance (`InstanceHealthCheckResult`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceHealthCheckResult {
    /// e.g. `CONTAINER_RUNTIME`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_change: Option<Timestamp>,
}

/// A resource of a container instance (`Resource`): `CPU` and `MEMORY` as integers, `PORTS` and
/// `PORTS_UDP` as string sets.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ResourceType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub double_value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub long_value: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integer_value: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub string_set_value: Option<Vec<String>>,
}

impl Resource {
    /// An `INTEGER` resource, e.g. `CPU` (cores × 1024) or `MEMORY` (MiB).
    pub fn integer(name: impl Into<String>, value: i64) -> Self {
        Self {
            name: Some(name.into()),
            kind: Some(ResourceType::Integer),
            integer_value: Some(value),
            ..Self::default()
        }
    }

    /// A `STRINGSET` resource, e.g. `PORTS` (reserved ports as strings).
    pub fn string_set<I, S>(name: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            name: Some(name.into()),
            kind: Some(ResourceType::StringSet),
            string_set_value: Some(values.into_iter().map(Into::into).collect()),
            ..Self::default()
        }
    }
}

open_enum! {
    /// Which value member of a [`Resource`] is set.
    pub enum ResourceType {
        Integer => "INTEGER",
        Long => "LONG",
        Double => "DOUBLE",
        StringSet => "STRINGSET",
    }
}

/// An attribute (`Attribute`): a capability (name only) or a name/value pair such as
/// `ecs.os-type=linux`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_type: Option<TargetType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_id: Option<String>,
}

impl Attribute {
    /// A name-only attribute, as capabilities are sent.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// A name/value attribute.
    pub fn with_value(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
            ..Self::default()
        }
    }
}

open_enum! {
    /// What an [`Attribute`] is attached to.
    pub enum TargetType {
        ContainerInstance => "container-instance",
    }
}

/// A device such as a GPU (`PlatformDevice`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformDevice {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: PlatformDeviceType,
}

open_enum! {
    /// The kind of a [`PlatformDevice`].
    pub enum PlatformDeviceType {
        Gpu => "GPU",
    }
}

/// A resource tag (`Tag`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// Agent and Docker versions (`VersionInfo`). The reference agent does not send it at registration
/// (the versions travel in the ACS and TCS query strings instead).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
}

/// `DiscoverPollEndpoint` request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoverPollEndpointRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Availability zone id; `""` from an external instance. Not in the public SDK models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<String>,
}

/// `DiscoverPollEndpoint` response: where the agent's websockets are.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoverPollEndpointResponse {
    /// ACS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// TCS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub telemetry_endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_connect_endpoint: Option<String>,
    /// Not in the public SDK models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_logs_endpoint: Option<String>,
}

/// `SubmitTaskStateChange` request: a task's status with its containers' changes folded in.
///
/// An attachment confirmation carries only `cluster`, `task` and `attachments`; hence `status` is
/// optional too.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitTaskStateChangeRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ReportedStatus>,
    /// The reference agent sends `""` when there is no reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<ContainerStateChange>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<AttachmentStateChange>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_agents: Option<Vec<ManagedAgentStateChange>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_started_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_stopped_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_stopped_at: Option<Timestamp>,
}

/// One container's change inside a [`SubmitTaskStateChangeRequest`] (`ContainerStateChange`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// The Docker container id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_bindings: Option<Vec<NetworkBinding>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ReportedStatus>,
}

/// A published port (`NetworkBinding`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkBinding {
    #[serde(rename = "bindIP", skip_serializing_if = "Option::is_none")]
    pub bind_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<TransportProtocol>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port_range: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port_range: Option<String>,
}

/// An attachment's new status (`AttachmentStateChange`), e.g. `ATTACHED`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentStateChange {
    pub attachment_arn: String,
    pub status: String,
}

/// A managed agent's new status (`ManagedAgentStateChange`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedAgentStateChange {
    pub container_name: String,
    pub managed_agent_name: ManagedAgentName,
    /// `PENDING`, `RUNNING` or `STOPPED`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `SubmitTaskStateChange`, `SubmitContainerStateChange` and `SubmitAttachmentStateChanges` response.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitStateChangeResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledgment: Option<String>,
}

/// `SubmitTaskStateChange` response.
pub type SubmitTaskStateChangeResponse = SubmitStateChangeResponse;
/// `SubmitContainerStateChange` response.
pub type SubmitContainerStateChangeResponse = SubmitStateChangeResponse;
/// `SubmitAttachmentStateChanges` response.
pub type SubmitAttachmentStateChangesResponse = SubmitStateChangeResponse;

/// `SubmitContainerStateChange` request: one container's change outside a task report.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitContainerStateChangeRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<ReportedStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_bindings: Option<Vec<NetworkBinding>>,
}

/// `SubmitAttachmentStateChanges` request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitAttachmentStateChangesRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    pub attachments: Vec<AttachmentStateChange>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn resources_build_the_reference_shapes() {
        assert_eq!(
            serde_json::to_value(Resource::integer("CPU", 2048)).unwrap(),
            json!({"name": "CPU", "type": "INTEGER", "integerValue": 2048})
        );
        assert_eq!(
            serde_json::to_value(Resource::string_set("PORTS_UDP", Vec::<String>::new())).unwrap(),
            json!({"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []})
        );
    }

    #[test]
    fn attributes_with_and_without_values() {
        assert_eq!(
            serde_json::to_value(Attribute::named("ecs.capability.full-sync")).unwrap(),
            json!({"name": "ecs.capability.full-sync"})
        );
        assert_eq!(
            serde_json::to_value(Attribute::with_value("ecs.os-type", "linux")).unwrap(),
            json!({"name": "ecs.os-type", "value": "linux"})
        );
    }

    #[test]
    fn an_attribute_needs_a_name() {
        assert!(serde_json::from_value::<Attribute>(json!({"value": "x"})).is_err());
    }

    #[test]
    fn network_binding_uses_bind_ip_in_capitals() {
        let binding = NetworkBinding {
            bind_ip: Some("0.0.0.0".into()),
            container_port: Some(80),
            host_port: Some(49153),
            protocol: Some(TransportProtocol::Tcp),
            ..NetworkBinding::default()
        };
        assert_eq!(
            serde_json::to_value(&binding).unwrap(),
            json!({"bindIP": "0.0.0.0", "containerPort": 80, "hostPort": 49153, "protocol": "tcp"})
        );
    }

    #[test]
    fn an_attachment_only_task_report_has_no_status() {
        let request: SubmitTaskStateChangeRequest = serde_json::from_value(json!({
            "cluster": "default",
            "task": "arn:aws:ecs:us-east-1:123456789012:task/default/abc",
            "attachments": [{"attachmentArn": "arn:attachment", "status": "ATTACHED"}]
        }))
        .unwrap();
        assert_eq!(request.status, None);
        assert_eq!(request.attachments.unwrap()[0].status, "ATTACHED");
    }

    #[test]
    fn an_unknown_report_status_is_kept_verbatim() {
        // botocore types `status` as a string: the server, not the decoder, refuses odd values.
        let request: SubmitContainerStateChangeRequest =
            serde_json::from_value(json!({"status": "EXPLODED"})).unwrap();
        let status = request.status.clone().unwrap();
        assert_eq!(status, ReportedStatus::Unknown("EXPLODED".into()));
        assert_eq!(status.backend(), None);
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            json!({"status": "EXPLODED"})
        );
        let running: ReportedStatus = serde_json::from_value(json!("RUNNING")).unwrap();
        assert_eq!(running.backend(), Some(crate::BackendStatus::Running));
        assert_eq!(
            ReportedStatus::from(crate::BackendStatus::Stopped).as_str(),
            "STOPPED"
        );
    }

    #[test]
    fn register_response_echoes_attributes_and_timestamps() {
        let wire = json!({
            "containerInstance": {
                "containerInstanceArn": "arn:aws:ecs:us-east-1:123456789012:container-instance/default/abc123",
                "status": "ACTIVE",
                "agentConnected": false,
                "attributes": [{"name": "ecs.availability-zone", "value": "us-east-1a"}],
                "registeredAt": 1795317133.412,
                "version": 1
            }
        });
        let response: RegisterContainerInstanceResponse =
            serde_json::from_value(wire.clone()).unwrap();
        let instance = response.container_instance.as_ref().unwrap();
        assert_eq!(
            instance.registered_at,
            Some(Timestamp::from_unix_millis(1_795_317_133_412))
        );
        assert_eq!(serde_json::to_value(&response).unwrap(), wire);
    }

    #[test]
    fn discover_poll_endpoint_response_members() {
        let response = DiscoverPollEndpointResponse {
            endpoint: Some("http://127.0.0.1:4566".into()),
            telemetry_endpoint: Some("http://127.0.0.1:4566".into()),
            service_connect_endpoint: None,
            system_logs_endpoint: Some("http://127.0.0.1:4566".into()),
        };
        let wire = serde_json::to_value(&response).unwrap();
        assert_eq!(
            wire,
            json!({
                "endpoint": "http://127.0.0.1:4566",
                "telemetryEndpoint": "http://127.0.0.1:4566",
                "systemLogsEndpoint": "http://127.0.0.1:4566"
            })
        );
    }

    #[test]
    fn managed_agent_state_change_requires_its_members() {
        let change: ManagedAgentStateChange = serde_json::from_value(json!({
            "containerName": "app", "managedAgentName": "ExecuteCommandAgent", "status": "RUNNING"
        }))
        .unwrap();
        assert_eq!(
            change.managed_agent_name,
            ManagedAgentName::ExecuteCommandAgent
        );
        assert!(
            serde_json::from_value::<ManagedAgentStateChange>(json!({"containerName": "app"}))
                .is_err()
        );
    }
}
