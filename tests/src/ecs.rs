//! ECS calls the end-to-end tests make through the real AWS CLI again and again: register a task
//! definition, run a task once the agent's instance can take it, describe a task and wait for a
//! status; plus unique names and the cleanup of a cluster's task containers.
//!
//! Each helper takes the [`AwsCli`] of the test's control plane and the cluster by name, so a
//! test keeps its own setup and only shares these calls.

use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;

use crate::{AwsCli, ControlPlane, Registry, remove_containers_labeled, wait_until};

/// Removes the task containers of a cluster (by their `com.amazonaws.ecs.cluster` label) when the
/// test ends, whatever happened.
#[derive(Debug)]
pub struct ClusterCleanup(pub String);

impl Drop for ClusterCleanup {
    fn drop(&mut self) {
        let _ = remove_containers_labeled(&format!("com.amazonaws.ecs.cluster={}", self.0));
    }
}

/// What most agent tests start with: a registry holding the test image, a control plane with the
/// cluster created, and a data directory for the agent. The cluster's task containers are removed
/// on drop.
#[derive(Debug)]
pub struct ClusterSetup {
    // Field order is drop order: the cleanup runs first, the registry goes last.
    _cleanup: ClusterCleanup,
    pub cp: ControlPlane,
    pub aws: AwsCli,
    pub data: tempfile::TempDir,
    pub image: String,
    pub registry: Registry,
}

impl ClusterSetup {
    /// Starts the registry and the control plane (state in `cp_data` if given) and creates
    /// `cluster`.
    pub fn start(cluster: &str, cp_data: Option<&std::path::Path>) -> Result<Self> {
        Self::start_with_args(cluster, cp_data, &[])
    }

    /// As [`ClusterSetup::start`], with extra command-line arguments for the control plane.
    pub fn start_with_args(
        cluster: &str,
        cp_data: Option<&std::path::Path>,
        cp_args: &[&str],
    ) -> Result<Self> {
        let cleanup = ClusterCleanup(cluster.into());
        let registry = Registry::start()?;
        let image = registry.push_test_image()?;
        let cp = ControlPlane::start_with_args(
            &format!("127.0.0.1:{}", crate::free_port()?),
            cp_data,
            cp_args,
        )?;
        let aws = cp.aws()?;
        aws.run(&["ecs", "create-cluster", "--cluster-name", cluster])?;
        Ok(ClusterSetup {
            _cleanup: cleanup,
            cp,
            aws,
            data: tempfile::tempdir()?,
            image,
            registry,
        })
    }
}

/// Ten random lowercase hex digits: a name part no concurrent run (another worktree, the same test
/// elsewhere, another engineer on the shared Docker engine) uses.
pub fn random_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// `PREFIX-` and a [`random_id`]: a cluster, family or volume name unique to this run, so cleanup
/// by name or label only ever touches what this run made.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", random_id())
}

/// `aws ecs register-task-definition --family FAMILY --container-definitions JSON`; returns the
/// new revision's ARN.
pub fn register_task_definition(aws: &AwsCli, family: &str, containers: &Value) -> Result<String> {
    register_task_definition_with(aws, family, containers, &[])
}

/// [`register_task_definition`] with `extra` arguments after the container definitions (such as
/// `--task-role-arn ARN` or `--requires-compatibilities EC2`).
pub fn register_task_definition_with(
    aws: &AwsCli,
    family: &str,
    containers: &Value,
    extra: &[&str],
) -> Result<String> {
    let containers = containers.to_string();
    let mut args = vec![
        "ecs",
        "register-task-definition",
        "--family",
        family,
        "--container-definitions",
        &containers,
    ];
    args.extend_from_slice(extra);
    let out = aws.run(&args)?;
    out["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .map(String::from)
        .with_context(|| format!("no taskDefinitionArn in the RegisterTaskDefinition answer {out}"))
}

/// `aws ecs run-task --cluster CLUSTER --task-definition DEF EXTRA...`: the whole answer, tasks
/// and failures (no retry: placement tests look at the failures).
pub fn run_task(aws: &AwsCli, cluster: &str, def: &str, extra: &[&str]) -> Result<Value> {
    let mut args = vec![
        "ecs",
        "run-task",
        "--cluster",
        cluster,
        "--task-definition",
        def,
    ];
    args.extend_from_slice(extra);
    aws.run(&args)
}

/// RunTask, retried for up to 20 s until a task is placed, i.e. until the agent's instance is a
/// placement candidate (it must be registered and connected); returns the task ARN.
pub fn run_when_placed(aws: &AwsCli, cluster: &str, def: &str) -> Result<String> {
    wait_until(Duration::from_secs(20), "placement", || {
        let out = aws.run(&[
            "ecs",
            "run-task",
            "--cluster",
            cluster,
            "--task-definition",
            def,
        ])?;
        anyhow::Ok(out["tasks"][0]["taskArn"].as_str().map(String::from))
    })
}

/// DescribeTasks for one task: the task object (`null` if the answer has none).
pub fn describe_task(aws: &AwsCli, cluster: &str, task: &str) -> Result<Value> {
    let out = aws.run(&[
        "ecs",
        "describe-tasks",
        "--cluster",
        cluster,
        "--tasks",
        task,
    ])?;
    Ok(out["tasks"][0].clone())
}

/// [`describe_task`] until the task's `lastStatus` is `status`, for up to `timeout`; returns the
/// task. Fails with "task ARN to be STATUS" and the last answer on timeout.
pub fn wait_status(
    aws: &AwsCli,
    cluster: &str,
    task: &str,
    status: &str,
    timeout: Duration,
) -> Result<Value> {
    wait_until(timeout, &format!("task {task} to be {status}"), || {
        let t = describe_task(aws, cluster, task)?;
        anyhow::Ok((t["lastStatus"] == status).then_some(t))
    })
}

/// The tasks of `cluster` (of `service` when given) whose desired status is `desired` (`RUNNING`
/// or `STOPPED`), as DescribeTasks shows them (one page of ListTasks, described 100 at a time).
pub fn described_tasks(
    aws: &AwsCli,
    cluster: &str,
    service: Option<&str>,
    desired: &str,
) -> Result<Vec<Value>> {
    let mut args = vec![
        "ecs",
        "list-tasks",
        "--cluster",
        cluster,
        "--desired-status",
        desired,
    ];
    if let Some(s) = service {
        args.extend(["--service-name", s]);
    }
    let listed = aws.run(&args)?;
    let arns: Vec<String> = listed["taskArns"]
        .as_array()
        .context("taskArns")?
        .iter()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    let mut tasks = Vec::new();
    for chunk in arns.chunks(100) {
        let mut args = vec!["ecs", "describe-tasks", "--cluster", cluster, "--tasks"];
        args.extend(chunk.iter().map(String::as_str));
        tasks.extend(
            aws.run(&args)?["tasks"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
    }
    Ok(tasks)
}

/// The value of a container instance's attribute `name` (as DescribeContainerInstances shows
/// the instance), if it has one.
pub fn instance_attribute(instance: &Value, name: &str) -> Option<String> {
    instance["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)
        .and_then(|a| a["value"].as_str())
        .map(String::from)
}

/// Every container instance of `cluster`, as DescribeContainerInstances shows them.
pub fn container_instances(aws: &AwsCli, cluster: &str) -> Result<Vec<Value>> {
    let listed = aws.run(&["ecs", "list-container-instances", "--cluster", cluster])?;
    let arns: Vec<String> = listed["containerInstanceArns"]
        .as_array()
        .context("containerInstanceArns")?
        .iter()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let mut args = vec![
        "ecs",
        "describe-container-instances",
        "--cluster",
        cluster,
        "--container-instances",
    ];
    args.extend(arns.iter().map(String::as_str));
    Ok(aws.run(&args)?["containerInstances"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// Waits until `cluster` has `count` container instances, every one with its agent connected;
/// returns them.
pub fn wait_agents_connected(
    aws: &AwsCli,
    cluster: &str,
    count: usize,
    timeout: Duration,
) -> Result<Vec<Value>> {
    wait_until(
        timeout,
        &format!("{count} connected container instance(s) in {cluster}"),
        || {
            let all = container_instances(aws, cluster)?;
            let ready = all.len() == count && all.iter().all(|i| i["agentConnected"] == true);
            anyhow::Ok(ready.then_some(all))
        },
    )
}
