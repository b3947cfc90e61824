//! Task IAM role credentials, keyed by the credentials id ACS chose (reference section 5).
//!
//! The manager holds the task role and execution role credentials of every task this agent runs.
//! They arrive in a payload's `roleCredentials` / `executionRoleCredentials` and are replaced by
//! `IAMRoleCredentialsMessage` refreshes. They are never persisted: the store keeps only the ids
//! (see [`strip_secrets`]), so after a restart an id is known but has no credentials until ACS
//! resends them, and the endpoint answers 503 `CredentialsUninitialized` meanwhile.
//!
//! What it must not do: derive, list or log ids or secrets. Lookups are by exact id only.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use ecs_protocol::acs::{IamRoleCredentials, RoleType, Task};

/// Credentials ready to serve, with the task they belong to.
#[derive(Clone, PartialEq, Eq)]
pub struct TaskCredentials {
    /// The task ARN.
    pub task_arn: String,
    /// Task role or execution role.
    pub role_type: RoleType,
    /// The role ARN.
    pub role_arn: String,
    /// `ASIA...`.
    pub access_key_id: String,
    /// Secret.
    pub secret_access_key: String,
    /// Secret.
    pub session_token: String,
    /// ISO 8601, as ACS sent it.
    pub expiration: String,
}

impl std::fmt::Debug for TaskCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskCredentials")
            .field("task_arn", &self.task_arn)
            .field("role_type", &self.role_type)
            .field("role_arn", &self.role_arn)
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// What a lookup by id finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Credentials to serve.
    Ready(Arc<TaskCredentials>),
    /// The id belongs to a task we run, but its credentials have not arrived since the restart.
    Uninitialized {
        /// The task ARN (for the audit log).
        task_arn: String,
    },
    /// No such id.
    Unknown,
}

/// Why credentials could not be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    /// A member the credentials cannot do without is absent.
    #[error("task {task_arn}: {role} credentials: missing {field}")]
    Missing {
        /// Task ARN.
        task_arn: String,
        /// `roleCredentials` or `executionRoleCredentials`.
        role: &'static str,
        /// The missing member.
        field: &'static str,
    },
}

#[derive(Debug, Clone)]
enum Entry {
    Ready(Arc<TaskCredentials>),
    Pending {
        task_arn: String,
        role_type: RoleType,
    },
}

/// The manager. Cheap to clone (a shared handle).
///
/// A lock, not an actor: the credentials endpoint reads it on every request (tens of thousands
/// per second in the benchmark), and each access is a short map operation, never held across an
/// await.
#[derive(Debug, Clone, Default)]
pub struct CredentialsManager {
    inner: Arc<RwLock<HashMap<String, Entry>>>,
}

fn role_name(role_type: &RoleType) -> &'static str {
    match role_type {
        RoleType::TaskExecution => "executionRoleCredentials",
        _ => "roleCredentials",
    }
}

impl CredentialsManager {
    /// An empty manager.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores (or replaces) credentials of `task_arn`; returns the id they are stored under.
    pub fn set(
        &self,
        task_arn: &str,
        role_type: RoleType,
        creds: &IamRoleCredentials,
    ) -> Result<String, CredentialsError> {
        let missing = |field| CredentialsError::Missing {
            task_arn: task_arn.to_string(),
            role: role_name(&role_type),
            field,
        };
        let non_empty = |v: &Option<String>, field| {
            v.clone()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| missing(field))
        };
        let id = non_empty(&creds.credentials_id, "credentialsId")?;
        let value = TaskCredentials {
            task_arn: task_arn.to_string(),
            role_type: role_type.clone(),
            role_arn: creds.role_arn.clone().unwrap_or_default(),
            access_key_id: non_empty(&creds.access_key_id, "accessKeyId")?,
            secret_access_key: non_empty(&creds.secret_access_key, "secretAccessKey")?,
            session_token: non_empty(&creds.session_token, "sessionToken")?,
            expiration: non_empty(&creds.expiration, "expiration")?,
        };
        self.write()
            .insert(id.clone(), Entry::Ready(Arc::new(value)));
        Ok(id)
    }

    /// Records that `id` belongs to `task_arn` but has no credentials yet (after a restart).
    /// Credentials already present are kept.
    pub fn expect(&self, id: &str, task_arn: &str, role_type: RoleType) {
        self.write()
            .entry(id.to_string())
            .or_insert_with(|| Entry::Pending {
                task_arn: task_arn.to_string(),
                role_type,
            });
    }

    /// Looks `id` up.
    pub fn get(&self, id: &str) -> Lookup {
        match self.read().get(id) {
            Some(Entry::Ready(c)) => Lookup::Ready(Arc::clone(c)),
            Some(Entry::Pending { task_arn, .. }) => Lookup::Uninitialized {
                task_arn: task_arn.clone(),
            },
            None => Lookup::Unknown,
        }
    }

    /// Drops the credentials of `task_arn` of one role type (task role when the task stops,
    /// execution role at cleanup).
    pub fn remove_task(&self, task_arn: &str, role_type: &RoleType) {
        self.write().retain(|_, e| match e {
            Entry::Ready(c) => !(c.task_arn == task_arn && &c.role_type == role_type),
            Entry::Pending {
                task_arn: t,
                role_type: r,
            } => !(t == task_arn && r == role_type),
        });
    }

    /// How many ids are known (for tests and metrics; never the ids themselves).
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// No ids known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the credentials out of a payload task into the manager, leaving only their ids and
    /// role ARNs in the task (what the store may keep). Returns the acks to send
    /// (`credentialsId`, `expiration`) for the credentials stored.
    pub fn take_from_task(
        &self,
        task: &mut Task,
    ) -> Result<Vec<(String, String)>, CredentialsError> {
        let arn = task.arn.clone().unwrap_or_default();
        let mut acks = Vec::new();
        for (slot, role_type) in [
            (&mut task.role_credentials, RoleType::TaskApplication),
            (
                &mut task.execution_role_credentials,
                RoleType::TaskExecution,
            ),
        ] {
            if let Some(creds) = slot.as_mut() {
                let id = self.set(&arn, role_type, creds)?;
                acks.push((id, creds.expiration.clone().unwrap_or_default()));
                strip(creds);
            }
        }
        Ok(acks)
    }

    /// After a restart: the ids of a saved task are expected (503 until ACS resends them).
    pub fn expect_task(&self, task: &Task) {
        let arn = task.arn.clone().unwrap_or_default();
        for (slot, role_type) in [
            (&task.role_credentials, RoleType::TaskApplication),
            (&task.execution_role_credentials, RoleType::TaskExecution),
        ] {
            if let Some(id) = slot.as_ref().and_then(|c| c.credentials_id.as_deref()) {
                self.expect(id, &arn, role_type);
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Entry>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the task engine needs for task IAM roles and metadata: the credentials (dropped as tasks
/// stop and are cleaned up) and the per-container metadata ids (put in containers' environment).
#[derive(Debug, Clone)]
pub struct TaskIam {
    /// Credentials by id.
    pub credentials: CredentialsManager,
    /// Metadata endpoint ids.
    pub ids: crate::task_env::ids::EndpointIds,
}

impl Default for TaskIam {
    /// An empty manager and ids under a fresh random secret.
    fn default() -> Self {
        TaskIam {
            credentials: CredentialsManager::new(),
            ids: crate::task_env::ids::EndpointIds::new(rand::random()),
        }
    }
}

/// A payload's tasks with their credentials moved into `manager` (what the engine persists has
/// ids only). Credentials that cannot be stored are logged with the task ARN and the task keeps
/// running without them (its containers get 400 for that id).
pub fn take_payload_credentials(manager: &CredentialsManager, tasks: &[Task]) -> Vec<Task> {
    tasks
        .iter()
        .cloned()
        .map(|mut task| {
            if let Err(e) = manager.take_from_task(&mut task) {
                tracing::warn!(error = %e, "task credentials not stored");
                strip_secrets(&mut task);
            }
            task
        })
        .collect()
}

/// Stores an `IAMRoleCredentialsMessage`'s credentials; `false` (not acked) if unusable.
pub fn refresh(
    manager: &CredentialsManager,
    message: &ecs_protocol::acs::IamRoleCredentialsMessage,
) -> bool {
    let task_arn = message.task_arn.clone().unwrap_or_default();
    let role_type = message
        .role_type
        .clone()
        .unwrap_or(RoleType::TaskApplication);
    let Some(creds) = &message.role_credentials else {
        tracing::warn!(task_arn = %task_arn, "IAMRoleCredentialsMessage without roleCredentials");
        return false;
    };
    match manager.set(&task_arn, role_type, creds) {
        Ok(_) => {
            tracing::info!(task_arn = %task_arn, role_arn = creds.role_arn.as_deref().unwrap_or(""), expiration = creds.expiration.as_deref().unwrap_or(""), "task credentials refreshed");
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "refreshed credentials not stored");
            false
        }
    }
}

/// Removes the secret parts of credentials, keeping the id, role ARN and expiration.
pub fn strip(creds: &mut IamRoleCredentials) {
    creds.access_key_id = None;
    creds.secret_access_key = None;
    creds.session_token = None;
}

/// Removes the secret parts of a task's credentials (what is persisted).
pub fn strip_secrets(task: &mut Task) {
    for c in [
        task.role_credentials.as_mut(),
        task.execution_role_credentials.as_mut(),
    ]
    .into_iter()
    .flatten()
    {
        strip(c);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn creds(id: &str, key: &str) -> IamRoleCredentials {
        IamRoleCredentials {
            credentials_id: Some(id.into()),
            role_arn: Some("arn:aws:iam::123456789012:role/app".into()),
            access_key_id: Some(key.into()),
            secret_access_key: Some("secret".into()),
            session_token: Some("token".into()),
            expiration: Some("2099-01-01T00:00:00Z".into()),
            credential_scope: None,
        }
    }

    fn task(arn: &str) -> Task {
        Task {
            arn: Some(arn.into()),
            role_credentials: Some(creds("role-id", "ASIAROLE")),
            execution_role_credentials: Some(creds("exec-id", "ASIAEXEC")),
            ..Task::default()
        }
    }

    #[test]
    fn payload_credentials_are_stored_and_stripped_from_the_task() {
        let m = CredentialsManager::new();
        let mut t = task("arn:task/1");
        let acks = m.take_from_task(&mut t).unwrap();
        assert_eq!(acks.len(), 2);
        assert_eq!(acks[0].0, "role-id");
        let rc = t.role_credentials.as_ref().unwrap();
        assert_eq!(rc.credentials_id.as_deref(), Some("role-id"));
        assert!(rc.secret_access_key.is_none() && rc.session_token.is_none());
        let Lookup::Ready(c) = m.get("role-id") else {
            panic!("not ready")
        };
        assert_eq!(c.access_key_id, "ASIAROLE");
        assert_eq!(c.task_arn, "arn:task/1");
        assert_eq!(m.get("nope"), Lookup::Unknown);
    }

    #[test]
    fn after_a_restart_ids_are_uninitialized_until_refreshed() {
        let m = CredentialsManager::new();
        let mut t = task("arn:task/1");
        strip_secrets(&mut t);
        m.expect_task(&t);
        assert!(matches!(m.get("role-id"), Lookup::Uninitialized { .. }));
        m.set(
            "arn:task/1",
            RoleType::TaskApplication,
            &creds("role-id", "ASIANEW"),
        )
        .unwrap();
        assert!(matches!(m.get("role-id"), Lookup::Ready(c) if c.access_key_id == "ASIANEW"));
        // An expectation never hides credentials already there.
        m.expect("role-id", "arn:task/1", RoleType::TaskApplication);
        assert!(matches!(m.get("role-id"), Lookup::Ready(_)));
    }

    #[test]
    fn task_role_and_execution_role_are_dropped_separately() {
        let m = CredentialsManager::new();
        m.take_from_task(&mut task("arn:task/1")).unwrap();
        m.remove_task("arn:task/1", &RoleType::TaskApplication);
        assert_eq!(m.get("role-id"), Lookup::Unknown);
        assert!(matches!(m.get("exec-id"), Lookup::Ready(_)));
        m.remove_task("arn:task/1", &RoleType::TaskExecution);
        assert!(m.is_empty());
    }

    #[test]
    fn incomplete_credentials_are_refused_naming_the_task_and_field() {
        let m = CredentialsManager::new();
        let mut c = creds("id", "ASIA");
        c.session_token = None;
        let e = m
            .set("arn:task/9", RoleType::TaskApplication, &c)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "task arn:task/9: roleCredentials credentials: missing sessionToken"
        );
    }

    #[test]
    fn debug_does_not_show_secrets() {
        let c = TaskCredentials {
            task_arn: "t".into(),
            role_type: RoleType::TaskApplication,
            role_arn: "r".into(),
            access_key_id: "ASIAKEY".into(),
            secret_access_key: "very-secret".into(),
            session_token: "very-token".into(),
            expiration: "e".into(),
        };
        let s = format!("{c:?}");
        assert!(!s.contains("very-secret") && !s.contains("very-token") && !s.contains("ASIAKEY"));
    }
}
