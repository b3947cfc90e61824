//! The Telemetry Connection Service (TCS) websocket protocol: the signed frame, its envelope and
//! its messages (the reference agent's `ecs-agent/tcs/model/api/api-2.json`, `ecstcs` 2015-03-24).
//!
//! The envelope is ACS's, `{"type":"<ShapeName>","message":{...}}`. What differs is how the agent
//! sends it: every agent → TCS frame starts with a SigV4 pseudo-HTTP header block, exactly as Go's
//! `http.Header.Write` prints the headers of a `GET <the upgrade URL>` request whose body is the
//! JSON, signed for service `ecs`:
//!
//! ```text
//! Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=…\r\n
//! Host: ecs-t-1.us-east-1.amazonaws.com\r\n
//! X-Amz-Date: 20261206T210602Z\r\n
//! \r\n
//! {"type":"PublishMetricsRequest","message":{…}}
//! ```
//!
//! (with temporary credentials an `X-Amz-Security-Token` line too, signed). [`SignedFrame`] splits
//! and joins that text; computing or checking the signature is the sides' business (this crate has
//! no crypto). Frames from TCS to the agent (acks, heartbeats) are bare JSON.
//!
//! Metrics (`PublishMetricsRequest` and its stat sets) are in [`crate::tcs_metrics`], re-exported
//! here.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::acs::RawEnvelope;
pub use crate::acs::{DecodeError, ExceptionMessage, UnknownMessage};
use crate::status::HealthStatus;
pub use crate::tcs_metrics::{
    ContainerMetric, CwStatsSet, Double, MetricsMetadata, NetworkStatsSet, PublishMetricsRequest,
    RestartStatsSet, StorageStatsSet, TaskMetric, ULongStatsSet,
};
use crate::types::{Timestamp, open_enum};

/// One TCS message in its envelope, either direction. The variant name is the wire `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "message")]
pub enum TcsMessage {
    PublishMetricsRequest(PublishMetricsRequest),
    PublishHealthRequest(PublishHealthRequest),
    PublishInstanceStatusRequest(PublishInstanceStatusRequest),
    StartTelemetrySessionRequest(StartTelemetrySessionRequest),
    HeartbeatMessage(HeartbeatMessage),
    AckPublishMetric(TcsAck),
    AckPublishHealth(TcsAck),
    AckPublishInstanceStatus(TcsAck),
    StopTelemetrySessionMessage(TcsAck),
    ServerException(ExceptionMessage),
    BadRequestException(ExceptionMessage),
    ResourceValidationException(ExceptionMessage),
    InvalidParameterException(ExceptionMessage),
}

impl TcsMessage {
    /// Every wire `type` a [`TcsMessage`] variant stands for.
    pub const TYPE_NAMES: [&'static str; 13] = [
        "PublishMetricsRequest",
        "PublishHealthRequest",
        "PublishInstanceStatusRequest",
        "StartTelemetrySessionRequest",
        "HeartbeatMessage",
        "AckPublishMetric",
        "AckPublishHealth",
        "AckPublishInstanceStatus",
        "StopTelemetrySessionMessage",
        "ServerException",
        "BadRequestException",
        "ResourceValidationException",
        "InvalidParameterException",
    ];

    /// The wire `type` of this message.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::PublishMetricsRequest(_) => "PublishMetricsRequest",
            Self::PublishHealthRequest(_) => "PublishHealthRequest",
            Self::PublishInstanceStatusRequest(_) => "PublishInstanceStatusRequest",
            Self::StartTelemetrySessionRequest(_) => "StartTelemetrySessionRequest",
            Self::HeartbeatMessage(_) => "HeartbeatMessage",
            Self::AckPublishMetric(_) => "AckPublishMetric",
            Self::AckPublishHealth(_) => "AckPublishHealth",
            Self::AckPublishInstanceStatus(_) => "AckPublishInstanceStatus",
            Self::StopTelemetrySessionMessage(_) => "StopTelemetrySessionMessage",
            Self::ServerException(_) => "ServerException",
            Self::BadRequestException(_) => "BadRequestException",
            Self::ResourceValidationException(_) => "ResourceValidationException",
            Self::InvalidParameterException(_) => "InvalidParameterException",
        }
    }

    /// The answer TCS gives to a publish request (the reference agent resets its connection
    /// timer on each), `None` for any other message.
    pub fn ack(&self) -> Option<Self> {
        match self {
            Self::PublishMetricsRequest(_) => Some(Self::AckPublishMetric(TcsAck::default())),
            Self::PublishHealthRequest(_) => Some(Self::AckPublishHealth(TcsAck::default())),
            Self::PublishInstanceStatusRequest(_) => {
                Some(Self::AckPublishInstanceStatus(TcsAck::default()))
            }
            _ => None,
        }
    }

    /// The frame text (unsigned). Fails only if a body holds something JSON cannot carry.
    pub fn encode(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// A decoded TCS envelope: a message this crate knows, or one it does not.
#[derive(Debug, Clone, PartialEq)]
pub enum TcsFrame {
    Known(TcsMessage),
    Unknown(UnknownMessage),
}

impl TcsFrame {
    /// Decodes one JSON envelope (after [`SignedFrame::parse`] for agent → TCS frames). Pure.
    ///
    /// Unknown `type` → `Ok(TcsFrame::Unknown)`; not JSON, or no string `type` →
    /// [`DecodeError::Malformed`]; a known `type` whose body does not fit →
    /// [`DecodeError::InvalidMessage`].
    pub fn decode(json: &str) -> Result<Self, DecodeError> {
        let RawEnvelope { type_name, message } =
            serde_json::from_str(json).map_err(DecodeError::Malformed)?;
        if !TcsMessage::TYPE_NAMES.contains(&type_name.as_str()) {
            return Ok(Self::Unknown(UnknownMessage { type_name, message }));
        }
        let mut envelope = Map::with_capacity(2);
        envelope.insert("type".to_owned(), Value::String(type_name.clone()));
        envelope.insert("message".to_owned(), message);
        serde_json::from_value(Value::Object(envelope))
            .map(Self::Known)
            .map_err(|source| DecodeError::InvalidMessage { type_name, source })
    }

    /// The wire `type`.
    pub fn type_name(&self) -> &str {
        match self {
            Self::Known(message) => message.type_name(),
            Self::Unknown(unknown) => &unknown.type_name,
        }
    }
}

/// An agent → TCS frame split into its signed header block and its JSON envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedFrame<'a> {
    /// The header lines in the order sent, as (name, value).
    pub headers: Vec<(&'a str, &'a str)>,
    /// The JSON envelope: the signed body.
    pub body: &'a str,
}

/// Why a frame is not a signed TCS frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignedFrameError {
    /// No header block: the frame is bare JSON (or empty).
    Unsigned,
    /// A header line without `": "`.
    BadHeaderLine(String),
}

impl std::fmt::Display for SignedFrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unsigned => write!(f, "the TCS frame carries no signed header block"),
            Self::BadHeaderLine(line) => write!(f, "bad header line in a TCS frame: {line:?}"),
        }
    }
}

impl std::error::Error for SignedFrameError {}

/// The line break of the header block (HTTP's).
const CRLF: &str = "\r\n";

impl<'a> SignedFrame<'a> {
    /// Splits `text` at the first empty line. Pure.
    pub fn parse(text: &'a str) -> Result<Self, SignedFrameError> {
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or(SignedFrameError::Unsigned)?;
        if head.trim_start().starts_with('{') {
            return Err(SignedFrameError::Unsigned);
        }
        let headers = head
            .split(CRLF)
            .map(|line| {
                line.split_once(':')
                    .map(|(name, value)| (name.trim(), value.trim()))
                    .filter(|(name, _)| !name.is_empty())
                    .ok_or_else(|| SignedFrameError::BadHeaderLine(line.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { headers, body })
    }

    /// The value of header `name` (any case), if present.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }

    /// The frame text: the headers sorted by name, as Go's `http.Header.Write` writes them, an
    /// empty line, then the body.
    pub fn encode(&self) -> String {
        let mut headers = self.headers.clone();
        headers.sort_by(|a, b| a.0.cmp(b.0));
        let mut text = String::with_capacity(
            self.body.len()
                + headers
                    .iter()
                    .map(|(n, v)| n.len() + v.len() + 4)
                    .sum::<usize>()
                + 2,
        );
        for (name, value) in headers {
            text.push_str(name);
            text.push_str(": ");
            text.push_str(value);
            text.push_str(CRLF);
        }
        text.push_str(CRLF);
        text.push_str(self.body);
        text
    }
}

/// `PublishHealthRequest`: the health of the containers that have a health check.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishHealthRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<HealthMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tasks: Option<Vec<TaskHealth>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

/// `HealthMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fin: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
}

/// `TaskHealth`: one task's containers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskHealth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_arn: Option<String>,
    /// In the model; the reference agent leaves it out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_family: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_definition_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containers: Option<Vec<ContainerHealth>>,
}

/// `ContainerHealth`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerHealth {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_status: Option<HealthStatus>,
    /// When the status last changed (not when it was sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_since: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<String>,
}

/// `PublishInstanceStatusRequest`: the instance's own health checks (the container runtime's).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublishInstanceStatusRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<InstanceStatusMetadata>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statuses: Option<Vec<InstanceStatus>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
}

/// `InstanceStatusMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatusMetadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// `InstanceStatus`: one health check of the instance.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceStatus {
    /// What was checked (`ContainerRuntime`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<InstanceHealthcheckStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_change: Option<Timestamp>,
}

open_enum! {
    /// `InstanceHealthcheckStatus`.
    pub enum InstanceHealthcheckStatus {
        Ok => "OK",
        Impaired => "IMPAIRED",
        InsufficientData => "INSUFFICIENT_DATA",
        Initializing => "INITIALIZING",
    }
}

/// `StartTelemetrySessionRequest` (in the model; the reference agent does not send it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartTelemetrySessionRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_instance: Option<String>,
}

/// TCS's `HeartbeatMessage`: unlike ACS's, no message id and no answer expected.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
}

/// The body of `AckPublishMetric`, `AckPublishHealth`, `AckPublishInstanceStatus` and
/// `StopTelemetrySessionMessage`: one optional string.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcsAck {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one_of_each() -> Vec<TcsMessage> {
        let e = ExceptionMessage::new("boom");
        vec![
            TcsMessage::PublishMetricsRequest(PublishMetricsRequest::default()),
            TcsMessage::PublishHealthRequest(PublishHealthRequest::default()),
            TcsMessage::PublishInstanceStatusRequest(PublishInstanceStatusRequest::default()),
            TcsMessage::StartTelemetrySessionRequest(StartTelemetrySessionRequest::default()),
            TcsMessage::HeartbeatMessage(HeartbeatMessage::default()),
            TcsMessage::AckPublishMetric(TcsAck::default()),
            TcsMessage::AckPublishHealth(TcsAck::default()),
            TcsMessage::AckPublishInstanceStatus(TcsAck::default()),
            TcsMessage::StopTelemetrySessionMessage(TcsAck::default()),
            TcsMessage::ServerException(e.clone()),
            TcsMessage::BadRequestException(e.clone()),
            TcsMessage::ResourceValidationException(e.clone()),
            TcsMessage::InvalidParameterException(e),
        ]
    }

    #[test]
    fn every_variant_is_listed_and_round_trips_under_its_wire_name() {
        let all = one_of_each();
        assert_eq!(all.len(), TcsMessage::TYPE_NAMES.len());
        for (m, name) in all.iter().zip(TcsMessage::TYPE_NAMES) {
            assert_eq!(m.type_name(), name);
            let text = m.encode().unwrap();
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["type"], name);
            assert_eq!(TcsFrame::decode(&text).unwrap(), TcsFrame::Known(m.clone()));
        }
    }

    #[test]
    fn publish_requests_are_acked_by_their_own_ack() {
        let acks: Vec<_> = one_of_each()
            .iter()
            .filter_map(|m| Some((m.type_name(), m.ack()?.type_name())))
            .collect();
        assert_eq!(
            acks,
            [
                ("PublishMetricsRequest", "AckPublishMetric"),
                ("PublishHealthRequest", "AckPublishHealth"),
                ("PublishInstanceStatusRequest", "AckPublishInstanceStatus"),
            ]
        );
        assert_eq!(
            TcsMessage::AckPublishHealth(TcsAck::default())
                .encode()
                .unwrap(),
            r#"{"type":"AckPublishHealth","message":{}}"#
        );
    }

    #[test]
    fn unknown_types_are_kept_and_garbage_is_an_error() {
        let f = TcsFrame::decode(r#"{"type":"Future","message":{"x":1}}"#).unwrap();
        assert_eq!(f.type_name(), "Future");
        assert!(TcsFrame::decode("nope").is_err());
        assert!(
            TcsFrame::decode(r#"{"type":"HeartbeatMessage","message":{"healthy":"yes"}}"#).is_err()
        );
    }

    #[test]
    fn a_signed_frame_splits_and_joins_as_go_writes_it() {
        let text = "Authorization: AWS4-HMAC-SHA256 Credential=A/20261206/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date, Signature=ab\r\nHost: 127.0.0.1:8080\r\nX-Amz-Date: 20261206T210602Z\r\n\r\n{\"type\":\"HeartbeatMessage\",\"message\":{}}";
        let f = SignedFrame::parse(text).unwrap();
        assert_eq!(f.headers.len(), 3);
        assert_eq!(f.header("host"), Some("127.0.0.1:8080"));
        assert_eq!(f.header("x-amz-date"), Some("20261206T210602Z"));
        assert_eq!(f.body, r#"{"type":"HeartbeatMessage","message":{}}"#);
        assert_eq!(f.encode(), text);
        // Sorted by name whatever the order given.
        let mut shuffled = f.clone();
        shuffled.headers.reverse();
        assert_eq!(shuffled.encode(), text);
    }

    #[test]
    fn bare_json_and_broken_header_blocks_are_not_signed_frames() {
        assert_eq!(
            SignedFrame::parse(r#"{"type":"PublishHealthRequest","message":{}}"#),
            Err(SignedFrameError::Unsigned)
        );
        assert_eq!(
            SignedFrame::parse("{\"a\":\"\r\n\r\n\"}"),
            Err(SignedFrameError::Unsigned)
        );
        assert!(matches!(
            SignedFrame::parse("Host 1\r\n\r\n{}"),
            Err(SignedFrameError::BadHeaderLine(_))
        ));
    }

    #[test]
    fn the_reference_health_frame_round_trips() {
        let body = json!({
            "metadata": {"cluster": "wire-go", "containerInstance": "arn:ci", "fin": true, "messageId": "m"},
            "tasks": [{
                "taskArn": "arn:t", "taskDefinitionFamily": "wire-a", "taskDefinitionVersion": "1",
                "containers": [{"containerName": "web", "healthStatus": "HEALTHY", "statusSince": 1796591262.123}]
            }],
            "timestamp": 1796591270.5
        });
        let typed: PublishHealthRequest = serde_json::from_value(body.clone()).unwrap();
        let c = &typed.tasks.as_ref().unwrap()[0]
            .containers
            .as_ref()
            .unwrap()[0];
        assert_eq!(c.health_status, Some(HealthStatus::Healthy));
        assert_eq!(serde_json::to_value(&typed).unwrap(), body);
    }
}
