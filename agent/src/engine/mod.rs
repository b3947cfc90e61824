//! The task engine. One actor ([`Engine`]) owns the task table and routes work; one actor per task
//! ([`task::TaskActor`]) drives that task's containers from their known status toward the desired
//! one. Payloads are persisted before they are acknowledged; Docker events (not polling) tell the
//! task actors about exits, OOM kills and health changes. Each task's state changes are reported
//! by its own delivery loop ([`report`]), never awaited by the task actor.

pub mod deps;
pub mod report;
pub mod resources;
pub mod restart;
pub mod stop_reason;
pub mod task;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ecs_protocol::acs::Task;
use ecs_protocol::status::{ContainerStatus, DesiredStatus, TaskStatus};
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::ports::PortAllocator;
use crate::retry::RetryPolicy;
use crate::runtime::{ContainerRuntime, RuntimeEvent};
use crate::state::{ContainerRecord, Store, TaskRecord};
pub use report::{ReportError, Reporter};
pub use stop_reason::StopReason;
use task::{TaskActor, TaskCmd};

/// Engine settings taken from the configuration.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Default stop timeout (ECS_CONTAINER_STOP_TIMEOUT).
    pub stop_timeout: Duration,
    /// How long a stopped task's containers are kept (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION).
    pub cleanup_wait: Duration,
    /// Up to this much more, chosen per task (ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION_JITTER), so
    /// that tasks stopped together are not all removed at once.
    pub cleanup_jitter: Duration,
    /// Retries of each state-change report ([`RetryPolicy::SUBMIT_STATE_CHANGE`] in the agent).
    pub report_retry: RetryPolicy,
}

impl EngineSettings {
    /// One task's wait before cleanup: the wait plus a random part of the jitter, as the
    /// reference's `AddJitter(TaskCleanupWaitDuration, TaskCleanupWaitDurationJitter)`.
    pub fn task_cleanup_wait(&self) -> Duration {
        crate::retry::with_jitter(self.cleanup_wait, self.cleanup_jitter)
    }
}

/// What every task actor shares.
pub struct Shared<R: ContainerRuntime> {
    /// Docker.
    pub runtime: Arc<R>,
    /// Persistence.
    pub store: Arc<Store>,
    /// Reports to the control plane.
    pub reporter: Arc<dyn Reporter>,
    /// Host port allocator. A lock, not an actor: allocation is a short synchronous step that
    /// several task actors need, and the lock is never held across an await.
    pub ports: Mutex<PortAllocator>,
    /// The full agent configuration (container specs read it).
    pub config: Arc<ecs_config::Config>,
    /// Engine settings.
    pub settings: EngineSettings,
    /// Pulls (credentials, behaviour, retries) and the tracked images.
    pub images: Arc<crate::images::Images>,
    /// Task role credentials and metadata ids.
    pub task_iam: crate::credentials::TaskIam,
    /// Container secrets from SSM and Secrets Manager.
    pub secrets: crate::secrets::SecretsFetcher,
    /// Environment files from S3.
    pub env_files: crate::env_files::EnvFilesFetcher,
    /// Container metadata files, when `ECS_ENABLE_CONTAINER_METADATA` is on.
    pub container_metadata: Option<crate::container_metadata::MetadataFiles>,
}

impl<R: ContainerRuntime> std::fmt::Debug for Shared<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Commands to the engine actor.
#[derive(Debug)]
pub(crate) enum EngineCmd {
    Payload {
        tasks: Vec<Task>,
        reply: oneshot::Sender<bool>,
    },
    Snapshot {
        reply: oneshot::Sender<Vec<TaskRecord>>,
    },
    Updated(Box<TaskRecord>),
    Removed(String),
    Event(RuntimeEvent),
}

/// A handle to the running engine.
#[derive(Debug, Clone)]
pub struct EngineHandle {
    tx: mpsc::Sender<EngineCmd>,
}

impl EngineHandle {
    /// Hands a payload's tasks to the engine; true once they are persisted (then the payload may be
    /// acknowledged).
    pub async fn payload(&self, tasks: Vec<Task>) -> bool {
        let (reply, rx) = oneshot::channel();
        if self
            .tx
            .send(EngineCmd::Payload { tasks, reply })
            .await
            .is_err()
        {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// Every image of every task the engine holds: running, stopping, or still to start (image
    /// cleanup keeps them).
    pub async fn images_in_use(&self) -> std::collections::HashSet<String> {
        self.snapshot()
            .await
            .iter()
            .flat_map(|t| t.task.containers())
            .filter_map(|c| c.image.clone())
            .collect()
    }

    /// The current records of every task (for introspection).
    pub async fn snapshot(&self) -> Vec<TaskRecord> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(EngineCmd::Snapshot { reply }).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

struct Entry {
    tx: mpsc::UnboundedSender<TaskCmd>,
    record: TaskRecord,
}

/// The engine actor.
#[allow(missing_debug_implementations)] // holds channels and actors; nothing useful to print
pub struct Engine<R: ContainerRuntime> {
    shared: Arc<Shared<R>>,
    tasks: HashMap<String, Entry>,
    by_container: HashMap<String, String>,
    tx: mpsc::Sender<EngineCmd>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl<R: ContainerRuntime> Engine<R> {
    /// Loads saved tasks, reconciles them with Docker (in their actors) and starts serving.
    /// Returns the handle and a future that runs until `shutdown`; task containers are left running.
    pub fn start(
        shared: Arc<Shared<R>>,
        shutdown: CancellationToken,
    ) -> Result<(EngineHandle, impl std::future::Future<Output = ()>), crate::state::StoreError>
    {
        let (tx, rx) = mpsc::channel(256);
        let saved = shared.store.load_tasks()?;
        let mut engine = Engine {
            shared,
            tasks: HashMap::new(),
            by_container: HashMap::new(),
            tx: tx.clone(),
            tracker: TaskTracker::new(),
            shutdown,
        };
        for record in saved {
            tracing::info!(task_arn = %record.arn(), known = %record.known, "resuming saved task");
            engine.spawn(record, true);
        }
        let handle = EngineHandle { tx };
        Ok((handle, engine.run(rx)))
    }

    fn spawn(&mut self, record: TaskRecord, resumed: bool) {
        let (tx, rx) = mpsc::unbounded_channel();
        let arn = record.arn().to_string();
        for c in &record.containers {
            if let Some(id) = &c.docker_id {
                self.by_container.insert(id.clone(), arn.clone());
            }
        }
        // The task's reports go out from their own loop, which tells the actor how each ended.
        let (reports, queue) = report::ReportQueue::new();
        let actor_tx = tx.clone();
        self.tracker.spawn(report::deliver(
            queue,
            Arc::clone(&self.shared.reporter),
            self.shared.settings.report_retry,
            move |outcome| {
                let _ = actor_tx.send(TaskCmd::Reported(outcome));
            },
            self.shutdown.clone(),
        ));
        let actor = TaskActor::new(
            Arc::clone(&self.shared),
            record.clone(),
            self.tx.clone(),
            reports,
            self.shutdown.clone(),
        );
        self.tracker.spawn(actor.run(rx, resumed));
        self.tasks.insert(arn, Entry { tx, record });
    }

    async fn run(mut self, mut rx: mpsc::Receiver<EngineCmd>) {
        let mut events = self.shared.runtime.events();
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd),
                    None => break,
                },
                ev = events.next() => match ev {
                    Some(Ok(e)) => self.handle(EngineCmd::Event(e)),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "docker event stream failed; reopening");
                        events = self.shared.runtime.events();
                    }
                    None => {
                        tracing::warn!("docker event stream ended; reopening");
                        events = self.shared.runtime.events();
                    }
                },
            }
        }
        self.tracker.close();
        // Task actors see the same token and stop at their next await; containers keep running.
        self.tracker.wait().await;
    }

    fn handle(&mut self, cmd: EngineCmd) {
        match cmd {
            EngineCmd::Payload { tasks, reply } => {
                let ok = self.payload(tasks);
                let _ = reply.send(ok);
            }
            EngineCmd::Snapshot { reply } => {
                let _ = reply.send(self.tasks.values().map(|e| e.record.clone()).collect());
            }
            EngineCmd::Updated(record) => {
                let arn = record.arn().to_string();
                for c in &record.containers {
                    if let Some(id) = &c.docker_id {
                        self.by_container.insert(id.clone(), arn.clone());
                    }
                }
                if let Some(e) = self.tasks.get_mut(&arn) {
                    e.record = *record;
                }
            }
            EngineCmd::Removed(arn) => {
                self.tasks.remove(&arn);
                self.by_container.retain(|_, a| a != &arn);
            }
            EngineCmd::Event(e) => {
                let id = match &e {
                    RuntimeEvent::Started { id }
                    | RuntimeEvent::Died { id, .. }
                    | RuntimeEvent::Oom { id }
                    | RuntimeEvent::Health { id, .. }
                    | RuntimeEvent::Destroyed { id } => id,
                };
                if let Some(entry) = self
                    .by_container
                    .get(id)
                    .and_then(|arn| self.tasks.get(arn))
                {
                    let _ = entry.tx.send(TaskCmd::Event(e));
                }
            }
        }
    }

    /// Applies a payload: STOPPED tasks first, then new ones. Returns false if anything could not be
    /// persisted (then the payload is not acknowledged and ACS resends it).
    fn payload(&mut self, mut tasks: Vec<Task>) -> bool {
        tasks.sort_by_key(|t| t.desired_status != Some(DesiredStatus::Stopped));
        let mut ok = true;
        for task in tasks {
            let Some(arn) = task.arn.clone() else {
                tracing::warn!("payload task without an ARN ignored");
                continue;
            };
            let stop = task.desired_status == Some(DesiredStatus::Stopped);
            if let Some(entry) = self.tasks.get(&arn) {
                if stop && !entry.record.desired_stopped {
                    tracing::info!(task_arn = %arn, "desired status STOPPED");
                    let _ = entry.tx.send(TaskCmd::Stop);
                }
                continue;
            }
            if stop {
                tracing::info!(task_arn = %arn, "STOPPED for a task this agent does not run; ignored");
                continue;
            }
            let record = new_record(task);
            if let Err(e) = self.shared.store.save_task(&record) {
                tracing::error!(task_arn = %arn, error = %e, "cannot save the task; not acknowledging");
                ok = false;
                continue;
            }
            tracing::info!(task_arn = %arn, family = ?record.task.family, "new task");
            self.spawn(record, false);
        }
        ok
    }
}

fn new_record(task: Task) -> TaskRecord {
    let containers = task
        .containers
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|c| ContainerRecord {
            name: c.name.clone().unwrap_or_default(),
            docker_name: None,
            docker_id: None,
            known: ContainerStatus::None,
            exit_code: None,
            reason: None,
            ports: Vec::new(),
            image_digest: None,
            health: None,
            started_at: None,
            restart_count: 0,
            last_restart_at: None,
            health_since: None,
        })
        .collect();
    TaskRecord {
        task,
        desired_stopped: false,
        known: TaskStatus::None,
        sent: None,
        containers,
        reason: None,
        pull_started_at: None,
        pull_stopped_at: None,
        execution_stopped_at: None,
        stopped_at: None,
        resources: Default::default(),
    }
}
