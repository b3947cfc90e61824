//! The `AWS/ECS` namespace: CPUUtilization and MemoryUtilization by (ClusterName, ServiceName)
//! and by (ClusterName), CPUReservation and MemoryReservation by (ClusterName), one datapoint a
//! minute, defined as ECS defines them:
//!
//! - service utilization: the CPU units (memory) the service's tasks use, over what their
//!   definitions reserve;
//! - cluster utilization: the CPU units (memory) the cluster's tasks use, over what the
//!   cluster's ACTIVE and DRAINING instances registered;
//! - cluster reservation: what the running tasks reserve, over what the instances registered.
//!
//! Use comes from the agents' TCS metrics ([`super::tcs_metrics`]): a container's CPU is a
//! percentage of its instance's CPUs, so units used = percent / 100 × the instance's registered
//! CPU units; memory is MiB in use. ECS facts (which tasks run where, for which service, with
//! what reservations) come in [`EcsFacts`], built by the ECS side (`crate::ecs::cloudwatch_facts`)
//! so that this module imports nothing of ECS. No datapoint is made for a cluster or service with
//! no running task, as ECS sends none.

use std::collections::BTreeMap;

use super::metrics::{Dimension, MetricKey, Sample, SampleData};
use super::tcs_metrics::MetricsStore;

/// The namespace.
pub const NAMESPACE: &str = "AWS/ECS";
/// TCS rounds older than this are not counted as current use (the agents publish every 20 s).
const FRESH_SECS: f64 = 120.0;

/// What ECS knows that the metrics need, at one instant.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EcsFacts {
    /// Every cluster with RUNNING tasks or registered instances.
    pub clusters: Vec<ClusterFacts>,
}

/// One cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterFacts {
    /// Its name.
    pub name: String,
    /// CPU units registered by its ACTIVE and DRAINING instances.
    pub registered_cpu: f64,
    /// Memory (MiB) registered by them.
    pub registered_memory: f64,
    /// Its RUNNING tasks.
    pub tasks: Vec<TaskFacts>,
}

/// One RUNNING task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskFacts {
    /// Its ARN (the TCS metrics' key).
    pub task_arn: String,
    /// The service that started it, if any.
    pub service: Option<String>,
    /// CPU units its definition reserves.
    pub reserved_cpu: f64,
    /// Memory (MiB) its definition reserves.
    pub reserved_memory: f64,
    /// CPU units its instance registered (what a 100 % TCS CPU figure is worth).
    pub instance_cpu: f64,
}

/// A task's use: CPU units and MiB, from its latest fresh TCS round.
fn usage(tcs: &MetricsStore, task: &TaskFacts, now: f64) -> Option<(f64, f64)> {
    let m = tcs.task(&task.task_arn)?;
    if m.received_at < now - FRESH_SECS {
        return None;
    }
    let (mut cpu, mut mem) = (0.0, 0.0);
    for c in m.metric.container_metrics.iter().flatten() {
        let avg = |s: &Option<ecs_protocol::tcs::CwStatsSet>| {
            s.as_ref().and_then(|s| {
                let n = s.sample_count.filter(|n| *n > 0)? as f64;
                Some(s.sum?.0 / n)
            })
        };
        cpu += avg(&c.cpu_stats_set).unwrap_or(0.0) / 100.0 * task.instance_cpu;
        mem += avg(&c.memory_stats_set).unwrap_or(0.0);
    }
    Some((cpu, mem))
}

fn point(name: &str, dims: &[(&str, &str)], t: f64, v: f64) -> (MetricKey, Sample) {
    let dims = dims
        .iter()
        .map(|(n, v)| Dimension {
            name: (*n).to_string(),
            value: (*v).to_string(),
        })
        .collect();
    (
        MetricKey::new(NAMESPACE, name, dims),
        Sample {
            t,
            unit: "Percent".into(),
            data: SampleData::Value(v),
        },
    )
}

fn percent(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| 100.0 * part / whole)
}

/// The minute's `AWS/ECS` datapoints, stamped `minute` (epoch seconds), from `facts` and the
/// TCS metrics as of `now`.
pub fn datapoints(
    facts: &EcsFacts,
    tcs: &MetricsStore,
    minute: f64,
    now: f64,
) -> Vec<(MetricKey, Sample)> {
    let mut out = Vec::new();
    for cluster in &facts.clusters {
        if cluster.tasks.is_empty() {
            continue;
        }
        let c = [("ClusterName", cluster.name.as_str())];
        let reserved_cpu: f64 = cluster.tasks.iter().map(|t| t.reserved_cpu).sum();
        let reserved_mem: f64 = cluster.tasks.iter().map(|t| t.reserved_memory).sum();
        if let Some(v) = percent(reserved_cpu, cluster.registered_cpu) {
            out.push(point("CPUReservation", &c, minute, v));
        }
        if let Some(v) = percent(reserved_mem, cluster.registered_memory) {
            out.push(point("MemoryReservation", &c, minute, v));
        }
        // Per service: (used cpu, used mem, reserved cpu, reserved mem) of tasks with metrics.
        let mut services: BTreeMap<&str, (f64, f64, f64, f64)> = BTreeMap::new();
        let (mut used_cpu, mut used_mem, mut measured) = (0.0, 0.0, false);
        for task in &cluster.tasks {
            let Some((cpu, mem)) = usage(tcs, task, now) else {
                continue;
            };
            measured = true;
            used_cpu += cpu;
            used_mem += mem;
            if let Some(s) = &task.service {
                let e = services.entry(s.as_str()).or_default();
                e.0 += cpu;
                e.1 += mem;
                e.2 += task.reserved_cpu;
                e.3 += task.reserved_memory;
            }
        }
        if measured {
            if let Some(v) = percent(used_cpu, cluster.registered_cpu) {
                out.push(point("CPUUtilization", &c, minute, v));
            }
            if let Some(v) = percent(used_mem, cluster.registered_memory) {
                out.push(point("MemoryUtilization", &c, minute, v));
            }
        }
        for (service, (cpu, mem, rcpu, rmem)) in services {
            let d = [
                ("ClusterName", cluster.name.as_str()),
                ("ServiceName", service),
            ];
            if let Some(v) = percent(cpu, rcpu) {
                out.push(point("CPUUtilization", &d, minute, v));
            }
            if let Some(v) = percent(mem, rmem) {
                out.push(point("MemoryUtilization", &d, minute, v));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecs_protocol::tcs::{
        ContainerMetric, CwStatsSet, Double, MetricsMetadata, PublishMetricsRequest, TaskMetric,
    };

    fn stats(avg: f64) -> Option<CwStatsSet> {
        Some(CwStatsSet {
            max: Some(Double(avg)),
            min: Some(Double(avg)),
            sample_count: Some(2),
            sum: Some(Double(avg * 2.0)),
        })
    }

    #[test]
    fn utilization_and_reservation_as_ecs_defines_them() {
        let tcs = MetricsStore::new();
        let task = |arn: &str, cpu: f64, mem: f64| TaskMetric {
            task_arn: Some(arn.into()),
            container_metrics: Some(vec![ContainerMetric {
                cpu_stats_set: stats(cpu),
                memory_stats_set: stats(mem),
                ..ContainerMetric::default()
            }]),
            ..TaskMetric::default()
        };
        tcs.record(
            "i1",
            &PublishMetricsRequest {
                metadata: Some(MetricsMetadata::default()),
                // 25 % of a 2048-unit instance = 512 units; 128 MiB.
                task_metrics: Some(vec![task("t1", 25.0, 128.0), task("t2", 0.0, 64.0)]),
                ..PublishMetricsRequest::default()
            },
            1000.0,
        );
        let facts = EcsFacts {
            clusters: vec![ClusterFacts {
                name: "c".into(),
                registered_cpu: 2048.0,
                registered_memory: 1024.0,
                tasks: vec![
                    TaskFacts {
                        task_arn: "t1".into(),
                        service: Some("web".into()),
                        reserved_cpu: 1024.0,
                        reserved_memory: 256.0,
                        instance_cpu: 2048.0,
                    },
                    TaskFacts {
                        task_arn: "t2".into(),
                        service: None,
                        reserved_cpu: 512.0,
                        reserved_memory: 256.0,
                        instance_cpu: 2048.0,
                    },
                ],
            }],
        };
        let points = datapoints(&facts, &tcs, 960.0, 1010.0);
        let get = |name: &str, service: Option<&str>| {
            points
                .iter()
                .find(|(k, _)| {
                    k.name == name
                        && k.dimensions.iter().any(|d| d.name == "ServiceName") == service.is_some()
                        && service.is_none_or(|s| k.dimensions.iter().any(|d| d.value == s))
                })
                .map(|(_, s)| match s.data {
                    SampleData::Value(v) => v,
                    _ => f64::NAN,
                })
        };
        assert_eq!(get("CPUReservation", None), Some(75.0));
        assert_eq!(get("MemoryReservation", None), Some(50.0));
        assert_eq!(get("CPUUtilization", None), Some(25.0));
        assert_eq!(get("MemoryUtilization", None), Some(18.75));
        assert_eq!(get("CPUUtilization", Some("web")), Some(50.0));
        assert_eq!(get("MemoryUtilization", Some("web")), Some(50.0));
        assert!(
            points
                .iter()
                .all(|(k, s)| k.namespace == "AWS/ECS" && s.t == 960.0 && s.unit == "Percent")
        );
        // Stale TCS rounds are not current use; reservations still are.
        let later = datapoints(&facts, &tcs, 1200.0, 1200.0);
        assert_eq!(later.len(), 2);
    }
}
