//! The Agent Communication Service (ACS) websocket protocol: the envelope and its messages.
//!
//! Every text frame, both directions, is `{"type":"<ShapeName>","message":{...}}`. [`AcsMessage`] is
//! that envelope as one serde enum (adjacently tagged). [`AcsFrame::decode`] is the path for frames off
//! the socket: a `type` this crate does not know becomes [`AcsFrame::Unknown`] carrying the name and
//! the raw body, so a new message from AWS is logged and skipped rather than ending the session; only
//! text that is not an envelope at all, or a known message whose body does not fit its shape, is an
//! error.
//!
//! This module owns the wire format only. It must not hold session state (sequence numbers, acks
//! outstanding, heartbeat timers): those belong to the agent's session and the emulator's server.

mod credentials;
mod messages;
mod network;
mod task;

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

pub use credentials::{IamRoleCredentials, RoleType};
pub use messages::{
    AckRequest, AttachNetworkInterfacesMessage, CloseMessage, ConfirmAttachmentMessage,
    ErrorMessage, ExceptionMessage, HeartbeatAckRequest, HeartbeatMessage,
    IamRoleCredentialsAckRequest, IamRoleCredentialsMessage, NackRequest, PayloadMessage,
    TaskIdentifier, TaskManifestMessage, TaskStopVerificationAck, TaskStopVerificationMessage,
    UpdateInfo, UpdateMessage,
};
pub use network::{
    Attachment, AttachmentProperty, ElasticNetworkInterface, InterfaceAssociationProtocol,
    InterfaceTunnelProperties, InterfaceVethProperties, InterfaceVlanProperties,
    Ipv4AddressAssignment, Ipv6AddressAssignment,
};
pub use task::{
    AsmAuthData, Association, AssociationType, AuthStrategy, AuthenticationType, Container,
    ContainerCondition, ContainerDependency, ContainerOverrides, Device, DevicePermission,
    DockerConfig, DockerVolumeConfiguration, EbsVolumeConfiguration, EcrAuthData,
    EfsAuthorizationConfig, EfsSetting, EfsVolumeConfiguration, EncodedString, Encoding,
    Environment, EnvironmentFile, EnvironmentFileType, FirelensConfiguration, FirelensType,
    FsxWindowsFileServerAuthorizationConfig, FsxWindowsFileServerVolumeConfiguration,
    HealthCheckType, HostVolumeProperties, IsolationMode, KernelCapabilities, LinuxParameters,
    LogDriverVolumeConfiguration, ManagedAgent, ManagedAgentName, MountPoint, NvidiaMpsAllocation,
    PortMapping, ProxyConfiguration, ProxyConfigurationType, RegistryAuthentication,
    ResourceRequirement, RestartPolicy, Secret, SecretProvider, SecretTarget, SecretType,
    SharingStrategy, Task, Tmpfs, TrustedExecutionConfiguration, Volume, VolumeFrom, VolumeScope,
    VolumeType,
};

/// One ACS message in its envelope, either direction. The variant name is the wire `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "message")]
pub enum AcsMessage {
    HeartbeatMessage(HeartbeatMessage),
    HeartbeatAckRequest(HeartbeatAckRequest),
    PayloadMessage(PayloadMessage),
    AckRequest(AckRequest),
    #[serde(rename = "IAMRoleCredentialsMessage")]
    IamRoleCredentialsMessage(IamRoleCredentialsMessage),
    #[serde(rename = "IAMRoleCredentialsAckRequest")]
    IamRoleCredentialsAckRequest(IamRoleCredentialsAckRequest),
    TaskManifestMessage(TaskManifestMessage),
    TaskStopVerificationMessage(TaskStopVerificationMessage),
    TaskStopVerificationAck(TaskStopVerificationAck),
    CloseMessage(CloseMessage),
    ErrorMessage(ErrorMessage),
    NackRequest(NackRequest),
    StageUpdateMessage(UpdateMessage),
    PerformUpdateMessage(UpdateMessage),
    AttachTaskNetworkInterfacesMessage(AttachNetworkInterfacesMessage),
    AttachInstanceNetworkInterfacesMessage(AttachNetworkInterfacesMessage),
    ConfirmAttachmentMessage(ConfirmAttachmentMessage),
    ServerException(ExceptionMessage),
    BadRequestException(ExceptionMessage),
    InvalidClusterException(ExceptionMessage),
    InvalidInstanceException(ExceptionMessage),
    AccessDeniedException(ExceptionMessage),
    InactiveInstanceException(ExceptionMessage),
}

impl AcsMessage {
    /// Every wire `type` an [`AcsMessage`] variant stands for.
    pub const TYPE_NAMES: [&'static str; 23] = [
        "HeartbeatMessage",
        "HeartbeatAckRequest",
        "PayloadMessage",
        "AckRequest",
        "IAMRoleCredentialsMessage",
        "IAMRoleCredentialsAckRequest",
        "TaskManifestMessage",
        "TaskStopVerificationMessage",
        "TaskStopVerificationAck",
        "CloseMessage",
        "ErrorMessage",
        "NackRequest",
        "StageUpdateMessage",
        "PerformUpdateMessage",
        "AttachTaskNetworkInterfacesMessage",
        "AttachInstanceNetworkInterfacesMessage",
        "ConfirmAttachmentMessage",
        "ServerException",
        "BadRequestException",
        "InvalidClusterException",
        "InvalidInstanceException",
        "AccessDeniedException",
        "InactiveInstanceException",
    ];

    /// The wire `type` of this message.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::HeartbeatMessage(_) => "HeartbeatMessage",
            Self::HeartbeatAckRequest(_) => "HeartbeatAckRequest",
            Self::PayloadMessage(_) => "PayloadMessage",
            Self::AckRequest(_) => "AckRequest",
            Self::IamRoleCredentialsMessage(_) => "IAMRoleCredentialsMessage",
            Self::IamRoleCredentialsAckRequest(_) => "IAMRoleCredentialsAckRequest",
            Self::TaskManifestMessage(_) => "TaskManifestMessage",
            Self::TaskStopVerificationMessage(_) => "TaskStopVerificationMessage",
            Self::TaskStopVerificationAck(_) => "TaskStopVerificationAck",
            Self::CloseMessage(_) => "CloseMessage",
            Self::ErrorMessage(_) => "ErrorMessage",
            Self::NackRequest(_) => "NackRequest",
            Self::StageUpdateMessage(_) => "StageUpdateMessage",
            Self::PerformUpdateMessage(_) => "PerformUpdateMessage",
            Self::AttachTaskNetworkInterfacesMessage(_) => "AttachTaskNetworkInterfacesMessage",
            Self::AttachInstanceNetworkInterfacesMessage(_) => {
                "AttachInstanceNetworkInterfacesMessage"
            }
            Self::ConfirmAttachmentMessage(_) => "ConfirmAttachmentMessage",
            Self::ServerException(_) => "ServerException",
            Self::BadRequestException(_) => "BadRequestException",
            Self::InvalidClusterException(_) => "InvalidClusterException",
            Self::InvalidInstanceException(_) => "InvalidInstanceException",
            Self::AccessDeniedException(_) => "AccessDeniedException",
            Self::InactiveInstanceException(_) => "InactiveInstanceException",
        }
    }

    /// Whether `type_name` is the wire `type` of a variant.
    pub fn is_known_type(type_name: &str) -> bool {
        Self::TYPE_NAMES.contains(&type_name)
    }

    /// The exception body, if this is one of the ACS exceptions.
    pub fn as_exception(&self) -> Option<&ExceptionMessage> {
        match self {
            Self::ServerException(e)
            | Self::BadRequestException(e)
            | Self::InvalidClusterException(e)
            | Self::InvalidInstanceException(e)
            | Self::AccessDeniedException(e)
            | Self::InactiveInstanceException(e) => Some(e),
            _ => None,
        }
    }

    /// The frame text. Fails only if a body holds something JSON cannot carry.
    pub fn encode(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// A decoded text frame: a message this crate knows, or one it does not.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::large_enum_variant,
    reason = "a frame lives from decode to dispatch, one at a time; boxing would cost an allocation per frame to save nothing"
)]
pub enum AcsFrame {
    Known(AcsMessage),
    Unknown(UnknownMessage),
}

/// A frame whose `type` this crate does not know, kept whole so it can be logged or passed on.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownMessage {
    /// The wire `type`.
    pub type_name: String,
    /// The `message` body as sent (`null` if absent).
    pub message: Value,
}

/// The envelope before its body is interpreted (ACS's and TCS's are the same).
#[derive(Deserialize)]
pub(crate) struct RawEnvelope {
    #[serde(rename = "type")]
    pub(crate) type_name: String,
    #[serde(default)]
    pub(crate) message: Value,
}

impl AcsFrame {
    /// Decodes one text frame. Pure: no I/O, so it can be unit-tested and fuzzed.
    ///
    /// Unknown `type` → `Ok(AcsFrame::Unknown)`; not JSON, or no string `type` →
    /// [`DecodeError::Malformed`]; a known `type` whose body does not fit →
    /// [`DecodeError::InvalidMessage`].
    pub fn decode(text: &str) -> Result<Self, DecodeError> {
        let RawEnvelope { type_name, message } =
            serde_json::from_str(text).map_err(DecodeError::Malformed)?;
        if !AcsMessage::is_known_type(&type_name) {
            return Ok(Self::Unknown(UnknownMessage { type_name, message }));
        }
        let mut envelope = serde_json::Map::with_capacity(2);
        envelope.insert("type".to_owned(), Value::String(type_name.clone()));
        envelope.insert("message".to_owned(), message);
        serde_json::from_value(Value::Object(envelope))
            .map(Self::Known)
            .map_err(|source| DecodeError::InvalidMessage { type_name, source })
    }

    /// The frame text. Fails only if a body holds something JSON cannot carry.
    pub fn encode(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }

    /// The wire `type`.
    pub fn type_name(&self) -> &str {
        match self {
            Self::Known(message) => message.type_name(),
            Self::Unknown(unknown) => &unknown.type_name,
        }
    }
}

impl From<AcsMessage> for AcsFrame {
    fn from(message: AcsMessage) -> Self {
        Self::Known(message)
    }
}

impl Serialize for AcsFrame {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Known(message) => message.serialize(serializer),
            Self::Unknown(unknown) => {
                #[derive(Serialize)]
                struct Envelope<'a> {
                    #[serde(rename = "type")]
                    type_name: &'a str,
                    message: &'a Value,
                }
                Envelope {
                    type_name: &unknown.type_name,
                    message: &unknown.message,
                }
                .serialize(serializer)
            }
        }
    }
}

/// Why a frame could not be decoded.
#[derive(Debug)]
pub enum DecodeError {
    /// Not JSON, or not an object with a string `type`.
    Malformed(serde_json::Error),
    /// A known `type` whose `message` does not fit that message's shape.
    InvalidMessage {
        type_name: String,
        source: serde_json::Error,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(source) => write!(f, "malformed frame: {source}"),
            Self::InvalidMessage { type_name, source } => {
                write!(f, "invalid {type_name}: {source}")
            }
        }
    }
}

impl std::error::Error for DecodeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Malformed(source) | Self::InvalidMessage { source, .. } => Some(source),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// One value of every variant: `type_name` is an exhaustive match, so a new variant fails to
    /// compile until it is named there, and this list must then grow for the test to pass.
    fn one_of_each() -> Vec<AcsMessage> {
        let exception = ExceptionMessage::new("boom");
        vec![
            AcsMessage::HeartbeatMessage(HeartbeatMessage::default()),
            AcsMessage::HeartbeatAckRequest(HeartbeatAckRequest::new("hb-1")),
            AcsMessage::PayloadMessage(PayloadMessage::default()),
            AcsMessage::AckRequest(AckRequest::new("c", "ci", "m")),
            AcsMessage::IamRoleCredentialsMessage(IamRoleCredentialsMessage::default()),
            AcsMessage::IamRoleCredentialsAckRequest(IamRoleCredentialsAckRequest::new(
                "m", "id", "exp",
            )),
            AcsMessage::TaskManifestMessage(TaskManifestMessage::default()),
            AcsMessage::TaskStopVerificationMessage(TaskStopVerificationMessage::default()),
            AcsMessage::TaskStopVerificationAck(TaskStopVerificationAck::default()),
            AcsMessage::CloseMessage(CloseMessage::default()),
            AcsMessage::ErrorMessage(ErrorMessage::default()),
            AcsMessage::NackRequest(NackRequest::new("c", "ci", "m", "Updates are disabled")),
            AcsMessage::StageUpdateMessage(UpdateMessage::default()),
            AcsMessage::PerformUpdateMessage(UpdateMessage::default()),
            AcsMessage::AttachTaskNetworkInterfacesMessage(
                AttachNetworkInterfacesMessage::default(),
            ),
            AcsMessage::AttachInstanceNetworkInterfacesMessage(
                AttachNetworkInterfacesMessage::default(),
            ),
            AcsMessage::ConfirmAttachmentMessage(ConfirmAttachmentMessage::default()),
            AcsMessage::ServerException(exception.clone()),
            AcsMessage::BadRequestException(exception.clone()),
            AcsMessage::InvalidClusterException(exception.clone()),
            AcsMessage::InvalidInstanceException(exception.clone()),
            AcsMessage::AccessDeniedException(exception.clone()),
            AcsMessage::InactiveInstanceException(exception),
        ]
    }

    #[test]
    fn every_variant_is_listed_and_round_trips_under_its_wire_name() {
        let all = one_of_each();
        assert_eq!(all.len(), AcsMessage::TYPE_NAMES.len());
        for (message, listed) in all.iter().zip(AcsMessage::TYPE_NAMES) {
            assert_eq!(message.type_name(), listed);
            let text = message.encode().unwrap();
            let wire: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(wire["type"], listed, "{text}");
            assert!(wire["message"].is_object(), "{text}");
            assert_eq!(
                AcsFrame::decode(&text).unwrap(),
                AcsFrame::Known(message.clone())
            );
        }
    }

    #[test]
    fn heartbeat_from_the_reference_docs_decodes() {
        let frame = AcsFrame::decode(
            r#"{"type":"HeartbeatMessage","message":{"healthy":true,"messageId":"123"}}"#,
        )
        .unwrap();
        let AcsFrame::Known(AcsMessage::HeartbeatMessage(heartbeat)) = frame else {
            panic!("not a heartbeat: {frame:?}");
        };
        assert_eq!(heartbeat.healthy, Some(true));
        assert_eq!(heartbeat.message_id.as_deref(), Some("123"));
    }

    #[test]
    fn heartbeat_ack_encodes_like_the_reference_agent() {
        let text = AcsMessage::HeartbeatAckRequest(HeartbeatAckRequest::new("hb-1"))
            .encode()
            .unwrap();
        assert_eq!(
            text,
            r#"{"type":"HeartbeatAckRequest","message":{"messageId":"hb-1"}}"#
        );
    }

    #[test]
    fn iam_credential_messages_use_the_upper_case_wire_names() {
        let frame = AcsFrame::decode(
            r#"{"type":"IAMRoleCredentialsMessage","message":{"messageId":"m1","roleType":"TaskExecution",
                "roleCredentials":{"credentialsId":"c1","secretAccessKey":"k","sessionToken":"t"}}}"#,
        )
        .unwrap();
        let AcsFrame::Known(AcsMessage::IamRoleCredentialsMessage(refresh)) = frame else {
            panic!("not a credentials refresh: {frame:?}");
        };
        assert_eq!(refresh.role_type, Some(RoleType::TaskExecution));
        let shown = format!("{refresh:?}");
        assert!(
            !shown.contains("\"k\"") && !shown.contains("\"t\""),
            "{shown}"
        );
    }

    #[test]
    fn unknown_type_is_kept_with_its_raw_body() {
        let text = r#"{"type":"SomeFutureMessage","message":{"a":[1,2],"b":null}}"#;
        let frame = AcsFrame::decode(text).unwrap();
        assert_eq!(
            frame,
            AcsFrame::Unknown(UnknownMessage {
                type_name: "SomeFutureMessage".into(),
                message: json!({"a": [1, 2], "b": null}),
            })
        );
        assert_eq!(frame.type_name(), "SomeFutureMessage");
        let re_encoded: Value = serde_json::from_str(&frame.encode().unwrap()).unwrap();
        assert_eq!(re_encoded, serde_json::from_str::<Value>(text).unwrap());
    }

    #[test]
    fn unknown_type_without_a_body_is_kept_too() {
        let frame = AcsFrame::decode(r#"{"type":"Ping"}"#).unwrap();
        assert_eq!(
            frame,
            AcsFrame::Unknown(UnknownMessage {
                type_name: "Ping".into(),
                message: Value::Null,
            })
        );
    }

    #[test]
    fn unknown_members_of_a_known_message_are_ignored() {
        let frame = AcsFrame::decode(
            r#"{"type":"HeartbeatMessage","message":{"messageId":"1","newThing":{"x":1}}}"#,
        )
        .unwrap();
        assert_eq!(
            frame,
            AcsFrame::Known(AcsMessage::HeartbeatMessage(HeartbeatMessage {
                healthy: None,
                message_id: Some("1".into()),
            }))
        );
    }

    #[test]
    fn text_that_is_not_json_is_malformed() {
        for text in [
            "",
            "{",
            "not json",
            r#"{"type":"HeartbeatMessage","message":{}"#,
        ] {
            let error = AcsFrame::decode(text).unwrap_err();
            assert!(
                matches!(error, DecodeError::Malformed(_)),
                "{text:?}: {error}"
            );
        }
    }

    #[test]
    fn an_envelope_without_a_string_type_is_malformed() {
        for text in [
            "[]",
            "42",
            r#"{"message":{}}"#,
            r#"{"type":7,"message":{}}"#,
        ] {
            let error = AcsFrame::decode(text).unwrap_err();
            assert!(
                matches!(error, DecodeError::Malformed(_)),
                "{text:?}: {error}"
            );
        }
    }

    #[test]
    fn a_known_type_with_a_misshapen_body_is_invalid() {
        let error =
            AcsFrame::decode(r#"{"type":"PayloadMessage","message":{"tasks":"not a list"}}"#)
                .unwrap_err();
        let DecodeError::InvalidMessage { type_name, .. } = &error else {
            panic!("wrong error: {error}");
        };
        assert_eq!(type_name, "PayloadMessage");
        assert!(
            error.to_string().starts_with("invalid PayloadMessage"),
            "{error}"
        );
    }

    #[test]
    fn exceptions_expose_their_message() {
        let frame = AcsFrame::decode(
            r#"{"type":"InactiveInstanceException","message":{"message":"instance deregistered"}}"#,
        )
        .unwrap();
        let AcsFrame::Known(message) = frame else {
            panic!("unknown: {frame:?}");
        };
        assert_eq!(
            message.as_exception().and_then(|e| e.message.as_deref()),
            Some("instance deregistered")
        );
        assert!(
            AcsMessage::CloseMessage(CloseMessage::default())
                .as_exception()
                .is_none()
        );
    }

    #[test]
    fn a_payload_encodes_to_the_same_frame_whatever_its_task_model() {
        let typed = PayloadMessage {
            message_id: Some("m-1".into()),
            cluster_arn: Some("arn:aws:ecs:us-east-1:123456789012:cluster/default".into()),
            tasks: Some(vec![Task {
                arn: Some("arn:aws:ecs:us-east-1:123456789012:task/default/abc".into()),
                family: Some("web".into()),
                ..Task::default()
            }]),
            generated_at: Some(1_795_317_133),
            seq_num: Some(3),
            ..PayloadMessage::default()
        };
        let as_json = PayloadMessage {
            tasks: Some(
                typed
                    .tasks()
                    .iter()
                    .map(|t| serde_json::to_value(t).unwrap())
                    .collect(),
            ),
            message_id: typed.message_id.clone(),
            cluster_arn: typed.cluster_arn.clone(),
            container_instance_arn: None,
            generated_at: typed.generated_at,
            seq_num: typed.seq_num,
            timeline: None,
        };
        let expected = AcsMessage::PayloadMessage(typed.clone()).encode().unwrap();
        assert_eq!(typed.encode().unwrap(), expected);
        assert_eq!(as_json.encode().unwrap(), expected);
        assert_eq!(
            AcsFrame::decode(&as_json.encode().unwrap()).unwrap(),
            AcsFrame::Known(AcsMessage::PayloadMessage(typed))
        );
    }
}
