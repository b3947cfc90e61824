//! Task resources the task actor sets up before its first container is created and removes at
//! cleanup (reference section 4.4: "task resources must be created before container
//! PULLED→CREATED"): the container graph check, the task volumes ([`crate::runtime::volumes`])
//! and the task cgroup ([`crate::cgroup`]); and the per-container parts of the Docker config that
//! refer to them or to sibling containers (binds, `volumesFrom`, links, cgroup parent).
//!
//! What is created is saved in the record's [`crate::state::TaskResources`] (names before the
//! Docker calls), so a restart neither creates a second volume nor forgets to remove one.

use ecs_protocol::acs::Container;

use super::Shared;
use super::deps;
use super::stop_reason::StopReason;
use crate::cgroup;
use crate::runtime::{ContainerRuntime, TaskResourceSpec, volumes};
use crate::state::TaskRecord;

/// Checks the task and chooses the names of what it needs (saved by the caller before
/// [`provision`]). Errs with the reason the task stops with; nothing was created then.
pub fn prepare<R: ContainerRuntime>(
    shared: &Shared<R>,
    record: &mut TaskRecord,
) -> Result<(), StopReason> {
    deps::validate(record.task.containers())
        .map_err(|e| StopReason::CannotStartContainer(e.to_string()))?;
    let planned = volumes::plan(&record.task, &record.resources.volumes)
        .map_err(|e| StopReason::ResourceInitialization(e.to_string()))?;
    let arn = record.arn().to_string();
    for (what, mode) in [
        ("pidMode", &record.task.pid_mode),
        ("ipcMode", &record.task.ipc_mode),
    ] {
        if mode.as_deref() == Some("task") {
            tracing::warn!(task_arn = %arn, "{what} task is not supported yet; the containers keep their own namespaces");
        }
    }
    for c in record.task.containers() {
        volumes::binds(&arn, c, &planned)
            .map_err(|e| StopReason::ResourceInitialization(e.to_string()))?;
    }
    for v in &planned {
        if let volumes::Provision::TaskScoped(spec) = &v.provision {
            record
                .resources
                .volumes
                .insert(v.name.clone(), spec.name.clone());
        }
    }
    let limits = task_limits(shared, record);
    if limits.any() && record.resources.cgroup_parent.is_none() {
        let root = shared.config.cgroup_path.value.clone();
        let plan = cgroup::plan(cgroup::detect(&root), &root, cgroup::task_id(&arn), &limits);
        record.resources.cgroup_parent = Some(plan.parent.clone());
        record.resources.cgroup_dirs = plan.remove.clone();
    }
    Ok(())
}

fn task_limits<R: ContainerRuntime>(shared: &Shared<R>, record: &TaskRecord) -> cgroup::TaskLimits {
    if !shared.config.enable_task_cpu_mem_limit.value {
        return cgroup::TaskLimits {
            cpu: None,
            memory_mib: None,
            cpu_period_us: 100_000,
            pids: None,
        };
    }
    cgroup::TaskLimits {
        cpu: record.task.cpu,
        memory_mib: record.task.memory,
        cpu_period_us: u64::try_from(shared.config.cgroup_cpu_period.value.as_micros())
            .unwrap_or(100_000),
        pids: shared.config.task_pids_limit.value,
    }
}

/// A container's hard memory limit: its own (`spec_memory`), or, on cgroup v2 with
/// `ECS_PROPAGATE_TASK_MEMORY_LIMIT_CGROUPV2`, the task's when it has none. Containers on v2 run
/// in a private cgroup namespace and cannot see the task cgroup's limit (the reference's
/// reason for the setting).
pub fn container_memory<R: ContainerRuntime>(
    shared: &Shared<R>,
    record: &TaskRecord,
    spec_memory: Option<i64>,
) -> Option<i64> {
    let propagate = shared.config.propagate_task_memory_limit_cgroupv2.value
        && cgroup::detect(&shared.config.cgroup_path.value) == cgroup::CgroupVersion::V2;
    memory_with_task_limit(spec_memory, record.task.memory, propagate)
}

/// [`container_memory`]'s rule, pure.
pub fn memory_with_task_limit(
    spec_memory: Option<i64>,
    task_memory_mib: Option<i64>,
    propagate: bool,
) -> Option<i64> {
    match (spec_memory, task_memory_mib) {
        (None, Some(task)) if propagate && task > 0 => crate::runtime::spec::memory_bytes(task),
        _ => spec_memory,
    }
}

/// Creates the volumes and the cgroup [`prepare`] chose. Errs with the reason the task stops with.
pub async fn provision<R: ContainerRuntime>(
    shared: &Shared<R>,
    record: &TaskRecord,
) -> Result<(), StopReason> {
    let arn = record.arn();
    let planned = volumes::plan(&record.task, &record.resources.volumes)
        .map_err(|e| StopReason::ResourceInitialization(e.to_string()))?;
    volumes::provision(
        shared.runtime.as_ref(),
        arn,
        &planned,
        shared.config.shared_volume_match_full_config.value,
    )
    .await
    .map_err(|e| StopReason::ResourceInitialization(e.to_string()))?;
    if record.resources.cgroup_parent.is_some() {
        let limits = task_limits(shared, record);
        let root = shared.config.cgroup_path.value.clone();
        let plan = cgroup::plan(cgroup::detect(&root), &root, cgroup::task_id(arn), &limits);
        cgroup::create(arn, &plan)
            .map_err(|e| StopReason::ResourceInitialization(e.to_string()))?;
    }
    Ok(())
}

/// The task-derived part of container `def`'s Docker config: binds of its mount points,
/// `volumesFrom` and links by the Docker names of the source containers, the task cgroup.
pub fn container_resources(
    record: &TaskRecord,
    def: &Container,
) -> Result<TaskResourceSpec, StopReason> {
    let arn = record.arn();
    let planned = volumes::plan(&record.task, &record.resources.volumes)
        .map_err(|e| StopReason::CannotCreateContainer(e.to_string()))?;
    let binds = volumes::binds(arn, def, &planned)
        .map_err(|e| StopReason::CannotCreateContainer(e.to_string()))?;
    let docker_name_of = |name: &str| {
        record
            .containers
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.docker_name.clone())
            .ok_or_else(|| {
                StopReason::CannotCreateContainer(format!(
                    "task {arn}: container {}: container {name} it refers to has not been created",
                    def.name.as_deref().unwrap_or_default()
                ))
            })
    };
    let mut volumes_from = Vec::new();
    for vf in def.volumes_from.as_deref().unwrap_or_default() {
        let source = vf.source_container.as_deref().unwrap_or_default();
        let ro = if vf.read_only == Some(true) {
            ":ro"
        } else {
            ""
        };
        volumes_from.push(format!("{}{ro}", docker_name_of(source)?));
    }
    let mut links = Vec::new();
    for link in def.links.as_deref().unwrap_or_default() {
        let (name, alias) = link.split_once(':').unwrap_or((link, link));
        links.push(format!("{}:{alias}", docker_name_of(name)?));
    }
    Ok(TaskResourceSpec {
        binds,
        volumes_from,
        links,
        cgroup_parent: record.resources.cgroup_parent.clone(),
    })
}

/// Removes the task-scoped volumes and the task cgroup (after the containers are removed).
pub async fn cleanup<R: ContainerRuntime>(shared: &Shared<R>, record: &TaskRecord) {
    let arn = record.arn();
    for name in record.resources.volumes.values() {
        if let Err(e) = shared.runtime.remove_volume(name).await {
            tracing::warn!(task_arn = %arn, volume = %name, error = %e, "cannot remove task volume");
        }
    }
    if !record.resources.cgroup_dirs.is_empty() {
        cgroup::remove(
            arn,
            &cgroup::CgroupPlan {
                remove: record.resources.cgroup_dirs.clone(),
                ..cgroup::CgroupPlan::default()
            },
        );
    }
}

/// Whether the task cgroup's OOM killer has killed something (cgroup v1 `memory.oom_control`
/// `oom_kill`, v2 `memory.events` `oom_kill`): a container killed by the task memory limit is not
/// flagged OOMKilled by Docker, whose own cgroup did not hit its limit.
pub fn task_oom_killed(record: &TaskRecord) -> bool {
    record.resources.cgroup_dirs.iter().any(|dir| {
        ["memory.oom_control", "memory.events"].iter().any(|f| {
            std::fs::read_to_string(dir.join(f)).is_ok_and(|text| {
                text.lines().any(|l| {
                    l.strip_prefix("oom_kill ")
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .is_some_and(|n| n > 0)
                })
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: i64 = 1024 * 1024;

    #[test]
    fn the_task_memory_limit_goes_to_containers_without_one_only_when_propagating() {
        assert_eq!(
            memory_with_task_limit(None, Some(512), true),
            Some(512 * MIB)
        );
        assert_eq!(memory_with_task_limit(None, Some(512), false), None);
        // A container's own limit stays; no task limit, nothing to give.
        assert_eq!(
            memory_with_task_limit(Some(64 * MIB), Some(512), true),
            Some(64 * MIB)
        );
        assert_eq!(memory_with_task_limit(None, None, true), None);
        assert_eq!(memory_with_task_limit(None, Some(0), true), None);
    }
}
