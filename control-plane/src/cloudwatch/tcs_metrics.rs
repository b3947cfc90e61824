//! The latest container metrics each agent published over TCS (`PublishMetricsRequest`), per
//! container instance and per task: what the `AWS/ECS` metrics ([`super::ecs_metrics`]) are made
//! from. The TCS session (`crate::acs`) records into it; readers get copies.
//!
//! It keeps, per task, the last stat sets received (the 20 s round they summarise) and when;
//! per instance, when it last published and whether it said it was idle. A task not heard of
//! for [`RETENTION`] is forgotten when its instance next publishes, so the store is bounded by the
//! tasks that run. In memory only: metrics are not state to restore after a restart.
//!
//! It must not hold task state (statuses, placement): that is [`crate::ecs`]'s.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use ecs_protocol::Timestamp;
use ecs_protocol::tcs::{PublishMetricsRequest, TaskMetric};

/// How long a task's metrics are kept after its last round.
pub const RETENTION: Duration = Duration::from_secs(10 * 60);

/// One task's latest round.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMetrics {
    /// The container instance that sent it.
    pub instance_arn: String,
    /// When it arrived, seconds since the epoch.
    pub received_at: f64,
    /// The request's own `timestamp`, if it had one.
    pub timestamp: Option<Timestamp>,
    /// The task's stat sets as sent.
    pub metric: TaskMetric,
}

/// One instance's last publish.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceMetrics {
    /// When its last `PublishMetricsRequest` arrived, seconds since the epoch.
    pub received_at: f64,
    /// Whether it said no task runs.
    pub idle: bool,
    /// How many `PublishMetricsRequest` it sent (for tests and diagnostics).
    pub requests: u64,
}

#[derive(Debug, Default)]
struct Inner {
    instances: HashMap<String, InstanceMetrics>,
    tasks: BTreeMap<String, TaskMetrics>,
}

/// The store. A lock rather than an actor: every operation is one short map update or copy,
/// never held across an await, and TCS sessions of many instances write concurrently.
#[derive(Debug, Default)]
pub struct MetricsStore {
    inner: Mutex<Inner>,
}

impl MetricsStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one request from `instance_arn`, arrived at `now` (seconds since the epoch).
    /// Returns how many tasks it carried.
    pub fn record(&self, instance_arn: &str, request: &PublishMetricsRequest, now: f64) -> usize {
        let idle = request
            .metadata
            .as_ref()
            .and_then(|m| m.idle)
            .unwrap_or(false);
        let tasks = request.task_metrics.as_deref().unwrap_or_default();
        let mut inner = self.lock();
        let instance = inner
            .instances
            .entry(instance_arn.to_owned())
            .or_insert(InstanceMetrics {
                received_at: now,
                idle,
                requests: 0,
            });
        instance.received_at = now;
        instance.idle = idle;
        instance.requests += 1;
        for task in tasks {
            let Some(arn) = task.task_arn.clone() else {
                continue;
            };
            inner.tasks.insert(
                arn,
                TaskMetrics {
                    instance_arn: instance_arn.to_owned(),
                    received_at: now,
                    timestamp: request.timestamp,
                    metric: task.clone(),
                },
            );
        }
        let oldest = now - RETENTION.as_secs_f64();
        inner
            .tasks
            .retain(|_, t| t.instance_arn != instance_arn || t.received_at >= oldest);
        tasks.len()
    }

    /// The latest metrics of task `task_arn`.
    pub fn task(&self, task_arn: &str) -> Option<TaskMetrics> {
        self.lock().tasks.get(task_arn).cloned()
    }

    /// The latest metrics of every task of `instance_arn`, by task ARN.
    pub fn tasks_of(&self, instance_arn: &str) -> Vec<TaskMetrics> {
        self.lock()
            .tasks
            .values()
            .filter(|t| t.instance_arn == instance_arn)
            .cloned()
            .collect()
    }

    /// The last publish of `instance_arn`.
    pub fn instance(&self, instance_arn: &str) -> Option<InstanceMetrics> {
        self.lock().instances.get(instance_arn).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain maps behind: still usable.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecs_protocol::tcs::MetricsMetadata;

    fn request(idle: bool, tasks: &[&str]) -> PublishMetricsRequest {
        PublishMetricsRequest {
            metadata: Some(MetricsMetadata {
                idle: Some(idle),
                fin: Some(true),
                ..MetricsMetadata::default()
            }),
            task_metrics: (!idle).then(|| {
                tasks
                    .iter()
                    .map(|t| TaskMetric {
                        task_arn: Some((*t).to_owned()),
                        ..TaskMetric::default()
                    })
                    .collect()
            }),
            timestamp: Some(Timestamp::from_unix_millis(5_000)),
            ..PublishMetricsRequest::default()
        }
    }

    #[test]
    fn the_latest_round_per_task_and_instance_is_kept() {
        let store = MetricsStore::new();
        assert_eq!(store.record("i1", &request(true, &[]), 10.0), 0);
        assert!(store.instance("i1").unwrap().idle);
        assert_eq!(store.record("i1", &request(false, &["t1", "t2"]), 30.0), 2);
        assert_eq!(store.record("i2", &request(false, &["t3"]), 31.0), 1);
        let i1 = store.instance("i1").unwrap();
        assert_eq!((i1.idle, i1.requests, i1.received_at), (false, 2, 30.0));
        assert_eq!(store.task("t1").unwrap().instance_arn, "i1");
        assert_eq!(store.tasks_of("i1").len(), 2);
        store.record("i1", &request(false, &["t1"]), 50.0);
        assert_eq!(store.task("t1").unwrap().received_at, 50.0);
        assert_eq!(store.task("t2").unwrap().received_at, 30.0);
        assert_eq!(
            store.task("t1").unwrap().timestamp.unwrap().unix_millis(),
            5_000
        );
    }

    #[test]
    fn tasks_not_heard_of_are_forgotten() {
        let store = MetricsStore::new();
        store.record("i1", &request(false, &["old"]), 0.0);
        store.record("i2", &request(false, &["other"]), 0.0);
        let later = RETENTION.as_secs_f64() + 1.0;
        store.record("i1", &request(false, &["new"]), later);
        assert_eq!(store.task("old"), None);
        assert!(store.task("new").is_some());
        // Another instance's tasks age with their own instance's publishes only.
        assert!(store.task("other").is_some());
    }
}
