//! One task's actor: drives its containers toward the desired status (pull → create → start, or
//! stop), reacts to Docker events, persists every change before acting on it, queues state changes
//! for its report loop ([`super::report`]) and saves what was delivered, and cleans up after the
//! task stopped.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ecs_protocol::BackendStatus;
use ecs_protocol::acs::{Container, IamRoleCredentials, RoleType};
use ecs_protocol::status::{ContainerStatus, TaskStatus};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::deps::{self, Readiness};
use super::report::{Outcome, ReportQueue};
use super::stop_reason::StopReason;
use super::{EngineCmd, Shared, resources};
use crate::credentials::Lookup;
use crate::runtime::{ContainerRuntime, Health, RuntimeEvent, spec};
use crate::state::TaskRecord;
use crate::state_change::BindingFilter;

/// Messages to a task actor.
#[derive(Debug)]
pub enum TaskCmd {
    /// ACS wants the task stopped.
    Stop,
    /// A Docker event about one of its containers.
    Event(RuntimeEvent),
    /// How a queued state-change report ended.
    Reported(Outcome),
}

/// The actor.
#[allow(missing_debug_implementations)] // holds channels and shared handles; the record is logged instead
pub(crate) struct TaskActor<R: ContainerRuntime> {
    shared: Arc<Shared<R>>,
    record: TaskRecord,
    engine: mpsc::Sender<EngineCmd>,
    /// Where state changes go to be reported (never awaited here).
    reports: ReportQueue,
    shutdown: CancellationToken,
    /// A container change happened that has not been queued for the control plane yet.
    dirty: bool,
    /// The status last queued for reporting (the sent one until something is queued).
    queued: Option<BackendStatus>,
    /// The record as last written, so an unchanged record costs no durable commit.
    saved: Option<TaskRecord>,
    /// When a waiting dependency times out: step again then even without an event.
    wake_at: Option<SystemTime>,
    /// The task's secret values, once fetched (memory only: never saved, so fetched again after
    /// an agent restart if a container still has to be created).
    secrets: Option<crate::secrets::SecretValues>,
    /// The task's environment files, once fetched (memory only, as `secrets`).
    env_files: Option<crate::env_files::EnvFileValues>,
    /// How long after stopping this task is cleaned up (the wait plus this task's jitter).
    cleanup_wait: Duration,
}

impl<R: ContainerRuntime> TaskActor<R> {
    /// A new actor for `record`.
    pub fn new(
        shared: Arc<Shared<R>>,
        record: TaskRecord,
        engine: mpsc::Sender<EngineCmd>,
        reports: ReportQueue,
        shutdown: CancellationToken,
    ) -> Self {
        TaskActor {
            cleanup_wait: shared.settings.task_cleanup_wait(),
            shared,
            queued: record.sent,
            record,
            engine,
            reports,
            shutdown,
            dirty: false,
            saved: None,
            wake_at: None,
            secrets: None,
            env_files: None,
        }
    }

    /// The execution role's credentials as the credentials manager holds them (the saved task
    /// keeps only their id), `None` when the task has none or they are not (yet) there.
    fn execution_credentials(&self) -> Option<IamRoleCredentials> {
        let id = self
            .record
            .task
            .execution_role_credentials
            .as_ref()?
            .credentials_id
            .clone()?;
        match self.shared.task_iam.credentials.get(&id) {
            Lookup::Ready(c) => Some(IamRoleCredentials {
                credentials_id: Some(id),
                role_arn: Some(c.role_arn.clone()),
                access_key_id: Some(c.access_key_id.clone()),
                secret_access_key: Some(c.secret_access_key.clone()),
                session_token: Some(c.session_token.clone()),
                expiration: Some(c.expiration.clone()),
                ..IamRoleCredentials::default()
            }),
            _ => None,
        }
    }

    /// Fetches the task's secrets and environment files once (before its first container is
    /// created, and again after a restart). Errs with the reason the task stops with.
    async fn ensure_fetched(&mut self) -> Result<(), StopReason> {
        let need_files =
            self.env_files.is_none() && crate::env_files::task_has_env_files(&self.record.task);
        let need_secrets =
            self.secrets.is_none() && crate::secrets::task_has_secrets(&self.record.task);
        if !need_files && !need_secrets {
            return Ok(());
        }
        let mut task = self.record.task.clone();
        task.execution_role_credentials = self.execution_credentials();
        if need_files {
            let values = self
                .shared
                .env_files
                .fetch(&task)
                .await
                .map_err(|e| StopReason::ResourceInitialization(e.to_string()))?;
            tracing::info!(task_arn = %self.arn(), "task environment files fetched");
            self.env_files = Some(values);
        }
        if need_secrets {
            let values = self
                .shared
                .secrets
                .fetch(&task)
                .await
                .map_err(|e| StopReason::ResourceInitialization(e.to_string()))?;
            tracing::info!(task_arn = %self.arn(), secrets = values.len(), "task secrets fetched");
            self.secrets = Some(values);
        }
        Ok(())
    }

    fn arn(&self) -> String {
        self.record.arn().to_string()
    }

    fn containers(&self) -> Vec<Container> {
        self.record.task.containers.clone().unwrap_or_default()
    }

    fn essential(&self, idx: usize) -> bool {
        self.containers()
            .get(idx)
            .and_then(|c| c.essential)
            .unwrap_or(true)
    }

    /// Persists the record and tells the engine.
    async fn save(&mut self) {
        if self.saved.as_ref() == Some(&self.record) {
            return;
        }
        match self.shared.store.save_task(&self.record) {
            Ok(()) => self.saved = Some(self.record.clone()),
            Err(e) => tracing::error!(task_arn = %self.arn(), error = %e, "cannot save task state"),
        }
        let _ = self
            .engine
            .send(EngineCmd::Updated(Box::new(self.record.clone())))
            .await;
    }

    /// Runs until the task is cleaned up or the agent shuts down.
    pub async fn run(mut self, mut rx: mpsc::UnboundedReceiver<TaskCmd>, resumed: bool) {
        if resumed {
            self.reconcile().await;
        }
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            self.step(&mut rx).await;
            self.report();
            let cleanup = if self.record.known == TaskStatus::Stopped
                && self.record.sent == Some(BackendStatus::Stopped)
            {
                let since = self
                    .record
                    .stopped_at
                    .and_then(|t| t.elapsed().ok())
                    .unwrap_or_default();
                Some(self.cleanup_wait.saturating_sub(since))
            } else {
                None
            };
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.handle(cmd).await,
                    None => return,
                },
                () = sleep_or_forever(cleanup) => {
                    self.cleanup().await;
                    return;
                }
                () = sleep_or_forever(self.wake_at.map(|t| {
                    t.duration_since(SystemTime::now()).unwrap_or_default()
                })) => {
                    self.wake_at = None;
                }
            }
        }
    }

    async fn handle(&mut self, cmd: TaskCmd) {
        match cmd {
            TaskCmd::Stop => {
                if !self.record.desired_stopped {
                    self.record.desired_stopped = true;
                    self.save().await;
                }
            }
            TaskCmd::Event(e) => self.event(e).await,
            TaskCmd::Reported(Outcome::Delivered(status)) => {
                // Saved, so a restart does not report it again.
                if self.record.sent != Some(status) {
                    self.record.sent = Some(status);
                    self.save().await;
                }
            }
            TaskCmd::Reported(Outcome::Refused) => {}
            TaskCmd::Reported(Outcome::GaveUp) => {
                // Queue the current state again at the next pass.
                self.queued = self.record.sent;
                self.dirty = true;
            }
        }
    }

    fn index_of_id(&self, id: &str) -> Option<usize> {
        self.record
            .containers
            .iter()
            .position(|c| c.docker_id.as_deref() == Some(id))
    }

    async fn event(&mut self, e: RuntimeEvent) {
        match e {
            RuntimeEvent::Died { id, .. } | RuntimeEvent::Destroyed { id } => {
                if let Some(i) = self.index_of_id(&id) {
                    self.observe_exit(i).await;
                }
            }
            RuntimeEvent::Health { id, health } => {
                if let Some(i) = self.index_of_id(&id) {
                    let h = match health {
                        Health::Healthy => "HEALTHY",
                        Health::Unhealthy => "UNHEALTHY",
                        Health::Starting => "UNKNOWN",
                    };
                    // Health goes to ECS over TCS, not in a state change: the task's RUNNING
                    // is not sent again for it (the reference sends one RUNNING per task).
                    if self.record.containers[i].health.as_deref() != Some(h) {
                        self.record.containers[i].health = Some(h.to_string());
                        self.record.containers[i].health_since = Some(SystemTime::now());
                        self.save().await;
                    }
                }
            }
            // Docker sets State.OOMKilled asynchronously: an inspect right after the exit can
            // miss it, so the event itself also names the reason (reported again if need be).
            RuntimeEvent::Oom { id } => {
                if let Some(i) = self.index_of_id(&id)
                    && self.record.containers[i].reason.is_none()
                {
                    self.record.containers[i].reason = Some(StopReason::OutOfMemory.to_string());
                    self.dirty = true;
                    self.save().await;
                }
            }
            // A start we caused ourselves.
            RuntimeEvent::Started { .. } => {}
        }
    }

    /// A container exited (or vanished): record its exit code and reason, apply essential rules.
    async fn observe_exit(&mut self, i: usize) {
        if self.record.containers[i].known == ContainerStatus::Stopped {
            return;
        }
        let id = self.record.containers[i]
            .docker_id
            .clone()
            .unwrap_or_default();
        let info = self.shared.runtime.inspect(&id).await.ok().flatten();
        if info.as_ref().is_some_and(|i| i.running()) {
            return;
        }
        if let Some(info) = &info
            && self.try_restart(i, &id, info.exit_code).await
        {
            return;
        }
        let arn = self.arn();
        let task_oom = info.as_ref().is_some_and(|i| i.exit_code == Some(137))
            && resources::task_oom_killed(&self.record);
        let c = &mut self.record.containers[i];
        c.advance(ContainerStatus::Stopped);
        match info {
            Some(info) => {
                c.exit_code = info.exit_code;
                if info.oom_killed {
                    c.reason = Some(StopReason::OutOfMemory.to_string());
                }
                // Killed by the task memory limit: Docker does not flag it, the task cgroup does.
                if task_oom && c.exit_code == Some(137) && c.reason.is_none() {
                    c.reason = Some(StopReason::OutOfMemory.to_string());
                }
            }
            None => {
                c.reason
                    .get_or_insert_with(|| StopReason::ContainerVanished.to_string());
            }
        }
        tracing::info!(task_arn = %arn, container = %c.name, exit_code = ?c.exit_code, reason = ?c.reason, "container stopped");
        self.release_ports(i);
        self.dirty = true;
        if self.essential(i) {
            self.record
                .execution_stopped_at
                .get_or_insert(SystemTime::now());
            // No task reason: the reference sends none for an essential exit (its container's
            // exit code says it), and ECS derives EssentialContainerExited itself.
            self.record.desired_stopped = true;
        }
        self.save().await;
    }

    /// Restarts container `i` in place when its restart policy says so (reference
    /// `RestartTracker`); true when it runs again.
    async fn try_restart(&mut self, i: usize, id: &str, exit_code: Option<i64>) -> bool {
        let defs = self.containers();
        let c = &self.record.containers[i];
        let verdict = super::restart::should_restart(
            defs.get(i).and_then(|d| d.restart_policy.as_ref()),
            exit_code,
            c.started_at,
            c.last_restart_at,
            self.record.desired_stopped,
            SystemTime::now(),
        );
        if verdict.is_err() {
            return false;
        }
        let name = c.name.clone();
        match self.shared.runtime.start(id).await {
            Ok(()) => {
                let arn = self.arn();
                let c = &mut self.record.containers[i];
                c.restart_count += 1;
                c.last_restart_at = Some(SystemTime::now());
                tracing::info!(task_arn = %arn, container = %name, ?exit_code, restart_count = c.restart_count, "container restarted by its restart policy");
                self.save().await;
                true
            }
            Err(e) => {
                tracing::warn!(task_arn = %self.arn(), container = %name, error = %e, "restart by the restart policy failed");
                false
            }
        }
    }

    fn release_ports(&mut self, i: usize) {
        let ports = self.record.containers[i].ports.clone();
        if let Ok(mut alloc) = self.shared.ports.lock() {
            for p in ports {
                alloc.release(p.host_port, p.protocol);
            }
        }
    }

    /// After a restart: align the record with what Docker has (adopt, or mark vanished STOPPED).
    async fn reconcile(&mut self) {
        for i in 0..self.record.containers.len() {
            let (id, name, known) = {
                let c = &self.record.containers[i];
                (c.docker_id.clone(), c.docker_name.clone(), c.known)
            };
            let Some(key) = id.or(name) else { continue };
            let info = match self.shared.runtime.inspect(&key).await {
                Ok(info) => info,
                Err(e) => {
                    tracing::warn!(task_arn = %self.arn(), error = %e, "inspect failed during reconcile");
                    continue;
                }
            };
            match info {
                Some(info) => {
                    let arn = self.arn();
                    let c = &mut self.record.containers[i];
                    c.docker_id = Some(info.id.clone());
                    if info.running() {
                        c.advance(ContainerStatus::Running);
                        if !info.ports.is_empty() {
                            c.ports.clone_from(&info.ports);
                        }
                        if let Ok(mut alloc) = self.shared.ports.lock() {
                            for p in &c.ports {
                                alloc.reserve(p.host_port, p.protocol);
                            }
                        }
                        tracing::info!(task_arn = %arn, container = %c.name, "adopted running container");
                    } else if info.status == "created" {
                        c.advance(ContainerStatus::Created);
                    } else if c.known != ContainerStatus::Stopped {
                        c.advance(ContainerStatus::Running);
                        self.save().await;
                        self.observe_exit(i).await;
                    }
                }
                None => {
                    let c = &mut self.record.containers[i];
                    if known >= ContainerStatus::Created && known != ContainerStatus::Stopped {
                        c.advance(ContainerStatus::Stopped);
                        c.reason = Some(StopReason::ContainerVanished.to_string());
                        self.dirty = true;
                        if self.essential(i) {
                            // As for an exit seen live: no task reason (ECS derives it).
                            self.record.desired_stopped = true;
                        }
                    } else {
                        // Never created: forget the saved name and create it afresh.
                        c.docker_id = None;
                    }
                }
            }
        }
        self.update_known();
        self.save().await;
    }

    /// Moves the task as far toward the desired status as it can without waiting for events.
    async fn step(&mut self, rx: &mut mpsc::UnboundedReceiver<TaskCmd>) {
        if !self.record.desired_stopped && self.record.known < TaskStatus::Running {
            self.start_containers(rx).await;
        }
        if self.record.desired_stopped && self.record.known != TaskStatus::Stopped {
            self.stop_containers().await;
        }
        self.update_known();
        self.save().await;
    }

    fn update_known(&mut self) {
        let old = self.record.known;
        // The task is as far as its least advanced container (section 4.2): a stopped container
        // counts as past RUNNING, so the task is STOPPED only when all of them are.
        let new = self
            .record
            .containers
            .iter()
            .map(|c| match c.known {
                ContainerStatus::Stopped | ContainerStatus::Zombie => TaskStatus::Stopped,
                ContainerStatus::Running | ContainerStatus::ResourcesProvisioned => {
                    TaskStatus::Running
                }
                ContainerStatus::Created => TaskStatus::Created,
                ContainerStatus::Pulled => TaskStatus::Pulled,
                ContainerStatus::None | ContainerStatus::ManifestPulled => TaskStatus::None,
            })
            .min()
            .unwrap_or(TaskStatus::Stopped);
        // Known status only moves forward.
        if new > old {
            self.record.known = new;
            if new == TaskStatus::Stopped {
                self.record.stopped_at.get_or_insert(SystemTime::now());
                // Task role credentials end with the task (execution role ones at cleanup).
                self.shared
                    .task_iam
                    .credentials
                    .remove_task(self.record.arn(), &RoleType::TaskApplication);
            }
            tracing::info!(task_arn = %self.arn(), from = %old, to = %new, "task status");
        }
    }

    async fn start_containers(&mut self, rx: &mut mpsc::UnboundedReceiver<TaskCmd>) {
        if !self.record.resources.ready && !self.setup_resources().await {
            return;
        }
        let containers = self.containers();
        self.wake_at = None;
        // The reference resolves the images of the containers that can start before it creates
        // any, and reports the task PENDING with their digests then: pull those first.
        for (i, def) in containers.iter().enumerate() {
            while let Ok(cmd) = rx.try_recv() {
                self.handle(cmd).await;
            }
            if self.record.desired_stopped || self.shutdown.is_cancelled() {
                return;
            }
            if self.record.containers[i].known >= ContainerStatus::Pulled
                || !matches!(self.readiness(i), Readiness::Ready)
            {
                continue;
            }
            if let Err(reason) = self.pull(i, def).await {
                self.container_failed(i, reason).await;
            }
        }
        if !self.record.desired_stopped {
            self.update_known();
            self.save().await;
            // PENDING, once per task (nothing is queued again for the same status).
            self.report();
        }
        // Start whatever is ready; a start or a terminal dependency error may unblock others.
        loop {
            let mut progressed = false;
            for (i, def) in containers.iter().enumerate() {
                // A stop that arrives while we start wins before the next container.
                while let Ok(cmd) = rx.try_recv() {
                    self.handle(cmd).await;
                }
                if self.record.desired_stopped || self.shutdown.is_cancelled() {
                    return;
                }
                if self.record.containers[i].known >= ContainerStatus::Running {
                    continue;
                }
                match self.readiness(i) {
                    Readiness::Ready => {}
                    Readiness::Wait { until } => {
                        // ECS_PULL_DEPENDENT_CONTAINERS_UPFRONT: pull while the dependencies
                        // are not met yet (the reference's upfront pull), create later.
                        if self.shared.config.pull_dependent_containers_upfront.value
                            && self.record.containers[i].known < ContainerStatus::Pulled
                        {
                            if let Err(reason) = self.pull(i, def).await {
                                self.container_failed(i, reason).await;
                                progressed = true;
                                continue;
                            }
                            self.save().await;
                        }
                        if let Some(until) = until {
                            self.wake_at = Some(self.wake_at.map_or(until, |w| w.min(until)));
                        }
                        continue;
                    }
                    Readiness::Never(reason) => {
                        // The reference marks the container STOPPED with exit code 143.
                        self.record.containers[i].exit_code = Some(deps::DEPENDENCY_EXIT_CODE);
                        self.container_failed(i, StopReason::CannotStartContainer(reason))
                            .await;
                        progressed = true;
                        continue;
                    }
                }
                progressed = true;
                if let Err(reason) = self.start_one(i, def).await {
                    self.container_failed(i, reason).await;
                }
            }
            if !progressed {
                break;
            }
        }
    }

    fn readiness(&self, i: usize) -> Readiness {
        let defs = self.record.task.containers();
        let nodes: Vec<deps::Node<'_>> = self
            .record
            .containers
            .iter()
            .zip(defs)
            .map(|(c, def)| deps::Node {
                def,
                known: c.known,
                exit_code: c.exit_code,
                health: c.health.as_deref(),
                started_at: c.started_at,
                will_start: !self.record.desired_stopped,
            })
            .collect();
        deps::readiness(&nodes, i, SystemTime::now())
    }

    /// Checks the task and creates its volumes and cgroup before any container. False (and the
    /// task stopping with the reason) when that fails.
    async fn setup_resources(&mut self) -> bool {
        if let Err(reason) = self.ensure_fetched().await {
            self.fail_task(reason).await;
            return false;
        }
        let result = match resources::prepare(&self.shared, &mut self.record) {
            Ok(()) => {
                // Names are saved before the volumes exist, so cleanup finds them after a crash.
                self.save().await;
                resources::provision(&self.shared, &self.record).await
            }
            Err(reason) => Err(reason),
        };
        match result {
            Ok(()) => {
                self.record.resources.ready = true;
                self.save().await;
                true
            }
            Err(reason) => {
                self.fail_task(reason).await;
                false
            }
        }
    }

    /// A task resource failed: every container not yet running is STOPPED and the task stops
    /// with `reason` (the reference's terminal reason of a resource).
    async fn fail_task(&mut self, reason: StopReason) {
        tracing::warn!(task_arn = %self.arn(), %reason, "task resources failed; stopping the task");
        for c in &mut self.record.containers {
            if c.known < ContainerStatus::Running {
                c.advance(ContainerStatus::Stopped);
            }
        }
        self.record.desired_stopped = true;
        self.record.reason.get_or_insert(reason.to_string());
        self.dirty = true;
        self.save().await;
    }

    /// Container `i` failed to start (or never can): STOPPED with `reason`; an essential one stops
    /// the task.
    async fn container_failed(&mut self, i: usize, reason: StopReason) {
        let arn = self.arn();
        let c = &mut self.record.containers[i];
        tracing::warn!(task_arn = %arn, container = %c.name, %reason, "container failed");
        c.advance(ContainerStatus::Stopped);
        c.reason = Some(reason.to_string());
        self.release_ports(i);
        self.dirty = true;
        if self.essential(i) {
            self.record.desired_stopped = true;
            self.record.reason.get_or_insert(reason.to_string());
            self.record
                .execution_stopped_at
                .get_or_insert(SystemTime::now());
        }
        self.save().await;
    }

    /// Pulls container `i`'s image (as the pull behaviour says) and marks it PULLED, unsaved.
    /// Errs with the reason the container stops with.
    /// The task's pull times cover only real pulls (not a cached image used as is), as the
    /// reference's.
    async fn pull(&mut self, i: usize, def: &Container) -> Result<(), StopReason> {
        let started = SystemTime::now();
        let execution = self.execution_credentials();
        let ready = crate::images::pull::ensure_image(
            &self.shared.images,
            self.shared.runtime.as_ref(),
            def,
            execution.as_ref(),
        )
        .await
        .map_err(|e| {
            use crate::images::pull::{ManifestError, PullError};
            let reason = match e {
                PullError::Manifest(ManifestError::Timeout(_)) => {
                    StopReason::DockerTimeout(e.to_string())
                }
                PullError::Manifest(ManifestError::Failed(detail)) => {
                    StopReason::CannotPullImageManifest(detail)
                }
                PullError::NoImage { .. } | PullError::Failed(_) => {
                    StopReason::CannotPullContainer(e.to_string())
                }
            };
            // Under `always` and `once` a failed pull or manifest fetch stops the task even for
            // a container that is not essential, as the reference's (a cached image must not
            // stand in).
            if matches!(
                self.shared.images.behavior,
                ecs_config::ImagePullBehavior::Always | ecs_config::ImagePullBehavior::Once
            ) {
                self.record.desired_stopped = true;
                self.record.reason.get_or_insert(reason.to_string());
            }
            reason
        })?;
        self.record.containers[i].image_digest = ready.digest;
        self.record.containers[i].advance(ContainerStatus::Pulled);
        if ready.pulled {
            self.record.pull_started_at.get_or_insert(started);
            self.record.pull_stopped_at = Some(SystemTime::now());
        }
        Ok(())
    }

    /// Pull, create and start one container, persisting each step. Errs with the reason the
    /// container stops with.
    async fn start_one(&mut self, i: usize, def: &Container) -> Result<(), StopReason> {
        let name = self.record.containers[i].name.clone();
        let rt = Arc::clone(&self.shared.runtime);
        if self.record.containers[i].known < ContainerStatus::Pulled {
            // Not saved here: the save before create below (or the failure path) persists the
            // PULLED status with the name, one durable commit fewer on the start path; a crash
            // before it just pulls again.
            self.pull(i, def).await?;
        }
        if self.record.containers[i].known < ContainerStatus::Created {
            let ports = self.allocate_ports(def)?;
            let docker_name = match self.record.containers[i].docker_name.clone() {
                Some(n) => n,
                None => spec::docker_name(
                    self.record.task.family.as_deref().unwrap_or_default(),
                    self.record.task.version.as_deref().unwrap_or_default(),
                    &name,
                ),
            };
            self.record.containers[i].docker_name = Some(docker_name.clone());
            self.record.containers[i].ports.clone_from(&ports);
            // Persist the name before create: a crash after create is then recognised by name.
            self.save().await;
            // The label carries the configured cluster, as the reference agent writes it.
            let cluster = self.shared.config.cluster.value.clone();
            let mut spec = spec::container_spec(
                &self.record.task,
                def,
                &cluster,
                &docker_name,
                ports,
                &self.shared.config,
            )
            .map_err(|e| StopReason::CannotCreateContainer(e.to_string()))?;
            spec.task_resources = resources::container_resources(&self.record, def)?;
            spec.memory_bytes =
                resources::container_memory(&self.shared, &self.record, spec.memory_bytes);
            let endpoint_id = self.shared.task_iam.ids.id(&self.arn(), &name);
            crate::task_env::add_task_env(
                &mut spec.env,
                &self.record.task,
                &name,
                &endpoint_id,
                &self.shared.config,
            )
            .map_err(|e| StopReason::CannotCreateContainer(e.to_string()))?;
            let has_env_files = def
                .environment_files
                .as_ref()
                .is_some_and(|f| !f.is_empty());
            let has_secrets = def.secrets.as_ref().is_some_and(|s| !s.is_empty());
            if has_env_files || has_secrets {
                // After a restart the values are gone from memory: fetch them again.
                if let Err(reason) = self.ensure_fetched().await {
                    self.fail_task(reason.clone()).await;
                    return Err(reason);
                }
            }
            if has_env_files {
                // Under what the container already has; secrets (below) override.
                crate::env_files::apply(
                    def,
                    self.env_files.as_ref().unwrap_or(&Default::default()),
                    &mut spec.env,
                );
            }
            if has_secrets {
                let log_options = spec
                    .host_overlay
                    .as_mut()
                    .and_then(|h| h.log_config.as_mut())
                    .map(|l| l.config.get_or_insert_with(Default::default));
                crate::secrets::apply(
                    def,
                    self.secrets.as_ref().unwrap_or(&Default::default()),
                    self.shared.secrets.region(),
                    &mut spec.env,
                    log_options,
                );
            }
            if let Some(files) = &self.shared.container_metadata {
                let mount = files
                    .create(&self.metadata_ref(def, &docker_name))
                    .map_err(|e| StopReason::CannotCreateContainer(e.to_string()))?;
                spec.task_resources.binds.push(mount.bind);
                spec.env.push(mount.env);
            }
            let id = match rt.create(&spec).await {
                Ok(id) => id,
                Err(e) => {
                    // A create that succeeded before a crash left a container under our name.
                    match rt.inspect(&docker_name).await {
                        Ok(Some(info)) => info.id,
                        _ => return Err(StopReason::CannotCreateContainer(e.to_string())),
                    }
                }
            };
            self.record.containers[i].docker_id = Some(id);
            self.record.containers[i].advance(ContainerStatus::Created);
            self.save().await;
        }
        if self.record.containers[i].known < ContainerStatus::Running {
            let id = self.record.containers[i]
                .docker_id
                .clone()
                .unwrap_or_default();
            rt.start(&id)
                .await
                .map_err(|e| StopReason::CannotStartContainer(e.to_string()))?;
            let info = rt
                .inspect(&id)
                .await
                .map_err(|e| StopReason::CannotStartContainer(e.to_string()))?;
            self.record.containers[i].advance(ContainerStatus::Running);
            self.record.containers[i].started_at = Some(SystemTime::now());
            if let Some(info) = &info
                && !info.ports.is_empty()
            {
                self.record.containers[i].ports.clone_from(&info.ports);
            }
            if let (Some(files), Some(info)) = (&self.shared.container_metadata, &info) {
                let docker_name = self.record.containers[i]
                    .docker_name
                    .clone()
                    .unwrap_or_default();
                let network_mode = self.network_mode();
                // As the reference: a file that cannot be updated is logged, the task goes on.
                if let Err(e) = files.update(
                    &self.metadata_ref(def, &docker_name),
                    info,
                    network_mode.as_str(),
                ) {
                    tracing::warn!(task_arn = %self.arn(), container = %name, error = %e, "cannot update the container metadata file");
                }
            }
            tracing::info!(task_arn = %self.arn(), container = %name, docker_id = %id, "container running");
            self.save().await;
            // It may already have exited (a command that ends at once).
            if info.is_some_and(|i| !i.running()) {
                self.observe_exit(i).await;
            }
        }
        Ok(())
    }

    /// The task's network mode; `bridge` when the payload names none.
    fn network_mode(&self) -> ecs_protocol::types::NetworkMode {
        self.record
            .task
            .network_mode
            .clone()
            .unwrap_or(ecs_protocol::types::NetworkMode::Bridge)
    }

    /// What container `def`'s metadata file says about it.
    fn metadata_ref<'a>(
        &'a self,
        def: &'a Container,
        docker_name: &'a str,
    ) -> crate::container_metadata::ContainerRef<'a> {
        crate::container_metadata::ContainerRef {
            task_arn: self.record.arn(),
            family: self.record.task.family.as_deref().unwrap_or_default(),
            revision: self.record.task.version.as_deref().unwrap_or_default(),
            container_name: def.name.as_deref().unwrap_or_default(),
            docker_name,
            image: def.image.as_deref().unwrap_or_default(),
        }
    }

    fn allocate_ports(
        &mut self,
        def: &Container,
    ) -> Result<Vec<crate::runtime::PortSpec>, StopReason> {
        let network_mode = self.network_mode();
        let name = def.name.clone().unwrap_or_default();
        let mut alloc =
            self.shared.ports.lock().map_err(|_| {
                StopReason::CannotCreateContainer("port allocator unavailable".into())
            })?;
        alloc
            .host_ports_for(&name, def.port_mappings(), &network_mode)
            .map_err(|e| StopReason::CannotCreateContainer(e.to_string()))
    }

    async fn stop_containers(&mut self) {
        let containers = self.containers();
        let default_timeout = self.shared.settings.stop_timeout;
        // Dependents stop before what they depend on (reference `verifyShutdownOrder`).
        for i in deps::shutdown_order(&containers) {
            let Some(c) = self.record.containers.get(i).cloned() else {
                continue;
            };
            if c.known == ContainerStatus::Stopped {
                continue;
            }
            match (&c.docker_id, c.known >= ContainerStatus::Created) {
                (Some(id), true) => {
                    let timeout = containers
                        .get(i)
                        .and_then(|d| d.stop_timeout)
                        .and_then(|s| u64::try_from(s).ok())
                        .map_or(default_timeout, Duration::from_secs);
                    let stop_error = match self.shared.runtime.stop(id, timeout).await {
                        Ok(()) => None,
                        Err(e) => {
                            tracing::warn!(task_arn = %self.arn(), container = %c.name, error = %e, "stop failed");
                            Some(e.to_string())
                        }
                    };
                    self.observe_exit(i).await;
                    if self.record.containers[i].known != ContainerStatus::Stopped {
                        // Docker says it still runs; mark it so we do not loop, keep the reason.
                        let detail = stop_error
                            .unwrap_or_else(|| "the container is still running".to_string());
                        self.record.containers[i].advance(ContainerStatus::Stopped);
                        self.record.containers[i]
                            .reason
                            .get_or_insert(StopReason::CannotStopContainer(detail).to_string());
                    }
                }
                _ => {
                    self.record.containers[i].advance(ContainerStatus::Stopped);
                    self.release_ports(i);
                }
            }
            self.dirty = true;
        }
    }

    /// Queues the current state for reporting if it changed since it was last queued. The
    /// delivery loop retries it and answers with [`TaskCmd::Reported`].
    fn report(&mut self) {
        let status = self.record.known.backend_status();
        if self.queued == Some(status) && !self.dirty {
            return;
        }
        let change = self.record.state_change(
            &self.shared.config.cluster.value,
            BindingFilter::from_config(&self.shared.config),
        );
        if self.reports.push(change) {
            self.queued = Some(status);
            self.dirty = false;
        }
    }

    async fn cleanup(&mut self) {
        for c in self.record.containers.clone() {
            if let Some(id) = &c.docker_id
                && let Err(e) = self.shared.runtime.remove(id).await
            {
                tracing::warn!(task_arn = %self.arn(), container = %c.name, error = %e, "remove failed");
            }
        }
        resources::cleanup(&self.shared, &self.record).await;
        if let Some(files) = &self.shared.container_metadata {
            files.clean(&self.arn());
        }
        if let Err(e) = self.shared.store.remove_task(&self.arn()) {
            tracing::error!(task_arn = %self.arn(), error = %e, "cannot forget the task");
        }
        // Execution role credentials live until cleanup; the task role's too when the task was
        // already STOPPED before a restart (then it never passed the transition that drops them).
        for role in [RoleType::TaskExecution, RoleType::TaskApplication] {
            self.shared
                .task_iam
                .credentials
                .remove_task(&self.arn(), &role);
        }
        tracing::info!(task_arn = %self.arn(), "task cleaned up");
        let _ = self.engine.send(EngineCmd::Removed(self.arn())).await;
    }
}

async fn sleep_or_forever(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
