//! The agent's own health counters (ACS connection, state changes, image pulls), for the life of
//! the process: atomics the components update whether or not the Prometheus endpoint
//! ([`crate::prometheus`]) serves them. A leaf module: it imports nothing of the agent, so the
//! engine, the ACS session and the image puller can all update it.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

/// The agent's own counters, for the life of the process.
#[derive(Debug)]
pub struct AgentMetrics {
    /// 1 while an ACS connection is up.
    pub acs_connected: Gauge,
    /// ACS connections made.
    pub acs_connections: Counter,
    /// Task state changes queued and not yet delivered.
    pub state_changes_pending: Gauge,
    /// Task state changes ECS accepted.
    pub state_changes_delivered: Counter,
    /// Image pulls by outcome (`success`, `failure`).
    pub image_pulls: Family<OutcomeLabel, Counter>,
    /// How long image pulls took, seconds.
    pub image_pull_seconds: Histogram,
}

/// The `outcome` label of image pulls.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `success` or `failure`.
    pub outcome: &'static str,
}

/// The process's [`AgentMetrics`]; components update them whether or not the endpoint is on
/// (each update is an atomic add).
pub static AGENT: LazyLock<AgentMetrics> = LazyLock::new(|| AgentMetrics {
    acs_connected: Gauge::default(),
    acs_connections: Counter::default(),
    state_changes_pending: Gauge::default(),
    state_changes_delivered: Counter::default(),
    image_pulls: Family::default(),
    // 0.25 s to about 17 min.
    image_pull_seconds: Histogram::new(exponential_buckets(0.25, 2.0, 13)),
});
