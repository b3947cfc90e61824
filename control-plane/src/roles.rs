//! Task IAM role credentials: for each task and role (`taskRoleArn`, `executionRoleArn`) distinct
//! temporary credentials, issued as STS temporary keys (so they sign every API of the emulator and
//! `GetCallerIdentity` names `arn:aws:sts::<account>:assumed-role/<role>/<task id>`), sent in the
//! payload (`roleCredentials`, `executionRoleCredentials`) and refreshed before expiry with
//! `IAMRoleCredentialsMessage`.
//!
//! Each (task, role type) keeps one random credentials id for its lifetime; refreshes issue new
//! keys under the same id. Keys are the state's persisted temporary keys, so they survive an
//! emulator restart with the rest of the state.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::model::{OutboundMessage, Task};
use crate::state::State;
use crate::sts::TempKey;

/// Default lifetime of task credentials (ECS's are about 6 hours).
pub const DEFAULT_LIFETIME_SECS: i64 = 6 * 3600;

/// `TaskApplication` (the task role) or `TaskExecution` (the execution role).
pub const TASK_APPLICATION: &str = "TaskApplication";
/// The execution role.
pub const TASK_EXECUTION: &str = "TaskExecution";

/// What ties a temporary key to a task's role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRoleBinding {
    /// Task ARN.
    pub task_arn: String,
    /// [`TASK_APPLICATION`] or [`TASK_EXECUTION`].
    pub role_type: String,
    /// The role.
    pub role_arn: String,
    /// The id the agent serves them under.
    pub credentials_id: String,
}

/// The role name of a role ARN (`arn:aws:iam::1:role/path/name` → `name`).
pub fn role_name(role_arn: &str) -> &str {
    role_arn
        .split_once(":role/")
        .map_or(role_arn, |(_, r)| r.rsplit('/').next().unwrap_or(r))
}

/// The latest key of `task_arn`'s `role_type`, if any.
fn latest<'a>(state: &'a State, task_arn: &str, role_type: &str) -> Option<&'a TempKey> {
    state
        .temp_keys
        .values()
        .filter(|k| {
            k.task
                .as_ref()
                .is_some_and(|b| b.task_arn == task_arn && b.role_type == role_type)
        })
        .max_by(|a, b| a.expiration.total_cmp(&b.expiration))
}

/// Issues a new key for `binding`.
fn issue(state: &mut State, binding: TaskRoleBinding, now: f64) -> TempKey {
    let account = state.account.account_id.clone();
    let task_id = binding
        .task_arn
        .rsplit('/')
        .next()
        .unwrap_or(&binding.task_arn)
        .to_string();
    let arn = format!(
        "arn:aws:sts::{account}:assumed-role/{}/{task_id}",
        role_name(&binding.role_arn)
    );
    let role_id = crate::sts::role_id(&binding.role_arn);
    let lifetime = state.role_credentials_lifetime_secs;
    crate::sts::issue_key(
        state,
        arn,
        format!("{role_id}:{task_id}"),
        now,
        lifetime,
        Some(binding),
    )
}

/// The ACS `IAMRoleCredentials` of a key.
pub fn acs_credentials(k: &TempKey) -> Value {
    let b = k.task.clone();
    json!({
        "credentialsId": b.as_ref().map(|b| b.credentials_id.clone()),
        "roleArn": b.as_ref().map(|b| b.role_arn.clone()),
        "accessKeyId": k.access_key_id,
        "secretAccessKey": k.secret_access_key,
        "sessionToken": k.session_token,
        "expiration": crate::sts::iso8601(k.expiration),
    })
}

/// Credentials for a task's role, valid for at least half their lifetime: the latest key, or a
/// new one (same credentials id) when it is older.
fn current(
    state: &mut State,
    task_arn: &str,
    role_type: &str,
    role_arn: &str,
    now: f64,
) -> TempKey {
    #[allow(clippy::cast_precision_loss)]
    let half = state.role_credentials_lifetime_secs as f64 / 2.0;
    if let Some(k) = latest(state, task_arn, role_type)
        && k.task.as_ref().is_some_and(|b| b.role_arn == role_arn)
    {
        if k.expiration - now > half {
            return k.clone();
        }
        let binding = k.task.clone();
        if let Some(b) = binding {
            return issue(state, b, now);
        }
    }
    let binding = TaskRoleBinding {
        task_arn: task_arn.to_string(),
        role_type: role_type.to_string(),
        role_arn: role_arn.to_string(),
        credentials_id: uuid::Uuid::new_v4().to_string(),
    };
    issue(state, binding, now)
}

/// Adds `roleCredentials` / `executionRoleCredentials` to an ACS task built from `task` and its
/// definition `def`.
pub fn attach(state: &mut State, acs_task: &mut Value, task: &Task, def: &Value, now: f64) {
    if task.desired_status == "STOPPED" {
        return;
    }
    let Some(obj) = acs_task.as_object_mut() else {
        return;
    };
    // RunTask overrides win over the definition, as on ECS.
    let role = |key: &str| {
        task.overrides
            .get(key)
            .or_else(|| def.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    for (key, member, role_type) in [
        ("taskRoleArn", "roleCredentials", TASK_APPLICATION),
        (
            "executionRoleArn",
            "executionRoleCredentials",
            TASK_EXECUTION,
        ),
    ] {
        if let Some(role_arn) = role(key) {
            let k = current(state, &task.task_arn, role_type, &role_arn, now);
            obj.insert(member.into(), acs_credentials(&k));
        }
    }
}

fn message(task: &Task, key: &TempKey) -> Option<OutboundMessage> {
    let b = key.task.as_ref()?;
    let message_id = uuid::Uuid::new_v4().to_string();
    let frame = json!({
        "type": "IAMRoleCredentialsMessage",
        "message": {
            "messageId": message_id,
            "taskArn": task.task_arn,
            "taskClusterArn": task.cluster_arn,
            "roleType": b.role_type,
            "roleCredentials": acs_credentials(key),
        }
    });
    Some(OutboundMessage {
        message_id,
        frame: frame.to_string(),
    })
}

fn active_tasks(state: &State, instance: Option<&str>) -> Vec<Task> {
    state
        .active_by_instance
        .iter()
        .filter(|(i, _)| instance.is_none_or(|x| x == i.as_str()))
        .flat_map(|(_, arns)| arns.iter())
        .filter_map(|a| state.tasks.get(a))
        .filter(|t| t.desired_status != "STOPPED")
        .cloned()
        .collect()
}

/// Refreshes every running task's credentials that have less than half their lifetime left,
/// queueing an `IAMRoleCredentialsMessage` to its instance. Returns how many were refreshed.
pub fn refresh_due(state: &mut State, now: f64) -> usize {
    #[allow(clippy::cast_precision_loss)]
    let half = state.role_credentials_lifetime_secs as f64 / 2.0;
    let mut n = 0;
    for task in active_tasks(state, None) {
        for role_type in [TASK_APPLICATION, TASK_EXECUTION] {
            let Some(k) = latest(state, &task.task_arn, role_type) else {
                continue;
            };
            if k.expiration - now > half {
                continue;
            }
            let Some(binding) = k.task.clone() else {
                continue;
            };
            let fresh = issue(state, binding, now);
            if let Some(m) = message(&task, &fresh) {
                state.enqueue(&task.container_instance_arn, m);
                n += 1;
            }
        }
    }
    n
}

/// An agent connected asking for credentials (`sendCredentials=true`, its first connection
/// after a start): queue the current credentials of each of its running tasks.
pub fn resend_all(state: &mut State, instance_arn: &str, now: f64) -> usize {
    let mut n = 0;
    for task in active_tasks(state, Some(instance_arn)) {
        for role_type in [TASK_APPLICATION, TASK_EXECUTION] {
            let Some(k) = latest(state, &task.task_arn, role_type).cloned() else {
                continue;
            };
            let Some(b) = k.task.clone() else { continue };
            let k = current(state, &task.task_arn, role_type, &b.role_arn, now);
            if let Some(m) = message(&task, &k) {
                state.enqueue(instance_arn, m);
                n += 1;
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_drop_the_path() {
        assert_eq!(role_name("arn:aws:iam::1:role/app"), "app");
        assert_eq!(role_name("arn:aws:iam::1:role/team/x/app"), "app");
    }
}
