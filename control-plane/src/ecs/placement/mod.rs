//! Placement: what a task needs (Demand), which instances fit, and the choice among them by
//! constraints ([`attrs`]) and strategies ([`strategy`]).

pub mod attrs;
pub mod strategy;

use std::sync::Arc;

use std::collections::{BTreeMap, HashSet, btree_map};
use std::iter::Peekable;

use serde_json::{Value, json};

use crate::ecs::common::def_number;
use crate::ecs::model::{Cluster, ContainerInstance, Resource, Tag};
use crate::ecs::placement::attrs::{self as placement_attrs, InstanceFacts};
use crate::ecs::placement::strategy::{self as placement_strategy, Candidate, Strategy};
use crate::ecs::state::{InstanceLoad, Key, State};
use crate::ecs::taskdef::{Num, TaskDefinition};
use crate::front::ApiError;

/// Why `demand` does not fit on `instance`, whose agent is `connected` and whose tasks hold
/// `load`, if it does not.
fn misfit(
    instance: &ContainerInstance,
    load: Option<&InstanceLoad>,
    connected: bool,
    demand: &Demand,
) -> Option<&'static str> {
    if !connected {
        return Some("AGENT");
    }
    // What is left, from the registered resources and the instance's load, without building
    // the describe view (placement runs this for every instance on every RunTask).
    let (cpu, memory) = load.map_or((0, 0), |l| (l.cpu, l.memory));
    if registered(instance, "CPU").is_some_and(|r| r.number() - cpu < demand.cpu) {
        return Some("RESOURCE:CPU");
    }
    if registered(instance, "MEMORY").is_some_and(|r| r.number() - memory < demand.memory) {
        return Some("RESOURCE:MEMORY");
    }
    let taken = |n: &str, ports: &[u16], held: Option<&BTreeMap<u16, u32>>| {
        !ports.is_empty()
            && registered(instance, n).is_some_and(|r| {
                let reserved = r.string_set_value.as_deref().unwrap_or_default();
                ports.iter().any(|p| {
                    held.is_some_and(|h| h.contains_key(p))
                        || reserved.iter().any(|s| s.parse::<u16>() == Ok(*p))
                })
            })
    };
    if taken("PORTS", &demand.ports, load.map(|l| &l.tcp))
        || taken("PORTS_UDP", &demand.ports_udp, load.map(|l| &l.udp))
    {
        return Some("RESOURCE:PORTS");
    }
    None
}

/// The registered resource `name` of `instance`.
fn registered<'a>(instance: &'a ContainerInstance, name: &str) -> Option<&'a Resource> {
    instance
        .registered_resources
        .iter()
        .find(|r| r.name == name)
}

/// What placement constraints look at on `i`.
fn placement_facts<'a>(
    i: &'a ContainerInstance,
    load: Option<&'a InstanceLoad>,
    connected: bool,
) -> InstanceFacts<'a> {
    /// The groups of an instance without tasks.
    static NO_GROUPS: BTreeMap<String, usize> = BTreeMap::new();
    InstanceFacts {
        attributes: &i.attributes,
        ec2_instance_id: &i.ec2_instance_id,
        agent_connected: connected,
        agent_version: i.version_info.agent_version.as_deref(),
        registered_at: i.registered_at,
        running_tasks_count: load.map_or(0, |l| l.tasks.len()),
        task_groups: load.map_or(&NO_GROUPS, |l| &l.groups),
    }
}

/// `instances`, in ascending ARN order (as [`State::instances`] iterates), each with its load and
/// whether its agent is connected: the two ARN-ordered maps are walked alongside rather than
/// searched for each ARN (placement does this for every instance on every task it places).
fn alongside<'a>(
    instances: impl Iterator<Item = &'a ContainerInstance>,
    loads: &'a BTreeMap<String, InstanceLoad>,
    connections: &'a BTreeMap<String, usize>,
) -> impl Iterator<Item = (&'a ContainerInstance, Option<&'a InstanceLoad>, bool)> {
    let mut loads = loads.iter().peekable();
    let mut connections = connections.iter().peekable();
    instances.map(move |i| {
        let arn = i.container_instance_arn.as_str();
        let load = advance_to(&mut loads, arn);
        let connected = advance_to(&mut connections, arn).is_some_and(|n| *n > 0);
        (i, load, connected)
    })
}

/// The value of `key` in an ascending walk of a map, leaving the walk after the keys before it.
fn advance_to<'a, V>(
    walk: &mut Peekable<btree_map::Iter<'a, String, V>>,
    key: &str,
) -> Option<&'a V> {
    while walk.next_if(|(k, _)| k.as_str() < key).is_some() {}
    walk.next_if(|(k, _)| k.as_str() == key).map(|(_, v)| v)
}

/// `i` as a candidate of the strategies, for a task of `group`.
fn candidate<'a>(
    i: &'a ContainerInstance,
    load: Option<&InstanceLoad>,
    group: &str,
    fits: bool,
) -> Candidate<'a> {
    let number = |name: &str| registered(i, name).map_or(0, Resource::number);
    let (cpu, memory) = load.map_or((0, 0), |l| (l.cpu, l.memory));
    Candidate {
        arn: &i.container_instance_arn,
        remaining_cpu: number("CPU") - cpu,
        remaining_memory: number("MEMORY") - memory,
        attributes: &i.attributes,
        group_tasks: load.map_or(0, |l| l.in_group(group)),
        fits,
    }
}

impl State {
    /// Whether an agent of `arn` holds an ACS connection.
    fn connected(&self, arn: &str) -> bool {
        self.connections.get(arn).is_some_and(|n| *n > 0)
    }

    /// The candidates for StartTask's `fitting` instances: those, and every other instance of
    /// the cluster (they count for `spread` by attribute, fitting or not).
    fn candidates_around<'a>(
        &'a self,
        cluster: &Cluster,
        fitting: &HashSet<&str>,
        group: &str,
    ) -> Vec<Candidate<'a>> {
        self.instances
            .values()
            .filter(|i| {
                fitting.contains(i.container_instance_arn.as_str())
                    || (i.cluster_name == cluster.cluster_name && i.status != "INACTIVE")
            })
            .map(|i| {
                let arn = i.container_instance_arn.as_str();
                candidate(i, self.load(arn), group, fitting.contains(arn))
            })
            .collect()
    }

    /// Places and creates one task per count; returns (tasks, failures).
    pub(crate) fn place_tasks(
        &mut self,
        cluster: &Cluster,
        spec: &TaskSpec,
        candidates: Option<Vec<String>>,
        now: f64,
    ) -> Result<(Vec<Value>, Vec<Value>), ApiError> {
        let def = self
            .task_def(&spec.family, spec.revision)
            .cloned()
            .ok_or_else(|| ApiError::client("Unable to describe task definition."))?;
        let demand = Demand::of(&def, &spec.overrides)?;
        let constraints = placement_attrs::parse_constraints(
            &def.placement_constraints,
            &spec.placement_constraints,
        )
        .map_err(|e| ApiError::invalid(e.to_string()))?;
        let unconstrained = def.requires_attributes.is_empty() && constraints.is_empty();
        let group = spec
            .group
            .clone()
            .unwrap_or_else(|| format!("family:{}", spec.family));
        let explicit = candidates;
        let in_cluster = |i: &ContainerInstance| {
            i.cluster_name == cluster.cluster_name && i.status != "INACTIVE"
        };
        if explicit.is_none() && !self.instances.values().any(in_cluster) {
            return Err(ApiError::invalid(
                "No Container Instances were found in your cluster.",
            ));
        }
        // Why a task cannot go on `i` (with `load`, agent `connected`), if it cannot.
        let refuse = |i: &ContainerInstance, load: Option<&InstanceLoad>, connected: bool| {
            if i.status != "ACTIVE" {
                return Some("INACTIVE");
            }
            let why = if unconstrained {
                None
            } else {
                placement_attrs::refusal(
                    &def.requires_attributes,
                    &constraints,
                    &placement_facts(i, load, connected),
                    &group,
                )
            };
            why.or_else(|| misfit(i, load, connected, &demand))
        };
        let mut tasks = Vec::new();
        let mut failures: BTreeMap<String, &'static str> = BTreeMap::new();
        for n in 0..spec.count {
            // Every target with whether it fits. RunTask's targets are the cluster's instances,
            // which are also the strategies' candidates; StartTask's are the n-th instance given.
            let mut seen: Vec<Candidate<'_>> = Vec::new();
            match &explicit {
                Some(arns) => {
                    for arn in arns.get(n..=n).unwrap_or_default() {
                        let Some(i) = self.instances.get(arn) else {
                            failures.insert(arn.clone(), "MISSING");
                            continue;
                        };
                        let (load, connected) = (self.load(arn), self.connected(arn));
                        let why = refuse(i, load, connected);
                        if let Some(why) = why {
                            failures.insert(arn.clone(), why);
                        }
                        seen.push(candidate(i, load, &group, why.is_none()));
                    }
                }
                None => {
                    seen.reserve(self.instances.len());
                    let cluster_instances = self.instances.values().filter(|i| in_cluster(i));
                    for (i, load, connected) in alongside(
                        cluster_instances,
                        &self.active_by_instance,
                        &self.connections,
                    ) {
                        let why = refuse(i, load, connected);
                        if let Some(why) = why {
                            failures.insert(i.container_instance_arn.clone(), why);
                        }
                        seen.push(candidate(i, load, &group, why.is_none()));
                    }
                }
            }
            if !seen.iter().any(|c| c.fits) {
                continue;
            }
            let around;
            let ranked: &[Candidate<'_>] = if explicit.is_some() {
                let fitting: HashSet<&str> =
                    seen.iter().filter(|c| c.fits).map(|c| c.arn).collect();
                around = self.candidates_around(cluster, &fitting, &group);
                &around
            } else {
                &seen
            };
            let mut draw = || rand::random::<u32>();
            let Some(instance_arn) =
                placement_strategy::best(&spec.placement_strategy, ranked, &mut draw)
                    .and_then(|i| ranked.get(i))
                    .map(|c| c.arn.to_string())
            else {
                continue;
            };
            failures.remove(&instance_arn);
            let task = self.new_task(cluster, spec, &def, &demand, &instance_arn, now);
            tasks.push(Self::task_view(&task));
            let arn = task.task_arn.clone();
            self.activate(&task);
            self.tasks.insert(arn.clone(), Arc::new(task));
            self.touch(Key::Task(arn.clone()));
            self.send_payload(&instance_arn, &[arn], now);
        }
        let failures = if tasks.len() == spec.count {
            Vec::new()
        } else {
            failures
                .into_iter()
                .map(|(arn, reason)| json!({ "arn": arn, "reason": reason }))
                .collect()
        };
        Ok((tasks, failures))
    }
}

/// What a task needs from an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Demand {
    /// CPU units.
    pub cpu: i64,
    /// MiB.
    pub memory: i64,
    /// Static TCP host ports.
    pub ports: Vec<u16>,
    /// Static UDP host ports.
    pub ports_udp: Vec<u16>,
}

impl Demand {
    /// Resources a task of `def` with `overrides` reserves: task-level cpu/memory when set, else the
    /// sum over containers (memory, else memoryReservation); static host ports.
    pub fn of(def: &TaskDefinition, overrides: &Value) -> Result<Demand, ApiError> {
        let over = |name: &str, key: &str| {
            overrides
                .get("containerOverrides")
                .and_then(Value::as_array)
                .and_then(|os| {
                    os.iter()
                        .find(|o| o.get("name").and_then(Value::as_str) == Some(name))
                })
                .and_then(|o| def_number(o.get(key)))
        };
        let num = |n: &Option<Num>| n.as_ref().and_then(Num::value);
        let mut cpu = 0;
        let mut memory = 0;
        let mut ports = Vec::new();
        let mut ports_udp = Vec::new();
        let host_mode = def.network_mode.as_deref() == Some("host");
        for c in &def.container_definitions {
            let name = c.name.as_str();
            cpu += over(name, "cpu").or_else(|| num(&c.cpu)).unwrap_or(0);
            memory += over(name, "memory")
                .or_else(|| num(&c.memory))
                .or_else(|| over(name, "memoryReservation"))
                .or_else(|| num(&c.memory_reservation))
                .unwrap_or(0);
            for pm in &c.port_mappings {
                let host = num(&pm.host_port)
                    .filter(|p| *p > 0)
                    .or_else(|| host_mode.then(|| num(&pm.container_port)).flatten());
                if let Some(p) = host.and_then(|p| u16::try_from(p).ok()) {
                    if pm.protocol.as_deref() == Some("udp") {
                        ports_udp.push(p);
                    } else {
                        ports.push(p);
                    }
                }
            }
        }
        let task_cpu = overrides
            .get("cpu")
            .and_then(|v| def_number(Some(v)))
            .or_else(|| num(&def.cpu));
        let task_memory = overrides
            .get("memory")
            .and_then(|v| def_number(Some(v)))
            .or_else(|| num(&def.memory));
        Ok(Demand {
            cpu: task_cpu.unwrap_or(cpu),
            memory: task_memory.unwrap_or(memory),
            ports,
            ports_udp,
        })
    }
}

/// What to place: RunTask's, StartTask's or a service's tasks.
pub(crate) struct TaskSpec {
    pub(crate) family: String,
    pub(crate) revision: u32,
    pub(crate) count: usize,
    pub(crate) overrides: Value,
    pub(crate) started_by: Option<String>,
    pub(crate) group: Option<String>,
    pub(crate) launch_type: String,
    pub(crate) tags: Vec<Tag>,
    /// RunTask's `placementConstraints` (the task definition's are added at placement).
    pub(crate) placement_constraints: Vec<Value>,
    /// RunTask's or the service's strategies; none ranks by remaining memory alone.
    pub(crate) placement_strategy: Vec<Strategy>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn walking_alongside_finds_each_instances_load_and_connection_as_a_lookup_would() {
        let arns = ["arn:a", "arn:c", "arn:d", "arn:f"];
        let instances: Vec<ContainerInstance> = arns
            .iter()
            .map(|a| {
                serde_json::from_value(serde_json::json!({
                    "containerInstanceArn": a, "clusterName": "default", "ec2InstanceId": "",
                    "version": 1, "status": "ACTIVE", "registeredResources": [],
                    "attributes": [], "registeredAt": 0.0,
                }))
                .unwrap()
            })
            .collect();
        let load = |cpu| InstanceLoad {
            cpu,
            ..InstanceLoad::default()
        };
        // Keys before, between, on and after the instances' ARNs.
        let loads: BTreeMap<String, InstanceLoad> = [
            ("arn:0", 1),
            ("arn:c", 2),
            ("arn:e", 3),
            ("arn:f", 4),
            ("arn:z", 5),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), load(v)))
        .collect();
        let connections: BTreeMap<String, usize> =
            [("arn:a", 1), ("arn:b", 1), ("arn:d", 0), ("arn:f", 2)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
        let walked: Vec<(&str, Option<i64>, bool)> =
            alongside(instances.iter(), &loads, &connections)
                .map(|(i, l, c)| (i.container_instance_arn.as_str(), l.map(|l| l.cpu), c))
                .collect();
        let looked_up: Vec<(&str, Option<i64>, bool)> = instances
            .iter()
            .map(|i| {
                let arn = i.container_instance_arn.as_str();
                (
                    arn,
                    loads.get(arn).map(|l| l.cpu),
                    connections.get(arn).is_some_and(|n| *n > 0),
                )
            })
            .collect();
        assert_eq!(walked, looked_up);
        assert_eq!(
            walked,
            vec![
                ("arn:a", None, true),
                ("arn:c", Some(2), false),
                ("arn:d", None, false),
                ("arn:f", Some(4), true),
            ]
        );
    }
}
