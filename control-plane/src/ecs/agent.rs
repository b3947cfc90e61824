//! What the agent tells ECS: SubmitTaskStateChange, SubmitContainerStateChange, ACS
//! connections and acknowledgements.

use serde::Deserialize;
use serde_json::{Value, json};

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
            return Ok(json!({ "acknowledgment": "ACK" }));
        };
        let Some(t) = self.tasks.get_mut(&arn) else {
            return Err(ApiError::invalid("The referenced task was not found."));
        };
        for c in &req.containers {
            apply_container_change(t, c);
        }
        if let Some(v) = req.pull_started_at {
            t.pull_started_at.get_or_insert(v);
        }
        if let Some(v) = req.pull_stopped_at {
            t.pull_stopped_at = Some(v);
        }
        if let Some(v) = req.execution_stopped_at {
            t.execution_stopped_at.get_or_insert(v);
        }
        if let Some(status) = req.status.as_deref() {
            apply_task_status(t, status, req.reason.as_deref(), now)?;
        }
        t.version += 1;
        if t.last_status == "STOPPED" {
            let stopped = t.clone();
            self.deactivate(&stopped);
        }
        self.touch(Key::Task(arn));
        Ok(json!({ "acknowledgment": "ACK" }))
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
        let Some(t) = self.tasks.get_mut(&arn) else {
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
        Ok(json!({ "acknowledgment": "ACK" }))
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

fn apply_container_change(t: &mut Task, c: &ContainerStateChange) {
    let Some(name) = c.container_name.as_deref() else {
        return;
    };
    let Some(tc) = t.containers.iter_mut().find(|x| x.name == name) else {
        return;
    };
    if let Some(s) = &c.status {
        // Never move a container backwards (a late RUNNING after STOPPED is dropped).
        if tc.last_status != "STOPPED" {
            tc.last_status.clone_from(s);
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
    if !c.network_bindings.is_empty() {
        tc.network_bindings.clone_from(&c.network_bindings);
    }
}

fn apply_task_status(
    t: &mut Task,
    status: &str,
    reason: Option<&str>,
    now: f64,
) -> Result<(), ApiError> {
    match status {
        "PENDING" => {}
        "RUNNING" => {
            if t.last_status != "STOPPED" {
                t.last_status = "RUNNING".into();
                t.started_at.get_or_insert(now);
            }
        }
        "STOPPED" => {
            if t.last_status != "STOPPED" {
                t.last_status = "STOPPED".into();
                t.stopped_at = Some(now);
                t.execution_stopped_at.get_or_insert(now);
                if t.desired_status != "STOPPED" {
                    t.desired_status = "STOPPED".into();
                    t.stopping_at.get_or_insert(now);
                    let reason = reason.unwrap_or("Task stopped by the agent");
                    t.stop_code = Some(
                        if reason.starts_with("Essential container") {
                            "EssentialContainerExited"
                        } else {
                            "TaskFailedToStart"
                        }
                        .into(),
                    );
                    t.stopped_reason = Some(reason.to_string());
                }
                for c in &mut t.containers {
                    c.last_status = "STOPPED".into();
                }
            }
        }
        other => {
            return Err(ApiError::invalid(format!(
                "Invalid status {other}: must be PENDING, RUNNING or STOPPED."
            )));
        }
    }
    Ok(())
}

// ---- request shapes (members as botocore's ECS model names them) ----

/// A container change inside SubmitTaskStateChange.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStateChange {
    /// Name.
    pub container_name: Option<String>,
    /// Digest.
    pub image_digest: Option<String>,
    /// Docker id.
    pub runtime_id: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Exit code.
    pub exit_code: Option<i64>,
    /// Reason.
    pub reason: Option<String>,
    /// Bindings.
    #[serde(default)]
    pub network_bindings: Vec<Value>,
}

/// SubmitTaskStateChange input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitTaskStateChangeRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Task ARN.
    pub task: Option<String>,
    /// PENDING / RUNNING / STOPPED.
    pub status: Option<String>,
    /// Reason.
    pub reason: Option<String>,
    /// Container changes.
    #[serde(default)]
    pub containers: Vec<ContainerStateChange>,
    /// Epoch seconds.
    pub pull_started_at: Option<f64>,
    /// Epoch seconds.
    pub pull_stopped_at: Option<f64>,
    /// Epoch seconds.
    pub execution_stopped_at: Option<f64>,
}

/// SubmitContainerStateChange input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitContainerStateChangeRequest {
    /// Cluster.
    pub cluster: Option<String>,
    /// Task ARN.
    pub task: Option<String>,
    /// Name.
    pub container_name: Option<String>,
    /// Docker id.
    pub runtime_id: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Exit code.
    pub exit_code: Option<i64>,
    /// Reason.
    pub reason: Option<String>,
    /// Bindings.
    #[serde(default)]
    pub network_bindings: Vec<Value>,
}
