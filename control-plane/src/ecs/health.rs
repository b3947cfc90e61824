//! Container health from the agents' telemetry connections (TCS `PublishHealthRequest`, as the
//! reference agent sends it) into the tasks DescribeTasks shows: each container's
//! `healthStatus`, and the task's, computed as ECS does (the essential containers with a health
//! check decide: any UNHEALTHY makes the task UNHEALTHY, all HEALTHY make it HEALTHY, otherwise
//! UNKNOWN). Pure rules over [`State`]; the websocket loop in [`crate::acs`] calls [`apply`].

use std::sync::Arc;

use crate::ecs::model::Task;
use crate::ecs::state::{Key, State};
use ecs_protocol::HealthStatus;
use ecs_protocol::tcs::PublishHealthRequest;

/// The task health from its containers' health and whether each is essential.
pub fn task_health(
    containers: impl IntoIterator<Item = (Option<HealthStatus>, bool)>,
) -> HealthStatus {
    let mut any_checked = false;
    let mut all_healthy = true;
    for (health, essential) in containers {
        if !essential {
            continue;
        }
        let Some(h) = health else { continue };
        any_checked = true;
        match h {
            HealthStatus::Unhealthy => return HealthStatus::Unhealthy,
            HealthStatus::Healthy => {}
            HealthStatus::Unknown => all_healthy = false,
        }
    }
    if any_checked && all_healthy {
        HealthStatus::Healthy
    } else {
        HealthStatus::Unknown
    }
}

/// (name, essential, has a health check) of each container of the task's definition.
pub(crate) fn container_flags(s: &State, task: &Task) -> Vec<(String, bool, bool)> {
    let def = task
        .task_definition_arn
        .rsplit_once('/')
        .and_then(|(_, fr)| fr.rsplit_once(':'))
        .and_then(|(f, r)| s.task_defs.get(f)?.get(&r.parse::<u32>().ok()?));
    def.map(|d| {
        d.container_definitions
            .iter()
            .map(|c| (c.name.clone(), c.is_essential(), c.health_check.is_some()))
            .collect()
    })
    .unwrap_or_default()
}

/// Applies one `PublishHealthRequest` from the instance `instance_arn`. Tasks of other
/// instances, unknown tasks and unknown containers are ignored. Returns how many containers
/// changed.
pub fn apply(s: &mut State, instance_arn: &str, message: &PublishHealthRequest) -> usize {
    let mut changed = 0;
    for t in message.tasks.iter().flatten() {
        let Some(arn) = t.task_arn.as_deref() else {
            continue;
        };
        let Some(task) = s.tasks.get(arn) else {
            continue;
        };
        if task.container_instance_arn != instance_arn {
            continue;
        }
        let flags = container_flags(s, task);
        let Some(task) = s.tasks.get_mut(arn).map(Arc::make_mut) else {
            continue;
        };
        let mut task_changed = false;
        for c in t.containers.iter().flatten() {
            let (Some(name), Some(health)) = (c.container_name.as_deref(), c.health_status) else {
                continue;
            };
            if let Some(tc) = task.containers.iter_mut().find(|tc| tc.name == name)
                && tc.health_status != Some(health)
            {
                tc.health_status = Some(health);
                task_changed = true;
                changed += 1;
            }
        }
        if task_changed {
            // Only containers with a health check count; the others show UNKNOWN forever.
            let health = task_health(task.containers.iter().map(|c| {
                let (essential, checked) = flags
                    .iter()
                    .find(|(n, _, _)| *n == c.name)
                    .map_or((true, false), |(_, e, h)| (*e, *h));
                let h = c.health_status.filter(|_| checked);
                (h, essential)
            }));
            task.health_status = health;
            task.version += 1;
            s.touch(Key::Task(arn.to_string()));
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_health_follows_the_essential_containers() {
        assert_eq!(
            task_health([(Some(HealthStatus::Healthy), true), (None, true)]),
            HealthStatus::Healthy
        );
        assert_eq!(
            task_health([
                (Some(HealthStatus::Healthy), true),
                (Some(HealthStatus::Unhealthy), true)
            ]),
            HealthStatus::Unhealthy
        );
        assert_eq!(
            task_health([
                (Some(HealthStatus::Healthy), true),
                (Some(HealthStatus::Unhealthy), false)
            ]),
            HealthStatus::Healthy
        );
        assert_eq!(
            task_health([(Some(HealthStatus::Unknown), true)]),
            HealthStatus::Unknown
        );
        assert_eq!(task_health([(None, true)]), HealthStatus::Unknown);
    }
}
