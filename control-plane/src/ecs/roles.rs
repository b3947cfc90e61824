//! Task IAM role credentials: for each task and role (`taskRoleArn`, `executionRoleArn`) distinct
//! temporary credentials, issued as STS temporary keys (so they sign every API of the emulator and
//! `GetCallerIdentity` names `arn:aws:sts::<account>:assumed-role/<role>/<task id>`), sent in the
//! payload (`roleCredentials`, `executionRoleCredentials`) and refreshed before expiry with
//! `IAMRoleCredentialsMessage`.
//!
//! Each (task, role type) keeps one random credentials id for its lifetime; refreshes issue new
//! keys under the same id. Keys are the state's persisted temporary keys, so they survive an
//! emulator restart with the rest of the state.

use std::sync::Arc;

use ecs_protocol::acs::{AcsMessage, IamRoleCredentials, IamRoleCredentialsMessage, RoleType};
use serde_json::Value;

use crate::ecs::model::{OutboundMessage, Task};
use crate::ecs::state::State;
use crate::ecs::taskdef::TaskDefinition;
pub use crate::sts::keys::TaskRoleBinding;
use crate::sts::keys::TempKey;
use ecs_protocol::BackendStatus;

/// `TaskApplication` (the task role) or `TaskExecution` (the execution role).
pub const TASK_APPLICATION: &str = "TaskApplication";
/// The execution role.
pub const TASK_EXECUTION: &str = "TaskExecution";

/// The role name of a role ARN (`arn:aws:iam::1:role/path/name` → `name`).
pub fn role_name(role_arn: &str) -> &str {
    role_arn
        .split_once(":role/")
        .map_or(role_arn, |(_, r)| r.rsplit('/').next().unwrap_or(r))
}

/// The latest key of `task_arn`'s `role_type`, if any.
fn latest(state: &State, task_arn: &str, role_type: &str) -> Option<TempKey> {
    state.keys.latest_for_task(task_arn, role_type)
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
    let role_id = crate::sts::keys::role_id(&binding.role_arn);
    let lifetime = state.role_credentials_lifetime_secs;
    state.keys.issue(
        arn,
        format!("{role_id}:{task_id}"),
        now,
        lifetime,
        Some(binding),
    )
}

/// The ACS `IAMRoleCredentials` of a key.
pub fn acs_credentials(k: &TempKey) -> IamRoleCredentials {
    let b = k.task.as_ref();
    IamRoleCredentials {
        credentials_id: b.map(|b| b.credentials_id.clone()),
        role_arn: b.map(|b| b.role_arn.clone()),
        access_key_id: Some(k.access_key_id.clone()),
        secret_access_key: Some(k.secret_access_key.clone()),
        session_token: Some(k.session_token.clone()),
        expiration: Some(crate::sts::iso8601(k.expiration)),
        credential_scope: None,
    }
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
            return k;
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
pub fn attach(
    state: &mut State,
    acs_task: &mut Value,
    task: &Task,
    def: Option<&TaskDefinition>,
    now: f64,
) {
    if task.desired_status == BackendStatus::Stopped {
        return;
    }
    let Some(obj) = acs_task.as_object_mut() else {
        return;
    };
    // RunTask overrides win over the definition, as on ECS.
    let role = |key: &str| {
        let given = def.and_then(|d| match key {
            "taskRoleArn" => d.task_role_arn.as_deref(),
            _ => d.execution_role_arn.as_deref(),
        });
        task.overrides
            .get(key)
            .map(Value::as_str)
            .unwrap_or(given)
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
            match serde_json::to_value(acs_credentials(&k)) {
                Ok(credentials) => {
                    obj.insert(member.into(), credentials);
                }
                // Strings only: cannot happen, but a task without credentials beats a panic.
                Err(e) => {
                    tracing::error!(task_arn = %task.task_arn, error = %e, "credentials not encoded")
                }
            }
        }
    }
}

/// The `IAMRoleCredentialsMessage` refreshing `task`'s credentials to `key`.
fn credentials_message(task: &Task, key: &TempKey, message_id: &str) -> Option<AcsMessage> {
    let b = key.task.as_ref()?;
    Some(AcsMessage::IamRoleCredentialsMessage(
        IamRoleCredentialsMessage {
            message_id: Some(message_id.to_string()),
            task_arn: Some(task.task_arn.clone()),
            task_cluster_arn: Some(task.cluster_arn.clone()),
            role_type: Some(RoleType::from(b.role_type.as_str())),
            role_credentials: Some(acs_credentials(key)),
        },
    ))
}

fn message(task: &Task, key: &TempKey) -> Option<OutboundMessage> {
    let message_id = uuid::Uuid::new_v4().to_string();
    let frame = match credentials_message(task, key, &message_id)?.encode() {
        Ok(frame) => frame,
        // Strings only: cannot happen, but a skipped refresh is retried at the next tick.
        Err(e) => {
            tracing::error!(task_arn = %task.task_arn, error = %e, "credentials message not encoded");
            return None;
        }
    };
    Some(OutboundMessage { message_id, frame })
}

fn active_tasks(state: &State, instance: Option<&str>) -> Vec<Arc<Task>> {
    state
        .active_by_instance
        .iter()
        .filter(|(i, _)| instance.is_none_or(|x| x == i.as_str()))
        .flat_map(|(_, load)| load.tasks.iter())
        .filter_map(|a| state.tasks.get(a))
        .filter(|t| t.desired_status != BackendStatus::Stopped)
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

/// Expires the current credentials of every running task (or only of `task_arn`) now, issues
/// fresh ones under the same credentials id and queues an `IAMRoleCredentialsMessage` with them to
/// the task's instance (the admin interface's `POST /credentials/expire`). The old keys answer
/// ExpiredToken from now on. Returns how many were replaced.
pub fn expire_now(state: &mut State, task_arn: Option<&str>, now: f64) -> usize {
    let mut n = 0;
    for task in active_tasks(state, None) {
        if task_arn.is_some_and(|a| a != task.task_arn) {
            continue;
        }
        for role_type in [TASK_APPLICATION, TASK_EXECUTION] {
            let Some(old) = latest(state, &task.task_arn, role_type) else {
                continue;
            };
            let Some(binding) = old.task.clone() else {
                continue;
            };
            let fresh = issue(state, binding, now);
            state.keys.expire(&old.access_key_id, now);
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
            let Some(k) = latest(state, &task.task_arn, role_type) else {
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
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A state with one connected instance and one running task of a definition with `roles`;
    /// returns the state, the instance ARN and the task ARN.
    fn running(roles: Value) -> (State, String, String) {
        let mut s = State::for_tests();
        let instance = s.connected_instance_for_tests(json!({
            "cluster": "default",
            "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048}
            ],
            "attributes": [{"name": "com.amazonaws.ecs.capability.task-iam-role"}],
            "instanceIdentityDocument": ""
        }));
        let mut def = json!({
            "family": "app",
            "containerDefinitions": [{"name": "app", "image": "127.0.0.1:5000/app:1", "memory": 64}]
        });
        for (k, v) in roles.as_object().unwrap() {
            def[k] = v.clone();
        }
        let def = s.register_task_definition(def, 1.0).unwrap();
        let def = def["taskDefinition"]["taskDefinitionArn"].as_str().unwrap();
        let out = s
            .run_task(
                serde_json::from_value(json!({"taskDefinition": def})).unwrap(),
                2.0,
            )
            .unwrap();
        let task = out["tasks"][0]["taskArn"].as_str().unwrap().to_string();
        (s, instance, task)
    }

    fn frames(s: &State, instance: &str) -> Vec<Value> {
        s.outbox[instance]
            .iter()
            .map(|m| serde_json::from_str(&m.frame).unwrap())
            .collect()
    }

    #[test]
    fn expiring_now_replaces_the_keys_and_pushes_the_new_ones() {
        let (mut s, instance, task) = running(json!({
            "taskRoleArn": "arn:aws:iam::123456789012:role/app"
        }));
        let old = latest(&s, &task, TASK_APPLICATION).unwrap();
        assert_eq!(expire_now(&mut s, Some("arn:aws:ecs:nope"), 3.0), 0);
        assert_eq!(expire_now(&mut s, Some(&task), 3.0), 1);
        let fresh = latest(&s, &task, TASK_APPLICATION).unwrap();
        assert_ne!(fresh.access_key_id, old.access_key_id);
        assert_eq!(s.keys.get(&old.access_key_id).unwrap().expiration, 3.0);
        let last = frames(&s, &instance).pop().unwrap();
        assert_eq!(last["type"], "IAMRoleCredentialsMessage");
        let sent = &last["message"]["roleCredentials"];
        assert_eq!(sent["accessKeyId"], fresh.access_key_id.as_str());
        assert_eq!(
            sent["credentialsId"],
            old.task.unwrap().credentials_id.as_str()
        );
    }

    #[test]
    fn payloads_carry_distinct_credentials_per_role_and_sts_knows_them() {
        let (s, instance, task) = running(json!({
            "taskRoleArn": "arn:aws:iam::123456789012:role/app",
            "executionRoleArn": "arn:aws:iam::123456789012:role/exec"
        }));
        let payload = &frames(&s, &instance)[0]["message"]["tasks"][0];
        let role = &payload["roleCredentials"];
        let exec = &payload["executionRoleCredentials"];
        assert_eq!(role["roleArn"], "arn:aws:iam::123456789012:role/app");
        assert!(role["accessKeyId"].as_str().unwrap().starts_with("ASIA"));
        assert_ne!(role["accessKeyId"], exec["accessKeyId"]);
        assert_ne!(role["credentialsId"], exec["credentialsId"]);
        let key = s.keys.get(role["accessKeyId"].as_str().unwrap()).unwrap();
        let task_id = task.rsplit('/').next().unwrap();
        assert_eq!(
            key.arn,
            format!("arn:aws:sts::123456789012:assumed-role/app/{task_id}")
        );
        assert_eq!(role["expiration"], crate::sts::iso8601(2.0 + 21_600.0));
    }

    #[test]
    fn a_task_without_roles_gets_no_credentials() {
        let (s, instance, _) = running(json!({}));
        let payload = &frames(&s, &instance)[0]["message"]["tasks"][0];
        assert!(payload.get("roleCredentials").is_none());
        assert!(s.keys.is_empty());
    }

    #[test]
    fn credentials_are_refreshed_at_half_life_under_the_same_id() {
        let (mut s, instance, task) = running(json!({
            "taskRoleArn": "arn:aws:iam::123456789012:role/app"
        }));
        let before = frames(&s, &instance)[0]["message"]["tasks"][0]["roleCredentials"].clone();
        assert_eq!(refresh_due(&mut s, 100.0), 0);
        assert_eq!(refresh_due(&mut s, 2.0 + 10_801.0), 1);
        let all = frames(&s, &instance);
        let refresh = &all.last().unwrap();
        assert_eq!(refresh["type"], "IAMRoleCredentialsMessage");
        let m = &refresh["message"];
        assert_eq!(m["taskArn"], task.as_str());
        assert_eq!(m["roleType"], "TaskApplication");
        assert_eq!(
            m["roleCredentials"]["credentialsId"],
            before["credentialsId"]
        );
        assert_ne!(m["roleCredentials"]["accessKeyId"], before["accessKeyId"]);
        // A restarted agent is sent the current ones.
        assert_eq!(resend_all(&mut s, &instance, 2.0 + 10_802.0), 1);
        let last = frames(&s, &instance).last().unwrap()["message"]["roleCredentials"].clone();
        assert_eq!(last["accessKeyId"], m["roleCredentials"]["accessKeyId"]);
    }

    #[test]
    fn credentials_survive_a_restart_of_the_state() {
        let (mut s, instance, task) = running(json!({
            "taskRoleArn": "arn:aws:iam::123456789012:role/app"
        }));
        let (changes, _) = s.take_changes();
        let rows: Vec<(String, Vec<u8>)> = changes
            .into_iter()
            .filter_map(|c| match c {
                crate::store::Change::Put(k, v) => Some((k, v)),
                crate::store::Change::Delete(_) => None,
            })
            .collect();
        let restored = State::restore(s.account.clone(), rows, s.keys.clone()).unwrap();
        let before = latest(&s, &task, TASK_APPLICATION).unwrap();
        let after = latest(&restored, &task, TASK_APPLICATION).unwrap();
        assert_eq!(after.access_key_id, before.access_key_id);
        assert_eq!(after.task, before.task);
        assert!(restored.outbox.contains_key(&instance));
    }

    /// The exact members of `IAMRoleCredentials` as `k` sends them.
    fn expected_credentials(k: &TempKey) -> Value {
        let b = k.task.clone().unwrap();
        json!({
            "credentialsId": b.credentials_id,
            "roleArn": b.role_arn,
            "accessKeyId": k.access_key_id,
            "secretAccessKey": k.secret_access_key,
            "sessionToken": k.session_token,
            "expiration": crate::sts::iso8601(k.expiration),
        })
    }

    #[test]
    fn payload_credentials_shape() {
        let (s, instance, task) = running(json!({
            "taskRoleArn": "arn:aws:iam::123456789012:role/app",
            "executionRoleArn": "arn:aws:iam::123456789012:role/exec"
        }));
        let payload = &frames(&s, &instance)[0]["message"]["tasks"][0];
        let app = latest(&s, &task, TASK_APPLICATION).unwrap();
        let exec = latest(&s, &task, TASK_EXECUTION).unwrap();
        assert_eq!(payload["roleCredentials"], expected_credentials(&app));
        assert_eq!(
            payload["executionRoleCredentials"],
            expected_credentials(&exec)
        );
        assert_eq!(
            payload["roleCredentials"]["roleArn"],
            "arn:aws:iam::123456789012:role/app"
        );
    }

    #[test]
    fn credentials_message_frame_shape() {
        let (mut s, instance, task) = running(json!({
            "taskRoleArn": "arn:aws:iam::123456789012:role/app"
        }));
        assert_eq!(refresh_due(&mut s, 2.0 + 10_801.0), 1);
        let queued = s.outbox[&instance].last().unwrap().clone();
        let fresh = latest(&s, &task, TASK_APPLICATION).unwrap();
        assert_eq!(fresh.expiration, 2.0 + 10_801.0 + 21_600.0);
        assert_eq!(
            serde_json::from_str::<Value>(&queued.frame).unwrap(),
            json!({
                "type": "IAMRoleCredentialsMessage",
                "message": {
                    "messageId": queued.message_id,
                    "taskArn": task,
                    "taskClusterArn": "arn:aws:ecs:us-east-1:123456789012:cluster/default",
                    "roleType": "TaskApplication",
                    "roleCredentials": expected_credentials(&fresh),
                }
            })
        );
    }

    #[test]
    fn role_names_drop_the_path() {
        assert_eq!(role_name("arn:aws:iam::1:role/app"), "app");
        assert_eq!(role_name("arn:aws:iam::1:role/team/x/app"), "app");
    }
}
