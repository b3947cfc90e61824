//! What CloudWatch's `AWS/ECS` metrics need to know of ECS, handed over as plain data
//! ([`crate::cloudwatch::ecs_metrics::EcsFacts`]): per cluster, the CPU and memory its ACTIVE and
//! DRAINING instances registered, and its RUNNING tasks with their service, reservations and
//! their instance's CPU. Read on the state actor once a minute (`crate::serve` runs the ticker);
//! CloudWatch computes the metrics, so this module holds no metric logic.

use std::collections::BTreeMap;

use ecs_protocol::BackendStatus;

use super::model::ContainerInstance;
use super::state::State;
use crate::cloudwatch::ecs_metrics::{ClusterFacts, EcsFacts, TaskFacts};

fn registered(i: &ContainerInstance, name: &str) -> f64 {
    i.registered_resources
        .iter()
        .find(|r| r.name == name)
        .map_or(0.0, |r| r.integer_value as f64)
}

/// The facts as of now.
pub fn facts(s: &State) -> EcsFacts {
    let mut clusters: BTreeMap<&str, ClusterFacts> = BTreeMap::new();
    for i in s.instances.values() {
        if i.status != "ACTIVE" && i.status != "DRAINING" {
            continue;
        }
        let c = clusters
            .entry(i.cluster_name.as_str())
            .or_insert_with(|| ClusterFacts {
                name: i.cluster_name.clone(),
                ..ClusterFacts::default()
            });
        c.registered_cpu += registered(i, "CPU");
        c.registered_memory += registered(i, "MEMORY");
    }
    for t in s.tasks.values() {
        if t.last_status != BackendStatus::Running {
            continue;
        }
        let Some(instance) = s.instances.get(&t.container_instance_arn) else {
            continue;
        };
        let Some(c) = clusters.get_mut(instance.cluster_name.as_str()) else {
            continue;
        };
        c.tasks.push(TaskFacts {
            task_arn: t.task_arn.clone(),
            service: t.group.strip_prefix("service:").map(str::to_string),
            reserved_cpu: t.reserved_cpu as f64,
            reserved_memory: t.reserved_memory as f64,
            instance_cpu: registered(instance, "CPU"),
        });
    }
    EcsFacts {
        clusters: clusters.into_values().collect(),
    }
}
