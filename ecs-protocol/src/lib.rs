//! Wire types shared by the ECS agent and the emulated control plane.
//!
//! This crate owns the JSON shapes that cross the boundary between the two sides, so that they cannot
//! drift apart, and checks them against requests recorded from the reference Go agent
//! (`tests/fixtures/`):
//!
//! - [`acs`]: the Agent Communication Service websocket: the `{"type", "message"}` envelope, every
//!   message in both directions, and the task / container / volume model that `PayloadMessage` carries.
//! - [`docker_config`]: typed views of the Docker container config and host config that ACS carries
//!   as JSON *strings* inside `dockerConfig`.
//! - [`ecs_api`]: the ECS API (AWS JSON 1.1) requests and responses the agent sends to the control
//!   plane: registration, poll-endpoint discovery, state changes.
//! - [`status`]: task and container lifecycle statuses, desired / reported / health statuses.
//! - [`tcs`]: the Telemetry Connection Service websocket: the signed frame (a SigV4 header block
//!   before the JSON), the envelope, health, instance status and metrics requests, acks, heartbeats.
//! - [`types`]: small wire enums (network mode, protocol, ...) and [`Timestamp`].
//!
//! What it must not do: no I/O, no clocks, no logging, no async, no dependency beyond serde. Every
//! function is pure, so both sides can unit-test and fuzz their parsing without a network. Field names
//! are exactly the wire names (lowerCamelCase for AWS shapes, PascalCase for Docker's); optional members
//! are `Option` and are left out when `None`, so a decoded message re-encodes to the same JSON. Unknown
//! fields are ignored (the Docker overlays keep them), never an error, because AWS adds members without
//! notice.

// Tests may unwrap: a panic there is a failed test with its message.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod acs;
pub mod docker_config;
pub mod ecs_api;
pub mod status;
pub mod tcs;
pub mod tcs_metrics;
pub mod types;

pub use acs::{AcsFrame, AcsMessage, DecodeError, UnknownMessage};
pub use status::{
    BackendStatus, ContainerStatus, DesiredStatus, HealthStatus, ReportedStatus, StopCode,
    TaskStatus,
};
pub use tcs::{SignedFrame, TcsFrame, TcsMessage};
pub use types::{NetworkMode, Timestamp, TransportProtocol};
