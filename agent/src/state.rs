//! The agent's persistent state: one redb file, `ECS_DATADIR/agent.db`.
//!
//! It holds what the control plane told us (tasks with their desired status), what we did (Docker
//! names saved before create, ids right after) and what we reported (the sent status), so a restart
//! neither loses a task nor starts a second copy. Writes are single durable transactions; nothing
//! is rewritten in place.

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ecs_protocol::acs::Task;
use ecs_protocol::status::{ContainerStatus, TaskStatus};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::runtime::PortSpec;

const TASKS: TableDefinition<&str, &[u8]> = TableDefinition::new("tasks");
const META: TableDefinition<&str, &str> = TableDefinition::new("meta");

/// Metadata key: the container instance ARN from registration.
pub const META_INSTANCE_ARN: &str = "container-instance-arn";
/// Metadata key: the cluster registered into.
pub const META_CLUSTER: &str = "cluster";

/// A store failure, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("state file {path}: {message}")]
pub struct StoreError {
    path: PathBuf,
    message: String,
}

/// One container of a task as the agent tracks it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerRecord {
    /// Name in the task definition.
    pub name: String,
    /// Docker name, chosen and saved before create.
    pub docker_name: Option<String>,
    /// Docker id, saved right after create.
    pub docker_id: Option<String>,
    /// What we last observed.
    pub known: ContainerStatus,
    /// Exit code once stopped.
    pub exit_code: Option<i64>,
    /// Why it stopped or failed, in ECS's words.
    pub reason: Option<String>,
    /// Host ports bound.
    pub ports: Vec<PortSpec>,
    /// Image digest after the pull.
    pub image_digest: Option<String>,
    /// Health as last reported by Docker (`HEALTHY`, `UNHEALTHY`, `UNKNOWN`).
    pub health: Option<String>,
    /// When it was seen RUNNING (dependency start timeouts count from here).
    #[serde(default)]
    pub started_at: Option<SystemTime>,
    /// Restarts by the restart policy.
    #[serde(default)]
    pub restart_count: u32,
    /// When the restart policy last restarted it.
    #[serde(default)]
    pub last_restart_at: Option<SystemTime>,
    /// When `health` took its value (the `statusSince` TCS reports).
    #[serde(default)]
    pub health_since: Option<SystemTime>,
}

impl ContainerRecord {
    /// Moves the known status forward to `to`; an illegal (backward or same) transition is refused
    /// and logged, so a late or stale observation never rewinds a container.
    pub fn advance(&mut self, to: ContainerStatus) -> bool {
        if self.known.can_transition_to(to) {
            self.known = to;
            true
        } else {
            tracing::debug!(container = %self.name, from = %self.known, to = %to, "status transition refused");
            false
        }
    }
}

/// A task as the agent tracks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    /// The task as ACS sent it (latest payload).
    pub task: Task,
    /// Desired status: RUNNING or STOPPED.
    pub desired_stopped: bool,
    /// Known task status.
    pub known: TaskStatus,
    /// Last backend status successfully reported (saved as `PENDING`, `RUNNING`, `STOPPED`), so
    /// a restart does not report it again.
    pub sent: Option<ecs_protocol::BackendStatus>,
    /// Containers, in task-definition order.
    pub containers: Vec<ContainerRecord>,
    /// Task-level reason (e.g. `Essential container in task exited`).
    pub reason: Option<String>,
    /// When pulls started.
    pub pull_started_at: Option<SystemTime>,
    /// When pulls finished.
    pub pull_stopped_at: Option<SystemTime>,
    /// When the first essential container stopped.
    pub execution_stopped_at: Option<SystemTime>,
    /// When the task reached STOPPED (known).
    pub stopped_at: Option<SystemTime>,
    /// Volumes and cgroup created for the task.
    #[serde(default)]
    pub resources: TaskResources,
}

/// The task resources (volumes, cgroup) the engine created for a task, saved with it: names
/// before the Docker calls, so a restart neither creates a second volume nor forgets to remove one.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskResources {
    /// Docker names of the task-scoped volumes, by task volume name (saved before creation).
    #[serde(default)]
    pub volumes: BTreeMap<String, String>,
    /// The task cgroup's parent path for containers (`/ecs/<task id>`), once created.
    #[serde(default)]
    pub cgroup_parent: Option<String>,
    /// Cgroup directories to remove at cleanup.
    #[serde(default)]
    pub cgroup_dirs: Vec<PathBuf>,
    /// Everything above exists.
    #[serde(default)]
    pub ready: bool,
}

impl TaskRecord {
    /// The task ARN (empty if ACS sent none, which the payload check refuses earlier).
    pub fn arn(&self) -> &str {
        self.task.arn.as_deref().unwrap_or_default()
    }
}

/// The store.
#[derive(Debug)]
pub struct Store {
    db: Database,
    path: PathBuf,
}

/// Creates `dir` and any missing parents with mode 0700 (existing ones are left as they are).
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

impl Store {
    /// Opens or creates `dir/agent.db` (0600, in a 0700 directory when it creates one).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join("agent.db");
        let err = |e: &dyn std::fmt::Display| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        private_dir(dir).map_err(|e| err(&e))?;
        // Created 0600 before redb opens it (redb initialises an empty file): the state holds
        // task credentials ids and registry settings, for root's eyes only, as the reference.
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| err(&e))?;
        let db = Database::create(&path).map_err(|e| err(&e))?;
        let txn = db.begin_write().map_err(|e| err(&e))?;
        txn.open_table(TASKS).map_err(|e| err(&e))?;
        txn.open_table(META).map_err(|e| err(&e))?;
        txn.commit().map_err(|e| err(&e))?;
        Ok(Store { db, path })
    }

    /// A store in memory only: nothing survives the process (`ECS_CHECKPOINT=false`).
    pub fn in_memory() -> Result<Self, StoreError> {
        let path = PathBuf::from("(memory)");
        let err = |e: &dyn std::fmt::Display| StoreError {
            path: path.clone(),
            message: e.to_string(),
        };
        let db = redb::Builder::new()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| err(&e))?;
        let txn = db.begin_write().map_err(|e| err(&e))?;
        txn.open_table(TASKS).map_err(|e| err(&e))?;
        txn.open_table(META).map_err(|e| err(&e))?;
        txn.commit().map_err(|e| err(&e))?;
        Ok(Store { db, path })
    }

    /// The agent's store: `ECS_DATADIR/agent.db` when `ECS_CHECKPOINT` is on (the default), else
    /// one in memory, so that a restart starts afresh (re-registers, knows no task), as the
    /// reference's no-op state client.
    pub fn for_config(config: &ecs_config::Config) -> Result<Self, StoreError> {
        if config.checkpoint.value {
            Store::open(&config.datadir.value)
        } else {
            tracing::warn!(
                "ECS_CHECKPOINT=false: state is kept in memory only and lost on restart"
            );
            Store::in_memory()
        }
    }

    fn err(&self, e: &dyn std::fmt::Display) -> StoreError {
        StoreError {
            path: self.path.clone(),
            message: e.to_string(),
        }
    }

    /// Saves (inserts or replaces) a task record.
    pub fn save_task(&self, record: &TaskRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record).map_err(|e| self.err(&e))?;
        let txn = self.db.begin_write().map_err(|e| self.err(&e))?;
        {
            let mut t = txn.open_table(TASKS).map_err(|e| self.err(&e))?;
            t.insert(record.arn(), bytes.as_slice())
                .map_err(|e| self.err(&e))?;
        }
        txn.commit().map_err(|e| self.err(&e))
    }

    /// Removes a task record.
    pub fn remove_task(&self, arn: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.err(&e))?;
        {
            let mut t = txn.open_table(TASKS).map_err(|e| self.err(&e))?;
            t.remove(arn).map_err(|e| self.err(&e))?;
        }
        txn.commit().map_err(|e| self.err(&e))
    }

    /// Every saved task.
    pub fn load_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(&e))?;
        let t = txn.open_table(TASKS).map_err(|e| self.err(&e))?;
        let mut out = Vec::new();
        for row in t.iter().map_err(|e| self.err(&e))? {
            let (k, v) = row.map_err(|e| self.err(&e))?;
            match serde_json::from_slice::<TaskRecord>(v.value()) {
                Ok(r) => out.push(r),
                Err(e) => {
                    // One unreadable record must not stop the agent; it is reported and skipped.
                    tracing::error!(task_arn = %k.value(), error = %e, "unreadable task record skipped");
                }
            }
        }
        Ok(out)
    }

    /// Reads a metadata value.
    pub fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.err(&e))?;
        let t = txn.open_table(META).map_err(|e| self.err(&e))?;
        Ok(t.get(key)
            .map_err(|e| self.err(&e))?
            .map(|v| v.value().to_string()))
    }

    /// Writes a metadata value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.err(&e))?;
        {
            let mut t = txn.open_table(META).map_err(|e| self.err(&e))?;
            t.insert(key, value).map_err(|e| self.err(&e))?;
        }
        txn.commit().map_err(|e| self.err(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_file_is_0600_in_a_0700_directory() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data").join("ecs");
        let _store = Store::open(&dir).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("agent.db")), 0o600);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("data")), 0o700);
        // Reopening an existing store keeps it (and its mode).
        drop(_store);
        let _again = Store::open(&dir).unwrap();
        assert_eq!(mode(&dir.join("agent.db")), 0o600);
    }

    #[test]
    fn without_checkpoint_nothing_is_written_under_the_data_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let mut config = ecs_config::Config::default();
        config.datadir.value = tmp.path().join("data");
        config.checkpoint.value = false;
        let store = Store::for_config(&config).unwrap();
        store.set_meta(META_CLUSTER, "c").unwrap();
        assert_eq!(store.meta(META_CLUSTER).unwrap().as_deref(), Some("c"));
        assert!(!tmp.path().join("data").exists());
        drop(store);
        // On (the default): agent.db, and what was saved is there after a reopen.
        config.checkpoint.value = true;
        Store::for_config(&config)
            .unwrap()
            .set_meta(META_CLUSTER, "c")
            .unwrap();
        assert!(tmp.path().join("data/agent.db").exists());
        assert_eq!(
            Store::for_config(&config)
                .unwrap()
                .meta(META_CLUSTER)
                .unwrap()
                .as_deref(),
            Some("c")
        );
    }

    #[test]
    fn known_status_only_moves_forward() {
        let mut c = ContainerRecord {
            name: "web".into(),
            docker_name: None,
            docker_id: None,
            known: ContainerStatus::None,
            exit_code: None,
            reason: None,
            ports: vec![],
            image_digest: None,
            health: None,
            started_at: None,
            restart_count: 0,
            last_restart_at: None,
            health_since: None,
        };
        assert!(c.advance(ContainerStatus::Created));
        assert!(!c.advance(ContainerStatus::Pulled), "backwards");
        assert!(!c.advance(ContainerStatus::Created), "same");
        assert!(c.advance(ContainerStatus::Stopped));
        assert!(!c.advance(ContainerStatus::Running), "out of STOPPED");
        assert_eq!(c.known, ContainerStatus::Stopped);
    }

    #[test]
    fn records_and_meta_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let task: Task = serde_json::from_value(serde_json::json!({
            "arn": "arn:aws:ecs:us-east-1:123456789012:task/c/abc",
            "family": "web", "version": "1", "desiredStatus": "RUNNING", "containers": []
        }))
        .unwrap();
        let record = TaskRecord {
            task,
            desired_stopped: false,
            known: TaskStatus::None,
            sent: None,
            containers: vec![ContainerRecord {
                name: "web".into(),
                docker_name: Some("ecs-web-1-web-0123".into()),
                docker_id: None,
                known: ContainerStatus::None,
                exit_code: None,
                reason: None,
                ports: vec![],
                image_digest: None,
                health: None,
                started_at: None,
                restart_count: 0,
                last_restart_at: None,
                health_since: None,
            }],
            reason: None,
            pull_started_at: None,
            pull_stopped_at: None,
            execution_stopped_at: None,
            stopped_at: None,
            resources: Default::default(),
        };
        {
            let s = Store::open(dir.path()).unwrap();
            s.save_task(&record).unwrap();
            s.set_meta(META_INSTANCE_ARN, "arn:x").unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.load_tasks().unwrap(), vec![record.clone()]);
        assert_eq!(s.meta(META_INSTANCE_ARN).unwrap().as_deref(), Some("arn:x"));
        s.remove_task(record.arn()).unwrap();
        assert!(s.load_tasks().unwrap().is_empty());
    }
}
