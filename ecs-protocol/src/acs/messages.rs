//! The bodies of ACS messages, both directions (the `message` half of the envelope).
//!
//! Member names and types follow the ACS service model (`ecsacs` 2014-11-13): strings, `Long` as
//! `i64` (`generatedAt` is epoch seconds as an integer, unlike the ECS API's fractional timestamps),
//! every member optional. Constructors exist for what the agent sends; the control plane builds the
//! rest with struct literals.

use serde::{Deserialize, Serialize};

use super::credentials::{IamRoleCredentials, RoleType};
use super::network::{Attachment, ElasticNetworkInterface};
use super::task::Task;
use crate::status::DesiredStatus;

/// Server → agent: "all is well", to be answered with [`HeartbeatAckRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// Agent → server: the answer to a [`HeartbeatMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatAckRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl HeartbeatAckRequest {
    /// Acknowledges the heartbeat with this id.
    pub fn new(message_id: impl Into<String>) -> Self {
        Self {
            message_id: Some(message_id.into()),
        }
    }
}

/// Server → agent: tasks to run or stop, answered with [`AckRequest`] (and one
/// [`IamRoleCredentialsAckRequest`] per credentials in it) once handled.
///
/// `T` is the task model, [`Task`] by default (the agent decodes it, the emulator encodes it with
/// [`PayloadMessage::encode`]); another `T` such as `serde_json::Value` can carry a task the model
/// cannot hold, in the same envelope [`AcsMessage`](super::AcsMessage) gives a typed payload.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayloadMessage<T = Task> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<T>>,
    /// Epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq_num: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<i64>,
}

impl<T> PayloadMessage<T> {
    /// The tasks, or none.
    pub fn tasks(&self) -> &[T] {
        self.tasks.as_deref().unwrap_or_default()
    }
}

impl<T: Serialize> PayloadMessage<T> {
    /// The frame text, `{"type":"PayloadMessage","message":{...}}`, whatever the task model.
    /// Fails only if a task holds something JSON cannot carry.
    pub fn encode(&self) -> Result<String, serde_json::Error> {
        #[derive(Serialize)]
        struct Envelope<'a, T> {
            #[serde(rename = "type")]
            type_name: &'static str,
            message: &'a PayloadMessage<T>,
        }
        serde_json::to_string(&Envelope {
            type_name: "PayloadMessage",
            message: self,
        })
    }
}

/// Agent → server: a message was handled. Names the cluster and instance as the message did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AckRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

impl AckRequest {
    /// Acknowledges message `message_id` for this cluster and container instance.
    pub fn new(
        cluster: impl Into<String>,
        container_instance: impl Into<String>,
        message_id: impl Into<String>,
    ) -> Self {
        Self {
            cluster: Some(cluster.into()),
            container_instance: Some(container_instance.into()),
            message_id: Some(message_id.into()),
        }
    }
}

/// Server → agent: fresh credentials for a task's role (`IAMRoleCredentialsMessage`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IamRoleCredentialsMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_type: Option<RoleType>,
    /// Secret parts are redacted in `Debug`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_credentials: Option<IamRoleCredentials>,
}

/// Agent → server: credentials were stored (`IAMRoleCredentialsAckRequest`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IamRoleCredentialsAckRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_id: Option<String>,
}

impl IamRoleCredentialsAckRequest {
    /// Acknowledges credentials `credentials_id`, which expire at `expiration`, delivered in
    /// message `message_id`.
    pub fn new(
        message_id: impl Into<String>,
        credentials_id: impl Into<String>,
        expiration: impl Into<String>,
    ) -> Self {
        Self {
            message_id: Some(message_id.into()),
            expiration: Some(expiration.into()),
            credentials_id: Some(credentials_id.into()),
        }
    }
}

/// A task named in a manifest or a stop verification (`TaskIdentifier`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskIdentifier {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired_status: Option<DesiredStatus>,
}

/// Server → agent: every task the instance should have, for reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskManifestMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<TaskIdentifier>>,
    /// Epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<i64>,
    /// Compared with the latest sequence number seen; stale manifests are dropped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<i64>,
}

/// Agent → server: tasks running here that the manifest did not list (or listed as stopped).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStopVerificationMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_candidates: Option<Vec<TaskIdentifier>>,
}

/// Server → agent: which of the stop candidates to stop.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStopVerificationAck {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    /// Epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_tasks: Option<Vec<TaskIdentifier>>,
}

/// Server → agent: the connection is closing.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloseMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Server → agent: something went wrong; logged.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Agent → server: a message was refused, with why (e.g. `"Updates are disabled"`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NackRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl NackRequest {
    /// Refuses message `message_id` for `reason`.
    pub fn new(
        cluster: impl Into<String>,
        container_instance: impl Into<String>,
        message_id: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            cluster: Some(cluster.into()),
            container_instance: Some(container_instance.into()),
            message_id: Some(message_id.into()),
            reason: Some(reason.into()),
        }
    }
}

/// Server → agent: stage (`StageUpdateMessage`) or apply (`PerformUpdateMessage`) an agent update.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update_info: Option<UpdateInfo>,
}

/// Where an agent update is and how to check it (`UpdateInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// SHA-256 of the update, hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// Server → agent: ENIs to attach, for a task (`AttachTaskNetworkInterfacesMessage`) or for the
/// instance (`AttachInstanceNetworkInterfacesMessage`, where the task members are absent).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachNetworkInterfacesMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_cluster_arn: Option<String>,
    /// Epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_timeout_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elastic_network_interfaces: Option<Vec<ElasticNetworkInterface>>,
}

/// Server → agent: confirm a resource attachment (EBS and others).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmAttachmentMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_cluster_arn: Option<String>,
    /// Epoch seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_timeout_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Attachment>,
}

/// The body of every ACS exception (`ServerException`, `InactiveInstanceException`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl ExceptionMessage {
    /// An exception saying `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: Some(message.into()),
        }
    }
}
