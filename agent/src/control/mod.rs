//! Talking to the control plane: the ECS API (aws-sdk-ecs) and the ACS websocket session.
//!
//! - [`EcsApi`] wraps the SDK client: RegisterContainerInstance (with the reference agent's
//!   retry rules and attribute echo check), DiscoverPollEndpoint (cached 12 h) and
//!   SubmitTaskStateChange.
//! - [`capabilities`] and [`Registration`] say what this host offers; [`host_resources`] reads
//!   its CPU and memory.
//! - [`run_acs`] keeps the ACS websocket up for the agent's lifetime and hands payloads to the
//!   task engine through a channel, acking them once the engine says they are handled.
//!
//! This module must not run tasks, persist state or decide what a payload means: it delivers
//! messages and reports, and says (through [`ControlError::is_terminal`]) when the agent must
//! stop for good. Credentials are never logged.

mod acs;
mod api;
pub mod ec2_tags;
mod host;
pub mod imds;
mod register;
pub mod spot;
mod submit;
mod tcs;

use std::path::PathBuf;
use std::time::Duration;

pub use acs::{
    AGENT_HASH, AGENT_VERSION, AcsEvent, AcsExit, AcsParams, INACTIVE_INSTANCE_RECONNECT_DELAY,
    Timers, acs_query, acs_url, run_acs, sign_upgrade,
};
pub use api::{EcsApi, EcsApiOptions, TagsError};
pub use host::{HostResources, MEMINFO, host_resources, host_resources_from};
pub use register::{ApiVersion, Registration, capabilities, check_attributes_echoed};
pub use tcs::{PUBLISH_INTERVAL, Telemetry, health_request, run_telemetry, tcs_query};

/// What went wrong talking to the control plane. [`ControlError::is_terminal`] says which errors
/// mean "do not restart me" (exit 5).
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No region in the configuration.
    #[error("no AWS region configured: set AWS_DEFAULT_REGION (or AWS_REGION)")]
    MissingRegion,
    /// `ECS_BACKEND_HOST` is not a URL the SDK can call.
    #[error("ECS_BACKEND_HOST {value:?} is not a usable endpoint: {reason}")]
    InvalidEndpoint {
        /// The configured value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The host's resources could not be read.
    #[error("cannot read the host's memory from {}: {reason}", path.display())]
    HostResources {
        /// The file read.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// `ECS_RESERVED_MEMORY` leaves nothing (or less than nothing) for tasks.
    #[error(
        "reserved memory is higher than available memory on the host, total memory: {total_mib} MiB, reserved: {reserved_mib} MiB"
    )]
    ReservedMemory {
        /// MemTotal in MiB.
        total_mib: u64,
        /// ECS_RESERVED_MEMORY.
        reserved_mib: u64,
    },
    /// ECS refused a call for a reason retrying cannot fix (AccessDenied, InvalidParameter,
    /// ClientException on registration).
    #[error("{operation} refused by ECS ({code}): {message}")]
    Rejected {
        /// The API operation.
        operation: &'static str,
        /// The AWS error code.
        code: String,
        /// The AWS error message.
        message: String,
    },
    /// The registration answer did not echo every attribute sent.
    #[error("Attribute validation failed: ECS did not register {missing:?}")]
    AttributeValidation {
        /// The names of the attributes missing or changed in the answer.
        missing: Vec<String>,
    },
    /// ECS said a state change is invalid (InvalidParameterException, with its message): the
    /// caller drops the event instead of retrying it.
    #[error("SubmitTaskStateChange rejected as invalid: {0}")]
    InvalidParameter(String),
    /// A call failed in a way that may pass (network, throttling, server errors).
    #[error("{operation} failed{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Api {
        /// The API operation.
        operation: &'static str,
        /// The AWS error code, when ECS answered with one.
        code: Option<String>,
        /// What went wrong.
        message: String,
    },
    /// A retried call kept failing until its deadline.
    #[error("{operation} still failing after {attempts} attempts in {}s: {last}", elapsed.as_secs())]
    RetriesExhausted {
        /// The API operation.
        operation: &'static str,
        /// Attempts made.
        attempts: u32,
        /// Time spent.
        elapsed: Duration,
        /// The last attempt's error.
        last: Box<ControlError>,
    },
    /// An answer lacked a member the agent needs.
    #[error("{operation}: the answer has no {field}")]
    MissingField {
        /// The API operation.
        operation: &'static str,
        /// The missing member.
        field: &'static str,
    },
    /// The instance credentials could not be obtained.
    #[error("cannot get the instance credentials: {0}")]
    Credentials(String),
    /// The ACS URL or its signature could not be built.
    #[error("cannot build the ACS request for {url}: {reason}")]
    AcsRequest {
        /// The URL (no secrets in it).
        url: String,
        /// Why.
        reason: String,
    },
    /// ACS refused the connection for a reason reconnecting cannot fix
    /// (InvalidInstanceException, InvalidClusterException, AccessDeniedException).
    #[error("ACS refused the connection ({kind}): {message}")]
    AcsRefused {
        /// The exception type.
        kind: String,
        /// Its message.
        message: String,
    },
    /// The receiver of ACS events was dropped while the session ran.
    #[error("the ACS event handler has gone away")]
    HandlerClosed,
}

impl ControlError {
    /// Whether the agent must exit with the terminal status (5, "do not restart") because of this
    /// error, as the reference agent does.
    pub fn is_terminal(&self) -> bool {
        match self {
            Self::MissingRegion
            | Self::InvalidEndpoint { .. }
            | Self::ReservedMemory { .. }
            | Self::Rejected { .. }
            | Self::AttributeValidation { .. }
            | Self::AcsRefused { .. } => true,
            Self::HostResources { .. }
            | Self::InvalidParameter(_)
            | Self::Api { .. }
            | Self::RetriesExhausted { .. }
            | Self::MissingField { .. }
            | Self::Credentials(_)
            | Self::AcsRequest { .. }
            | Self::HandlerClosed => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_errors_are_the_reference_agents() {
        assert!(ControlError::MissingRegion.is_terminal());
        assert!(
            ControlError::AttributeValidation {
                missing: vec!["x".into()]
            }
            .is_terminal()
        );
        assert!(
            !ControlError::Api {
                operation: "RegisterContainerInstance",
                code: Some("ServerException".into()),
                message: "boom".into()
            }
            .is_terminal()
        );
        assert!(!ControlError::InvalidParameter("bad".into()).is_terminal());
    }

    #[test]
    fn api_error_names_the_code() {
        let e = ControlError::Api {
            operation: "DiscoverPollEndpoint",
            code: Some("ServerException".into()),
            message: "boom".into(),
        };
        assert_eq!(
            e.to_string(),
            "DiscoverPollEndpoint failed (ServerException): boom"
        );
    }
}
