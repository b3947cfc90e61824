//! Tasks: RunTask, StartTask, StopTask, DescribeTasks, ListTasks, the task records they create
//! and the ACS payloads that carry them to the agent.

use std::borrow::Borrow;
use std::sync::Arc;

use ecs_protocol::acs::{PayloadMessage, Task as AcsTask};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ecs::acs_payload;
use crate::ecs::common::{new_id, paginate, short_name, with_next};
use crate::ecs::model::{
    Cluster, OutboundMessage, TASK_INTERNAL, Tag, Task, TaskContainer, api_view,
};
use crate::ecs::placement::strategy::{self as placement_strategy};
use crate::ecs::placement::{Demand, TaskSpec};
use crate::ecs::read_view::ReadView;
use crate::ecs::state::{Account, Key, State};
use crate::ecs::taskdef::{Num, TaskDefinition};
use crate::front::{ApiError, ErrorCode};
use ecs_protocol::{BackendStatus, HealthStatus, ReportedStatus, StopCode};

impl State {
    pub(crate) fn task_view(t: &Task) -> Value {
        api_view(t, TASK_INTERNAL)
    }

    pub(crate) fn new_task(
        &self,
        cluster: &Cluster,
        spec: &TaskSpec,
        def: &TaskDefinition,
        demand: &Demand,
        instance_arn: &str,
        now: f64,
    ) -> Task {
        let id = new_id();
        let task_arn = self
            .account
            .arn(&format!("task/{}/{id}", cluster.cluster_name));
        let containers = def
            .container_definitions
            .iter()
            .map(|c| {
                let n = |v: &Option<Num>| v.as_ref().and_then(Num::value).map(|v| v.to_string());
                TaskContainer {
                    container_arn: self.account.arn(&format!(
                        "container/{}/{id}/{}",
                        cluster.cluster_name,
                        uuid::Uuid::new_v4()
                    )),
                    task_arn: task_arn.clone(),
                    name: c.name.clone(),
                    image: c.image.clone(),
                    image_digest: None,
                    runtime_id: None,
                    last_status: ReportedStatus::Pending,
                    exit_code: None,
                    reason: None,
                    network_bindings: Vec::new(),
                    network_interfaces: Vec::new(),
                    health_status: Some(HealthStatus::Unknown),
                    cpu: n(&c.cpu),
                    memory: n(&c.memory),
                    memory_reservation: n(&c.memory_reservation),
                }
            })
            .collect();
        let str_of = |k: &str, given: &Option<Num>| {
            spec.overrides
                .get(k)
                .and_then(Value::as_str)
                .or_else(|| given.as_ref().and_then(Num::as_str))
                .map(String::from)
        };
        Task {
            task_arn,
            cluster_arn: cluster.cluster_arn.clone(),
            task_definition_arn: self.account.arn(&format!(
                "task-definition/{}:{}",
                spec.family, spec.revision
            )),
            container_instance_arn: instance_arn.to_string(),
            overrides: spec.overrides.clone(),
            last_status: BackendStatus::Pending,
            desired_status: BackendStatus::Running,
            cpu: str_of("cpu", &def.cpu),
            memory: str_of("memory", &def.memory),
            containers,
            started_by: spec.started_by.clone(),
            version: 1,
            stopped_reason: None,
            stop_code: None,
            group: spec
                .group
                .clone()
                .unwrap_or_else(|| format!("family:{}", spec.family)),
            launch_type: spec.launch_type.clone(),
            tags: spec.tags.clone(),
            created_at: now,
            pull_started_at: None,
            pull_stopped_at: None,
            started_at: None,
            stopping_at: None,
            stopped_at: None,
            execution_stopped_at: None,
            health_status: HealthStatus::Unknown,
            reserved_cpu: demand.cpu,
            reserved_memory: demand.memory,
            reserved_ports: demand.ports.clone(),
            reserved_ports_udp: demand.ports_udp.clone(),
        }
    }

    /// Queues a PayloadMessage with the current form of `task_arns` for an instance.
    pub fn send_payload(&mut self, instance_arn: &str, task_arns: &[String], now: f64) {
        let Some(instance) = self.instances.get(instance_arn) else {
            return;
        };
        let cluster_arn = self
            .clusters
            .get(&instance.cluster_name)
            .map(|c| c.cluster_arn.clone())
            .unwrap_or_default();
        let defs: Vec<(Arc<Task>, Option<Arc<TaskDefinition>>)> = task_arns
            .iter()
            .filter_map(|a| self.tasks.get(a))
            .map(|t| {
                let (family, rev) = t
                    .task_definition_arn
                    .rsplit_once('/')
                    .and_then(|(_, fr)| fr.rsplit_once(':'))
                    .unwrap_or(("", "0"));
                let def = self.task_def(family, rev.parse().unwrap_or(0));
                (t.clone(), def.cloned())
            })
            .collect();
        let mut undeliverable = Vec::new();
        let tasks: Vec<AcsTask> = defs
            .iter()
            .filter_map(|(t, def)| {
                let json = self.acs_task_json(t, def.as_deref(), now);
                match acs_payload::typed_task(&t.task_arn, json) {
                    Ok(task) => Some(task),
                    Err(e) => {
                        tracing::error!(task_arn = %t.task_arn, error = %e, "task left out of the payload");
                        undeliverable.push((t.task_arn.clone(), e.to_string()));
                        None
                    }
                }
            })
            .collect();
        if !tasks.is_empty() || undeliverable.is_empty() {
            self.enqueue_payload(instance_arn, cluster_arn, tasks, now);
        }
        // The agent cannot be given such a task: stop it. Its stop payload fails the same way and
        // is left out, and `request_stop` does nothing for a task already stopping, so this ends.
        for (arn, error) in undeliverable {
            self.request_stop(
                &arn,
                StopCode::TaskFailedToStart,
                &format!("ACS payload: {error}"),
                now,
            );
        }
    }

    /// The ACS task for `t` of definition `def` as JSON: the definition's translation
    /// ([`acs_payload::acs_task`]), ECR registry authentication and role credentials.
    pub(crate) fn acs_task_json(
        &mut self,
        t: &Task,
        def: Option<&TaskDefinition>,
        now: f64,
    ) -> Value {
        // The ACS conversion still reads the definition's JSON (see acs_payload/).
        let json = def.map_or(Value::Null, TaskDefinition::to_json);
        let mut acs = acs_payload::acs_task(t, &json);
        if let Some(ecr) = &self.ecr {
            let execution_role = def.is_some_and(|d| d.execution_role_arn.is_some());
            crate::ecr::mark_registry_auth(&mut acs, ecr, execution_role);
        }
        crate::ecs::roles::attach(self, &mut acs, t, def, now);
        acs
    }

    /// Queues a PayloadMessage with `tasks` for an instance, with the instance's next sequence
    /// number.
    fn enqueue_payload(
        &mut self,
        instance_arn: &str,
        cluster_arn: String,
        tasks: Vec<AcsTask>,
        now: f64,
    ) {
        let seq = self
            .meta
            .seq_nums
            .entry(instance_arn.to_string())
            .or_insert(0);
        *seq += 1;
        let seq = *seq;
        self.touch(Key::SeqNum(instance_arn.to_string()));
        let message_id = uuid::Uuid::new_v4().to_string();
        let payload = payload_message(&message_id, cluster_arn, instance_arn, tasks, now, seq);
        let frame = match payload.encode() {
            Ok(frame) => frame,
            // Typed tasks of strings, numbers and lists: cannot happen.
            Err(e) => {
                tracing::error!(container_instance = %instance_arn, error = %e, "payload not encoded");
                return;
            }
        };
        self.enqueue(instance_arn, OutboundMessage { message_id, frame });
    }

    /// RunTask.
    pub fn run_task(&mut self, req: RunTaskRequest, now: f64) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let count = req.count.unwrap_or(1);
        if !(1..=10).contains(&count) {
            return Err(ApiError::invalid("count must be between 1 and 10."));
        }
        let launch_type = req.launch_type.clone().unwrap_or_else(|| "EC2".into());
        if !matches!(launch_type.as_str(), "EC2" | "EXTERNAL") {
            return Err(ApiError::invalid(format!(
                "Launch type {launch_type} is not supported by this control plane; use EC2 or EXTERNAL."
            )));
        }
        let placement_strategy = placement_strategy::parse_strategies(&req.placement_strategy)
            .map_err(|e| ApiError::invalid(e.to_string()))?;
        let (family, revision) = self
            .resolve_task_def(&req.task_definition)
            .map_err(|_| ApiError::invalid("TaskDefinition not found."))?;
        let spec = TaskSpec {
            family,
            revision,
            count: usize::try_from(count).unwrap_or(1),
            overrides: req.overrides.unwrap_or_else(
                || json!({"containerOverrides": [], "inferenceAcceleratorOverrides": []}),
            ),
            started_by: req.started_by,
            group: req.group,
            launch_type,
            tags: req.tags,
            placement_constraints: req.placement_constraints,
            placement_strategy,
        };
        let (tasks, failures) = self.place_tasks(&cluster, &spec, None, now)?;
        Ok(json!({ "tasks": tasks, "failures": failures }))
    }

    /// StartTask.
    pub fn start_task(&mut self, req: StartTaskRequest, now: f64) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        if req.container_instances.is_empty() || req.container_instances.len() > 10 {
            return Err(ApiError::invalid(
                "containerInstances must hold between 1 and 10 instances.",
            ));
        }
        let (family, revision) = self
            .resolve_task_def(&req.task_definition)
            .map_err(|_| ApiError::invalid("TaskDefinition not found."))?;
        let arns: Vec<String> = req
            .container_instances
            .iter()
            .map(|r| self.find_instance(&cluster, r).unwrap_or_else(|| r.clone()))
            .collect();
        let spec = TaskSpec {
            family,
            revision,
            count: arns.len(),
            overrides: req.overrides.unwrap_or_else(
                || json!({"containerOverrides": [], "inferenceAcceleratorOverrides": []}),
            ),
            started_by: req.started_by,
            group: req.group,
            launch_type: "EC2".into(),
            tags: req.tags,
            placement_constraints: Vec::new(),
            placement_strategy: Vec::new(),
        };
        let (tasks, failures) = self.place_tasks(&cluster, &spec, Some(arns), now)?;
        Ok(json!({ "tasks": tasks, "failures": failures }))
    }

    pub(crate) fn find_task(&self, cluster: &Cluster, reference: &str) -> Option<String> {
        if self.tasks.contains_key(reference) {
            return Some(reference.to_string());
        }
        let arn = self.account.arn(&format!(
            "task/{}/{}",
            cluster.cluster_name,
            short_name(reference)
        ));
        self.tasks.contains_key(&arn).then_some(arn)
    }

    /// StopTask.
    pub fn stop_task(&mut self, req: StopTaskRequest, now: f64) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let arn = self
            .find_task(&cluster, &req.task)
            .ok_or_else(|| ApiError::invalid("The referenced task was not found."))?;
        let reason = req
            .reason
            .clone()
            .unwrap_or_else(|| "Task stopped by user".into());
        self.request_stop(&arn, StopCode::UserInitiated, &reason, now);
        let view = self.tasks.get(&arn).map(|t| Self::task_view(t));
        Ok(json!({ "task": view }))
    }

    /// Sets a task's desired status to STOPPED (once) and tells its agent.
    pub(crate) fn request_stop(&mut self, arn: &str, stop_code: StopCode, reason: &str, now: f64) {
        let Some(t) = self.tasks.get_mut(arn).map(Arc::make_mut) else {
            return;
        };
        if t.desired_status == BackendStatus::Stopped {
            return;
        }
        t.desired_status = BackendStatus::Stopped;
        t.stopping_at = Some(now);
        t.stop_code = Some(stop_code);
        t.stopped_reason = Some(reason.into());
        t.version += 1;
        let instance = t.container_instance_arn.clone();
        self.touch(Key::Task(arn.to_string()));
        self.send_payload(&instance, &[arn.to_string()], now);
    }

    /// DescribeTasks (through the actor; [`describe_tasks_from_view`] answers most without it).
    pub fn describe_tasks(&mut self, req: DescribeTasksRequest) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        describe_tasks_answer(&self.account, &cluster.cluster_name, &req, |arn| {
            self.tasks.get(arn).map(|t| &**t)
        })
    }

    /// ListTasks.
    pub fn list_tasks(&mut self, req: ListTasksRequest) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let desired = req.desired_status.as_deref().unwrap_or("RUNNING");
        if !matches!(desired, "RUNNING" | "PENDING" | "STOPPED") {
            return Err(ApiError::invalid(format!(
                "Invalid desiredStatus: {desired}"
            )));
        }
        let instance = match &req.container_instance {
            Some(r) => Some(
                self.find_instance(&cluster, r)
                    .ok_or_else(|| ApiError::invalid("Container instance not found."))?,
            ),
            None => None,
        };
        // Tasks of a service are in its group, `service:<name>`.
        let service_group = match &req.service_name {
            Some(name) => {
                let arn = self.service_arn(&cluster, short_name(name));
                if !self.services.contains_key(&arn) {
                    return Err(ApiError::new(
                        ErrorCode::ServiceNotFoundException,
                        "Service not found.",
                    ));
                }
                Some(format!("service:{}", short_name(name)))
            }
            None => None,
        };
        let arns: Vec<String> = self
            .tasks
            .values()
            .filter(|t| t.cluster_arn == cluster.cluster_arn)
            .filter(|t| service_group.as_ref().is_none_or(|g| &t.group == g))
            .filter(|t| match desired {
                "PENDING" => {
                    t.desired_status == BackendStatus::Running
                        && t.last_status == BackendStatus::Pending
                }
                d => t.desired_status.as_str() == d,
            })
            .filter(|t| {
                instance
                    .as_ref()
                    .is_none_or(|i| &t.container_instance_arn == i)
            })
            .filter(|t| {
                req.family.as_ref().is_none_or(|f| {
                    t.task_definition_arn
                        .contains(&format!("task-definition/{f}:"))
                })
            })
            .filter(|t| {
                req.started_by
                    .as_ref()
                    .is_none_or(|s| t.started_by.as_ref() == Some(s))
            })
            .filter(|t| req.launch_type.as_ref().is_none_or(|l| &t.launch_type == l))
            .map(|t| t.task_arn.clone())
            .collect();
        let (page, next) = paginate(&arns, req.next_token.as_deref(), req.max_results)?;
        Ok(with_next(json!({ "taskArns": page }), next))
    }
}

/// DescribeTasks from the actor's published [`ReadView`], or `None` when the request names no
/// published ACTIVE cluster: the actor then answers (it creates `default` on first use, and
/// words the errors).
pub fn describe_tasks_from_view(
    view: &ReadView,
    req: &DescribeTasksRequest,
) -> Option<Result<Value, ApiError>> {
    let name = match req.cluster.as_deref() {
        None | Some("") => "default",
        Some(r) if r.starts_with("arn:") && !r.contains(":cluster/") => return None,
        Some(r) => short_name(r),
    };
    let cluster = view.cluster(name)?;
    Some(describe_tasks_answer(
        view.account(),
        &cluster.cluster_name,
        req,
        |arn| view.task(arn),
    ))
}

/// DescribeTasks' answer for `req` in the cluster `cluster_name`, finding tasks by ARN with
/// `find`: a reference is a task ARN, or a task id in that cluster; one not found is a `MISSING`
/// failure.
pub(crate) fn describe_tasks_answer<T: Borrow<Task>>(
    account: &Account,
    cluster_name: &str,
    req: &DescribeTasksRequest,
    find: impl Fn(&str) -> Option<T>,
) -> Result<Value, ApiError> {
    if req.tasks.is_empty() {
        return Err(ApiError::invalid("Tasks cannot be empty."));
    }
    if req.tasks.len() > 100 {
        return Err(ApiError::invalid(
            "Tasks cannot have more than 100 entries.",
        ));
    }
    let tags = req.include.iter().any(|i| i == "TAGS");
    let mut out = Vec::new();
    let mut failures = Vec::new();
    for r in &req.tasks {
        let in_cluster = || account.arn(&format!("task/{cluster_name}/{}", short_name(r)));
        match find(r).or_else(|| find(&in_cluster())) {
            Some(t) => {
                let mut v = State::task_view(t.borrow());
                if !tags && let Value::Object(m) = &mut v {
                    m.remove("tags");
                }
                out.push(v);
            }
            None => failures.push(json!({
                "arn": if r.starts_with("arn:") { r.clone() } else { account.arn(&format!("task/{cluster_name}/{r}")) },
                "reason": "MISSING"
            })),
        }
    }
    Ok(json!({ "tasks": out, "failures": failures }))
}

/// The `PayloadMessage` envelope for `tasks` (ACS tasks as built by [`acs_payload`]), generated
/// at `now` (epoch seconds, sent whole) as the instance's `seq`-th payload.
fn payload_message(
    message_id: &str,
    cluster_arn: String,
    instance_arn: &str,
    tasks: Vec<AcsTask>,
    now: f64,
    seq: i64,
) -> PayloadMessage<AcsTask> {
    PayloadMessage {
        message_id: Some(message_id.to_string()),
        cluster_arn: Some(cluster_arn),
        container_instance_arn: Some(instance_arn.to_string()),
        tasks: Some(tasks),
        generated_at: Some(now as i64),
        seq_num: Some(seq),
        timeline: None,
    }
}

// ---- request shapes (members as botocore's ECS model names them) ----

/// RunTask input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunTaskRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Task definition.
    pub task_definition: String,
    /// 1..10.
    pub count: Option<i64>,
    /// EC2 / EXTERNAL.
    pub launch_type: Option<String>,
    /// startedBy.
    pub started_by: Option<String>,
    /// group.
    pub group: Option<String>,
    /// TaskOverride.
    pub overrides: Option<Value>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// PlacementConstraints (`memberOf`, `distinctInstance`).
    #[serde(default)]
    pub placement_constraints: Vec<Value>,
    /// PlacementStrategy (`binpack`, `spread`, `random`), at most five.
    #[serde(default)]
    pub placement_strategy: Vec<Value>,
}

/// StartTask input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StartTaskRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Task definition.
    pub task_definition: String,
    /// Instances.
    #[serde(default)]
    pub container_instances: Vec<String>,
    /// startedBy.
    pub started_by: Option<String>,
    /// group.
    pub group: Option<String>,
    /// TaskOverride.
    pub overrides: Option<Value>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// StopTask input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StopTaskRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Task.
    pub task: String,
    /// Reason.
    pub reason: Option<String>,
}

/// DescribeTasks input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DescribeTasksRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Tasks.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// TAGS.
    #[serde(default)]
    pub include: Vec<String>,
}

/// ListTasks input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListTasksRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Instance.
    pub container_instance: Option<String>,
    /// Family.
    pub family: Option<String>,
    /// startedBy.
    pub started_by: Option<String>,
    /// Service name: the tasks of that service.
    pub service_name: Option<String>,
    /// RUNNING (default), PENDING, STOPPED.
    pub desired_status: Option<String>,
    /// Launch type.
    pub launch_type: Option<String>,
    /// Page token.
    pub next_token: Option<String>,
    /// Page size.
    pub max_results: Option<i64>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::{Value, json};

    use super::payload_message;

    #[test]
    fn payload_envelope_shape() {
        let task = json!({"arn": "arn:aws:ecs:us-east-1:123456789012:task/default/abc", "desiredStatus": "RUNNING"});
        let frame = payload_message(
            "m-1",
            "arn:aws:ecs:us-east-1:123456789012:cluster/default".into(),
            "arn:aws:ecs:us-east-1:123456789012:container-instance/default/ci",
            vec![serde_json::from_value(task.clone()).unwrap()],
            1_795_317_133.9,
            7,
        )
        .encode()
        .unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&frame).unwrap(),
            json!({
                "type": "PayloadMessage",
                "message": {
                    "messageId": "m-1",
                    "clusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/default",
                    "containerInstanceArn": "arn:aws:ecs:us-east-1:123456789012:container-instance/default/ci",
                    "tasks": [task],
                    "generatedAt": 1_795_317_133,
                    "seqNum": 7,
                }
            })
        );
    }
}
