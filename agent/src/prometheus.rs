//! `ECS_ENABLE_PROMETHEUS_METRICS=true`: a Prometheus endpoint, `GET /metrics` on port 51680
//! (the port the reference reserves for it, and adds to `ECS_RESERVED_PORTS`), in the Prometheus
//! text format 0.0.4, encoded by the Prometheus project's own `prometheus-client` crate.
//!
//! Bound to 127.0.0.1 like the credentials endpoint, unless
//! `ECS_ALLOW_OFFHOST_INTROSPECTION_ACCESS=true` opens the introspection port to other hosts:
//! then this one listens on every address too (a scraper elsewhere needs that).
//!
//! Metrics (every name starts with `ecs_`; the full list with help texts is in the README):
//! - per container, labels `task_arn`, `task_family`, `task_revision`, `container_name`, from the
//!   stats collector's newest sample ([`crate::stats`], the same figures TCS publishes; absent
//!   with `ECS_DISABLE_METRICS=true`): `ecs_container_cpu_usage_seconds_total`,
//!   `ecs_container_memory_usage_bytes` (page cache excluded), `ecs_container_network_receive_
//!   bytes_total`, `..._transmit_bytes_total` (bridge networks only), `ecs_container_storage_
//!   read_bytes_total`, `..._write_bytes_total`;
//! - per task, the same summed over its containers, `ecs_task_...`, labels `task_arn`,
//!   `task_family`, `task_revision`;
//! - the agent's own health ([`crate::agent_metrics`]): `ecs_agent_tasks{known_status}` and
//!   `ecs_agent_containers{known_status}` (from the engine's records), `ecs_agent_acs_connected`
//!   (0 or 1), `ecs_agent_acs_connections_total`, `ecs_agent_state_changes_pending` (queued,
//!   not yet delivered to ECS), `ecs_agent_state_changes_delivered_total`,
//!   `ecs_agent_image_pulls_total{outcome}` and `ecs_agent_image_pull_duration_seconds`
//!   (histogram).
//!
//! What it must not do: keep per-task series of its own. Container and task series are built at
//! each scrape from the collector's and the engine's current view, so a stopped task's series
//! vanish with it; only the agent's own counters live for the process ([`AGENT`]).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text::{CONTENT_TYPE, encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::agent_metrics::AGENT;
use crate::engine::EngineHandle;
use crate::state::TaskRecord;
use crate::stats::{Reading, StatsHandle};

/// The port the reference reserves for Prometheus metrics.
pub const PORT: u16 = 51680;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ContainerLabels {
    task_arn: String,
    task_family: String,
    task_revision: String,
    container_name: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TaskLabels {
    task_arn: String,
    task_family: String,
    task_revision: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    known_status: String,
}

type FloatCounter = Counter<f64, AtomicU64>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// One resource, per container and per task.
struct Pair<M> {
    containers: Family<ContainerLabels, M>,
    tasks: Family<TaskLabels, M>,
}

impl<
    M: prometheus_client::metrics::TypedMetric
        + Default
        + Clone
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
> Pair<M>
where
    M: prometheus_client::encoding::EncodeMetric,
{
    fn new() -> Self {
        Pair {
            containers: Family::default(),
            tasks: Family::default(),
        }
    }

    fn register(&self, registry: &mut Registry, name: &str, help: &str) {
        registry.register(
            format!("container_{name}"),
            format!("{help}, per container"),
            self.containers.clone(),
        );
        registry.register(
            format!("task_{name}"),
            format!("{help}, summed over the task's containers"),
            self.tasks.clone(),
        );
    }
}

/// The text of one scrape: the containers' newest readings, the engine's records, the agent's
/// counters.
pub fn render(readings: &[Reading], records: &[TaskRecord]) -> String {
    let mut registry = Registry::with_prefix("ecs");
    let cpu: Pair<FloatCounter> = Pair::new();
    let memory: Pair<FloatGauge> = Pair::new();
    let rx: Pair<FloatCounter> = Pair::new();
    let tx: Pair<FloatCounter> = Pair::new();
    let read: Pair<FloatCounter> = Pair::new();
    let write: Pair<FloatCounter> = Pair::new();
    for r in readings {
        let c = ContainerLabels {
            task_arn: r.task_arn.clone(),
            task_family: r.family.clone(),
            task_revision: r.version.clone(),
            container_name: r.container_name.clone(),
        };
        let t = TaskLabels {
            task_arn: r.task_arn.clone(),
            task_family: r.family.clone(),
            task_revision: r.version.clone(),
        };
        let s = &r.sample;
        let counters: [(&Pair<FloatCounter>, Option<f64>); 5] = [
            (&cpu, Some(r.cpu_seconds)),
            (&rx, s.network.map(|n| n.rx_bytes as f64)),
            (&tx, s.network.map(|n| n.tx_bytes as f64)),
            (&read, Some(s.storage_read_bytes as f64)),
            (&write, Some(s.storage_write_bytes as f64)),
        ];
        for (pair, value) in counters {
            if let Some(v) = value {
                pair.containers.get_or_create(&c).inc_by(v);
                pair.tasks.get_or_create(&t).inc_by(v);
            }
        }
        let m = s.memory_bytes as f64;
        memory.containers.get_or_create(&c).set(m);
        let total = memory.tasks.get_or_create(&t);
        total.set(total.get() + m);
    }
    cpu.register(&mut registry, "cpu_usage_seconds", "CPU time used");
    memory.register(
        &mut registry,
        "memory_usage_bytes",
        "Memory in use, page cache excluded",
    );
    rx.register(&mut registry, "network_receive_bytes", "Bytes received");
    tx.register(&mut registry, "network_transmit_bytes", "Bytes sent");
    read.register(
        &mut registry,
        "storage_read_bytes",
        "Bytes read from block devices",
    );
    write.register(
        &mut registry,
        "storage_write_bytes",
        "Bytes written to block devices",
    );

    let tasks: Family<StatusLabel, Gauge> = Family::default();
    let containers: Family<StatusLabel, Gauge> = Family::default();
    for r in records {
        let status = StatusLabel {
            known_status: r.known.as_str().to_string(),
        };
        tasks.get_or_create(&status).inc();
        for c in &r.containers {
            let status = StatusLabel {
                known_status: c.known.as_str().to_string(),
            };
            containers.get_or_create(&status).inc();
        }
    }
    let agent = &*AGENT;
    registry.register(
        "agent_tasks",
        "Tasks the agent manages, by known status",
        tasks,
    );
    registry.register(
        "agent_containers",
        "Task containers the agent manages, by known status",
        containers,
    );
    registry.register(
        "agent_acs_connected",
        "1 while the agent holds an ACS connection",
        agent.acs_connected.clone(),
    );
    registry.register(
        "agent_acs_connections",
        "ACS connections made",
        agent.acs_connections.clone(),
    );
    registry.register(
        "agent_state_changes_pending",
        "Task state changes queued and not yet delivered to ECS",
        agent.state_changes_pending.clone(),
    );
    registry.register(
        "agent_state_changes_delivered",
        "Task state changes ECS accepted",
        agent.state_changes_delivered.clone(),
    );
    registry.register(
        "agent_image_pulls",
        "Image pulls, by outcome",
        agent.image_pulls.clone(),
    );
    registry.register(
        "agent_image_pull_duration_seconds",
        "How long image pulls took",
        agent.image_pull_seconds.clone(),
    );
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

/// What the endpoint reads.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The engine, once it runs.
    pub engine: watch::Receiver<Option<EngineHandle>>,
    /// The stats collector, once it runs (never with `ECS_DISABLE_METRICS=true`).
    pub stats: watch::Receiver<Option<StatsHandle>>,
}

/// Serves `GET /metrics` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    sources: Sources,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(Arc::new(sources));
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn metrics(State(s): State<Arc<Sources>>) -> Response {
    let engine = s.engine.borrow().clone();
    let stats = s.stats.borrow().clone();
    let records = match engine {
        Some(e) => e.snapshot().await,
        None => Vec::new(),
    };
    let readings = match stats {
        Some(h) => h.latest().await,
        None => Vec::new(),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        render(&readings, &records),
    )
        .into_response()
}

/// The listen address: loopback, or every address when off-host introspection is allowed.
pub fn listen_addr(config: &ecs_config::Config) -> std::net::SocketAddr {
    let ip = if config.allow_offhost_introspection_access.value {
        std::net::Ipv4Addr::UNSPECIFIED
    } else {
        std::net::Ipv4Addr::LOCALHOST
    };
    std::net::SocketAddr::from((ip, PORT))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::stats::sample::{NetCounters, RawSample};
    use std::collections::BTreeMap;

    /// Per-series values of a scrape's text, for tests: `name{labels} value` lines by name and
    /// label text.
    fn series(text: &str) -> BTreeMap<String, f64> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect()
    }

    fn reading(container: &str, cpu: f64, memory: u64, net: Option<u64>) -> Reading {
        Reading {
            task_arn: "arn:aws:ecs:us-east-1:123456789012:task/c/abc".into(),
            family: "web".into(),
            version: "3".into(),
            container_name: container.into(),
            cpu_seconds: cpu,
            sample: RawSample {
                read_ns: 1,
                cpu_ns: 0,
                memory_bytes: memory,
                network: net.map(|b| NetCounters {
                    rx_bytes: b,
                    tx_bytes: b * 2,
                    ..NetCounters::default()
                }),
                storage_read_bytes: 10,
                storage_write_bytes: 20,
            },
        }
    }

    #[test]
    fn a_scrape_has_each_container_and_the_task_sums_in_prometheus_text() {
        let text = render(
            &[
                reading("app", 1.5, 1000, Some(100)),
                reading("sidecar", 0.5, 24, None),
            ],
            &[],
        );
        let s = series(&text);
        let task = r#"task_arn="arn:aws:ecs:us-east-1:123456789012:task/c/abc",task_family="web",task_revision="3""#;
        let app = format!(r#"{{{task},container_name="app"}}"#);
        assert_eq!(
            s[&format!("ecs_container_cpu_usage_seconds_total{app}")],
            1.5
        );
        assert_eq!(
            s[&format!("ecs_task_cpu_usage_seconds_total{{{task}}}")],
            2.0
        );
        assert_eq!(s[&format!("ecs_task_memory_usage_bytes{{{task}}}")], 1024.0);
        assert_eq!(
            s[&format!("ecs_container_network_transmit_bytes_total{app}")],
            200.0
        );
        assert_eq!(
            s[&format!("ecs_task_network_receive_bytes_total{{{task}}}")],
            100.0,
            "only containers with networks count"
        );
        assert_eq!(
            s[&format!("ecs_task_storage_write_bytes_total{{{task}}}")],
            40.0
        );
        assert!(text.contains("# TYPE ecs_container_memory_usage_bytes gauge"));
        assert!(text.contains("# TYPE ecs_task_cpu_usage_seconds_total counter"));
        assert!(text.contains("# TYPE ecs_agent_image_pull_duration_seconds histogram"));
        assert!(s.contains_key("ecs_agent_acs_connected"));
    }

    #[test]
    fn without_readings_only_the_agent_series_remain() {
        let text = render(&[], &[]);
        assert!(!text.contains("task_arn="), "{text}");
        assert!(series(&text).contains_key("ecs_agent_state_changes_pending"));
    }
}
