//! Container metrics for TCS (`PublishMetricsRequest`), as the reference's stats engine
//! (`agent/stats/engine.go`, `container.go`, `queue.go`) collects them.
//!
//! One actor, the collector ([`start`]), owns a bounded [`window::Window`] per watched
//! container. It watches every task container the engine knows as RUNNING (it asks the engine
//! for its records every [`RECONCILE_INTERVAL`]) and, for each, runs a reader: Docker's stats
//! stream by default, or one sample every `ECS_POLLING_METRICS_WAIT_DURATION` with
//! `ECS_POLL_METRICS=true`. A reader reduces each sample ([`sample::parse`]) and hands it to the
//! collector; a stats error, an unusable sample or the end of the stream ends that reader only
//! (the next reconcile starts a new one while the container still runs). A container that is
//! no longer RUNNING is dropped with its window.
//!
//! The TCS session asks for the round's metrics every 20 s ([`StatsHandle::take_metrics`]):
//! the stat sets of each window ([`window::Window::take_metric`]), grouped by task, and the
//! windows start again. A container with a restart policy also gets the restarts since the last
//! round (`restartStatsSet`), from the engine's restart count as of the last reconcile. [`publish::metrics_requests`] turns them into frames.
//!
//! What it must not do: grow with time (windows are rings, the channel is bounded, readers end
//! with their containers), or hold task state of its own beyond which container belongs to which
//! task. With `ECS_DISABLE_METRICS=true` it is not started at all.

pub mod publish;
pub mod sample;
pub mod window;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ecs_protocol::status::ContainerStatus;
use ecs_protocol::tcs::{RestartStatsSet, TaskMetric};
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::EngineHandle;
use crate::runtime::ContainerRuntime;
use crate::state::TaskRecord;
use sample::RawSample;
use window::Window;

/// How often the collector compares its containers with the engine's RUNNING ones; also how soon
/// a reader that ended is started again.
pub const RECONCILE_INTERVAL: Duration = Duration::from_secs(5);

/// The reference's publish interval (`DefaultContainerMetricsPublishInterval`), which sizes the
/// windows.
const PUBLISH_INTERVAL_SECS: u64 = 20;

/// Samples waiting for the collector at most; a reader waits when it is full.
const CHANNEL_CAPACITY: usize = 256;

/// How the collector reads stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsSettings {
    /// `Some(wait)`: poll one sample every `wait` (`ECS_POLL_METRICS`); `None`: stream.
    pub poll: Option<Duration>,
    /// The instance's CPU count, which CPU time is divided by.
    pub cpus: u64,
}

impl StatsSettings {
    /// From `ECS_POLL_METRICS` and `ECS_POLLING_METRICS_WAIT_DURATION` (already kept within
    /// [5 s, 20 s] by the configuration), and the host's CPU count.
    pub fn from_config(config: &ecs_config::Config) -> Self {
        Self {
            poll: config
                .poll_metrics
                .value
                .then_some(config.polling_metrics_wait_duration.value),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        }
    }

    /// Samples a window holds: four publish intervals' worth, as the reference's queue (80 when
    /// streaming at about one sample a second; `20 s / wait × 4` when polling).
    pub fn window_capacity(&self) -> usize {
        match self.poll {
            None => (PUBLISH_INTERVAL_SECS * 4) as usize,
            Some(wait) => {
                let wait = wait.as_secs_f64().max(1.0);
                ((PUBLISH_INTERVAL_SECS as f64 / wait) * 4.0) as usize
            }
        }
    }
}

/// One round's metrics.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoundMetrics {
    /// No container is watched (the reference's `idle`).
    pub idle: bool,
    /// Per task, the containers that had samples; empty when none had enough yet.
    pub tasks: Vec<TaskMetric>,
}

#[derive(Debug)]
enum Cmd {
    Sample {
        docker_id: String,
        generation: u64,
        sample: RawSample,
        /// Docker's stats document the sample was reduced from.
        document: serde_json::Value,
    },
    Ended {
        docker_id: String,
        generation: u64,
    },
    Take(oneshot::Sender<RoundMetrics>),
    Latest(oneshot::Sender<Vec<Reading>>),
    Document(String, oneshot::Sender<Option<serde_json::Value>>),
}

/// One watched container's newest cumulative counters (the Prometheus endpoint's figures).
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The task's ARN.
    pub task_arn: String,
    /// The task definition's family.
    pub family: String,
    /// Its revision.
    pub version: String,
    /// The container's name in the task.
    pub container_name: String,
    /// CPU time used since the container started, seconds (all of the instance's CPUs).
    pub cpu_seconds: f64,
    /// The newest sample.
    pub sample: RawSample,
}

/// A handle to the collector.
#[derive(Debug, Clone)]
pub struct StatsHandle {
    tx: mpsc::Sender<Cmd>,
}

impl StatsHandle {
    /// The stat sets since the last call, and a fresh start; idle and empty if the collector is
    /// gone.
    pub async fn take_metrics(&self) -> RoundMetrics {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Cmd::Take(reply)).await.is_err() {
            return RoundMetrics {
                idle: true,
                tasks: Vec::new(),
            };
        }
        rx.await.unwrap_or_default()
    }

    /// Docker's newest stats document of the container `docker_id`, if it is watched and has
    /// one (task metadata `/stats` answers it, as the reference answers from its stats engine).
    pub async fn document(&self, docker_id: &str) -> Option<serde_json::Value> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Document(docker_id.to_owned(), reply))
            .await
            .ok()?;
        rx.await.ok().flatten()
    }

    /// Every watched container's newest sample (none if the collector is gone); the windows are
    /// left as they are.
    pub async fn latest(&self) -> Vec<Reading> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Cmd::Latest(reply)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

/// Which task a watched container belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    task_arn: String,
    family: String,
    version: String,
    container_name: String,
    /// The engine's restart count, for a container with a restart policy only (the reference
    /// sends `restartStatsSet` for those alone).
    restarts: Option<u32>,
}

/// The RUNNING task containers of `records`, by Docker id.
fn running_containers(records: &[TaskRecord]) -> HashMap<String, Owner> {
    records
        .iter()
        .flat_map(|r| {
            r.containers.iter().enumerate().filter_map(move |(i, c)| {
                let id = c.docker_id.as_ref()?;
                let policy = r
                    .task
                    .containers()
                    .get(i)
                    .and_then(|d| d.restart_policy.as_ref())
                    .is_some_and(|p| p.enabled == Some(true));
                (c.known == ContainerStatus::Running).then(|| {
                    (
                        id.clone(),
                        Owner {
                            task_arn: r.arn().to_owned(),
                            family: r.task.family.clone().unwrap_or_default(),
                            version: r.task.version.clone().unwrap_or_default(),
                            container_name: c.name.clone(),
                            restarts: policy.then_some(c.restart_count),
                        },
                    )
                })
            })
        })
        .collect()
}

#[derive(Clone)]
struct Watched {
    owner: Owner,
    window: Window,
    /// The current reader's generation; samples of an older reader are ignored.
    generation: u64,
    /// Cancels the current reader; `None` when it ended.
    reader: Option<CancellationToken>,
    /// The restart count at the last round that carried this container.
    restarts_sent: Option<u32>,
    /// Docker's newest stats document (one per container: bounded).
    document: Option<serde_json::Value>,
}

/// The collector actor.
struct Collector<R: ContainerRuntime> {
    runtime: Arc<R>,
    settings: StatsSettings,
    watched: HashMap<String, Watched>,
    next_generation: u64,
    tx: mpsc::Sender<Cmd>,
    readers: TaskTracker,
    shutdown: CancellationToken,
}

/// Starts the collector over the engine's task records: a handle, and the future that runs it
/// until `shutdown` (then it stops every reader and waits for them).
pub fn start<R: ContainerRuntime>(
    runtime: Arc<R>,
    engine: EngineHandle,
    settings: StatsSettings,
    shutdown: CancellationToken,
) -> (StatsHandle, impl std::future::Future<Output = ()> + Send) {
    start_with(
        runtime,
        move || {
            let engine = engine.clone();
            async move { engine.snapshot().await }
        },
        settings,
        shutdown,
    )
}

/// [`start`] with the task records from `records` (the engine's snapshot, or a test's).
pub fn start_with<R, F, Fut>(
    runtime: Arc<R>,
    records: F,
    settings: StatsSettings,
    shutdown: CancellationToken,
) -> (StatsHandle, impl std::future::Future<Output = ()> + Send)
where
    R: ContainerRuntime,
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<TaskRecord>> + Send,
{
    let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
    let collector = Collector {
        runtime,
        settings,
        watched: HashMap::new(),
        next_generation: 0,
        tx: tx.clone(),
        readers: TaskTracker::new(),
        shutdown,
    };
    (StatsHandle { tx }, collector.run(rx, records))
}

impl<R: ContainerRuntime> Collector<R> {
    async fn run<F, Fut>(mut self, mut rx: mpsc::Receiver<Cmd>, records: F)
    where
        F: Fn() -> Fut + Send,
        Fut: std::future::Future<Output = Vec<TaskRecord>> + Send,
    {
        let mut reconcile = tokio::time::interval(RECONCILE_INTERVAL);
        reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => break,
                _ = reconcile.tick() => {
                    let records = records().await;
                    self.reconcile(running_containers(&records));
                }
                Some(cmd) = rx.recv() => self.apply(cmd),
            }
        }
        for w in self.watched.values() {
            if let Some(reader) = &w.reader {
                reader.cancel();
            }
        }
        self.readers.close();
        // Readers blocked on a full channel: drain it while they finish.
        let readers = self.readers.clone();
        let wait = readers.wait();
        tokio::pin!(wait);
        loop {
            tokio::select! {
                () = &mut wait => break,
                _ = rx.recv() => {}
            }
        }
    }

    fn apply(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Sample {
                docker_id,
                generation,
                sample,
                document,
            } => {
                if let Some(w) = self.watched.get_mut(&docker_id)
                    && w.generation == generation
                {
                    w.window.push(sample);
                    w.document = Some(document);
                }
            }
            Cmd::Document(docker_id, reply) => {
                let document = self
                    .watched
                    .get(&docker_id)
                    .and_then(|w| w.document.clone());
                let _ = reply.send(document);
            }
            Cmd::Ended {
                docker_id,
                generation,
            } => {
                if let Some(w) = self.watched.get_mut(&docker_id)
                    && w.generation == generation
                {
                    w.reader = None;
                }
            }
            Cmd::Take(reply) => {
                let _ = reply.send(self.take());
            }
            Cmd::Latest(reply) => {
                let cpus = self.settings.cpus.max(1) as f64;
                let readings = self
                    .watched
                    .values()
                    .filter_map(|w| {
                        let sample = *w.window.latest()?;
                        Some(Reading {
                            task_arn: w.owner.task_arn.clone(),
                            family: w.owner.family.clone(),
                            version: w.owner.version.clone(),
                            container_name: w.owner.container_name.clone(),
                            cpu_seconds: sample.cpu_ns as f64 * cpus / 1e9,
                            sample,
                        })
                    })
                    .collect();
                let _ = reply.send(readings);
            }
        }
    }

    /// Starts watching the containers that run and are not watched (or whose reader ended), and
    /// drops those that no longer run.
    fn reconcile(&mut self, running: HashMap<String, Owner>) {
        self.watched.retain(|id, w| {
            let keep = running.contains_key(id);
            if !keep {
                if let Some(reader) = &w.reader {
                    reader.cancel();
                }
                tracing::debug!(container = %w.owner.container_name, task_arn = %w.owner.task_arn, "stats: container no longer watched");
            }
            keep
        });
        for (id, owner) in running {
            if let Some(w) = self.watched.get_mut(&id) {
                // The restart count moves while the container is watched.
                w.owner = owner.clone();
                if w.reader.is_some() {
                    continue;
                }
            }
            self.next_generation += 1;
            let generation = self.next_generation;
            let token = self.shutdown.child_token();
            self.spawn_reader(id.clone(), generation, token.clone());
            let capacity = self.settings.window_capacity();
            let w = self.watched.entry(id).or_insert_with(|| Watched {
                owner: owner.clone(),
                window: Window::new(capacity),
                generation,
                reader: None,
                restarts_sent: owner.restarts,
                document: None,
            });
            w.owner = owner;
            w.generation = generation;
            w.reader = Some(token);
        }
    }

    fn spawn_reader(&self, docker_id: String, generation: u64, cancel: CancellationToken) {
        let runtime = Arc::clone(&self.runtime);
        let tx = self.tx.clone();
        let settings = self.settings;
        self.readers.spawn(async move {
            let ended = tokio::select! {
                () = cancel.cancelled() => None,
                end = read(runtime.as_ref(), &docker_id, generation, settings, &tx) => Some(end),
            };
            if let Some(reason) = ended {
                tracing::debug!(container_id = %docker_id, %reason, "stats: reader ended");
                let _ = tx
                    .send(Cmd::Ended {
                        docker_id,
                        generation,
                    })
                    .await;
            }
        });
    }

    fn take(&mut self) -> RoundMetrics {
        let idle = self.watched.is_empty();
        let mut tasks: BTreeMap<String, TaskMetric> = BTreeMap::new();
        for w in self.watched.values_mut() {
            let Some(mut metric) = w.window.take_metric() else {
                continue;
            };
            metric.container_name = Some(w.owner.container_name.clone());
            // Restarts since the last round (the reference's last minus first restart count).
            if let (Some(now), Some(before)) = (w.owner.restarts, w.restarts_sent) {
                metric.restart_stats_set = Some(RestartStatsSet {
                    restart_count: Some(i64::from(now.saturating_sub(before))),
                });
                w.restarts_sent = Some(now);
            }
            let task = tasks
                .entry(w.owner.task_arn.clone())
                .or_insert_with(|| TaskMetric {
                    task_arn: Some(w.owner.task_arn.clone()),
                    task_definition_family: Some(w.owner.family.clone()),
                    task_definition_version: Some(w.owner.version.clone()),
                    container_metrics: Some(Vec::new()),
                    ..TaskMetric::default()
                });
            task.container_metrics
                .get_or_insert_with(Vec::new)
                .push(metric);
        }
        let mut tasks: Vec<TaskMetric> = tasks.into_values().collect();
        for t in &mut tasks {
            if let Some(cs) = t.container_metrics.as_mut() {
                cs.sort_by(|a, b| a.container_name.cmp(&b.container_name));
            }
        }
        RoundMetrics { idle, tasks }
    }
}

/// Reads one container's samples into the collector until its stats end; returns why.
async fn read<R: ContainerRuntime>(
    runtime: &R,
    docker_id: &str,
    generation: u64,
    settings: StatsSettings,
    tx: &mpsc::Sender<Cmd>,
) -> String {
    let send = |sample, document| Cmd::Sample {
        docker_id: docker_id.to_owned(),
        generation,
        sample,
        document,
    };
    match settings.poll {
        None => {
            let mut stream = runtime.stats_stream(docker_id);
            while let Some(item) = stream.next().await {
                let (sample, document) = match item {
                    Ok(v) => (sample::parse(&v, settings.cpus), v),
                    Err(e) => return e.to_string(),
                };
                match sample {
                    Ok(s) => {
                        if tx.send(send(s, document)).await.is_err() {
                            return "the collector stopped".into();
                        }
                    }
                    Err(e) => return e.to_string(),
                }
            }
            "the stats stream ended".into()
        }
        Some(wait) => loop {
            let (sample, document) = match runtime.stats(docker_id).await {
                Ok(Some(v)) => (sample::parse(&v, settings.cpus), v),
                Ok(None) => return "the container is gone".into(),
                Err(e) => return e.to_string(),
            };
            match sample {
                Ok(s) => {
                    if tx.send(send(s, document)).await.is_err() {
                        return "the collector stopped".into();
                    }
                }
                Err(e) => return e.to_string(),
            }
            tokio::time::sleep(wait).await;
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::runtime::fake::FakeRuntime;
    use crate::state::ContainerRecord;
    use ecs_protocol::status::TaskStatus;
    use serde_json::json;

    fn record(arn: &str, containers: &[(&str, &str, ContainerStatus)]) -> TaskRecord {
        let task =
            serde_json::from_value(json!({"arn": arn, "family": "burn", "version": "4"})).unwrap();
        TaskRecord {
            task,
            desired_stopped: false,
            known: TaskStatus::Running,
            sent: None,
            containers: containers
                .iter()
                .map(|(name, id, known)| ContainerRecord {
                    name: (*name).into(),
                    docker_id: Some((*id).into()),
                    known: *known,
                    ..ContainerRecord::default()
                })
                .collect(),
            reason: None,
            pull_started_at: None,
            pull_stopped_at: None,
            execution_stopped_at: None,
            stopped_at: None,
            resources: Default::default(),
        }
    }

    fn docker_sample(second: u32, cpu_ns: u64) -> serde_json::Value {
        json!({
            "read": format!("2026-12-07T11:00:{second:02}Z"),
            "cpu_stats": {"cpu_usage": {"total_usage": cpu_ns}},
            "memory_stats": {"usage": 8 << 20, "stats": {"inactive_file": 0}},
            "networks": {"eth0": {"rx_bytes": 10, "tx_bytes": 20}}
        })
    }

    /// Runs a collector over `records` until a round has tasks (10 s at most), then stops it.
    async fn first_round(
        runtime: Arc<FakeRuntime>,
        records: Vec<TaskRecord>,
        settings: StatsSettings,
    ) -> RoundMetrics {
        let shutdown = CancellationToken::new();
        let (stats, run) = start_with(
            runtime,
            move || {
                let records = records.clone();
                async move { records }
            },
            settings,
            shutdown.clone(),
        );
        let run = tokio::spawn(run);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let round = loop {
            let round = stats.take_metrics().await;
            if !round.tasks.is_empty() {
                break round;
            }
            assert!(tokio::time::Instant::now() < deadline, "no metrics");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        shutdown.cancel();
        run.await.unwrap();
        round
    }

    /// Two running containers, one with stats and one whose stats fail at once, and one stopped
    /// container: the round has the first only, the failing reader did not disturb it, and the
    /// next round starts empty.
    #[tokio::test]
    async fn a_round_carries_the_containers_that_have_samples() {
        let runtime = Arc::new(FakeRuntime::new());
        runtime.set_stats(
            "id-burn",
            vec![
                docker_sample(0, 0),
                docker_sample(1, 500_000_000),
                docker_sample(2, 1_000_000_000),
            ],
        );
        let records = vec![record(
            "arn:task/1",
            &[
                ("burn", "id-burn", ContainerStatus::Running),
                ("broken", "id-broken", ContainerStatus::Running),
                ("done", "id-done", ContainerStatus::Stopped),
            ],
        )];
        let round = first_round(
            runtime,
            records,
            StatsSettings {
                poll: None,
                cpus: 1,
            },
        )
        .await;
        assert!(!round.idle);
        let task = &round.tasks[0];
        assert_eq!(task.task_arn.as_deref(), Some("arn:task/1"));
        assert_eq!(task.task_definition_family.as_deref(), Some("burn"));
        assert_eq!(task.task_definition_version.as_deref(), Some("4"));
        let containers = task.container_metrics.as_ref().unwrap();
        assert_eq!(containers.len(), 1);
        assert_eq!(containers[0].container_name.as_deref(), Some("burn"));
        let cpu = containers[0].cpu_stats_set.unwrap();
        // The samples may have been taken in one round or two; each CPU figure is 50 %.
        assert_eq!(cpu.max.unwrap().0, 50.0);
        let memory = containers[0].memory_stats_set.unwrap();
        assert_eq!(memory.max.unwrap().0, 8.0);
        assert!(containers[0].network_stats_set.is_some());
    }

    /// The newest Docker document and reading of a watched container are there to ask for (task
    /// metadata `/stats`, Prometheus), without disturbing the round.
    #[tokio::test]
    async fn the_newest_document_and_reading_are_kept_per_container() {
        let runtime = Arc::new(FakeRuntime::new());
        let last = docker_sample(2, 1_000_000_000);
        runtime.set_stats(
            "id-burn",
            vec![
                docker_sample(0, 0),
                docker_sample(1, 500_000_000),
                last.clone(),
            ],
        );
        let records = vec![record(
            "arn:task/1",
            &[("burn", "id-burn", ContainerStatus::Running)],
        )];
        let shutdown = CancellationToken::new();
        let (stats, run) = start_with(
            runtime,
            move || {
                let records = records.clone();
                async move { records }
            },
            StatsSettings {
                poll: None,
                cpus: 2,
            },
            shutdown.clone(),
        );
        let run = tokio::spawn(run);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while stats.document("id-burn").await.as_ref() != Some(&last) {
            assert!(tokio::time::Instant::now() < deadline, "no document");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(stats.document("id-other").await, None);
        let readings = stats.latest().await;
        assert_eq!(readings.len(), 1);
        assert_eq!(readings[0].container_name, "burn");
        // CPU time divided by the CPU count in the sample, times the CPU count again.
        let per_cpu = readings[0].sample.cpu_ns as f64 / 1e9;
        assert!((readings[0].cpu_seconds - per_cpu * 2.0).abs() < 1e-9);
        assert!(
            !stats.take_metrics().await.tasks.is_empty(),
            "the round is intact"
        );
        shutdown.cancel();
        run.await.unwrap();
    }

    /// Polling: one sample a call; when the runtime says the container is gone the reader ends
    /// and what it read stays for the round.
    #[tokio::test]
    async fn polling_reads_one_sample_a_call() {
        let runtime = Arc::new(FakeRuntime::new());
        runtime.set_stats(
            "id-burn",
            vec![docker_sample(0, 0), docker_sample(2, 400_000_000)],
        );
        let records = vec![record(
            "arn:task/2",
            &[("burn", "id-burn", ContainerStatus::Running)],
        )];
        let round = first_round(
            runtime,
            records,
            StatsSettings {
                poll: Some(Duration::from_millis(10)),
                cpus: 2,
            },
        )
        .await;
        let c = &round.tasks[0].container_metrics.as_ref().unwrap()[0];
        // 0.4 s of CPU over 2 CPUs in 2 s: 10 %.
        let cpu = c.cpu_stats_set.unwrap();
        assert_eq!(
            (cpu.sample_count, cpu.max.map(|m| m.0)),
            (Some(1), Some(10.0))
        );
        assert_eq!(c.memory_stats_set.unwrap().sample_count, Some(2));
    }

    /// A container with a restart policy gets the restarts since the last round; one without
    /// gets no restart set.
    #[test]
    fn restarts_since_the_last_round_for_containers_with_a_restart_policy() {
        let mut r = record(
            "arn:task/3",
            &[
                ("kept", "id-kept", ContainerStatus::Running),
                ("plain", "id-plain", ContainerStatus::Running),
            ],
        );
        r.task = serde_json::from_value(json!({
            "arn": "arn:task/3", "family": "f", "version": "1",
            "containers": [{"name": "kept", "restartPolicy": {"enabled": true}}, {"name": "plain"}]
        }))
        .unwrap();
        r.containers[0].restart_count = 2;
        r.containers[1].restart_count = 5;
        let running = running_containers(&[r.clone()]);
        assert_eq!(running["id-kept"].restarts, Some(2));
        assert_eq!(running["id-plain"].restarts, None);

        let mut w = Watched {
            owner: running["id-kept"].clone(),
            window: Window::new(4),
            generation: 1,
            reader: None,
            restarts_sent: Some(2),
            document: None,
        };
        let metric = |w: &mut Watched, restarts: u32, second: u32| {
            w.owner.restarts = Some(restarts);
            let mut raw = sample::parse(&docker_sample(second, 0), 1).unwrap();
            w.window.push(raw);
            raw.read_ns += 1_000_000_000;
            w.window.push(raw);
            let mut c = Collector {
                runtime: Arc::new(FakeRuntime::new()),
                settings: StatsSettings {
                    poll: None,
                    cpus: 1,
                },
                watched: HashMap::from([("id-kept".to_owned(), w.clone())]),
                next_generation: 1,
                tx: mpsc::channel(1).0,
                readers: TaskTracker::new(),
                shutdown: CancellationToken::new(),
            };
            let round = c.take();
            *w = c.watched.remove("id-kept").unwrap();
            round.tasks[0].container_metrics.as_ref().unwrap()[0].restart_stats_set
        };
        assert_eq!(
            metric(&mut w, 3, 0),
            Some(RestartStatsSet {
                restart_count: Some(1)
            })
        );
        assert_eq!(
            metric(&mut w, 3, 10),
            Some(RestartStatsSet {
                restart_count: Some(0)
            })
        );
    }

    #[tokio::test]
    async fn no_running_container_is_an_idle_round() {
        let runtime = Arc::new(FakeRuntime::new());
        let shutdown = CancellationToken::new();
        let (stats, run) = start_with(
            runtime,
            || async { Vec::new() },
            StatsSettings {
                poll: None,
                cpus: 1,
            },
            shutdown.clone(),
        );
        let run = tokio::spawn(run);
        let round = stats.take_metrics().await;
        assert!(round.idle && round.tasks.is_empty());
        shutdown.cancel();
        run.await.unwrap();
        // The collector gone, the handle still answers: idle.
        assert!(stats.take_metrics().await.idle);
    }

    #[test]
    fn windows_hold_four_publish_intervals() {
        let s = |poll: Option<u64>| StatsSettings {
            poll: poll.map(Duration::from_secs),
            cpus: 2,
        };
        assert_eq!(s(None).window_capacity(), 80);
        assert_eq!(s(Some(10)).window_capacity(), 8);
        assert_eq!(s(Some(5)).window_capacity(), 16);
        assert_eq!(s(Some(20)).window_capacity(), 4);
    }

    #[test]
    fn settings_follow_the_configuration() {
        let mut config = ecs_config::Config::default();
        assert_eq!(StatsSettings::from_config(&config).poll, None);
        config.poll_metrics.value = true;
        config.polling_metrics_wait_duration.value = Duration::from_secs(7);
        assert_eq!(
            StatsSettings::from_config(&config).poll,
            Some(Duration::from_secs(7))
        );
        assert!(StatsSettings::from_config(&config).cpus >= 1);
    }
}
