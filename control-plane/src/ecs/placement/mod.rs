//! Placement: what a task needs (Demand), which instances fit, and the choice among them by
//! constraints ([`attrs`]) and strategies ([`strategy`]).

pub mod attrs;
pub mod strategy;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::ecs::common::def_number;
use crate::ecs::model::{Cluster, ContainerInstance, Resource, Tag};
use crate::ecs::placement::attrs::{self as placement_attrs, InstanceFacts};
use crate::ecs::placement::strategy::{self as placement_strategy, Candidate, Strategy};
use crate::ecs::state::{Key, State};
use crate::ecs::taskdef::{Num, TaskDefinition};
use crate::front::ApiError;

impl State {
    /// Why `demand` does not fit on `instance`, if it does not.
    pub(crate) fn misfit(
        &self,
        instance: &ContainerInstance,
        demand: &Demand,
    ) -> Option<&'static str> {
        if self
            .connections
            .get(&instance.container_instance_arn)
            .copied()
            .unwrap_or(0)
            == 0
        {
            return Some("AGENT");
        }
        // What is left, from the registered resources and the instance's load, without building
        // the describe view (placement runs this for every instance on every RunTask).
        let load = self.load(&instance.container_instance_arn);
        let registered = |n: &str| instance.registered_resources.iter().find(|r| r.name == n);
        let (cpu, memory) = load.map_or((0, 0), |l| (l.cpu, l.memory));
        if registered("CPU").is_some_and(|r| r.number() - cpu < demand.cpu) {
            return Some("RESOURCE:CPU");
        }
        if registered("MEMORY").is_some_and(|r| r.number() - memory < demand.memory) {
            return Some("RESOURCE:MEMORY");
        }
        let taken = |n: &str, ports: &[u16], held: Option<&BTreeMap<u16, u32>>| {
            registered(n).is_some_and(|r| {
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

    /// What placement constraints look at on `i`.
    pub(crate) fn placement_facts<'a>(&'a self, i: &'a ContainerInstance) -> InstanceFacts<'a> {
        let arn = &i.container_instance_arn;
        InstanceFacts {
            attributes: &i.attributes,
            ec2_instance_id: &i.ec2_instance_id,
            agent_connected: self.connections.get(arn).copied().unwrap_or(0) > 0,
            agent_version: i.version_info.agent_version.as_deref(),
            registered_at: i.registered_at,
            running_tasks_count: self.load(arn).map_or(0, |l| l.tasks.len()),
            task_groups: self
                .load(arn)
                .map(|l| l.groups.keys().cloned().collect())
                .unwrap_or_default(),
        }
    }

    /// The instance of `fitting` that `strategies` rank first. Every instance of the cluster
    /// counts for `spread` by attribute, fitting or not.
    pub(crate) fn choose(
        &self,
        cluster: &Cluster,
        strategies: &[Strategy],
        fitting: &BTreeSet<&str>,
        group: &str,
    ) -> Option<String> {
        let number = |i: &ContainerInstance, name: &str| {
            i.registered_resources
                .iter()
                .find(|r| r.name == name)
                .map_or(0, Resource::number)
        };
        let candidates: Vec<Candidate<'_>> = self
            .instances
            .values()
            .filter(|i| {
                fitting.contains(i.container_instance_arn.as_str())
                    || (i.cluster_name == cluster.cluster_name && i.status != "INACTIVE")
            })
            .map(|i| {
                let arn = i.container_instance_arn.as_str();
                let (cpu, memory) = self.load(arn).map_or((0, 0), |l| (l.cpu, l.memory));
                Candidate {
                    arn,
                    remaining_cpu: number(i, "CPU") - cpu,
                    remaining_memory: number(i, "MEMORY") - memory,
                    attributes: &i.attributes,
                    group_tasks: self.load(arn).map_or(0, |l| l.in_group(group)),
                    fits: fitting.contains(arn),
                }
            })
            .collect();
        let mut draw = || rand::random::<u32>();
        let order = placement_strategy::rank(strategies, &candidates, &mut draw);
        order
            .first()
            .and_then(|&i| candidates.get(i))
            .map(|c| c.arn.to_string())
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
        let group = spec
            .group
            .clone()
            .unwrap_or_else(|| format!("family:{}", spec.family));
        let explicit = candidates.is_some();
        let candidates: Vec<String> = match candidates {
            Some(c) => c,
            None => {
                let all: Vec<String> = self
                    .instances
                    .values()
                    .filter(|i| i.cluster_name == cluster.cluster_name && i.status != "INACTIVE")
                    .map(|i| i.container_instance_arn.clone())
                    .collect();
                if all.is_empty() {
                    return Err(ApiError::invalid(
                        "No Container Instances were found in your cluster.",
                    ));
                }
                all
            }
        };
        let mut tasks = Vec::new();
        let mut failures: BTreeMap<String, &'static str> = BTreeMap::new();
        for n in 0..spec.count {
            let targets: Vec<String> = if explicit {
                candidates
                    .get(n..=n)
                    .map(<[String]>::to_vec)
                    .unwrap_or_default()
            } else {
                candidates.clone()
            };
            let mut fitting: BTreeSet<&str> = BTreeSet::new();
            for arn in &targets {
                let Some(i) = self.instances.get(arn) else {
                    failures.insert(arn.clone(), "MISSING");
                    continue;
                };
                if i.status != "ACTIVE" {
                    failures.insert(arn.clone(), "INACTIVE");
                    continue;
                }
                let why = placement_attrs::refusal(
                    &def.requires_attributes,
                    &constraints,
                    &self.placement_facts(i),
                    &group,
                );
                if let Some(why) = why.or_else(|| self.misfit(i, &demand)) {
                    failures.insert(arn.clone(), why);
                    continue;
                }
                fitting.insert(arn.as_str());
            }
            if fitting.is_empty() {
                continue;
            }
            let instance_arn = self.choose(cluster, &spec.placement_strategy, &fitting, &group);
            let Some(instance_arn) = instance_arn else {
                continue;
            };
            failures.remove(&instance_arn);
            let task = self.new_task(cluster, spec, &def, &demand, &instance_arn, now);
            tasks.push(Self::task_view(&task));
            let arn = task.task_arn.clone();
            self.activate(&task);
            self.tasks.insert(arn.clone(), task);
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
