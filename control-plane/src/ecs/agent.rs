//! What the agent tells ECS: SubmitTaskStateChange, SubmitContainerStateChange, ACS
//! connections and acknowledgements.
//!
//! ECS, not the agent, says why a task stopped: a stop someone asked for keeps the code and reason
//! of the request (StopTask's `UserInitiated`, the scheduler's `ServiceSchedulerInitiated`); a
//! stop the agent reports unasked is derived from the containers ([`stop_unasked`]), whatever
//! reason text the agent sends.

use std::sync::Arc;

use ecs_protocol::ecs_api::{
    ContainerStateChange, NetworkBinding, SubmitContainerStateChangeRequest,
    SubmitStateChangeResponse, SubmitTaskStateChangeRequest,
};
use ecs_protocol::{BackendStatus, ReportedStatus, StopCode};
use serde_json::Value;

use crate::ecs::model::{Task, VersionInfo};
use crate::ecs::state::{Key, State};
use crate::front::ApiError;

impl State {
    /// SubmitTaskStateChange.
    pub fn submit_task_state_change(
        &mut self,
        req: SubmitTaskStateChangeRequest,
        now: f64,
    ) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let task_ref = req
            .task
            .as_deref()
            .ok_or_else(|| ApiError::invalid("task is required."))?;
        let Some(arn) = self.find_task(&cluster, task_ref) else {
            // The agent cannot act on a refusal; ECS acknowledges and drops reports it cannot use.
            tracing::warn!(task_arn = %task_ref, "state change for an unknown task ignored");
            return acknowledged();
        };
        let essential: Vec<String> = self
            .tasks
            .get(&arn)
            .map(|t| crate::ecs::health::container_flags(self, t))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(name, essential, _)| essential.then_some(name))
            .collect();
        let Some(t) = self.tasks.get_mut(&arn).map(Arc::make_mut) else {
            return Err(ApiError::invalid("The referenced task was not found."));
        };
        for c in req.containers.iter().flatten() {
            apply_container_change(t, c);
        }
        if let Some(v) = req.pull_started_at {
            t.pull_started_at.get_or_insert(v.unix_seconds());
        }
        if let Some(v) = req.pull_stopped_at {
            t.pull_stopped_at = Some(v.unix_seconds());
        }
        if let Some(v) = req.execution_stopped_at {
            t.execution_stopped_at.get_or_insert(v.unix_seconds());
        }
        if let Some(status) = &req.status {
            apply_task_status(t, status, req.reason.as_deref(), &essential, now)?;
        }
        t.version += 1;
        if t.last_status == BackendStatus::Stopped
            && let Some(load) = self.active_by_instance.get_mut(&t.container_instance_arn)
        {
            load.remove(t);
        }
        self.touch(Key::Task(arn));
        acknowledged()
    }

    /// SubmitContainerStateChange.
    pub fn submit_container_state_change(
        &mut self,
        req: SubmitContainerStateChangeRequest,
    ) -> Result<Value, ApiError> {
        let cluster = self.cluster(req.cluster.as_deref())?;
        let task_ref = req
            .task
            .as_deref()
            .ok_or_else(|| ApiError::invalid("task is required."))?;
        let arn = self
            .find_task(&cluster, task_ref)
            .ok_or_else(|| ApiError::invalid("The referenced task was not found."))?;
        let Some(t) = self.tasks.get_mut(&arn).map(Arc::make_mut) else {
            return Err(ApiError::invalid("The referenced task was not found."));
        };
        apply_container_change(
            t,
            &ContainerStateChange {
                container_name: req.container_name,
                image_digest: None,
                runtime_id: req.runtime_id,
                status: req.status,
                exit_code: req.exit_code,
                reason: req.reason,
                network_bindings: req.network_bindings,
            },
        );
        t.version += 1;
        self.touch(Key::Task(arn));
        acknowledged()
    }

    /// An agent connected on ACS.
    pub fn agent_connected(&mut self, instance_arn: &str, info: VersionInfo) {
        *self
            .connections
            .entry(instance_arn.to_string())
            .or_insert(0) += 1;
        if let Some(i) = self.instances.get_mut(instance_arn) {
            i.version_info = info;
            self.touch(Key::Instance(instance_arn.to_string()));
        }
    }

    /// An agent's ACS connection closed.
    pub fn agent_disconnected(&mut self, instance_arn: &str) {
        if let Some(n) = self.connections.get_mut(instance_arn) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.connections.remove(instance_arn);
            }
        }
    }

    /// The agent acknowledged `message_id`.
    pub fn ack(&mut self, instance_arn: &str, message_id: &str) {
        if let Some(out) = self.outbox.get_mut(instance_arn) {
            let before = out.len();
            out.retain(|m| m.message_id != message_id);
            if out.len() != before {
                self.touch(Key::Outbox(instance_arn.to_string()));
            }
        }
    }
}

/// The answer to every state change ECS takes: `{"acknowledgment": "ACK"}`.
fn acknowledged() -> Result<Value, ApiError> {
    serde_json::to_value(SubmitStateChangeResponse {
        acknowledgment: Some("ACK".into()),
    })
    .map_err(|e| ApiError::server(format!("state change answer: {e}")))
}

fn apply_container_change(t: &mut Task, c: &ContainerStateChange) {
    let Some(name) = c.container_name.as_deref() else {
        return;
    };
    let Some(tc) = t.containers.iter_mut().find(|x| x.name == name) else {
        return;
    };
    if let Some(s) = &c.status {
        // Never move a container backwards (a late RUNNING after STOPPED is dropped). Any other
        // string is kept as the agent sent it.
        if tc.last_status != ReportedStatus::Stopped {
            tc.last_status = s.clone();
        }
    }
    if c.runtime_id.is_some() {
        tc.runtime_id.clone_from(&c.runtime_id);
    }
    if c.image_digest.is_some() {
        tc.image_digest.clone_from(&c.image_digest);
    }
    if c.exit_code.is_some() {
        tc.exit_code = c.exit_code;
    }
    if c.reason.is_some() {
        tc.reason.clone_from(&c.reason);
    }
    if let Some(bindings) = c.network_bindings.as_deref().filter(|b| !b.is_empty()) {
        tc.network_bindings = bindings.iter().filter_map(binding_json).collect();
    }
}

/// A binding as the task record keeps it (and DescribeTasks shows it): its members as sent.
fn binding_json(b: &NetworkBinding) -> Option<Value> {
    // Strings and integers only: encoding cannot fail.
    serde_json::to_value(b).ok()
}

/// The reason ECS gives for an essential container's exit.
const ESSENTIAL_EXITED: &str = "Essential container in task exited";
/// The reason for a task that did not start when neither the agent nor a container says more.
const FAILED_TO_START: &str = "Task failed to start";

/// Why a task the agent reports STOPPED, unasked, stopped, as ECS derives it: an essential
/// container (by `essential`, the definition's; every container if the definition is gone) that
/// ran (it has a runtime id) and exited (an exit code) makes it `EssentialContainerExited` with
/// ECS's own words; otherwise the task never started: `TaskFailedToStart`, with the agent's
/// reason, else the first container's reason, else [`FAILED_TO_START`]. Pure.
fn stop_unasked(t: &Task, essential: &[String], agent_reason: Option<&str>) -> (StopCode, String) {
    let is_essential = |name: &str| essential.is_empty() || essential.iter().any(|e| e == name);
    let exited = t
        .containers
        .iter()
        .any(|c| is_essential(&c.name) && c.runtime_id.is_some() && c.exit_code.is_some());
    if exited {
        return (StopCode::EssentialContainerExited, ESSENTIAL_EXITED.into());
    }
    let reason = agent_reason
        .filter(|r| !r.is_empty())
        .or_else(|| {
            t.containers
                .iter()
                .filter_map(|c| c.reason.as_deref())
                .find(|r| !r.is_empty())
        })
        .unwrap_or(FAILED_TO_START);
    (StopCode::TaskFailedToStart, reason.to_string())
}

fn apply_task_status(
    t: &mut Task,
    status: &ReportedStatus,
    reason: Option<&str>,
    essential: &[String],
    now: f64,
) -> Result<(), ApiError> {
    match status.backend() {
        Some(BackendStatus::Pending) => {}
        Some(BackendStatus::Running) => {
            if t.last_status != BackendStatus::Stopped {
                t.last_status = BackendStatus::Running;
                t.started_at.get_or_insert(now);
            }
        }
        Some(BackendStatus::Stopped) => {
            if t.last_status != BackendStatus::Stopped {
                t.last_status = BackendStatus::Stopped;
                t.stopped_at = Some(now);
                t.execution_stopped_at.get_or_insert(now);
                // Every container is down once the task is (the report may leave some out).
                for c in &mut t.containers {
                    c.last_status = ReportedStatus::Stopped;
                }
                if t.desired_status != BackendStatus::Stopped {
                    t.desired_status = BackendStatus::Stopped;
                    t.stopping_at.get_or_insert(now);
                    let (code, reason) = stop_unasked(t, essential, reason);
                    t.stop_code = Some(code);
                    t.stopped_reason = Some(reason);
                }
            }
        }
        None => {
            return Err(ApiError::invalid(format!(
                "Invalid status {status}: must be PENDING, RUNNING or STOPPED."
            )));
        }
    }
    Ok(())
}
