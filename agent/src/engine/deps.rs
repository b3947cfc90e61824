//! Container ordering inside a task (reference section 4.4, `agent/engine/dependencygraph/graph.go`):
//! when a container may start (`dependsOn` START / COMPLETE / SUCCESS / HEALTHY with the
//! dependency's `startTimeout`, plus the implicit orderings of `links` and `volumesFrom`), which
//! dependencies can never be met (missing container, cycle, SUCCESS dependency that exited
//! non-zero, timeout, a dependency that will never start), and the order containers are stopped
//! in (dependents first).
//!
//! Pure functions over [`Node`]s: no Docker, no clock (the caller passes `now`). The engine turns
//! a [`Readiness::Never`] into a container STOPPED with exit code 143 and a
//! `CannotStartContainerError: dependency graph: ...` reason, as the reference does.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, SystemTime};

use ecs_protocol::acs::{Container, ContainerCondition};
use ecs_protocol::status::ContainerStatus;

/// Exit code the reference reports for a container that could never start because of a
/// dependency ("what docker reports when a container receives SIGTERM").
pub const DEPENDENCY_EXIT_CODE: i64 = 143;

/// What the dependency evaluation needs to know about one container of the task.
#[derive(Debug, Clone, PartialEq)]
pub struct Node<'a> {
    /// The container definition as ACS sent it.
    pub def: &'a Container,
    /// Known status.
    pub known: ContainerStatus,
    /// Exit code once stopped.
    pub exit_code: Option<i64>,
    /// `HEALTHY`, `UNHEALTHY`, `UNKNOWN` (or none yet).
    pub health: Option<&'a str>,
    /// When it reached RUNNING.
    pub started_at: Option<SystemTime>,
    /// Whether it is still meant to start (false once the task is stopping or it failed).
    pub will_start: bool,
}

impl Node<'_> {
    fn name(&self) -> &str {
        self.def.name.as_deref().unwrap_or_default()
    }

    fn has_health_check(&self) -> bool {
        self.def.health_check_type.is_some()
    }

    fn start_timeout(&self) -> Option<Duration> {
        self.def
            .start_timeout
            .filter(|s| *s > 0)
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
    }
}

/// Whether a container may be created and started now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Every dependency is met.
    Ready,
    /// Some dependency is not met yet; look again after an event, or at `until` at the latest
    /// (when a dependency's start timeout expires).
    Wait {
        /// The earliest time a timeout can turn this into [`Readiness::Never`].
        until: Option<SystemTime>,
    },
    /// A dependency can never be met: the reason, in the reference's words.
    Never(String),
}

/// One dependency edge: `dependsOn`, or implied by `links` (START) and `volumesFrom` (CREATE).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Edge {
    Condition(ContainerCondition),
    /// The source must exist (created) before the target is created.
    Create,
}

fn edges(def: &Container) -> Vec<(String, Edge)> {
    let mut out: Vec<(String, Edge)> = def
        .depends_on()
        .iter()
        .map(|d| {
            (
                d.container_name.clone().unwrap_or_default(),
                Edge::Condition(d.condition.clone().unwrap_or(ContainerCondition::Start)),
            )
        })
        .collect();
    for link in def.links.as_deref().unwrap_or_default() {
        let name = link.split(':').next().unwrap_or_default().to_owned();
        out.push((name, Edge::Condition(ContainerCondition::Start)));
    }
    for vf in def.volumes_from.as_deref().unwrap_or_default() {
        out.push((
            vf.source_container.clone().unwrap_or_default(),
            Edge::Create,
        ));
    }
    out
}

/// Checks the task's container graph before anything is created: every dependency, link and
/// `volumesFrom` source names a container of the task, and there is no cycle. Errs with the
/// reason the task stops with.
pub fn validate(containers: &[Container]) -> Result<(), String> {
    let names: HashMap<&str, usize> = containers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_deref().unwrap_or_default(), i))
        .collect();
    let mut graph: Vec<Vec<usize>> = vec![Vec::new(); containers.len()];
    for (i, c) in containers.iter().enumerate() {
        let target = c.name.as_deref().unwrap_or_default();
        for (dep, _) in edges(c) {
            match names.get(dep.as_str()) {
                Some(&j) => graph[i].push(j),
                None => {
                    return Err(format!(
                        "dependency graph: container ordering dependency [{dep}] for target [{target}] does not exist."
                    ));
                }
            }
        }
    }
    // Depth-first search with colours: 0 unvisited, 1 on the stack, 2 done.
    let mut colour = vec![0u8; containers.len()];
    fn visit(i: usize, graph: &[Vec<usize>], colour: &mut [u8], path: &mut Vec<usize>) -> bool {
        colour[i] = 1;
        path.push(i);
        for &j in &graph[i] {
            if colour[j] == 1 {
                path.push(j);
                return true;
            }
            if colour[j] == 0 && visit(j, graph, colour, path) {
                return true;
            }
        }
        path.pop();
        colour[i] = 2;
        false
    }
    for i in 0..containers.len() {
        let mut path = Vec::new();
        if colour[i] == 0 && visit(i, &graph, &mut colour, &mut path) {
            let cycle: Vec<&str> = path
                .iter()
                .map(|&k| containers[k].name.as_deref().unwrap_or_default())
                .collect();
            return Err(format!(
                "dependency graph: circular container ordering dependency: [{}]",
                cycle.join(" -> ")
            ));
        }
    }
    Ok(())
}

/// Whether container `target` (an index into `nodes`) may start now.
pub fn readiness(nodes: &[Node<'_>], target: usize, now: SystemTime) -> Readiness {
    let Some(t) = nodes.get(target) else {
        return Readiness::Never("dependency graph: unknown container".into());
    };
    let target_name = t.name();
    let mut until: Option<SystemTime> = None;
    let mut blocked = false;
    for (dep_name, edge) in edges(t.def) {
        let Some(dep) = nodes.iter().find(|n| n.name() == dep_name) else {
            return Readiness::Never(format!(
                "dependency graph: container ordering dependency [{dep_name}] for target [{target_name}] does not exist."
            ));
        };
        let stopped = dep.known == ContainerStatus::Stopped;
        let timed = matches!(
            edge,
            Edge::Condition(
                ContainerCondition::Success
                    | ContainerCondition::Complete
                    | ContainerCondition::Healthy
            )
        );
        if timed
            && !stopped
            && let (Some(started), Some(timeout)) = (dep.started_at, dep.start_timeout())
        {
            let deadline = started + timeout;
            if now >= deadline {
                return Readiness::Never(format!(
                    "dependency graph: container ordering dependency [{dep_name}] for target [{target_name}] has timed out."
                ));
            }
            until = Some(until.map_or(deadline, |u| u.min(deadline)));
        }
        if edge == Edge::Condition(ContainerCondition::Success)
            && stopped
            && dep.exit_code != Some(0)
        {
            return Readiness::Never(format!(
                "dependency graph: failed to resolve container ordering dependency [{dep_name}] for target [{target_name}] as dependency did not exit successfully."
            ));
        }
        // Not started, and never will (or failed before it ever ran): nothing it could do would
        // meet the condition.
        let never_ran = stopped && dep.started_at.is_none() && dep.exit_code.is_none();
        if (dep.known < ContainerStatus::Running && !dep.will_start && !stopped) || never_ran {
            return Readiness::Never(format!(
                "dependency graph: failed to resolve container ordering dependency [{dep_name}] for target [{target_name}] because dependency will never start"
            ));
        }
        let met = match &edge {
            Edge::Create => dep.known >= ContainerStatus::Created,
            Edge::Condition(ContainerCondition::Start) => dep.known >= ContainerStatus::Running,
            Edge::Condition(ContainerCondition::Complete) => stopped,
            Edge::Condition(ContainerCondition::Success) => stopped && dep.exit_code == Some(0),
            Edge::Condition(ContainerCondition::Healthy) => {
                if !dep.has_health_check() {
                    return Readiness::Never(format!(
                        "dependency graph: container ordering dependency [{dep_name}] for target [{target_name}] requires HEALTHY but the dependency has no health check."
                    ));
                }
                if stopped && dep.health != Some("HEALTHY") {
                    return Readiness::Never(format!(
                        "dependency graph: failed to resolve container ordering dependency [{dep_name}] for target [{target_name}] because dependency stopped before it was healthy"
                    ));
                }
                dep.health == Some("HEALTHY")
            }
            Edge::Condition(ContainerCondition::Unknown(c)) => {
                return Readiness::Never(format!(
                    "dependency graph: container ordering dependency [{dep_name}] for target [{target_name}] has an unknown condition {c}"
                ));
            }
        };
        if !met {
            blocked = true;
        }
    }
    if blocked {
        Readiness::Wait { until }
    } else {
        Readiness::Ready
    }
}

/// The order to stop containers in: a container stops only after every container that depends
/// on it (by `dependsOn`, `links` or `volumesFrom`) has; otherwise last-defined first. Indices
/// into `containers`; every index appears once, even with a cycle (then in reverse order).
pub fn shutdown_order(containers: &[Container]) -> Vec<usize> {
    let names: HashMap<&str, usize> = containers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_deref().unwrap_or_default(), i))
        .collect();
    // dependents[j] = containers that depend on j.
    let mut dependents: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); containers.len()];
    for (i, c) in containers.iter().enumerate() {
        for (dep, _) in edges(c) {
            if let Some(&j) = names.get(dep.as_str())
                && j != i
            {
                dependents[j].insert(i);
            }
        }
    }
    let mut done = vec![false; containers.len()];
    let mut order = Vec::with_capacity(containers.len());
    while order.len() < containers.len() {
        let next = (0..containers.len())
            .rev()
            .find(|&j| !done[j] && dependents[j].iter().all(|&d| done[d]))
            // A cycle: break it with the last remaining container.
            .or_else(|| (0..containers.len()).rev().find(|&j| !done[j]));
        let Some(j) = next else { break };
        done[j] = true;
        order.push(j);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecs_protocol::acs::{ContainerDependency, VolumeFrom};

    fn c(name: &str, deps: &[(&str, ContainerCondition)]) -> Container {
        Container {
            name: Some(name.into()),
            depends_on: Some(
                deps.iter()
                    .map(|(n, cond)| ContainerDependency {
                        container_name: Some((*n).into()),
                        condition: Some(cond.clone()),
                    })
                    .collect(),
            ),
            ..Container::default()
        }
    }

    fn node(def: &Container, known: ContainerStatus) -> Node<'_> {
        Node {
            def,
            known,
            exit_code: None,
            health: None,
            started_at: None,
            will_start: true,
        }
    }

    const T0: SystemTime = SystemTime::UNIX_EPOCH;

    #[test]
    fn success_waits_for_exit_zero_and_fails_on_non_zero() {
        let init = c("init", &[]);
        let app = c("app", &[("init", ContainerCondition::Success)]);
        let mut nodes = vec![
            node(&init, ContainerStatus::Running),
            node(&app, ContainerStatus::None),
        ];
        assert_eq!(readiness(&nodes, 1, T0), Readiness::Wait { until: None });
        nodes[0].known = ContainerStatus::Stopped;
        nodes[0].exit_code = Some(0);
        assert_eq!(readiness(&nodes, 1, T0), Readiness::Ready);
        nodes[0].exit_code = Some(1);
        let Readiness::Never(reason) = readiness(&nodes, 1, T0) else {
            panic!("expected never")
        };
        assert_eq!(
            reason,
            "dependency graph: failed to resolve container ordering dependency [init] for target [app] as dependency did not exit successfully."
        );
    }

    #[test]
    fn start_complete_and_create_conditions() {
        let db = c("db", &[]);
        let mut web = c("web", &[("db", ContainerCondition::Start)]);
        web.links = Some(vec!["db:database".into()]);
        let mut side = c("side", &[("db", ContainerCondition::Complete)]);
        side.volumes_from = Some(vec![VolumeFrom {
            source_container: Some("web".into()),
            read_only: Some(true),
        }]);
        let mut nodes = vec![
            node(&db, ContainerStatus::Created),
            node(&web, ContainerStatus::None),
            node(&side, ContainerStatus::None),
        ];
        assert!(matches!(readiness(&nodes, 1, T0), Readiness::Wait { .. }));
        nodes[0].known = ContainerStatus::Running;
        assert_eq!(readiness(&nodes, 1, T0), Readiness::Ready);
        assert!(matches!(readiness(&nodes, 2, T0), Readiness::Wait { .. }));
        nodes[0].known = ContainerStatus::Stopped;
        nodes[0].exit_code = Some(3);
        // COMPLETE accepts any exit code; volumesFrom needs web created.
        assert!(matches!(readiness(&nodes, 2, T0), Readiness::Wait { .. }));
        nodes[1].known = ContainerStatus::Created;
        assert_eq!(readiness(&nodes, 2, T0), Readiness::Ready);
    }

    #[test]
    fn healthy_needs_a_health_check_and_a_healthy_report() {
        let mut db = c("db", &[]);
        let app = c("app", &[("db", ContainerCondition::Healthy)]);
        let nodes = vec![
            node(&db, ContainerStatus::Running),
            node(&app, ContainerStatus::None),
        ];
        assert!(
            matches!(readiness(&nodes, 1, T0), Readiness::Never(r) if r.contains("no health check"))
        );
        db.health_check_type = Some(ecs_protocol::acs::HealthCheckType::Docker);
        let mut nodes = vec![
            node(&db, ContainerStatus::Running),
            node(&app, ContainerStatus::None),
        ];
        nodes[0].health = Some("UNKNOWN");
        assert!(matches!(readiness(&nodes, 1, T0), Readiness::Wait { .. }));
        nodes[0].health = Some("HEALTHY");
        assert_eq!(readiness(&nodes, 1, T0), Readiness::Ready);
        nodes[0].health = Some("UNHEALTHY");
        nodes[0].known = ContainerStatus::Stopped;
        assert!(matches!(readiness(&nodes, 1, T0), Readiness::Never(_)));
    }

    #[test]
    fn start_timeout_of_the_dependency_is_terminal() {
        let mut db = c("db", &[]);
        db.start_timeout = Some(5);
        let app = c("app", &[("db", ContainerCondition::Success)]);
        let mut nodes = vec![
            node(&db, ContainerStatus::Running),
            node(&app, ContainerStatus::None),
        ];
        nodes[0].started_at = Some(T0);
        assert_eq!(
            readiness(&nodes, 1, T0 + Duration::from_secs(2)),
            Readiness::Wait {
                until: Some(T0 + Duration::from_secs(5))
            }
        );
        let Readiness::Never(r) = readiness(&nodes, 1, T0 + Duration::from_secs(5)) else {
            panic!("expected never")
        };
        assert!(r.ends_with("has timed out."), "{r}");
    }

    #[test]
    fn a_dependency_that_will_never_start_is_terminal() {
        let db = c("db", &[]);
        let app = c("app", &[("db", ContainerCondition::Start)]);
        let mut nodes = vec![
            node(&db, ContainerStatus::None),
            node(&app, ContainerStatus::None),
        ];
        nodes[0].will_start = false;
        assert!(
            matches!(readiness(&nodes, 1, T0), Readiness::Never(r) if r.contains("will never start"))
        );
    }

    #[test]
    fn validate_finds_missing_containers_and_cycles() {
        let a = c("a", &[("b", ContainerCondition::Start)]);
        let b = c("b", &[("c", ContainerCondition::Start)]);
        let cc = c("c", &[("a", ContainerCondition::Complete)]);
        let err = validate(&[a.clone(), b.clone(), cc]).unwrap_err();
        assert_eq!(
            err,
            "dependency graph: circular container ordering dependency: [a -> b -> c -> a]"
        );
        let err = validate(std::slice::from_ref(&a)).unwrap_err();
        assert_eq!(
            err,
            "dependency graph: container ordering dependency [b] for target [a] does not exist."
        );
        let b = c("b", &[]);
        assert_eq!(validate(&[a, b]), Ok(()));
        let selfish = c("s", &[("s", ContainerCondition::Start)]);
        assert!(validate(&[selfish]).unwrap_err().contains("circular"));
    }

    #[test]
    fn shutdown_is_in_reverse_dependency_order() {
        // app depends on db, proxy links app: stop proxy, then app, then db.
        let db = c("db", &[]);
        let app = c("app", &[("db", ContainerCondition::Start)]);
        let mut proxy = c("proxy", &[]);
        proxy.links = Some(vec!["app".into()]);
        let order = shutdown_order(&[proxy, db, app]);
        assert_eq!(order, vec![0, 2, 1]);
        // No dependencies: last-defined first.
        assert_eq!(
            shutdown_order(&[c("x", &[]), c("y", &[]), c("z", &[])]),
            vec![2, 1, 0]
        );
    }
}
